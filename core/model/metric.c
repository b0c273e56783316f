/* metric.c - the core's metric record: validation of what plugins emit,
 * derivation of implied values, and its JSON form (see metric.h).
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
#include "textesc.h"
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
    {"expires_at", offsetof(metric, expires_at)},
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

/* The METRIC_DERIVED_* bit of the numeric field at offset off (0 for a
 * field that is never derived). */
static unsigned derived_bit(size_t off)
{
    if (off == offsetof(metric, remaining))
        return METRIC_DERIVED_REMAINING;
    if (off == offsetof(metric, utilization))
        return METRIC_DERIVED_UTILIZATION;
    return 0;
}

static int derive(metric *m, char ***rej, size_t *n_rej);

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
 * reason; the caller then stores MD_UNKNOWN.  A utilization above 100 is
 * a real state (a meter used past its limit: 100.4 % from a provider, or
 * used 6 of 5); only one beyond METRIC_UTILIZATION_MAX is not believable. */
static const char *num_problem(const md_num *v, int is_util)
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
    if (is_util && v->value > METRIC_UTILIZATION_MAX)
        return "above " METRIC_UTILIZATION_MAX_TEXT " %, not believable";
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
static int validate_fields(metric *m, char ***rej, size_t *n_rej)
{
    int bad = 0;
    for (size_t i = 0; i < N_NUM_FIELDS; i++) {
        md_num *v = num_at(m, NUM_FIELDS[i].off);
        int is_util = NUM_FIELDS[i].off == offsetof(metric, utilization);
        const char *why = num_problem(v, is_util);
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
        /* A field that ended unknown was not derived either. */
        m->derived &= ~derived_bit(NUM_FIELDS[i].off);
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

/* Control characters in the strings (see textesc.h): the label is free
 * text and is escaped; unit and source are identifiers, and one holding a
 * control character is refused (unit: unknown, source: the default).
 * Returns the number of refused fields.  The kind was checked before. */
static int clean_strings(metric *m, const char *default_source, char ***rej,
                         size_t *n_rej)
{
    int bad = 0;
    char *label = text_escape_controls(m->label);
    free(m->label);
    m->label = label;
    if (text_has_controls(m->unit)) {
        add_rejection(rej, n_rej,
                      xasprintf("metric %s: unit rejected (control "
                                "characters)", m->id));
        free(m->unit);
        m->unit = NULL;
        bad++;
    }
    if (text_has_controls(m->source)) {
        add_rejection(rej, n_rej,
                      xasprintf("metric %s: source rejected (control "
                                "characters)", m->id));
        free(m->source);
        m->source = xstrdup(default_source);
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
    if (!in.kind || !*in.kind || text_has_controls(in.kind) ||
        !id_valid(in.id))
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
    out->expires_at = in.expires_at;

    int bad = clean_strings(out, default_source, rejections, n_rejections);
    bad += validate_fields(out, rejections, n_rejections);
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
    return bad + derive(out, rejections, n_rejections);
}

/* metric_derive(), describing a utilization it refused to derive in
 * *rej (when rej is not NULL).  Returns the number of such refusals. */
static int derive(metric *m, char ***rej, size_t *n_rej)
{
    if (m->used.state != MD_KNOWN || m->limit.state != MD_KNOWN ||
        !(m->limit.value > 0))
        return 0;
    double used = m->used.value, limit = m->limit.value;
    if (m->remaining.state == MD_UNKNOWN) {
        /* Used past the limit leaves nothing, never a negative amount. */
        m->remaining = MD_NUM(used > limit ? 0.0 : limit - used);
        m->derived |= METRIC_DERIVED_REMAINING;
    }
    if (m->utilization.state != MD_UNKNOWN)
        return 0;
    /* Not clamped at 100: 120 % says more than 100 %, and ranking treats
     * >= 100 as exhausted anyway.  Past METRIC_UTILIZATION_MAX the
     * numbers are not believable (a limit in the wrong unit), so the
     * utilization stays unknown rather than being made up. */
    double u = 100.0 * used / limit;
    if (!isfinite(u) || u > METRIC_UTILIZATION_MAX) {
        if (rej)
            add_rejection(rej, n_rej,
                          xasprintf("metric %s: utilization not derived from "
                                    "used %g and limit %g (above "
                                    METRIC_UTILIZATION_MAX_TEXT " %%, not "
                                    "believable)", m->id, used, limit));
        return 1;
    }
    m->utilization = MD_NUM(u);
    m->derived |= METRIC_DERIVED_UTILIZATION;
    return 0;
}

void metric_derive(metric *m) { derive(m, NULL, NULL); }

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

void metric_release(metric *m)
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
    json_object_set_new(o, "expires_at", time_to_json(m->expires_at));
    json_object_set_new(o, "confidence",
                        json_string(m->confidence == MD_ESTIMATED
                                        ? "estimated"
                                        : "exact"));
    json_object_set_new(o, "source", str_or_null(m->source));
    json_object_set_new(o, "collected_at", time_to_json(m->collected_at));
    for (size_t i = 0; i < N_TIME_FIELDS; i++)
        if (ctime_at(m, TIME_FIELDS[i].off)->state == MD_NOT_APPLICABLE)
            json_array_append_new(na, json_string(TIME_FIELDS[i].name));
    /* Only a value that is there can have been derived. */
    if ((m->derived & METRIC_DERIVED_REMAINING) &&
        m->remaining.state == MD_KNOWN)
        json_array_append_new(derived, json_string("remaining"));
    if ((m->derived & METRIC_DERIVED_UTILIZATION) &&
        m->utilization.state == MD_KNOWN)
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

int time_from_json(const json_t *v, md_time *out)
{
    double t;
    if (json_is_number(v)) {
        /* only a time the JSON form can write back (time_to_json): a
         * snapshot saved with "invalid" in it would not load again */
        t = json_number_value(v);
        if (!(t >= RFC3339_MIN_EPOCH && t < RFC3339_END_EPOCH))
            return -1;
        *out = MD_TIME(t);
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
    return time_from_json(v, out);
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
        metric_release(out);
        return set_err(err, msg);
    }
    if (!id_valid(out->id) || !out->kind || !*out->kind ||
        text_has_controls(out->kind)) {
        char *msg = xstrdup(!id_valid(out->id) ? "metric: missing or invalid id"
                                               : "metric: missing or invalid "
                                                 "kind");
        metric_release(out);
        return set_err(err, msg);
    }
    if (!out->label)
        out->label = xstrdup(out->id);
    /* Same rules as for plugins. */
    clean_strings(out, NULL, NULL, NULL);
    validate_fields(out, NULL, NULL);
    return 0;
}
