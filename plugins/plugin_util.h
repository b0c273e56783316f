/*
 * plugins/plugin_util.h - helpers shared by meterd's in-tree provider
 * plugins.  Header-only (static functions), built into each plugin; it uses
 * only the public SDK (meterd/plugin.h) and jansson, like any third-party
 * plugin could.  Every helper keeps "unknown is not zero": a value that is
 * missing, null, malformed, non-finite or negative yields MD_UNKNOWN.
 *
 * Ownership: json_t results are borrowed from the document passed in unless
 * a comment says "new reference"; strings returned are borrowed likewise.
 */
#ifndef METERD_PLUGIN_UTIL_H
#define METERD_PLUGIN_UTIL_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "meterd/plugin.h"

#if defined(__GNUC__)
#define PU_UNUSED __attribute__((unused))
#else
#define PU_UNUSED
#endif

#define PU_MAX_MESSAGE 300

/* ---- JSON access ---- */

/* Follow a dotted path ("rate_limit.primary_window.used_percent") through
 * objects; NULL when any step is missing or not an object. */
static PU_UNUSED json_t *pu_path(const json_t *root, const char *path)
{
    char key[128];
    const json_t *cur = root;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key || !json_is_object(cur))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return (json_t *)cur;
}

/* String member or NULL (also NULL when not a string). */
static PU_UNUSED const char *pu_str(const json_t *obj, const char *path)
{
    json_t *v = pu_path(obj, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A JSON number or numeric string ("18.42", "0E-10", " 5 ") as a finite
 * number; MD_UNKNOWN for null, missing, malformed, non-finite.  Negative
 * values are kept only when allow_negative is set. */
static PU_UNUSED md_num pu_num_ex(const md_host *h, const json_t *v,
                                  int allow_negative)
{
    md_num out = {MD_UNKNOWN, 0};
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else if (json_is_string(v)) {
        if (h->parse_number(json_string_value(v), &d) != 0)
            return out;
    } else
        return out;
    if (!isfinite(d) || (d < 0 && !allow_negative))
        return out;
    out.state = MD_KNOWN;
    out.value = d;
    return out;
}

/* Non-negative number at a dotted path (see pu_num_ex). */
static PU_UNUSED md_num pu_num(const md_host *h, const json_t *obj,
                               const char *path)
{
    return pu_num_ex(h, pu_path(obj, path), 0);
}

/* Boolean at a path: 1 true, 0 false, -1 missing or not a boolean. */
static PU_UNUSED int pu_bool(const json_t *obj, const char *path)
{
    json_t *v = pu_path(obj, path);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* A timestamp at a path: strings and numbers (number text is handed to the
 * dialect parser).  MD_UNKNOWN when missing, null or unparseable. */
static PU_UNUSED md_time pu_time(const md_host *h, md_ctx *ctx,
                                 const json_t *obj, const char *path,
                                 md_ts_dialect dialect)
{
    md_time out = {MD_UNKNOWN, 0};
    json_t *v = pu_path(obj, path);
    char buf[64];
    const char *text = NULL;
    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        text = buf;
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        text = buf;
    }
    if (text && h->parse_timestamp(ctx, text, dialect, &out) != 0)
        out.state = MD_UNKNOWN;
    return out;
}

/* ---- unit normalisation at the edge ---- */

/* 0-1 fraction -> 0-100 percent. */
static PU_UNUSED md_num pu_fraction_to_percent(md_num f)
{
    if (f.state == MD_KNOWN)
        f.value *= 100.0;
    return f;
}

/* Remaining share (0-100) -> used share (0-100). */
static PU_UNUSED md_num pu_remaining_to_used_percent(md_num r)
{
    if (r.state == MD_KNOWN)
        r.value = r.value >= 100.0 ? 0.0 : 100.0 - r.value;
    return r;
}

/* Minor currency units (cents) -> major units (dollars). */
static PU_UNUSED md_num pu_minor_to_major(md_num cents)
{
    if (cents.state == MD_KNOWN)
        cents.value /= 100.0;
    return cents;
}

/* Micro-units (micro-USD) -> major units. */
static PU_UNUSED md_num pu_micro_to_major(md_num micro)
{
    if (micro.state == MD_KNOWN)
        micro.value /= 1e6;
    return micro;
}

/* a + b when both known, else unknown. */
static PU_UNUSED md_num pu_add(md_num a, md_num b)
{
    if (a.state != MD_KNOWN || b.state != MD_KNOWN)
        return (md_num){MD_UNKNOWN, 0};
    return MD_NUM(a.value + b.value);
}

/* a - b when both known (clamped at 0), else unknown. */
static PU_UNUSED md_num pu_sub(md_num a, md_num b)
{
    if (a.state != MD_KNOWN || b.state != MD_KNOWN)
        return (md_num){MD_UNKNOWN, 0};
    return MD_NUM(a.value > b.value ? a.value - b.value : 0.0);
}

/* ---- token buckets (disjoint; seed 002) ---- */

typedef struct pu_tokens {
    md_num input_uncached; /* input not served from cache                */
    md_num cache_read;     /* input served from cache                    */
    md_num cache_write;    /* input written to cache                     */
    md_num output;         /* all output, reasoning included             */
    md_num reasoning;      /* subset of output, informational            */
    md_num total;          /* input_uncached + cache_read + cache_write
                              + output, when all are known               */
} pu_tokens;

/* OpenAI family: input counts cached input inside it, output counts
 * reasoning inside it; caching writes are not reported (not applicable). */
static PU_UNUSED pu_tokens pu_tokens_openai(md_num input_incl_cached,
                                            md_num cached,
                                            md_num output_incl_reasoning,
                                            md_num reasoning)
{
    pu_tokens t;
    t.input_uncached = pu_sub(input_incl_cached, cached);
    t.cache_read = cached;
    t.cache_write = MD_NUM_NA;
    t.output = output_incl_reasoning;
    t.reasoning = reasoning;
    t.total = pu_add(input_incl_cached, output_incl_reasoning);
    return t;
}

/* Anthropic family: input, cache reads, cache writes and output are
 * reported separately; reasoning is not broken out (unknown). */
static PU_UNUSED pu_tokens pu_tokens_anthropic(md_num input_uncached,
                                               md_num cache_read,
                                               md_num cache_write,
                                               md_num output)
{
    pu_tokens t;
    t.input_uncached = input_uncached;
    t.cache_read = cache_read;
    t.cache_write = cache_write;
    t.output = output;
    t.reasoning = (md_num){MD_UNKNOWN, 0};
    t.total = pu_add(pu_add(input_uncached, cache_read),
                     pu_add(cache_write, output));
    return t;
}

/* Emit the six buckets as usage metrics "tokens_<bucket>_<period>" (for
 * example tokens_output_today), unit "tokens". */
static PU_UNUSED void pu_emit_tokens(const md_host *h, md_ctx *ctx,
                                     const pu_tokens *t, const char *period,
                                     const char *period_label,
                                     md_confidence confidence)
{
    static const char *const names[] = {"input_uncached", "cache_read",
                                        "cache_write", "output", "reasoning",
                                        "total"};
    const md_num *vals[] = {&t->input_uncached, &t->cache_read,
                            &t->cache_write, &t->output, &t->reasoning,
                            &t->total};
    for (size_t i = 0; i < 6; i++) {
        char id[64], label[96];
        snprintf(id, sizeof id, "tokens_%s_%s", names[i], period);
        snprintf(label, sizeof label, "Tokens %s (%s)", names[i], period_label);
        md_metric m = {0};
        m.id = id;
        m.label = label;
        m.kind = "usage";
        m.unit = "tokens";
        m.used = *vals[i];
        m.confidence = confidence;
        MD_EMIT(h, ctx, &m);
    }
}

/* ---- HTTP ---- */

/* The provider's error message from a JSON or HTML error body, bounded:
 * error.message, error (string), message, detail, or an HTML <title>. */
static PU_UNUSED void pu_error_message(const md_http_response *r, char *out,
                                       size_t len)
{
    out[0] = '\0';
    if (!r->body || !r->body_len)
        return;
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *msg = NULL;
    if (j) {
        msg = pu_str(j, "error.message");
        if (!msg)
            msg = pu_str(j, "error");
        if (!msg)
            msg = pu_str(j, "message");
        if (!msg)
            msg = pu_str(j, "detail");
        if (msg)
            snprintf(out, len, "%s", msg);
        json_decref(j);
        if (msg)
            return;
    }
    const char *t = strstr(r->body, "<title>");
    if (t) {
        t += 7;
        const char *e = strstr(t, "</title>");
        size_t n = e ? (size_t)(e - t) : strlen(t);
        if (n >= len)
            n = len - 1;
        memcpy(out, t, n);
        out[n] = '\0';
    }
}

/* Fail the collection for a non-2xx response: 401/403 auth, 429
 * rate_limited (Retry-After honoured), other statuses http.  hint is
 * appended to auth failures (e.g. which command renews the token). */
static PU_UNUSED void pu_fail_status(const md_host *h, md_ctx *ctx,
                                     const md_http_response *r,
                                     const char *hint)
{
    char msg[PU_MAX_MESSAGE];
    pu_error_message(r, msg, sizeof msg);
    md_error cls = r->status == 401 || r->status == 403 ? MD_ERR_AUTH
                   : r->status == 429                    ? MD_ERR_RATE_LIMITED
                                                         : MD_ERR_HTTP;
    const char *ra = h->http_header(r, "retry-after");
    md_time when;
    if (ra && h->parse_timestamp(ctx, ra, MD_TS_AUTO, &when) == 0) {
        double wait = when.epoch - h->now(ctx);
        h->retry_after(ctx, wait > 0 ? wait : 0);
    }
    h->fail(ctx, cls, "HTTP %ld%s%s%s%s", r->status, msg[0] ? ": " : "", msg,
            cls == MD_ERR_AUTH && hint ? "; " : "",
            cls == MD_ERR_AUTH && hint ? hint : "");
}

/* GET url with headers (NULL-terminated "Name: value" list), expect a 2xx
 * JSON object.  On success returns 0 with *json (new reference) and, when
 * resp_out is not NULL, the response (caller frees with host->http_free);
 * the body is kept as the raw payload when keep_raw is set.  On any failure
 * the collection is failed with the right class and -1 is returned. */
static PU_UNUSED int pu_get_json(const md_host *h, md_ctx *ctx,
                                 const char *url, const char *const *headers,
                                 const char *auth_hint, int keep_raw,
                                 json_t **json, md_http_response **resp_out)
{
    md_http_request req = {0};
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    md_http_response *r = NULL;
    *json = NULL;
    if (resp_out)
        *resp_out = NULL;
    if (h->http(ctx, &req, &r) != 0) {
        h->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                "%s", r && r->error ? r->error : "request failed");
        h->http_free(r);
        return -1;
    }
    if (r->status < 200 || r->status > 299) {
        pu_fail_status(h, ctx, r, auth_hint);
        h->http_free(r);
        return -1;
    }
    json_error_t err;
    json_t *j = json_loadb(r->body, r->body_len, 0, &err);
    if (!j || !json_is_object(j)) {
        h->fail(ctx, MD_ERR_BAD_DATA, "%s: %s", url,
                j ? "expected a JSON object" : err.text);
        json_decref(j);
        h->http_free(r);
        return -1;
    }
    if (keep_raw)
        h->set_raw(ctx, r->body, r->body_len);
    *json = j;
    if (resp_out)
        *resp_out = r;
    else
        h->http_free(r);
    return 0;
}

/* The api_key option, registered as a secret; NULL after failing the
 * collection with auth ("no api_key configured: set api_key: HINT or
 * api_key_file") when it is unset or empty - no request is made then. */
static PU_UNUSED const char *pu_api_key(const md_host *h, md_ctx *ctx,
                                        const char *hint)
{
    const char *key = h->opt_str(ctx, "api_key");
    if (!key || !*key) {
        h->fail(ctx, MD_ERR_AUTH, "no api_key configured: set api_key: %s or "
                "api_key_file", hint);
        return NULL;
    }
    h->add_secret(ctx, key);
    return key;
}

/* "Authorization: Bearer TOKEN" as a malloc'd header, the token
 * registered as a secret first.  NULL on out-of-memory (the caller fails
 * the collection).  Release with pu_free_secret(). */
static PU_UNUSED char *pu_bearer(const md_host *h, md_ctx *ctx,
                                 const char *token)
{
    h->add_secret(ctx, token);
    size_t n = strlen(token) + sizeof "Authorization: Bearer ";
    char *hdr = malloc(n);
    if (hdr)
        snprintf(hdr, n, "Authorization: Bearer %s", token);
    return hdr;
}

/* Zero, then free, a string that held a secret (NULL is fine). */
static PU_UNUSED void pu_free_secret(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

/* base_url option joined with path ("https://x" + "/v1/y"), without a
 * doubled slash.  Caller frees. */
static PU_UNUSED char *pu_url(const md_host *h, md_ctx *ctx, const char *path)
{
    const char *base = h->opt_str(ctx, "base_url");
    if (!base)
        base = "";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t n = bl + strlen(path) + 2;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%.*s%s%s", (int)bl, base, path[0] == '/' ? "" : "/",
                 path);
    return u;
}

/* check(): base_url must be http(s). */
static PU_UNUSED int pu_check_base_url(const md_host *h, md_ctx *ctx)
{
    const char *b = h->opt_str(ctx, "base_url");
    if (b && strncmp(b, "http://", 7) != 0 && strncmp(b, "https://", 8) != 0) {
        h->fail(ctx, MD_ERR_CONFIG, "base_url must start with http:// or "
                "https://, got '%s'", b);
        return -1;
    }
    return 0;
}


/* pu_fail_status for providers that put their error text under another
 * key (z.ai and Zhipu use {"code", "msg", "success"}): the string at
 * msg_path is used when present, else whatever pu_error_message finds.
 * Classes and Retry-After as in pu_fail_status. */
static PU_UNUSED void pu_fail_status_path(const md_host *h, md_ctx *ctx,
                                          const md_http_response *r,
                                          const char *hint,
                                          const char *msg_path)
{
    json_t *j = r->body && r->body_len
                    ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const char *msg = pu_str(j, msg_path);
    if (!msg) {
        json_decref(j);
        pu_fail_status(h, ctx, r, hint);
        return;
    }
    /* Same response, body replaced by {"message": msg}. */
    json_t *alt = json_pack("{s:s}", "message", msg);
    char *text = alt ? json_dumps(alt, JSON_COMPACT) : NULL;
    md_http_response copy = *r;
    if (text) {
        copy.body = text;
        copy.body_len = strlen(text);
    }
    pu_fail_status(h, ctx, &copy, hint);
    free(text);
    json_decref(alt);
    json_decref(j);
}

/* GET url from a provider whose responses may carry rate-limit headers:
 * the headers of every response (errors too) become meters first; a
 * non-2xx fails through pu_fail_status_path (msg_path NULL: the usual
 * message keys); a 2xx must be a JSON object, kept as the raw payload and
 * returned in *json (new reference).  label names the request in messages
 * ("GET /v1/x").  Returns 0, or -1 after host->fail(). */
static PU_UNUSED int pu_get_json_rl(const md_host *h, md_ctx *ctx,
                                    const char *url, const char *label,
                                    const char *const *headers,
                                    const char *auth_hint,
                                    const char *msg_path, json_t **json)
{
    md_http_request req = {0};
    md_http_response *r = NULL;
    req.url = url;
    req.headers = headers;
    *json = NULL;
    if (h->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        h->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                "%s: %s", label, r && r->error ? r->error : "no response");
        if (r)
            h->http_free(r);
        return -1;
    }
    if (h->abi_minor >= 1 && h->emit_rate_limits)
        h->emit_rate_limits(ctx, (const char *const *)r->header_names,
                            (const char *const *)r->header_values,
                            r->n_headers, NULL, NULL);
    int rc = -1;
    if (r->status < 200 || r->status > 299) {
        if (msg_path)
            pu_fail_status_path(h, ctx, r, auth_hint, msg_path);
        else
            pu_fail_status(h, ctx, r, auth_hint);
    } else {
        json_error_t err;
        json_t *j = json_loadb(r->body, r->body_len, 0, &err);
        if (json_is_object(j)) {
            h->set_raw(ctx, r->body, r->body_len);
            *json = j;
            rc = 0;
        } else {
            h->fail(ctx, MD_ERR_BAD_DATA, "%s: %s", label,
                    j ? "expected a JSON object" : err.text);
            json_decref(j);
        }
    }
    h->http_free(r);
    return rc;
}

#endif
