/* scheduler.c - when to collect (intervals, backoff, Retry-After, forced
 * refreshes); starting, killing and reaping helpers.  Runs on the owner
 * thread (see daemon.h) and never waits for a child: a helper is killed
 * with kill() at its deadline and reaped with a non-blocking wait once
 * SIGCHLD said something exited. */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "quotas.h"
#include "timeutil.h"
#include "usage_store.h"

#define MAX_POLL_MS 1000
/* A run whose stream ended but whose helper was not reaped yet is checked
 * at least this often, in case its SIGCHLD went to no handler (the
 * daemon's handlers are installed by main; a library caller may have
 * none). */
#define REAP_POLL_MS 50
/* At shutdown, how long SIGKILLed helpers are waited for in all. */
#define SHUTDOWN_REAP_MS 1000
/* Backoff never grows past this many intervals. */
#define BACKOFF_CAP_FACTOR 8
/* Even with Retry-After: 0, a 429 waits at least this long. */
#define MIN_RATE_LIMIT_BACKOFF_MS 30000
/* Concurrency (max_concurrent_collections): a due provider that finds no
 * free slot, or too few free descriptors, looks again this soon. */
#define SLOT_POLL_MS 100
/* Descriptors kept free for the HTTP front, the snapshot, the database
 * and the helpers already running (each holds about two). */
#define FD_RESERVE 64
/* A helper that could not start for lack of descriptors or processes is
 * retried after this long, not after its interval. */
#define START_RETRY_MS 2000
/* The first start of each provider is spread over at most this long when
 * there are more providers than slots. */
#define START_JITTER_MS 1000

void scheduler_wake(daemon_t *d)
{
    /* async-signal-safe: a full pipe already means "wake up" */
    char c = 1;
    ssize_t rc = write(d->wake_pipe[1], &c, 1);
    (void)rc;
}

void scheduler_child_exited(daemon_t *d)
{
    d->child_exited = 1;
    scheduler_wake(d);
}

/* ---- refresh waiters ---- */

static void waiter_free(refresh_waiter *w)
{
    for (size_t i = 0; i < w->n_pending; i++)
        free(w->pending[i]);
    for (size_t i = 0; i < w->n_fallback; i++)
        free(w->fallback[i]);
    free(w->pending);
    free(w->fallback);
    free(w);
}

void refresh_waiter_release(refresh_waiter *w)
{
    if (w && atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
        waiter_free(w);
}

int refresh_waiter_done(const refresh_waiter *w)
{
    return atomic_load_explicit(&w->done, memory_order_acquire);
}

static long long due_ms(const pstate *p)
{
    long long due = p->sched.force ? 0 : p->sched.next_due_ms;
    return due > p->sched.not_before_ms ? due : p->sched.not_before_ms;
}

/* Resolution happens in two steps: resolve (the waiter's lists are
 * final) and notify (after the next publication, so whoever is woken
 * renders the results that resolved it). */
static void waiter_resolve(refresh_waiter *w, int timed_out)
{
    if (w->resolved)
        return;
    if (timed_out) {
        w->fallback = w->pending; /* whatever did not finish */
        w->n_fallback = w->n_pending;
        w->pending = NULL;
        w->n_pending = 0;
    }
    w->resolved = 1;
}

/* Owner thread, views published: run the callbacks of resolved waiters
 * and drop the scheduler's references. */
static void waiters_notify(daemon_t *d)
{
    refresh_waiter **pp = &d->waiters;
    while (*pp) {
        refresh_waiter *w = *pp;
        if (!w->resolved) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        atomic_store_explicit(&w->done, 1, memory_order_release);
        if (w->on_done)
            w->on_done(w->arg);
        refresh_waiter_release(w);
    }
}

/* The refresh message, on the owner thread. */
static void refresh_start(daemon_t *d, void *arg)
{
    refresh_waiter *w = arg;
    w->pending = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *w->pending);
    long long now = mono_ms();
    for (size_t i = 0; i < d->n_ps && !d->stop; i++) {
        pstate *p = &d->ps[i];
        if (!p->conf->enabled)
            continue;
        if (p->sched.run) {
            p->skips++; /* a refresh while running never overlaps it */
            d->version++;
        } else {
            if (now < p->sched.not_before_ms)
                continue; /* backoff or Retry-After: serve what we have */
            if (p->sched.last_start_ms &&
                now - p->sched.last_start_ms < d->cfg->min_refresh_ms)
                continue; /* polled moments ago: no refresh storm */
            p->sched.force = 1;
        }
        w->pending[w->n_pending++] = xstrdup(p->name);
    }
    w->next = d->waiters;
    d->waiters = w;
    if (w->n_pending == 0)
        waiter_resolve(w, 0);
    if (d->stop) {
        /* Queued after scheduler_kill_all resolved the waiters and run
         * as the mailbox closes: nothing would call back any more. */
        state_publish(d);
        waiters_notify(d);
    }
}

int scheduler_request_refresh(daemon_t *d, long long deadline_ms,
                              void (*on_done)(void *), void *arg,
                              refresh_waiter **out)
{
    refresh_waiter *w = xcalloc(1, sizeof *w);
    w->deadline_ms = deadline_ms;
    w->on_done = on_done;
    w->arg = arg;
    atomic_init(&w->done, 0);
    atomic_init(&w->refs, 2); /* the requester's and the scheduler's */
    *out = NULL;
    if (state_post(d, refresh_start, w) != 0) {
        waiter_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

/* A provider finished: tick it off every waiter. */
static void waiters_finished(daemon_t *d, const char *name)
{
    for (refresh_waiter *w = d->waiters; w; w = w->next) {
        if (w->resolved)
            continue;
        for (size_t i = 0; i < w->n_pending; i++) {
            if (strcmp(w->pending[i], name) != 0)
                continue;
            free(w->pending[i]);
            w->pending[i] = w->pending[--w->n_pending];
            break;
        }
        if (w->n_pending == 0)
            waiter_resolve(w, 0);
    }
}

/* Resolve expired waiters; returns the earliest pending deadline or -1. */
static long long waiters_tick(daemon_t *d, long long now)
{
    long long next = -1;
    for (refresh_waiter *w = d->waiters; w; w = w->next) {
        /* A provider removed by a reload never finishes: its waiter
         * resolves here at the deadline, listing it as a fallback. */
        if (!w->resolved && (now >= w->deadline_ms || d->stop))
            waiter_resolve(w, 1);
        if (!w->resolved && (next < 0 || w->deadline_ms < next))
            next = w->deadline_ms;
    }
    return next;
}

/* ---- when next: backoff and Retry-After ---- */

/* Delay after the n-th consecutive failure: interval * 2^(n-1), capped. */
static long long backoff_ms(long long interval_ms, unsigned failures)
{
    long long delay = interval_ms;
    for (unsigned i = 1; i < failures && delay < interval_ms * BACKOFF_CAP_FACTOR; i++)
        delay *= 2;
    if (delay > interval_ms * BACKOFF_CAP_FACTOR)
        delay = interval_ms * BACKOFF_CAP_FACTOR;
    return delay;
}

/* After a recorded result: when p runs next.  A success runs one interval
 * after its start; a failure backs off exponentially, and a rate limit
 * (or any Retry-After) sets a floor that forced refreshes respect too.
 * After a success while a meter is urgent (quotas.h) the fast lane's
 * shorter interval applies; state_apply_result set it from this very
 * result.  Backoff keeps counting in whole intervals. */
static void schedule_next(pstate *p, const collect_result *r, long long now_ms)
{
    long long interval = p->conf->interval_ms;
    long long next = p->sched.last_start_ms + interval;
    if (r->err == MD_ERR_NONE) {
        if (p->fast_lane_ms > 0 && p->fast_lane_ms < interval)
            next = p->sched.last_start_ms + p->fast_lane_ms;
        p->sched.not_before_ms = 0;
    } else {
        long long delay = backoff_ms(interval, p->consecutive_failures);
        long long floor_ms = 0;
        if (r->retry_after >= 0)
            floor_ms = (long long)ceil(r->retry_after * 1000.0);
        if (r->err == MD_ERR_RATE_LIMITED && floor_ms < MIN_RATE_LIMIT_BACKOFF_MS)
            floor_ms = MIN_RATE_LIMIT_BACKOFF_MS;
        if (delay < floor_ms)
            delay = floor_ms;
        next = now_ms + delay;
        p->sched.not_before_ms = next;
        log_msg(MD_LOG_WARN, p->name, "collection failed (%s): %s; next attempt in %lld s",
                md_error_name(r->err), p->err_msg ? p->err_msg : "",
                (delay + 999) / 1000);
    }
    if (next < now_ms)
        next = now_ms;
    p->sched.next_due_ms = next;
    p->sched.skip_counted = 0;
}

static void record(daemon_t *d, pstate *p, collect_result *r, long long now)
{
    state_apply_result(d, p, r);
    schedule_next(p, r, now);
    collect_result_clear(r);
    waiters_finished(d, p->name);
}

/* ---- runs ---- */

/* Free descriptors: RLIMIT_NOFILE minus those open (/proc/self/fd). */
static long long fds_free(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1 << 20;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return 1 << 20;
    long long open_fds = 0;
    while (readdir(dir))
        open_fds++;
    closedir(dir);
    return (long long)rl.rlim_cur - open_fds;
}

/* A per-provider offset in [0, START_JITTER_MS): a stable hash of its
 * name, so the first starts of a large configuration are spread. */
static long long start_jitter(const pstate *p)
{
    unsigned h = 2166136261u;
    for (const char *c = p->name; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return (long long)(h % START_JITTER_MS);
}

static void start_run(daemon_t *d, pstate *p, long long now)
{
    char *err = NULL;
    long long deadline = now + p->conf->timeout_ms;
    p->sched.force = 0;
    p->sched.last_start_ms = now;
    /* The run is due again one interval after its start: only a run
     * still going then skips one (schedule_next sets the real time). */
    p->sched.next_due_ms = now + p->conf->interval_ms;
    p->sched.skip_counted = 0;
    unsigned long long gen = d->usage ? usage_store_generation(d->usage, p->name)
                                      : 0;
    p->sched.run = runner_start(p->conf, d->self_exe, d->cfg->state_dir,
                                deadline, gen, &err);
    d->version++;
    if (p->sched.run) {
        log_msg(MD_LOG_DEBUG, p->name, "collection started");
        return;
    }
    if (errno == EMFILE || errno == ENFILE || errno == EAGAIN) {
        /* Out of descriptors or processes: a passing shortage, not this
         * provider's failure; try again in seconds. */
        log_msg(MD_LOG_WARN, p->name, "%s; retrying in %d s", err,
                START_RETRY_MS / 1000);
        free(err);
        p->sched.next_due_ms = now + START_RETRY_MS;
        return;
    }
    collect_result r;
    collect_result_init(&r);
    r.err = MD_ERR_INTERNAL;
    r.err_msg = xasprintf("cannot start collection: %s", err ? err : "unknown error");
    r.started_at = r.finished_at = time_now();
    free(err);
    record(d, p, &r, now);
}

/* The helper's output lines, labelled with the instance (log_msg escapes
 * control characters and masks secrets); final: the run is over, so
 * read what is left and say how much was cut. */
static void log_output(const char *name, run_handle *h, int final)
{
    if (final)
        runner_read_output(h);
    size_t n;
    char **lines = runner_take_output(h, &n);
    for (size_t i = 0; i < n; i++) {
        log_msg(MD_LOG_INFO, name, "plugin output: %s", lines[i]);
        free(lines[i]);
    }
    free(lines);
    size_t dropped = final ? runner_output_dropped(h) : 0;
    if (dropped)
        log_msg(MD_LOG_WARN, name, "plugin output: %zu more bytes not logged "
                "(at most %zu bytes per collection)", dropped,
                (size_t)RUNNER_OUTPUT_CAP);
}

/* Apply a done run (stream over and helper reaped). */
static void finish_run(daemon_t *d, pstate *p)
{
    collect_result r;
    log_output(p->name, p->sched.run, 1);
    runner_finish(p->sched.run, &r);
    p->sched.run = NULL;
    if (r.err == MD_ERR_NONE)
        log_msg(MD_LOG_DEBUG, p->name, "collected %zu metrics", r.n_metrics);
    record(d, p, &r, mono_ms());
}

/* Reap what exited: runs of providers and orphans.  Only pids the runner
 * knows are waited for (runner_reap), never "any child". */
static void reap(daemon_t *d)
{
    for (size_t i = 0; i < d->n_ps; i++) {
        pstate *p = &d->ps[i];
        if (p->sched.run && runner_reap(p->sched.run) && runner_done(p->sched.run))
            finish_run(d, p);
    }
    size_t k = 0;
    for (size_t i = 0; i < d->n_orphans; i++) {
        run_handle *h = d->orphans[i];
        if (!runner_reap(h)) {
            runner_kill(h);   /* SIGKILLs the group once past its grace */
            d->orphans[k++] = h;
            continue;
        }
        collect_result r;
        log_output(NULL, h, 1);
        runner_finish(h, &r);
        collect_result_clear(&r);
    }
    d->n_orphans = k;
}

/* Start due runs, kill overdue ones (kill only: the reap comes with
 * SIGCHLD); returns ms until the next event. */
static long long plan(daemon_t *d, long long now)
{
    long long next = now + MAX_POLL_MS;
    /* Slots: helpers of providers and orphans still to be reaped. */
    long long running = (long long)d->n_orphans;
    for (size_t i = 0; i < d->n_ps; i++)
        running += d->ps[i].sched.run != NULL;
    long long slots = d->cfg->max_concurrent > 0 ? d->cfg->max_concurrent
                                                 : 16;
    int crowded = (long long)d->n_ps > slots;
    int fd_checked = 0, fd_room = 1;
    for (size_t i = 0; i < d->n_ps; i++) {
        pstate *p = &d->ps[i];
        if (!p->conf->enabled)
            continue;
        run_handle *run = p->sched.run;
        if (run) {
            long long dl = runner_deadline(run);
            if (now >= dl && !runner_done(run))
                runner_kill(run);   /* a kill, never a wait */
            if (runner_done(run)) {
                finish_run(d, p);
            } else {
                /* stream over or killed: waiting for the reap */
                long long at = runner_fd(run) < 0 || now >= dl
                                   ? now + REAP_POLL_MS : dl;
                if (at < next)
                    next = at;
                if (!p->sched.skip_counted && now >= p->sched.next_due_ms) {
                    p->skips++; /* due again while still running */
                    p->sched.skip_counted = 1;
                    d->version++;
                }
                continue;
            }
        }
        if (crowded && !p->sched.force && p->runs == 0 &&
            !p->sched.last_start_ms && !p->sched.next_due_ms)
            p->sched.next_due_ms = now + start_jitter(p);
        long long due = due_ms(p);
        if (now >= due) {
            if (!fd_checked && p->conf->isolation == ISOLATION_PROCESS) {
                fd_checked = 1;
                fd_room = fds_free() > FD_RESERVE;
            }
            if (running < slots && (fd_room ||
                                    p->conf->isolation != ISOLATION_PROCESS)) {
                start_run(d, p, now);
                running += p->sched.run != NULL;
            } else if (now + SLOT_POLL_MS < next) {
                next = now + SLOT_POLL_MS;   /* waits for a slot */
            }
        }
        if (!p->sched.run && due > now && due < next)
            next = due;
    }
    if (d->n_orphans && now + REAP_POLL_MS < next)
        next = now + REAP_POLL_MS;
    /* Notify commands: reaped by pid without blocking, killed at their
     * timeout; polled while any runs. */
    long long nd = quotas_tick(d->quotas, now);
    if (nd >= 0 && nd < next)
        next = nd;
    if (quotas_notify_running(d->quotas) && now + REAP_POLL_MS < next)
        next = now + REAP_POLL_MS;
    long long wd = waiters_tick(d, now);
    if (wd >= 0 && wd < next)
        next = wd;
    return next - now;
}

static int all_done_once(daemon_t *d)
{
    for (size_t i = 0; i < d->n_ps; i++)
        if (d->ps[i].conf->enabled && (d->ps[i].sched.run || d->ps[i].runs == 0))
            return 0;
    return 1;
}

static void drain_wake_pipe(daemon_t *d)
{
    char buf[64];
    while (read(d->wake_pipe[0], buf, sizeof buf) > 0)
        ;
}

/* Publish what changed, wake the waiters it resolved, persist what
 * changed since *saved (the version at the last persist).  Each save
 * ends in an fsync of tens of milliseconds: the mailbox is run before
 * and between them, so a message (an HTTP request parked for its
 * answer) waits behind at most one save, never a whole settle. */
static void settle(daemon_t *d, unsigned long *saved)
{
    state_publish(d);
    waiters_notify(d);
    if (d->once ||
        (d->version == *saved && !state_persist_retry_due(d, time_now())))
        return;
    state_run_messages(d);
    state_save_snapshot(d);
    state_run_messages(d);
    state_save_usage(d);
    /* What the messages changed meanwhile is in the snapshot or the
     * store only if it came before the save: the next settle saves
     * again when the version moved past this one. */
    *saved = d->version;
    state_publish(d);
    waiters_notify(d);
}

/* The loop: messages, reaping, planning and one settle per turn, then
 * poll.  The mailbox runs as soon as poll reports the wake pipe, before
 * the helpers' output is read; the settle (and its saves) comes at the
 * top of the next turn, once for everything that happened. */
void scheduler_run(daemon_t *d, void (*reload_fn)(daemon_t *))
{
    size_t cap = 0;
    struct pollfd *fds = NULL;
    pstate **owners = NULL;
    /* The start was saved by state_load_snapshot or is saved now. */
    unsigned long saved = d->version - 1;
    while (!d->stop) {
        if (d->reload) {
            d->reload = 0;
            reload_fn(d);
        }
        state_run_messages(d);
        if (d->child_exited) {
            d->child_exited = 0;
            reap(d);
        }
        long long now = mono_ms();
        long long wait = plan(d, now);
        settle(d, &saved);
        if (d->once && all_done_once(d))
            break;
        if (cap < 2 * d->n_ps + 1) {
            cap = 2 * d->n_ps + 1;
            fds = xrealloc(fds, cap * sizeof *fds);
            owners = xrealloc(owners, cap * sizeof *owners);
        }
        size_t nfds = 0;
        fds[nfds].fd = d->wake_pipe[0];
        fds[nfds].events = POLLIN;
        owners[nfds++] = NULL;
        for (size_t i = 0; i < d->n_ps; i++) {
            run_handle *run = d->ps[i].sched.run;
            if (run && runner_fd(run) >= 0) {
                fds[nfds].fd = runner_fd(run);
                fds[nfds].events = POLLIN;
                owners[nfds++] = &d->ps[i];
            }
            if (run && runner_out_fd(run) >= 0) {   /* helper output */
                fds[nfds].fd = runner_out_fd(run);
                fds[nfds].events = POLLIN;
                owners[nfds++] = &d->ps[i];
            }
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
        if (fds[0].revents) {
            drain_wake_pipe(d);
            state_run_messages(d);   /* first: a request waits for it */
        }
        int ended = 0;
        for (size_t i = 1; i < nfds; i++) {
            pstate *p = owners[i];
            if (!fds[i].revents || !p->sched.run)
                continue;
            if (fds[i].fd == runner_out_fd(p->sched.run)) {
                runner_read_output(p->sched.run);
                log_output(p->name, p->sched.run, 0);
            } else if (runner_read(p->sched.run)) {
                ended = 1;
            }
        }
        /* A helper usually exits right after its result: try now rather
         * than wait for the SIGCHLD round trip. */
        if (ended)
            reap(d);
    }
    free(fds);
    free(owners);
}

void scheduler_kill_all(daemon_t *d)
{
    for (size_t i = 0; i < d->n_ps; i++) {
        pstate *p = &d->ps[i];
        if (!p->sched.run)
            continue;
        runner_kill(p->sched.run);
        d->orphans = xrealloc(d->orphans, (d->n_orphans + 1) * sizeof *d->orphans);
        d->orphans[d->n_orphans++] = p->sched.run;
        p->sched.run = NULL;
        d->version++;
    }
    /* SIGKILLed helpers die at once; bounded anyway, so a helper stuck in
     * the kernel cannot hold up the exit (init reaps it later). */
    long long end = mono_ms() + SHUTDOWN_REAP_MS;
    for (;;) {
        reap(d);
        if (!d->n_orphans || mono_ms() >= end)
            break;
        struct pollfd none = {-1, 0, 0};
        poll(&none, 0, 5);
    }
    for (refresh_waiter *w = d->waiters; w; w = w->next)
        waiter_resolve(w, 1);
    state_publish(d);
    waiters_notify(d);
}
