/*
 * hostctx.c - the md_host services behind every plugin call: the
 * per-collection context (md_ctx), what it keeps of what a plugin hands
 * over, and the static md_host table (see hostctx.h).
 */
#include "hostctx.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http_client.h"
#include "log.h"
#include "options.h"
#include "parse.h"
#include "protocol.h"
#include "ratelimit.h"
#include "redact.h"
#include "textesc.h"
#include "timeutil.h"
#include "unconst.h"

#define MAX_LOG_LINE 4096
#define MAX_NOTES 100
#define MAX_METRICS 1000
/* A raw payload is kept for include_raw and the snapshot: at most this
 * size and nesting.  The snapshot nests it a few levels deeper, and a
 * document past the JSON parser's depth limit would make the whole
 * snapshot unreadable at the next start. */
#define MAX_RAW ((size_t)256 * 1024)
#define MAX_RAW_DEPTH 64
/* About 90 bytes of result JSON each: keeps a full re-send well inside
 * the result size cap (PROTOCOL_RESULT_MAX, 16 MiB; a year of 15-minute
 * slots is 35040). */
#define MAX_USAGE_CELLS 100000
_Static_assert((size_t)MAX_USAGE_CELLS * 120 < PROTOCOL_RESULT_MAX,
               "a full put_usage fits in one result");

struct md_ctx {
    char *instance;
    const md_plugin *desc;       /* borrowed */
    plugin_options opts;         /* borrows desc and the options */
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
    int *note_counts;            /* parallel to notes: how often each came */
    size_t n_notes;
    int notes_dropped;
    json_t *raw;                 /* parsed payload, redacted at the end */
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

/* Mask first, then escape control characters (a newline or ANSI escape
 * from a provider's body must not reach a log line or a terminal as
 * such), then bound: a cut made before masking could leave the start of
 * a secret behind. */
static char *clean_text(const md_ctx *ctx, const char *text, size_t max)
{
    char *m = mask_secrets(text ? text : "",
                           (const char *const *)ctx->secrets, ctx->n_secrets);
    char *e = text_escape_controls(m);
    free(m);
    return bound_text(e, max);
}

char *hostctx_message(const char *msg, const char *const *secrets, size_t n)
{
    char *m = mask_secrets(msg ? msg : "", secrets, n);
    char *e = text_escape_controls(m);
    free(m);
    return bound_text(e, HOSTCTX_MAX_MESSAGE);
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

/* ------------------------------------------------------------------ */
/* Context lifecycle                                                   */
/* ------------------------------------------------------------------ */

md_ctx *hostctx_new(const hostctx_params *p)
{
    md_ctx *ctx = xmalloc(sizeof *ctx);
    *ctx = (md_ctx){
        .instance = xstrdup(p->instance ? p->instance : "plugin"),
        .desc = p->desc,
        .state_dir = xstrdup(p->state_dir),
        .deadline_ms = p->deadline_ms,
        .check_only = p->check_only,
        .retry_after = -1,
        .usage_generation = p->usage_generation,
    };
    plugin_options_init(&ctx->opts, p->desc, p->options);
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
        metric_release(&ctx->metrics[i]);
    free(ctx->metrics);
    for (size_t i = 0; i < ctx->n_notes; i++)
        free(ctx->notes[i]);
    free(ctx->notes);
    free(ctx->note_counts);
    json_decref(ctx->raw);
    plugin_options_release(&ctx->opts);
    for (size_t i = 0; i < ctx->n_expected; i++) {
        metric_release(&ctx->expected[i]);
        free(ctx->expected_notes[i]);
    }
    free(ctx->expected);
    free(ctx->expected_notes);
    usage_cell_rec_array_free(ctx->usage, ctx->n_usage);
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
                               HOSTCTX_MAX_MESSAGE);
}

/* A note said again in the same collection (the same skipped record in
 * every line of a log, say) is counted, not repeated: folded into the
 * first with " (xN)" at hand-over, so it neither floods the result nor
 * pushes other notes past MAX_NOTES. */
static void add_note_text(md_ctx *ctx, const char *text)
{
    char *clean = clean_text(ctx, text, HOSTCTX_MAX_MESSAGE);
    for (size_t i = 0; i < ctx->n_notes; i++)
        if (strcmp(ctx->notes[i], clean) == 0) {
            ctx->note_counts[i]++;
            free(clean);
            return;
        }
    if (ctx->n_notes >= MAX_NOTES) {
        ctx->notes_dropped++;
        free(clean);
        return;
    }
    ctx->notes = xrealloc(ctx->notes, (ctx->n_notes + 1) * sizeof(char *));
    ctx->note_counts = xrealloc(ctx->note_counts,
                                (ctx->n_notes + 1) * sizeof(int));
    ctx->note_counts[ctx->n_notes] = 1;
    ctx->notes[ctx->n_notes++] = clean;
}

/* Append " (xN)" to every note that came N > 1 times. */
static void fold_note_counts(md_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_notes; i++) {
        if (ctx->note_counts[i] <= 1)
            continue;
        char *folded = xasprintf("%s (x%d)", ctx->notes[i],
                                 ctx->note_counts[i]);
        free(ctx->notes[i]);
        ctx->notes[i] = folded;
        ctx->note_counts[i] = 1;
    }
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
    fold_note_counts(ctx);
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
    free(ctx->note_counts);
    ctx->note_counts = NULL;
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
    return plugin_options_str(&ctx->opts, name);
}

static int h_opt_int(md_ctx *ctx, const char *name, long long *out)
{
    return plugin_options_int(&ctx->opts, name, out);
}

static int h_opt_number(md_ctx *ctx, const char *name, double *out)
{
    return plugin_options_number(&ctx->opts, name, out);
}

static int h_opt_bool(md_ctx *ctx, const char *name, int *out)
{
    return plugin_options_bool(&ctx->opts, name, out);
}

static int h_opt_duration_ms(md_ctx *ctx, const char *name, long long *out)
{
    return plugin_options_duration_ms(&ctx->opts, name, out);
}

static const char *const *h_opt_list(md_ctx *ctx, const char *name,
                                     size_t *count)
{
    return plugin_options_list(&ctx->opts, name, count);
}

static int h_opt_map(md_ctx *ctx, const char *name, const char *const **keys,
                     const char *const **values, size_t *count)
{
    return plugin_options_map(&ctx->opts, name, keys, values, count);
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
        md_metric in = {0};
        if (m)
            memcpy(&in, m, size < sizeof in ? size : sizeof in);
        add_note_text(ctx, text_has_controls(in.kind)
                               ? "metric with control characters in its "
                                 "kind dropped"
                               : "metric without a valid id or kind dropped");
        return -1;
    }
    for (size_t i = 0; i < ctx->n_metrics; i++)
        if (strcmp(ctx->metrics[i].id, rec.id) == 0) {
            char *msg = xasprintf("metric %s emitted twice; the last one "
                                  "wins", rec.id);
            add_note_text(ctx, msg);
            free(msg);
            metric_release(&ctx->metrics[i]);
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

/* Whether j nests deeper than max levels (a scalar is level 1).  The
 * recursion is bounded by the parser's own depth limit. */
static int deeper_than(const json_t *j, int max)
{
    if (max <= 0)
        return 1;
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(json_unconst(j), k, v)
            if (deeper_than(v, max - 1))
                return 1;
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            if (deeper_than(v, max - 1))
                return 1;
    }
    return 0;
}

static void h_set_raw(md_ctx *ctx, const char *text, size_t len)
{
    json_decref(ctx->raw);
    ctx->raw = NULL;
    if (!text)
        return;
    if (len > MAX_RAW) {
        add_note_text(ctx, "raw payload larger than 256 KiB; dropped");
        return;
    }
    json_error_t jerr;
    ctx->raw = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!ctx->raw) {
        char *msg = xasprintf("raw payload is not JSON (%s); dropped",
                              jerr.text);
        add_note_text(ctx, msg);
        free(msg);
    } else if (deeper_than(ctx->raw, MAX_RAW_DEPTH)) {
        json_decref(ctx->raw);
        ctx->raw = NULL;
        add_note_text(ctx, "raw payload nested deeper than 64 levels; dropped");
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
            metric_release(&rec); /* declared twice: the first stands */
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
            usage_cell_rec_array_free(recs, i);
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
