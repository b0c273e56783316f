/* rank.c - coalesce provider instances into families and pick each
 * family's governing meter (the rules are in rank.h).
 *
 * Everything here is a pure function of the views and `now`; it is called
 * from HTTP threads concurrently, so there is no static state (hence no
 * qsort with a global `now`: the governing meter is found by a linear
 * scan with rank_compare). */
#include "rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Rank tiers, lower governs first. */
enum { TIER_EXHAUSTED = 0, TIER_UTILIZATION, TIER_REMAINING, TIER_OTHER };

static int known(md_num v) { return v.state == MD_KNOWN; }

/* Exhausted: nothing left (remaining 0, utilization at or over 100 % -
 * over quota, 100.4 % say, is exhausted, not unknown - or use at or past
 * a known limit, an allowance of 0 included: nothing can be left of it,
 * even when remaining and utilization are not applicable). */
static int is_exhausted(const metric *m)
{
    if (known(m->remaining) && m->remaining.value <= 0)
        return 1;
    if (known(m->utilization) && m->utilization.value >= 100)
        return 1;
    return known(m->used) && known(m->limit) &&
           (m->limit.value <= 0 || m->used.value >= m->limit.value);
}

static int tier(const metric *m)
{
    if (is_exhausted(m))
        return TIER_EXHAUSTED;
    if (known(m->utilization))
        return TIER_UTILIZATION;
    if (known(m->remaining))
        return TIER_REMAINING;
    return TIER_OTHER;
}

static int cmp_double(double a, double b) { return (a > b) - (a < b); }

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* Shorter time to reset first; an unknown reset last. */
static int cmp_reset(const metric *a, const metric *b, double now)
{
    int ka = a->resets_at.state == MD_KNOWN, kb = b->resets_at.state == MD_KNOWN;
    if (ka != kb)
        return ka ? -1 : 1;
    if (!ka)
        return 0;
    return cmp_double(a->resets_at.epoch - now, b->resets_at.epoch - now);
}

/* Estimates, local-log snapshots (logs cannot see other devices, and a
 * snapshot can predate a reset) and declared packages (counted by meterd
 * from what it saw, packages.h) never outrank what a provider reports. */
static int log_derived(const metric *m)
{
    return m->confidence == MD_ESTIMATED ||
           (m->source && (strcmp(m->source, "local_log") == 0 ||
                          strcmp(m->source, "declared") == 0));
}

int rank_compare(const metric *a, const metric *b, double now)
{
    int ta = tier(a), tb = tier(b), c;
    int la = log_derived(a), lb = log_derived(b);
    if (la != lb)
        return la ? 1 : -1;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    if (ta == TIER_UTILIZATION &&
        (c = cmp_double(b->utilization.value, a->utilization.value)) != 0)
        return c;                               /* highest first */
    if (ta == TIER_REMAINING &&
        (c = cmp_double(a->remaining.value, b->remaining.value)) != 0)
        return c;                               /* lowest first */
    if (a->confidence != b->confidence)
        return a->confidence == MD_EXACT ? -1 : 1;
    if ((c = cmp_reset(a, b, now)) != 0)
        return c;
    if ((c = cmp_str(a->provider, b->provider)) != 0)
        return c;
    return cmp_str(a->id, b->id);
}

static const char *tier_reason(int t)
{
    switch (t) {
    case TIER_EXHAUSTED: return "exhausted";
    case TIER_UTILIZATION: return "highest_utilization";
    default: return "lowest_remaining";
    }
}

/* ------------------------------------------------------------------ */
/* Grouping                                                            */
/* ------------------------------------------------------------------ */

static const char *family_of(const provider_view *v)
{
    return v->family ? v->family : v->name;
}

static int cmp_view_ptr(const void *pa, const void *pb)
{
    const provider_view *a = *(const provider_view *const *)pa;
    const provider_view *b = *(const provider_view *const *)pb;
    int c = cmp_str(family_of(a), family_of(b));
    return c ? c : cmp_str(a->name, b->name);
}

/* A member whose metrics take part: it has (possibly stale) data and the
 * operator has not disabled it. */
static int contributes(const provider_view *v)
{
    return v->data && v->status != PSTAT_DISABLED;
}

/* ------------------------------------------------------------------ */
/* One family                                                          */
/* ------------------------------------------------------------------ */

static void family_status(family_summary *fs)
{
    size_t considered = 0, n_ok = 0;
    for (size_t i = 0; i < fs->n_members; i++) {
        if (fs->members[i]->status == PSTAT_DISABLED)
            continue;
        considered++;
        n_ok += fs->members[i]->status == PSTAT_OK;
    }
    if (considered > 0 && n_ok == considered)
        fs->status = "ok";
    else if (n_ok > 0)
        fs->status = "degraded";
    else
        fs->status = "unavailable";
}

/* A walk over the metrics of a family's contributing members, member by
 * member in order: start from (metric_walk){0}. */
typedef struct metric_walk {
    size_t member, metric;
} metric_walk;

/* The next metric (borrowed from the view set) and its member, or NULL
 * when the walk is over. */
static const metric *next_metric(const family_summary *fs, metric_walk *w,
                                 const provider_view **member)
{
    for (; w->member < fs->n_members; w->member++, w->metric = 0) {
        const provider_view *v = fs->members[w->member];
        if (contributes(v) && w->metric < v->data->n_metrics) {
            *member = v;
            return &v->data->metrics[w->metric++];
        }
    }
    return NULL;
}

static void pick_governing(family_summary *fs, double now)
{
    const provider_view *v;
    const metric *m;
    for (metric_walk w = {0}; (m = next_metric(fs, &w, &v)) != NULL;)
        if (metric_is_quota_bearing(m) &&
            (!fs->governing || rank_compare(m, fs->governing, now) < 0)) {
            fs->governing = m;
            fs->governing_member = v;
        }
    if (fs->governing) {
        int t = tier(fs->governing);
        fs->governing_reason = tier_reason(t);
        fs->exhausted = t == TIER_EXHAUSTED;
    }
}

/* Latest reset among all exhausted meters; unknown as soon as one of them
 * has no known reset (we never promise an earlier time than the truth). */
static void available_again(family_summary *fs)
{
    fs->available_again_at = (md_time){MD_UNKNOWN, 0};
    if (!fs->exhausted)
        return;
    double latest = 0;
    const provider_view *v;
    const metric *m;
    for (metric_walk w = {0}; (m = next_metric(fs, &w, &v)) != NULL;) {
        if (!metric_is_quota_bearing(m) || !is_exhausted(m))
            continue;
        if (m->resets_at.state != MD_KNOWN)
            return;
        if (m->resets_at.epoch > latest)
            latest = m->resets_at.epoch;
    }
    fs->available_again_at = MD_TIME(latest);
}

static int is_quota_kind(const char *kind)
{
    static const char *const kinds[] = {"quota_window", "credits", "budget",
                                        "rate_limit"};
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

/* Every field that could bound usage is declared not applicable. */
static int quota_fields_na(const metric *m)
{
    return m->limit.state == MD_NOT_APPLICABLE &&
           m->remaining.state == MD_NOT_APPLICABLE &&
           m->utilization.state == MD_NOT_APPLICABLE;
}

/* Why there is no usage_remaining when data exists. */
static const char *reason_with_data(const family_summary *fs)
{
    size_t total = 0, na = 0, quota_unknown = 0;
    const provider_view *v;
    const metric *m;
    for (metric_walk w = {0}; (m = next_metric(fs, &w, &v)) != NULL;) {
        total++;
        if (quota_fields_na(m))
            na++;
        else if (is_quota_kind(m->kind))
            quota_unknown++;
    }
    if (total > 0 && na == total)
        return "not_applicable";
    return quota_unknown ? "not_reported" : "no_quota_metric";
}

static const char *reason_without_data(const family_summary *fs)
{
    size_t failed = 0, waiting = 0;
    for (size_t i = 0; i < fs->n_members; i++) {
        provider_status s = fs->members[i]->status;
        failed += s == PSTAT_ERROR;
        waiting += s == PSTAT_PENDING || s == PSTAT_OK;
    }
    if (failed)
        return "collection_failed";
    /* Only disabled members: there is nothing to measure. */
    return waiting ? "pending" : "not_applicable";
}

static int has_data(const family_summary *fs)
{
    for (size_t i = 0; i < fs->n_members; i++)
        if (contributes(fs->members[i]))
            return 1;
    return 0;
}

static void usage_remaining(family_summary *fs)
{
    const metric *g = fs->governing;
    fs->usage_remaining = (md_num){MD_UNKNOWN, 0};
    if (g && known(g->remaining)) {
        fs->usage_remaining = g->remaining;
        fs->usage_remaining_unit = g->unit;
    } else if (g && known(g->utilization)) {
        double left = 100.0 - g->utilization.value;
        fs->usage_remaining = MD_NUM(left > 0 ? left : 0);
        fs->usage_remaining_unit = "percent";
    } else if (g) {
        fs->usage_remaining_reason = "not_reported";  /* allowance 0 only */
    } else {
        fs->usage_remaining_reason =
            has_data(fs) ? reason_with_data(fs) : reason_without_data(fs);
    }
}

static const metric *find_used_with_unit(const family_summary *fs,
                                         const char *unit)
{
    const provider_view *v;
    const metric *m;
    for (metric_walk w = {0}; (m = next_metric(fs, &w, &v)) != NULL;)
        if (known(m->used) && m->unit && strcmp(m->unit, unit) == 0)
            return m;
    return NULL;
}

static void actual_usage(family_summary *fs)
{
    static const char *const units[] = {"tasks", "requests", "tokens"};
    const metric *m = NULL;
    for (size_t u = 0; !m && u < sizeof units / sizeof units[0]; u++)
        m = find_used_with_unit(fs, units[u]);
    if (!m && fs->governing && known(fs->governing->used))
        m = fs->governing;
    fs->actual_current_usage = m ? m->used : (md_num){MD_UNKNOWN, 0};
    fs->actual_current_usage_unit = m ? m->unit : NULL;
}

static void summarise(family_summary *fs, double now)
{
    family_status(fs);
    pick_governing(fs, now);
    available_again(fs);
    usage_remaining(fs);
    actual_usage(fs);
}

size_t rank_families(const provider_view *v, size_t n, double now,
                     family_summary **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    const provider_view **sorted = xmalloc(n * sizeof *sorted);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &v[i];
    qsort(sorted, n, sizeof *sorted, cmp_view_ptr);

    family_summary *fs = xcalloc(n, sizeof *fs);   /* at most n families */
    size_t nf = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && cmp_str(family_of(sorted[j]), family_of(sorted[i])) == 0)
            j++;
        family_summary *f = &fs[nf++];
        f->family = xstrdup(family_of(sorted[i]));
        f->n_members = j - i;
        f->members = xmalloc(f->n_members * sizeof *f->members);
        memcpy(f->members, sorted + i, f->n_members * sizeof *f->members);
        summarise(f, now);
        i = j;
    }
    free(sorted);
    *out = fs;
    return nf;
}

void family_summaries_free(family_summary *fs, size_t n)
{
    if (!fs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(fs[i].family);
        free(fs[i].members);
    }
    free(fs);
}
