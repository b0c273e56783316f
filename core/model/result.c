/* result.c - lifecycle, error class names and redaction of a collection
 * result (see result.h). */
#include "result.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redact.h"

void collect_result_init(collect_result *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
}

void collect_result_release(collect_result *r)
{
    if (!r)
        return;
    free(r->err_msg);
    for (size_t i = 0; i < r->n_metrics; i++)
        metric_release(&r->metrics[i]);
    free(r->metrics);
    for (size_t i = 0; i < r->n_notes; i++)
        free(r->notes[i]);
    free(r->notes);
    free(r->raw_json);
    usage_cell_rec_array_free(r->usage, r->n_usage);
}

void collect_result_clear(collect_result *r)
{
    if (!r)
        return;
    collect_result_release(r);
    collect_result_init(r);
}

void collect_result_copy(collect_result *dst, const collect_result *src)
{
    *dst = *src;
    dst->err_msg = xstrdup(src->err_msg);
    dst->raw_json = xstrdup(src->raw_json);
    dst->metrics = src->n_metrics
                       ? xcalloc(src->n_metrics, sizeof *dst->metrics)
                       : NULL;
    for (size_t i = 0; i < src->n_metrics; i++)
        metric_copy(&dst->metrics[i], &src->metrics[i]);
    dst->notes = src->n_notes ? xcalloc(src->n_notes, sizeof *dst->notes)
                              : NULL;
    for (size_t i = 0; i < src->n_notes; i++)
        dst->notes[i] = xstrdup(src->notes[i]);
    dst->usage = src->n_usage ? xcalloc(src->n_usage, sizeof *dst->usage)
                              : NULL;
    for (size_t i = 0; i < src->n_usage; i++) {
        dst->usage[i] = src->usage[i];
        dst->usage[i].model = xstrdup(src->usage[i].model);
    }
}

/* ------------------------------------------------------------------ */
/* Error names                                                         */
/* ------------------------------------------------------------------ */

static const char *const ERROR_NAMES[] = {
    [MD_ERR_NONE] = NULL,
    [MD_ERR_TIMEOUT] = "timeout",
    [MD_ERR_CRASHED] = "crashed",
    [MD_ERR_AUTH] = "auth",
    [MD_ERR_RATE_LIMITED] = "rate_limited",
    [MD_ERR_HTTP] = "http",
    [MD_ERR_BAD_DATA] = "bad_data",
    [MD_ERR_CONFIG] = "config",
    [MD_ERR_ABI] = "abi",
    [MD_ERR_NETWORK] = "network",
    [MD_ERR_INTERNAL] = "internal",
};
#define N_ERROR_NAMES (sizeof ERROR_NAMES / sizeof ERROR_NAMES[0])

const char *md_error_name(md_error e)
{
    if ((unsigned)e >= N_ERROR_NAMES)
        return "internal";   /* an out-of-range class is still an error */
    return ERROR_NAMES[e];
}

md_error md_error_from_name(const char *name)
{
    for (size_t i = 1; name && i < N_ERROR_NAMES; i++)
        if (strcmp(ERROR_NAMES[i], name) == 0)
            return (md_error)i;
    return MD_ERR_INTERNAL;
}

/* ------------------------------------------------------------------ */
/* Redaction of a whole result                                          */
/* ------------------------------------------------------------------ */

/* Replace *field with its masked copy when a secret occurs in it. */
static void mask_field(char **field, const char *const *secrets, size_t n)
{
    if (!*field)
        return;
    char *m = mask_secrets(*field, secrets, n);
    free(*field);
    *field = m;
}

void collect_result_redact(collect_result *r, const char *const *secrets,
                           size_t n)
{
    mask_field(&r->err_msg, secrets, n);
    for (size_t i = 0; i < r->n_notes; i++)
        mask_field(&r->notes[i], secrets, n);
    for (size_t i = 0; i < r->n_metrics; i++) {
        mask_field(&r->metrics[i].label, secrets, n);
        mask_field(&r->metrics[i].unit, secrets, n);
        mask_field(&r->metrics[i].source, secrets, n);
    }
    if (!r->raw_json)
        return;
    json_t *raw = json_loads(r->raw_json, JSON_DECODE_ANY, NULL);
    if (!raw) {
        mask_field(&r->raw_json, secrets, n);
        return;
    }
    redact_json(raw, secrets, n);
    char *text = json_dumps(raw, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(raw);
    if (text) {
        free(r->raw_json);
        r->raw_json = xstrdup(text);
        free(text);
    }
}
