/* t/unit/plugin_deepseek.c - the deepseek plugin (plugins/deepseek.so)
 * through the real host (run_job, as the helper process runs it) against
 * t/mock/mockprov serving the fixtures in t/fixtures/deepseek/. */
#include "tap.h"
#include "plugtest.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define KEY "sk-testkey0123456789wxyz"

/* One collection against the mock with api_key KEY (a secret option) and
 * a 10 s deadline: pt_go(r, extra), extra more JSON members
 * (", \"currency\": \"cny\"") or NULL. */
static const pt_suite suite = {
    .plugin = "deepseek",
    .fixtures = "t/fixtures/deepseek",
    .options = ", \"api_key\": \"" KEY "\"",
    .timeout_ms = 10000,
};

/* ---- the mock server ---- */

/* Replace the routes and clear the request log. */
static void route_file(const char *file, int status, const char *headers)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "[{\"method\": \"GET\", \"path\": \"/user/balance\", \"status\": %d, "
             "\"body_file\": \"%s\", \"headers\": %s}]",
             status, file, headers ? headers : "{}");
    pt_mock_use(pt_port, buf);
}

/* ---- running the plugin ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static int has(const char *s, const char *needle)
{
    int yes = s && strstr(s, needle);
    if (!yes) printf("#   '%s' does not contain '%s'\n", s ? s : "(null)", needle);
    return yes;
}

/* The fixture as the host stores a raw payload: parsed, then compact. */
static char *compact_fixture(const char *path)
{
    json_t *j = json_load_file(path, JSON_DECODE_ANY, NULL);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return s;
}

/* ---- tests ---- */

static void test_descriptor(void)
{
    loaded_plugin lp;
    if (pt_plugin_open("deepseek", &lp) != 0) {
        ok(0, "load plugins/deepseek.so");
        return;
    }
    const md_plugin *d = lp.desc;
    is_str(d->name, "deepseek", "name");
    is_str(d->default_source, "api", "default_source api");
    int key_ok = 0, url_default = 0;
    for (const md_option *o = d->options; o->name; o++) {
        if (strcmp(o->name, "api_key") == 0) key_ok = o->type == MD_OPT_SECRET && !o->required;
        if (strcmp(o->name, "base_url") == 0)
            url_default = o->default_value && strcmp(o->default_value, "https://api.deepseek.com") == 0;
    }
    ok(key_ok, "api_key is an optional SECRET");
    ok(url_default, "base_url defaults to https://api.deepseek.com");
    plugin_close(&lp);
}

/* Option validation as `meterd -t` and the daemon do it (option table,
 * then the plugin's check()). */
static void test_check(void)
{
    char *d = NULL;
    ok(pt_validate("deepseek", &d, "{\"base_url\": \"ftp://example.org\"}") == 1,
       "check: ftp:// base_url rejected");
    ok(has(d, "provider 'deepseek': ") && has(d, "base_url"),
       "check: reported as a config problem naming base_url");
    free(d);
    is_int((int)pt_validate("deepseek", &d, "{\"base_url\": \"http://127.0.0.1:1\"}"), 0,
           "check: http:// base_url accepted");
    free(d);
    ok(pt_validate("deepseek", &d, "{\"base_url\": \"http://127.0.0.1:1\", "
                                   "\"currency\": \"U$D\"}") == 1,
       "check: bad currency rejected");
    free(d);
}

static void test_no_key(void)
{
    route_file("balance_ok.json", 200, NULL);
    collect_result r;
    pt_run_ms("deepseek", 10000, &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", pt_port);
    ok(r.err != MD_ERR_NONE, "no api_key: failure");
    is_int(r.err, MD_ERR_AUTH, "no api_key: auth");
    ok(has(r.err_msg, "no api_key configured"), "no api_key: message");
    collect_result_clear(&r);
    pt_run_ms("deepseek", 10000, &r,
              "{\"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"\"}", pt_port);
    ok(r.err != MD_ERR_NONE, "empty api_key: failure");
    is_int(r.err, MD_ERR_AUTH, "empty api_key: auth");
    collect_result_clear(&r);
    json_t *log = pt_mock_requests(pt_port);
    is_int(json_array_size(log), 0, "no api_key: the mock saw no request");
    json_decref(log);
}

static void test_ok(void)
{
    route_file("balance_ok.json", 200, NULL);
    collect_result r;
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "balance_ok: success");
    is_int(r.n_metrics, 2, "balance_ok: two metrics");
    const metric *u = pt_metric(&r, "balance_usd");
    const metric *y = pt_metric(&r, "balance_cny");
    ok(u && y, "balance_usd and balance_cny emitted");
    if (u) {
        ok(u->remaining.state == MD_KNOWN, "usd remaining known");
        is_num(u->remaining.value, 18.42, "usd remaining 18.42");
        ok(u->limit.state == MD_UNKNOWN, "usd limit unknown (not 0)");
        ok(u->used.state == MD_UNKNOWN, "usd used unknown (not 0)");
        ok(u->utilization.state == MD_UNKNOWN, "usd utilization unknown");
        ok(u->resets_at.state == MD_UNKNOWN, "usd resets_at unknown");
        is_str(u->unit, "usd", "usd unit");
        is_str(u->kind, "credits", "kind credits");
        is_str(u->label, "DeepSeek balance (USD)", "usd label");
        is_int(u->confidence, MD_EXACT, "exact");
    }
    if (y) {
        is_num(y->remaining.value, 110, "cny remaining 110");
        is_str(y->unit, "cny", "cny unit");
        ok(y->limit.state == MD_UNKNOWN && y->used.state == MD_UNKNOWN, "cny limit/used unknown");
    }
    ok(pt_has_note(&r, "USD balance 18.42 = granted 0.00 + topped up 18.42"), "usd split note");
    ok(pt_has_note(&r, "CNY balance 110.00 = granted 10.00 + topped up 100.00"), "cny split note");
    ok(!pt_has_note(&r, "is_available=false"), "no availability note when available");
    char *want = compact_fixture("t/fixtures/deepseek/balance_ok.json");
    ok(want != NULL, "balance_ok.json parses");
    is_str(r.raw_json, want, "raw is the response body");
    free(want);
    ok(pt_no_secret(&r, KEY), "key not in the result");
    json_t *log = pt_mock_requests(pt_port);
    json_t *e = json_array_get(log, 0);
    is_int(json_array_size(log), 1, "one request");
    is_str(json_string_value(json_object_get(e, "method")), "GET", "GET");
    is_str(json_string_value(json_object_get(e, "path")), "/user/balance", "path /user/balance");
    is_str(json_string_value(json_object_get(e, "authorization")), "Bearer ****wxyz",
           "Authorization: Bearer <key> sent");
    is_str(json_string_value(json_object_get(e, "accept")), "application/json", "Accept header");
    json_decref(log);
    collect_result_clear(&r);

    /* trailing slash on base_url is tolerated */
    pt_run_ms("deepseek", 10000, &r,
              "{\"base_url\": \"http://127.0.0.1:%d/\", \"api_key\": \"" KEY "\"}", pt_port);
    is_int(r.err, MD_ERR_NONE, "base_url with trailing slash: success");
    collect_result_clear(&r);
}

static void test_currency(void)
{
    route_file("balance_ok.json", 200, NULL);
    collect_result r;
    pt_go(&r, ", \"currency\": \"cny\"");
    is_int(r.err, MD_ERR_NONE, "currency cny: success");
    is_int(r.n_metrics, 1, "currency cny: one metric");
    ok(pt_metric(&r, "balance_cny") != NULL, "currency cny: balance_cny");
    collect_result_clear(&r);
    pt_go(&r, ", \"currency\": \"EUR\"");
    is_int(r.err, MD_ERR_NONE, "currency EUR: success");
    is_int(r.n_metrics, 0, "currency EUR: no metric");
    ok(pt_has_note(&r, "no EUR balance reported"), "currency EUR: noted");
    collect_result_clear(&r);
}

static void test_shapes(void)
{
    collect_result r;
    route_file("balance_unavailable.json", 200, NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "unavailable: success");
    ok(pt_has_note(&r, "cannot pay for API calls (is_available=false)"), "unavailable: noted");
    const metric *m = pt_metric(&r, "balance_usd");
    ok(m && m->remaining.state == MD_KNOWN && m->remaining.value == 0,
       "unavailable: a reported 0 is a known 0");
    collect_result_clear(&r);

    route_file("balance_empty.json", 200, NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "empty: success");
    is_int(r.n_metrics, 0, "empty: no metrics");
    ok(pt_has_note(&r, "no balance reported"), "empty: noted");
    collect_result_clear(&r);

    route_file("balance_strings_odd.json", 200, NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "odd strings: success");
    is_int(r.n_metrics, 3, "odd strings: three metrics");
    m = pt_metric(&r, "balance_usd");
    ok(m && m->remaining.state == MD_KNOWN, "odd: usd \" 5.0\" known");
    if (m) is_num(m->remaining.value, 5.0, "odd: usd 5");
    m = pt_metric(&r, "balance_cny");
    if (m) is_num(m->remaining.value, 12.5, "odd: cny JSON number 12.5");
    else ok(0, "odd: cny present");
    m = pt_metric(&r, "balance_eur");
    ok(m && m->remaining.state == MD_KNOWN && m->remaining.value == 0, "odd: eur \"0E-10\" is 0");
    ok(pt_has_note(&r, "CNY balance 12.5 = granted 0E-10 + topped up 12.5"), "odd: note text");
    collect_result_clear(&r);

    route_file("balance_missing_fields.json", 200, NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "missing fields: success");
    is_int(r.n_metrics, 2, "missing fields: entry without currency skipped");
    m = pt_metric(&r, "balance_usd");
    ok(m && m->remaining.state == MD_UNKNOWN, "missing total_balance: remaining unknown");
    m = pt_metric(&r, "balance_cny");
    ok(m && m->remaining.state == MD_UNKNOWN, "non-numeric total_balance: unknown");
    ok(pt_has_note(&r, "balance_infos[1]: no usable currency"), "skipped entry noted");
    ok(pt_has_note(&r, "CNY balance unknown = granted unknown + topped up 7.00"),
       "missing split parts say unknown");
    ok(!pt_has_note(&r, "is_available"), "missing is_available: no claim either way");
    collect_result_clear(&r);

    route_file("truncated.json", 200, NULL);
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "truncated: failure");
    is_int(r.err, MD_ERR_BAD_DATA, "truncated: bad_data");
    is_int(r.n_metrics, 0, "truncated: nothing emitted");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"/user/balance\", \"body\": [1, 2]}]");
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "array body: failure");
    is_int(r.err, MD_ERR_BAD_DATA, "array body: bad_data");
    ok(has(r.err_msg, "not a JSON object"), "array body: message");
    collect_result_clear(&r);
}

static void test_errors(void)
{
    collect_result r;
    route_file("error_401.json", 401, NULL);
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "401: failure");
    is_int(r.err, MD_ERR_AUTH, "401: auth");
    ok(has(r.err_msg, "HTTP 401: Authentication Fails"), "401: provider message");
    ok(r.err_msg && pt_no_secret(&r, KEY), "401: key not echoed");
    collect_result_clear(&r);

    route_file("error_401.json", 403, NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_AUTH, "403: auth");
    collect_result_clear(&r);

    route_file("error_429.json", 429, "{\"Retry-After\": \"2\"}");
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "429: failure");
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    is_num(r.retry_after, 2, "429: retry_after 2");
    ok(has(r.err_msg, "Rate limit reached"), "429: message");
    collect_result_clear(&r);

    /* Retry-After as an HTTP-date two minutes ahead */
    char hdr[128], date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdr, sizeof hdr, "{\"Retry-After\": \"%s\"}", date);
    route_file("error_429.json", 429, hdr);
    pt_go(&r, NULL);
    ok(r.retry_after > 110 && r.retry_after <= 121, "429: HTTP-date Retry-After ~120 s");
    collect_result_clear(&r);

    route_file("error_500.html", 500, NULL);
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "500 html: failure");
    is_int(r.err, MD_ERR_HTTP, "500 html: http");
    is_str(r.err_msg, "HTTP 500: 500 Internal Server Error", "500 html: title quoted");
    collect_result_clear(&r);

    /* 503 once, then 200: exercises the mock's times and the plugin */
    pt_mock_use(pt_port, "[{\"path\": \"/user/balance\", \"status\": 503, \"times\": 1, "
           "\"body\": {\"error\": {\"message\": \"Server overloaded\"}}},"
           " {\"path\": \"/user/balance\", \"body_file\": \"balance_ok.json\"}]");
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "503: failure");
    is_str(r.err_msg, "HTTP 503: Server overloaded", "503: message");
    is_int(r.err, MD_ERR_HTTP, "503: http");
    collect_result_clear(&r);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "then 200: success");
    collect_result_clear(&r);

    /* Key-like tokens in the provider's message are masked by the plugin
     * itself: sk-otherkey99887766 is no configured secret, so the host
     * cannot know it (the host masks the configured api_key as well). */
    pt_mock_use(pt_port, "[{\"path\": \"/user/balance\", \"status\": 401, \"body\": {\"error\": "
           "{\"message\": \"bad key sk-plainkey0123456789abcd, try sk-otherkey99887766\"}}}]");
    pt_run_ms("deepseek", 10000, &r,
              "{\"base_url\": \"http://127.0.0.1:%d\", "
              "\"api_key\": \"sk-plainkey0123456789abcd\"}", pt_port);
    ok(r.err_msg && pt_no_secret(&r, "sk-plainkey0123456789abcd") &&
       pt_no_secret(&r, "sk-otherkey99887766"), "key-like tokens masked");
    ok(has(r.err_msg, "abcd") && has(r.err_msg, "7766"), "masked tokens keep last 4");
    collect_result_clear(&r);
}

static void test_transport(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"/user/balance\", \"body_file\": \"balance_ok.json\", \"truncate\": 40}]");
    pt_go(&r, NULL);
    ok(r.err != MD_ERR_NONE, "connection cut: failure");
    is_int(r.err, MD_ERR_NETWORK, "connection cut: network (from the host)");
    ok(has(r.err_msg, "/user/balance failed"), "connection cut: message names the request");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"/user/balance\", \"hang\": true}]");
    long long t0 = now_ms();
    pt_run_ms("deepseek", 1500, &r,
              "{\"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"" KEY "\"}", pt_port);
    ok(r.err != MD_ERR_NONE, "hang: failure");
    is_int(r.err, MD_ERR_TIMEOUT, "hang: timeout");
    ok(now_ms() - t0 < 5000, "hang: bounded by the deadline");
    collect_result_clear(&r);

    pt_run_ms("deepseek", 5000, &r,
              "{\"base_url\": \"http://127.0.0.1:1\", \"api_key\": \"" KEY "\"}");
    ok(r.err != MD_ERR_NONE, "refused: failure");
    is_int(r.err, MD_ERR_NETWORK, "refused: network");
    collect_result_clear(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_descriptor();
    test_check();
    if (!pt_start(&suite)) {
        ok(0, "start t/mock/mockprov");
    } else {
        test_no_key();
        test_ok();
        test_currency();
        test_shapes();
        test_errors();
        test_transport();
    }
    curl_global_cleanup();
    return pt_finish();
}
