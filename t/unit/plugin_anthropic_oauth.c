/* t/unit/plugin_anthropic_oauth.c - plugins/anthropic_oauth.so through the
 * real host (run_job) against t/mock/mockprov serving
 * t/fixtures/anthropic_oauth/.  Oracles: the recorded payloads
 * (claude_oauth_usage.json: 5 h 37 %, 7 d 62 %, scoped Opus 81 %, extra
 * usage $12.34 of $50.00 = 24.68 %). */
#include "tap.h"
#include "plugtest.h"
#include "refreshtest.h"

#include <limits.h>
#include <sys/stat.h>

#define FIX "t/fixtures/anthropic_oauth"
#define TOKEN "sk-ant-oat01-TESTtokenAAAABBBBCCCCDDDDEEEEFFFF0123456789"
#define REFRESH "sk-ant-ort01-TESTrefreshZZZZYYYYXXXXWWWW9876543210"
#define RESET_5H 1773161999.812345   /* 2026-03-10T16:59:59.812345Z */
#define RESET_7D 1773431999.812371   /* 2026-03-13T19:59:59.812371Z */

static int port;
static char fixdir[PATH_MAX];

/* One route for the usage endpoint: status, body file, extra headers. */
static void route(int status, const char *file, const char *headers_json)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "[{\"path\": \"/api/oauth/usage\", \"method\": \"GET\", "
             "\"status\": %d, \"body_file\": \"%s\", \"headers\": %s}]",
             status, file, headers_json ? headers_json : "{}");
    if (pt_mock_routes(port, buf) != 200)
        printf("# could not set routes\n");
    pt_mock_post(port, "/_mock/reset", "");
}


static size_t n_requests(void)
{
    json_t *log = pt_mock_requests(port);
    size_t n = json_array_size(log);
    json_decref(log);
    return n;
}

/* Run with a credentials fixture and extra option text (",\"plan\":..."). */
static void run(collect_result *r, const char *creds, const char *extra)
{
    pt_run("anthropic_oauth", r,
           "{\"base_url\": \"http://127.0.0.1:%d\", "
           "\"credentials_file\": \"%s/%s\"%s}",
           port, fixdir, creds, extra ? extra : "");
}

static int mentions(const collect_result *r, const char *s)
{
    if (r->err_msg && strstr(r->err_msg, s))
        return 1;
    if (r->raw_json && strstr(r->raw_json, s))
        return 1;
    return pt_has_note(r, s);
}

static void no_secrets(const collect_result *r, const char *what)
{
    char name[160];
    snprintf(name, sizeof name, "%s: no token in err_msg/notes/raw", what);
    ok(!mentions(r, TOKEN) && !mentions(r, REFRESH) &&
           !mentions(r, "TESTtokenAAAA"),
       name);
}

static const metric *want(const collect_result *r, const char *id)
{
    const metric *m = pt_metric(r, id);
    if (!m)
        printf("# metric %s missing\n", id);
    return m;
}

/* A window: utilization and resets (NAN = expect unknown). */
static void check_window(const collect_result *r, const char *id, double util,
                         double resets, double window_s, const char *src)
{
    const metric *m = want(r, id);
    char n[128];
    snprintf(n, sizeof n, "%s present, quota_window/percent, source %s", id,
             src);
    ok(m && strcmp(m->kind, "quota_window") == 0 && m->unit &&
           strcmp(m->unit, "percent") == 0 && strcmp(m->source, src) == 0,
       n);
    if (!m)
        return;
    snprintf(n, sizeof n, "%s utilization", id);
    if (isnan(util))
        ok(pt_unknown(m->utilization), n);
    else
        is_num(pt_known(m->utilization) ? m->utilization.value : -1, util, n);
    snprintf(n, sizeof n, "%s resets_at", id);
    if (isnan(resets))
        ok(m->resets_at.state == MD_UNKNOWN, n);
    else
        ok(m->resets_at.state == MD_KNOWN &&
               fabs(m->resets_at.epoch - resets) < 1e-3, n);
    snprintf(n, sizeof n, "%s window_seconds", id);
    if (isnan(window_s))
        ok(pt_unknown(m->window_seconds), n);
    else
        is_num(pt_known(m->window_seconds) ? m->window_seconds.value : -1,
               window_s, n);
}

static void check_budget(const collect_result *r, double used, double limit,
                         double util, const char *unit)
{
    const metric *m = want(r, "extra_usage");
    ok(m && strcmp(m->kind, "budget") == 0 && m->unit &&
           strcmp(m->unit, unit) == 0, "extra_usage: kind budget, unit");
    if (!m)
        return;
    is_num(pt_known(m->used) ? m->used.value : -1, used,
           "extra_usage used (minor units -> major)");
    is_num(pt_known(m->limit) ? m->limit.value : -1, limit,
           "extra_usage limit (minor units -> major)");
    is_num(pt_known(m->utilization) ? m->utilization.value : -1, util,
           "extra_usage utilization as reported");
}

static void t_normal(void)
{
    collect_result r;
    route(200, "usage.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    check_window(&r, "five_hour", 37, RESET_5H, 18000, "oauth");
    check_window(&r, "seven_day", 62, RESET_7D, 604800, "oauth");
    check_window(&r, "seven_day_opus", 81, 1773431999.812402, 604800, "oauth");
    check_window(&r, "seven_day_sonnet", 0, NAN, 604800, "oauth");
    check_budget(&r, 12.34, 50, 24.68, "usd");
    ok(pt_has_note(&r, "plan: max (default_claude_max_5x)"), "plan note");
    ok(pt_has_note(&r, "binding limit: five_hour"), "binding limit noted");
    ok(pt_has_note(&r, "seven_day_opus: severity warning"), "severity noted");
    ok(!pt_has_note(&r, "did not report"), "max plan: nothing missing");
    ok(!pt_metric(&r, "tangelo") && !pt_metric(&r, "seven_day_cowork"),
       "null codename windows are not invented");
    is_int(r.n_metrics, 5, "normal: exactly 4 windows + extra_usage");
    ok(r.raw_json && strstr(r.raw_json, "five_hour"), "raw payload kept");
    no_secrets(&r, "normal");
    json_t *log = pt_mock_requests(port);
    json_t *e = json_array_get(log, 0);
    is_int(json_array_size(log), 1, "normal: one request");
    is_str(json_string_value(json_object_get(e, "authorization")),
           "Bearer ****6789", "bearer token from the credentials file");
    is_str(json_string_value(json_object_get(e, "accept")),
           "application/json", "Accept: application/json");
    json_decref(log);
    collect_result_clear(&r);
}

static void t_enterprise(void)
{
    collect_result r;
    route(200, "usage_enterprise_spendlimit.json", NULL);
    run(&r, "creds_enterprise.json", NULL);
    is_int(r.err, MD_ERR_NONE, "enterprise: success");
    check_budget(&r, 7.63, 20, 38.15, "eur");
    ok(!pt_metric(&r, "five_hour") && !pt_metric(&r, "seven_day"),
       "enterprise: null windows stay absent (plan does not expect them)");
    ok(!pt_has_note(&r, "did not report"), "enterprise: nothing missing");
    collect_result_clear(&r);

    /* the same payload for a max seat: the session and weekly windows are
     * expected; the legacy per-model keys (null since limits[]) are not */
    route(200, "usage_enterprise_spendlimit.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_NONE, "enterprise payload, max plan: success");
    ok(!pt_metric(&r, "seven_day_opus") && !pt_metric(&r, "seven_day_sonnet") &&
       !pt_has_note(&r, "expects seven_day_opus"),
       "max: legacy seven_day_opus/sonnet not expected");
    static const char *const ids[] = {"five_hour", "seven_day"};
    for (size_t i = 0; i < 2; i++) {
        const metric *m = want(&r, ids[i]);
        char n[160];
        snprintf(n, sizeof n, "%s expected: present, unknown utilization, "
                 "quota_window", ids[i]);
        ok(m && pt_unknown(m->utilization) && pt_unknown(m->used) &&
               m->resets_at.state == MD_UNKNOWN &&
               strcmp(m->kind, "quota_window") == 0, n);
        snprintf(n, sizeof n, "plan max expects %s; the provider did not "
                 "report it", ids[i]);
        ok(pt_has_note(&r, n), n);
    }
    const metric *m = pt_metric(&r, "five_hour");
    ok(m && pt_known(m->window_seconds) && m->window_seconds.value == 18000,
       "expected five_hour keeps its window length");
    collect_result_clear(&r);
}

static void t_null_windows(void)
{
    collect_result r;
    route(200, "usage_null_windows.json", NULL);
    run(&r, "creds_pro.json", NULL);
    is_int(r.err, MD_ERR_NONE, "null windows: success");
    check_window(&r, "seven_day_sonnet", NAN, NAN, 604800, "oauth");
    ok(pt_has_note(&r, "plan pro expects five_hour; the provider did not "
                       "report it"), "pro: five_hour (null) made explicit");
    ok(pt_has_note(&r, "plan pro expects seven_day; the provider did not "
                       "report it"), "pro: seven_day (missing) made explicit");
    const metric *m = pt_metric(&r, "five_hour");
    ok(m && pt_unknown(m->utilization), "null five_hour is unknown, not 0");
    ok(!pt_metric(&r, "seven_day_opus"), "pro does not expect opus");
    ok(!pt_metric(&r, "extra_usage"), "null extra_usage: no budget");
    collect_result_clear(&r);

    /* plan option overrides subscriptionType */
    route(200, "usage_null_windows.json", NULL);
    run(&r, "creds_pro.json", ", \"plan\": \"max\"");
    ok(pt_has_note(&r, "plan: max"), "plan option wins over the file");
    ok(!pt_has_note(&r, "plan max expects seven_day_opus"),
       "plan max: legacy opus no longer expected");
    ok(!pt_has_note(&r, "plan max expects seven_day_sonnet"),
       "reported (unknown) sonnet is not duplicated");
    collect_result_clear(&r);
}

static void t_strings(void)
{
    collect_result r;
    route(200, "usage_strings.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_NONE, "strings: success");
    check_window(&r, "five_hour", 37, RESET_5H, 18000, "oauth");
    check_window(&r, "seven_day", 62, 1773431999, 604800, "oauth");
    /* bad utilization/resets in the legacy window; limits[] fills them */
    check_window(&r, "seven_day_opus", 81, 1773431999.812402, 604800, "oauth");
    check_budget(&r, 12.345, 50, 24.69, "usd");
    collect_result_clear(&r);
}

static void t_new_keys(void)
{
    collect_result r;
    route(200, "usage_new_keys.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_NONE, "new keys: success");
    check_window(&r, "five_hour", 12.5, RESET_5H, 18000, "oauth");
    check_window(&r, "tangelo", 55, 1773187200, NAN, "oauth");
    check_window(&r, "limit_daily_all", 7, 1773187200, NAN, "oauth");
    check_window(&r, "seven_day_claude-fable-5", 33, 1773431999, 604800,
                 "oauth");
    check_window(&r, "seven_day_sonnet_5", 44, 1773431999, 604800, "oauth");
    ok(!pt_metric(&r, "harbor_lantern") && !pt_metric(&r, "debug_echo") &&
           !pt_metric(&r, "future_section"), "non-window keys ignored");
    ok(pt_has_note(&r, "five_hour: severity critical"), "critical noted");
    ok(pt_has_note(&r, "seven_day.used_dollars is set but not mapped"),
       "unverified dollar field noted, not mapped");
    check_budget(&r, 0, 150000, 0, "jpy");
    ok(pt_has_note(&r, "extra usage disabled: out_of_credits"),
       "disabled extra usage noted");
    ok(!pt_metric(&r, "seven_day_opus"),
       "max: a payload without opus carries no invented opus meter");
    ok(r.raw_json != NULL, "raw kept");
    no_secrets(&r, "token echoed in payload");
    collect_result_clear(&r);
}

/* limits[] with only a model-scoped weekly limit, legacy per-model keys
 * null (the shape since mid 2026). */
static void t_limits_scoped_only(void)
{
    collect_result r;
    route(200, "usage_limits_scoped_only.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_NONE, "scoped only: success");
    check_window(&r, "five_hour", 85, 1785852000.412345, 18000, "oauth");
    check_window(&r, "seven_day", 12, 1786302000.412371, 604800, "oauth");
    check_window(&r, "seven_day_fable", 18, 1786302000, 604800, "oauth");
    const metric *m = pt_metric(&r, "seven_day_fable");
    is_str(m ? m->label : NULL, "Weekly (Fable)", "scoped only: Fable label");
    ok(!pt_metric(&r, "seven_day_opus") && !pt_metric(&r, "seven_day_sonnet"),
       "scoped only: null legacy keys are not meters");
    ok(!pt_has_note(&r, "did not report"), "scoped only: max set complete");
    ok(pt_has_note(&r, "binding limit: five_hour"), "scoped only: binding limit");
    is_int(r.n_metrics, 3, "scoped only: three windows");
    ok(!pt_has_note(&r, "unrecognised field"), "scoped only: no drift note");
    collect_result_clear(&r);
}

/* Surface-only scope, two session_scoped entries (one critical), an "All
 * models" scope, two unscoped entries of one new kind, uncapped extra
 * usage and the opt-in cedar_ember object. */
static void t_limits_multi(void)
{
    collect_result r;
    route(200, "usage_limits_multi.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_NONE, "multi: success");
    check_window(&r, "seven_day_fable", 29, 1786302000, 604800, "oauth");
    check_window(&r, "seven_day_surface_cowork", 55, 1786302000, 604800, "oauth");
    const metric *m = pt_metric(&r, "seven_day_surface_cowork");
    is_str(m ? m->label : NULL, "Weekly (cowork surface only)",
           "multi: surface-only scope labelled");
    check_window(&r, "limit_session_scoped_fable", 40, 1785852000, 18000, "oauth");
    check_window(&r, "limit_session_scoped_opus", 90, 1785848400, 18000, "oauth");
    ok(pt_has_note(&r, "limit_session_scoped_opus: severity critical"),
       "multi: the critical entry is kept and noted");
    ok(pt_has_note(&r, "binding limit: limit_session_scoped_opus"),
       "multi: binding limit named by its own id");
    check_window(&r, "seven_day", 20, 1786302000, 604800, "oauth");
    ok(!pt_metric(&r, "seven_day_all_models"), "multi: All models is seven_day, not a duplicate");
    check_window(&r, "limit_daily_cap", 5, NAN, NAN, "oauth");
    check_window(&r, "limit_daily_cap_2", 7, NAN, NAN, "oauth");
    ok(!pt_metric(&r, "seven_day_scoped_1"), "multi: no position-based id");
    m = want(&r, "extra_usage");
    ok(m && pt_known(m->used) && m->used.value == 12.5, "uncapped: used $12.50");
    ok(m && m->limit.state == MD_NOT_APPLICABLE, "uncapped: monthly_limit 0 -> limit not applicable");
    ok(m && m->remaining.state != MD_KNOWN, "uncapped: no remaining invented");
    ok(m && m->utilization.state != MD_KNOWN, "uncapped: utilization not known");
    is_str(m ? m->unit : NULL, "usd", "uncapped: unit usd");
    ok(pt_has_note(&r, "extra usage has no monthly cap"), "uncapped: noted");
    ok(!pt_metric(&r, "cedar_ember") && !pt_has_note(&r, "unrecognised field cedar_ember"),
       "cedar_ember ignored quietly");
    is_int(r.n_metrics, 9, "multi: eight windows + extra_usage");
    collect_result_clear(&r);
}

/* Extra usage over a lowered cap: 143.48 % is past 0..100 for a
 * utilization field; used and limit stay exact. */
static void t_extra_over_cap(void)
{
    collect_result r;
    route(200, "usage_extra_over_cap.json", NULL);
    run(&r, "creds_pro.json", NULL);
    is_int(r.err, MD_ERR_NONE, "over cap: success");
    const metric *m = want(&r, "extra_usage");
    ok(m && m->used.value == 71.74, "over cap: used $71.74");
    ok(m && m->limit.value == 50, "over cap: limit $50");
    ok(m && pt_known(m->utilization) && fabs(m->utilization.value - 143.48) < 1e-9,
       "over cap: utilization derived from used / limit (143.48 %)");
    ok(!pt_has_note(&r, "rejected"), "over cap: no rejection note on every poll");
    collect_result_clear(&r);
}

/* A renamed field (percent -> percent_used), a new field and a number
 * turned string: the collection goes through, each is noted. */
static void t_drift(void)
{
    collect_result r;
    route(200, "usage_drift.json", NULL);
    run(&r, "creds_pro.json", NULL);
    is_int(r.err, MD_ERR_NONE, "drift: success");
    check_window(&r, "five_hour", 22, 1785852000, 18000, "oauth");
    ok(pt_has_note(&r, "unrecognised field limits[].percent_used (format may have changed)"),
       "drift: renamed limits[] field noted");
    ok(pt_has_note(&r, "unrecognised field five_hour.burst_credit (format may have changed)"),
       "drift: new window member noted");
    ok(pt_has_note(&r, "unrecognised field quota_banner (format may have changed)"),
       "drift: new top-level member noted");
    ok(pt_has_note(&r, "unrecognised field seven_day.utilization (format may have changed)"),
       "drift: a string utilization noted");
    ok(r.raw_json && strstr(r.raw_json, "percent_used"), "drift: raw kept");
    collect_result_clear(&r);
}

static void t_spend_only(void)
{
    collect_result r;
    route(200, "usage_spend_only.json", NULL);
    run(&r, "creds_pro.json", NULL);
    is_int(r.err, MD_ERR_NONE, "spend only: success");
    check_budget(&r, 7.63, 20, 38, "eur");
    check_window(&r, "five_hour", 5, NAN, 18000, "oauth");
    collect_result_clear(&r);
}

static void t_headers(void)
{
    static const char unified[] =
        "{\"anthropic-ratelimit-unified-status\": \"allowed\", "
        "\"anthropic-ratelimit-unified-5h-utilization\": \"0.37\", "
        "\"anthropic-ratelimit-unified-5h-reset\": \"1773162000\", "
        "\"anthropic-ratelimit-unified-7d-utilization\": \"0.62\", "
        "\"anthropic-ratelimit-unified-7d-reset\": \"1773432000\", "
        "\"anthropic-ratelimit-unified-overage-status\": \"rejected\"}";
    collect_result r;
    /* payload windows present: the payload wins over the header echo */
    route(200, "usage.json", unified);
    run(&r, "creds_max.json", NULL);
    check_window(&r, "five_hour", 37, RESET_5H, 18000, "oauth");
    is_int(r.n_metrics, 5, "headers duplicate payload meters: no extras");
    collect_result_clear(&r);
    /* payload windows null: the headers supply them */
    route(200, "usage_null_windows.json", unified);
    run(&r, "creds_pro.json", NULL);
    is_int(r.err, MD_ERR_NONE, "headers: success");
    check_window(&r, "five_hour", 37, 1773162000, 18000, "headers");
    check_window(&r, "seven_day", 62, 1773432000, 604800, "headers");
    ok(!pt_has_note(&r, "did not report"), "headers satisfy the meter set");
    collect_result_clear(&r);
}

/* An HTTP error: class, message fragment, no metrics. */
static void check_error(int status, const char *file, const char *headers,
                        md_error cls, const char *frag, const char *what)
{
    collect_result r;
    char n[160];
    route(status, file, headers);
    run(&r, "creds_max.json", NULL);
    snprintf(n, sizeof n, "%s: error class", what);
    is_int(r.err, cls, n);
    snprintf(n, sizeof n, "%s: message has '%s'", what, frag);
    ok(r.err_msg && strstr(r.err_msg, frag), n);
    if (!(r.err_msg && strstr(r.err_msg, frag)))
        printf("# err_msg: %s\n", r.err_msg ? r.err_msg : "(null)");
    snprintf(n, sizeof n, "%s: no metrics", what);
    is_int(r.n_metrics, 0, n);
    no_secrets(&r, what);
    collect_result_clear(&r);
}

static void t_errors(void)
{
    check_error(401, "error_401.json", NULL, MD_ERR_AUTH,
                "OAuth token has expired", "401");
    check_error(401, "error_401.json", NULL, MD_ERR_AUTH,
                "run `claude` to log in again", "401 hint");
    check_error(401, "error_401_echo.json", NULL, MD_ERR_AUTH,
                "Invalid bearer token", "401 echoing the token");
    check_error(403, "error_403_scope.json", NULL, MD_ERR_AUTH,
                "scope requirement user:profile", "403 scope");
    check_error(500, "error_500.html", NULL, MD_ERR_HTTP,
                "500 Internal Server Error", "500 html");
    check_error(200, "truncated.json", NULL, MD_ERR_BAD_DATA,
                "not a JSON object", "truncated JSON");
    check_error(200, "html_instead_of_json.html", NULL, MD_ERR_BAD_DATA,
                "not a JSON object", "HTML instead of JSON");

    collect_result r;
    route(429, "error_429.json", "{\"Retry-After\": \"120\"}");
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    ok(r.retry_after > 115 && r.retry_after <= 120.5,
       "429: Retry-After 120 honoured");
    ok(r.err_msg && strstr(r.err_msg, "Rate limited"), "429: message");
    collect_result_clear(&r);
    route(429, "error_429_retry0.json", "{\"Retry-After\": \"0\"}");
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 retry-after 0: rate_limited");
    ok(r.retry_after >= 295 && r.retry_after <= 300.5,
       "429 retry-after 0: the 300 s default applies");
    collect_result_clear(&r);
    route(429, "error_429.json", NULL);
    run(&r, "creds_max.json", NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 without Retry-After");
    is_num(r.retry_after, 300, "429 without Retry-After: 300 s backoff");
    collect_result_clear(&r);
    route(429, "error_429.json",
          "{\"Retry-After\": \"Tue, 10 Mar 2099 14:00:00 GMT\"}");
    run(&r, "creds_max.json", NULL);
    ok(r.err == MD_ERR_RATE_LIMITED && r.retry_after > 1e9,
       "429 with an HTTP-date Retry-After");
    collect_result_clear(&r);

    /* connection cut mid-body */
    char buf[256];
    snprintf(buf, sizeof buf, "[{\"path\": \"/api/oauth/usage\", "
             "\"body_file\": \"usage.json\", \"truncate\": 100}]");
    pt_mock_routes(port, buf);
    run(&r, "creds_max.json", NULL);
    ok(r.err != MD_ERR_NONE && r.n_metrics == 0, "cut connection fails");
    collect_result_clear(&r);
}

/* Credential problems: auth, the renew command, and no request. */
static void check_creds(const char *file, const char *frag, const char *what)
{
    collect_result r;
    char n[160];
    route(200, "usage.json", NULL);
    /* refresh: off, the read-only behaviour these cases pin down */
    run(&r, file, ", \"refresh\": \"off\"");
    snprintf(n, sizeof n, "%s: auth", what);
    is_int(r.err, MD_ERR_AUTH, n);
    snprintf(n, sizeof n, "%s: message has '%s'", what, frag);
    ok(r.err_msg && strstr(r.err_msg, frag), n);
    if (!(r.err_msg && strstr(r.err_msg, frag)))
        printf("# err_msg: %s\n", r.err_msg ? r.err_msg : "(null)");
    snprintf(n, sizeof n, "%s: says to run claude", what);
    ok(r.err_msg && strstr(r.err_msg, "run `claude` to log in"), n);
    snprintf(n, sizeof n, "%s: no request made", what);
    is_int(n_requests(), 0, n);
    no_secrets(&r, what);
    collect_result_clear(&r);
}

static void t_credentials(void)
{
    check_creds("creds_expired.json", "expired at 2026-03-10T22:00:00Z",
                "expired token");
    check_creds("creds_no_expiry.json", "no expiresAt", "missing expiresAt");
    check_creds("creds_mcp_only.json", "holds no Claude login",
                "mcpOAuth only");
    check_creds("creds_setup_token.json", "user:profile",
                "setup-token scope");
    check_creds("creds_truncated.json", "not a Claude Code credentials file",
                "truncated credentials");
    check_creds("does_not_exist.json", "no Claude Code credentials at",
                "missing file");
}

static void t_default_path_and_config(void)
{
    char home[] = "/tmp/meterd-ao-home-XXXXXX";
    ok(mkdtemp(home) != NULL, "temp HOME");
    char *dir = xasprintf("%s/.claude", home);
    mkdir(dir, 0700);
    char *cmd = xasprintf("cp %s/creds_pro.json %s/.credentials.json", fixdir,
                          dir);
    ok(system(cmd) == 0, "credentials copied");
    const char *old = getenv("HOME");
    char *saved = old ? strdup(old) : NULL;
    setenv("HOME", home, 1);
    collect_result r;
    route(200, "usage.json", NULL);
    pt_run("anthropic_oauth", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}",
           port);
    is_int(r.err, MD_ERR_NONE, "default ~/.claude/.credentials.json read");
    ok(pt_has_note(&r, "plan: pro"), "plan from the default file");
    collect_result_clear(&r);
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);
    free(cmd);
    cmd = xasprintf("rm -rf '%s'", home);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", home);
    free(cmd);
    free(dir);

    /* CLAUDE_CONFIG_DIR moves Claude Code's credentials file */
    char cfg[] = "/tmp/meterd-ao-cfg-XXXXXX";
    ok(mkdtemp(cfg) != NULL, "temp CLAUDE_CONFIG_DIR");
    cmd = xasprintf("cp %s/creds_max.json %s/.credentials.json", fixdir, cfg);
    ok(system(cmd) == 0, "credentials copied to CLAUDE_CONFIG_DIR");
    free(cmd);
    setenv("CLAUDE_CONFIG_DIR", cfg, 1);
    route(200, "usage.json", NULL);
    pt_run("anthropic_oauth", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", port);
    is_int(r.err, MD_ERR_NONE, "CLAUDE_CONFIG_DIR: success");
    ok(pt_has_note(&r, "plan: max"), "CLAUDE_CONFIG_DIR/.credentials.json read");
    collect_result_clear(&r);
    unsetenv("CLAUDE_CONFIG_DIR");
    cmd = xasprintf("rm -rf '%s'", cfg);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", cfg);
    free(cmd);

    /* CLAUDE_CODE_OAUTH_TOKEN comes before any file */
    setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-ENVtoken0000111122223333ZZ99", 1);
    route(200, "usage.json", NULL);
    pt_run("anthropic_oauth", &r, "{\"base_url\": \"http://127.0.0.1:%d\", "
           "\"plan\": \"pro\"}", port);
    is_int(r.err, MD_ERR_NONE, "CLAUDE_CODE_OAUTH_TOKEN: success");
    ok(pt_has_note(&r, "token from CLAUDE_CODE_OAUTH_TOKEN"), "env token: noted");
    json_t *log = pt_mock_requests(port);
    is_str(json_string_value(json_object_get(json_array_get(log, 0), "authorization")),
           "Bearer ****ZZ99", "env token: sent as bearer");
    json_decref(log);
    ok(!mentions(&r, "ENVtoken0000"), "env token: never shown");
    collect_result_clear(&r);
    run(&r, "creds_pro.json", NULL);
    ok(!pt_has_note(&r, "CLAUDE_CODE_OAUTH_TOKEN"), "an explicit credentials_file wins over the env token");
    collect_result_clear(&r);
    unsetenv("CLAUDE_CODE_OAUTH_TOKEN");

    route(200, "usage.json", NULL);
    run(&r, "creds_max.json", ", \"user_agent\": \"meterd/1.0\"");
    ok(pt_has_note(&r, "does not start with claude-code/"), "user_agent without claude-code/ warned");
    collect_result_clear(&r);

    pt_run("anthropic_oauth", &r, "{\"base_url\": \"ftp://127.0.0.1:%d\", "
           "\"credentials_file\": \"%s/creds_max.json\"}", port, fixdir);
    is_int(r.err, MD_ERR_CONFIG, "ftp base_url: config error");
    collect_result_clear(&r);
    run(&r, "creds_max.json", ", \"plan\": \"platinum\"");
    is_int(r.err, MD_ERR_CONFIG, "unknown plan option: config error");
    collect_result_clear(&r);
}

/* Refresh of an expiring token, written back (mdu_oauth_refresh). */
static void test_refresh(void)
{
    static const char *const body[] = {
        "\"grant_type\":\"refresh_token\"",
        "\"refresh_token\":\"sk-ant-ort01-EXAMPLErefreshTOKEN",
        "\"client_id\":\"9d1c250a-e61b-44d9-88ed-5944d1962f5e\"", NULL};
    rt_case c = {
        .plugin = "anthropic_oauth",
        .fixdir = fixdir,
        .expired = "creds_expired.json",
        .fresh = "creds_max.json",
        .fresh_auth = "Bearer ****6789",
        .file_name = ".credentials.json",
        .lock_name = ".credentials.json.meterd.lock",
        .base_path = "",
        .usage_routes = "{\"path\": \"/api/oauth/usage\", \"method\": \"GET\", "
                        "\"body_file\": \"usage.json\"}",
        .token_path = "/v1/oauth/token",
        .token_reply = "{\"token_type\": \"Bearer\", \"access_token\": "
                       "\"sk-ant-oat01-NEWaccessTOKEN0000NEWA\", \"expires_in\": "
                       "28800, \"refresh_token\": \"sk-ant-ort01-ROTATED-refresh-1\", "
                       "\"scope\": \"user:inference user:profile\"}",
        .new_access = "sk-ant-oat01-NEWaccessTOKEN0000NEWA",
        .new_auth = "Bearer ****NEWA",
        .body_has = body,
        .content_type = "application/json",
        .kept_key = "\"rateLimitTier\": \"default_claude_max_5x\"",
        .lifetime = "about 8-12 hours",
        .renew = "run `claude`",
    };
    rt_all(port, &c);
}

int main(void)
{
    pt_mock mock;
    if (!realpath(FIX, fixdir)) {
        printf("1..0 # SKIP no %s\n", FIX);
        return 0;
    }
    port = pt_mock_start(FIX, &mock);
    if (!port) {
        printf("1..0 # SKIP mock server did not start\n");
        return 0;
    }
    log_set_level(MD_LOG_ERROR);
    t_normal();
    t_enterprise();
    t_null_windows();
    t_strings();
    t_new_keys();
    t_limits_scoped_only();
    t_limits_multi();
    t_extra_over_cap();
    t_drift();
    t_spend_only();
    t_headers();
    t_errors();
    t_credentials();
    t_default_path_and_config();
    test_refresh();
    pt_mock_stop(&mock);
    return done_testing();
}
