/* packages.c - declared packages measured over the usage store
 * (packages.h). */
#include "packages.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alias.h"
#include "conventions.h"
#include "log.h"
#include "pricing.h"
#include "statefile.h"
#include "usage_store.h"

#define DAY_S 86400.0
#define PACKAGES_FILE "packages.json"

const char *const package_kind_names[PKG_N_KINDS] = {
    "rolling_window", "daily", "monthly", "credits"};
const char *const package_unit_names[PKG_N_UNITS] = {
    "messages", "requests", "tokens", "usd"};

void package_release(package *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->family);
    for (size_t i = 0; i < p->n_count; i++)
        free(p->count[i]);
    free(p->count);
    free(p->count_at);
    for (size_t i = 0; i < p->n_weights; i++)
        free(p->weights[i].glob);
    free(p->weights);
    free(p->reset_tz);
    tz_free(p->zone);
    memset(p, 0, sizeof *p);
}

void packages_free(package *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        package_release(&p[i]);
    free(p);
}

/* The epoch of local date days (since 1970-01-01) at reset_min, in the
 * package's zone (the offset taken at that instant's neighbourhood). */
static double local_instant(const package *p, long days)
{
    double guess = (double)days * DAY_S + p->reset_min * 60.0;
    double t = guess - (double)tz_offset(p->zone, guess);
    return guess - (double)tz_offset(p->zone, t);
}

double package_period_start(const package *p, double now)
{
    switch (p->kind) {
    case PKG_ROLLING:
        return now - p->window_s;
    case PKG_CREDITS:
        return p->since < 0 ? now : p->since;
    default:
        break;
    }
    double local = now + (double)tz_offset(p->zone, now) - p->reset_min * 60.0;
    long days = (long)floor(local / DAY_S);
    if (p->kind == PKG_MONTHLY) {
        long y;
        unsigned m, d;
        tz_civil_from_days(days, &y, &m, &d);
        days = tz_days_from_civil(y, m, 1);
    }
    double start = local_instant(p, days);
    return start > now ? local_instant(p, days - 1) : start;
}

static double period_end(const package *p, double start)
{
    long days = (long)floor((start + (double)tz_offset(p->zone, start)) / DAY_S +
                            0.5 / DAY_S);
    if (p->kind == PKG_DAILY)
        return local_instant(p, days + 1);
    long y;
    unsigned m, d;
    tz_civil_from_days(days, &y, &m, &d);
    return local_instant(p, m == 12 ? tz_days_from_civil(y + 1, 1, 1)
                                    : tz_days_from_civil(y, m + 1, 1));
}

typedef struct tally {
    const package *p;
    double sum;
    int unknown;
} tally;

static double weight_of(const package *p, const char *model)
{
    for (size_t i = 0; i < p->n_weights; i++)
        if (fnmatch(p->weights[i].glob, model ? model : "", 0) == 0)
            return p->weights[i].weight;
    return 1;
}

static md_num cell_cost(const char *model, const md_num *b, double events)
{
    if (b[UB_COST].state == MD_KNOWN)
        return b[UB_COST];
    pricing_row pr;
    if (pricing_lookup(model, &pr) < 0)
        return (md_num){MD_UNKNOWN, 0};
    return pricing_cell_cost_1h(&pr, b[UB_INPUT_UNCACHED], b[UB_CACHE_WRITE],
                                b[UB_CACHE_WRITE_1H], b[UB_CACHE_READ],
                                b[UB_OUTPUT], events);
}

static void add_cell(void *arg, double slot, const char *model,
                     const md_num *b, double events)
{
    (void)slot;
    tally *t = arg;
    md_num v;
    switch (t->p->unit) {
    case PKG_TOKENS: v = b[UB_TOTAL]; break;
    case PKG_USD: v = cell_cost(model, b, events); break;
    default: v = MD_NUM(events); break;
    }
    if (v.state == MD_NOT_APPLICABLE)
        return;
    if (v.state != MD_KNOWN) {
        t->unknown = 1;
        return;
    }
    t->sum += v.value * weight_of(t->p, model);
}

void package_measure(const package *p, const usage_store *s, double now,
                     metric *out)
{
    memset(out, 0, sizeof *out);
    double from = package_period_start(p, now), to = now + 1;
    if (p->kind == PKG_ROLLING) /* whole cells: see packages.h */
        from = floor(from / MD_USAGE_SLOT_SECONDS) * MD_USAGE_SLOT_SECONDS;
    if (p->kind == PKG_CREDITS && p->expires_at >= 0 && p->expires_at < to)
        to = p->expires_at;
    tally t = {.p = p};
    for (size_t i = 0; i < p->n_count; i++)
        usage_store_each(s, p->count[i], from, to, add_cell, &t);
    out->provider = xstrdup(p->name);
    out->id = xstrdup(p->name);
    out->label = xasprintf("%s (declared)", p->name);
    out->kind = xstrdup(p->kind == PKG_CREDITS ? "credits" : "quota_window");
    out->unit = xstrdup(package_unit_names[p->unit]);
    out->source = xstrdup("declared");
    out->confidence = MD_ESTIMATED;
    out->collected_at = MD_TIME(now);
    out->limit = MD_NUM(p->limit);
    out->used = t.unknown ? (md_num){MD_UNKNOWN, 0} : MD_NUM(t.sum);
    if (p->kind == PKG_CREDITS && p->expires_at >= 0) {
        out->resets_at = MD_TIME(p->expires_at);
        if (now >= p->expires_at)
            out->remaining = MD_NUM(0);   /* expired: nothing left */
    } else if (p->kind == PKG_DAILY || p->kind == PKG_MONTHLY) {
        out->resets_at = MD_TIME(period_end(p, from));
        out->window_seconds = MD_NUM(out->resets_at.epoch - from);
    } else if (p->kind == PKG_ROLLING) {
        out->window_seconds = MD_NUM(p->window_s);
    }
    metric_derive(out);
}

int packages_first_seen(package *p, size_t n, const char *state_dir,
                        double now, char **err)
{
    json_t *doc = NULL;
    int rc = statefile_read(state_dir, PACKAGES_FILE, &doc, err);
    if (rc < 0)
        doc = NULL;
    json_t *seen = json_is_object(json_object_get(doc, "first_seen"))
                       ? json_incref(json_object_get(doc, "first_seen"))
                       : json_object();
    json_decref(doc);
    int changed = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].kind != PKG_CREDITS || p[i].since >= 0)
            continue;
        json_t *v = json_object_get(seen, p[i].name);
        if (json_is_number(v))
            p[i].since = json_number_value(v);
        else {
            p[i].since = now;
            json_object_set_new(seen, p[i].name, json_real(now));
            changed = 1;
        }
    }
    if (changed && rc >= 0) {
        json_t *out = json_pack("{s:o}", "first_seen", seen);
        char *text = json_dumps(out, JSON_SORT_KEYS);
        rc = statefile_write(state_dir, PACKAGES_FILE, text, err);
        free(text);
        json_decref(out);
        return rc;
    }
    json_decref(seen);
    return rc < 0 ? -1 : 0;
}

/* ---- meterd -t ---- */

typedef struct model_seen {
    const char *glob;
    int any, matched;
} model_seen;

static void match_cell(void *arg, double slot, const char *model,
                       const md_num *b, double events)
{
    (void)slot, (void)b, (void)events;
    model_seen *m = arg;
    m->any = 1;
    if (fnmatch(m->glob, model ? model : "", 0) == 0)
        m->matched = 1;
}

static void lint_add(char ***out, size_t *n, const package *p,
                     package_at at, char *text)
{
    *out = xrealloc(*out, (*n + 1) * sizeof **out);
    (*out)[(*n)++] = xasprintf("%s:%d:%d: packages: %s: %s",
                               p->file ? p->file : "?", at.line, at.col,
                               p->name, text);
    free(text);
}

static int is_provider(const char *name, const char *const *providers,
                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(providers[i], name) == 0)
            return 1;
    return 0;
}

size_t packages_lint(const package *p, size_t n,
                     const char *const *providers, size_t n_providers,
                     const struct alias_map *aliases,
                     const struct usage_store *us, char ***out)
{
    *out = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const package *pk = &p[i];
        for (size_t c = 0; c < pk->n_count; c++)
            if (!is_provider(pk->count[c], providers, n_providers))
                lint_add(out, &k, pk, pk->count_at[c],
                         xasprintf("count: '%s' is not a configured provider "
                                   "(nothing of it is counted)",
                                   pk->count[c]));
        if (pk->family) {
            int known = alias_is_family(aliases, pk->family);
            for (size_t j = 0; j < n_providers && !known; j++)
                known = strcmp(alias_family(aliases, providers[j]),
                               pk->family) == 0;
            if (!known)
                lint_add(out, &k, pk, pk->family_at,
                         xasprintf("family: '%s' is no family of the alias "
                                   "map and no provider's (the package gets "
                                   "a row of its own)", pk->family));
        }
        for (size_t w = 0; w < pk->n_weights; w++) {
            model_seen m = {.glob = pk->weights[w].glob};
            for (size_t c = 0; us && c < pk->n_count && !m.matched; c++)
                usage_store_each(us, pk->count[c], 0, INFINITY, match_cell,
                                 &m);
            if (m.matched)
                continue;
            if (m.any)
                lint_add(out, &k, pk, pk->weights[w].at,
                         xasprintf("weights: '%s' matches no model of the "
                                   "recorded usage of its counted providers",
                                   m.glob));
            else if (!pricing_glob_matches_builtin(m.glob))
                lint_add(out, &k, pk, pk->weights[w].at,
                         xasprintf("weights: '%s' matches no known model "
                                   "(no usage of its counted providers is "
                                   "recorded yet to judge by)", m.glob));
        }
    }
    return k;
}
