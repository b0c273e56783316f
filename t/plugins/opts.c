/*
 * opts.c - a test plugin with a typed option table and a check(): used by
 * the validation tests, and its collect() reports what the typed option
 * accessors returned so the host's parsing can be asserted.
 */
#include <string.h>
#include <sys/stat.h>

#include "meterd/plugin.h"

static const md_option opts_options[] = {
    {"api_url", MD_OPT_STRING, 1, NULL, "endpoint (required)"},
    {"retries", MD_OPT_INT, 0, "3", "attempts, at most 10"},
    {"verbose", MD_OPT_BOOL, 0, "no", "chatty"},
    {"period", MD_OPT_DURATION, 0, "1m", "how far back to look"},
    {"api_key", MD_OPT_SECRET, 0, NULL, "credential"},
    {"ratio", MD_OPT_NUMBER, 0, NULL, "a fraction"},
    {"tags", MD_OPT_LIST, 0, NULL, "labels"},
    {"extra", MD_OPT_MAP, 0, NULL, "headers"},
    {0},
};

static int opts_check(const md_host *host, md_ctx *ctx)
{
    long long retries = 0;
    const char *key = host->opt_str(ctx, "api_key");
    if (host->opt_int(ctx, "retries", &retries) == 0 && retries > 10) {
        host->fail(ctx, MD_ERR_CONFIG, "retries must be at most 10, got %lld",
                   retries);
        return -1;
    }
    if (key && strcmp(key, "reject-this-key") == 0) {
        host->fail(ctx, MD_ERR_CONFIG, "api_key %s is not accepted", key);
        return -1;
    }
    return 0;
}

static void emit(const md_host *host, md_ctx *ctx, const char *id, md_num v)
{
    md_metric m = {0};
    m.id = id;
    m.kind = "usage";
    m.used = v;
    MD_EMIT(host, ctx, &m);
}

static md_num known_if(int ok, double v)
{
    return ok ? MD_NUM(v) : (md_num){MD_UNKNOWN, 0};
}

static void emit_scalars(const md_host *host, md_ctx *ctx)
{
    long long retries = 0, period = 0;
    int verbose = 0;
    double ratio = 0, num = 0, bad = 0;
    /* evaluate before building arguments: argument order is unspecified */
    int ok_r = host->opt_int(ctx, "retries", &retries) == 0;
    int ok_p = host->opt_duration_ms(ctx, "period", &period) == 0;
    int ok_v = host->opt_bool(ctx, "verbose", &verbose) == 0;
    int ok_q = host->opt_number(ctx, "ratio", &ratio) == 0;
    int ok_n = host->parse_number(" 18.42 ", &num) == 0;
    int ok_b = host->parse_number("18.42x", &bad) == 0;
    emit(host, ctx, "retries", known_if(ok_r, (double)retries));
    emit(host, ctx, "period_ms", known_if(ok_p, (double)period));
    emit(host, ctx, "verbose", known_if(ok_v, verbose));
    emit(host, ctx, "ratio", known_if(ok_q, ratio));
    emit(host, ctx, "number", known_if(ok_n, num));
    emit(host, ctx, "bad_number", known_if(ok_b, bad));
    emit(host, ctx, "remaining_ms",
         MD_NUM(host->remaining_ms(ctx) > 0 ? 1 : 0));
}

static void emit_collections(const md_host *host, md_ctx *ctx)
{
    size_t n = 0;
    const char *const *tags = host->opt_list(ctx, "tags", &n);
    emit(host, ctx, "tags", known_if(tags != NULL, (double)n));
    for (size_t i = 0; i < n; i++)
        host->note(ctx, "tag %s", tags[i]);
    const char *const *keys, *const *values;
    int rc = host->opt_map(ctx, "extra", &keys, &values, &n);
    emit(host, ctx, "extra", known_if(rc == 0, (double)n));
    for (size_t i = 0; rc == 0 && i < n; i++)
        host->note(ctx, "extra %s=%s", keys[i], values[i]);
}

static void emit_state_and_time(const md_host *host, md_ctx *ctx)
{
    const char *dir = host->state_dir(ctx);
    struct stat st;
    int ok = dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
             (st.st_mode & 0777) == 0700;
    emit(host, ctx, "state_dir_ok", MD_NUM(ok));
    md_time t;
    md_metric m = {0};
    m.id = "resets";
    m.kind = "quota_window";
    if (host->parse_time("2026-03-10T14:00:00Z", &t) == 0)
        m.resets_at = t;
    m.collected_at = MD_TIME(1773151200.0);
    MD_EMIT(host, ctx, &m);
}

static int opts_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    emit_scalars(host, ctx);
    emit_collections(host, ctx);
    emit_state_and_time(host, ctx);
    return 0;
}

static int opts_init(const md_host *host, md_ctx *ctx, void **state)
{
    (void)host;
    (void)ctx;
    static int marker;
    *state = &marker;
    return 0;
}

static void opts_fini(const md_host *host, md_ctx *ctx, void *state)
{
    host->note(ctx, "fini saw the init state: %s",
               state ? "yes" : "no");
}

static const md_plugin opts_plugin = {
    MD_PLUGIN_HEADER,
    .name = "opts",
    .version = "1.0",
    .description = "typed options and check()",
    .default_source = "exec",
    .options = opts_options,
    .check = opts_check,
    .init = opts_init,
    .collect = opts_collect,
    .fini = opts_fini,
};

MD_PLUGIN_DEFINE(opts_plugin)
