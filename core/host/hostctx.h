/*
 * hostctx.h - the per-collection context behind the md_host table
 * (internal to the core: worker.c implements it, plugin_host.c uses it for
 * check(), run_job() for collections).
 */
#ifndef METERD_HOSTCTX_H
#define METERD_HOSTCTX_H

#include <jansson.h>
#include "meterd/plugin.h"
#include "metric.h"

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


#endif
