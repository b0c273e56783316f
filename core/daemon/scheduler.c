/* scheduler.c - when to collect; running, timing out and reaping helpers;
 * forced refreshes. Runs on the main thread. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"
#include "usage_store.h"

#define MAX_POLL_MS 1000

void scheduler_wake(daemon_t *d)
{
    /* async-signal-safe: a full pipe already means "wake up" */
    char c = 1;
    ssize_t rc = write(d->wake_pipe[1], &c, 1);
    (void)rc;
}

void refresh_waiter_free(refresh_waiter *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_pending; i++)
        free(w->pending[i]);
    for (size_t i = 0; i < w->n_fallback; i++)
        free(w->fallback[i]);
    free(w->pending);
    free(w->fallback);
    free(w);
}

static long long due_ms(const pstate *p)
{
    long long due = p->force ? 0 : p->next_due_ms;
    return due > p->not_before_ms ? due : p->not_before_ms;
}

refresh_waiter *scheduler_request_refresh(daemon_t *d, long long deadline_ms,
                                          void *connection)
{
    refresh_waiter *w = xcalloc(1, sizeof *w);
    w->deadline_ms = deadline_ms;
    w->connection = connection;
    w->pending = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *w->pending);
    long long now = mono_ms();
    for (size_t i = 0; i < d->n_ps; i++) {
        pstate *p = &d->ps[i];
        if (!p->conf->enabled)
            continue;
        if (p->run) {
            p->skips++; /* a refresh while running never overlaps it */
        } else {
            if (now < p->not_before_ms)
                continue; /* backoff or Retry-After: serve what we have */
            if (p->last_start_ms && now - p->last_start_ms < d->cfg->min_refresh_ms)
                continue; /* polled moments ago: no refresh storm */
            p->force = 1;
        }
        w->pending[w->n_pending++] = xstrdup(p->name);
    }
    if (w->n_pending == 0)
        w->done = 1;
    w->next = d->waiters;
    d->waiters = w;
    scheduler_wake(d);
    return w;
}

static void waiter_resolve(daemon_t *d, refresh_waiter *w, int timed_out)
{
    if (timed_out) {
        w->fallback = w->pending; /* whatever did not finish */
        w->n_fallback = w->n_pending;
        w->pending = NULL;
        w->n_pending = 0;
    }
    w->done = 1;
    if (w->connection && d->httpd)
        httpd_resume(d, w->connection);
}

/* A provider finished: tick it off every waiter (lock held). */
static void waiters_finished(daemon_t *d, const char *name)
{
    for (refresh_waiter *w = d->waiters; w; w = w->next) {
        if (w->done)
            continue;
        for (size_t i = 0; i < w->n_pending; i++) {
            if (strcmp(w->pending[i], name) != 0)
                continue;
            free(w->pending[i]);
            w->pending[i] = w->pending[--w->n_pending];
            break;
        }
        if (w->n_pending == 0)
            waiter_resolve(d, w, 0);
    }
}

/* Resolve expired waiters, drop resolved ones the HTTP side abandoned;
 * returns the earliest pending deadline (or LLONG_MAX). */
static long long waiters_tick(daemon_t *d, long long now)
{
    long long next = -1;
    refresh_waiter **pp = &d->waiters;
    while (*pp) {
        refresh_waiter *w = *pp;
        /* A provider removed by a reload never finishes: its waiter
         * resolves here at the deadline, listing it as a fallback. */
        if (!w->done && now >= w->deadline_ms)
            waiter_resolve(d, w, 1);
        if (w->done && w->abandoned) {
            *pp = w->next;
            refresh_waiter_free(w);
            continue;
        }
        if (!w->done && (next < 0 || w->deadline_ms < next))
            next = w->deadline_ms;
        pp = &w->next;
    }
    return next;
}

static void start_run(daemon_t *d, pstate *p, long long now)
{
    char *err = NULL;
    long long deadline = now + p->conf->timeout_ms;
    p->force = 0;
    p->last_start_ms = now;
    p->skip_counted = 0;
    unsigned long long gen = d->usage ? usage_store_generation(d->usage, p->name)
                                      : 0;
    p->run = runner_start_ex(p->conf, d->self_exe, d->cfg->state_dir, deadline,
                             gen, &err);
    if (p->run) {
        log_msg(MD_LOG_DEBUG, p->name, "collection started");
        d->version++;
        return;
    }
    collect_result r;
    collect_result_init(&r);
    r.err = MD_ERR_INTERNAL;
    r.err_msg = xasprintf("cannot start collection: %s", err ? err : "unknown error");
    r.started_at = r.finished_at = time_now();
    free(err);
    state_apply_result(d, p, &r, now);
    waiters_finished(d, p->name);
}

/* Reap a finished (or killed) run and apply its result (lock held). */
static void finish_run(daemon_t *d, pstate *p, int *changed)
{
    collect_result r;
    collect_result_init(&r);
    runner_finish(p->run, &r);
    p->run = NULL;
    if (r.err == MD_ERR_NONE)
        log_msg(MD_LOG_DEBUG, p->name, "collected %zu metrics", r.n_metrics);
    state_apply_result(d, p, &r, mono_ms());
    waiters_finished(d, p->name);
    *changed = 1;
}

/* Start due runs, kill overdue ones; returns ms until the next event. */
static long long plan(daemon_t *d, long long now, int *changed)
{
    long long next = now + MAX_POLL_MS;
    for (size_t i = 0; i < d->n_ps; i++) {
        pstate *p = &d->ps[i];
        if (!p->conf->enabled)
            continue;
        if (p->run) {
            long long dl = runner_deadline(p->run);
            if (now >= dl) {
                runner_kill(p->run);
                finish_run(d, p, changed);
            } else {
                if (dl < next)
                    next = dl;
                if (!p->skip_counted && now >= p->next_due_ms) {
                    p->skips++; /* due again while still running */
                    p->skip_counted = 1;
                }
                continue;
            }
        }
        if (!p->run && now >= due_ms(p))
            start_run(d, p, now);
        if (!p->run && due_ms(p) < next)
            next = due_ms(p);
    }
    long long wd = waiters_tick(d, now);
    if (wd >= 0 && wd < next)
        next = wd;
    return next - now;
}

static int all_done_once(daemon_t *d)
{
    for (size_t i = 0; i < d->n_ps; i++)
        if (d->ps[i].conf->enabled && (d->ps[i].run || d->ps[i].runs == 0))
            return 0;
    return 1;
}

static void drain_wake_pipe(daemon_t *d)
{
    char buf[64];
    while (read(d->wake_pipe[0], buf, sizeof buf) > 0)
        ;
}

void scheduler_run(daemon_t *d, void (*reload_fn)(daemon_t *))
{
    size_t cap = 0;
    struct pollfd *fds = NULL;
    pstate **owners = NULL;
    while (!d->stop) {
        if (d->reload) {
            d->reload = 0;
            reload_fn(d);
        }
        int changed = 0;
        pthread_mutex_lock(&d->lock);
        long long now = mono_ms();
        long long wait = plan(d, now, &changed);
        if (d->once && all_done_once(d)) {
            pthread_mutex_unlock(&d->lock);
            break;
        }
        if (cap < d->n_ps + 1) {
            cap = d->n_ps + 1;
            fds = xrealloc(fds, cap * sizeof *fds);
            owners = xrealloc(owners, cap * sizeof *owners);
        }
        size_t nfds = 0;
        fds[nfds].fd = d->wake_pipe[0];
        fds[nfds].events = POLLIN;
        owners[nfds++] = NULL;
        for (size_t i = 0; i < d->n_ps; i++) {
            if (!d->ps[i].run)
                continue;
            fds[nfds].fd = runner_fd(d->ps[i].run);
            fds[nfds].events = POLLIN;
            owners[nfds++] = &d->ps[i];
        }
        pthread_mutex_unlock(&d->lock);
        if (changed && !d->once) {
            state_save_snapshot(d);
            state_save_usage(d);
        }

        if (wait < 0)
            wait = 0;
        if (wait > MAX_POLL_MS)
            wait = MAX_POLL_MS;
        int n = poll(fds, nfds, (int)wait);
        if (n < 0 && errno != EINTR) {
            log_msg(MD_LOG_ERROR, NULL, "poll: %s", strerror(errno));
            break;
        }
        if (n <= 0)
            continue;
        if (fds[0].revents)
            drain_wake_pipe(d);
        changed = 0;
        pthread_mutex_lock(&d->lock);
        for (size_t i = 1; i < nfds; i++) {
            pstate *p = owners[i];
            if (!fds[i].revents || !p->run)
                continue;
            if (runner_read(p->run))
                finish_run(d, p, &changed);
        }
        pthread_mutex_unlock(&d->lock);
        if (changed && !d->once) {
            state_save_snapshot(d);
            state_save_usage(d);
        }
    }
    free(fds);
    free(owners);
}

void scheduler_kill_all(daemon_t *d)
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->n_ps; i++) {
        pstate *p = &d->ps[i];
        if (!p->run)
            continue;
        runner_kill(p->run);
        collect_result r;
        collect_result_init(&r);
        runner_finish(p->run, &r);
        collect_result_clear(&r);
        p->run = NULL;
    }
    pthread_mutex_unlock(&d->lock);
}
