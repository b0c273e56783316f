/*
 * render.h - the JSON documents of the HTTP API and of `meterd --once`.
 * Pure functions: views in, new jansson references out (caller decrefs).
 *
 * GET /api/automation/usage -> render_usage()
 *   {schema: "meterd.usage.v1", generated_at, providers: [row...],
 *    tracked_providers, unavailable_providers: [family...], meta}
 * Rows: provider (family), status, actual_current_usage(_unit),
 *   usage_remaining(_unit), usage_remaining_reason, governing_metric
 *   {provider, id, utilization, remaining, limit, unit, resets_at, reason},
 *   available_again_at, served_from, age_seconds, members[], metrics[],
 *   notes[], alert (the family's alert class, "unknown" without one),
 *   exhausts_at (earliest of its meters, or null).  compact keeps only
 *   the headline fields.
 * Unknown numbers are null, never 0, and no key is ever dropped in full
 * output.
 */
#ifndef METERD_RENDER_H
#define METERD_RENDER_H

#include <stddef.h>
#include <jansson.h>
#include "view.h"

/* A family's alert class (quotas.h) and when it first runs out, for the
 * full usage rows. */
typedef struct family_alert {
    const char *family;
    const char *alert;             /* class name, e.g. "watch" */
    double exhausts_at;            /* epoch, 0 unknown */
} family_alert;

typedef struct usage_meta {
    const char *data_source;       /* "live_or_cache" | "live_refresh" |
                                      "snapshot_fallback" */
    const char *fallback_reason;   /* "timeout" or NULL */
    const char *const *fallback_providers;  /* instance names served from
                                               the snapshot because their
                                               forced refresh did not finish */
    size_t n_fallback_providers;
} usage_meta;

/* Field helpers shared by the front's JSON documents (render.c,
 * quotas_api.c): each sets key on o to a new value, JSON null where the
 * value is absent or unknown (never 0 or ""). */
json_t *render_str(const char *s);            /* new string, or null */
void render_set_str(json_t *o, const char *key, const char *s);
void render_set_num(json_t *o, const char *key, md_num v);
void render_set_time(json_t *o, const char *key, md_time t); /* RFC 3339 */

typedef struct render_opts {
    int compact;
    int include_raw;
} render_opts;

json_t *render_usage(const provider_view *v, size_t n, render_opts opts,
                     const usage_meta *meta, double now);
/* The same with the families' alerts (alerts may be NULL: every alert
 * "unknown"). */
json_t *render_usage_alerts(const provider_view *v, size_t n,
                            render_opts opts, const usage_meta *meta,
                            const family_alert *alerts, size_t n_alerts,
                            double now);
/* GET /api/providers: {generated_at, providers: [member...]} */
json_t *render_providers(const provider_view *v, size_t n, int include_raw,
                         double now);
/* GET /api/providers/NAME: one member object with metrics/notes */
json_t *render_provider(const provider_view *v, int include_raw, double now);
/* A member object as used in rows and /api/providers. */
json_t *render_member(const provider_view *v, int include_raw,
                      int force_snapshot, double now);
/* {"error": {"status": 400, "message": "..."}} */
json_t *render_error(int status, const char *message);

#endif
