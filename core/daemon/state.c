/* state.c - provider runtime state and its mailbox (see the invariants
 * in daemon.h); the published views are state_views.c.  Everything here
 * but the mailbox runs on the owner thread. */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alias.h"
#include "history.h"
#include "log.h"
#include "packages.h"
#include "quotas.h"
#include "redact.h"
#include "snapshot.h"
#include "timeutil.h"
#include "usage_counter.h"
#include "usage_store.h"

/* p->data changed: the next view set needs a new copy. */
static void data_changed(pstate *p)
{
    shared_result_release(p->pub);
    p->pub = NULL;
}

static void pstate_init(pstate *p, const provider_conf *pc,
                        const alias_map *aliases, long long now_ms)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup(pc->name);
    p->family = xstrdup(alias_family(aliases, pc->name));
    p->conf = pc;
    collect_result_init(&p->data);
    p->status = pc->enabled ? PSTAT_PENDING : PSTAT_DISABLED;
    p->sched.next_due_ms = now_ms; /* first collection right away */
}

/* Forecast and classify p's meters now; sets its fast lane. */
static void evaluate_quotas(daemon_t *d, pstate *p)
{
    p->fast_lane_ms = 0;
    if (!p->has_data || !p->conf)
        return;
    p->fast_lane_ms = quotas_evaluate(d->quotas, &d->cfg->forecast, p->name,
                                      p->family, p->data.metrics,
                                      p->data.n_metrics, p->conf->interval_ms,
                                      p->conf->min_interval_ms, time_now(),
                                      mono_ms(), p->served == SERVED_LIVE);
}

/* How far back stored samples matter: the longest burn_window. */
static double forecast_lookback_s(const config *cfg)
{
    long long ms = fc_settings_default().burn_window_ms;
    for (size_t i = 0; i < cfg->forecast.n_rules; i++)
        if ((cfg->forecast.rules[i].set & FCS_BURN_WINDOW) &&
            cfg->forecast.rules[i].v.burn_window_ms > ms)
            ms = cfg->forecast.rules[i].v.burn_window_ms;
    return (double)ms / 1000.0;
}

/* A run nobody will apply: killed now, reaped later by the scheduler. */
static void orphan_run(daemon_t *d, run_handle *run)
{
    if (!run)
        return;
    runner_kill(run);
    d->orphans = xrealloc(d->orphans, (d->n_orphans + 1) * sizeof *d->orphans);
    d->orphans[d->n_orphans++] = run;
}

static void pstate_release(daemon_t *d, pstate *p)
{
    free(p->name);
    free(p->family);
    free(p->err_msg);
    collect_result_clear(&p->data);
    data_changed(p);
    for (size_t i = 0; i < p->n_ingest_metrics; i++)
        metric_release(&p->ingest_metrics[i]);
    free(p->ingest_metrics);
    orphan_run(d, p->sched.run);
    memset(p, 0, sizeof *p);
}

/* Credits packages without `since` count from their first appearance,
 * kept across restarts in the state directory. */
static void first_seen(daemon_t *d)
{
    char *err = NULL;
    if (d->cfg->n_packages && d->cfg->state_dir &&
        packages_first_seen(d->cfg->packages, d->cfg->n_packages,
                            d->cfg->state_dir, time_now(), &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "packages: %s", err);
        free(err);
    }
}

void state_init(daemon_t *d, config *cfg)
{
    d->msgs = NULL;
    d->msgs_tail = &d->msgs;
    d->cfg = cfg;
    d->n_ps = cfg->n_providers;
    d->ps = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *d->ps);
    d->quotas = quotas_new();
    long long now = mono_ms();
    for (size_t i = 0; i < d->n_ps; i++)
        pstate_init(&d->ps[i], &cfg->providers[i], cfg->aliases, now);
    first_seen(d);
    d->version++;
    state_publish(d);
}

void state_release(daemon_t *d)
{
    state_close_mailbox(d);
    for (size_t i = 0; i < d->n_ps; i++)
        pstate_release(d, &d->ps[i]);
    free(d->ps);
    d->ps = NULL;
    d->n_ps = 0;
    /* scheduler_kill_all reaped what it could; what is left was killed
     * and is init's to reap once we exit. */
    for (size_t i = 0; i < d->n_orphans; i++) {
        collect_result r;
        runner_finish(d->orphans[i], &r);
        collect_result_clear(&r);
    }
    free(d->orphans);
    d->orphans = NULL;
    d->n_orphans = 0;
    quotas_free(d->quotas);
    d->quotas = NULL;
    while (d->waiters) {
        refresh_waiter *w = d->waiters;
        d->waiters = w->next;
        refresh_waiter_release(w);
    }
    pthread_mutex_lock(&d->lock);
    view_set *vs = d->views;
    d->views = NULL;
    pthread_mutex_unlock(&d->lock);
    view_set_release(vs);
    if (d->counters) {
        usage_counters_release(d->counters);
        free(d->counters);
        d->counters = NULL;
    }
    config_free(d->cfg);
    d->cfg = NULL;
    free(d->snapshot_error);
    d->snapshot_error = NULL;
}

pstate *state_find(daemon_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_ps; i++)
        if (strcmp(d->ps[i].name, name) == 0)
            return &d->ps[i];
    return NULL;
}

void state_load_snapshot(daemon_t *d)
{
    snapshot_entry *e = NULL;
    size_t n = 0;
    char *err = NULL;
    int rc = snapshot_load(d->cfg->state_dir, &e, &n, &err);
    if (rc != 0) {
        if (rc < 0)
            log_msg(MD_LOG_WARN, NULL, "%s; starting without a snapshot",
                    err ? err : "corrupt snapshot");
        free(err);
        state_load_forecasts(d);
        return;
    }
    if (rc > 0) {
        state_load_forecasts(d);
        return;
    }
    if (err) {   /* some providers' sections were left out */
        log_msg(MD_LOG_WARN, NULL, "%s", err);
        free(err);
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        pstate *p = state_find(d, e[i].name);
        if (!p)
            continue; /* provider no longer configured */
        used++;
        if (p->conf->enabled)
            p->status = e[i].status == PSTAT_DISABLED ? PSTAT_PENDING
                                                      : e[i].status;
        p->err = e[i].err;
        free(p->err_msg);
        p->err_msg = e[i].err_msg ? mask_secrets(e[i].err_msg,
                                                 (const char *const *)d->cfg->secrets,
                                                 d->cfg->n_secrets)
                                  : NULL;
        p->last_attempt_at = e[i].last_attempt_at;
        if (e[i].has_data) {
            collect_result_redact(&e[i].data, (const char *const *)d->cfg->secrets,
                          d->cfg->n_secrets);
            collect_result_clear(&p->data);
            p->data = e[i].data; /* take ownership */
            data_changed(p);
            p->n_plugin_metrics = p->data.n_metrics;
            collect_result_init(&e[i].data);
            e[i].has_data = 0;
            p->has_data = 1;
            p->served = SERVED_SNAPSHOT;
            p->stats.last_success_at = p->data.finished_at;
        }
    }
    log_msg(MD_LOG_INFO, NULL, "loaded snapshot: %zu of %zu providers", used, n);
    snapshot_entries_free(e, n);
    state_load_forecasts(d);
}

void state_load_forecasts(daemon_t *d)
{
    double now = time_now();
    double since = now - forecast_lookback_s(d->cfg);
    struct history_db *db = d->usage ? usage_store_db(d->usage) : NULL;
    /* The announced alert classes first: evaluating the snapshot below
     * must not re-announce them. */
    const char **names = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *names);
    for (size_t i = 0; i < d->n_ps; i++)
        names[i] = d->ps[i].name;
    quotas_restore(d->quotas, db, names, d->n_ps);
    free(names);
    for (size_t i = 0; i < d->n_ps; i++) {
        quotas_load(d->quotas, db, d->ps[i].name, since, now);
        evaluate_quotas(d, &d->ps[i]);
    }
    d->version++;
    state_publish(d);
}

void state_save_snapshot(daemon_t *d)
{
    /* The published set is immutable: it is written as it is. */
    state_publish(d);
    view_set *vs = view_set_acquire(d);
    provider_view *v = view_set_views_at(vs, time_now());
    char *err = NULL;
    int rc = snapshot_save(vs->state_dir, v, vs->n, &err);
    free(v);
    view_set_release(vs);
    d->snapshot_tried_at = time_now();
    if (rc != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot save snapshot: %s",
                err ? err : "unknown error");
        if (!d->snapshot_error)
            d->snapshot_failing_since = d->snapshot_tried_at;
        if (!d->snapshot_error || strcmp(d->snapshot_error,
                                         err ? err : "") != 0)
            d->version++;   /* /healthz shows the new reason */
        free(d->snapshot_error);
        d->snapshot_error = xstrdup(err ? err : "unknown error");
        free(err);
    } else if (d->snapshot_error) {
        free(d->snapshot_error);
        d->snapshot_error = NULL;
        d->version++;
    }
}

int state_persist_retry_due(daemon_t *d, double now)
{
    return usage_store_retry_due(d->usage, now) ||
           (d->snapshot_error && now - d->snapshot_tried_at >= USAGE_RETRY_S);
}

void state_save_usage(daemon_t *d)
{
    usage_image *img = d->usage ? usage_store_image(d->usage, time_now())
                                : NULL;
    char *err = NULL;
    if (img && usage_store_write(img, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot save the usage store: %s",
                err ? err : "unknown error");
        free(err);
        err = NULL;
    }
    /* The totals can be re-derived from the store back to their last
     * save (usage_counter.h), so they need not be written every time. */
    if (d->counters &&
        usage_counters_save(d->counters, d->cfg->state_dir, time_now(), 30.0,
                            d->stop != 0, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot save the usage totals: %s",
                err ? err : "unknown error");
        free(err);
    }
}

/* One finished run into the collection health figures. */
static void record_run(collection_stats *st, const collect_result *r)
{
    static const double bounds[VIEW_DURATION_BUCKETS] = VIEW_DURATION_BOUNDS;
    unsigned cls = (unsigned)r->err < VIEW_RESULT_CLASSES ? (unsigned)r->err
                                                          : MD_ERR_INTERNAL;
    st->by_result[cls]++;
    if (r->err == MD_ERR_NONE && r->finished_at > 0)
        st->last_success_at = r->finished_at;
    if (!(r->started_at > 0 && r->finished_at >= r->started_at))
        return; /* duration unknown: not in the histogram */
    double secs = r->finished_at - r->started_at;
    size_t b = 0;
    while (b < VIEW_DURATION_BUCKETS && secs > bounds[b])
        b++;
    st->duration_in[b]++;
    st->duration_sum += secs;
    st->duration_count++;
}

/* Move the usage cells of a result into the store; they never stay in
 * provider state (snapshots and API answers would carry them). */
static void take_usage(daemon_t *d, pstate *p, collect_result *r)
{
    if (r->has_usage && r->err == MD_ERR_NONE && d->usage) {
        usage_store_put(d->usage, p->name, r->usage, r->n_usage,
                        r->usage_since, r->usage_generation, time_now());
        log_msg(MD_LOG_DEBUG, p->name,
                "usage: %zu cells from %.0f, generation %llu", r->n_usage,
                r->usage_since, r->usage_generation);
    }
    usage_cell_rec_array_free(r->usage, r->n_usage);
    r->usage = NULL;
    r->n_usage = 0;
    r->has_usage = 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* data.metrics = the plugin's metrics + copies of the ingest meters whose
 * id the plugin did not report itself.  The array is built once. */
static void merge_ingest(pstate *p)
{
    for (size_t i = p->n_plugin_metrics; i < p->data.n_metrics; i++)
        metric_release(&p->data.metrics[i]);
    size_t np = p->n_plugin_metrics;
    const char **ids = xcalloc(np ? np : 1, sizeof *ids);
    for (size_t i = 0; i < np; i++)
        ids[i] = p->data.metrics[i].id;
    qsort(ids, np, sizeof *ids, cmp_str_ptr);
    p->data.metrics = xrealloc(p->data.metrics,
                               (np + p->n_ingest_metrics + 1) *
                                   sizeof *p->data.metrics);
    p->data.n_metrics = np;
    for (size_t k = 0; k < p->n_ingest_metrics; k++) {
        const metric *m = &p->ingest_metrics[k];
        if (np && bsearch(&m->id, ids, np, sizeof *ids, cmp_str_ptr))
            continue; /* the plugin's own meter wins */
        metric_copy(&p->data.metrics[p->data.n_metrics++], m);
    }
    free(ids);
    data_changed(p);
}

/* Sort key of a batch entry: its id, then its position (stable). */
typedef struct batch_key {
    const char *id;
    size_t pos;
} batch_key;

static int cmp_batch(const void *a, const void *b)
{
    const batch_key *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

void state_put_ingest_metrics(daemon_t *d, pstate *p, const metric *m,
                              size_t n)
{
    if (!n)
        return;
    /* Sort the batch by id (a later entry of the same id wins), then merge
     * it with the sorted old meters: O((n + old) log n), never per meter. */
    batch_key *keys = xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = (batch_key){m[i].id, i};
    qsort(keys, n, sizeof *keys, cmp_batch);
    metric *old = p->ingest_metrics;
    size_t n_old = p->n_ingest_metrics, i = 0, k = 0, out = 0;
    metric *merged = xcalloc(n_old + n, sizeof *merged);
    while (i < n_old || k < n) {
        while (k + 1 < n && strcmp(keys[k].id, keys[k + 1].id) == 0)
            k++; /* the last of equal ids */
        int c = i == n_old ? 1 : k == n ? -1 : strcmp(old[i].id, keys[k].id);
        if (c < 0) {
            merged[out++] = old[i++]; /* kept: moved */
            continue;
        }
        if (c == 0)
            metric_release(&old[i++]); /* replaced */
        metric_copy(&merged[out++], &m[keys[k++].pos]);
    }
    free(old);
    free(keys);
    p->ingest_metrics = merged;
    p->n_ingest_metrics = out;
    if (!p->has_data) { /* a gateway reported before any collection */
        p->has_data = 1;
        p->served = SERVED_LIVE;
        p->data.started_at = p->data.finished_at = time_now();
    }
    merge_ingest(p);
    d->version++;
}

void state_apply_result(daemon_t *d, pstate *p, collect_result *r)
{
    double now = time_now();
    /* The helper masked its own provider's secrets; mask everyone's. */
    collect_result_redact(r, (const char *const *)d->cfg->secrets, d->cfg->n_secrets);
    take_usage(d, p, r);
    record_run(&p->stats, r);
    p->runs++;
    p->run_seq++;
    p->last_attempt_at = r->started_at > 0 ? r->started_at : now;
    if (r->err == MD_ERR_NONE) {
        collect_result_clear(&p->data);
        p->data = *r;
        collect_result_init(r);
        p->n_plugin_metrics = p->data.n_metrics;
        merge_ingest(p);
        history_record(usage_store_history(d->usage), p->name,
                       p->data.metrics, p->data.n_metrics, now);
        quotas_feed(d->quotas, p->name, p->data.metrics, p->data.n_metrics,
                    now);
        p->has_data = 1;
        p->served = SERVED_LIVE;
        p->status = PSTAT_OK;
        p->err = MD_ERR_NONE;
        free(p->err_msg);
        p->err_msg = NULL;
        p->consecutive_failures = 0;
        evaluate_quotas(d, p);
    } else {
        p->failures++;
        p->consecutive_failures++;
        p->status = PSTAT_ERROR;
        p->err = r->err;
        free(p->err_msg);
        p->err_msg = xstrdup(r->err_msg ? r->err_msg : md_error_name(r->err));
        /* r keeps retry_after for the scheduler; the rest goes */
        double retry_after = r->retry_after;
        collect_result_clear(r);
        collect_result_init(r);
        r->err = p->err;
        r->retry_after = retry_after;
    }
    d->version++;
}

void state_reload_failed(daemon_t *d, char *error)
{
    d->reload_failures++;
    free(d->last_reload_error);
    d->last_reload_error = error;
    d->version++;
}

void state_swap_config(daemon_t *d, config *cfg)
{
    long long now = mono_ms();
    pstate *nps = xcalloc(cfg->n_providers ? cfg->n_providers : 1, sizeof *nps);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const provider_conf *pc = &cfg->providers[i];
        pstate *old = state_find(d, pc->name);
        if (!old) {
            pstate_init(&nps[i], pc, cfg->aliases, now);
            continue;
        }
        int same = old->conf && strcmp(old->conf->fingerprint, pc->fingerprint) == 0;
        nps[i] = *old;          /* move: keeps data, counters, schedule */
        memset(old, 0, sizeof *old);
        old->name = xstrdup(nps[i].name); /* keep it findable, freed below */
        nps[i].conf = pc;
        free(nps[i].family);
        nps[i].family = xstrdup(alias_family(cfg->aliases, pc->name));
        if (same)
            continue;
        /* Changed: restart its collection under the new settings. */
        orphan_run(d, nps[i].sched.run);
        nps[i].sched.run = NULL;
        nps[i].consecutive_failures = 0;
        nps[i].sched.not_before_ms = 0;
        nps[i].sched.next_due_ms = now;
        if (!pc->enabled)
            nps[i].status = PSTAT_DISABLED;
        else if (nps[i].status == PSTAT_DISABLED)
            nps[i].status = PSTAT_PENDING;
    }
    for (size_t i = 0; i < d->n_ps; i++)
        pstate_release(d, &d->ps[i]); /* removed providers (moved ones are empty) */
    free(d->ps);
    d->ps = nps;
    d->n_ps = cfg->n_providers;
    config_free(d->cfg);
    d->cfg = cfg;
    first_seen(d);
    d->reloads++;
    free(d->last_reload_error);
    d->last_reload_error = NULL;
    /* Forget the meters of removed providers; settings may have changed */
    const char **names = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *names);
    for (size_t i = 0; i < d->n_ps; i++)
        names[i] = d->ps[i].name;
    quotas_retain(d->quotas, names, d->n_ps);
    free(names);
    for (size_t i = 0; i < d->n_ps; i++)
        evaluate_quotas(d, &d->ps[i]);
    d->version++;
}

/* The mailbox                                                         */
/* ------------------------------------------------------------------ */

static int enqueue(daemon_t *d, state_msg *m)
{
    pthread_mutex_lock(&d->lock);
    int closed = d->mailbox_closed;
    if (!closed) {
        *d->msgs_tail = m;
        d->msgs_tail = &m->next;
    }
    pthread_mutex_unlock(&d->lock);
    if (!closed)
        scheduler_wake(d);
    return closed ? -1 : 0;
}

int state_post_then(daemon_t *d, void (*fn)(daemon_t *, void *),
                    void (*done)(void *), void *arg)
{
    state_msg *m = xmalloc(sizeof *m);
    *m = (state_msg){.next = NULL, .fn = fn, .done = done, .arg = arg,
                     .group = NULL};
    if (enqueue(d, m) == 0)
        return 0;
    free(m);
    return -1;
}

int state_post_group(daemon_t *d, void (*group)(daemon_t *, void **, size_t),
                     void (*done)(void *), void *arg)
{
    state_msg *m = xmalloc(sizeof *m);
    *m = (state_msg){.next = NULL, .fn = NULL, .done = done, .arg = arg,
                     .group = group};
    if (enqueue(d, m) == 0)
        return 0;
    free(m);
    return -1;
}

int state_post(daemon_t *d, void (*fn)(daemon_t *, void *), void *arg)
{
    return state_post_then(d, fn, NULL, arg);
}

int state_messages_waiting(daemon_t *d)
{
    pthread_mutex_lock(&d->lock);
    int waiting = d->msgs != NULL;
    pthread_mutex_unlock(&d->lock);
    return waiting;
}

/* Take the queue; with close, refuse further messages. */
static state_msg *take_queue(daemon_t *d, int close)
{
    pthread_mutex_lock(&d->lock);
    state_msg *list = d->msgs;
    d->msgs = NULL;
    d->msgs_tail = &d->msgs;
    if (close)
        d->mailbox_closed = 1;
    pthread_mutex_unlock(&d->lock);
    return list;
}

/* Run m and the later messages of its group (state_post_group), which
 * are unlinked from the list after m; m->next is where to go on. */
static void run_group(daemon_t *d, state_msg *m)
{
    state_msg *took[STATE_GROUP_MAX];
    void *args[STATE_GROUP_MAX];
    size_t n = 0;
    took[n] = m;
    args[n++] = m->arg;
    for (state_msg **at = &m->next; *at && n < STATE_GROUP_MAX;) {
        if ((*at)->group != m->group) {
            at = &(*at)->next;
            continue;
        }
        took[n] = *at;
        args[n++] = (*at)->arg;
        *at = (*at)->next;
    }
    m->group(d, args, n);
    state_publish(d); /* every answer sees its own effect */
    for (size_t i = 0; i < n; i++) {
        if (took[i]->done)
            took[i]->done(took[i]->arg);
        if (i)
            free(took[i]);
    }
}

static void run_list(daemon_t *d, state_msg *m)
{
    while (m) {
        if (m->group) {
            run_group(d, m);
            state_msg *next = m->next;
            free(m);
            m = next;
            continue;
        }
        state_msg *next = m->next;
        m->fn(d, m->arg);
        state_publish(d); /* the answer sees its own effect */
        if (m->done)
            m->done(m->arg);
        free(m);
        m = next;
    }
}

void state_run_messages(daemon_t *d)
{
    run_list(d, take_queue(d, 0));
}

void state_close_mailbox(daemon_t *d)
{
    if (!d->msgs_tail)
        return;   /* never initialised */
    run_list(d, take_queue(d, 1));
}
