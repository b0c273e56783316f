/* state_views.c - building the view set the HTTP threads read and
 * publishing it (see the invariants in daemon.h).  build_views and
 * state_publish run on the owner thread; view_set_* run on any thread. */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "packages.h"
#include "quotas.h"
#include "timeutil.h"
#include "usage_counter.h"

/* An immutable, reference-counted copy of one provider's data, shared by
 * every view set published until the data changes. */
struct shared_result {
    atomic_uint refs;
    collect_result r;
};

static struct shared_result *shared_new(const collect_result *r)
{
    struct shared_result *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    collect_result_copy(&s->r, r);
    return s;
}

static struct shared_result *shared_ref(struct shared_result *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void shared_result_release(struct shared_result *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    collect_result_clear(&s->r);
    free(s);
}

static const char *keep(view_set *vs, const char *s)
{
    if (!s)
        return NULL;
    return vs->strs[vs->n_strs++] = xstrdup(s);
}

#define STRS_PER_PROVIDER 4
#define STRS_GLOBAL 5
/* Declared packages are recounted at least this often while the owner
 * publishes, so their windows slide with time (packages.h). */
#define PACKAGES_REFRESH_S 60.0

/* The declared packages as views of their own (after the providers):
 * each one meter of its family, measured now over the usage store. */
static void package_views(daemon_t *d, view_set *vs, size_t first)
{
    for (size_t k = 0; k < d->cfg->n_packages; k++) {
        const package *pk = &d->cfg->packages[k];
        size_t i = first + k;
        collect_result r;
        collect_result_init(&r);
        r.metrics = xcalloc(1, sizeof *r.metrics);
        package_measure(pk, d->usage, vs->built_at, &r.metrics[0]);
        r.n_metrics = 1;
        r.started_at = r.finished_at = vs->built_at;
        vs->data[i] = shared_new(&r);
        collect_result_release(&r);
        provider_view *pv = &vs->v[i];
        pv->name = keep(vs, pk->name);
        pv->plugin = keep(vs, "declared");
        pv->family = keep(vs, pk->family);
        pv->status = PSTAT_OK;
        pv->data = &vs->data[i]->r;
        pv->collected_at = vs->built_at;
        pv->served = SERVED_LIVE;
    }
}

static view_set *build_views(daemon_t *d)
{
    view_set *vs = xcalloc(1, sizeof *vs);
    atomic_init(&vs->refs, 1);
    size_t n = d->n_ps, all = n + d->cfg->n_packages;
    vs->version = d->version;
    vs->n = all;
    vs->v = xcalloc(all ? all : 1, sizeof *vs->v);
    vs->data = xcalloc(all ? all : 1, sizeof *vs->data);
    vs->due_mono_ms = xcalloc(all ? all : 1, sizeof *vs->due_mono_ms);
    vs->strs = xcalloc(STRS_PER_PROVIDER * all + STRS_GLOBAL + d->cfg->n_secrets,
                       sizeof *vs->strs);
    vs->built_at = time_now();
    vs->built_mono_ms = mono_ms();
    for (size_t i = 0; i < n; i++) {
        pstate *p = &d->ps[i];
        provider_view *pv = &vs->v[i];
        pv->name = keep(vs, p->name);
        pv->plugin = keep(vs, p->conf ? p->conf->plugin : NULL);
        pv->family = keep(vs, p->family);
        pv->err_msg = keep(vs, p->err_msg);
        pv->status = p->status;
        pv->err = p->err;
        if (p->has_data) {
            if (!p->pub)
                p->pub = shared_new(&p->data);
            vs->data[i] = shared_ref(p->pub);
            pv->data = &vs->data[i]->r;
        }
        pv->collected_at = p->has_data ? p->data.finished_at : 0;
        pv->served = p->has_data ? p->served : SERVED_NONE;
        pv->stale = p->has_data && p->status == PSTAT_ERROR;
        pv->last_attempt_at = p->last_attempt_at;
        if (p->conf && p->conf->enabled) {
            long long due = p->sched.force ? vs->built_mono_ms
                                           : p->sched.next_due_ms;
            if (due < p->sched.not_before_ms)
                due = p->sched.not_before_ms;
            vs->due_mono_ms[i] = p->sched.run ? vs->built_mono_ms : due;
            vs->n_enabled++;
        }
        pv->running = p->sched.run != NULL;
        pv->runs = p->runs;
        pv->failures = p->failures;
        pv->skips = p->skips;
        pv->consecutive_failures = p->consecutive_failures;
        pv->stats = p->stats;
        vs->n_running += pv->running;
        vs->n_ok += p->status == PSTAT_OK;
    }
    vs->config_path = keep(vs, d->cfg->path);
    vs->state_dir = keep(vs, d->cfg->state_dir);
    vs->last_reload_error = keep(vs, d->last_reload_error);
    vs->ingest_token = keep(vs, d->cfg->ingest_token);
    vs->secrets = (const char *const *)vs->strs + vs->n_strs;
    vs->n_secrets = d->cfg->n_secrets;
    for (size_t i = 0; i < d->cfg->n_secrets; i++)
        keep(vs, d->cfg->secrets[i]);
    vs->started_at = d->started_at;
    vs->reloads = d->reloads;
    vs->reload_failures = d->reload_failures;
    vs->endpoint_timeout_ms = d->cfg->endpoint_timeout_ms;
    vs->snapshot_error = keep(vs, d->snapshot_error);
    vs->snapshot_failing_since = d->snapshot_failing_since;
    vs->usage = d->usage;
    if (d->counters)
        vs->usage_totals = usage_counters_copy(d->counters, &vs->n_usage_totals);
    package_views(d, vs, n);
    quotas_provider *qp = xcalloc(n ? n : 1, sizeof *qp);
    for (size_t i = 0; i < n; i++)
        qp[i] = (quotas_provider){.provider = d->ps[i].name,
                                  .family = d->ps[i].family,
                                  .m = d->ps[i].has_data ? d->ps[i].data.metrics
                                                         : NULL,
                                  .n = d->ps[i].has_data ? d->ps[i].data.n_metrics
                                                         : 0};
    vs->quotas = quotas_build(d->quotas, qp, n, vs->built_at);
    free(qp);
    return vs;
}

/* Bring the running usage totals up to date (owner thread). */
static void observe_usage(daemon_t *d)
{
    if (d->once || !d->usage)
        return;
    if (!d->counters) {
        d->counters = xcalloc(1, sizeof *d->counters);
        usage_counters_init(d->counters);
        char *err = NULL;
        if (usage_counters_load(d->counters, d->cfg->state_dir, &err) < 0) {
            log_msg(MD_LOG_WARN, NULL, "%s; usage totals start again from "
                    "the usage history", err ? err : "corrupt usage totals");
            free(err);
        }
    }
    /* The window stays well inside the retention, so pruning never
     * reaches the cells it sums. */
    double window = 2 * 86400.0;
    double half_retention = (double)d->cfg->usage_retention_ms / 2000.0;
    if (half_retention > 0 && half_retention < window)
        window = half_retention;
    usage_counters_observe(d->counters, d->usage, time_now(), window);
}

void state_publish(daemon_t *d)
{
    if (d->views && d->published == d->version &&
        !(d->cfg->n_packages &&
          time_now() - d->views->built_at >= PACKAGES_REFRESH_S))
        return;
    observe_usage(d);
    view_set *vs = build_views(d);
    pthread_mutex_lock(&d->lock);
    view_set *old = d->views;
    d->views = vs;
    pthread_mutex_unlock(&d->lock);
    d->published = vs->version;
    view_set_release(old);
}

view_set *view_set_acquire(daemon_t *d)
{
    pthread_mutex_lock(&d->lock);
    view_set *vs = d->views;
    atomic_fetch_add_explicit(&vs->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&d->lock);
    return vs;
}

void view_set_release(view_set *vs)
{
    if (!vs || atomic_fetch_sub_explicit(&vs->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < vs->n; i++)
        shared_result_release(vs->data[i]);
    for (size_t i = 0; i < vs->n_strs; i++)
        free(vs->strs[i]);
    free(vs->strs);
    quota_set_release(vs->quotas);
    free(vs->data);
    free(vs->due_mono_ms);
    free(vs->v);
    usage_totals_free(vs->usage_totals, vs->n_usage_totals);
    free(vs);
}

provider_view *view_set_views_at(const view_set *vs, double now)
{
    provider_view *v = xcalloc(vs->n ? vs->n : 1, sizeof *v);
    memcpy(v, vs->v, vs->n * sizeof *v);
    long long mnow = mono_ms();
    for (size_t i = 0; i < vs->n; i++) {
        if (!vs->due_mono_ms[i])
            continue;   /* disabled: not scheduled */
        v[i].next_attempt_at = now + (double)(vs->due_mono_ms[i] - mnow) / 1000.0;
        if (v[i].next_attempt_at < now)
            v[i].next_attempt_at = now;
    }
    return v;
}

const provider_view *view_set_find(const view_set *vs, const char *name)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0)
            return &vs->v[i];
    return NULL;
}

