/*
 * metric.h - the core's owned metric record, its validation, derivation
 * and JSON form, and the result of one collection.
 *
 * JSON form of a metric (used by the worker pipe, the snapshot and the API):
 *   {"provider": "deepseek", "id": "credits", "label": "...", "kind": "credits",
 *    "unit": "usd", "used": null, "limit": null, "remaining": 18.42,
 *    "utilization": null, "window_seconds": null, "resets_at": null,
 *    "confidence": "exact", "source": "api",
 *    "collected_at": "2026-03-10T14:00:00Z",
 *    "derived": ["utilization"], "not_applicable": ["limit"]}
 * Unknown and not-applicable values are both null; the not_applicable list
 * says which are which.  Every key is always present.
 */
#ifndef METERD_METRIC_H
#define METERD_METRIC_H

#include <stddef.h>
#include <jansson.h>
#include "meterd/plugin.h"

/* Bits of metric.derived: fields the core computed rather than received. */
enum { METRIC_DERIVED_REMAINING = 1u, METRIC_DERIVED_UTILIZATION = 2u };

typedef struct metric {
    char *provider;      /* instance name; owned (may be NULL before set) */
    char *id, *label, *kind, *unit, *source;   /* owned; unit may be NULL */
    md_num used, limit, remaining, utilization, window_seconds;
    md_time resets_at, collected_at;
    md_confidence confidence;
    unsigned derived;    /* METRIC_DERIVED_* bits */
} metric;

/* Copy an SDK metric (size = caller's sizeof(md_metric), fields beyond it
 * are treated as zero) into *out, validating every field: non-finite or
 * negative numbers and utilization outside 0..100 become MD_UNKNOWN and
 * each rejection is described in a malloc'd string appended to
 * *rejections (array grown with xrealloc, count in *n_rejections).
 * default_source is used when m->source is NULL; now for collected_at when
 * unknown.  Returns the number of rejected fields, or -1 when id/kind are
 * missing or id has characters outside [A-Za-z0-9_.-] (nothing stored,
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
 * an unknown into 0.  A derived utilization is NOT clamped: used 6 of 5
 * gives 120 (more information than 100; ranking treats >= 100 as
 * exhausted).  Only a reported utilization must lie in 0..100;
 * metric_from_json accepts > 100 when "derived" lists "utilization". */
void metric_derive(metric *m);

void metric_copy(metric *dst, const metric *src);   /* deep copy */
void metric_free(metric *m);                        /* frees fields only */

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

/* Whether a metric can bound usage: remaining known, or used and limit
 * known, or utilization known. */
int metric_is_quota_bearing(const metric *m);

/* Per-turn usage aggregated into 15-minute cells (SDK md_usage_cell, ABI
 * 1.2), as the core carries it from the worker to the usage store.  The
 * buckets are indexed by usage_bucket (names in usage_bucket_names). */
typedef enum usage_bucket {
    UB_INPUT_UNCACHED = 0, UB_CACHE_READ, UB_CACHE_WRITE, UB_OUTPUT,
    UB_REASONING, UB_TOTAL, UB_COST, UB_N
} usage_bucket;

/* "tokens_input_uncached", ..., "cost_usd" (JSON keys of the reports). */
extern const char *const usage_bucket_names[UB_N];

typedef struct usage_cell_rec {
    double slot_start;     /* epoch seconds, a multiple of 900 */
    char *model;           /* owned; NULL: unknown model */
    md_num b[UB_N];        /* known / unknown / not applicable */
    double events;         /* usage events summed into the cell, >= 0 */
} usage_cell_rec;

/* Why an SDK cell cannot be stored, or NULL when it is valid: slot_start
 * finite, >= 0, <= year 9999 and a multiple of 900; model NULL or 1..128
 * printable ASCII bytes; every number in a valid state, finite and >= 0
 * when known; events finite and >= 0.  Static string. */
const char *usage_cell_problem(const md_usage_cell *c);
/* Deep copy of a valid SDK cell (the caller checked it). */
void usage_cell_from_sdk(usage_cell_rec *out, const md_usage_cell *c);
/* Same check for a core cell (JSON input): NULL or a static reason. */
const char *usage_cell_rec_problem(const usage_cell_rec *c);
void usage_cells_free(usage_cell_rec *cells, size_t n);  /* + the array */

/* One bucket as JSON: known -> integer when integral (else real), unknown
 * -> null, not applicable -> "na" (the compact wire/storage form). */
json_t *usage_num_to_json(md_num v);
/* The reverse: number (finite, >= 0), null or "na".  0 or -1. */
int usage_num_from_json(const json_t *j, md_num *out);
/* A generation as JSON: a decimal string (or a non-negative integer).
 * 0 or -1. */
int usage_generation_from_json(const json_t *j, unsigned long long *out);
/* A known integral value as an integer, else a real; null otherwise (the
 * report form, where not applicable is null too). */
json_t *usage_num_to_report(md_num v);

/* Result of one collection, as the worker reports it. */
typedef struct collect_result {
    md_error err;          /* MD_ERR_NONE on success */
    char *err_msg;         /* owned, NULL on success; secrets masked */
    double retry_after;    /* seconds the provider asked us to wait, <0 none */
    metric *metrics;       /* owned array */
    size_t n_metrics;
    char **notes;          /* owned array of owned strings */
    size_t n_notes;
    char *raw_json;        /* owned, redacted raw payload text, or NULL */
    double started_at, finished_at;   /* epoch seconds */
    /* Usage cells handed over by put_usage (ABI 1.2), successful
     * collections only.  They travel from the worker to the daemon, which
     * gives them to its usage store and never keeps them in provider
     * state (so snapshots and API responses stay small). */
    int has_usage;                    /* put_usage was called and accepted */
    usage_cell_rec *usage;            /* owned array (model strings owned) */
    size_t n_usage;
    double usage_since;               /* replace stored cells >= this */
    unsigned long long usage_generation;
} collect_result;

void collect_result_init(collect_result *r);   /* zero + retry_after=-1 */
void collect_result_free(collect_result *r);   /* frees fields, re-inits */
void collect_result_copy(collect_result *dst, const collect_result *src);
/* {"error": null|{"class","message"}, "retry_after": n|null, "metrics": [..],
 *  "notes": [..], "raw": <json>|null, "started_at", "finished_at"}
 * plus, only when has_usage: "usage": {"since": n, "generation": "N"
 * (decimal string: exact for any 64-bit value), "cells": [[slot_start,
 * model|null, tokens_input_uncached, tokens_cache_read, tokens_cache_write,
 * tokens_output, tokens_reasoning, tokens_total, cost_usd, events], ...]}
 * with each bucket a number, null (unknown) or "na" (not applicable).
 * from_json validates every cell like put_usage does (-1 on a bad one). */
json_t *collect_result_to_json(const collect_result *r);
int collect_result_from_json(const json_t *obj, collect_result *out,
                             char **err);

/* Error class names: "timeout", "crashed", ... ; NULL for MD_ERR_NONE. */
const char *md_error_name(md_error e);
/* Reverse lookup; returns MD_ERR_INTERNAL for an unknown name. */
md_error md_error_from_name(const char *name);

/* Mask the n secrets in every string of a collection result (error
 * message, notes, metric labels/units/sources, the raw payload; the raw
 * payload's credential-like keys are redacted too).  The daemon applies
 * this with every configured secret, so one provider's secret that another
 * provider echoes back never reaches a response either. */
void redact_result(collect_result *r, const char *const *secrets,
                   size_t n);

#endif
