/* usage_report.c - the daily usage report: a store's cells grouped by
 * the local date of their slot, then by model and provider (report form:
 * usage_store.h).  cost_usd of a cell with cost parts (usage_parts: the
 * plugin priced its events one by one, as ccusage does) is the events'
 * own costs (old Claude Code logs wrote costUSD; ccusage prefers it) plus
 * the other events' tokens at the model's price with the long-context tier
 * per event (pricing_parts_cost).  Without parts it is the provider's own
 * figure where the cell carries one, else computed from the cell's tokens
 * and the model's price (pricing.h; one-hour cache writes at their own
 * price).  A model without a price, needed for some tokens, leaves it
 * unknown with a note. */
#include "usage_store_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "pricing.h"
#include "tz.h"

/* ---------------------------------------------------------------- */
/* daily report                                                      */
/* ---------------------------------------------------------------- */

int usage_parse_date(const char *text, long *days)
{
    unsigned y, m, d;
    int n = 0;
    if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-' ||
        sscanf(text, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10)
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    long back_y;
    unsigned back_m, back_d;
    *days = tz_days_from_civil((long)y, m, d);
    tz_civil_from_days(*days, &back_y, &back_m, &back_d);
    return back_m == m && back_d == d ? 0 : -1;   /* rejects 02-30 */
}

/* One cell of the report, with its local day.  model_rank and
 * prov_rank are the places of model and provider in name order (the
 * unknown model last), so that sorting a long report compares integers,
 * not names. */
typedef struct rentry {
    long day;
    uint32_t model_rank, prov_rank;
    const char *model;      /* borrowed from the store */
    const char *provider;   /* borrowed */
    const ucell *c;
} rentry;

int usage_model_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return !a - !b;     /* the unknown model sorts last */
    return strcmp(a, b);
}

#define model_cmp usage_model_cmp

/* Day, then model, then provider, each in name order. */
static int rentry_cmp(const void *pa, const void *pb)
{
    const rentry *a = pa, *b = pb;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    if (a->model_rank != b->model_rank)
        return a->model_rank < b->model_rank ? -1 : 1;
    return (a->prov_rank > b->prov_rank) - (a->prov_rank < b->prov_rank);
}

static int name_ptr_cmp(const void *pa, const void *pb)
{
    return model_cmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* The rank of every model of every provider among all their names:
 * rank[i][k] for model index k of provider i.  Free with ranks_free. */
static uint32_t **model_ranks(const usage_store *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n_p; i++)
        total += s->p[i].n_models;
    const char **names = xcalloc(total ? total : 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < s->n_p; i++)
        for (size_t k = 0; k < s->p[i].n_models; k++)
            names[n++] = s->p[i].models[k];
    qsort(names, n, sizeof *names, name_ptr_cmp);
    uint32_t **rank = xcalloc(s->n_p ? s->n_p : 1, sizeof *rank);
    for (size_t i = 0; i < s->n_p; i++) {
        rank[i] = xcalloc(s->p[i].n_models ? s->p[i].n_models : 1,
                          sizeof **rank);
        for (size_t k = 0; k < s->p[i].n_models; k++) {
            /* the first of equal names: one rank per name */
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(names[mid], s->p[i].models[k]) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            rank[i][k] = (uint32_t)lo;
        }
    }
    free(names);
    return rank;
}

static void ranks_free(uint32_t **rank, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rank[i]);
    free(rank);
}

typedef usage_acc acc;

/* The cost of one cell: the provider's figure when known, else tokens x
 * price (pricing_stored_cell_cost, which the /metrics cost per model
 * shares); *unpriced is set when the model has no price. */
static md_num cell_cost(const rentry *e, int *unpriced)
{
    return pricing_stored_cell_cost(e->model, e->c->b, e->c->events,
                                    &e->c->parts, unpriced);
}

/* Add a cell's buckets b (its cost computed) to a. */
static void acc_add_b(acc *a, const md_num *b, double events, int unpriced)
{
    if (!a->any)
        memcpy(a->b, b, sizeof a->b);
    else
        usage_buckets_add(a->b, b);
    a->events += events;
    a->any = 1;
    a->unpriced |= unpriced;
}

static void acc_add(acc *a, const rentry *e)
{
    md_num b[UB_N];
    int unpriced = 0;
    memcpy(b, e->c->b, sizeof b);
    b[UB_COST] = cell_cost(e, &unpriced);
    acc_add_b(a, b, e->c->events, unpriced);
}

static json_t *acc_json(const char *key, const char *name, const acc *a)
{
    json_t *o = json_object();
    if (key)
        json_object_set_new(o, key, name ? json_string(name) : json_null());
    for (int k = 0; k < UB_N; k++)
        json_object_set_new(o, usage_bucket_names[k],
                            usage_num_to_report(a->b[k]));
    json_object_set_new(o, "events", usage_num_to_report(MD_NUM(a->events)));
    if (a->unpriced && a->b[UB_COST].state != MD_KNOWN)
        json_object_set_new(o, "cost_note",
                            json_string(key && strcmp(key, "model") == 0
                                            ? "no price for this model"
                                            : "no price for some models"));
    return o;
}

static size_t collect(const usage_store *s, const char *provider,
                      const tz_zone *z, long from, long to, rentry **out)
{
    size_t n = 0, cap = 0;
    rentry *e = NULL;
    uint32_t **rank = model_ranks(s);
    for (size_t i = 0; i < s->n_p; i++) {
        const uprov *p = &s->p[i];
        if (provider && strcmp(p->name, provider) != 0)
            continue;
        for (size_t k = 0; k < p->n; k++) {
            const ucell *c = &p->cells[k];
            long day = (long)floor((c->slot + (double)tz_offset(z, c->slot)) /
                                   86400.0);
            if (day < from || day > to)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                e = xrealloc(e, cap * sizeof *e);
            }
            e[n++] = (rentry){
                .day = day,
                .model_rank = c->model == NO_MODEL ? UINT32_MAX
                                                   : rank[i][c->model],
                .prov_rank = (uint32_t)i,   /* s->p is in name order */
                .model = uprov_model_name(p, c->model),
                .provider = p->name,
                .c = c,
            };
        }
    }
    ranks_free(rank, s->n_p);
    *out = e;
    return n;
}

/* The providers of one day, in name order (few: a linear scan), into
 * g (room for n); returns how many. */
static size_t day_providers(const rentry *e, size_t n, usage_group *g)
{
    usage_group *tmp = xcalloc(n, sizeof *tmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && strcmp(tmp[j].provider, e[i].provider) != 0)
            j++;
        if (j == k)
            tmp[k++].provider = e[i].provider;
        acc_add(&tmp[j].acc, &e[i]);
    }
    for (size_t pass = 0; pass < k; pass++) {
        size_t best = k;
        for (size_t j = 0; j < k; j++)
            if (tmp[j].provider &&
                (best == k || strcmp(tmp[j].provider, tmp[best].provider) < 0))
                best = j;
        g[pass] = tmp[best];
        tmp[best].provider = NULL;
    }
    free(tmp);
    return k;
}

json_t *usage_report_day(long day, const usage_acc *total,
                         const usage_group *models, size_t n_models,
                         const usage_group *providers, size_t n_providers,
                         int with_providers, usage_daily_detail detail)
{
    char date[16];
    long y;
    unsigned m, d;
    tz_civil_from_days(day, &y, &m, &d);
    snprintf(date, sizeof date, "%04ld-%02u-%02u", y, m, d);
    json_t *o = acc_json("date", date, total);
    if (detail == USAGE_DAILY_TOTALS)
        return o;
    json_t *arr = json_array();
    for (size_t i = 0; i < n_models; i++)
        json_array_append_new(arr, acc_json("model", models[i].model,
                                            &models[i].acc));
    json_object_set_new(o, "models", arr);
    if (with_providers) {
        arr = json_array();
        for (size_t i = 0; i < n_providers; i++)
            json_array_append_new(arr, acc_json("provider",
                                                providers[i].provider,
                                                &providers[i].acc));
        json_object_set_new(o, "providers", arr);
    }
    return o;
}

static json_t *day_json(const rentry *e, size_t n, int with_providers,
                        usage_daily_detail detail)
{
    acc day = {0};
    if (detail == USAGE_DAILY_TOTALS) {
        for (size_t i = 0; i < n; i++)
            acc_add(&day, &e[i]);
        return usage_report_day(e[0].day, &day, NULL, 0, NULL, 0, 0, detail);
    }
    usage_group *models = xcalloc(n, sizeof *models);
    size_t n_models = 0;
    for (size_t i = 0; i < n;) {
        usage_group *g = &models[n_models++];
        g->model = e[i].model;
        size_t j = i;
        for (; j < n && model_cmp(e[j].model, e[i].model) == 0; j++) {
            acc_add(&g->acc, &e[j]);
            acc_add(&day, &e[j]);
        }
        i = j;
    }
    usage_group *provs = NULL;
    size_t n_provs = 0;
    if (with_providers) {
        provs = xcalloc(n, sizeof *provs);
        n_provs = day_providers(e, n, provs);
    }
    json_t *o = usage_report_day(e[0].day, &day, models, n_models, provs,
                                 n_provs, with_providers, detail);
    free(models);
    free(provs);
    return o;
}

/* The sums of one day (e sorted: model, then provider), each added in
 * the order day_json adds them. */
static int day_groups(const rentry *e, size_t n, usage_group_fn fn,
                      void *arg)
{
    usage_group day = {0}, *provs = xcalloc(n, sizeof *provs);
    size_t n_provs = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        usage_group model = {.model = e[i].model};
        size_t j = i;
        for (; j < n && model_cmp(e[j].model, e[i].model) == 0;) {
            usage_group pm = {.provider = e[j].provider, .model = e[j].model};
            size_t k = j;
            for (; k < n && model_cmp(e[k].model, e[i].model) == 0 &&
                   strcmp(e[k].provider, e[j].provider) == 0; k++) {
                md_num b[UB_N];
                int unpriced = 0;
                memcpy(b, e[k].c->b, sizeof b);
                b[UB_COST] = cell_cost(&e[k], &unpriced);
                acc_add_b(&pm.acc, b, e[k].c->events, unpriced);
                acc_add_b(&model.acc, b, e[k].c->events, unpriced);
                acc_add_b(&day.acc, b, e[k].c->events, unpriced);
                size_t x = 0;
                while (x < n_provs && strcmp(provs[x].provider,
                                             e[k].provider) != 0)
                    x++;
                if (x == n_provs)
                    provs[n_provs++].provider = e[k].provider;
                acc_add_b(&provs[x].acc, b, e[k].c->events, unpriced);
            }
            rc = fn(arg, e[i].day, UG_PROV_MODEL, &pm);
            j = k;
        }
        if (rc == 0)
            rc = fn(arg, e[i].day, UG_MODEL, &model);
        i = j;
    }
    for (size_t x = 0; x < n_provs && rc == 0; x++)
        rc = fn(arg, e[0].day, UG_PROV, &provs[x]);
    if (rc == 0)
        rc = fn(arg, e[0].day, UG_DAY, &day);
    free(provs);
    return rc;
}

int usage_report_groups(const usage_store *s, const tz_zone *z, long from,
                        long to, usage_group_fn fn, void *arg)
{
    rentry *e = NULL;
    size_t n = collect(s, NULL, z, from, to, &e);
    if (n)
        qsort(e, n, sizeof *e, rentry_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        while (j < n && e[j].day == e[i].day)
            j++;
        rc = day_groups(e + i, j - i, fn, arg);
        i = j;
    }
    free(e);
    return rc;
}

json_t *usage_report_doc(const char *provider, const char *tz,
                         const char *since, const char *until, json_t *days)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "provider",
                     provider ? json_string(provider) : json_null(), "tz",
                     tz ? json_string(tz) : json_null(), "since",
                     since ? json_string(since) : json_null(), "until",
                     until ? json_string(until) : json_null(), "days", days);
}

int usage_store_daily(const usage_store *s, const char *provider,
                      const char *since, const char *until, const char *tz,
                      json_t **out, char **err)
{
    *out = NULL;
    tz_zone *z = tz_load(tz ? tz : "UTC", err);
    if (!z)
        return -1;
    int rc = usage_store_daily_zone(s, provider, since, until, z,
                                    tz ? tz : "UTC", out, err);
    tz_free(z);
    return rc;
}

int usage_store_daily_zone(const usage_store *s, const char *provider,
                           const char *since, const char *until,
                           const tz_zone *z, const char *tz, json_t **out,
                           char **err)
{
    return usage_store_daily_detail(s, provider, since, until, z, tz,
                                    USAGE_DAILY_FULL, out, err);
}

int usage_store_daily_detail(const usage_store *s, const char *provider,
                             const char *since, const char *until,
                             const tz_zone *z, const char *tz,
                             usage_daily_detail detail, json_t **out,
                             char **err)
{
    long from = 0, to = tz_days_from_civil(9999, 12, 31);
    *out = NULL;
    if (since && usage_parse_date(since, &from) != 0)
        return err_set(err, "since: '%.32s' is not a date (YYYY-MM-DD)",
                       since);
    if (until && usage_parse_date(until, &to) != 0)
        return err_set(err, "until: '%.32s' is not a date (YYYY-MM-DD)",
                       until);
    if (from > to)
        return err_set(err, "since is after until");
    rentry *e = NULL;
    size_t n = collect(s, provider, z, from, to, &e);
    if (n)   /* e is NULL for an empty range: qsort wants a pointer */
        qsort(e, n, sizeof *e, rentry_cmp);
    json_t *days = json_array();
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && e[j].day == e[i].day)
            j++;
        json_array_append_new(days, day_json(e + i, j - i, provider == NULL,
                                             detail));
        i = j;
    }
    free(e);
    *out = usage_report_doc(provider, tz, since, until, days);
    return 0;
}

/* ---------------------------------------------------------------- */
/* cost report                                                       */
/* ---------------------------------------------------------------- */

/* One group of the cost report while it is summed. */
typedef struct cgroup {
    const char *name;       /* borrowed from the daily document; NULL:
                               the unknown model */
    double cost, tokens, events;
    int cost_known, tokens_known;
    const char *note;       /* why the cost is unknown (first seen) */
} cgroup;

static const char *cost_reason(const json_t *row)
{
    const char *note = json_string_value(json_object_get(row, "cost_note"));
    return note ? note : "not reported and not computable: a token bucket "
                         "is unknown";
}

static void cgroup_add(cgroup *g, const json_t *row)
{
    json_t *c = json_object_get(row, "cost_usd");
    json_t *t = json_object_get(row, "tokens_total");
    if (json_is_number(c))
        g->cost += json_number_value(c);
    else {
        g->cost_known = 0;
        if (!g->note)
            g->note = cost_reason(row);
    }
    if (json_is_number(t))
        g->tokens += json_number_value(t);
    else
        g->tokens_known = 0;
    g->events += json_number_value(json_object_get(row, "events"));
}

static json_t *cgroup_json(const char *key, const cgroup *g)
{
    json_t *o = json_object();
    if (key)
        json_object_set_new(o, key, g->name ? json_string(g->name)
                                            : json_null());
    json_object_set_new(o, "cost_usd", g->cost_known ? json_real(g->cost)
                                                     : json_null());
    json_object_set_new(o, "cost_note", g->cost_known ? json_null()
                                                      : json_string(g->note));
    json_object_set_new(o, "tokens_total",
                        usage_num_to_report(g->tokens_known
                                                ? MD_NUM(g->tokens)
                                                : (md_num){MD_UNKNOWN, 0}));
    json_object_set_new(o, "events", usage_num_to_report(MD_NUM(g->events)));
    return o;
}

static int name_cmp(const void *pa, const void *pb)
{
    const cgroup *a = pa, *b = pb;
    return model_cmp(a->name, b->name);
}

int usage_cost_report(const json_t *daily, const char *by, json_t **out,
                      char **err)
{
    *out = NULL;
    const char *sub = NULL, *key = NULL;
    if (!by || strcmp(by, "day") == 0)
        by = "day", key = "date";
    else if (strcmp(by, "model") == 0)
        sub = "models", key = "model";
    else if (strcmp(by, "provider") == 0)
        sub = "providers", key = "provider";
    else
        return err_set(err, "--by: '%.32s' is not day, model or provider", by);
    const char *only = json_string_value(json_object_get(daily, "provider"));
    json_t *days = json_object_get(daily, "days");
    size_t n = 0, i, j;
    json_t *day, *row;
    json_array_foreach(days, i, day)
        n += sub && !(only && strcmp(sub, "providers") == 0)
                 ? json_array_size(json_object_get(day, sub))
                 : 1;
    cgroup *g = xcalloc(n ? n : 1, sizeof *g);
    size_t k = 0;
    cgroup total = {.cost_known = 1, .tokens_known = 1};
    json_array_foreach(days, i, day) {
        cgroup_add(&total, day);
        if (!sub || (only && strcmp(sub, "providers") == 0)) {
            /* a day, or the one provider of a --provider report */
            g[k] = (cgroup){
                .name = sub ? only
                            : json_string_value(json_object_get(day, "date")),
                .cost_known = 1,
                .tokens_known = 1,
            };
            cgroup_add(&g[k++], day);
            continue;
        }
        json_array_foreach(json_object_get(day, sub), j, row) {
            const char *name = json_string_value(json_object_get(row, key));
            size_t x = 0;
            while (x < k && model_cmp(g[x].name, name) != 0)
                x++;
            if (x == k)
                g[k++] = (cgroup){.name = name, .cost_known = 1,
                                  .tokens_known = 1};
            cgroup_add(&g[x], row);
        }
    }
    if (sub)
        qsort(g, k, sizeof *g, name_cmp);   /* days come sorted */
    json_t *rows = json_array();
    for (size_t x = 0; x < k; x++)
        json_array_append_new(rows, cgroup_json(key, &g[x]));
    free(g);
    if (!total.cost_known)
        total.note = "unknown for some rows";
    *out = json_pack("{s:s, s:O, s:O, s:O, s:O, s:o, s:o}", "by", by,
                     "provider", json_object_get(daily, "provider"), "tz",
                     json_object_get(daily, "tz"), "since",
                     json_object_get(daily, "since"), "until",
                     json_object_get(daily, "until"), "rows", rows, "total",
                     cgroup_json(NULL, &total));
    return 0;
}
