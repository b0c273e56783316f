/*
 * history_api.h - GET /api/history: a provider's meter samples over a
 * time range (history.h), downsampled to a step.
 *
 * Query parameters (each at most once, none empty):
 *   provider  required; a configured provider or one with samples (else
 *             404)
 *   meter     a meter id (default: every meter of the provider)
 *   since     RFC 3339 time or epoch seconds (default: until - 24 h)
 *   until     likewise, exclusive (default: now)
 *   step      a duration ("5m", "1h", "1d"): the last sample of each step
 *             bucket (default: every sample)
 * Any other parameter, a bad value, since >= until or a range of more
 * than 10000 steps is a 400 with the JSON error document.
 * Answer: the document of history_query (unknown values are null).
 *
 * Invariants: reads only; the provider check takes daemon.lock, the query
 * takes the database lock (never both at once).
 * Ownership: *doc is a new reference for the caller to send.
 * Threads: any HTTP thread.
 */
#ifndef METERD_HISTORY_API_H
#define METERD_HISTORY_API_H

#include <jansson.h>
#include <microhttpd.h>

#include "daemon.h"

#define HISTORY_API_PATH "/api/history"

/* The HTTP status and the document (success or error) for request c. */
unsigned history_api_get(const view_set *vs, struct MHD_Connection *c,
                         json_t **doc);

#endif
