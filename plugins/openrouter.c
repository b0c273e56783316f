/*
 * plugins/openrouter.c - OpenRouter API key cap, spend and account credits.
 *
 * Source (OpenRouter API reference):
 *   GET {base_url}/key      [P]  {"data": {"limit", "limit_remaining",
 *                                "limit_reset", "usage", "usage_daily",
 *                                "usage_weekly", "usage_monthly", ...}}
 *   GET {base_url}/auth/key [T]  legacy alias, older subset of fields; used
 *                                only when /key answers 404.
 *   GET {base_url}/credits  [P]  {"data": {"total_credits", "total_usage"}}
 *                                (docs say "management key required",
 *                                CodexBar calls it with a normal key [C]:
 *                                401/403/404 here is a note, not a failure)
 * Auth: "Authorization: Bearer <api_key>" (option api_key, MD_OPT_SECRET,
 * usually ${OPENROUTER_API_KEY} or api_key_file).  No key: auth error and
 * no request.
 *
 * Options: api_key, base_url (default https://openrouter.ai/api/v1),
 * credits (bool, default true: also query /credits).
 *
 * Mapping (all amounts USD, major units):
 *   key_limit    kind budget, unit usd: limit = data.limit,
 *                remaining = data.limit_remaining, used = limit -
 *                limit_remaining (what the cap has consumed: BYOK spend
 *                included when include_byok_in_limit is set); without
 *                both, the usage of the limit_reset period (daily ->
 *                usage_daily, weekly -> usage_weekly, monthly ->
 *                usage_monthly, null -> usage, all-time, never resets;
 *                plus byok_usage_<period> when include_byok_in_limit;
 *                missing -> unknown), resets_at = next UTC midnight /
 *                Monday / 1st of month (OpenRouter documents resets at
 *                midnight UTC, weeks Monday to Sunday), window_seconds 86400
 *                / 604800 for daily / weekly.  limit: null means the key is
 *                uncapped [P]: limit, remaining and utilization are then
 *                not applicable.  A missing limit is unknown.
 *   spend_today, spend_week, spend_month, spend_total
 *                kind usage, unit usd: usage_daily / _weekly / _monthly /
 *                usage.
 *   balance_usd  kind credits, unit usd: limit = total_credits,
 *                used = total_usage, remaining = total_credits - total_usage
 *                (clamped at 0).  Declared with expect_metric, so it shows
 *                as unknown with a note when /credits is refused.
 * Rate limits: every response's headers go to host->emit_rate_limits; a 429
 * body's error.metadata.headers (X-RateLimit-*, reset in epoch ms [T]) go
 * there too, and its reset becomes the retry-after when the response has
 * no Retry-After header.
 * Errors: {"error": {"code", "message"}} [T]; 401/403 auth, 429
 * rate_limited, other non-2xx http, unparseable body bad_data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meterd/util.h"


#define OR_DEFAULT_URL "https://openrouter.ai/api/v1"
#define OR_AUTH_HINT "check api_key (OPENROUTER_API_KEY)"

static const md_option or_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "OpenRouter API key, e.g. ${OPENROUTER_API_KEY} (or api_key_file)"},
    {"base_url", MD_OPT_STRING, 0, OR_DEFAULT_URL, "API base URL"},
    {"credits", MD_OPT_BOOL, 0, "true",
     "also query /credits for the account balance"},
    {0}
};

static int or_check(const md_host *host, md_ctx *ctx)
{
    return mdu_check_base_url(host, ctx);
}

/* ---- HTTP ---- */

static int has_rl(const md_host *h)
{
    return h->abi_minor >= 1 && h->emit_rate_limits;
}

/* The rate-limit headers OpenRouter embeds in a 429 body
 * (error.metadata.headers) go to the core's parser; when the response had
 * no Retry-After, the X-RateLimit-Reset (epoch ms) tells how long to wait. */
static void body_rate_limits(const md_host *h, md_ctx *ctx,
                             const md_http_response *r)
{
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *hdrs = mdu_path(doc, "error.metadata.headers");
    size_t n = json_is_object(hdrs) ? json_object_size(hdrs) : 0;
    const char **names = n ? calloc(n, sizeof *names) : NULL;
    const char **vals = n ? calloc(n, sizeof *vals) : NULL;
    const char *reset = NULL;
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(hdrs, key, v) {
        if (!names || !vals || !json_is_string(v))
            continue;
        names[k] = key;
        vals[k++] = json_string_value(v);
        if (strcasecmp(key, "x-ratelimit-reset") == 0)
            reset = json_string_value(v);
    }
    if (k && has_rl(h))
        h->emit_rate_limits(ctx, names, vals, k, NULL, NULL);
    md_time when;
    if (reset && !h->http_header(r, "retry-after") && h->abi_minor >= 1 &&
        h->parse_timestamp(ctx, reset, MD_TS_EPOCH_MS, &when) == 0) {
        double wait = when.epoch - h->now(ctx);
        h->retry_after(ctx, wait > 0 ? wait : 0);
    }
    free(names);
    free(vals);
    json_decref(doc);
}

enum { OR_OK = 0, OR_FAILED = -1, OR_REFUSED = -2 };
enum { OR_SOFT_404 = 1, OR_SOFT_AUTH = 2 };

/* GET path; *json gets the 2xx JSON object.  A 404 (with OR_SOFT_404) or a
 * 401/403 (with OR_SOFT_AUTH) returns OR_REFUSED (status in *status)
 * without failing the collection; anything else that is not a 2xx JSON
 * object fails it. */
static int or_get(const md_host *h, md_ctx *ctx, const char *path,
                  const char *auth, int soft, json_t **json, long *status)
{
    const char *headers[] = {auth, "Accept: application/json", NULL};
    md_http_request req = {0};
    md_http_response *r = NULL;
    char *url = mdu_url(h, ctx, path);
    *json = NULL;
    *status = 0;
    if (!url) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return OR_FAILED;
    }
    req.url = url;
    req.headers = headers;
    int rc = OR_FAILED;
    if (h->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        h->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                "GET %s: %s", path, r && r->error ? r->error : "no response");
        goto out;
    }
    *status = r->status;
    if (has_rl(h))
        h->emit_rate_limits(ctx, (const char *const *)r->header_names,
                            (const char *const *)r->header_values,
                            r->n_headers, NULL, NULL);
    if (((soft & OR_SOFT_404) && r->status == 404) ||
        ((soft & OR_SOFT_AUTH) && (r->status == 401 || r->status == 403))) {
        rc = OR_REFUSED;
        goto out;
    }
    if (r->status < 200 || r->status > 299) {
        if (r->status == 429)
            body_rate_limits(h, ctx, r);
        mdu_fail_status(h, ctx, r, OR_AUTH_HINT);
        goto out;
    }
    json_error_t err;
    json_t *j = json_loadb(r->body, r->body_len, 0, &err);
    if (!json_is_object(j)) {
        h->fail(ctx, MD_ERR_BAD_DATA, "GET %s: %s", path,
                j ? "expected a JSON object" : err.text);
        json_decref(j);
        goto out;
    }
    *json = j;
    rc = OR_OK;
out:
    if (r)
        h->http_free(r);
    free(url);
    return rc;
}

/* ---- /key ---- */

/* Start of the next UTC day, ISO week (Monday) or month after now. */
static md_time next_reset(const char *period, double now)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (strcmp(period, "daily") == 0)
        tm.tm_mday += 1;
    else if (strcmp(period, "weekly") == 0)
        tm.tm_mday += 7 - (tm.tm_wday + 6) % 7;   /* days to next Monday */
    else if (strcmp(period, "monthly") == 0) {
        tm.tm_mday = 1;
        tm.tm_mon += 1;
    } else
        return (md_time){MD_UNKNOWN, 0};
    return MD_TIME(timegm(&tm));   /* timegm normalises the overflow */
}

static void emit_spend(const md_host *h, md_ctx *ctx, const json_t *d,
                       const char *id, const char *label, const char *field)
{
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "usage";
    m.unit = "usd";
    m.used = mdu_num(h, d, field);
    MD_EMIT(h, ctx, &m);
}

/* The key's spending cap.  limit: null is "unlimited" [P], so the cap
 * fields are not applicable; a missing limit is merely unknown. */
static void emit_key_limit(const md_host *h, md_ctx *ctx, const json_t *d)
{
    md_metric m = {0};
    char label[64];
    json_t *lim = json_object_get(d, "limit");
    const char *reset = mdu_str(d, "limit_reset");
    m.id = "key_limit";
    m.kind = "budget";
    m.unit = "usd";
    snprintf(label, sizeof label, "OpenRouter key limit (%.32s)",
             reset ? reset : "no reset");
    m.label = label;
    if (json_is_null(lim)) {
        m.limit = m.remaining = m.utilization = MD_NUM_NA;
        h->note(ctx, "key has no spending limit");
    } else {
        m.limit = mdu_num(h, d, "limit");
        m.remaining = mdu_num(h, d, "limit_remaining");
    }
    if (json_is_null(json_object_get(d, "limit_reset"))) {
        m.used = mdu_num(h, d, "usage");   /* never resets: all-time usage */
        m.window_seconds = MD_NUM_NA;
        m.resets_at = MD_TIME_NA;
    } else if (reset) {
        static const char *const period[][2] = {{"daily", "usage_daily"},
                                                {"weekly", "usage_weekly"},
                                                {"monthly", "usage_monthly"}};
        for (size_t i = 0; i < 3; i++)
            if (strcmp(reset, period[i][0]) == 0)
                m.used = mdu_num(h, d, period[i][1]);
        m.resets_at = next_reset(reset, h->now(ctx));
        if (strcmp(reset, "daily") == 0)
            m.window_seconds = MD_NUM(86400);
        else if (strcmp(reset, "weekly") == 0)
            m.window_seconds = MD_NUM(604800);
        if (m.resets_at.state != MD_KNOWN)
            h->note(ctx, "unknown limit_reset '%.32s': period usage and "
                    "reset time unknown", reset);
    }
    /* What the cap has consumed is limit - limit_remaining (as OpenRouter's
     * own accounting): it counts BYOK spend when include_byok_in_limit is
     * set, and survives a limit changed mid-period.  Without both, the
     * period usage stands in, plus the period's BYOK usage when counted. */
    md_num spent = mdu_sub(m.limit, m.remaining);
    if (spent.state == MD_KNOWN) {
        m.used = spent;
    } else if (m.used.state == MD_KNOWN &&
               mdu_bool(d, "include_byok_in_limit") == 1 && reset) {
        char key[40];
        snprintf(key, sizeof key, "byok_usage_%.20s", reset);
        m.used = mdu_add(m.used, mdu_num(h, d, key));
    }
    MD_EMIT(h, ctx, &m);
}

/* Drift: members of data the plugin neither maps nor knowingly ignores. */
static void key_drift(mdu_drift *dr, const json_t *doc, const json_t *d)
{
    static const char *const top[] = {"data", NULL};
    static const char *const known[] = {"label", "limit", "limit_remaining",
        "limit_reset", "include_byok_in_limit", "usage", "usage_daily",
        "usage_weekly", "usage_monthly", "byok_usage", "byok_usage_daily",
        "byok_usage_weekly", "byok_usage_monthly", "is_free_tier",
        "is_management_key", "is_provisioning_key", "creator_user_id",
        "expires_at", "rate_limit", "hash", "name", "disabled",
        "created_at", "updated_at", NULL};
    static const char *const nums[] = {"limit", "limit_remaining", "usage",
        "usage_daily", "usage_weekly", "usage_monthly"};
    mdu_drift_keys(dr, doc, NULL, top);
    mdu_drift_keys(dr, d, "data", known);
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        mdu_drift_type(dr, d, "data", nums[i], MDU_DRIFT_NUM);
}

static void key_notes(const md_host *h, md_ctx *ctx, const json_t *d)
{
    md_num byok = mdu_num(h, d, "byok_usage");
    if (mdu_bool(d, "is_free_tier") == 1)
        h->note(ctx, "free tier key");
    if (byok.state == MD_KNOWN && byok.value > 0)
        h->note(ctx, "BYOK usage $%.4f all-time (%s the key limit)",
                byok.value, mdu_bool(d, "include_byok_in_limit") == 1
                                ? "counted in" : "not counted in");
    const char *exp = mdu_str(d, "expires_at");
    if (exp)
        h->note(ctx, "key expires at %.40s", exp);
}

static int collect_key(const md_host *h, md_ctx *ctx, const char *auth,
                       json_t **doc)
{
    long status;
    int rc = or_get(h, ctx, "/key", auth, OR_SOFT_404, doc, &status);
    if (rc == OR_REFUSED)   /* older deployments: the legacy alias */
        rc = or_get(h, ctx, "/auth/key", auth, 0, doc, &status);
    if (rc != OR_OK)
        return -1;
    json_t *d = json_object_get(*doc, "data");
    if (!json_is_object(d)) {
        h->fail(ctx, MD_ERR_BAD_DATA, "/key: no \"data\" object");
        return -1;
    }
    mdu_drift dr;
    mdu_drift_init(&dr, h, ctx);
    key_drift(&dr, *doc, d);
    mdu_drift_release(&dr, 1);
    emit_key_limit(h, ctx, d);
    emit_spend(h, ctx, d, "spend_today", "Spend today (UTC)", "usage_daily");
    emit_spend(h, ctx, d, "spend_week", "Spend this week (UTC)",
               "usage_weekly");
    emit_spend(h, ctx, d, "spend_month", "Spend this month (UTC)",
               "usage_monthly");
    emit_spend(h, ctx, d, "spend_total", "Spend all-time", "usage");
    key_notes(h, ctx, d);
    return 0;
}

/* ---- /credits ---- */

static int collect_credits(const md_host *h, md_ctx *ctx, const char *auth,
                           json_t **doc)
{
    long status;
    int rc = or_get(h, ctx, "/credits", auth, OR_SOFT_404 | OR_SOFT_AUTH,
                    doc, &status);
    if (rc == OR_REFUSED) {
        h->note(ctx, "/credits refused with HTTP %ld (it may need a "
                "management key); account balance unknown", status);
        return 0;
    }
    if (rc != OR_OK)
        return -1;
    json_t *d = json_object_get(*doc, "data");
    md_metric m = {0};
    m.id = "balance_usd";
    m.label = "OpenRouter credits (USD)";
    m.kind = "credits";
    m.unit = "usd";
    m.limit = mdu_num(h, d, "total_credits");
    m.used = mdu_num(h, d, "total_usage");
    m.remaining = mdu_sub(m.limit, m.used);
    if (m.limit.state == MD_KNOWN && m.used.state == MD_KNOWN &&
        m.used.value > m.limit.value)
        h->note(ctx, "credits overdrawn by $%.4f", m.used.value - m.limit.value);
    MD_EMIT(h, ctx, &m);
    return 0;
}

/* Both payloads as one raw document: {"key": ..., "credits": ...}. */
static void keep_raw(const md_host *h, md_ctx *ctx, json_t *key, json_t *cr)
{
    json_t *raw = json_object();
    json_object_set(raw, "key", key ? key : json_null());
    json_object_set(raw, "credits", cr ? cr : json_null());
    char *text = json_dumps(raw, JSON_COMPACT);
    if (text)
        h->set_raw(ctx, text, strlen(text));
    free(text);
    json_decref(raw);
}

static int or_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    if (or_check(h, ctx) != 0)
        return -1;
    const char *key = mdu_api_key(h, ctx, "${OPENROUTER_API_KEY}");
    if (!key)
        return -1;
    int credits = 1;
    if (h->opt_bool(ctx, "credits", &credits) != 0)
        credits = 1;
    if (credits && h->abi_minor >= 1 && h->expect_metric) {
        md_metric e = {0};
        e.id = "balance_usd";
        e.label = "OpenRouter credits (USD)";
        e.kind = "credits";
        e.unit = "usd";
        MD_EXPECT(h, ctx, &e, "balance_usd expected from /credits; "
                  "OpenRouter did not report it");
    }
    char *auth = mdu_bearer(h, ctx, key);
    if (!auth) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    json_t *kdoc = NULL, *cdoc = NULL;
    int rc = collect_key(h, ctx, auth, &kdoc);
    if (rc == 0 && credits)
        rc = collect_credits(h, ctx, auth, &cdoc);
    if (rc == 0)
        keep_raw(h, ctx, kdoc, cdoc);
    json_decref(kdoc);
    json_decref(cdoc);
    mdu_free_secret(auth);
    return rc;
}

static const md_plugin or_plugin = {
    MD_PLUGIN_HEADER,
    "openrouter",
    "0.1.0",
    "OpenRouter key limit, spend and account credits (/key, /credits)",
    "api",
    or_options,
    or_check,
    NULL,
    or_collect,
    NULL,
    0, /* default_interval_ms: the global interval */
    0, /* min_interval_ms */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(or_plugin)
