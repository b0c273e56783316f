/*
 * result.h - the result of one collection (collect_result): what a plugin
 * reported, or why it failed, as the daemon keeps it per provider; its
 * lifecycle, error class names, and masking of secrets in it.
 *
 * The JSON form (the helper pipe and the snapshot's "data") belongs to the
 * helper protocol: core/host/protocol.h.
 *
 * Invariants:
 *   - err == MD_ERR_NONE exactly when the collection succeeded; then
 *     err_msg is NULL; a failed result carries no metrics and no usage;
 *   - has_usage is set only when put_usage was accepted; usage_since and
 *     usage_generation mean nothing without it;
 *   - retry_after < 0 means "none"; started_at/finished_at 0 means unknown.
 * Ownership: a collect_result owns every pointer in it (err_msg, metrics
 * and their strings, notes, raw_json, usage cells and their models).
 * A zeroed collect_result is NOT empty (retry_after must be -1): start
 * with collect_result_init().  collect_result_release() frees what it
 * owns; collect_result_clear() frees and re-inits it for reuse.
 * Threads: no shared state; a result is used by one thread at a time.
 */
#ifndef METERD_RESULT_H
#define METERD_RESULT_H

#include <stddef.h>
#include "meterd/plugin.h"
#include "metric.h"
#include "usage_cell.h"

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

void collect_result_init(collect_result *r);     /* empty: retry_after -1 */
void collect_result_release(collect_result *r);  /* frees fields; NULL ok */
void collect_result_clear(collect_result *r);    /* release + init */
/* Deep copy into *dst (overwritten, not released first). */
void collect_result_copy(collect_result *dst, const collect_result *src);

/* Mask the n secrets in every string of a collection result (error
 * message, notes, metric labels/units/sources, the raw payload; the raw
 * payload's credential-like keys are redacted too).  The daemon applies
 * this with every configured secret, so one provider's secret that another
 * provider echoes back never reaches a response either. */
void collect_result_redact(collect_result *r, const char *const *secrets,
                           size_t n);

/* Error class names: "timeout", "crashed", ... ; NULL for MD_ERR_NONE. */
const char *md_error_name(md_error e);
/* Reverse lookup; returns MD_ERR_INTERNAL for an unknown name. */
md_error md_error_from_name(const char *name);

#endif
