/*
 * hostctx.h - the md_host services: the per-collection context behind the
 * md_host table a plugin calls (emit_metric, note, state_dir, http,
 * emit_rate_limits, put_usage, add_secret, options through options.h...).
 * Internal to the core: plugin_check uses it for check(), run_job()
 * (worker.h) for collections.
 *
 * Invariants:
 *   - every text a plugin hands over (notes, failure, log lines, metric
 *     labels) is masked with every secret registered so far, and again
 *     with all of them at hostctx_take_result(); notes and the failure
 *     message are cut to HOSTCTX_MAX_MESSAGE bytes after masking;
 *   - control characters (textesc.h) never pass: notes, the failure
 *     message, log lines and labels have them escaped; a metric whose
 *     kind holds one is dropped, a unit or source holding one is refused
 *     (metric.h), each with a note;
 *   - a note given again in one collection is kept once, with " (xN)"
 *     appended at hostctx_take_result() when it came N > 1 times;
 *   - the first failure is the cause: later fail() calls are ignored;
 *   - a failed collection hands over no metrics and no usage;
 *   - check_only contexts never do I/O (http() refused, no directory
 *     created, put_usage rejected).
 * Ownership: an md_ctx owns copies of everything the plugin hands over
 * (metrics, notes, raw payload, failure, secrets) and every array it
 * returns to the plugin (option lists/maps, cached until the context is
 * freed); desc and options are borrowed.  hostctx_take_result moves the
 * collected data into a collect_result owned by the caller.
 * Threads: a context is used by one thread (the collection's); the md_host
 * table is static and shared.
 */
#ifndef METERD_HOSTCTX_H
#define METERD_HOSTCTX_H

#include <jansson.h>
#include "meterd/plugin.h"
#include "result.h"

/* Notes and failure messages, bytes (after masking). */
#define HOSTCTX_MAX_MESSAGE 1024

typedef struct hostctx_params {
    const char *instance;       /* copied */
    const md_plugin *desc;      /* borrowed: must outlive the context */
    const json_t *options;      /* borrowed: must outlive the context */
    const char *state_dir;      /* copied; NULL: state_dir() returns NULL */
    long long deadline_ms;      /* mono_ms() value */
    int check_only;             /* check(): no I/O (http refused, state
                                   directory not created) */
    unsigned long long usage_generation;  /* what host->usage_generation
                                   answers: the generation of this
                                   provider's cells the daemon holds */
} hostctx_params;

/* New context; free with hostctx_free. */
md_ctx *hostctx_new(const hostctx_params *p);
void hostctx_free(md_ctx *ctx);

/* The host function table (static, shared by every context). */
const md_host *hostctx_host(void);

/* Register a secret value for masking (copied; < 4 bytes ignored). */
void hostctx_add_secret(md_ctx *ctx, const char *secret);

/* The first fail() of the plugin: class (MD_ERR_NONE when none) and the
 * masked message (context-owned). */
md_error hostctx_error(const md_ctx *ctx, const char **msg);
/* Record a failure on the plugin's behalf (first failure wins). */
void hostctx_fail(md_ctx *ctx, md_error cls, const char *msg);

/* Move everything collected into out (already initialised): error, notes,
 * redacted raw payload, retry_after, and the metrics unless the
 * collection failed.  Text is masked with every secret known by now. */
void hostctx_take_result(md_ctx *ctx, collect_result *out);

/* A message as the host reports it: the n secrets masked, then cut to
 * HOSTCTX_MAX_MESSAGE bytes on a UTF-8 boundary.  Caller frees. */
char *hostctx_message(const char *msg, const char *const *secrets, size_t n);
#endif
