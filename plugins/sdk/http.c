/*
 * plugins/sdk/http.c - provider URLs, HTTP error mapping and "GET a JSON
 * object" (meterd/util.h, "HTTP").  Every failure path fails the
 * collection through host->fail with the class the core documents (auth,
 * rate_limited, http, network, bad_data) before returning -1, so a plugin
 * never has to second-guess a class.  Responses are always released here
 * unless handed to the caller.
 */
#include "meterd/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mdu_url(const md_host *h, md_ctx *ctx, const char *path)
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

int mdu_check_base_url(const md_host *h, md_ctx *ctx)
{
    const char *b = h->opt_str(ctx, "base_url");
    if (b && strncmp(b, "http://", 7) != 0 && strncmp(b, "https://", 8) != 0) {
        h->fail(ctx, MD_ERR_CONFIG, "base_url must start with http:// or "
                "https://, got '%s'", b);
        return -1;
    }
    return 0;
}

void mdu_error_message(const md_http_response *r, char *out, size_t len)
{
    out[0] = '\0';
    if (!r->body || !r->body_len)
        return;
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *msg = NULL;
    if (j) {
        msg = mdu_str(j, "error.message");
        if (!msg)
            msg = mdu_str(j, "error");
        if (!msg)
            msg = mdu_str(j, "message");
        if (!msg)
            msg = mdu_str(j, "detail");
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

void mdu_fail_status(const md_host *h, md_ctx *ctx, const md_http_response *r,
                     const char *hint)
{
    char msg[MDU_MAX_MESSAGE];
    mdu_error_message(r, msg, sizeof msg);
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

void mdu_fail_status_path(const md_host *h, md_ctx *ctx,
                          const md_http_response *r, const char *hint,
                          const char *msg_path)
{
    json_t *j = r->body && r->body_len
                    ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const char *msg = mdu_str(j, msg_path);
    if (!msg) {
        json_decref(j);
        mdu_fail_status(h, ctx, r, hint);
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
    mdu_fail_status(h, ctx, &copy, hint);
    free(text);
    json_decref(alt);
    json_decref(j);
}

int mdu_get_json(const md_host *h, md_ctx *ctx, const char *url,
                 const char *const *headers, const char *auth_hint,
                 int keep_raw, json_t **json, md_http_response **resp_out)
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
        mdu_fail_status(h, ctx, r, auth_hint);
        h->http_free(r);
        return -1;
    }
    json_t *j = mdu_body_json(h, ctx, r, url);
    if (!j) {
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

int mdu_get_json_rl(const md_host *h, md_ctx *ctx, const char *url,
                    const char *label, const char *const *headers,
                    const char *auth_hint, const char *msg_path, json_t **json)
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
    mdu_emit_rate_limit_headers(h, ctx, r);
    int rc = -1;
    if (r->status < 200 || r->status > 299) {
        if (msg_path)
            mdu_fail_status_path(h, ctx, r, auth_hint, msg_path);
        else
            mdu_fail_status(h, ctx, r, auth_hint);
    } else {
        json_t *j = mdu_body_json(h, ctx, r, label);
        if (j) {
            h->set_raw(ctx, r->body, r->body_len);
            *json = j;
            rc = 0;
        }
    }
    h->http_free(r);
    return rc;
}

int mdu_get_bearer_json(const md_host *h, md_ctx *ctx, const char *path,
                        const char *token, const char *auth_hint,
                        const char *msg_path, json_t **json)
{
    char *auth = mdu_bearer(h, ctx, token);
    char *url = mdu_url(h, ctx, path);
    char *label = NULL;
    int rc = -1;
    *json = NULL;
    if (!auth || !url || asprintf(&label, "GET %s", path) < 0) {
        label = NULL;
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
    } else {
        const char *headers[] = {auth, "Accept: application/json", NULL};
        rc = mdu_get_json_rl(h, ctx, url, label, headers, auth_hint, msg_path,
                             json);
    }
    mdu_free_secret(auth);
    free(url);
    free(label);
    return rc;
}

void mdu_emit_rate_limit_headers(const md_host *h, md_ctx *ctx,
                                 const md_http_response *r)
{
    if (!r || !r->n_headers || h->abi_minor < 1 || !h->emit_rate_limits)
        return;
    h->emit_rate_limits(ctx, (const char *const *)r->header_names,
                        (const char *const *)r->header_values, r->n_headers,
                        NULL, NULL);
}

json_t *mdu_body_json(const md_host *h, md_ctx *ctx,
                      const md_http_response *r, const char *label)
{
    json_error_t err;
    json_t *j = r && r->body ? json_loadb(r->body, r->body_len, 0, &err)
                             : NULL;
    if (json_is_object(j))
        return j;
    h->fail(ctx, MD_ERR_BAD_DATA, "%s: %s", label,
            j ? "expected a JSON object"
              : r && r->body ? err.text : "empty response body");
    json_decref(j);
    return NULL;
}
