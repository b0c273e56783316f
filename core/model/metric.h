/*
 * metric.h - the core's owned metric record: validation of what plugins
 * emit, derivation of implied values, and its JSON form.
 *
 * JSON form of a metric (used by the helper pipe, the snapshot and the API):
 *   {"provider": "deepseek", "id": "credits", "label": "...", "kind": "credits",
 *    "unit": "usd", "used": null, "limit": null, "remaining": 18.42,
 *    "utilization": null, "window_seconds": null, "resets_at": null,
 *    "expires_at": null,
 *    "confidence": "exact", "source": "api",
 *    "collected_at": "2026-03-10T14:00:00Z",
 *    "derived": ["utilization"], "not_applicable": ["limit"]}
 * Unknown and not-applicable values are both null; the not_applicable list
 * says which are which.  Every key is always present.
 *
 * Invariants:
 *   - unknown is not zero: a field is MD_KNOWN only when a provider
 *     reported it or it follows arithmetically from two reported fields
 *     (then its METRIC_DERIVED_* bit is set); anything doubtful is
 *     MD_UNKNOWN;
 *   - a metric made by metric_from_sdk() or metric_from_json() has a valid
 *     id (1..64 bytes of [A-Za-z0-9_.-]), a kind without control
 *     characters, a label with them escaped (textesc.h), a unit and a
 *     source without them (or none), known numbers finite and >= 0, a
 *     utilization in 0..METRIC_UTILIZATION_MAX, and times between 1970
 *     and 9999;
 *   - over quota is a real state: utilization above 100 is kept (a meter
 *     used past its limit), a derived remaining is never below 0, and a
 *     field is listed as derived only while it is known.
 * Ownership: a metric owns its strings.  A zeroed metric is valid and
 * empty; metric_release() frees the strings and leaves it zeroed.
 * Threads: no shared state; a metric is used by one thread at a time.
 */
#ifndef METERD_METRIC_H
#define METERD_METRIC_H

#include <stddef.h>
#include <jansson.h>
#include "meterd/plugin.h"

/* The greatest believable utilization, in percent.  Above 100 a meter is
 * over quota (kept: it is exhausted, not unknown); past this bound the
 * numbers are wrong (a limit in the wrong unit) and the value is unknown,
 * with a note. */
#define METRIC_UTILIZATION_MAX 10000.0
#define METRIC_UTILIZATION_MAX_TEXT "10000"

/* Bits of metric.derived: fields the core computed rather than received. */
enum { METRIC_DERIVED_REMAINING = 1u, METRIC_DERIVED_UTILIZATION = 2u };

typedef struct metric {
    char *provider;      /* instance name; owned (may be NULL before set) */
    char *id, *label, *kind, *unit, *source;   /* owned; unit may be NULL */
    md_num used, limit, remaining, utilization, window_seconds;
    md_time resets_at, collected_at;
    md_time expires_at;  /* when what is left lapses (credits), or unknown */
    md_confidence confidence;
    unsigned derived;    /* METRIC_DERIVED_* bits */
} metric;

/* Copy an SDK metric (size = caller's sizeof(md_metric), fields beyond it
 * are treated as zero) into *out, validating every field: non-finite or
 * negative numbers and a utilization above METRIC_UTILIZATION_MAX become
 * MD_UNKNOWN, a unit or source with control characters is dropped (the
 * label has them escaped), and
 * each rejection is described in a malloc'd string appended to
 * *rejections (array grown with xrealloc, count in *n_rejections).
 * default_source is used when m->source is NULL; now for collected_at when
 * unknown.  Returns the number of rejected fields, or -1 when id/kind are
 * missing, kind has a control character, or id has characters outside
 * [A-Za-z0-9_.-] (nothing stored,
 * nothing appended to *rejections).  label NULL becomes a copy of id.
 * Times (resets_at, collected_at) are rejected when non-finite, negative
 * or after year 9999; a rejected collected_at then becomes now.
 * An out-of-range confidence is rejected and stored as MD_ESTIMATED.
 * It finishes with metric_derive() (idempotent, so calling it again is
 * harmless). */
int metric_from_sdk(metric *out, const md_metric *m, size_t size,
                    const char *provider, const char *default_source,
                    double now, char ***rejections, size_t *n_rejections);

/* Derive remaining = limit - used and utilization = 100*used/limit when
 * both are known and limit > 0 and the target is unknown; sets derived
 * bits.  remaining is clamped at 0 when used exceeds the limit. Never turns
 * an unknown into 0.  A derived utilization is NOT clamped at 100: used 6
 * of 5 gives 120 (more information than 100; ranking treats >= 100 as
 * exhausted); one above METRIC_UTILIZATION_MAX is not derived (stays
 * unknown; metric_from_sdk notes why). */
void metric_derive(metric *m);

void metric_copy(metric *dst, const metric *src);   /* deep copy */
void metric_release(metric *m);                     /* frees the strings */

/* JSON conversion (see the form above).  metric_to_json returns a new
 * reference.  metric_from_json fills *out and returns 0, or returns -1 and
 * sets *err (malloc'd) on a malformed object; it applies the same field
 * validation as metric_from_sdk (out-of-range values become unknown; wrong
 * JSON types, unparseable timestamps, missing id/kind are malformed).
 * Missing keys read as null; null is MD_NOT_APPLICABLE when the field is
 * listed in "not_applicable", else MD_UNKNOWN.  Timestamps may also be
 * epoch numbers. */
json_t *metric_to_json(const metric *m);
int metric_from_json(const json_t *obj, metric *out, char **err);

/* md_num <-> JSON helpers: known -> number, otherwise null. */
json_t *num_to_json(md_num v);
json_t *time_to_json(md_time t);   /* RFC 3339 string or null */
/* The reverse for a present value: RFC 3339 text or (leniently) epoch
 * seconds.  0, or -1 for anything else (null included). */
int time_from_json(const json_t *v, md_time *out);

/* Whether a metric can bound usage: remaining known, or used and limit
 * known, or utilization known. */
int metric_is_quota_bearing(const metric *m);

#endif
