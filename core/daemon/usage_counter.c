/* usage_counter.c - running totals of the usage history that never go
 * down (contract and semantics: usage_counter.h). */
#include "usage_counter.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pricing.h"
#include "statefile.h"
#include "usage_store.h"

#define SCHEMA "meterd.usage-counters.v1"
#define SLOT 900.0

void usage_counters_init(usage_counters *uc)
{
    memset(uc, 0, sizeof *uc);
}

static void row_release(usage_counter_row *r)
{
    free(r->provider);
    for (size_t k = 0; k < r->n_models; k++)
        free(r->models[k].model);
    free(r->models);
}

void usage_counters_release(usage_counters *uc)
{
    for (size_t i = 0; i < uc->n; i++)
        row_release(&uc->rows[i]);
    free(uc->rows);
    usage_counters_init(uc);
}

/* Binary search of name in n elements of size bytes at base, sorted by
 * the string pointer at offset name_at of each: the element, or NULL with
 * *pos (pos may be NULL) where it would go. */
static void *name_find(const void *base, size_t n, size_t size,
                       size_t name_at, const char *name, size_t *pos)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *el = (const char *)base + mid * size;
        const char *key;
        memcpy(&key, el + name_at, sizeof key);
        int c = strcmp(key, name);
        if (c == 0)
            return (void *)(uintptr_t)el;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

static usage_counter_row *row_find(usage_counters *uc, const char *name,
                                   size_t *pos)
{
    return name_find(uc->rows, uc->n, sizeof *uc->rows,
                     offsetof(usage_counter_row, provider), name, pos);
}

/* A new row counts the provider's cells from the beginning of time. */
static usage_counter_row *row_get(usage_counters *uc, const char *name)
{
    size_t pos = 0;
    usage_counter_row *r = row_find(uc, name, &pos);
    if (r)
        return r;
    uc->rows = xrealloc(uc->rows, (uc->n + 1) * sizeof *uc->rows);
    memmove(uc->rows + pos + 1, uc->rows + pos, (uc->n - pos) * sizeof *uc->rows);
    uc->n++;
    r = &uc->rows[pos];
    memset(r, 0, sizeof *r);
    r->provider = xstrdup(name);
    r->from = -INFINITY;
    return r;
}

/* Move a level to now_level: growth first fills the deficit, the rest
 * adds to the total; a drop deepens the deficit.  1 when the total
 * changed. */
static int advance(double *seen, double *deficit, double *total,
                   double now_level)
{
    double delta = now_level - *seen;
    *seen = now_level;
    if (delta < 0) {
        *deficit -= delta;
        return 0;
    }
    if (delta <= *deficit) {
        *deficit -= delta;
        return 0;
    }
    *total += delta - *deficit;
    *deficit = 0;
    return 1;
}

/* Move one bucket's level to now; 1 when the total changed. */
static int move_level(usage_counter_row *r, int b, double now_level)
{
    return advance(&r->seen[b], &r->deficit[b], &r->total[b], now_level);
}

static int move_cost(usage_level *l, double now_level)
{
    return advance(&l->seen, &l->deficit, &l->total, now_level);
}

/* ---- cost per model ---- */

static usage_model_row *model_find(const usage_counter_row *r,
                                   const char *name, size_t *pos)
{
    return name_find(r->models, r->n_models, sizeof *r->models,
                     offsetof(usage_model_row, model), name, pos);
}

static usage_model_row *model_add(usage_counter_row *r, const char *name,
                                  size_t pos)
{
    r->models = xrealloc(r->models, (r->n_models + 1) * sizeof *r->models);
    memmove(r->models + pos + 1, r->models + pos,
            (r->n_models - pos) * sizeof *r->models);
    r->n_models++;
    r->models[pos] = (usage_model_row){.model = xstrdup(name)};
    return &r->models[pos];
}

/* The cost of a range of one provider's cells, per model name (sorted,
 * names owned), with the model's price looked up once per range. */
typedef struct model_sum {
    char *model;
    int priced;         /* price holds the model's row */
    pricing_row price;
    int known;          /* some cell had a known cost */
    double cost;        /* the sum of the known costs */
} model_sum;

typedef struct model_sums {
    model_sum *v;
    size_t n;
} model_sums;

static void model_sums_release(model_sums *ms)
{
    for (size_t k = 0; k < ms->n; k++)
        free(ms->v[k].model);
    free(ms->v);
    ms->v = NULL;
    ms->n = 0;
}

/* The entry of name (NULL when absent; *pos: where it would go). */
static model_sum *model_sums_find(const model_sums *ms, const char *name,
                                  size_t *pos)
{
    return name_find(ms->v, ms->n, sizeof *ms->v, offsetof(model_sum, model),
                     name, pos);
}

static void sum_cell(void *arg, const char *model, const md_num *b,
                     double events, const usage_parts *parts)
{
    model_sums *ms = arg;
    const char *name = model ? model : USAGE_COUNTER_NO_MODEL;
    size_t pos = 0;
    model_sum *e = model_sums_find(ms, name, &pos);
    if (!e) {
        ms->v = xrealloc(ms->v, (ms->n + 1) * sizeof *ms->v);
        memmove(ms->v + pos + 1, ms->v + pos, (ms->n - pos) * sizeof *ms->v);
        ms->n++;
        e = &ms->v[pos];
        *e = (model_sum){.model = xstrdup(name), .known = 0, .cost = 0};
        e->priced = pricing_lookup(model, &e->price) >= 0;
    }
    int unpriced = 0;
    md_num c = pricing_stored_cell_cost_at(e->priced ? &e->price : NULL, b,
                                           events, parts, &unpriced);
    if (c.state != MD_KNOWN)
        return;
    /* A cell with no token to pay for costs 0 under any price: that is
     * no evidence the model is priced, and a model without a price must
     * not get a series that reads $0. */
    if (c.value == 0 && b[UB_COST].state != MD_KNOWN && !parts->known &&
        !e->priced)
        return;
    e->known = 1;
    e->cost += c.value;
}

/* Observe one provider's cost per model over [r->from, now]; then, when
 * from moves to new_from, take what falls behind out of seen.  Returns 1
 * when a total or the set of series changed. */
static int observe_models(usage_counter_row *r, const usage_store *s,
                          const char *name, double new_from)
{
    int changed = 0;
    model_sums cur = {.v = NULL, .n = 0};
    usage_store_each_parts(s, name, r->from, INFINITY, sum_cell, &cur);
    double other = 0;
    int other_any = 0;
    for (size_t k = 0; k < cur.n; k++) {
        size_t pos = 0;
        if (!cur.v[k].known || model_find(r, cur.v[k].model, &pos))
            continue;
        if (r->n_models < USAGE_COUNTER_MODELS_MAX) {
            model_add(r, cur.v[k].model, pos);
            changed = 1;
        } else {
            other += cur.v[k].cost;
            other_any = 1;
        }
    }
    for (size_t k = 0; k < r->n_models; k++) {
        const model_sum *m = model_sums_find(&cur, r->models[k].model, NULL);
        changed |= move_cost(&r->models[k].cost, m ? m->cost : 0);
    }
    changed |= move_cost(&r->other, other);
    if (other_any && !r->has_other) {
        r->has_other = 1;
        changed = 1;
    }
    model_sums_release(&cur);
    if (new_from > r->from) {
        model_sums behind = {.v = NULL, .n = 0};
        usage_store_each_parts(s, name, r->from, new_from, sum_cell, &behind);
        for (size_t k = 0; k < behind.n; k++) {
            if (!behind.v[k].known)
                continue;
            usage_model_row *m = model_find(r, behind.v[k].model, NULL);
            usage_level *l = m ? &m->cost : &r->other;
            l->seen -= behind.v[k].cost;
            if (l->seen < 0)
                l->seen = 0;
        }
        model_sums_release(&behind);
    }
    return changed;
}

int usage_counters_observe(usage_counters *uc, const usage_store *s,
                           double now, double window)
{
    double new_from = floor((now - window) / SLOT) * SLOT;
    int changed = 0;
    size_t np = usage_store_n_providers(s);
    for (size_t i = 0; i < np; i++) {
        usage_counter_row *r = row_get(uc, usage_store_provider_name(s, i));
        double cur[UB_N];
        unsigned known = 0;
        usage_store_sum_range(s, i, r->from, INFINITY, cur, &known);
        for (int b = 0; b < UB_N; b++)
            changed |= move_level(r, b, cur[b]);
        if ((r->has | known) != r->has) {
            r->has |= known;
            changed = 1;
        }
        changed |= observe_models(r, s, usage_store_provider_name(s, i),
                                  new_from);
        if (new_from > r->from) {
            /* What falls behind the window leaves seen (it stays in
             * total); later changes to it are not counted. */
            double behind[UB_N];
            unsigned k2 = 0;
            usage_store_sum_range(s, i, r->from, new_from, behind, &k2);
            for (int b = 0; b < UB_N; b++) {
                r->seen[b] -= behind[b];
                if (r->seen[b] < 0)
                    r->seen[b] = 0; /* rounding of non-integral costs */
            }
            r->from = new_from;
            uc->dirty = 1;
        }
    }
    if (changed)
        uc->dirty = 1;
    return changed;
}

usage_total *usage_counters_copy(const usage_counters *uc, size_t *n)
{
    *n = uc->n;
    if (!uc->n)
        return NULL;
    usage_total *t = xcalloc(uc->n, sizeof *t);
    for (size_t i = 0; i < uc->n; i++) {
        t[i].provider = xstrdup(uc->rows[i].provider);
        memcpy(t[i].total, uc->rows[i].total, sizeof t[i].total);
        t[i].has = uc->rows[i].has;
        const usage_counter_row *r = &uc->rows[i];
        size_t nm = r->n_models + (r->has_other ? 1 : 0);
        if (!nm)
            continue;
        t[i].models = xcalloc(nm, sizeof *t[i].models);
        for (size_t k = 0; k < r->n_models; k++)
            t[i].models[k] = (usage_model_total){
                .model = xstrdup(r->models[k].model),
                .cost = r->models[k].cost.total};
        if (r->has_other)
            t[i].models[r->n_models] = (usage_model_total){
                .model = xstrdup(USAGE_COUNTER_OTHER), .cost = r->other.total};
        t[i].n_models = nm;
    }
    return t;
}

void usage_totals_free(usage_total *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].provider);
        for (size_t k = 0; k < t[i].n_models; k++)
            free(t[i].models[k].model);
        free(t[i].models);
    }
    free(t);
}

/* ---- the file ---- */

static json_t *nums_to_json(const double *v)
{
    json_t *a = json_array();
    for (int b = 0; b < UB_N; b++)
        json_array_append_new(a, json_real(v[b]));
    return a;
}

/* An array of exactly n finite numbers >= 0 into out; 0 or -1. */
static int nums_from_json(const json_t *a, double *out, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n)
        return -1;
    for (size_t b = 0; b < n; b++) {
        const json_t *v = json_array_get(a, b);
        if (!json_is_number(v))
            return -1;
        out[b] = json_number_value(v);
        if (!isfinite(out[b]) || out[b] < 0)
            return -1;
    }
    return 0;
}

/* [seen, deficit, total] */
static json_t *level_to_json(const usage_level *l)
{
    return json_pack("[f, f, f]", l->seen, l->deficit, l->total);
}

static int level_from_json(const json_t *a, usage_level *l)
{
    double v[3];
    if (nums_from_json(a, v, 3) != 0)
        return -1;
    *l = (usage_level){.seen = v[0], .deficit = v[1], .total = v[2]};
    return 0;
}

/* The optional cost-per-model keys of a provider row into r: why not, or
 * NULL. */
static const char *models_from_json(usage_counter_row *r, const json_t *o)
{
    const json_t *models = json_object_get(o, "models");
    const json_t *other = json_object_get(o, "other");
    if (models && !json_is_array(models))
        return "a bad models array";
    if (models && json_array_size(models) > USAGE_COUNTER_MODELS_MAX)
        return "too many models";
    size_t k;
    const json_t *m;
    json_array_foreach(models, k, m) {
        const json_t *name = json_object_get(m, "name");
        usage_level l;
        if (!json_is_string(name) || !json_string_length(name))
            return "a model row without a name";
        size_t pos = 0;
        if (model_find(r, json_string_value(name), &pos))
            return "a model twice";
        if (level_from_json(json_object_get(m, "cost"), &l) != 0)
            return "a bad model cost";
        model_add(r, json_string_value(name), pos)->cost = l;
    }
    if (other) {
        if (level_from_json(other, &r->other) != 0)
            return "a bad other cost";
        r->has_other = 1;
    }
    return NULL;
}

int usage_counters_save(usage_counters *uc, const char *state_dir,
                        double now, double min_interval, int force,
                        char **err)
{
    if (!uc->dirty || (!force && uc->saved_at > 0 && now - uc->saved_at < min_interval))
        return 0;
    json_t *rows = json_array();
    for (size_t i = 0; i < uc->n; i++) {
        const usage_counter_row *r = &uc->rows[i];
        json_t *row = json_pack(
            "{s:s, s:f, s:I, s:o, s:o, s:o}", "name", r->provider,
            "from", isfinite(r->from) ? r->from : 0.0, "has", (json_int_t)r->has,
            "total", nums_to_json(r->total), "seen", nums_to_json(r->seen),
            "deficit", nums_to_json(r->deficit));
        /* Cost per model: optional keys, which a reader that predates
         * them ignores. */
        json_t *models = json_array();
        for (size_t k = 0; k < r->n_models; k++)
            json_array_append_new(models, json_pack(
                "{s:s, s:o}", "name", r->models[k].model,
                "cost", level_to_json(&r->models[k].cost)));
        json_object_set_new(row, "models", models);
        if (r->has_other)
            json_object_set_new(row, "other", level_to_json(&r->other));
        json_array_append_new(rows, row);
    }
    json_t *doc = json_pack("{s:s, s:o}", "schema", SCHEMA, "providers", rows);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int rc = statefile_write(state_dir, USAGE_COUNTERS_FILE, text, err);
    free(text);
    if (rc == 0) {
        uc->dirty = 0;
        uc->saved_at = now;
    }
    return rc;
}

/* Why doc is not a counters file, or NULL (rows added to uc). */
static const char *rows_from_json(usage_counters *uc, const json_t *doc)
{
    const json_t *schema = json_object_get(doc, "schema");
    if (!json_is_string(schema) || strcmp(json_string_value(schema), SCHEMA) != 0)
        return "unknown schema";
    const json_t *rows = json_object_get(doc, "providers");
    if (!json_is_array(rows))
        return "no providers array";
    size_t i;
    const json_t *o;
    json_array_foreach(rows, i, o) {
        const json_t *name = json_object_get(o, "name");
        const json_t *from = json_object_get(o, "from");
        const json_t *has = json_object_get(o, "has");
        if (!json_is_string(name) || !json_string_length(name))
            return "a row without a name";
        size_t pos = 0;
        if (row_find(uc, json_string_value(name), &pos))
            return "a provider twice";
        if (!json_is_number(from) || !isfinite(json_number_value(from)))
            return "a bad from";
        if (!json_is_integer(has) || json_integer_value(has) < 0 ||
            json_integer_value(has) >= (1 << UB_N))
            return "a bad has";
        usage_counter_row r = {.provider = NULL, .from = json_number_value(from),
                               .has = (unsigned)json_integer_value(has)};
        if (nums_from_json(json_object_get(o, "total"), r.total, UB_N) != 0 ||
            nums_from_json(json_object_get(o, "seen"), r.seen, UB_N) != 0 ||
            nums_from_json(json_object_get(o, "deficit"), r.deficit, UB_N) != 0)
            return "a bad number";
        usage_counter_row *nr = row_get(uc, json_string_value(name));
        r.provider = nr->provider;
        *nr = r;
        const char *why = models_from_json(nr, o);
        if (why)
            return why;
    }
    return NULL;
}

int usage_counters_load(usage_counters *uc, const char *state_dir, char **err)
{
    usage_counters_release(uc);
    json_t *doc = NULL;
    int rc = statefile_read(state_dir, USAGE_COUNTERS_FILE, &doc, err);
    if (rc != 0)
        return rc;
    const char *why = rows_from_json(uc, doc);
    json_decref(doc);
    if (!why)
        return 0;
    usage_counters_release(uc);
    *err = statefile_move_aside(state_dir, USAGE_COUNTERS_FILE, why);
    return -1;
}
