/* t/unit/plugin_kimi_code.c - the kimi_code plugin through the real host
 * (run_job) against t/mock/mockprov serving t/fixtures/kimi_code. */
#include "tap.h"
#include "plugtest.h"
#include "refreshtest.h"

#include <sys/stat.h>

#define KEY "sk-kimi-testkey0123456789abcdJKLM"
#define PATH "/coding/v1/usages"
#define ROUTE(file) "[{\"path\": \"" PATH "\", \"body_file\": \"" file "\"}]"
#define EROUTE(status, file) "[{\"path\": \"" PATH "\", \"status\": " #status ", \"body_file\": \"" file "\"}]"
#define FIX "t/fixtures/kimi_code/"

static const pt_suite suite = {
    .plugin = "kimi_code",
    .fixtures = "t/fixtures/kimi_code",
    .options = ", \"api_key\": \"" KEY "\"",
};

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
    pt_mock_use(pt_port, ROUTE("usages.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    counts_are(&r, "seven_day", 2048, 375, 1673, 604800, 1773674593.373329, "normal");
    counts_are(&r, "five_hour", 200, 19, 181, 18000, 1773158724.374187, "normal");
    is_int(r.n_metrics, 2, "two meters");
    ok(!pt_has_note(&r, "did not report"), "nothing missing");
    ok(pt_no_secret(&r, KEY), "key not leaked");
    json_t *req = pt_mock_requests(pt_port);
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****JKLM", "bearer api_key");
    json_decref(req);
    collect_result_clear(&r);
}

static void test_variants(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("usages_numbers.json"));
    pt_go(&r, ", \"plan\": \"Andante\"");
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

    pt_mock_use(pt_port, ROUTE("usages_nulls.json"));
    pt_go(&r, NULL);
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
    ok(pt_has_note(&r, "limits[1] is not an object"), "null limits entry noted");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("usages_unknown_keys.json"));
    pt_go(&r, NULL);
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

/* Payload variants the official kimi-cli parser reads. */
static void test_official_variants(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("usages_no_used.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "no used: success");
    const metric *w = pt_need(&r, "seven_day");
    is_num(w->limit.value, 100, "no used: limit 100");
    is_num(w->remaining.value, 1, "no used: remaining 1");
    is_num(w->used.value, 99, "no used: used = limit - remaining = 99");
    is_num(w->utilization.value, 99, "no used: 99 % (as the official CLI)");
    const metric *f = pt_need(&r, "five_hour");
    is_num(f->used.value, 100, "detail without remaining: used 100");
    is_num(f->remaining.value, 0, "detail without remaining: remaining derived 0");
    is_num(f->utilization.value, 100, "detail without remaining: 100 %");
    ok(fabs(f->resets_at.epoch - 1785834882.960866) < 1e-3, "detail reset");
    ok(pt_has_note(&r, "plan: LEVEL_INTERMEDIATE"), "plan from user.membership.level");
    ok(!pt_has_note(&r, "unrecognised field"), "no used: no drift note");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("usages_inline.json"));
    pt_go(&r, NULL);
    double now = (double)time(NULL);
    is_int(r.err, MD_ERR_NONE, "inline: success");
    f = pt_need(&r, "five_hour");
    is_num(f->limit.value, 100, "inline: limit from the entry");
    is_num(f->used.value, 20, "inline: used from the entry");
    is_num(f->remaining.value, 80, "inline: remaining derived");
    is_num(f->window_seconds.value, 18000, "inline: window from the entry");
    ok(fabs(f->resets_at.epoch - (now + 3600)) < 10, "inline: reset_in is seconds from now");
    ok(!pt_has_note(&r, "skipped"), "inline: not skipped");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("usages_ratio.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "ratio pool: success");
    f = pt_need(&r, "five_hour");
    is_num(f->utilization.value, 42, "ratio pool: 5 h 0.42 -> 42 %");
    is_str(f->unit, "percent", "ratio pool: unit percent");
    is_num(f->resets_at.epoch, 1785834000, "ratio pool: reset_time");
    is_num(pt_need(&r, "seven_day")->utilization.value, 10, "ratio pool: 7 d 10 %");
    is_num(pt_need(&r, "month_total")->utilization.value, 30, "ratio pool: month 30 %");
    ok(!pt_has_note(&r, "did not report"), "ratio pool: set complete");
    collect_result_clear(&r);
}

static void test_drift(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("usages_drift.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "drift: success");
    const metric *w = pt_need(&r, "seven_day");
    is_num(w->used.value, 50, "drift: used derived from limit - remaining despite the rename");
    ok(pt_has_note(&r, "unrecognised field usage.consumed (format may have changed)"),
       "drift: renamed field noted");
    ok(pt_has_note(&r, "unrecognised field limits[].detail.boost (format may have changed)"),
       "drift: new detail member noted");
    ok(pt_has_note(&r, "unrecognised field announcement (format may have changed)"),
       "drift: new top-level member noted");
    ok(r.raw_json && strstr(r.raw_json, "consumed"), "drift: raw kept");
    collect_result_clear(&r);
}


static void test_errors(void)
{
    pt_expect_error(EROUTE(401, "error_401.json"), MD_ERR_AUTH,
              "HTTP 401: Invalid Authentication; sign in again", KEY, "401");
    pt_expect_error(EROUTE(403, "error_403.json"), MD_ERR_AUTH,
              "HTTP 403: Your subscription does not include Kimi Code", KEY, "403");
    pt_expect_error(EROUTE(500, "error_500.json"), MD_ERR_HTTP, "HTTP 500: internal error", KEY, "500");
    pt_expect_error(EROUTE(504, "error.html"), MD_ERR_HTTP, "HTTP 504: 504 Gateway Time-out", KEY, "HTML 504");
    pt_expect_error(ROUTE("error.html"), MD_ERR_BAD_DATA, PATH, KEY, "HTML with 200");
    pt_expect_error(ROUTE("truncated.json"), MD_ERR_BAD_DATA, PATH, KEY, "truncated JSON");
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"" PATH "\", \"status\": 429, \"body_file\": \"error_429.json\","
           " \"headers\": {\"Retry-After\": \"90\"}}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    ok(r.retry_after > 89 && r.retry_after <= 90, "429: Retry-After 90");
    ok(r.err_msg && strstr(r.err_msg, "slow down"), "429: message");
    collect_result_clear(&r);
    pt_mock_use(pt_port, EROUTE(429, "error_429.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 bare: rate_limited");
    ok(r.retry_after < 0, "429 bare: no retry-after");
    collect_result_clear(&r);
}

/* The CLI's credential file, read-only. */
static void test_credentials_file(void)
{
    collect_result r;
    struct stat before, after;
    pt_mock_use(pt_port, ROUTE("usages.json"));
    stat(FIX "credentials_valid.json", &before);
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_valid.json\"}", pt_port);
    is_int(r.err, MD_ERR_NONE, "credentials file: success");
    json_t *req = pt_mock_requests(pt_port);
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****5678", "token from the file");
    json_decref(req);
    stat(FIX "credentials_valid.json", &after);
    ok(before.st_mtime == after.st_mtime && before.st_size == after.st_size,
       "credentials file untouched");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("usages.json"));
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"refresh\": \"off\", "
           "\"credentials_file\": \"" FIX "credentials_expired.json\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "expired token: auth");
    ok(r.err_msg && strstr(r.err_msg, "expired") && strstr(r.err_msg, "kimi login"),
       "expired token: says how to renew");
    ok(r.err_msg && !strstr(r.err_msg, "EXPIRED000011112222"), "expired token not shown");
    req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 0, "expired token: no request");
    json_decref(req);
    collect_result_clear(&r);

    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_empty.json\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "file without token: auth");
    collect_result_clear(&r);

    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "does-not-exist.json\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "no key, no file: auth");
    ok(r.err_msg && strstr(r.err_msg, "no api_key"), "no key, no file: message");
    req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 0, "no credentials: no request");
    json_decref(req);
    collect_result_clear(&r);

    /* a token echoed by the provider is masked (registered with add_secret) */
    pt_mock_use(pt_port, "[{\"path\": \"" PATH "\", \"status\": 401, \"body\": {\"error\": {\"message\":"
           " \"bad token kimi-cli-token-ABCDEFGH12345678\"}}}]");
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"credentials_file\": \""
           FIX "credentials_valid.json\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "echoed file token: auth");
    ok(r.err_msg && !strstr(r.err_msg, "ABCDEFGH12345678"), "echoed file token masked");
    collect_result_clear(&r);

    /* default locations: $KIMI_SHARE_DIR, then ~/.kimi/credentials */
    char home[] = "/tmp/meterd-kc-home-XXXXXX";
    ok(mkdtemp(home) != NULL, "temp HOME");
    char *cmd = xasprintf("mkdir -p %s/.kimi/credentials %s/share/credentials && "
                          "cp " FIX "credentials_valid.json %s/.kimi/credentials/kimi-code.json",
                          home, home, home);
    ok(system(cmd) == 0, "~/.kimi/credentials/kimi-code.json in place");
    free(cmd);
    const char *old = getenv("HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("HOME", home, 1);
    pt_mock_use(pt_port, ROUTE("usages.json"));
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", pt_port);
    is_int(r.err, MD_ERR_NONE, "~/.kimi/credentials: success");
    collect_result_clear(&r);
    char *share = xasprintf("%s/share", home);
    setenv("KIMI_SHARE_DIR", share, 1);
    pt_mock_use(pt_port, ROUTE("usages.json"));
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", pt_port);
    ok(r.err == MD_ERR_NONE, "KIMI_SHARE_DIR without a file: the next place is used");
    collect_result_clear(&r);
    cmd = xasprintf("cp " FIX "credentials_expired.json %s/credentials/kimi-code.json", share);
    ok(system(cmd) == 0, "KIMI_SHARE_DIR file in place");
    free(cmd);
    pt_run("kimi_code", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"refresh\": \"off\"}",
           pt_port);
    is_int(r.err, MD_ERR_AUTH, "KIMI_SHARE_DIR comes first (its token is expired)");
    collect_result_clear(&r);
    unsetenv("KIMI_SHARE_DIR");
    free(share);
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);
    cmd = xasprintf("rm -rf '%s'", home);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", home);
    free(cmd);

    pt_run("kimi_code", &r, "{\"base_url\": \"gopher://x\", \"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "bad base_url: config");
    collect_result_clear(&r);
}

/* Refresh of an expiring token, written back under the Kimi CLI's lock
 * (mdu_oauth_refresh). */
static void test_refresh(void)
{
    static const char *const body[] = {
        "client_id=17e5f671-d194-4dfb-9706-5516cb48c098",
        "grant_type=refresh_token", "refresh_token=kimi-refresh-YYYY", NULL};
    char fixdir[PATH_MAX];
    if (!realpath("t/fixtures/kimi_code", fixdir))
        return;
    rt_case c = {
        .plugin = "kimi_code",
        .fixdir = fixdir,
        .expired = "credentials_cli_expired.json",
        .fresh = "credentials_valid.json",
        .fresh_auth = "Bearer ****5678",
        .file_name = "kimi-code.json",
        .lock_name = "kimi-code.lock",
        .base_path = "",
        .usage_routes = "{\"path\": \"/coding/v1/usages\", "
                        "\"body_file\": \"usages.json\"}",
        .token_path = "/api/oauth/token",
        .token_reply = "{\"access_token\": \"kimi-NEW-access-token-NEWK\", "
                       "\"refresh_token\": \"kimi-ROTATED-refresh-2\", "
                       "\"expires_in\": 900, \"scope\": \"kimi-code\", "
                       "\"token_type\": \"Bearer\"}",
        .new_access = "kimi-NEW-access-token-NEWK",
        .new_auth = "Bearer ****NEWK",
        .body_has = body,
        .content_type = "application/x-www-form-urlencoded",
        .kept_key = "\"scope\": \"kimi-code\"",
        .lifetime = "about 10-15 minutes",
        .renew = "run `kimi login`",
    };
    rt_all(pt_port, &c);
}

int main(void)
{
    if (!pt_start(&suite))
        return 0;
    test_normal();
    test_variants();
    test_official_variants();
    test_drift();
    test_errors();
    test_credentials_file();
    test_refresh();
    return pt_finish();
}
