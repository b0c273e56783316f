/*
 * plugins/ollama.c - a local Ollama runtime: reachability and models.
 *
 * Source ([P] docs.ollama.com):
 *   GET {base_url}/api/tags -> {"models": [{name, model, modified_at, size,
 *                                           digest, details{...}}]}
 *   GET {base_url}/api/ps   -> {"models": [{name, ..., size, size_vram,
 *                                           expires_at (RFC 3339, local
 *                                           offset), context_length}]}
 * No auth.  Default base_url http://127.0.0.1:11434 (Ollama's own default;
 * the daemon does not read $OLLAMA_HOST: set base_url instead).
 *
 * A local runtime has no account usage, quota, balance or cost.  It is
 * reported as such, not as missing data:
 *   quota             kind quota_window, unit percent, used / limit /
 *                     remaining / utilization / window_seconds / resets_at
 *                     all NOT APPLICABLE, plus the note "local runtime: no
 *                     quota or cost"
 *   models_installed  kind usage, unit models, used = len(/api/tags models)
 *   models_loaded     kind usage, unit models, used = len(/api/ps models)
 *   vram_bytes        kind usage, unit bytes, used = sum of size_vram of
 *                     the loaded models (unknown if any is unreported)
 * The three usage metrics have no cap: their limit, remaining and
 * utilization are not applicable too, so every metric of this plugin is
 * quota-free and the family row reads "not_applicable".
 * and one note per loaded model with its VRAM, context length and
 * expires_at (when Ollama will unload it).  A "models" key that is missing
 * or not an array makes that count unknown (never 0); an empty array is 0.
 * An Ollama too old for /api/ps (404) leaves models_loaded unknown with a
 * note; every other failure fails the collection.  Reachability: a
 * successful collection means reachable; connection refused is the
 * network error class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"

#define OL_DEFAULT_URL "http://127.0.0.1:11434"
#define OL_MAX_NOTES 32

static const md_option ol_options[] = {
    {"base_url", MD_OPT_STRING, 0, OL_DEFAULT_URL, "Ollama server URL"},
    {0}
};

static int ol_check(const md_host *host, md_ctx *ctx)
{
    return mdu_check_base_url(host, ctx);
}

/* GET path as a JSON object.  *missing is set (and nothing failed) when
 * the server answered 404 and missing is not NULL; otherwise any failure
 * fails the collection.  Returns the document (new reference) or NULL. */
static json_t *get_json(const md_host *host, md_ctx *ctx, const char *path,
                        int *missing)
{
    char *url = mdu_url(host, ctx, path);
    if (!url) {
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    const char *headers[] = {"Accept: application/json", NULL};
    md_http_request req = {0};
    req.url = url;
    req.headers = headers;
    md_http_response *r = NULL;
    json_t *doc = NULL;
    if (host->http(ctx, &req, &r) != 0) {
        host->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                   "Ollama not reachable at %s: %s", url,
                   r && r->error ? r->error : "request failed");
    } else if (r->status == 404 && missing) {
        *missing = 1;
    } else if (r->status < 200 || r->status > 299) {
        mdu_fail_status(host, ctx, r, NULL);
    } else {
        /* Ollama sends no rate-limit headers today; a proxy in front
         * of it might */
        doc = mdu_body_json(host, ctx, r, url);
        if (doc)
            mdu_emit_rate_limit_headers(host, ctx, r);
    }
    host->http_free(r);
    free(url);
    return doc;
}

/* The "models" array of a document, or NULL (unknown count). */
static const json_t *models_of(const md_host *host, md_ctx *ctx,
                               const json_t *doc, const char *what)
{
    const json_t *m = json_object_get(doc, "models");
    if (json_is_array(m))
        return m;
    host->note(ctx, "%s: no models array; count unknown", what);
    return NULL;
}

/* A local count has no cap: limit, remaining and utilization are not
 * applicable (not unknown), which is also what lets the core's family row
 * say "not_applicable" instead of "no quota metric". */
static void set_uncapped(md_metric *m)
{
    m->limit = MD_NUM_NA;
    m->remaining = MD_NUM_NA;
    m->utilization = MD_NUM_NA;
}

static void emit_count(const md_host *host, md_ctx *ctx, const char *id,
                       const char *label, const json_t *models)
{
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "usage";
    m.unit = "models";
    set_uncapped(&m);
    if (models)
        m.used = MD_NUM(json_array_size(models));
    MD_EMIT(host, ctx, &m);
}

/* Bytes as a short human figure for notes. */
static void human_bytes(md_num b, char *out, size_t len)
{
    if (b.state != MD_KNOWN)
        snprintf(out, len, "unknown");
    else
        snprintf(out, len, "%.1f GiB", b.value / (1024.0 * 1024.0 * 1024.0));
}

/* A known time as RFC 3339 UTC (whole seconds) for notes. */
static void time_text(md_time t, char *out, size_t len)
{
    struct tm tm;
    time_t s = (time_t)t.epoch;
    if (t.state != MD_KNOWN || !gmtime_r(&s, &tm))
        snprintf(out, len, "unknown");
    else
        strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One note per loaded model; returns the VRAM sum (unknown when any
 * model did not report size_vram). */
static md_num describe_loaded(const md_host *host, md_ctx *ctx,
                              const json_t *models)
{
    md_num total = MD_NUM(0);
    size_t n = json_array_size(models);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(models, i);
        md_num vram = mdu_num(host, e, "size_vram");
        total = mdu_add(total, vram);
        if (i >= OL_MAX_NOTES)
            continue;
        const char *name = mdu_str(e, "name");
        if (!name)
            name = mdu_str(e, "model");
        md_time exp = mdu_time(host, ctx, e, "expires_at", MD_TS_RFC3339);
        md_num ctxlen = mdu_num(host, e, "context_length");
        char vb[32], ctxs[32], when[32];
        human_bytes(vram, vb, sizeof vb);
        time_text(exp, when, sizeof when);
        if (ctxlen.state == MD_KNOWN)
            snprintf(ctxs, sizeof ctxs, "%.0f", ctxlen.value);
        else
            snprintf(ctxs, sizeof ctxs, "unknown");
        host->note(ctx, "loaded: %.100s, VRAM %s, context %s, expires_at %s",
                   name ? name : "(unnamed)", vb, ctxs, when);
    }
    if (n > OL_MAX_NOTES)
        host->note(ctx, "%zu more loaded models not listed", n - OL_MAX_NOTES);
    return total;
}

/* Quota and cost do not exist for a local runtime: say so explicitly. */
static void emit_not_applicable(const md_host *host, md_ctx *ctx)
{
    md_metric m = {0};
    m.id = "quota";
    m.label = "Quota (local runtime)";
    m.kind = "quota_window";
    m.unit = "percent";
    m.used = MD_NUM_NA;
    m.limit = MD_NUM_NA;
    m.remaining = MD_NUM_NA;
    m.utilization = MD_NUM_NA;
    m.window_seconds = MD_NUM_NA;
    m.resets_at = MD_TIME_NA;
    MD_EMIT(host, ctx, &m);
    host->note(ctx, "local runtime: no quota or cost");
}

/* include_raw: both payloads as one object {"tags": ..., "ps": ...}. */
static void keep_raw(const md_host *host, md_ctx *ctx, json_t *tags, json_t *ps)
{
    json_t *raw = json_object();
    json_object_set(raw, "tags", tags);
    json_object_set(raw, "ps", ps ? ps : json_null());
    char *text = json_dumps(raw, JSON_COMPACT);
    if (text)
        host->set_raw(ctx, text, strlen(text));
    free(text);
    json_decref(raw);
}

static int ol_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (ol_check(host, ctx) != 0)
        return -1;
    json_t *tags = get_json(host, ctx, "/api/tags", NULL);
    if (!tags)
        return -1;
    int no_ps = 0;
    json_t *ps = get_json(host, ctx, "/api/ps", &no_ps);
    if (!ps && !no_ps) {
        json_decref(tags);
        return -1;
    }
    emit_not_applicable(host, ctx);
    emit_count(host, ctx, "models_installed", "Models installed",
               models_of(host, ctx, tags, "/api/tags"));
    const json_t *loaded = NULL;
    if (ps)
        loaded = models_of(host, ctx, ps, "/api/ps");
    else
        host->note(ctx, "/api/ps not available (Ollama too old?); loaded "
                   "models unknown");
    emit_count(host, ctx, "models_loaded", "Models loaded", loaded);
    md_metric v = {0};
    v.id = "vram_bytes";
    v.label = "VRAM used by loaded models";
    v.kind = "usage";
    v.unit = "bytes";
    set_uncapped(&v);
    if (loaded)
        v.used = describe_loaded(host, ctx, loaded);
    MD_EMIT(host, ctx, &v);
    keep_raw(host, ctx, tags, ps);
    json_decref(tags);
    json_decref(ps);
    return 0;
}

static const md_plugin ol_plugin = {
    MD_PLUGIN_HEADER,
    "ollama",
    "0.1.0",
    "local Ollama runtime: reachability, installed and loaded models",
    "api",
    ol_options,
    ol_check,
    NULL,
    ol_collect,
    NULL,
    0, /* default_interval_ms: the config's interval */
    0, /* min_interval_ms: none */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(ol_plugin)
