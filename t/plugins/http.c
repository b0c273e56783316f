/*
 * http.c - a test plugin making one request with host->http():
 *   url, max_bytes (response cap), timeout_ms, token (secret, sent as a
 *   header and in the URL by the tests).
 * Emits "status" (used = status, limit = body length) and notes the
 * "X-Test" header; a transport failure becomes fail(error_class, error).
 */
#include <stdio.h>
#include <string.h>

#include "meterd/plugin.h"

static const md_option http_options[] = {
    {"url", MD_OPT_STRING, 1, NULL, "what to fetch"},
    {"max_bytes", MD_OPT_INT, 0, "0", "response cap"},
    {"timeout_ms", MD_OPT_INT, 0, "0", "request timeout"},
    {"token", MD_OPT_SECRET, 0, NULL, "sent as Authorization"},
    {0},
};

static int http_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    long long max = 0, timeout = 0;
    host->opt_int(ctx, "max_bytes", &max);
    host->opt_int(ctx, "timeout_ms", &timeout);
    char auth[256];
    const char *token = host->opt_str(ctx, "token");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s",
             token ? token : "none");
    const char *headers[] = {auth, NULL};
    md_http_request req = {0};
    req.url = host->opt_str(ctx, "url");
    req.headers = headers;
    req.max_response_bytes = (size_t)max;
    req.timeout_ms = (long)timeout;
    md_http_response *resp = NULL;
    int rc = host->http(ctx, &req, &resp);
    if (rc != 0) {
        host->fail(ctx, resp->error_class, "%s", resp->error);
        host->http_free(resp);
        return -1;
    }
    md_metric m = {0};
    m.id = "status";
    m.kind = "usage";
    m.used = MD_NUM(resp->status);
    m.limit = MD_NUM((double)resp->body_len);
    MD_EMIT(host, ctx, &m);
    const char *x = host->http_header(resp, "X-TEST");
    host->note(ctx, "x-test=%s", x ? x : "(absent)");
    host->note(ctx, "body=%.40s", resp->body);
    host->http_free(resp);
    return 0;
}

static const md_plugin http_plugin = {
    MD_PLUGIN_HEADER,
    .name = "http",
    .version = "1.0",
    .description = "one HTTP request",
    .default_source = "api",
    .options = http_options,
    .collect = http_collect,
};

MD_PLUGIN_DEFINE(http_plugin)
