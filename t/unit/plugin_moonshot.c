/* t/unit/plugin_moonshot.c - the moonshot plugin through the real host
 * (run_job) against t/mock/mockprov serving t/fixtures/moonshot. */
#include "tap.h"
#include "plugtest.h"

#define KEY "sk-moonshot-testkey0123456789NOPQ"
#define PATH "/v1/users/me/balance"
#define ROUTE(file) "[{\"path\": \"" PATH "\", \"body_file\": \"" file "\"}]"
#define EROUTE(status, file) "[{\"path\": \"" PATH "\", \"status\": " #status ", \"body_file\": \"" file "\"}]"

static const pt_suite suite = {
    .plugin = "moonshot",
    .fixtures = "t/fixtures/moonshot",
    .options = ", \"api_key\": \"" KEY "\"",
};

static void test_balances(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("balance.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    const metric *m = pt_need(&r, "balance_usd");
    is_str(m->kind, "credits", "kind credits");
    is_str(m->unit, "usd", "unit usd for .ai");
    is_num(m->remaining.value, 49.58, "remaining = available_balance");
    ok(pt_unknown(m->used) && pt_unknown(m->limit), "used/limit unknown");
    ok(pt_has_note(&r, "available 49.5800 = voucher 50.0000 + cash -0.4200 (usd)"),
       "breakdown note with negative cash");
    ok(r.raw_json && strstr(r.raw_json, "available_balance"), "raw kept");
    ok(pt_no_secret(&r, KEY), "key not leaked");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 1, "one request");
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****NOPQ", "bearer auth");
    json_decref(req);
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("balance_strings.json"));
    pt_go(&r, ", \"currency\": \"CNY\"");
    is_int(r.err, MD_ERR_NONE, "strings: success");
    m = pt_need(&r, "balance_cny");
    is_num(m->remaining.value, 12.5, "string balance");
    is_str(m->unit, "cny", "currency option lower-cased");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("balance_nulls.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "nulls: success");
    ok(pt_unknown(pt_need(&r, "balance_usd")->remaining), "null balance unknown, not 0");
    ok(pt_has_note(&r, "available unknown = voucher 5.0000 + cash unknown"), "unknown in note");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("balance_unknown_keys.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "unknown keys: success");
    is_num(pt_need(&r, "balance_usd")->remaining.value, 7.25, "unknown keys ignored");
    is_int(r.n_metrics, 1, "one metric");
    collect_result_clear(&r);
}


static void test_errors(void)
{
    pt_expect_error(EROUTE(401, "error_401.json"), MD_ERR_AUTH,
              "HTTP 401: Invalid Authentication; check api_key", KEY, "401");
    pt_expect_error(EROUTE(403, "error_403.json"), MD_ERR_AUTH, "HTTP 403: permission denied", KEY, "403");
    pt_expect_error(EROUTE(500, "error_500.json"), MD_ERR_HTTP, "HTTP 500: server is busy", KEY, "500");
    pt_expect_error(EROUTE(500, "error.html"), MD_ERR_HTTP, "HTTP 500: 500 Internal Server Error", KEY, "HTML 500");
    pt_expect_error(ROUTE("error.html"), MD_ERR_BAD_DATA, PATH, KEY, "HTML with 200");
    pt_expect_error(ROUTE("truncated.json"), MD_ERR_BAD_DATA, PATH, KEY, "truncated JSON");
    pt_expect_error(ROUTE("body_error.json"), MD_ERR_HTTP, "Moonshot error code 5: account suspended", KEY,
              "status false on HTTP 200");
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"" PATH "\", \"status\": 429, \"body_file\": \"error_429.json\","
           " \"headers\": {\"Retry-After\": \"5\"}}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    ok(r.retry_after > 4 && r.retry_after <= 5, "429: Retry-After 5");
    collect_result_clear(&r);
    pt_mock_use(pt_port, EROUTE(429, "error_429.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 bare: rate_limited");
    ok(r.retry_after < 0, "429 bare: no retry-after");
    collect_result_clear(&r);
}

static void test_config(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("balance.json"));
    pt_run("moonshot", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "no api_key: auth");
    ok(r.err_msg && strstr(r.err_msg, "MOONSHOT_API_KEY"), "no api_key: says how");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 0, "no api_key: no request");
    json_decref(req);
    collect_result_clear(&r);
    pt_go(&r, ", \"currency\": \"u$d\"");
    is_int(r.err, MD_ERR_CONFIG, "bad currency: config");
    collect_result_clear(&r);
    pt_run("moonshot", &r, "{\"base_url\": \"api.moonshot.cn\", \"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "base_url without scheme: config");
    collect_result_clear(&r);
}

int main(void)
{
    if (!pt_start(&suite))
        return 0;
    test_balances();
    test_errors();
    test_config();
    return pt_finish();
}
