/*
 * t/unit/plugin_gemini.c - the gemini plugin through the real host against
 * the mock provider (t/fixtures/gemini).  Expected figures: the recorded
 * payloads (remainingFraction is the REMAINING share).
 */
#include <limits.h>

#include "tap.h"
#include "plugtest.h"
#include "refreshtest.h"

#define QUOTA_PATH "/v1internal:retrieveUserQuota"
#define LOAD_PATH "/v1internal:loadCodeAssist"
#define LOAD_ROUTE(status, file) "{\"method\": \"POST\", \"path\": \"" LOAD_PATH "\", " \
    "\"status\": " #status ", \"body_file\": \"" file "\"}"
#define RESET_0311 1773212400.0 /* 2026-03-11T07:00:00Z */

static int port;
static char fixdir[PATH_MAX];

/* ---- mock helpers ---- */

static void reset_log(void) { pt_mock_post(port, "/_mock/reset", ""); }

static size_t n_requests(void)
{
    json_t *l = pt_mock_requests(port);
    size_t n = json_array_size(l);
    json_decref(l);
    return n;
}

/* One POST route for the quota endpoint, after loadCodeAssist (the
 * project discovery) answering with a project. */
static void route(int status, const char *file, const char *headers)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "[" LOAD_ROUTE(200, "load_code_assist.json") ", "
             "{\"method\": \"POST\", \"path\": \"" QUOTA_PATH "\", "
             "\"status\": %d, \"body_file\": \"%s\", \"headers\": %s}]",
             status, file, headers ? headers : "{}");
    pt_mock_routes(port, buf);
    reset_log();
}

/* Run with a credentials fixture (NULL: option unset) and extra options
 * (a JSON fragment starting with a comma, or ""). */
static void run(collect_result *r, const char *creds, const char *extra)
{
    char credopt[PATH_MAX + 64] = "";
    if (creds)
        snprintf(credopt, sizeof credopt, ", \"credentials_file\": \"%s/%s\"",
                 fixdir, creds);
    pt_run("gemini", r,
           "{\"base_url\": \"http://127.0.0.1:%d\", \"settings_file\": "
           "\"/nonexistent/settings.json\"%s%s}",
           port, credopt, extra);
}

/* No token from the credentials file may leak anywhere. */
static int leaks(const collect_result *r)
{
    static const char *const s[] = {"ya29.EXAMPLE", "1//0EXAMPLE",
                                    "eyJhbGciOiJSUzI1NiJ9"};
    for (size_t i = 0; i < 3; i++) {
        if (r->err_msg && strstr(r->err_msg, s[i]))
            return 1;
        if (r->raw_json && strstr(r->raw_json, s[i]))
            return 1;
        for (size_t k = 0; k < r->n_notes; k++)
            if (strstr(r->notes[k], s[i]))
                return 1;
    }
    return 0;
}

static int count_id(const collect_result *r, const char *id)
{
    int n = 0;
    for (size_t i = 0; i < r->n_metrics; i++)
        n += strcmp(r->metrics[i].id, id) == 0;
    return n;
}

/* ---- tests ---- */

static void test_ok(void)
{
    collect_result r;
    route(200, "quota_ok.json", NULL);
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_NONE, "ok: success");
    is_int(r.n_metrics, 3, "ok: one metric per model");
    const metric *pro = pt_metric(&r, "gemini-2.5-pro");
    const metric *fl = pt_metric(&r, "gemini-2.5-flash");
    const metric *f2 = pt_metric(&r, "gemini-2.0-flash");
    ok(pro && fl && f2, "ok: the three models");
    if (pro && fl && f2) {
        ok(pt_known(pro->utilization), "pro: utilization known");
        is_num(pro->utilization.value, 15.8, "pro: (1 - 0.842) * 100 = 15.8");
        is_num(fl->utilization.value, 3.0, "flash: (1 - 0.97) * 100 = 3");
        is_str(pro->kind, "quota_window", "pro: kind quota_window");
        is_str(pro->unit, "percent", "pro: unit percent");
        is_str(pro->label, "Gemini gemini-2.5-pro (REQUESTS)", "pro: label");
        is_str(pro->source, "oauth", "pro: source oauth");
        ok(pro->resets_at.state == MD_KNOWN, "pro: resets_at known");
        is_num(pro->resets_at.epoch, RESET_0311, "pro: resets 2026-03-11T07:00Z");
        ok(pt_unknown(pro->used) && pt_unknown(pro->limit) &&
           pt_unknown(pro->remaining) && pt_unknown(pro->window_seconds),
           "pro: used/limit/remaining/window unknown, not 0");
        ok(pt_unknown(f2->utilization), "2.0-flash without fraction: unknown, not 0%");
        is_num(f2->resets_at.epoch, RESET_0311, "2.0-flash: resets_at still kept");
    }
    ok(pt_has_note(&r, "gemini-2.0-flash: no remainingFraction reported"),
       "ok: missing fraction noted");
    ok(r.raw_json && strstr(r.raw_json, "gemini-2.5-pro"), "ok: raw payload kept");
    ok(!leaks(&r), "ok: no token in notes/raw");
    json_t *log = pt_mock_requests(port);
    json_t *e = json_array_get(log, 1);
    is_int(json_array_size(log), 2, "ok: loadCodeAssist, then the quota");
    is_str(json_string_value(json_object_get(json_array_get(log, 0), "path")), LOAD_PATH,
           "ok: the project is discovered first (project option unset)");
    is_str(json_string_value(json_object_get(e, "method")), "POST", "ok: POST");
    is_str(json_string_value(json_object_get(e, "path")), QUOTA_PATH, "ok: path");
    is_str(json_string_value(json_object_get(e, "body")), "{\"project\":\"proj-meterd-4711\"}",
           "ok: the discovered project is sent");
    ok(pt_has_note(&r, "tier: standard-tier"), "ok: tier from loadCodeAssist noted");
    is_str(json_string_value(json_object_get(e, "authorization")),
           "Bearer ****oken", "ok: bearer token from the credentials file");
    json_decref(log);
    collect_result_clear(&r);
}

/* Project discovery: option wins; {id} object form; a failing discovery
 * (not 401/403) still asks, without a project, and says so. */
static void test_project(void)
{
    collect_result r;
    route(200, "quota_ok.json", NULL);
    run(&r, "creds_ok.json", ", \"project\": \"opt-proj\"");
    json_t *log = pt_mock_requests(port);
    is_int(json_array_size(log), 1, "project option: no discovery");
    is_str(json_string_value(json_object_get(json_array_get(log, 0), "body")),
           "{\"project\":\"opt-proj\"}", "project option: sent");
    json_decref(log);
    collect_result_clear(&r);

    pt_mock_routes(port, "[" LOAD_ROUTE(200, "load_code_assist_object.json") ", "
                   "{\"method\": \"POST\", \"path\": \"" QUOTA_PATH "\", \"body_file\": \"quota_ok.json\"}]");
    reset_log();
    run(&r, "creds_ok.json", "");
    log = pt_mock_requests(port);
    is_str(json_string_value(json_object_get(json_array_get(log, 1), "body")),
           "{\"project\":\"proj-object-0815\"}", "cloudaicompanionProject {id}");
    json_decref(log);
    collect_result_clear(&r);

    pt_mock_routes(port, "[" LOAD_ROUTE(500, "error_500.json") ", "
                   "{\"method\": \"POST\", \"path\": \"" QUOTA_PATH "\", \"body_file\": \"quota_ok.json\"}]");
    reset_log();
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_NONE, "discovery 500: the quota is still asked");
    ok(pt_has_note(&r, "could not discover the Code Assist project"), "discovery 500: noted");
    log = pt_mock_requests(port);
    is_str(json_string_value(json_object_get(json_array_get(log, 1), "body")), "{}",
           "discovery 500: sent without a project");
    json_decref(log);
    collect_result_clear(&r);

    /* the consumer-tier shutdown, on discovery or on the quota call */
    pt_mock_routes(port, "[" LOAD_ROUTE(403, "error_403_unsupported_client.json") "]");
    reset_log();
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_AUTH, "UNSUPPORTED_CLIENT: auth");
    ok(r.err_msg && strstr(r.err_msg, "Gemini CLI access for this account type has ended") &&
       strstr(r.err_msg, "personal Google accounts"), "UNSUPPORTED_CLIENT: says why");
    is_int(n_requests(), 1, "UNSUPPORTED_CLIENT: no quota request after it");
    collect_result_clear(&r);
    route(403, "error_403_license.json", NULL);
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_AUTH, "no valid license: auth");
    ok(r.err_msg && strstr(r.err_msg, "valid license") &&
       strstr(r.err_msg, "Code Assist Standard or Enterprise"), "no valid license: says what to use");
    collect_result_clear(&r);
}

/* remainingAmount gives remaining, limit and used (as the Gemini CLI). */
static void test_remaining_amount(void)
{
    collect_result r;
    route(200, "quota_remaining_amount.json", NULL);
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_NONE, "remainingAmount: success");
    const metric *m = pt_metric(&r, "gemini-2.5-flash");
    ok(m != NULL, "remainingAmount: model present");
    if (m) {
        is_num(m->remaining.value, 500, "remainingAmount: remaining 500");
        is_num(m->limit.value, 1000, "remainingAmount: limit = 500 / 0.5");
        is_num(m->used.value, 500, "remainingAmount: used 500");
        is_num(m->utilization.value, 50, "remainingAmount: 50 %");
        is_str(m->unit, "requests", "remainingAmount: unit from tokenType");
        is_num(m->resets_at.epoch, 1769770371, "remainingAmount: reset");
    }
    ok(!pt_has_note(&r, "unrecognised field"), "remainingAmount: no drift note");
    collect_result_clear(&r);
}

static void test_drift(void)
{
    collect_result r;
    route(200, "quota_drift.json", NULL);
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_NONE, "drift: success");
    const metric *m = pt_metric(&r, "gemini-2.5-pro");
    ok(m && pt_unknown(m->utilization) && m->resets_at.epoch == RESET_0311,
       "drift: the renamed fraction is unknown, the reset still read");
    ok(pt_has_note(&r, "unrecognised field buckets[].remainingRatio (format may have changed)"),
       "drift: renamed field noted");
    ok(pt_has_note(&r, "unrecognised field buckets[].quotaTier (format may have changed)"),
       "drift: new bucket member noted");
    ok(pt_has_note(&r, "unrecognised field nextPageToken (format may have changed)"),
       "drift: new top-level member noted");
    ok(r.raw_json && strstr(r.raw_json, "remainingRatio"), "drift: raw kept");
    collect_result_clear(&r);
}

static void test_strings_and_unknown_keys(void)
{
    collect_result r;
    route(200, "quota_strings_unknown_keys.json", NULL);
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_NONE, "strings: success");
    is_int(r.n_metrics, 5, "strings: five models (non-object bucket skipped)");
    const metric *pro = pt_metric(&r, "gemini-2.5-pro");
    ok(pro && pt_known(pro->utilization), "strings: pro known");
    if (pro) {
        is_num(pro->utilization.value, 75.0, "strings: lowest fraction 0.25 governs -> 75");
        ok(fabs(pro->resets_at.epoch - (RESET_0311 + 0.123456789)) < 1e-3,
           "strings: reset of the governing bucket (ns fraction)");
        is_str(pro->label, "Gemini gemini-2.5-pro (REQUESTS)", "strings: its tokenType");
    }
    const metric *u = pt_metric(&r, "gemini_3_ultra_preview");
    ok(u && pt_known(u->utilization) && u->utilization.value == 0.0,
       "strings: id sanitised; fraction 1 -> known 0%");
    const metric *lite = pt_metric(&r, "gemini-2.5-flash-lite");
    ok(lite && pt_known(lite->utilization) && lite->utilization.value == 100.0,
       "strings: fraction 0 -> 100%");
    const metric *odd = pt_metric(&r, "gemini-odd-scale");
    ok(odd && pt_unknown(odd->utilization), "strings: fraction 84.2 out of 0..1 -> unknown");
    ok(pt_has_note(&r, "outside 0..1"), "strings: out-of-range fraction noted");
    const metric *b = pt_metric(&r, "bucket_5");
    ok(b && b->utilization.value == 50.0, "strings: bucket without modelId carried through");
    is_str(b ? b->label : NULL, "Gemini bucket_5 (REQUESTS)", "strings: its label names the bucket");
    collect_result_clear(&r);
}

static void test_nulls_and_empty(void)
{
    collect_result r;
    route(200, "quota_nulls.json", NULL);
    run(&r, "creds_ok.json", "");
    is_int(r.err, MD_ERR_NONE, "nulls: success");
    const metric *pro = pt_metric(&r, "gemini-2.5-pro");
    const metric *fl = pt_metric(&r, "gemini-2.5-flash");
    ok(pro && pt_unknown(pro->utilization) && pro->resets_at.state == MD_UNKNOWN,
       "nulls: null fraction and reset stay unknown");
    ok(fl && pt_unknown(fl->utilization) && fl->resets_at.state == MD_UNKNOWN,
       "nulls: non-numeric fraction and bad reset stay unknown");
    collect_result_clear(&r);

    static const char *const empty[] = {"quota_empty.json", "quota_missing.json",
                                        "quota_buckets_null.json"};
    for (size_t i = 0; i < 3; i++) {
        route(200, empty[i], NULL);
        run(&r, "creds_ok.json", "");
        char name[128];
        snprintf(name, sizeof name, "%s: success, no metrics, noted", empty[i]);
        ok(r.err == MD_ERR_NONE && r.n_metrics == 0 &&
           pt_has_note(&r, "no quota buckets reported"), name);
        collect_result_clear(&r);
    }
}

static void test_meter_set(void)
{
    collect_result r;
    route(200, "quota_ok.json", NULL);
    run(&r, "creds_ok.json", ", \"plan\": \"standard-tier\", \"expect_models\": "
        "[\"gemini-2.5-pro\", \"gemini-3-pro\"]");
    is_int(r.err, MD_ERR_NONE, "meter set: success");
    const metric *m = pt_metric(&r, "gemini-3-pro");
    ok(m != NULL, "meter set: expected but unreported model appears");
    if (m) {
        ok(pt_unknown(m->utilization) && m->resets_at.state == MD_UNKNOWN,
           "meter set: with unknown values");
        is_str(m->kind, "quota_window", "meter set: kind quota_window");
    }
    ok(pt_has_note(&r, "expected model gemini-3-pro"), "meter set: noted");
    is_int(count_id(&r, "gemini-2.5-pro"), 1, "meter set: reported model not duplicated");
    ok(!pt_has_note(&r, "expected model gemini-2.5-pro"), "meter set: no note for a reported one");
    ok(pt_has_note(&r, "plan: standard-tier"), "meter set: plan noted");
    collect_result_clear(&r);
}

static void test_rate_limit_headers(void)
{
    collect_result r;
    route(200, "quota_ok.json",
          "{\"x-ratelimit-limit-requests\": \"60\", "
          "\"x-ratelimit-remaining-requests\": \"45\", "
          "\"x-ratelimit-reset-requests\": \"6m0s\"}");
    run(&r, "creds_ok.json", "");
    const metric *m = pt_metric(&r, "ratelimit_requests");
    ok(m != NULL, "headers: rate-limit headers become a metric");
    if (m) {
        is_num(m->limit.value, 60, "headers: limit 60");
        is_num(m->remaining.value, 45, "headers: remaining 45");
        is_str(m->source, "headers", "headers: source headers");
    }
    collect_result_clear(&r);
}

/* status, fixture, headers, expected class, text in the message, retry */
static void error_case(int status, const char *file, const char *headers,
                       md_error cls, const char *text, double retry)
{
    collect_result r;
    char name[160];
    route(status, file, headers);
    run(&r, "creds_ok.json", "");
    snprintf(name, sizeof name, "%d %s: class %s", status, file, md_error_name(cls));
    is_int(r.err, cls, name);
    snprintf(name, sizeof name, "%d %s: message has '%s'", status, file, text);
    ok(r.err_msg && strstr(r.err_msg, text), name);
    if (!(r.err_msg && strstr(r.err_msg, text)))
        printf("#   got: %s\n", r.err_msg ? r.err_msg : "(null)");
    snprintf(name, sizeof name, "%d %s: retry_after", status, file);
    if (retry < 0)
        ok(r.retry_after < 0, name);
    else
        ok(fabs(r.retry_after - retry) < 2, name);
    snprintf(name, sizeof name, "%d %s: no metrics, no token leak", status, file);
    ok(r.n_metrics == 0 && !leaks(&r), name);
    collect_result_clear(&r);
}

static void test_errors(void)
{
    error_case(401, "error_401.json", NULL, MD_ERR_AUTH,
               "invalid authentication credentials", -1);
    error_case(401, "error_401.json", NULL, MD_ERR_AUTH, "run `gemini`", -1);
    error_case(403, "error_403.json", NULL, MD_ERR_AUTH, "UNSUPPORTED_CLIENT", -1);
    error_case(429, "error_429.json", "{\"Retry-After\": \"30\"}",
               MD_ERR_RATE_LIMITED, "Quota exceeded", 30);
    error_case(429, "error_429.json", NULL, MD_ERR_RATE_LIMITED, "HTTP 429", -1);
    error_case(500, "error_500.json", NULL, MD_ERR_HTTP, "Internal error encountered", -1);
    error_case(502, "error_502.html", NULL, MD_ERR_HTTP, "Error 502 (Server Error)", -1);
    error_case(200, "truncated.json", NULL, MD_ERR_BAD_DATA, QUOTA_PATH, -1);
    error_case(200, "error_502.html", NULL, MD_ERR_BAD_DATA, QUOTA_PATH, -1);
    error_case(200, "quota_array.json", NULL, MD_ERR_BAD_DATA, "expected a JSON object", -1);
    error_case(200, "quota_buckets_object.json", NULL, MD_ERR_BAD_DATA,
               "buckets is not an array", -1);

    /* A connection cut short after the announced length. */
    char buf[512];
    snprintf(buf, sizeof buf, "[{\"method\": \"POST\", \"path\": \"" QUOTA_PATH
             "\", \"body_file\": \"quota_ok.json\", \"truncate\": 40}]");
    pt_mock_routes(port, buf);
    collect_result r;
    run(&r, "creds_ok.json", "");
    ok(r.err == MD_ERR_NETWORK || r.err == MD_ERR_BAD_DATA,
       "cut-off transfer: network or bad_data, never success");
    ok(r.n_metrics == 0, "cut-off transfer: no metrics");
    collect_result_clear(&r);
}

/* Credential problems fail before any request is made. */
static void cred_case(const char *creds, const char *extra, md_error cls,
                      const char *text, const char *name)
{
    collect_result r;
    char t[200];
    route(200, "quota_ok.json", NULL);
    run(&r, creds, extra);
    snprintf(t, sizeof t, "%s: class %s", name, md_error_name(cls));
    is_int(r.err, cls, t);
    snprintf(t, sizeof t, "%s: message has '%s'", name, text);
    ok(r.err_msg && strstr(r.err_msg, text), t);
    if (!(r.err_msg && strstr(r.err_msg, text)))
        printf("#   got: %s\n", r.err_msg ? r.err_msg : "(null)");
    snprintf(t, sizeof t, "%s: no request made", name);
    is_int(n_requests(), 0, t);
    snprintf(t, sizeof t, "%s: no token leak", name);
    ok(!leaks(&r), t);
    collect_result_clear(&r);
}

static void test_credentials(void)
{
    cred_case("nonexistent.json", "", MD_ERR_AUTH, "no Gemini CLI credentials",
              "missing file");
    cred_case("nonexistent.json", "", MD_ERR_AUTH, "run `gemini`", "missing file hint");
    cred_case("creds_expired.json", ", \"refresh\": \"off\"", MD_ERR_AUTH, "expired",
              "expired (recorded file)");
    cred_case("creds_expired.json", ", \"refresh\": \"off\"", MD_ERR_AUTH, "run `gemini`",
              "expired: renew command");
    cred_case("creds_seconds.json", ", \"refresh\": \"off\"", MD_ERR_AUTH, "expired",
              "expired (epoch seconds)");
    cred_case("creds_no_token.json", "", MD_ERR_AUTH, "no access_token", "no access_token");
    cred_case("creds_garbage.json", "", MD_ERR_AUTH, "not a JSON object", "garbage file");
    char extra[PATH_MAX + 64];
    snprintf(extra, sizeof extra, ", \"settings_file\": \"%s/settings_api_key.json\"", fixdir);
    cred_case("creds_ok.json", extra, MD_ERR_CONFIG, "gemini-api-key", "api-key auth type");
    cred_case("creds_ok.json", ", \"base_url\": \"ftp://x\"", MD_ERR_CONFIG,
              "base_url", "ftp base_url");

    collect_result r;
    snprintf(extra, sizeof extra, ", \"settings_file\": \"%s/settings_oauth_nested.json\"",
             fixdir);
    route(200, "quota_ok.json", NULL);
    run(&r, "creds_ok.json", extra);
    is_int(r.err, MD_ERR_NONE, "nested oauth-personal settings: success");
    collect_result_clear(&r);
}

/* The default credentials path is ~/.gemini/oauth_creds.json. */
static void test_default_path(void)
{
    char home[] = "/tmp/meterd-gm-XXXXXX";
    if (!mkdtemp(home)) {
        ok(0, "default path: mkdtemp");
        return;
    }
    char *cmd = xasprintf("mkdir -p %s/.gemini && cp %s/creds_ok.json "
                          "%s/.gemini/oauth_creds.json", home, fixdir, home);
    int rc = system(cmd);
    free(cmd);
    const char *old = getenv("HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("HOME", home, 1);
    collect_result r;
    route(200, "quota_ok.json", NULL);
    pt_run("gemini", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", port);
    ok(rc == 0 && r.err == MD_ERR_NONE && r.n_metrics == 3,
       "default path: ~/.gemini/oauth_creds.json is read");
    collect_result_clear(&r);
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);
    cmd = xasprintf("rm -rf '%s'", home);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", home);
    free(cmd);
}

static void test_refused(void)
{
    pt_mock closed;
    int p = pt_mock_start(fixdir, &closed);
    pt_mock_stop(&closed);
    collect_result r;
    char credopt[PATH_MAX + 64];
    snprintf(credopt, sizeof credopt, "%s/creds_ok.json", fixdir);
    pt_run("gemini", &r, "{\"base_url\": \"http://127.0.0.1:%d\", "
           "\"credentials_file\": \"%s\", \"settings_file\": \"/nonexistent\"}",
           p, credopt);
    is_int(r.err, MD_ERR_NETWORK, "connection refused: network");
    ok(!leaks(&r), "connection refused: no token leak");
    collect_result_clear(&r);
}

/* Refresh of an expiring token, written back (mdu_oauth_refresh). */
static void test_refresh(void)
{
    static const char *const body[] = {
        "grant_type=refresh_token",
        "refresh_token=1%2F%2F0EXAMPLE-refresh-token",
        "client_id=681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps."
        "googleusercontent.com",
        "client_secret=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", NULL};
    rt_case c = {
        .plugin = "gemini",
        .fixdir = fixdir,
        .expired = "creds_expired.json",
        .fresh = "creds_fresh.json",
        .fresh_auth = "Bearer ****FRSH",
        .file_name = "oauth_creds.json",
        .lock_name = "oauth_creds.json.meterd.lock",
        .base_path = "",
        .usage_routes = "{\"path\": \"/v1internal:loadCodeAssist\", "
                        "\"body_file\": \"load_code_assist.json\"}, "
                        "{\"path\": \"/v1internal:retrieveUserQuota\", "
                        "\"body_file\": \"quota_ok.json\"}",
        .token_path = "/token",
        .token_reply = "{\"access_token\": \"ya29.NEW-access-token-NEWG\", "
                       "\"expires_in\": 3599, \"scope\": \"openid\", "
                       "\"token_type\": \"Bearer\", \"id_token\": "
                       "\"eyJhbGciOiJSUzI1NiJ9.NEWID.SIG\"}",
        .new_access = "ya29.NEW-access-token-NEWG",
        .new_auth = "Bearer ****NEWG",
        .body_has = body,
        .content_type = "application/x-www-form-urlencoded",
        /* Google does not rotate: the refresh token stays */
        .kept_key = "\"refresh_token\": \"1//0EXAMPLE-refresh-token\"",
        .extra_opts = ", \"settings_file\": \"/nonexistent/settings.json\"",
        .lifetime = "1 hour",
        .renew = "run `gemini`",
    };
    rt_all(port, &c);
}

int main(void)
{
    if (!realpath("t/fixtures/gemini", fixdir)) {
        printf("1..0 # SKIP run from the source tree\n");
        return 0;
    }
    pt_mock mock;
    port = pt_mock_start(fixdir, &mock);
    ok(port > 0, "mock provider started");
    if (port <= 0)
        return done_testing();
    test_ok();
    test_project();
    test_remaining_amount();
    test_drift();
    test_strings_and_unknown_keys();
    test_nulls_and_empty();
    test_meter_set();
    test_rate_limit_headers();
    test_errors();
    test_credentials();
    test_default_path();
    test_refused();
    test_refresh();
    pt_mock_stop(&mock);
    return done_testing();
}
