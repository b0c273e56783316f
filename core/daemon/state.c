/* state.c - provider runtime state: results, snapshot, reload, views. */
#include "daemon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alias.h"
#include "history.h"
#include "log.h"
#include "redact.h"
#include "snapshot.h"
#include "timeutil.h"
#include "usage_store.h"

/* Backoff never grows past this many intervals. */
#define BACKOFF_CAP_FACTOR 8
/* Even with Retry-After: 0, a 429 waits at least this long. */
#define MIN_RATE_LIMIT_BACKOFF_MS 30000

static void pstate_init(pstate *p, const provider_conf *pc,
                        const alias_map *aliases, long long now_ms)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup(pc->name);
    p->family = xstrdup(alias_family(aliases, pc->name));
    p->conf = pc;
    collect_result_init(&p->data);
    p->status = pc->enabled ? PSTAT_PENDING : PSTAT_DISABLED;
    p->next_due_ms = now_ms; /* first collection right away */
}

static void pstate_free(pstate *p)
{
    free(p->name);
    free(p->family);
    free(p->err_msg);
    collect_result_clear(&p->data);
    for (size_t i = 0; i < p->n_ingest_metrics; i++)
        metric_release(&p->ingest_metrics[i]);
    free(p->ingest_metrics);
    if (p->run) {
        runner_kill(p->run);
        collect_result r;
        collect_result_init(&r);
        runner_finish(p->run, &r);
        collect_result_clear(&r);
    }
    memset(p, 0, sizeof *p);
}

void state_init(daemon_t *d, config *cfg)
{
    d->cfg = cfg;
    d->n_ps = cfg->n_providers;
    d->ps = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *d->ps);
    long long now = mono_ms();
    for (size_t i = 0; i < d->n_ps; i++)
        pstate_init(&d->ps[i], &cfg->providers[i], cfg->aliases, now);
    d->version++;
}

void state_free(daemon_t *d)
{
    for (size_t i = 0; i < d->n_ps; i++)
        pstate_free(&d->ps[i]);
    free(d->ps);
    d->ps = NULL;
    d->n_ps = 0;
    while (d->waiters) {
        refresh_waiter *w = d->waiters;
        d->waiters = w->next;
        refresh_waiter_free(w);
    }
    config_free(d->cfg);
    d->cfg = NULL;
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
    if (rc < 0) {
        log_msg(MD_LOG_WARN, NULL, "%s; starting without a snapshot",
                err ? err : "corrupt snapshot");
        free(err);
        return;
    }
    if (rc > 0)
        return;
    size_t used = 0;
    pthread_mutex_lock(&d->lock);
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
            p->n_plugin_metrics = p->data.n_metrics;
            collect_result_init(&e[i].data);
            e[i].has_data = 0;
            p->has_data = 1;
            p->served = SERVED_SNAPSHOT;
        }
    }
    d->version++;
    pthread_mutex_unlock(&d->lock);
    log_msg(MD_LOG_INFO, NULL, "loaded snapshot: %zu of %zu providers", used, n);
    snapshot_entries_free(e, n);
}

void state_save_snapshot(daemon_t *d)
{
    pthread_mutex_lock(&d->lock);
    double now = time_now();
    provider_view *v = NULL;
    size_t n = state_views(d, &v, now);
    /* Deep-copy what the views borrow so the write happens unlocked. */
    collect_result *copies = xcalloc(n ? n : 1, sizeof *copies);
    char **strs = xcalloc(3 * (n ? n : 1), sizeof *strs);
    for (size_t i = 0; i < n; i++) {
        if (v[i].data) {
            collect_result_copy(&copies[i], v[i].data);
            v[i].data = &copies[i];
        }
        v[i].name = strs[3 * i] = xstrdup(v[i].name);
        v[i].plugin = strs[3 * i + 1] = xstrdup(v[i].plugin);
        v[i].err_msg = strs[3 * i + 2] = xstrdup(v[i].err_msg);
        v[i].family = NULL;
    }
    char *state_dir = xstrdup(d->cfg->state_dir);
    pthread_mutex_unlock(&d->lock);

    char *err = NULL;
    if (snapshot_save(state_dir, v, n, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot save snapshot: %s",
                err ? err : "unknown error");
        free(err);
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].data)
            collect_result_clear(&copies[i]);
        free(strs[3 * i]);
        free(strs[3 * i + 1]);
        free(strs[3 * i + 2]);
    }
    free(copies);
    free(strs);
    free(state_dir);
    free(v);
}

void state_save_usage(daemon_t *d)
{
    pthread_mutex_lock(&d->lock);
    usage_image *img = d->usage ? usage_store_image(d->usage, time_now())
                                : NULL;
    pthread_mutex_unlock(&d->lock);
    char *err = NULL;
    if (img && usage_store_write(img, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot save the usage store: %s",
                err ? err : "unknown error");
        free(err);
    }
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

/* data.metrics = the plugin's metrics + copies of the ingest meters whose
 * id the plugin did not report itself. */
static void merge_ingest(pstate *p)
{
    for (size_t i = p->n_plugin_metrics; i < p->data.n_metrics; i++)
        metric_release(&p->data.metrics[i]);
    p->data.n_metrics = p->n_plugin_metrics;
    for (size_t k = 0; k < p->n_ingest_metrics; k++) {
        const metric *m = &p->ingest_metrics[k];
        int shadowed = 0;
        for (size_t i = 0; i < p->n_plugin_metrics && !shadowed; i++)
            shadowed = strcmp(p->data.metrics[i].id, m->id) == 0;
        if (shadowed)
            continue;
        p->data.metrics = xrealloc(p->data.metrics, (p->data.n_metrics + 1) *
                                                        sizeof *p->data.metrics);
        metric_copy(&p->data.metrics[p->data.n_metrics++], m);
    }
}

void state_put_ingest_metric(daemon_t *d, pstate *p, const metric *m)
{
    size_t i;
    for (i = 0; i < p->n_ingest_metrics; i++)
        if (strcmp(p->ingest_metrics[i].id, m->id) == 0)
            break;
    if (i == p->n_ingest_metrics) {
        p->ingest_metrics = xrealloc(p->ingest_metrics,
                                     (i + 1) * sizeof *p->ingest_metrics);
        p->n_ingest_metrics++;
    } else {
        metric_release(&p->ingest_metrics[i]);
    }
    metric_copy(&p->ingest_metrics[i], m);
    if (!p->has_data) { /* a gateway reported before any collection */
        p->has_data = 1;
        p->served = SERVED_LIVE;
        p->data.started_at = p->data.finished_at = time_now();
    }
    merge_ingest(p);
    d->version++;
}

void state_apply_result(daemon_t *d, pstate *p, collect_result *r,
                        long long now_ms)
{
    const provider_conf *pc = p->conf;
    double now = time_now();
    /* The helper masked its own provider's secrets; mask everyone's. */
    collect_result_redact(r, (const char *const *)d->cfg->secrets, d->cfg->n_secrets);
    take_usage(d, p, r);
    p->runs++;
    p->run_seq++;
    p->last_attempt_at = r->started_at > 0 ? r->started_at : now;
    long long next = p->last_start_ms + pc->interval_ms;
    if (r->err == MD_ERR_NONE) {
        collect_result_clear(&p->data);
        p->data = *r;
        collect_result_init(r);
        p->n_plugin_metrics = p->data.n_metrics;
        merge_ingest(p);
        history_record(usage_store_history(d->usage), p->name,
                       p->data.metrics, p->data.n_metrics, now);
        p->has_data = 1;
        p->served = SERVED_LIVE;
        p->status = PSTAT_OK;
        p->err = MD_ERR_NONE;
        free(p->err_msg);
        p->err_msg = NULL;
        p->consecutive_failures = 0;
        p->not_before_ms = 0;
    } else {
        p->failures++;
        p->consecutive_failures++;
        p->status = PSTAT_ERROR;
        p->err = r->err;
        free(p->err_msg);
        p->err_msg = xstrdup(r->err_msg ? r->err_msg : md_error_name(r->err));
        long long delay = backoff_ms(pc->interval_ms, p->consecutive_failures);
        long long floor_ms = 0;
        if (r->retry_after >= 0)
            floor_ms = (long long)ceil(r->retry_after * 1000.0);
        if (r->err == MD_ERR_RATE_LIMITED && floor_ms < MIN_RATE_LIMIT_BACKOFF_MS)
            floor_ms = MIN_RATE_LIMIT_BACKOFF_MS;
        if (delay < floor_ms)
            delay = floor_ms;
        next = now_ms + delay;
        /* Forced refreshes may not cut a backoff or Retry-After short. */
        p->not_before_ms = next;
        log_msg(MD_LOG_WARN, p->name, "collection failed (%s): %s; next attempt in %lld s",
                md_error_name(r->err), p->err_msg, (delay + 999) / 1000);
        collect_result_clear(r);
    }
    if (next < now_ms)
        next = now_ms;
    p->next_due_ms = next;
    p->next_attempt_at = now + (double)(next - now_ms) / 1000.0;
    p->skip_counted = 0;
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
        if (nps[i].run) {
            runner_kill(nps[i].run);
            collect_result r;
            collect_result_init(&r);
            runner_finish(nps[i].run, &r);
            collect_result_clear(&r);
            nps[i].run = NULL;
        }
        nps[i].consecutive_failures = 0;
        nps[i].not_before_ms = 0;
        nps[i].next_due_ms = now;
        if (!pc->enabled)
            nps[i].status = PSTAT_DISABLED;
        else if (nps[i].status == PSTAT_DISABLED)
            nps[i].status = PSTAT_PENDING;
    }
    for (size_t i = 0; i < d->n_ps; i++)
        pstate_free(&d->ps[i]); /* removed providers (moved ones are empty) */
    free(d->ps);
    d->ps = nps;
    d->n_ps = cfg->n_providers;
    config_free(d->cfg);
    d->cfg = cfg;
    d->version++;
}

size_t state_views(daemon_t *d, provider_view **out, double now)
{
    provider_view *v = xcalloc(d->n_ps ? d->n_ps : 1, sizeof *v);
    long long mnow = mono_ms();
    for (size_t i = 0; i < d->n_ps; i++) {
        const pstate *p = &d->ps[i];
        provider_view *pv = &v[i];
        pv->name = p->name;
        pv->plugin = p->conf ? p->conf->plugin : NULL;
        pv->family = p->family;
        pv->status = p->status;
        pv->err = p->err;
        pv->err_msg = p->err_msg;
        pv->data = p->has_data ? &p->data : NULL;
        pv->collected_at = p->has_data ? p->data.finished_at : 0;
        pv->served = p->has_data ? p->served : SERVED_NONE;
        pv->stale = p->has_data && p->status == PSTAT_ERROR;
        pv->last_attempt_at = p->last_attempt_at;
        if (p->conf && p->conf->enabled) {
            long long due = p->next_due_ms > p->not_before_ms ? p->next_due_ms
                                                               : p->not_before_ms;
            pv->next_attempt_at = p->run ? now : now + (double)(due - mnow) / 1000.0;
            if (pv->next_attempt_at < now)
                pv->next_attempt_at = now;
        }
        pv->running = p->run != NULL;
        pv->runs = p->runs;
        pv->failures = p->failures;
        pv->skips = p->skips;
        pv->consecutive_failures = p->consecutive_failures;
    }
    *out = v;
    return d->n_ps;
}
