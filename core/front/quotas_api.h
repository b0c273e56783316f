/*
 * quotas_api.h - GET /api/quotas and GET /api/advice: the forecasts and
 * alerts of every meter, and which of some families to use now.  Both
 * render from the quota_set published in the view set (quotas.h): no
 * lock, no I/O.
 *
 * GET /api/quotas (no query parameters) ->
 *   {schema: "meterd.quotas.v1", generated_at, quotas: [entry...],
 *    by_alert: {exhausted, topup, use_or_lose, watch, ok, unknown: count},
 *    has_exhausted, has_use_or_lose, alert_transitions}
 *   entry: family, provider, meter, kind, unit, used, limit, remaining,
 *   utilization, resets_at, expires_at, burn_per_hour, burn_per_day,
 *   projected_at_reset, projected_utilization_at_reset, exhausts_at,
 *   runway_seconds, projected_use_by_expiry, use_or_lose, segment_samples,
 *   alert, alert_reason, forecast_reason, source, confidence; sorted by
 *   alert urgency, then utilization (highest first).
 *
 * GET /api/advice?candidates=FAMILY,FAMILY,... ->
 *   {schema: "meterd.advice.v1", generated_at, candidates: [advice...]}
 *   advice: rank (1 = use first), family, verdict ("use_or_lose",
 *   "available", "exhausted", "unavailable", "unknown"), alert,
 *   headroom (remaining fraction 0..1 of the governing meter, or null),
 *   runway_seconds, governing {provider, meter} | null, expires_at,
 *   available_again_at, reason (one line).
 *   Order: use_or_lose first (soonest expiry first), then available by
 *   headroom (highest first; unknown after known), then runway (longest
 *   first; no consumption counts as endless), then exhausted and
 *   unavailable (soonest available again first), then unknown families;
 *   ties by family name, so equal inputs give equal answers.  The
 *   governing meter of a family is its meter with the least headroom.
 *   A missing, empty or repeated candidates parameter, an empty or
 *   repeated name, more than ADVICE_MAX_CANDIDATES names or any other
 *   parameter is a 400 with the JSON error document.
 *
 * Ownership: *doc is a new reference.  Threads: any HTTP thread.
 */
#ifndef METERD_QUOTAS_API_H
#define METERD_QUOTAS_API_H

#include <jansson.h>
#include <microhttpd.h>

#include "daemon.h"

#define QUOTAS_API_PATH "/api/quotas"
#define ADVICE_API_PATH "/api/advice"
#define ADVICE_MAX_CANDIDATES 64

/* The HTTP status and the document (success or error) for request c. */
unsigned quotas_api_get(const view_set *vs, struct MHD_Connection *c,
                        json_t **doc);
unsigned advice_api_get(const view_set *vs, struct MHD_Connection *c,
                        json_t **doc);

/* The advice document for candidates[0..n) (exposed for tests). */
json_t *advice_render(const view_set *vs, const char *const *candidates,
                      size_t n, double now);

#endif
