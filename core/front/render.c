/* render.c - JSON documents of the HTTP API (schema "meterd.usage.v1").
 *
 * Pure functions: views in, new jansson references out; the caller owns
 * (json_decref) what is returned.  Unknown values are JSON null, never 0,
 * and full output never drops a key.
 *
 * Usage document (render_usage):
 *   {"schema": "meterd.usage.v1", "generated_at": RFC 3339,
 *    "providers": [row...], "tracked_providers": <rows>,
 *    "unavailable_providers": [family...],
 *    "meta": {"data_source", "fallback_reason": str|null,
 *             "fallbacks_used": [] | ["timeout"], "fallback_providers": []}}
 *   row: provider, status, actual_current_usage, actual_current_usage_unit,
 *        usage_remaining, usage_remaining_unit, usage_remaining_reason,
 *        governing_metric {provider, id, utilization, remaining, limit,
 *        unit, resets_at, reason} | null, available_again_at, served_from,
 *        age_seconds, members [member...], metrics [metric + provider,
 *        stale], notes [{provider, note}], alert, exhausts_at
 *   compact rows keep provider, status, actual_current_usage(_unit),
 *        usage_remaining(_unit), usage_remaining_reason, governing_metric,
 *        served_from, age_seconds.
 *   member: name, plugin, status, error {class, message}|null,
 *        collected_at, served_from, age_seconds, stale, next_attempt_at,
 *        last_attempt_at, runs, failures, skips, consecutive_failures,
 *        running (+ raw with include_raw).
 */
#include "render.h"
#include "redact.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rank.h"
#include "timeutil.h"

#define USAGE_SCHEMA "meterd.usage.v1"

json_t *render_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

void render_set_str(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, render_str(s));
}

void render_set_num(json_t *o, const char *key, md_num v)
{
    json_object_set_new(o, key, num_to_json(v));
}

void render_set_time(json_t *o, const char *key, md_time t)
{
    json_object_set_new(o, key, time_to_json(t));
}

/* An epoch where 0 means "never". */
static json_t *epoch_or_null(double t)
{
    return t > 0 ? time_to_json(MD_TIME(t)) : json_null();
}

/* Whole seconds since t (floor, never negative), or null when t unset. */
static json_t *age_or_null(double t, double now)
{
    if (!(t > 0))
        return json_null();
    double age = floor(now - t);
    return json_integer(age > 0 ? (json_int_t)age : 0);
}

/* ------------------------------------------------------------------ */
/* Raw payload redaction                                               */
/* ------------------------------------------------------------------ */

/* The member's raw payload as redacted JSON (a string when it is not
 * JSON), or null. */
static json_t *raw_json(const provider_view *v)
{
    if (!v->data || !v->data->raw_json)
        return json_null();
    json_t *r = json_loads(v->data->raw_json, JSON_DECODE_ANY, NULL);
    if (!r)
        return json_string(v->data->raw_json);
    redact_json(r, NULL, 0);
    return r;
}

/* ------------------------------------------------------------------ */
/* Members                                                             */
/* ------------------------------------------------------------------ */

static json_t *error_json(const provider_view *v)
{
    if (v->err == MD_ERR_NONE)
        return json_null();
    return json_pack("{s:s, s:o}", "class", md_error_name(v->err), "message",
                     render_str(v->err_msg));
}

static served_from effective_served(const provider_view *v, int force)
{
    if (!v->data)
        return SERVED_NONE;
    if (force || v->served == SERVED_SNAPSHOT)
        return SERVED_SNAPSHOT;
    return SERVED_LIVE;
}

json_t *render_member(const provider_view *v, int include_raw,
                      int force_snapshot, double now)
{
    json_t *o = json_object();
    render_set_str(o, "name", v->name);
    render_set_str(o, "plugin", v->plugin);
    json_object_set_new(o, "status",
                        json_string(provider_status_name(v->status)));
    json_object_set_new(o, "error", error_json(v));
    double coll = v->data ? v->collected_at : 0;
    json_object_set_new(o, "collected_at", epoch_or_null(coll));
    json_object_set_new(o, "served_from",
                        json_string(served_from_name(
                            effective_served(v, force_snapshot))));
    json_object_set_new(o, "age_seconds", age_or_null(coll, now));
    json_object_set_new(o, "stale", json_boolean(v->data && v->stale));
    json_object_set_new(o, "next_attempt_at", epoch_or_null(v->next_attempt_at));
    json_object_set_new(o, "last_attempt_at", epoch_or_null(v->last_attempt_at));
    json_object_set_new(o, "runs", json_integer((json_int_t)v->runs));
    json_object_set_new(o, "failures", json_integer((json_int_t)v->failures));
    json_object_set_new(o, "skips", json_integer((json_int_t)v->skips));
    json_object_set_new(o, "consecutive_failures",
                        json_integer((json_int_t)v->consecutive_failures));
    json_object_set_new(o, "running", json_boolean(v->running));
    if (include_raw)
        json_object_set_new(o, "raw", raw_json(v));
    return o;
}

/* Append v's metrics (with provider and stale) to arr. */
static void append_metrics(json_t *arr, const provider_view *v)
{
    if (!v->data)
        return;
    for (size_t i = 0; i < v->data->n_metrics; i++) {
        json_t *m = metric_to_json(&v->data->metrics[i]);
        if (!v->data->metrics[i].provider)
            render_set_str(m, "provider", v->name);
        json_object_set_new(m, "stale", json_boolean(v->stale));
        json_array_append_new(arr, m);
    }
}

json_t *render_provider(const provider_view *v, int include_raw, double now)
{
    json_t *o = render_member(v, include_raw, 0, now);
    json_t *ms = json_array(), *ns = json_array();
    append_metrics(ms, v);
    for (size_t i = 0; v->data && i < v->data->n_notes; i++)
        json_array_append_new(ns, render_str(v->data->notes[i]));
    render_set_str(o, "family", v->family ? v->family : v->name);
    json_object_set_new(o, "metrics", ms);
    json_object_set_new(o, "notes", ns);
    return o;
}

static json_t *generated_at(double now)
{
    char buf[48];
    rfc3339_format(now, buf, sizeof buf);
    return json_string(buf);
}

json_t *render_providers(const provider_view *v, size_t n, int include_raw,
                         double now)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, render_member(&v[i], include_raw, 0, now));
    return json_pack("{s:o, s:o}", "generated_at", generated_at(now),
                     "providers", arr);
}

json_t *render_error(int status, const char *message)
{
    return json_pack("{s:{s:i, s:o}}", "error", "status", status, "message",
                     render_str(message));
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

static int is_fallback(const usage_meta *meta, const char *name)
{
    for (size_t i = 0; meta && name && i < meta->n_fallback_providers; i++)
        if (meta->fallback_providers[i] &&
            strcmp(meta->fallback_providers[i], name) == 0)
            return 1;
    return 0;
}

static json_t *governing_json(const family_summary *fs)
{
    const metric *g = fs->governing;
    if (!g)
        return json_null();
    json_t *o = json_object();
    render_set_str(o, "provider",
                   fs->governing_member ? fs->governing_member->name
                                        : g->provider);
    render_set_str(o, "id", g->id);
    render_set_num(o, "utilization", g->utilization);
    render_set_num(o, "remaining", g->remaining);
    render_set_num(o, "limit", g->limit);
    render_set_str(o, "unit", g->unit);
    render_set_time(o, "resets_at", g->resets_at);
    render_set_str(o, "reason", fs->governing_reason);
    return o;
}

/* served_from and age_seconds of a row, from members that have data. */
static void row_freshness(json_t *row, const family_summary *fs,
                          const usage_meta *meta, double now)
{
    int any = 0, snap = 0;
    double oldest = 0;
    for (size_t i = 0; i < fs->n_members; i++) {
        const provider_view *v = fs->members[i];
        if (!v->data || v->status == PSTAT_DISABLED)
            continue;
        any = 1;
        snap |= effective_served(v, is_fallback(meta, v->name)) ==
                SERVED_SNAPSHOT;
        if (v->collected_at > 0 && (oldest == 0 || v->collected_at < oldest))
            oldest = v->collected_at;
    }
    json_object_set_new(row, "served_from",
                        json_string(snap ? "snapshot" : any ? "live" : "none"));
    json_object_set_new(row, "age_seconds", age_or_null(oldest, now));
}

static void row_headline(json_t *row, const family_summary *fs)
{
    json_object_set_new(row, "provider", json_string(fs->family));
    json_object_set_new(row, "status", json_string(fs->status));
    render_set_num(row, "actual_current_usage", fs->actual_current_usage);
    render_set_str(row, "actual_current_usage_unit",
                   fs->actual_current_usage_unit);
    render_set_num(row, "usage_remaining", fs->usage_remaining);
    render_set_str(row, "usage_remaining_unit", fs->usage_remaining_unit);
    render_set_str(row, "usage_remaining_reason", fs->usage_remaining_reason);
    json_object_set_new(row, "governing_metric", governing_json(fs));
}

static void row_details(json_t *row, const family_summary *fs,
                        render_opts opts, const usage_meta *meta, double now)
{
    json_t *members = json_array(), *metrics = json_array(),
           *notes = json_array();
    for (size_t i = 0; i < fs->n_members; i++) {
        const provider_view *v = fs->members[i];
        json_array_append_new(
            members, render_member(v, opts.include_raw,
                                   is_fallback(meta, v->name), now));
        if (v->status == PSTAT_DISABLED)
            continue;   /* its metrics do not take part in the row */
        append_metrics(metrics, v);
        for (size_t j = 0; v->data && j < v->data->n_notes; j++)
            json_array_append_new(
                notes, json_pack("{s:o, s:o}", "provider",
                                 render_str(v->name), "note",
                                 render_str(v->data->notes[j])));
    }
    json_object_set_new(row, "members", members);
    json_object_set_new(row, "metrics", metrics);
    json_object_set_new(row, "notes", notes);
}

typedef struct alert_list {
    const family_alert *a;
    size_t n;
} alert_list;

static void row_alert(json_t *row, const family_summary *fs,
                      const alert_list *al)
{
    const family_alert *a = NULL;
    for (size_t i = 0; i < al->n && !a; i++)
        if (al->a[i].family && strcmp(al->a[i].family, fs->family) == 0)
            a = &al->a[i];
    json_object_set_new(row, "alert",
                        json_string(a && a->alert ? a->alert : "unknown"));
    json_object_set_new(row, "exhausts_at",
                        a && a->exhausts_at > 0
                            ? time_to_json(MD_TIME(a->exhausts_at))
                            : json_null());
}

static json_t *render_row(const family_summary *fs, render_opts opts,
                          const usage_meta *meta, const alert_list *al,
                          double now)
{
    json_t *row = json_object();
    row_headline(row, fs);
    if (!opts.compact)
        render_set_time(row, "available_again_at", fs->available_again_at);
    row_freshness(row, fs, meta, now);
    if (!opts.compact) {
        row_details(row, fs, opts, meta, now);
        row_alert(row, fs, al);
    }
    return row;
}

static json_t *meta_json(const usage_meta *meta)
{
    json_t *used = json_array(), *fp = json_array();
    const char *reason = meta ? meta->fallback_reason : NULL;
    if (reason)
        json_array_append_new(used, json_string(reason));
    for (size_t i = 0; meta && i < meta->n_fallback_providers; i++)
        json_array_append_new(fp, render_str(meta->fallback_providers[i]));
    const char *src = meta && meta->data_source ? meta->data_source
                                                : "live_or_cache";
    return json_pack("{s:s, s:o, s:o, s:o}", "data_source", src,
                     "fallback_reason", render_str(reason), "fallbacks_used",
                     used, "fallback_providers", fp);
}

json_t *render_usage(const provider_view *v, size_t n, render_opts opts,
                     const usage_meta *meta, double now)
{
    return render_usage_alerts(v, n, opts, meta, NULL, 0, now);
}

json_t *render_usage_alerts(const provider_view *v, size_t n,
                            render_opts opts, const usage_meta *meta,
                            const family_alert *alerts, size_t n_alerts,
                            double now)
{
    alert_list al = {alerts, alerts ? n_alerts : 0};
    /* A provider with enabled: false is not tracked: no row, not
     * unavailable (GET /api/providers still lists it as "disabled"). */
    provider_view *on = xcalloc(n ? n : 1, sizeof *on);
    size_t n_on = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].status != PSTAT_DISABLED)
            on[n_on++] = v[i];
    family_summary *fs;
    size_t nf = rank_families(on, n_on, now, &fs);
    json_t *rows = json_array(), *unavailable = json_array();
    for (size_t i = 0; i < nf; i++) {
        json_array_append_new(rows, render_row(&fs[i], opts, meta, &al, now));
        if (strcmp(fs[i].status, "unavailable") == 0)
            json_array_append_new(unavailable, json_string(fs[i].family));
    }
    family_summaries_free(fs, nf);
    free(on);
    json_t *doc = json_object();
    json_object_set_new(doc, "schema", json_string(USAGE_SCHEMA));
    json_object_set_new(doc, "generated_at", generated_at(now));
    json_object_set_new(doc, "providers", rows);
    json_object_set_new(doc, "tracked_providers", json_integer((json_int_t)nf));
    json_object_set_new(doc, "unavailable_providers", unavailable);
    json_object_set_new(doc, "meta", meta_json(meta));
    return doc;
}
