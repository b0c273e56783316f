/* t/unit/plugin_kimi_code.c - the kimi_code plugin through the real host
 * (run_job) against t/mock/mockprov serving t/fixtures/kimi_code. */
#include "tap.h"
#include "plugtest.h"

#include <sys/stat.h>

#define KEY "sk-kimi-testkey0123456789abcdJKLM"
#define PATH "/coding/v1/usages"
#define ROUTE(file) "[{\"path\": \"" PATH "\", \"body_file\": \"" file "\"}]"
#define EROUTE(status, file) "[{\"path\": \"" PATH "\", \"status\": " #status ", \"body_file\": \"" file "\"}]"
#define FIX "t/fixtures/kimi_code/"

static int port;

/* ---- helpers ---- */

static void run(collect_result *r, const char *extra)
{
    pt_run("kimi_code", r,
           "{\"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"" KEY
           "\"%s}", port, extra ? extra : "");
}

static void counts_are(const collect_result *r, const char *id, double limit,
                       double used, double remaining, double win, double reset,
                       const char *name)
{
    const metric *m = pt_need(r, id);
    char l[128];
    snprintf(l, sizeof l, "%s: %s limit", name, id);
    is_num(m->limit.value, limit, l);
    snprintf(l, sizeof l, "%s: %s used", name, id);
    is_num(m->used.value, used, l);
    snprintf(l, sizeof l, "%s: %s remaining", name, id);
    is_num(m->remaining.value, remaining, l);
    snprintf(l, sizeof l, "%s: %s utilization derived", name, id);
    is_num(m->utilization.value, 100.0 * used / limit, l);
    snprintf(l, sizeof l, "%s: %s window", name, id);
    is_num(m->window_seconds.value, win, l);
    snprintf(l, sizeof l, "%s: %s resets_at", name, id);
    ok(fabs(m->resets_at.epoch - reset) < 1e-3, l);
    snprintf(l, sizeof l, "%s: %s quota_window in requests", name, id);
    ok(m->kind && !strcmp(m->kind, "quota_window") && m->unit && !strcmp(m->unit, "requests"), l);
}

static void test_normal(void)
{
    collect_result r;
    pt_mock_use(port, ROUTE("usages.json"));
    run(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    counts_are(&r, "seven_day", 2048, 375, 1673, 604800, 1773674593.373329, "normal");
    counts_are(&r, "five_hour", 200, 19, 181, 18000, 1773158724.374187, "normal");
    is_int(r.n_metrics, 2, "two meters");
    ok(!pt_has_note(&r, "did not report"), "nothing missing");
    ok(pt_no_secret(&r, KEY), "key not leaked");
    json_t *req = pt_mock_requests(port);
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****JKLM", "bearer api_key");
    json_decref(req);
    collect_result_clear(&r);
}

static void test_variants(void)
{
    collect_result r;
    pt_mock_use(port, ROUTE("usages_numbers.json"));
    run(&r, ", \"plan\": \"Andante\"");
    is_int(r.err, MD_ERR_NONE, "numbers: success");
    const metric *w = pt_need(&r, "seven_day");
    is_num(w->limit.value, 2048, "numeric limit");
    is_num(w->remaining.value, 2048 - 375, "remaining derived by the core");
    is_num(w->resets_at.epoch, 1773674593, "resetAt spelling");
    const metric *f = pt_need(&r, "five_hour");
    is_num(f->window_seconds.value, 18000, "5 TIME_UNIT_HOUR = five_hour");
    ok(fabs(f->resets_at.epoch - 1773158724.374) < 1e-3, "reset_time spelling, +00:00");
    ok(pt_has_note(&r, "plan: Andante"), "plan note");
    collect_result_clear(&r);

    pt_mock_use(port, ROUTE("usages_nulls.json"));
    run(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "nulls: success");
    f = pt_need(&r, "five_hour");
    ok(pt_unknown(f->limit) && pt_unknown(f->remaining) && pt_unknown(f->utilization),
       "null limit: limit/remaining/utilization unknown, not 0");
    is_num(f->used.value, 19, "used still known");
    ok(pt_unknown(f->resets_at), "null reset unknown");
    w = pt_metric(&r, "seven_day");
    ok(w && pt_unknown(w->limit) && pt_unknown(w->used), "usage null: seven_day unknown");
    ok(pt_has_note(&r, "Kimi Code plans have seven_day; the provider did not report it"),
       "usage null: expect_metric note");
    ok(pt_has_note(&r, "limits[1] has no detail"), "null limits entry noted");
    collect_result_clear(&r);

    pt_mock_use(port, ROUTE("usages_unknown_keys.json"));
    run(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "unknown keys: success");
    counts_are(&r, "seven_day", 2048, 375, 1673, 604800, 1773674593.373329, "unknown keys");
    counts_are(&r, "five_hour", 200, 19, 181, 18000, 1773158724.374187, "unknown keys");
    const metric *d = pt_need(&r, "window_1440m");
    is_num(d->limit.value, 500, "daily window carried through");
    is_num(d->remaining.value, 460, "daily remaining derived");
    is_num(d->resets_at.epoch, 1773187200, "daily reset");
    const metric *u = pt_need(&r, "window_2");
    is_num(u->limit.value, 9, "unknown time unit carried through");
    ok(pt_unknown(u->window_seconds), "unknown time unit: window unknown");
    collect_result_clear(&r);
}

static void run_error(const char *route_json, md_error want, const char *msg,
                      const char *name)
{
    collect_result r;
    pt_mock_use(port, route_json);
    run(&r, NULL);
    char label[160];
    snprintf(label, sizeof label, "%s: error class", name);
    is_int(r.err, want, label);
    snprintf(label, sizeof label, "%s: message has '%s'", name, msg);
    ok(r.err_msg && strstr(r.err_msg, msg), label);
    if (r.err_msg && !strstr(r.err_msg, msg))
        printf("#   err_msg: %s\n", r.err_msg);
    snprintf(label, sizeof label, "%s: no metrics, no secret", name);
    ok(r.n_metrics == 0 && pt_no_secret(&r, KEY), label);
    collect_result_clear(&r);
}

static void test_errors(void)
{
    run_error(EROUTE(401, "error_401.json"), MD_ERR_AUTH,
              "HTTP 401: Invalid Authentication; sign in again", "401");
    run_error(EROUTE(403, "error_403.json"), MD_ERR_AUTH,
              "HTTP 403: Your subscription does not include Kimi Code", "403");
    run_error(EROUTE(500, "error_500.json"), MD_ERR_HTTP, "HTTP 500: internal error", "500");
    run_error(EROUTE(504, "error.html"), MD_ERR_HTTP, "HTTP 504: 504 Gateway Time-out", "HTML 504");
    run_error(ROUTE("error.html"), MD_ERR_BAD_DATA, PATH, "HTML with 200");
    run_error(ROUTE("truncated.json"), MD_ERR_BAD_DATA, PATH, "truncated JSON");
    collect_result r;
    pt_mock_use(port, "[{\"path\": \"" PATH "\", \"status\": 429, \"body_file\": \"error_429.json\","
           " \"headers\": {\"Retry-After\": \"90\"}}]");
    run(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    ok(r.retry_after > 89 && r.retry_after <= 90, "429: Retry-After 90");
    ok(r.err_msg && strstr(r.err_msg, "slow down"), "429: message");
    collect_result_clear(&r);
    pt_mock_use(port, EROUTE(429, "error_429.json"));
    run(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 bare: rate_limited");
    ok(r.retry_after < 0, "429 bare: no retry-after");
    collect_result_clear(&r);
}

/* The CLI's credential file, read-only. */
static void test_credentials_file(void)
{
    collect_result r;
    struct stat before, after;
    pt_mock_use(port, ROUTE("usages.json"));
    stat(FIX "credentials_valid.json", &before);
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_valid.json\"}", port);
    is_int(r.err, MD_ERR_NONE, "credentials file: success");
    json_t *req = pt_mock_requests(port);
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****5678", "token from the file");
    json_decref(req);
    stat(FIX "credentials_valid.json", &after);
    ok(before.st_mtime == after.st_mtime && before.st_size == after.st_size,
       "credentials file untouched");
    collect_result_clear(&r);

    pt_mock_use(port, ROUTE("usages.json"));
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_expired.json\"}", port);
    is_int(r.err, MD_ERR_AUTH, "expired token: auth");
    ok(r.err_msg && strstr(r.err_msg, "expired") && strstr(r.err_msg, "kimi login"),
       "expired token: says how to renew");
    ok(r.err_msg && !strstr(r.err_msg, "EXPIRED000011112222"), "expired token not shown");
    req = pt_mock_requests(port);
    is_int(json_array_size(req), 0, "expired token: no request");
    json_decref(req);
    collect_result_clear(&r);

    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_empty.json\"}", port);
    is_int(r.err, MD_ERR_AUTH, "file without token: auth");
    collect_result_clear(&r);

    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "does-not-exist.json\"}", port);
    is_int(r.err, MD_ERR_AUTH, "no key, no file: auth");
    ok(r.err_msg && strstr(r.err_msg, "no api_key"), "no key, no file: message");
    req = pt_mock_requests(port);
    is_int(json_array_size(req), 0, "no credentials: no request");
    json_decref(req);
    collect_result_clear(&r);

    /* a token echoed by the provider is masked (registered with add_secret) */
    pt_mock_use(port, "[{\"path\": \"" PATH "\", \"status\": 401, \"body\": {\"error\": {\"message\":"
           " \"bad token kimi-cli-token-ABCDEFGH12345678\"}}}]");
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_valid.json\"}", port);
    is_int(r.err, MD_ERR_AUTH, "echoed file token: auth");
    ok(r.err_msg && !strstr(r.err_msg, "ABCDEFGH12345678"), "echoed file token masked");
    collect_result_clear(&r);

    pt_run("kimi_code", &r, "{\"base_url\": \"gopher://x\", \"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "bad base_url: config");
    collect_result_clear(&r);
}

int main(void)
{
    pt_mock mock;
    port = pt_mock_start("t/fixtures/kimi_code", &mock);
    if (!port) {
        printf("1..0 # SKIP mock server did not start\n");
        return 0;
    }
    test_normal();
    test_variants();
    test_errors();
    test_credentials_file();
    pt_mock_stop(&mock);
    return done_testing();
}
