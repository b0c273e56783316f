/* t/unit/plugin_openrouter.c - the openrouter plugin through the real host
 * (run_job) against t/mock/mockprov serving t/fixtures/openrouter. */
#include "tap.h"
#include "plugtest.h"

#include <time.h>

#define KEY "sk-or-v1-testkey0123456789abcdefWXYZ"

static const pt_suite suite = {
    .plugin = "openrouter",
    .fixtures = "t/fixtures/openrouter",
    .base_path = "/api/v1",
    .options = ", \"api_key\": \"" KEY "\"",
};

/* Start of the next UTC day / Monday / month from the wall clock. */
static double next_boundary(int what)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (what == 'd')
        tm.tm_mday++;
    else if (what == 'w')
        tm.tm_mday += 7 - (tm.tm_wday + 6) % 7;
    else {
        tm.tm_mday = 1;
        tm.tm_mon++;
    }
    return (double)timegm(&tm);
}

#define KEY_ROUTE(file) \
    "{\"path\": \"/api/v1/key\", \"body_file\": \"" file "\"}"
#define CREDITS_ROUTE(file) \
    "{\"path\": \"/api/v1/credits\", \"body_file\": \"" file "\"}"

/* ---- normal case (recorded payloads) ---- */

static void test_normal(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key.json") "," CREDITS_ROUTE("credits.json") "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    const metric *k = pt_need(&r, "key_limit");
    is_str(k->kind, "budget", "key_limit kind budget");
    is_str(k->unit, "usd", "key_limit unit usd");
    is_num(k->limit.value, 50, "key_limit limit 50 USD");
    is_num(k->remaining.value, 31.2241, "key_limit remaining 31.2241");
    is_num(k->used.value, 18.7759, "monthly limit: used = usage_monthly");
    is_num(k->utilization.value, 100 * 18.7759 / 50, "utilization derived");
    is_num(k->resets_at.epoch, next_boundary('m'), "monthly reset: 1st of next month UTC");
    ok(pt_unknown(k->window_seconds), "monthly window length unknown");
    is_num(pt_need(&r, "spend_today")->used.value, 1.0421, "spend_today");
    is_num(pt_need(&r, "spend_week")->used.value, 7.9934, "spend_week");
    is_num(pt_need(&r, "spend_month")->used.value, 18.7759, "spend_month");
    is_num(pt_need(&r, "spend_total")->used.value, 118.7759, "spend_total");
    is_str(pt_need(&r, "spend_total")->kind, "usage", "spend kind usage");
    const metric *b = pt_need(&r, "balance_usd");
    is_str(b->kind, "credits", "balance kind credits");
    is_num(b->remaining.value, 150.0 - 118.7759, "balance = total_credits - total_usage");
    is_num(b->limit.value, 150, "balance limit = total_credits");
    is_num(b->used.value, 118.7759, "balance used = total_usage");
    ok(!pt_has_note(&r, "did not report"), "no missing-meter note");
    ok(r.raw_json && strstr(r.raw_json, "total_credits") &&
           strstr(r.raw_json, "limit_remaining"), "raw holds both payloads");
    ok(pt_no_secret(&r, KEY), "normal: key not leaked");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 2, "two requests");
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "path")),
           "/api/v1/key", "first /key");
    is_str(json_string_value(json_object_get(json_array_get(req, 1), "path")),
           "/api/v1/credits", "then /credits");
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****WXYZ", "bearer auth with the key");
    json_decref(req);
    collect_result_clear(&r);
}

/* Legacy alias when /key is 404; limit null = unlimited; /credits refused. */
static void test_legacy_unlimited(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/auth/key\", \"body_file\": \"auth_key_legacy.json\"},"
           "{\"path\": \"/api/v1/credits\", \"status\": 403, \"body_file\": \"error_403.json\"}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "legacy: success after /key 404");
    const metric *k = pt_need(&r, "key_limit");
    is_int(k->limit.state, MD_NOT_APPLICABLE, "limit null -> not applicable");
    is_int(k->remaining.state, MD_NOT_APPLICABLE, "remaining not applicable");
    is_int(k->utilization.state, MD_NOT_APPLICABLE, "utilization not applicable");
    ok(pt_unknown(k->used), "no limit_reset: period usage unknown");
    ok(pt_unknown(k->resets_at), "no limit_reset: reset unknown");
    is_num(pt_need(&r, "spend_total")->used.value, 0.65017511, "spend_total from usage");
    ok(pt_unknown(pt_need(&r, "spend_today")->used), "spend_today unknown (not in legacy)");
    ok(pt_unknown(pt_need(&r, "spend_month")->used), "spend_month unknown");
    ok(pt_has_note(&r, "no spending limit"), "unlimited note");
    ok(pt_has_note(&r, "/credits refused with HTTP 403"), "credits refusal note");
    const metric *b = pt_metric(&r, "balance_usd");
    ok(b != NULL, "expected balance_usd still present");
    ok(b && pt_unknown(b->remaining) && pt_unknown(b->limit), "expected meter is unknown");
    ok(pt_has_note(&r, "balance_usd expected"), "expect_metric note");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 3, "key, auth/key, credits");
    json_decref(req);
    collect_result_clear(&r);
}

/* Numbers as strings; daily reset. */
static void test_strings(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key_strings.json") "," CREDITS_ROUTE("credits_strings.json") "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "strings: success");
    const metric *k = pt_need(&r, "key_limit");
    is_num(k->limit.value, 20, "string limit");
    is_num(k->remaining.value, 18.958, "string limit_remaining");
    is_num(k->used.value, 1.042, "daily: used = usage_daily");
    is_num(k->window_seconds.value, 86400, "daily window 86400 s");
    is_num(k->resets_at.epoch, next_boundary('d'), "daily reset: next UTC midnight");
    is_num(pt_need(&r, "spend_week")->used.value, 2.5, "string usage_weekly");
    is_num(pt_need(&r, "balance_usd")->remaining.value, 31.2241, "string credits");
    collect_result_clear(&r);
}

/* Missing and null fields stay unknown. */
static void test_missing(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key_missing.json") "," CREDITS_ROUTE("credits_null.json") "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "missing: success");
    const metric *k = pt_need(&r, "key_limit");
    is_num(k->limit.value, 25, "limit known");
    ok(pt_unknown(k->remaining), "limit_remaining missing -> unknown");
    ok(pt_unknown(k->used), "period usage unknown");
    ok(pt_unknown(k->utilization), "utilization unknown, not 0");
    ok(pt_unknown(pt_need(&r, "spend_today")->used), "usage_daily null -> unknown");
    ok(pt_unknown(pt_need(&r, "spend_total")->used), "usage missing -> unknown");
    const metric *b = pt_need(&r, "balance_usd");
    ok(pt_unknown(b->remaining) && pt_unknown(b->limit) && pt_unknown(b->used),
       "credits null/missing -> unknown");
    ok(pt_has_note(&r, "free tier"), "free tier note");
    collect_result_clear(&r);
}

/* Unknown keys ignored; weekly reset; BYOK note; overdrawn credits. */
static void test_unknown_keys(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key_unknown_keys.json") "," CREDITS_ROUTE("credits_overdrawn.json") "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "unknown keys: success");
    const metric *k = pt_need(&r, "key_limit");
    is_num(k->used.value, 40, "weekly: used = usage_weekly");
    is_num(k->window_seconds.value, 604800, "weekly window");
    is_num(k->resets_at.epoch, next_boundary('w'), "weekly reset: next Monday UTC");
    is_num(k->remaining.value, 60, "remaining");
    ok(pt_has_note(&r, "BYOK usage $12.5000 all-time (counted in"), "BYOK note");
    const metric *b = pt_need(&r, "balance_usd");
    is_num(b->remaining.value, 0, "overdrawn balance clamps at 0");
    ok(pt_has_note(&r, "overdrawn by $0.5000"), "overdrawn note");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[" KEY_ROUTE("key_odd_reset.json") "]");
    pt_go(&r, ", \"credits\": \"false\"");
    is_int(r.err, MD_ERR_NONE, "unknown limit_reset: success");
    k = pt_need(&r, "key_limit");
    is_num(k->used.value, 6, "unknown period: used = limit - limit_remaining");
    ok(pt_unknown(k->resets_at), "unknown period: reset unknown");
    is_num(k->remaining.value, 4, "remaining still reported");
    ok(pt_has_note(&r, "unknown limit_reset 'fortnightly'"), "unknown period note");
    ok(pt_metric(&r, "balance_usd") == NULL, "credits: false -> no balance meter");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 1, "credits: false -> only /key requested");
    json_decref(req);
    collect_result_clear(&r);
}

/* The cap counts BYOK spend (include_byok_in_limit): used follows
 * limit - limit_remaining, not the period usage. */
static void test_byok(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key_byok_in_limit.json") "]");
    pt_go(&r, ", \"credits\": \"false\"");
    is_int(r.err, MD_ERR_NONE, "byok: success");
    const metric *k = pt_need(&r, "key_limit");
    is_num(k->limit.value, 100, "byok: limit $100");
    is_num(k->remaining.value, 40, "byok: remaining $40");
    is_num(k->used.value, 60, "byok: used = limit - remaining = $60 (not usage_monthly $50)");
    is_num(k->utilization.value, 60, "byok: 60 % of the cap");
    is_str(k->unit, "usd", "byok: unit usd");
    is_num(pt_need(&r, "spend_month")->used.value, 50, "byok: spend_month stays the key's own usage");
    ok(!pt_has_note(&r, "unrecognised field"), "byok: no drift note");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[" KEY_ROUTE("key_byok_no_remaining.json") "]");
    pt_go(&r, ", \"credits\": \"false\"");
    k = pt_need(&r, "key_limit");
    is_num(k->used.value, 60, "byok without remaining: usage_monthly + byok_usage_monthly");
    collect_result_clear(&r);
}

static void test_drift(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key_drift.json") "]");
    pt_go(&r, ", \"credits\": \"false\"");
    is_int(r.err, MD_ERR_NONE, "drift: success");
    is_num(pt_need(&r, "key_limit")->used.value, 5, "drift: key_limit still read");
    ok(pt_has_note(&r, "unrecognised field data.usage_today (format may have changed)"),
       "drift: renamed usage_daily noted");
    ok(pt_has_note(&r, "unrecognised field data.spend_alerts (format may have changed)"),
       "drift: new member noted");
    ok(pt_has_note(&r, "unrecognised field data.usage_weekly (format may have changed)"),
       "drift: a non-numeric string noted");
    ok(r.raw_json && strstr(r.raw_json, "usage_today"), "drift: raw kept");
    collect_result_clear(&r);
}

/* Rate-limit headers on a successful response reach the core's parser. */
static void test_rate_limit_headers(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/key\", \"body_file\": \"key.json\", \"headers\": "
           "{\"X-RateLimit-Limit\": \"200\", \"X-RateLimit-Remaining\": \"150\", "
           "\"X-RateLimit-Reset\": \"4102444800000\"}}," CREDITS_ROUTE("credits.json") "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "headers: success");
    const metric *m = pt_metric(&r, "ratelimit_requests");
    ok(m != NULL, "ratelimit_requests from response headers");
    if (m) {
        is_num(m->limit.value, 200, "header limit");
        is_num(m->remaining.value, 150, "header remaining");
        is_num(m->resets_at.epoch, 4102444800.0, "header reset (epoch ms)");
        is_str(m->source, "headers", "source headers");
    } else {
        for (int i = 0; i < 4; i++)
            ok(0, "ratelimit_requests fields");
    }
    collect_result_clear(&r);
}

/* ---- errors ---- */


static void test_errors(void)
{
    pt_expect_error("[" "{\"path\": \"/api/v1/key\", \"status\": 401, \"body_file\": \"error_401.json\"}" "]",
              MD_ERR_AUTH, "HTTP 401: No auth credentials found; check api_key", KEY, "401");
    pt_expect_error("[" "{\"path\": \"/api/v1/key\", \"status\": 403, \"body_file\": \"error_403.json\"}" "]",
              MD_ERR_AUTH, "HTTP 403: Only management keys", KEY, "403");
    pt_expect_error("[" "{\"path\": \"/api/v1/key\", \"status\": 500, \"body_file\": \"error_500.json\"}" "]",
              MD_ERR_HTTP, "HTTP 500: Internal Server Error", KEY, "500");
    pt_expect_error("[" "{\"path\": \"/api/v1/key\", \"status\": 502, \"body_file\": \"error.html\"}" "]",
              MD_ERR_HTTP, "HTTP 502: 502 Bad Gateway", KEY, "HTML 502");
    pt_expect_error("[" KEY_ROUTE("error.html") "]", MD_ERR_BAD_DATA, "/key", KEY, "HTML with 200");
    pt_expect_error("[" KEY_ROUTE("truncated.json") "]", MD_ERR_BAD_DATA, "/key", KEY, "truncated JSON");
    pt_expect_error("[" KEY_ROUTE("not_object.json") "]", MD_ERR_BAD_DATA, "expected a JSON object", KEY,
              "array body");
    pt_expect_error("[" KEY_ROUTE("key.json") ", {\"path\": \"/api/v1/credits\", \"status\": 500, "
              "\"body_file\": \"error_500.json\"}" "]", MD_ERR_HTTP, "HTTP 500", KEY, "/credits 500");

    collect_result r;
    /* 429 with Retry-After */
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/key\", \"status\": 429, \"body_file\": \"error_429_plain.json\","
           " \"headers\": {\"Retry-After\": \"30\"}}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    ok(r.retry_after > 29.5 && r.retry_after <= 30, "429: Retry-After 30 s");
    ok(r.err_msg && strstr(r.err_msg, "Too many requests"), "429: provider message");
    collect_result_clear(&r);
    /* 429 without Retry-After and without body headers */
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/key\", \"status\": 429, \"body_file\": \"error_429_plain.json\"}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 bare: rate_limited");
    ok(r.retry_after < 0, "429 bare: no retry-after invented");
    collect_result_clear(&r);
    /* recorded 429: X-RateLimit-Reset (epoch ms) in the body, already past */
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/key\", \"status\": 429, \"body_file\": \"error_429.json\"}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 recorded: rate_limited");
    ok(r.err_msg && strstr(r.err_msg, "free-models-per-day"), "429 recorded: message");
    ok(r.retry_after >= 0 && r.retry_after < 1, "429 recorded: past body reset -> retry now");
    collect_result_clear(&r);
    /* body reset in the future, no Retry-After: wait until then */
    char body[512];
    double reset = (double)time(NULL) + 120;
    snprintf(body, sizeof body,
             "[{\"path\": \"/api/v1/key\", \"status\": 429, \"body\": {\"error\": {\"code\": 429,"
             " \"message\": \"slow down\", \"metadata\": {\"headers\": {\"X-RateLimit-Limit\": \"50\","
             " \"X-RateLimit-Remaining\": \"0\", \"X-RateLimit-Reset\": \"%.0f\"}}}}}]",
             reset * 1000);
    pt_mock_use(pt_port, body);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 body reset: rate_limited");
    ok(r.retry_after > 110 && r.retry_after <= 121, "429 body reset: retry-after from X-RateLimit-Reset");
    collect_result_clear(&r);
    /* transport: connection cut mid-body */
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/key\", \"body_file\": \"key.json\", \"truncate\": 20}]");
    pt_go(&r, NULL);
    ok(r.err == MD_ERR_NETWORK || r.err == MD_ERR_BAD_DATA, "cut connection: failure");
    collect_result_clear(&r);
}

static void test_config(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[" KEY_ROUTE("key.json") "]");
    pt_run("openrouter", &r, "{\"base_url\": \"http://127.0.0.1:%d/api/v1\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "no api_key: auth");
    ok(r.err_msg && strstr(r.err_msg, "OPENROUTER_API_KEY"), "no api_key: says how");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 0, "no api_key: no request made");
    json_decref(req);
    collect_result_clear(&r);

    pt_run("openrouter", &r, "{\"base_url\": \"ftp://127.0.0.1/\", \"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "ftp base_url: config error");
    collect_result_clear(&r);

    /* a provider error that echoes the key is masked */
    pt_mock_use(pt_port, "[{\"path\": \"/api/v1/key\", \"status\": 401, \"body\": {\"error\": {\"code\": 401,"
           " \"message\": \"Invalid key " KEY "\"}}}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_AUTH, "echoed key: auth");
    ok(pt_no_secret(&r, KEY), "echoed key: masked in err_msg");
    collect_result_clear(&r);
}

int main(void)
{
    if (!pt_start(&suite))
        return 0;
    test_normal();
    test_legacy_unlimited();
    test_strings();
    test_missing();
    test_unknown_keys();
    test_byok();
    test_drift();
    test_rate_limit_headers();
    test_errors();
    test_config();
    return pt_finish();
}
