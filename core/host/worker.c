/*
 * worker.c - the host side of the plugin SDK: the md_host services, one
 * collection (run_job), the job format (job_to_json) and the helper
 * process's entry point (worker_main).
 *
 * Ownership: an md_ctx owns copies of everything the plugin hands over
 * (metrics, notes, raw payload, failure, secrets) and every array it
 * returns to the plugin (option lists/maps, cached until the context is
 * freed).  hostctx_take_result moves the collected data into a
 * collect_result owned by the caller.
 */
#include "hostctx.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_client.h"
#include "log.h"
#include "parse.h"
#include "ratelimit.h"
#include "redact.h"
#include "plugin_host.h"
#include "runner.h"
#include "statefile.h"
#include "timeutil.h"

#define MAX_MESSAGE 1024            /* fail() and note() text, bytes */
#define MAX_LOG_LINE 4096
#define MAX_NOTES 100
#define MAX_METRICS 1000
#define MAX_RAW ((size_t)8 * 1024 * 1024)
#define MAX_JOB ((size_t)8 * 1024 * 1024)
/* About 90 bytes of result JSON each: keeps a full re-send well inside
 * the runner's 16 MiB result cap (a year of 15-minute slots is 35040). */
#define MAX_USAGE_CELLS 100000
#define RESULT_FD 3

/* Arrays handed to the plugin by opt_list/opt_map, cached per option so a
 * plugin asking twice does not make us allocate twice. */
typedef struct opt_cache {
    char *name;
    const char **keys;      /* list items, or map keys */
    const char **values;    /* map values; NULL for lists */
    size_t count;
} opt_cache;

struct md_ctx {
    char *instance;
    const md_plugin *desc;       /* borrowed */
    const json_t *options;       /* borrowed */
    char *state_dir;             /* NULL when unknown */
    int state_dir_ready;
    long long deadline_ms;
    int check_only;
    char **secrets;
    size_t n_secrets;
    md_error fail_class;
    char *fail_msg;
    double retry_after;          /* < 0: none */
    metric *metrics;
    size_t n_metrics;
    char **notes;
    size_t n_notes;
    int notes_dropped;
    json_t *raw;                 /* parsed payload, redacted at the end */
    opt_cache *cache;
    size_t n_cache;
    metric *expected;            /* expect_metric templates (ABI 1.1) */
    char **expected_notes;       /* parallel to expected */
    size_t n_expected;
    unsigned long long usage_generation;  /* the daemon's (ABI 1.2) */
    int usage_called;            /* put_usage is allowed once */
    int has_usage;               /* ... and it was accepted */
    usage_cell_rec *usage;       /* owned cells */
    size_t n_usage;
    double usage_since;
    unsigned long long usage_put_generation;
};

/* ------------------------------------------------------------------ */
/* Small text helpers                                                  */
/* ------------------------------------------------------------------ */

static char *vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt ? fmt : "", ap2);
    va_end(ap2);
    if (n < 0)
        return xstrdup("(unformattable message)");
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt ? fmt : "", ap);
    return s;
}

/* Cut s (owned) to at most max bytes on a UTF-8 boundary, marking the cut
 * with "...". */
static char *bound_text(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return s;
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(s + cut, "...", 4);
    return s;
}

/* Mask first, then bound: a cut made before masking could leave the
 * start of a secret behind. */
static char *clean_text(const md_ctx *ctx, const char *text, size_t max)
{
    char *m = mask_secrets(text ? text : "",
                           (const char *const *)ctx->secrets, ctx->n_secrets);
    return bound_text(m, max);
}

static void remask(const md_ctx *ctx, char **s)
{
    if (!*s)
        return;
    char *m = mask_secrets(*s, (const char *const *)ctx->secrets,
                           ctx->n_secrets);
    free(*s);
    *s = m;
}

static const md_option *find_option(const md_plugin *desc, const char *name)
{
    for (const md_option *o = desc ? desc->options : NULL; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Context lifecycle                                                   */
/* ------------------------------------------------------------------ */

md_ctx *hostctx_new(const hostctx_params *p)
{
    md_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->instance = xstrdup(p->instance ? p->instance : "plugin");
    ctx->desc = p->desc;
    ctx->options = p->options;
    ctx->state_dir = xstrdup(p->state_dir);
    ctx->deadline_ms = p->deadline_ms;
    ctx->check_only = p->check_only;
    ctx->retry_after = -1;
    ctx->usage_generation = p->usage_generation;
    return ctx;
}

void hostctx_free(md_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->instance);
    free(ctx->state_dir);
    for (size_t i = 0; i < ctx->n_secrets; i++)
        free(ctx->secrets[i]);
    free(ctx->secrets);
    free(ctx->fail_msg);
    for (size_t i = 0; i < ctx->n_metrics; i++)
        metric_free(&ctx->metrics[i]);
    free(ctx->metrics);
    for (size_t i = 0; i < ctx->n_notes; i++)
        free(ctx->notes[i]);
    free(ctx->notes);
    json_decref(ctx->raw);
    for (size_t i = 0; i < ctx->n_cache; i++) {
        free(ctx->cache[i].name);
        free(ctx->cache[i].keys);
        free(ctx->cache[i].values);
    }
    free(ctx->cache);
    for (size_t i = 0; i < ctx->n_expected; i++) {
        metric_free(&ctx->expected[i]);
        free(ctx->expected_notes[i]);
    }
    free(ctx->expected);
    free(ctx->expected_notes);
    usage_cells_free(ctx->usage, ctx->n_usage);
    free(ctx);
}

void hostctx_add_secret(md_ctx *ctx, const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    for (size_t i = 0; i < ctx->n_secrets; i++)
        if (strcmp(ctx->secrets[i], secret) == 0)
            return;
    ctx->secrets = xrealloc(ctx->secrets,
                            (ctx->n_secrets + 1) * sizeof *ctx->secrets);
    ctx->secrets[ctx->n_secrets++] = xstrdup(secret);
}

md_error hostctx_error(const md_ctx *ctx, const char **msg)
{
    if (msg)
        *msg = ctx->fail_msg;
    return ctx->fail_class;
}

void hostctx_fail(md_ctx *ctx, md_error cls, const char *msg)
{
    if (ctx->fail_class != MD_ERR_NONE)
        return;   /* the first failure is the cause; later ones follow */
    if (cls <= MD_ERR_NONE || cls > MD_ERR_INTERNAL)
        cls = MD_ERR_INTERNAL;
    ctx->fail_class = cls;
    ctx->fail_msg = clean_text(ctx, msg && *msg ? msg : "(no message)",
                               MAX_MESSAGE);
}

static void add_note_text(md_ctx *ctx, const char *text)
{
    if (ctx->n_notes >= MAX_NOTES) {
        ctx->notes_dropped++;
        return;
    }
    ctx->notes = xrealloc(ctx->notes, (ctx->n_notes + 1) * sizeof(char *));
    ctx->notes[ctx->n_notes++] = clean_text(ctx, text, MAX_MESSAGE);
}

/* ------------------------------------------------------------------ */
/* Result hand-over                                                    */
/* ------------------------------------------------------------------ */

static int has_metric(const md_ctx *ctx, const char *id)
{
    for (size_t i = 0; i < ctx->n_metrics; i++)
        if (strcmp(ctx->metrics[i].id, id) == 0)
            return 1;
    return 0;
}

/* Meters the plan expects but the provider did not report appear
 * explicitly (unknown values + a note) instead of silently vanishing. */
static void add_missing_expected(md_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_expected; i++) {
        if (has_metric(ctx, ctx->expected[i].id) || ctx->n_metrics >= MAX_METRICS)
            continue;
        ctx->metrics = xrealloc(ctx->metrics,
                                (ctx->n_metrics + 1) * sizeof *ctx->metrics);
        ctx->metrics[ctx->n_metrics++] = ctx->expected[i];
        memset(&ctx->expected[i], 0, sizeof ctx->expected[i]);
        if (ctx->expected_notes[i])
            add_note_text(ctx, ctx->expected_notes[i]);
    }
}

void hostctx_take_result(md_ctx *ctx, collect_result *out)
{
    if (ctx->fail_class == MD_ERR_NONE)
        add_missing_expected(ctx);
    if (ctx->notes_dropped) {
        char buf[96];
        snprintf(buf, sizeof buf, "%d further notes dropped",
                 ctx->notes_dropped);
        ctx->notes[MAX_NOTES - 1] = (free(ctx->notes[MAX_NOTES - 1]),
                                     xstrdup(buf));
        ctx->notes_dropped = 0;
    }
    /* Secrets registered late (add_secret) still cover earlier text. */
    for (size_t i = 0; i < ctx->n_notes; i++)
        remask(ctx, &ctx->notes[i]);
    remask(ctx, &ctx->fail_msg);
    out->err = ctx->fail_class;
    out->err_msg = ctx->fail_msg;
    ctx->fail_msg = NULL;
    out->retry_after = ctx->retry_after;
    out->notes = ctx->notes;
    out->n_notes = ctx->n_notes;
    ctx->notes = NULL;
    ctx->n_notes = 0;
    if (ctx->raw) {
        redact_json(ctx->raw, (const char *const *)ctx->secrets, ctx->n_secrets);
        out->raw_json = json_dumps(ctx->raw, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (ctx->fail_class != MD_ERR_NONE)
        return;   /* a failed collection's metrics are discarded */
    for (size_t i = 0; i < ctx->n_metrics; i++)
        remask(ctx, &ctx->metrics[i].label);
    out->metrics = ctx->metrics;
    out->n_metrics = ctx->n_metrics;
    ctx->metrics = NULL;
    ctx->n_metrics = 0;
    if (ctx->has_usage) {
        out->has_usage = 1;
        out->usage = ctx->usage;
        out->n_usage = ctx->n_usage;
        out->usage_since = ctx->usage_since;
        out->usage_generation = ctx->usage_put_generation;
        ctx->usage = NULL;
        ctx->n_usage = 0;
    }
}

/* ------------------------------------------------------------------ */
/* md_host services                                                    */
/* ------------------------------------------------------------------ */

static void h_log(md_ctx *ctx, md_log_level level, const char *fmt, ...)
{
    if (level > log_get_level())
        return;
    va_list ap;
    va_start(ap, fmt);
    char *raw = vformat(fmt, ap);
    va_end(ap);
    char *clean = clean_text(ctx, raw, MAX_LOG_LINE);
    if (level > MD_LOG_DEBUG)
        level = MD_LOG_DEBUG;
    log_msg(level, ctx->instance, "%s", clean);
    free(clean);
    free(raw);
}

static const char *h_instance(md_ctx *ctx) { return ctx->instance; }

static const char *h_opt_str(md_ctx *ctx, const char *name)
{
    if (!name)
        return NULL;
    const json_t *v = json_object_get(ctx->options, name);
    if (v)
        return json_is_string(v) ? json_string_value(v) : NULL;
    const md_option *o = find_option(ctx->desc, name);
    return o ? o->default_value : NULL;
}

static int h_opt_int(md_ctx *ctx, const char *name, long long *out)
{
    return parse_int(h_opt_str(ctx, name), out);
}

static int h_opt_number(md_ctx *ctx, const char *name, double *out)
{
    return parse_number(h_opt_str(ctx, name), out);
}

static int h_opt_bool(md_ctx *ctx, const char *name, int *out)
{
    return parse_bool(h_opt_str(ctx, name), out);
}

static int h_opt_duration_ms(md_ctx *ctx, const char *name, long long *out)
{
    const char *s = h_opt_str(ctx, name);
    return s ? duration_parse(s, out) : -1;
}

static opt_cache *cache_get(md_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_cache; i++)
        if (strcmp(ctx->cache[i].name, name) == 0)
            return &ctx->cache[i];
    return NULL;
}

static opt_cache *cache_add(md_ctx *ctx, const char *name, size_t count)
{
    ctx->cache = xrealloc(ctx->cache, (ctx->n_cache + 1) * sizeof *ctx->cache);
    opt_cache *c = &ctx->cache[ctx->n_cache++];
    c->name = xstrdup(name);
    c->count = count;
    c->keys = xcalloc(count + 1, sizeof *c->keys);   /* NULL-terminated */
    c->values = NULL;
    return c;
}

static const char *const *h_opt_list(md_ctx *ctx, const char *name,
                                     size_t *count)
{
    *count = 0;
    const json_t *v = name ? json_object_get(ctx->options, name) : NULL;
    if (!json_is_array(v))
        return NULL;
    opt_cache *c = cache_get(ctx, name);
    if (!c) {
        c = cache_add(ctx, name, 0);
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (!s)
                continue;   /* validated configs hold strings only */
            c->keys = xrealloc(c->keys, (c->count + 2) * sizeof *c->keys);
            c->keys[c->count++] = s;
            c->keys[c->count] = NULL;
        }
    }
    *count = c->count;
    return c->keys;
}

static int h_opt_map(md_ctx *ctx, const char *name, const char *const **keys,
                     const char *const **values, size_t *count)
{
    *count = 0;
    *keys = *values = NULL;
    const json_t *v = name ? json_object_get(ctx->options, name) : NULL;
    if (!json_is_object(v))
        return -1;
    opt_cache *c = cache_get(ctx, name);
    if (!c) {
        c = cache_add(ctx, name, json_object_size(v));
        c->values = xcalloc(c->count + 1, sizeof *c->values);
        size_t i = 0;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)v, k, val) {
            c->keys[i] = k;
            c->values[i++] = json_is_string(val) ? json_string_value(val) : "";
        }
    }
    *keys = c->keys;
    *values = c->values;
    *count = c->count;
    return 0;
}

static long long h_remaining_ms(md_ctx *ctx)
{
    long long left = ctx->deadline_ms - mono_ms();
    return left > 0 ? left : 0;
}

static double h_now(md_ctx *ctx)
{
    (void)ctx;
    return time_now();
}

/* mkdir -p with 0700 for every missing component. */
static int make_private_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        char c = *s;
        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    struct stat st;
    return rc == 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static const char *h_state_dir(md_ctx *ctx)
{
    if (!ctx->state_dir || ctx->check_only || ctx->state_dir_ready)
        return ctx->state_dir;
    if (make_private_dirs(ctx->state_dir) != 0) {
        char *msg = xasprintf("cannot create state directory %s: %s",
                              ctx->state_dir, strerror(errno));
        add_note_text(ctx, msg);
        free(msg);
        return NULL;
    }
    ctx->state_dir_ready = 1;
    return ctx->state_dir;
}

static int h_emit_metric(md_ctx *ctx, const md_metric *m, size_t size)
{
    if (ctx->n_metrics >= MAX_METRICS) {
        if (ctx->n_metrics == MAX_METRICS)
            add_note_text(ctx, "too many metrics; further ones dropped");
        return -1;
    }
    metric rec;
    char **rej = NULL;
    size_t n_rej = 0;
    int bad = metric_from_sdk(&rec, m, size, ctx->instance,
                              ctx->desc ? ctx->desc->default_source : NULL,
                              time_now(), &rej, &n_rej);
    for (size_t i = 0; i < n_rej; i++) {
        add_note_text(ctx, rej[i]);
        free(rej[i]);
    }
    free(rej);
    if (bad < 0) {
        add_note_text(ctx, "metric without a valid id or kind dropped");
        return -1;
    }
    for (size_t i = 0; i < ctx->n_metrics; i++)
        if (strcmp(ctx->metrics[i].id, rec.id) == 0) {
            char *msg = xasprintf("metric %s emitted twice; the last one "
                                  "wins", rec.id);
            add_note_text(ctx, msg);
            free(msg);
            metric_free(&ctx->metrics[i]);
            ctx->metrics[i] = rec;
            return bad;
        }
    ctx->metrics = xrealloc(ctx->metrics,
                            (ctx->n_metrics + 1) * sizeof *ctx->metrics);
    ctx->metrics[ctx->n_metrics++] = rec;
    return bad;
}

static void h_note(md_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = vformat(fmt, ap);
    va_end(ap);
    add_note_text(ctx, raw);
    free(raw);
}

static void h_set_raw(md_ctx *ctx, const char *text, size_t len)
{
    json_decref(ctx->raw);
    ctx->raw = NULL;
    if (!text)
        return;
    if (len > MAX_RAW) {
        add_note_text(ctx, "raw payload too large; dropped");
        return;
    }
    json_error_t jerr;
    ctx->raw = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!ctx->raw) {
        char *msg = xasprintf("raw payload is not JSON (%s); dropped",
                              jerr.text);
        add_note_text(ctx, msg);
        free(msg);
    }
}

static void h_fail(md_ctx *ctx, md_error cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = vformat(fmt, ap);
    va_end(ap);
    hostctx_fail(ctx, cls, raw);
    free(raw);
}

static void h_retry_after(md_ctx *ctx, double seconds)
{
    if (isfinite(seconds) && seconds >= 0 && seconds > ctx->retry_after)
        ctx->retry_after = seconds;
}

static void h_add_secret(md_ctx *ctx, const char *secret)
{
    hostctx_add_secret(ctx, secret);
}

static int h_http(md_ctx *ctx, const md_http_request *req,
                  md_http_response **out)
{
    if (!out)
        return -1;
    if (ctx->check_only) {
        /* check() runs inside the daemon and must not block it. */
        md_http_request none = {0};
        http_perform(&none, 0, NULL, 0, out);
        free((*out)->error);
        (*out)->error = xstrdup("http() is not available in check()");
        return -1;
    }
    return http_perform(req, h_remaining_ms(ctx),
                        (const char *const *)ctx->secrets, ctx->n_secrets,
                        out);
}

static void h_http_free(md_http_response *resp) { http_response_free(resp); }

static const char *h_http_header(const md_http_response *resp,
                                 const char *name)
{
    return http_response_header(resp, name);
}

static int h_parse_time(const char *text, md_time *out)
{
    double t;
    if (!text || rfc3339_parse(text, &t) != 0)
        return -1;
    *out = MD_TIME(t);
    return 0;
}

static int h_parse_number(const char *text, double *out)
{
    return parse_number(text, out);
}

_Static_assert((int)TS_HTTP_DATE == (int)MD_TS_HTTP_DATE &&
                   (int)TS_EPOCH_S_OR_MS == (int)MD_TS_EPOCH_S_OR_MS &&
                   (int)TS_GO_DURATION == (int)MD_TS_GO_DURATION,
               "timeutil's dialects mirror the SDK's");

static int h_parse_timestamp(md_ctx *ctx, const char *text,
                             md_ts_dialect dialect, md_time *out)
{
    double t;
    (void)ctx;
    if (timestamp_parse(text, (ts_dialect)dialect, time_now(), &t) != 0)
        return -1;
    *out = MD_TIME(t);
    return 0;
}

static int h_emit_rate_limits(md_ctx *ctx, const char *const *names,
                              const char *const *values, size_t n,
                              const char *id_prefix, double *retry_after)
{
    rl_metric *rl = NULL;
    size_t count = ratelimit_parse(names, values, n, time_now(), id_prefix,
                                   &rl, retry_after);
    int emitted = 0;
    for (size_t i = 0; i < count; i++) {
        /* a meter the payload itself reported wins over its header echo */
        if (has_metric(ctx, rl[i].m.id))
            continue;
        if (h_emit_metric(ctx, &rl[i].m, sizeof rl[i].m) >= 0)
            emitted++;
    }
    free(rl);
    return emitted;
}

static void h_expect_metric(md_ctx *ctx, const md_metric *m, size_t size,
                            const char *note)
{
    metric rec;
    char **rej = NULL;
    size_t n_rej = 0;
    int bad = metric_from_sdk(&rec, m, size, ctx->instance,
                              ctx->desc ? ctx->desc->default_source : NULL,
                              time_now(), &rej, &n_rej);
    for (size_t i = 0; i < n_rej; i++)
        free(rej[i]);
    free(rej);
    if (bad < 0)
        return;
    for (size_t i = 0; i < ctx->n_expected; i++)
        if (strcmp(ctx->expected[i].id, rec.id) == 0) {
            metric_free(&rec); /* declared twice: the first stands */
            return;
        }
    ctx->expected = xrealloc(ctx->expected,
                             (ctx->n_expected + 1) * sizeof *ctx->expected);
    ctx->expected_notes = xrealloc(ctx->expected_notes,
                                   (ctx->n_expected + 1) * sizeof(char *));
    ctx->expected[ctx->n_expected] = rec;
    ctx->expected_notes[ctx->n_expected++] = xstrdup(note);
}

static int usage_reject(md_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = vformat(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("put_usage rejected: %s; no usage stored", why);
    add_note_text(ctx, msg);
    free(msg);
    free(why);
    return -1;
}

/* Validate every cell before keeping any: a half-stored update would
 * leave the store inconsistent with the plugin's generation. */
static int h_put_usage(md_ctx *ctx, const md_usage_cell *cells, size_t n,
                       size_t cell_size, double since,
                       unsigned long long generation)
{
    if (ctx->check_only)
        return usage_reject(ctx, "not available in check()");
    if (ctx->usage_called)
        return usage_reject(ctx, "called more than once in one collection");
    ctx->usage_called = 1;
    if (cell_size < offsetof(md_usage_cell, tokens_input_uncached))
        return usage_reject(ctx, "cell_size %zu is too small", cell_size);
    if (n > MAX_USAGE_CELLS)
        return usage_reject(ctx, "%zu cells (at most %d per call)", n,
                            MAX_USAGE_CELLS);
    if ((n && !cells) || !isfinite(since) || since < 0)
        return usage_reject(ctx, "no cells or a bad since");
    usage_cell_rec *recs = n ? xcalloc(n, sizeof *recs) : NULL;
    const char *base = (const char *)cells;
    for (size_t i = 0; i < n; i++) {
        /* A plugin built against a shorter md_usage_cell: the fields past
         * its size stay zero, i.e. unknown. */
        md_usage_cell c;
        memset(&c, 0, sizeof c);
        memcpy(&c, base + i * cell_size,
               cell_size < sizeof c ? cell_size : sizeof c);
        const char *why = usage_cell_problem(&c);
        if (!why && c.slot_start < since)
            why = "slot_start is before since";
        if (why) {
            usage_cells_free(recs, i);
            return usage_reject(ctx, "cell %zu: %s", i, why);
        }
        usage_cell_from_sdk(&recs[i], &c);
    }
    ctx->usage = recs;
    ctx->n_usage = n;
    ctx->usage_since = since;
    ctx->usage_put_generation = generation;
    ctx->has_usage = 1;
    return 0;
}

static unsigned long long h_usage_generation(md_ctx *ctx)
{
    return ctx->usage_generation;
}

static const md_host g_host = {
    .abi_major = MD_ABI_MAJOR,
    .abi_minor = MD_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(md_host),
    .log = h_log,
    .instance = h_instance,
    .opt_str = h_opt_str,
    .opt_int = h_opt_int,
    .opt_number = h_opt_number,
    .opt_bool = h_opt_bool,
    .opt_duration_ms = h_opt_duration_ms,
    .opt_list = h_opt_list,
    .opt_map = h_opt_map,
    .remaining_ms = h_remaining_ms,
    .now = h_now,
    .state_dir = h_state_dir,
    .emit_metric = h_emit_metric,
    .note = h_note,
    .set_raw = h_set_raw,
    .fail = h_fail,
    .retry_after = h_retry_after,
    .add_secret = h_add_secret,
    .http = h_http,
    .http_free = h_http_free,
    .http_header = h_http_header,
    .parse_time = h_parse_time,
    .parse_number = h_parse_number,
    .parse_timestamp = h_parse_timestamp,
    .emit_rate_limits = h_emit_rate_limits,
    .expect_metric = h_expect_metric,
    .put_usage = h_put_usage,
    .usage_generation = h_usage_generation,
};

const md_host *hostctx_host(void) { return &g_host; }

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

json_t *job_to_json(const provider_conf *pc, const char *state_dir,
                    long long remaining_ms)
{
    return job_to_json_ex(pc, state_dir, remaining_ms, 0);
}

json_t *job_to_json_ex(const provider_conf *pc, const char *state_dir,
                       long long remaining_ms,
                       unsigned long long usage_generation)
{
    json_t *job = json_object();
    json_t *secrets = json_array();
    json_object_set_new(job, "instance", json_string(pc->name));
    json_object_set_new(job, "plugin_path", json_string(pc->plugin_path));
    json_object_set_new(job, "options", pc->options
                                            ? json_deep_copy(pc->options)
                                            : json_object());
    json_object_set_new(job, "secret_options",
                        json_is_array(pc->secret_options)
                            ? json_deep_copy(pc->secret_options)
                            : json_array());
    size_t i;
    json_t *name;
    json_array_foreach(pc->secret_options, i, name) {
        json_t *v = json_object_get(pc->options, json_string_value(name));
        if (json_is_string(v))
            json_array_append(secrets, v);
    }
    json_object_set_new(job, "secrets", secrets);
    json_object_set_new(job, "state_dir",
                        state_dir ? json_string(state_dir) : json_null());
    json_object_set_new(job, "timeout_ms", json_integer(remaining_ms));
    json_object_set_new(job, "deadline_epoch",
                        json_real(time_now() + (double)remaining_ms / 1000.0));
    /* Additive: the helper logs at the daemon's level. */
    json_object_set_new(job, "log_level", json_integer(log_get_level()));
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", usage_generation);
    json_object_set_new(job, "usage_generation", json_string(gen));
    return job;
}

/* The parts of a job run_job needs; borrowed from the job object. */
typedef struct job_spec {
    const char *instance, *plugin_path, *state_dir;
    const json_t *options, *secret_options, *secrets;
    long long budget_ms;
    unsigned long long usage_generation;   /* 0 when absent */
} job_spec;

static const char *job_parse(const json_t *job, job_spec *js)
{
    memset(js, 0, sizeof *js);
    if (!json_is_object(job))
        return "job is not an object";
    js->instance = json_string_value(json_object_get(job, "instance"));
    js->plugin_path = json_string_value(json_object_get(job, "plugin_path"));
    js->state_dir = json_string_value(json_object_get(job, "state_dir"));
    js->options = json_object_get(job, "options");
    js->secret_options = json_object_get(job, "secret_options");
    js->secrets = json_object_get(job, "secrets");
    json_t *t = json_object_get(job, "timeout_ms");
    if (!js->instance || !js->plugin_path)
        return "job lacks instance or plugin_path";
    if (js->options && !json_is_object(js->options))
        return "job options are not an object";
    if (!json_is_integer(t))
        return "job lacks timeout_ms";
    json_t *ug = json_object_get(job, "usage_generation");
    if (ug && usage_generation_from_json(ug, &js->usage_generation) != 0)
        return "job has a bad usage_generation";
    js->budget_ms = json_integer_value(t);
    json_t *de = json_object_get(job, "deadline_epoch");
    if (json_is_number(de)) {
        /* The wall-clock deadline also counts the time the job spent in
         * transit; the smaller budget wins. */
        double left = (json_number_value(de) - time_now()) * 1000.0;
        if (isfinite(left) && left < (double)js->budget_ms)
            js->budget_ms = (long long)left;
    }
    if (js->budget_ms < 0)
        js->budget_ms = 0;
    return NULL;
}

static void add_job_secrets(md_ctx *ctx, const job_spec *js,
                            const md_plugin *desc)
{
    size_t i;
    json_t *v;
    json_array_foreach(js->secrets, i, v)
        hostctx_add_secret(ctx, json_string_value(v));
    json_array_foreach(js->secret_options, i, v)
        if (json_is_string(v))
            hostctx_add_secret(ctx, json_string_value(json_object_get(
                                        js->options, json_string_value(v))));
    /* Options the plugin declares secret are masked even if validation
     * did not mark them (defence in depth). */
    for (const md_option *o = desc->options; o && o->name; o++)
        if (o->type == MD_OPT_SECRET)
            hostctx_add_secret(ctx, json_string_value(
                                        json_object_get(js->options, o->name)));
}

/* init, collect, fini; failures without a reason get one. */
static void call_plugin(md_ctx *ctx, const md_plugin *desc)
{
    const md_host *host = hostctx_host();
    void *state = NULL;
    if (desc->init && desc->init(host, ctx, &state) != 0) {
        hostctx_fail(ctx, MD_ERR_INTERNAL,
                     "plugin init failed without a reason");
        return;
    }
    if (desc->collect(host, ctx, state) != 0)
        hostctx_fail(ctx, MD_ERR_INTERNAL,
                     "plugin returned failure without a reason");
    if (desc->fini)
        desc->fini(host, ctx, state);
}

static void set_error(collect_result *out, md_error cls, const char *msg,
                      const char *const *secrets, size_t n)
{
    out->err = cls;
    out->err_msg = bound_text(mask_secrets(msg, secrets, n), MAX_MESSAGE);
}

void run_job(const json_t *job, collect_result *out)
{
    collect_result_init(out);
    out->started_at = time_now();
    long long start = mono_ms();
    job_spec js;
    const char *bad = job_parse(job, &js);
    if (bad) {
        set_error(out, MD_ERR_INTERNAL, bad, NULL, 0);
        out->finished_at = time_now();
        return;
    }
    loaded_plugin lp;
    md_error cls;
    char *err = NULL;
    if (plugin_open(js.plugin_path, js.instance, &lp, &cls, &err) != 0) {
        set_error(out, cls, err, NULL, 0);
        free(err);
        out->finished_at = time_now();
        return;
    }
    hostctx_params hp = {js.instance, lp.desc, js.options, js.state_dir,
                         start + js.budget_ms, 0, js.usage_generation};
    md_ctx *ctx = hostctx_new(&hp);
    add_job_secrets(ctx, &js, lp.desc);
    call_plugin(ctx, lp.desc);
    hostctx_take_result(ctx, out);
    hostctx_free(ctx);
    plugin_close(&lp);
    out->finished_at = time_now();
}

/* ------------------------------------------------------------------ */
/* The helper process                                                  */
/* ------------------------------------------------------------------ */

/* Read all of fd (up to max bytes) into a malloc'd buffer. */
static char *read_all(int fd, size_t max, size_t *len, int *too_big)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    *too_big = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                *too_big = 1;
                break;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

static void load_job(json_t **job, collect_result *res)
{
    size_t len;
    int too_big;
    char *text = read_all(STDIN_FILENO, MAX_JOB, &len, &too_big);
    json_error_t jerr;
    *job = too_big ? NULL : json_loadb(text, len, 0, &jerr);
    free(text);
    if (!*job) {
        collect_result_init(res);
        res->started_at = res->finished_at = time_now();
        res->err = MD_ERR_INTERNAL;
        res->err_msg = too_big ? xstrdup("job too large")
                               : xasprintf("malformed job: %s", jerr.text);
    }
}

static void register_log_secrets(const json_t *job)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(job, "secrets"), i, v)
        log_add_secret(json_string_value(v));
    json_t *lv = json_object_get(job, "log_level");
    if (json_is_integer(lv) && json_integer_value(lv) >= MD_LOG_ERROR &&
        json_integer_value(lv) <= MD_LOG_DEBUG)
        log_set_level((md_log_level)json_integer_value(lv));
}

int worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* Whatever a plugin prints goes to the log, never into the result. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    signal(SIGPIPE, SIG_DFL);
    /* Commands a plugin runs must not inherit the result channel: they
     * could keep it open after we exit. */
    fcntl(RESULT_FD, F_SETFD, FD_CLOEXEC);
    json_t *job;
    collect_result res;
    load_job(&job, &res);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);   /* the job socket is done with */
        close(null_fd);
    }
    if (job) {
        register_log_secrets(job);
        http_global_init();
        run_job(job, &res);
        json_decref(job);
    }
    json_t *out = collect_result_to_json(&res);
    char *text = json_dumps(out, JSON_COMPACT);
    /* Compact JSON holds no raw newline, so the final "\n" tells the
     * runner the result is complete even if a child the plugin forked
     * still holds the pipe open. */
    int rc = text && write_all(RESULT_FD, text, strlen(text)) == 0 &&
                     write_all(RESULT_FD, "\n", 1) == 0
                 ? 0
                 : 1;
    close(RESULT_FD);
    free(text);
    json_decref(out);
    collect_result_free(&res);
    log_clear_secrets();
    return rc;
}
