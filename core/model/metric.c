/* metric.c - the core's metric record: validation of what plugins emit,
 * derivation of implied values, JSON form, and collection results.
 *
 * The one rule everything here serves: unknown is not zero.  A field is
 * only ever KNOWN when a provider reported it (or it follows arithmetically
 * from two reported fields); anything doubtful becomes MD_UNKNOWN. */
#include "metric.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redact.h"
#include "timeutil.h"

#define ID_MAX 64
#define MAX_EPOCH 253402300799.0 /* 9999-12-31T23:59:59Z */

/* ------------------------------------------------------------------ */
/* Field table: lets validation, JSON and the not_applicable list walk  */
/* the numeric fields uniformly instead of repeating code per field.    */
/* ------------------------------------------------------------------ */

typedef struct num_field {
    const char *name;
    size_t off;
} num_field;

static const num_field NUM_FIELDS[] = {
    {"used", offsetof(metric, used)},
    {"limit", offsetof(metric, limit)},
    {"remaining", offsetof(metric, remaining)},
    {"utilization", offsetof(metric, utilization)},
    {"window_seconds", offsetof(metric, window_seconds)},
};
#define N_NUM_FIELDS (sizeof NUM_FIELDS / sizeof NUM_FIELDS[0])

typedef struct time_field {
    const char *name;
    size_t off;
} time_field;

static const time_field TIME_FIELDS[] = {
    {"resets_at", offsetof(metric, resets_at)},
    {"collected_at", offsetof(metric, collected_at)},
};
#define N_TIME_FIELDS (sizeof TIME_FIELDS / sizeof TIME_FIELDS[0])

static md_num *num_at(metric *m, size_t off)
{
    return (md_num *)(void *)((char *)m + off);
}

static const md_num *cnum_at(const metric *m, size_t off)
{
    return (const md_num *)(const void *)((const char *)m + off);
}

static md_time *time_at(metric *m, size_t off)
{
    return (md_time *)(void *)((char *)m + off);
}

static const md_time *ctime_at(const metric *m, size_t off)
{
    return (const md_time *)(const void *)((const char *)m + off);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

static int id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > ID_MAX)
        return 0;
    for (const char *p = id; *p; p++) {
        char c = *p;
        int okc = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!okc)
            return 0;
    }
    return 1;
}

static void add_rejection(char ***rej, size_t *n, char *msg)
{
    if (!rej || !n) {
        free(msg);
        return;
    }
    *rej = xrealloc(*rej, (*n + 1) * sizeof **rej);
    (*rej)[(*n)++] = msg;
}

/* Check one number in place.  Returns NULL when acceptable, else a static
 * reason; the caller then stores MD_UNKNOWN.  allow_over_100 lets a derived
 * utilization (used beyond the limit) through on reload. */
static const char *num_problem(const md_num *v, int is_util,
                               int allow_over_100)
{
    if (v->state != MD_UNKNOWN && v->state != MD_KNOWN &&
        v->state != MD_NOT_APPLICABLE)
        return "invalid state";
    if (v->state != MD_KNOWN)
        return NULL;
    if (!isfinite(v->value))
        return "not a finite number";
    if (v->value < 0)
        return "negative";
    if (is_util && v->value > 100 && !allow_over_100)
        return "outside 0..100";
    return NULL;
}

static const char *time_problem(const md_time *t)
{
    if (t->state != MD_UNKNOWN && t->state != MD_KNOWN &&
        t->state != MD_NOT_APPLICABLE)
        return "invalid state";
    if (t->state != MD_KNOWN)
        return NULL;
    if (!isfinite(t->epoch))
        return "not a finite time";
    if (t->epoch < 0)
        return "before 1970";
    if (t->epoch > MAX_EPOCH)
        return "after year 9999";   /* not representable in RFC 3339 */
    return NULL;
}

/* Validate every numeric and time field of m, resetting bad ones to
 * unknown.  Returns the number of rejected fields. */
static int validate_fields(metric *m, int util_over_100_ok, char ***rej,
                           size_t *n_rej)
{
    int bad = 0;
    for (size_t i = 0; i < N_NUM_FIELDS; i++) {
        md_num *v = num_at(m, NUM_FIELDS[i].off);
        int is_util = NUM_FIELDS[i].off == offsetof(metric, utilization);
        const char *why = num_problem(v, is_util, util_over_100_ok);
        if (!why)
            continue;
        if (v->state == MD_KNOWN)
            add_rejection(rej, n_rej,
                          xasprintf("metric %s: %s %g rejected (%s)", m->id,
                                    NUM_FIELDS[i].name, v->value, why));
        else
            add_rejection(rej, n_rej,
                          xasprintf("metric %s: %s rejected (%s)", m->id,
                                    NUM_FIELDS[i].name, why));
        *v = (md_num){MD_UNKNOWN, 0.0};
        bad++;
    }
    for (size_t i = 0; i < N_TIME_FIELDS; i++) {
        md_time *t = time_at(m, TIME_FIELDS[i].off);
        const char *why = time_problem(t);
        if (!why)
            continue;
        add_rejection(rej, n_rej,
                      xasprintf("metric %s: %s rejected (%s)", m->id,
                                TIME_FIELDS[i].name, why));
        *t = (md_time){MD_UNKNOWN, 0.0};
        bad++;
    }
    return bad;
}

int metric_from_sdk(metric *out, const md_metric *m, size_t size,
                    const char *provider, const char *default_source,
                    double now, char ***rejections, size_t *n_rejections)
{
    /* A plugin built against an older, shorter md_metric: fields past its
     * size stay zero, i.e. unknown. */
    md_metric in;
    memset(&in, 0, sizeof in);
    if (!m)
        return -1;
    memcpy(&in, m, size < sizeof in ? size : sizeof in);

    /* Nothing is stored (and nothing appended to *rejections) for a
     * metric without identity: the caller reports the drop. */
    if (!in.kind || !*in.kind || !id_valid(in.id))
        return -1;

    memset(out, 0, sizeof *out);
    out->provider = xstrdup(provider);
    out->id = xstrdup(in.id);
    out->label = xstrdup(in.label ? in.label : in.id);
    out->kind = xstrdup(in.kind);
    out->unit = xstrdup(in.unit);
    out->source = xstrdup(in.source ? in.source : default_source);
    out->used = in.used;
    out->limit = in.limit;
    out->remaining = in.remaining;
    out->utilization = in.utilization;
    out->window_seconds = in.window_seconds;
    out->resets_at = in.resets_at;
    out->collected_at = in.collected_at;

    int bad = validate_fields(out, 0, rejections, n_rejections);
    if (in.confidence != MD_EXACT && in.confidence != MD_ESTIMATED) {
        /* An unknown confidence cannot claim exactness. */
        add_rejection(rejections, n_rejections,
                      xasprintf("metric %s: confidence %d rejected "
                                "(treated as estimated)",
                                out->id, (int)in.confidence));
        out->confidence = MD_ESTIMATED;
        bad++;
    } else {
        out->confidence = in.confidence;
    }
    if (out->collected_at.state != MD_KNOWN)
        out->collected_at = MD_TIME(now);
    metric_derive(out);
    return bad;
}

void metric_derive(metric *m)
{
    if (m->used.state != MD_KNOWN || m->limit.state != MD_KNOWN ||
        !(m->limit.value > 0))
        return;
    double used = m->used.value, limit = m->limit.value;
    if (m->remaining.state == MD_UNKNOWN) {
        m->remaining = MD_NUM(used > limit ? 0.0 : limit - used);
        m->derived |= METRIC_DERIVED_REMAINING;
    }
    if (m->utilization.state == MD_UNKNOWN) {
        /* Not clamped: 120 % says more than 100 %; ranking treats >= 100
         * as exhausted anyway. */
        m->utilization = MD_NUM(100.0 * used / limit);
        m->derived |= METRIC_DERIVED_UTILIZATION;
    }
}

void metric_copy(metric *dst, const metric *src)
{
    *dst = *src;
    dst->provider = xstrdup(src->provider);
    dst->id = xstrdup(src->id);
    dst->label = xstrdup(src->label);
    dst->kind = xstrdup(src->kind);
    dst->unit = xstrdup(src->unit);
    dst->source = xstrdup(src->source);
}

void metric_free(metric *m)
{
    if (!m)
        return;
    free(m->provider);
    free(m->id);
    free(m->label);
    free(m->kind);
    free(m->unit);
    free(m->source);
    memset(m, 0, sizeof *m);
}

int metric_is_quota_bearing(const metric *m)
{
    return m->remaining.state == MD_KNOWN ||
           m->utilization.state == MD_KNOWN ||
           (m->used.state == MD_KNOWN && m->limit.state == MD_KNOWN);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

json_t *num_to_json(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value) ? json_real(v.value)
                                                    : json_null();
}

json_t *time_to_json(md_time t)
{
    if (t.state != MD_KNOWN || !isfinite(t.epoch))
        return json_null();
    char buf[48];
    rfc3339_format(t.epoch, buf, sizeof buf);
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *metric_to_json(const metric *m)
{
    json_t *o = json_object();
    json_t *na = json_array(), *derived = json_array();
    json_object_set_new(o, "provider", str_or_null(m->provider));
    json_object_set_new(o, "id", str_or_null(m->id));
    json_object_set_new(o, "label", str_or_null(m->label));
    json_object_set_new(o, "kind", str_or_null(m->kind));
    json_object_set_new(o, "unit", str_or_null(m->unit));
    for (size_t i = 0; i < N_NUM_FIELDS; i++) {
        const md_num *v = cnum_at(m, NUM_FIELDS[i].off);
        json_object_set_new(o, NUM_FIELDS[i].name, num_to_json(*v));
        if (v->state == MD_NOT_APPLICABLE)
            json_array_append_new(na, json_string(NUM_FIELDS[i].name));
    }
    json_object_set_new(o, "resets_at", time_to_json(m->resets_at));
    json_object_set_new(o, "confidence",
                        json_string(m->confidence == MD_ESTIMATED
                                        ? "estimated"
                                        : "exact"));
    json_object_set_new(o, "source", str_or_null(m->source));
    json_object_set_new(o, "collected_at", time_to_json(m->collected_at));
    for (size_t i = 0; i < N_TIME_FIELDS; i++)
        if (ctime_at(m, TIME_FIELDS[i].off)->state == MD_NOT_APPLICABLE)
            json_array_append_new(na, json_string(TIME_FIELDS[i].name));
    if (m->derived & METRIC_DERIVED_REMAINING)
        json_array_append_new(derived, json_string("remaining"));
    if (m->derived & METRIC_DERIVED_UTILIZATION)
        json_array_append_new(derived, json_string("utilization"));
    json_object_set_new(o, "derived", derived);
    json_object_set_new(o, "not_applicable", na);
    return o;
}

/* Whether the JSON array arr (may be NULL) holds the string name. */
static int list_has(const json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    if (!json_is_array(arr))
        return 0;
    json_array_foreach(arr, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), name) == 0)
            return 1;
    return 0;
}

/* Optional string member: absent/null -> *out NULL; string -> copy;
 * anything else -> -1. */
static int get_opt_str(const json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_num(const json_t *obj, const char *key, const json_t *na,
                   md_num *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = list_has(na, key) ? MD_NUM_NA : (md_num){MD_UNKNOWN, 0.0};
        return 0;
    }
    if (!json_is_number(v))
        return -1;
    *out = MD_NUM(json_number_value(v));
    return 0;
}

/* Timestamp member: RFC 3339 text, or (leniently) epoch seconds. */
static int json_to_time(const json_t *v, md_time *out)
{
    double t;
    if (json_is_number(v)) {
        *out = MD_TIME(json_number_value(v));
        return 0;
    }
    if (!json_is_string(v) || rfc3339_parse(json_string_value(v), &t) != 0)
        return -1;
    *out = MD_TIME(t);
    return 0;
}

static int get_time(const json_t *obj, const char *key, const json_t *na,
                    md_time *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = list_has(na, key) ? MD_TIME_NA : (md_time){MD_UNKNOWN, 0.0};
        return 0;
    }
    return json_to_time(v, out);
}

static int set_err(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

/* Strings of a metric object; returns the name of the bad key or NULL. */
static const char *metric_strings_from_json(const json_t *obj, metric *out)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"provider", offsetof(metric, provider)},
        {"id", offsetof(metric, id)},
        {"label", offsetof(metric, label)},
        {"kind", offsetof(metric, kind)},
        {"unit", offsetof(metric, unit)},
        {"source", offsetof(metric, source)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char **slot = (char **)(void *)((char *)out + keys[i].off);
        if (get_opt_str(obj, keys[i].key, slot) != 0)
            return keys[i].key;
    }
    return NULL;
}

static const char *metric_values_from_json(const json_t *obj, metric *out)
{
    const json_t *na = json_object_get(obj, "not_applicable");
    const json_t *derived = json_object_get(obj, "derived");
    if ((na && !json_is_array(na)) || (derived && !json_is_array(derived)))
        return na && !json_is_array(na) ? "not_applicable" : "derived";
    for (size_t i = 0; i < N_NUM_FIELDS; i++)
        if (get_num(obj, NUM_FIELDS[i].name, na,
                    num_at(out, NUM_FIELDS[i].off)) != 0)
            return NUM_FIELDS[i].name;
    for (size_t i = 0; i < N_TIME_FIELDS; i++)
        if (get_time(obj, TIME_FIELDS[i].name, na,
                     time_at(out, TIME_FIELDS[i].off)) != 0)
            return TIME_FIELDS[i].name;
    if (list_has(derived, "remaining"))
        out->derived |= METRIC_DERIVED_REMAINING;
    if (list_has(derived, "utilization"))
        out->derived |= METRIC_DERIVED_UTILIZATION;
    json_t *c = json_object_get(obj, "confidence");
    if (!c || json_is_null(c) ||
        (json_is_string(c) && strcmp(json_string_value(c), "exact") == 0))
        out->confidence = MD_EXACT;
    else if (json_is_string(c) &&
             strcmp(json_string_value(c), "estimated") == 0)
        out->confidence = MD_ESTIMATED;
    else
        return "confidence";
    return NULL;
}

int metric_from_json(const json_t *obj, metric *out, char **err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return set_err(err, xstrdup("metric is not an object"));
    const char *bad = metric_strings_from_json(obj, out);
    if (!bad)
        bad = metric_values_from_json(obj, out);
    if (bad) {
        char *msg = xasprintf("metric %s: bad \"%s\"",
                              out->id ? out->id : "(no id)", bad);
        metric_free(out);
        return set_err(err, msg);
    }
    if (!id_valid(out->id) || !out->kind || !*out->kind) {
        char *msg = xstrdup(!id_valid(out->id) ? "metric: missing or invalid id"
                                               : "metric: missing kind");
        metric_free(out);
        return set_err(err, msg);
    }
    if (!out->label)
        out->label = xstrdup(out->id);
    /* Same rules as for plugins; a derived utilization may legitimately
     * exceed 100 (used beyond the limit). */
    validate_fields(out, (out->derived & METRIC_DERIVED_UTILIZATION) != 0,
                    NULL, NULL);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Usage cells                                                          */
/* ------------------------------------------------------------------ */

#define USAGE_SLOT 900.0
#define USAGE_MODEL_MAX 128

const char *const usage_bucket_names[UB_N] = {
    "tokens_input_uncached", "tokens_cache_read", "tokens_cache_write",
    "tokens_output", "tokens_reasoning", "tokens_total", "cost_usd",
};

static const char *slot_problem(double slot)
{
    if (!isfinite(slot) || slot < 0 || slot > MAX_EPOCH)
        return "slot_start is not a time between 1970 and 9999";
    if (fmod(slot, USAGE_SLOT) != 0)
        return "slot_start is not a multiple of 900 seconds";
    return NULL;
}

static const char *model_problem(const char *model)
{
    if (!model)
        return NULL;
    size_t n = strlen(model);
    if (n == 0 || n > USAGE_MODEL_MAX)
        return "model is empty or longer than 128 bytes";
    for (const char *p = model; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return "model has a byte that is not printable ASCII";
    return NULL;
}

/* The buckets and events of a cell, shared by both cell forms. */
static const char *numbers_problem(const md_num *b, double events)
{
    for (int i = 0; i < UB_N; i++)
        if (num_problem(&b[i], 0, 0))
            return "a bucket is not a finite, non-negative number";
    if (!isfinite(events) || events < 0)
        return "events is not a finite, non-negative number";
    return NULL;
}

static void sdk_buckets(const md_usage_cell *c, md_num *b)
{
    b[UB_INPUT_UNCACHED] = c->tokens_input_uncached;
    b[UB_CACHE_READ] = c->tokens_cache_read;
    b[UB_CACHE_WRITE] = c->tokens_cache_write;
    b[UB_OUTPUT] = c->tokens_output;
    b[UB_REASONING] = c->tokens_reasoning;
    b[UB_TOTAL] = c->tokens_total;
    b[UB_COST] = c->cost_usd;
}

const char *usage_cell_problem(const md_usage_cell *c)
{
    md_num b[UB_N];
    const char *why = slot_problem(c->slot_start);
    if (!why)
        why = model_problem(c->model);
    if (!why) {
        sdk_buckets(c, b);
        why = numbers_problem(b, c->events);
    }
    return why;
}

void usage_cell_from_sdk(usage_cell_rec *out, const md_usage_cell *c)
{
    memset(out, 0, sizeof *out);
    out->slot_start = c->slot_start;
    out->model = xstrdup(c->model);
    sdk_buckets(c, out->b);
    for (int i = 0; i < UB_N; i++)
        if (out->b[i].state != MD_KNOWN)
            out->b[i].value = 0;   /* canonical: value only when known */
    out->events = c->events;
}

const char *usage_cell_rec_problem(const usage_cell_rec *c)
{
    const char *why = slot_problem(c->slot_start);
    if (!why)
        why = model_problem(c->model);
    return why ? why : numbers_problem(c->b, c->events);
}

void usage_cells_free(usage_cell_rec *cells, size_t n)
{
    for (size_t i = 0; cells && i < n; i++)
        free(cells[i].model);
    free(cells);
}

static json_t *number_json(double v)
{
    /* Token counts are integers; print them without a ".0". */
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

json_t *usage_num_to_json(md_num v)
{
    if (v.state == MD_NOT_APPLICABLE)
        return json_string("na");
    return v.state == MD_KNOWN && isfinite(v.value) ? number_json(v.value)
                                                    : json_null();
}

json_t *usage_num_to_report(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value) ? number_json(v.value)
                                                    : json_null();
}

int usage_num_from_json(const json_t *j, md_num *out)
{
    if (json_is_null(j)) {
        *out = (md_num){MD_UNKNOWN, 0.0};
        return 0;
    }
    if (json_is_string(j) && strcmp(json_string_value(j), "na") == 0) {
        *out = MD_NUM_NA;
        return 0;
    }
    if (!json_is_number(j))
        return -1;
    double v = json_number_value(j);
    if (!isfinite(v) || v < 0)
        return -1;
    *out = MD_NUM(v);
    return 0;
}

static json_t *usage_to_wire(const collect_result *r)
{
    json_t *cells = json_array();
    for (size_t i = 0; i < r->n_usage; i++) {
        const usage_cell_rec *c = &r->usage[i];
        json_t *a = json_array();
        json_array_append_new(a, number_json(c->slot_start));
        json_array_append_new(a, str_or_null(c->model));
        for (int k = 0; k < UB_N; k++)
            json_array_append_new(a, usage_num_to_json(c->b[k]));
        json_array_append_new(a, number_json(c->events));
        json_array_append_new(cells, a);
    }
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", r->usage_generation);
    return json_pack("{s:o, s:s, s:o}", "since", number_json(r->usage_since),
                     "generation", gen, "cells", cells);
}

/* One [slot, model, 7 buckets, events] array into *out (model owned). */
static const char *cell_from_wire(const json_t *a, usage_cell_rec *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_array(a) || json_array_size(a) != 3 + UB_N)
        return "a cell is not an array of 10 values";
    json_t *slot = json_array_get(a, 0), *model = json_array_get(a, 1);
    json_t *ev = json_array_get(a, 2 + UB_N);
    if (!json_is_number(slot) || !json_is_number(ev) ||
        (!json_is_null(model) && !json_is_string(model)))
        return "a cell has a value of the wrong type";
    out->slot_start = json_number_value(slot);
    out->events = json_number_value(ev);
    for (int k = 0; k < UB_N; k++)
        if (usage_num_from_json(json_array_get(a, 2 + (size_t)k),
                                &out->b[k]) != 0)
            return "a cell bucket is not a number, null or \"na\"";
    const char *why = model_problem(json_string_value(model));
    if (why)
        return why;
    out->model = xstrdup(json_string_value(model));
    return usage_cell_rec_problem(out);
}

int usage_generation_from_json(const json_t *j, unsigned long long *out)
{
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *out = (unsigned long long)json_integer_value(j);
        return 0;
    }
    const char *s = json_string_value(j);
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
        return -1;
    errno = 0;
    char *end;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int cr_usage_from_json(const json_t *u, collect_result *out, char **err)
{
    if (!u || json_is_null(u))
        return 0;
    json_t *since = json_object_get(u, "since");
    json_t *cells = json_object_get(u, "cells");
    if (!json_is_object(u) || !json_is_number(since) ||
        !isfinite(json_number_value(since)) || json_number_value(since) < 0 ||
        !json_is_array(cells) ||
        usage_generation_from_json(json_object_get(u, "generation"),
                                   &out->usage_generation) != 0)
        return set_err(err, xstrdup("collect result: bad \"usage\""));
    out->has_usage = 1;
    out->usage_since = json_number_value(since);
    size_t n = json_array_size(cells);
    out->usage = n ? xcalloc(n, sizeof *out->usage) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *why = cell_from_wire(json_array_get(cells, i),
                                         &out->usage[i]);
        out->n_usage++;   /* even a bad one: its model is freed with it */
        if (why)
            return set_err(err, xasprintf("usage.cells[%zu]: %s", i, why));
        if (out->usage[i].slot_start < out->usage_since)
            return set_err(err, xasprintf("usage.cells[%zu]: slot_start "
                                          "before since", i));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Collection results                                                  */
/* ------------------------------------------------------------------ */

void collect_result_init(collect_result *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
}

void collect_result_free(collect_result *r)
{
    if (!r)
        return;
    free(r->err_msg);
    for (size_t i = 0; i < r->n_metrics; i++)
        metric_free(&r->metrics[i]);
    free(r->metrics);
    for (size_t i = 0; i < r->n_notes; i++)
        free(r->notes[i]);
    free(r->notes);
    free(r->raw_json);
    usage_cells_free(r->usage, r->n_usage);
    collect_result_init(r);
}

void collect_result_copy(collect_result *dst, const collect_result *src)
{
    *dst = *src;
    dst->err_msg = xstrdup(src->err_msg);
    dst->raw_json = xstrdup(src->raw_json);
    dst->metrics = src->n_metrics
                       ? xcalloc(src->n_metrics, sizeof *dst->metrics)
                       : NULL;
    for (size_t i = 0; i < src->n_metrics; i++)
        metric_copy(&dst->metrics[i], &src->metrics[i]);
    dst->notes = src->n_notes ? xcalloc(src->n_notes, sizeof *dst->notes)
                              : NULL;
    for (size_t i = 0; i < src->n_notes; i++)
        dst->notes[i] = xstrdup(src->notes[i]);
    dst->usage = src->n_usage ? xcalloc(src->n_usage, sizeof *dst->usage)
                              : NULL;
    for (size_t i = 0; i < src->n_usage; i++) {
        dst->usage[i] = src->usage[i];
        dst->usage[i].model = xstrdup(src->usage[i].model);
    }
}

static json_t *epoch_to_json(double t)
{
    return t > 0 ? time_to_json(MD_TIME(t)) : json_null();
}

/* The raw payload as a JSON value: parsed when it is JSON, else kept as a
 * string so nothing the provider said is lost. */
static json_t *raw_to_json(const char *raw)
{
    if (!raw)
        return json_null();
    json_t *v = json_loads(raw, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(raw);
}

json_t *collect_result_to_json(const collect_result *r)
{
    json_t *o = json_object();
    if (r->err == MD_ERR_NONE) {
        json_object_set_new(o, "error", json_null());
    } else {
        json_t *e = json_object();
        json_object_set_new(e, "class", json_string(md_error_name(r->err)));
        json_object_set_new(e, "message", str_or_null(r->err_msg));
        json_object_set_new(o, "error", e);
    }
    json_object_set_new(o, "retry_after",
                        r->retry_after >= 0 && isfinite(r->retry_after)
                            ? json_real(r->retry_after)
                            : json_null());
    json_t *ms = json_array(), *ns = json_array();
    for (size_t i = 0; i < r->n_metrics; i++)
        json_array_append_new(ms, metric_to_json(&r->metrics[i]));
    for (size_t i = 0; i < r->n_notes; i++)
        json_array_append_new(ns, str_or_null(r->notes[i]));
    json_object_set_new(o, "metrics", ms);
    json_object_set_new(o, "notes", ns);
    json_object_set_new(o, "raw", raw_to_json(r->raw_json));
    json_object_set_new(o, "started_at", epoch_to_json(r->started_at));
    json_object_set_new(o, "finished_at", epoch_to_json(r->finished_at));
    if (r->has_usage)
        json_object_set_new(o, "usage", usage_to_wire(r));
    return o;
}

static int cr_error_from_json(const json_t *e, collect_result *out)
{
    if (!e || json_is_null(e))
        return 0;
    json_t *cls = json_object_get(e, "class");
    json_t *msg = json_object_get(e, "message");
    if (!json_is_object(e) || !json_is_string(cls) ||
        (msg && !json_is_null(msg) && !json_is_string(msg)))
        return -1;
    out->err = md_error_from_name(json_string_value(cls));
    out->err_msg = msg && json_is_string(msg)
                       ? xstrdup(json_string_value(msg))
                       : NULL;
    return 0;
}

static int cr_metrics_from_json(const json_t *arr, collect_result *out,
                                char **err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return set_err(err, xstrdup("\"metrics\" is not an array"));
    size_t n = json_array_size(arr);
    out->metrics = n ? xcalloc(n, sizeof *out->metrics) : NULL;
    for (size_t i = 0; i < n; i++) {
        char *why = NULL;
        if (metric_from_json(json_array_get(arr, i), &out->metrics[i],
                             &why) != 0) {
            char *msg = xasprintf("metrics[%zu]: %s", i, why);
            free(why);
            return set_err(err, msg);
        }
        out->n_metrics++;
    }
    return 0;
}

static int cr_notes_from_json(const json_t *arr, collect_result *out)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return -1;
    size_t n = json_array_size(arr);
    out->notes = n ? xcalloc(n, sizeof *out->notes) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return -1;
        out->notes[out->n_notes++] = xstrdup(json_string_value(s));
    }
    return 0;
}

/* Epoch member: null/absent -> 0, RFC 3339 or number -> seconds. */
static int get_epoch(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    md_time t;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_to_time(v, &t) != 0 || !isfinite(t.epoch) || t.epoch < 0)
        return -1;
    *out = t.epoch;
    return 0;
}

static const char *cr_scalars_from_json(const json_t *obj,
                                        collect_result *out)
{
    if (cr_error_from_json(json_object_get(obj, "error"), out) != 0)
        return "bad \"error\"";
    json_t *ra = json_object_get(obj, "retry_after");
    if (ra && !json_is_null(ra)) {
        if (!json_is_number(ra) || !isfinite(json_number_value(ra)) ||
            json_number_value(ra) < 0)
            return "bad \"retry_after\"";
        out->retry_after = json_number_value(ra);
    }
    if (cr_notes_from_json(json_object_get(obj, "notes"), out) != 0)
        return "bad \"notes\"";
    json_t *raw = json_object_get(obj, "raw");
    if (raw && !json_is_null(raw))
        /* Dumping any value (a string too) reproduces the same JSON on
         * the next collect_result_to_json. */
        out->raw_json = json_dumps(raw, JSON_COMPACT | JSON_ENCODE_ANY);
    if (get_epoch(obj, "started_at", &out->started_at) != 0)
        return "bad \"started_at\"";
    if (get_epoch(obj, "finished_at", &out->finished_at) != 0)
        return "bad \"finished_at\"";
    return NULL;
}

int collect_result_from_json(const json_t *obj, collect_result *out,
                             char **err)
{
    collect_result_init(out);
    if (!json_is_object(obj))
        return set_err(err, xstrdup("collect result is not an object"));
    const char *bad = cr_scalars_from_json(obj, out);
    if (bad) {
        collect_result_free(out);
        return set_err(err, xasprintf("collect result: %s", bad));
    }
    if (cr_metrics_from_json(json_object_get(obj, "metrics"), out, err) !=
            0 ||
        cr_usage_from_json(json_object_get(obj, "usage"), out, err) != 0) {
        collect_result_free(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Error names                                                         */
/* ------------------------------------------------------------------ */

static const char *const ERROR_NAMES[] = {
    [MD_ERR_NONE] = NULL,
    [MD_ERR_TIMEOUT] = "timeout",
    [MD_ERR_CRASHED] = "crashed",
    [MD_ERR_AUTH] = "auth",
    [MD_ERR_RATE_LIMITED] = "rate_limited",
    [MD_ERR_HTTP] = "http",
    [MD_ERR_BAD_DATA] = "bad_data",
    [MD_ERR_CONFIG] = "config",
    [MD_ERR_ABI] = "abi",
    [MD_ERR_NETWORK] = "network",
    [MD_ERR_INTERNAL] = "internal",
};
#define N_ERROR_NAMES (sizeof ERROR_NAMES / sizeof ERROR_NAMES[0])

const char *md_error_name(md_error e)
{
    if ((unsigned)e >= N_ERROR_NAMES)
        return "internal";   /* an out-of-range class is still an error */
    return ERROR_NAMES[e];
}

md_error md_error_from_name(const char *name)
{
    for (size_t i = 1; name && i < N_ERROR_NAMES; i++)
        if (strcmp(ERROR_NAMES[i], name) == 0)
            return (md_error)i;
    return MD_ERR_INTERNAL;
}

/* ------------------------------------------------------------------ */
/* Redaction of a whole result                                          */
/* ------------------------------------------------------------------ */

/* Replace *field with its masked copy when a secret occurs in it. */
static void mask_field(char **field, const char *const *secrets, size_t n)
{
    if (!*field)
        return;
    char *m = mask_secrets(*field, secrets, n);
    free(*field);
    *field = m;
}

void redact_result(struct collect_result *r, const char *const *secrets,
                   size_t n)
{
    mask_field(&r->err_msg, secrets, n);
    for (size_t i = 0; i < r->n_notes; i++)
        mask_field(&r->notes[i], secrets, n);
    for (size_t i = 0; i < r->n_metrics; i++) {
        mask_field(&r->metrics[i].label, secrets, n);
        mask_field(&r->metrics[i].unit, secrets, n);
        mask_field(&r->metrics[i].source, secrets, n);
    }
    if (!r->raw_json)
        return;
    json_t *raw = json_loads(r->raw_json, JSON_DECODE_ANY, NULL);
    if (!raw) {
        mask_field(&r->raw_json, secrets, n);
        return;
    }
    redact_json(raw, secrets, n);
    char *text = json_dumps(raw, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(raw);
    if (text) {
        free(r->raw_json);
        r->raw_json = xstrdup(text);
        free(text);
    }
}
