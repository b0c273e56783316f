/* usage_counter.c - running totals of the usage history that never go
 * down (contract and semantics: usage_counter.h). */
#include "usage_counter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "statefile.h"
#include "usage_store.h"

#define SCHEMA "meterd.usage-counters.v1"
#define SLOT 900.0

void usage_counters_init(usage_counters *uc)
{
    memset(uc, 0, sizeof *uc);
}

void usage_counters_release(usage_counters *uc)
{
    for (size_t i = 0; i < uc->n; i++)
        free(uc->rows[i].provider);
    free(uc->rows);
    usage_counters_init(uc);
}

static usage_counter_row *row_find(usage_counters *uc, const char *name,
                                   size_t *pos)
{
    size_t lo = 0, hi = uc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(uc->rows[mid].provider, name);
        if (c == 0)
            return &uc->rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return NULL;
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

/* Move one bucket's level to now; 1 when the total changed. */
static int move_level(usage_counter_row *r, int b, double now_level)
{
    double delta = now_level - r->seen[b];
    r->seen[b] = now_level;
    if (delta < 0) {
        r->deficit[b] -= delta;
        return 0;
    }
    if (delta <= r->deficit[b]) {
        r->deficit[b] -= delta;
        return 0;
    }
    r->total[b] += delta - r->deficit[b];
    r->deficit[b] = 0;
    return 1;
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
    }
    return t;
}

void usage_totals_free(usage_total *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        free(t[i].provider);
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

int usage_counters_save(usage_counters *uc, const char *state_dir,
                        double now, double min_interval, int force,
                        char **err)
{
    if (!uc->dirty || (!force && uc->saved_at > 0 && now - uc->saved_at < min_interval))
        return 0;
    json_t *rows = json_array();
    for (size_t i = 0; i < uc->n; i++) {
        const usage_counter_row *r = &uc->rows[i];
        json_array_append_new(rows, json_pack(
            "{s:s, s:f, s:I, s:o, s:o, s:o}", "name", r->provider,
            "from", isfinite(r->from) ? r->from : 0.0, "has", (json_int_t)r->has,
            "total", nums_to_json(r->total), "seen", nums_to_json(r->seen),
            "deficit", nums_to_json(r->deficit)));
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

static int nums_from_json(const json_t *a, double *out)
{
    if (!json_is_array(a) || json_array_size(a) != UB_N)
        return -1;
    for (int b = 0; b < UB_N; b++) {
        const json_t *v = json_array_get(a, (size_t)b);
        if (!json_is_number(v))
            return -1;
        out[b] = json_number_value(v);
        if (!isfinite(out[b]) || out[b] < 0)
            return -1;
    }
    return 0;
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
        if (nums_from_json(json_object_get(o, "total"), r.total) != 0 ||
            nums_from_json(json_object_get(o, "seen"), r.seen) != 0 ||
            nums_from_json(json_object_get(o, "deficit"), r.deficit) != 0)
            return "a bad number";
        usage_counter_row *nr = row_get(uc, json_string_value(name));
        r.provider = nr->provider;
        *nr = r;
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
