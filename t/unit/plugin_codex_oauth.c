/* t/unit/plugin_codex_oauth.c - the codex_oauth plugin (plugins/codex_oauth.so)
 * through the real host (pt_run -> run_job) against t/mock/mockprov serving
 * t/fixtures/codex_oauth/.  Fixture values follow the recorded payloads
 * (codex_wham_usage.json). */
#include "tap.h"
#include "plugtest.h"
#include "refreshtest.h"

/* exp 2100-01-01, as the token endpoint would issue it */
#define CX_NEW_JWT "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6InVzZXItTkVXIn0.SIGNEWcodexNEWX"

#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#define USAGE_PATH "/backend-api/wham/usage"
/* Tokens in the fixtures that must never show up in any output. */
#define ACCESS_VALID "SIGNATUREcodexTESTvalid"
#define REFRESH "rt_EXAMPLErefreshtokenxxxxxxxxxxxxxxxx"
#define ACCOUNT "a1b2c3d4-0000-4000-8000-00000000abcd"

static int port;
static char fixdir[PATH_MAX];

/* ---- mock helpers ---- */

typedef struct buf { char *p; size_t n; } buf;

/* One route for the usage path (status, body file, headers JSON object),
 * and a cleared request log. */
static void route(const char *path, int status, const char *file, const char *headers)
{
    char r[1024];
    snprintf(r, sizeof r,
             "[{\"method\": \"GET\", \"path\": \"%s\", \"status\": %d, "
             "\"body_file\": \"%s\", \"headers\": %s}]",
             path, status, file, headers ? headers : "{}");
    if (pt_mock_routes(port, r) != 200) printf("# routes failed: %s\n", r);
    pt_mock_post(port, "/_mock/reset", "");
}

/* Run with credentials file `auth` (fixture name, or an absolute path)
 * and extra option JSON members (starting with a comma, or ""). */
static void run(collect_result *r, const char *auth, const char *extra)
{
    char cred[PATH_MAX + 64];
    if (auth[0] == '/') snprintf(cred, sizeof cred, "%s", auth);
    else snprintf(cred, sizeof cred, "%s/%s", fixdir, auth);
    pt_run("codex_oauth", r,
           "{\"base_url\": \"http://127.0.0.1:%d/backend-api\", "
           "\"credentials_file\": \"%s\"%s}", port, cred, extra);
}

static int contains(const char *s, const char *needle)
{
    int yes = s && strstr(s, needle);
    if (!yes) printf("#   '%s' does not contain '%s'\n", s ? s : "(null)", needle);
    return yes;
}

/* No token, refresh token or account id anywhere in the result. */
static int no_secrets(const collect_result *r)
{
    static const char *const secrets[] = {ACCESS_VALID, REFRESH, ACCOUNT, "dev@example.com"};
    for (size_t s = 0; s < 4; s++) {
        if (r->err_msg && strstr(r->err_msg, secrets[s])) return 0;
        if (r->raw_json && strstr(r->raw_json, secrets[s])) return 0;
        for (size_t i = 0; i < r->n_notes; i++)
            if (strstr(r->notes[i], secrets[s])) return 0;
    }
    return 1;
}

static size_t n_requests(void)
{
    json_t *log = pt_mock_requests(port);
    size_t n = json_array_size(log);
    json_decref(log);
    return n;
}

/* A quota window as the family convention wants it. */
static void check_window(const collect_result *r, const char *id, double util,
                         double secs, double reset, const char *what)
{
    char name[160];
    const metric *m = pt_metric(r, id);
    snprintf(name, sizeof name, "%s: %s present", what, id);
    if (!ok(m != NULL, name)) return;
    snprintf(name, sizeof name, "%s: %s utilization", what, id);
    ok(pt_known(m->utilization), name);
    is_num(m->utilization.value, util, name);
    snprintf(name, sizeof name, "%s: %s window_seconds", what, id);
    is_num(m->window_seconds.value, secs, name);
    if (reset > 0) {
        snprintf(name, sizeof name, "%s: %s resets_at", what, id);
        ok(pt_known(m->resets_at), name);
        is_num(m->resets_at.epoch, reset, name);
    }
    snprintf(name, sizeof name, "%s: %s kind/unit", what, id);
    ok(strcmp(m->kind, "quota_window") == 0 && m->unit && strcmp(m->unit, "percent") == 0, name);
    snprintf(name, sizeof name, "%s: %s used/limit/remaining stay unknown", what, id);
    ok(pt_unknown(m->used) && pt_unknown(m->limit) && pt_unknown(m->remaining), name);
}

/* ---- the cases ---- */

static void test_normal(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_usage.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "plus: collection succeeds");
    check_window(&r, "five_hour", 23, 18000, 1773160200, "plus");
    check_window(&r, "seven_day", 41, 604800, 1773432000, "plus");
    check_window(&r, "gpt_5_3_codex_spark_five_hour", 5, 18000, 1773160200, "spark");
    check_window(&r, "gpt_5_3_codex_spark_seven_day", 12, 604800, 1773432000, "spark");
    const metric *m = pt_metric(&r, "five_hour");
    ok(m && strcmp(m->source, "oauth") == 0, "plus: source oauth");
    const metric *sp = pt_metric(&r, "gpt_5_3_codex_spark_five_hour");
    ok(sp && contains(sp->label, "GPT-5.3-Codex-Spark"), "spark: label from limit_name");
    const metric *cr = pt_metric(&r, "credits");
    ok(cr && strcmp(cr->kind, "credits") == 0 && strcmp(cr->unit, "credits") == 0,
       "credits: kind credits, unit credits");
    ok(cr && pt_known(cr->remaining), "credits: balance known");
    if (cr) is_num(cr->remaining.value, 14.5, "credits: \"14.5000000000\" -> 14.5");
    ok(cr && pt_unknown(cr->limit) && pt_unknown(cr->used), "credits: limit/used unknown");
    ok(pt_has_note(&r, "plan: plus"), "plus: plan note");
    ok(!pt_has_note(&r, "expects"), "plus: no missing-meter note");
    ok(pt_metric(&r, "spend_control") == NULL, "plus: no spend control in payload, none emitted");
    is_int(r.n_metrics, 5, "plus: 4 windows + credits");
    ok(r.raw_json && contains(r.raw_json, "plan_type"), "raw kept");
    ok(no_secrets(&r), "raw/notes carry no token, account id or email");

    json_t *log = pt_mock_requests(port);
    json_t *e = json_array_get(log, 0);
    is_int(json_array_size(log), 1, "one request");
    is_str(json_string_value(json_object_get(e, "path")), USAGE_PATH, "GET .../wham/usage");
    is_str(json_string_value(json_object_get(e, "authorization")), "Bearer ****alid",
           "bearer access token sent");
    is_str(json_string_value(json_object_get(e, "accept")), "application/json", "accept json");
    json_decref(log);
    collect_result_clear(&r);
}

static void test_codex_path(void)
{
    collect_result r;
    char cred[PATH_MAX + 32];
    route("/api/codex/usage", 200, "wham_usage.json", NULL);
    snprintf(cred, sizeof cred, "%s/auth_valid.json", fixdir);
    pt_run("codex_oauth", &r, "{\"base_url\": \"http://127.0.0.1:%d/\", "
           "\"credentials_file\": \"%s\"}", port, cred);
    is_int(r.err, MD_ERR_NONE, "base without /backend-api uses /api/codex/usage");
    ok(pt_metric(&r, "five_hour") != NULL, "... and parses it");
    collect_result_clear(&r);
}

static void test_team_spend(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_usage_team_spend_control.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "team: collection succeeds");
    /* primary is the weekly window here: classified by length, not slot */
    check_window(&r, "seven_day", 100, 604800, 1773197162, "team");
    ok(pt_metric(&r, "five_hour") == NULL, "team: no 5-hour window invented");
    const metric *s = pt_metric(&r, "spend_control");
    ok(s != NULL, "team: spend_control present");
    if (s) {
        ok(strcmp(s->kind, "budget") == 0 && strcmp(s->unit, "credits") == 0,
           "spend: budget in ChatGPT credits, not usd");
        is_num(s->limit.value, 1000, "spend: limit \"1000\"");
        is_num(s->used.value, 36.79748725891113, "spend: used string");
        is_num(s->remaining.value, 963.2025127410889, "spend: remaining string");
        ok(pt_known(s->utilization) && (s->derived & METRIC_DERIVED_UTILIZATION),
           "spend: utilization derived from used/limit (exact, not the rounded 4)");
        is_num(s->utilization.value, 3.679748725891113, "spend: utilization 3.68 %");
        is_num(s->resets_at.epoch, 1775256758, "spend: resets_at epoch s");
    }
    const metric *cr = pt_metric(&r, "credits");
    ok(cr && pt_unknown(cr->remaining), "team: null balance stays unknown, not 0");
    ok(pt_has_note(&r, "plan: team"), "team: plan note");
    ok(pt_has_note(&r, "limit reached"), "team: limit_reached noted");
    ok(!pt_has_note(&r, "expects"), "team: weekly-only meter set satisfied");
    collect_result_clear(&r);
}

static void test_null_windows(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_null_windows.json", NULL);
    run(&r, "auth_valid.json", "");
    double now = (double)time(NULL);
    is_int(r.err, MD_ERR_NONE, "null windows: success");
    const metric *f = pt_metric(&r, "five_hour");
    ok(f && pt_known(f->utilization) && f->utilization.value == 23, "null windows: five_hour 23");
    ok(f && pt_known(f->resets_at) && fabs(f->resets_at.epoch - (now + 9000)) < 10,
       "null windows: reset_after_seconds is relative to now");
    const metric *s = pt_metric(&r, "seven_day");
    ok(s != NULL, "null secondary: expected seven_day still appears");
    ok(s && pt_unknown(s->utilization) && pt_unknown(s->resets_at),
       "null secondary: seven_day unknown, never 0 %");
    ok(s && pt_known(s->window_seconds) && s->window_seconds.value == 604800,
       "null secondary: template carries window_seconds");
    ok(pt_has_note(&r, "plan plus expects seven_day; the provider did not report it"),
       "null secondary: missing-meter note");
    const metric *cr = pt_metric(&r, "credits");
    ok(cr && pt_known(cr->remaining) && cr->remaining.value == 0,
       "has_credits false, balance null: no credits left (0), as OpenAI's clients show");
    collect_result_clear(&r);
}

static void test_rate_limit_null(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_rate_limit_null.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "rate_limit null: success");
    const metric *f = pt_metric(&r, "five_hour"), *s = pt_metric(&r, "seven_day");
    ok(f == NULL && s && pt_unknown(s->utilization),
       "pro without rate_limit: seven_day present and unknown, five_hour not expected");
    ok(!pt_has_note(&r, "plan pro expects five_hour"), "pro: five_hour not expected");
    ok(pt_has_note(&r, "plan pro expects seven_day"), "pro: seven_day note");
    ok(pt_has_note(&r, "rate_limit is null"), "rate_limit null noted");
    ok(pt_metric(&r, "credits") == NULL, "no credits object: no credits metric");
    collect_result_clear(&r);
}

static void test_strings(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_strings.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "strings: success");
    check_window(&r, "five_hour", 42.5, 18000, 1773160200, "strings");
    /* reset_at in milliseconds is recognised (>= 1e10) */
    check_window(&r, "seven_day", 41, 604800, 1773432000, "ms reset");
    const metric *cr = pt_metric(&r, "credits");
    ok(cr && pt_known(cr->remaining) && cr->remaining.value == 0,
       "credits \"0E-10\" is a known 0");
    collect_result_clear(&r);
}

static void test_new_keys(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_new_keys.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "new keys: success");
    check_window(&r, "five_hour", 100, 18000, 1773160200, "new keys");
    check_window(&r, "seven_day", 55, 604800, 1773432000, "new keys");
    check_window(&r, "window_60m", 12.25, 3600, 0, "unknown tertiary_window carried through");
    check_window(&r, "code_review_seven_day", 9, 604800, 1773432000, "code review");
    check_window(&r, "gpt_9_turbo_preview_window_1440m", 77, 86400, 1773187200,
                 "new additional limit");
    ok(pt_has_note(&r, "additional_rate_limits[0]"), "malformed element 0 noted");
    ok(pt_has_note(&r, "additional_rate_limits[1]"), "null rate_limit element noted");
    const metric *cr = pt_metric(&r, "credits");
    ok(cr && cr->remaining.state == MD_NOT_APPLICABLE, "unlimited credits: not applicable");
    const metric *s = pt_metric(&r, "spend_control");
    ok(s && pt_known(s->utilization) && s->utilization.value == 12,
       "root individual_limit: used_percent fallback");
    ok(s && pt_unknown(s->limit) && pt_unknown(s->used), "spend without amounts: unknown");
    ok(pt_has_note(&r, "plan quantum_max has no known meter set"), "unknown plan tolerated");
    ok(!pt_has_note(&r, "expects"), "unknown plan: nothing expected");
    collect_result_clear(&r);
}

static void test_plan_option(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_usage_team_spend_control.json", NULL);
    run(&r, "auth_valid.json", ", \"plan\": \"pro\"");
    ok(pt_has_note(&r, "plan: pro"), "plan option overrides plan_type");
    ok(pt_metric(&r, "five_hour") == NULL, "plan pro: five_hour not invented");
    ok(!pt_has_note(&r, "expects"), "plan pro: weekly window reported, set satisfied");
    collect_result_clear(&r);
}

/* Weekly-only Plus (OpenAI removed the 5-hour window for weeks). */
static void test_weekly_only(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_weekly_only_plus.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "weekly-only plus: success");
    check_window(&r, "seven_day", 37, 604800, 1786500000, "weekly-only plus");
    ok(pt_metric(&r, "five_hour") == NULL, "weekly-only plus: no unknown five_hour");
    ok(!pt_has_note(&r, "expects"), "weekly-only plus: no missing-meter note");
    is_int(r.n_metrics, 1, "weekly-only plus: one meter");
    collect_result_clear(&r);
}

/* Business spend control: workspace and group budgets, no individual. */
static void test_business_spend(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_business_spend.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "business spend: success");
    ok(pt_metric(&r, "spend_control") == NULL, "business spend: no individual limit invented");
    const metric *w = pt_metric(&r, "spend_control_workspace");
    ok(w && !strcmp(w->kind, "budget") && !strcmp(w->unit, "credits"),
       "workspace shared: budget in credits");
    ok(w && w->limit.value == 25000 && w->used.value == 8000 && w->remaining.value == 17000,
       "workspace shared: 8000 of 25000 credits, 17000 left");
    ok(w && fabs(w->utilization.value - 32) < 1e-9, "workspace shared: 32 %");
    ok(w && w->resets_at.epoch == 1774051200, "workspace shared: reset epoch s");
    const metric *g = pt_metric(&r, "spend_control_group_default");
    ok(g && g->limit.value == 5000 && g->used.value == 4900 && g->remaining.value == 100,
       "group default: amounts from details");
    ok(g && fabs(g->utilization.value - 98) < 1e-9, "group default: 98 %");
    ok(g && g->label && strstr(g->label, "(Eng)"), "group default: group name in label");
    ok(pt_has_note(&r, "rate limit reached: workspace_member_usage_limit_reached"),
       "rate_limit_reached_type noted");
    ok(!pt_has_note(&r, "spend control limit reached"), "not reached: no note");
    ok(!pt_has_note(&r, "unrecognised field"), "business spend: no drift note");
    is_int(r.n_metrics, 3, "business spend: seven_day + two budgets");
    collect_result_clear(&r);

    route(USAGE_PATH, 200, "wham_usage_based.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "usage-based plan: success");
    ok(pt_has_note(&r, "plan: self_serve_business_usage_based"), "usage-based plan noted");
    ok(!pt_has_note(&r, "no known meter set"), "usage-based plan has a meter set");
    const metric *ro = pt_metric(&r, "spend_control_role");
    ok(ro && ro->limit.value == 1000 && ro->used.value == 1000 && ro->remaining.value == 0,
       "role budget: 1000 of 1000 credits");
    ok(pt_has_note(&r, "spend control limit reached: role_budget_limit"),
       "reached_limit_type noted");
    collect_result_clear(&r);
}

/* A renamed field (used_percent -> usedPercent) and new ones. */
static void test_drift(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_drift.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "drift: success");
    const metric *s = pt_metric(&r, "seven_day");
    ok(s && pt_unknown(s->utilization) && s->resets_at.epoch == 1786500000,
       "drift: what could be read is read, the renamed percent is unknown");
    ok(pt_has_note(&r, "unrecognised field rate_limit.primary_window.usedPercent (format may have changed)"),
       "drift: renamed field noted");
    ok(pt_has_note(&r, "unrecognised field rate_limit.burst_allowance (format may have changed)"),
       "drift: new rate_limit member noted");
    ok(pt_has_note(&r, "unrecognised field promo_banner (format may have changed)"),
       "drift: new top-level member noted");
    ok(r.raw_json && strstr(r.raw_json, "usedPercent"), "drift: raw kept");
    collect_result_clear(&r);
}

static void test_headers(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_null_windows.json",
          "{\"x-codex-primary-used-percent\": \"99.0\", "
          "\"x-codex-primary-window-minutes\": \"300\", "
          "\"x-codex-primary-reset-at\": \"1773160200\", "
          "\"x-codex-secondary-used-percent\": \"41.0\", "
          "\"x-codex-secondary-window-minutes\": \"10080\", "
          "\"x-codex-secondary-reset-at\": \"1773432000\"}");
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_NONE, "headers: success");
    const metric *f = pt_metric(&r, "five_hour"), *s = pt_metric(&r, "seven_day");
    ok(f && f->utilization.value == 23 && strcmp(f->source, "oauth") == 0,
       "headers: the payload's five_hour wins over its header echo");
    ok(s && pt_known(s->utilization) && s->utilization.value == 41 &&
       strcmp(s->source, "headers") == 0, "headers: seven_day filled from x-codex-*");
    ok(!pt_has_note(&r, "expects seven_day"), "headers: no missing note once reported");
    collect_result_clear(&r);
}

static void test_http_errors(void)
{
    collect_result r;
    route(USAGE_PATH, 401, "error_401.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_AUTH, "401 -> auth");
    ok(contains(r.err_msg, "token has expired") && contains(r.err_msg, "run `codex login`"),
       "401: provider message and the renew command");
    ok(no_secrets(&r), "401: no secrets in the error");
    collect_result_clear(&r);

    route(USAGE_PATH, 403, "error_403.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_AUTH, "403 -> auth");
    ok(contains(r.err_msg, "Forbidden") && contains(r.err_msg, "codex login"),
       "403: detail message and renew command");
    collect_result_clear(&r);

    route(USAGE_PATH, 429, "error_429_usage_limit_reached.json", "{\"Retry-After\": \"120\"}");
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 -> rate_limited");
    ok(contains(r.err_msg, "usage limit has been reached"), "429: provider message");
    ok(r.retry_after > 118 && r.retry_after <= 120.5, "429: Retry-After 120 honoured");
    collect_result_clear(&r);

    route(USAGE_PATH, 429, "error_429_usage_limit_reached.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 without Retry-After -> rate_limited");
    ok(r.retry_after > 17990 && r.retry_after <= 18000.5,
       "429 without Retry-After: waits resets_in_seconds from the body");
    collect_result_clear(&r);

    route(USAGE_PATH, 500, "error_500.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_HTTP, "500 -> http");
    ok(contains(r.err_msg, "500") && contains(r.err_msg, "Internal server error"),
       "500: status and message");
    ok(r.n_metrics == 0, "500: no metrics");
    collect_result_clear(&r);

    route(USAGE_PATH, 502, "error_502.html", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_HTTP, "HTML 502 -> http");
    ok(contains(r.err_msg, "502 Bad Gateway"), "HTML 502: <title> as message");
    collect_result_clear(&r);

    route(USAGE_PATH, 200, "html_200.html", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_BAD_DATA, "HTML page with 200 -> bad_data");
    collect_result_clear(&r);

    route(USAGE_PATH, 200, "truncated.json", NULL);
    run(&r, "auth_valid.json", "");
    is_int(r.err, MD_ERR_BAD_DATA, "truncated JSON -> bad_data");
    ok(r.n_metrics == 0, "truncated: nothing emitted");
    collect_result_clear(&r);
}

static void test_credentials(void)
{
    collect_result r;
    route(USAGE_PATH, 200, "wham_usage.json", NULL);
    run(&r, "auth_expired.json", ", \"refresh\": \"off\"");
    is_int(r.err, MD_ERR_AUTH, "expired token -> auth");
    ok(contains(r.err_msg, "expired at 2001-09-09T01:46:40Z") &&
       contains(r.err_msg, "run `codex login`"), "expired: when, and the renew command");
    ok(r.err_msg && !strstr(r.err_msg, "SIGNATUREcodexTESTexpired"),
       "expired: token not quoted");
    is_int(n_requests(), 0, "expired: no request made");
    collect_result_clear(&r);

    run(&r, "auth_apikey.json", "");
    is_int(r.err, MD_ERR_AUTH, "API-key login (no tokens) -> auth");
    ok(contains(r.err_msg, "no ChatGPT tokens") && contains(r.err_msg, "codex login"),
       "API-key login: says why and what to run");
    ok(r.err_msg && !strstr(r.err_msg, "sk-proj-EXAMPLE"), "API-key login: key not leaked");
    is_int(n_requests(), 0, "API-key login: no request made");
    collect_result_clear(&r);

    run(&r, "auth_pat.json", "");
    is_int(r.err, MD_ERR_AUTH, "PAT login -> auth");
    ok(contains(r.err_msg, "personal-access-token login"), "PAT login: says so, not API-key");
    ok(r.err_msg && !strstr(r.err_msg, "API-key"), "PAT login: not called an API-key login");
    ok(pt_no_secret(&r, "codex-pat-EXAMPLE0000000000PATZ"), "PAT: not leaked");
    is_int(n_requests(), 0, "PAT login: no request made");
    collect_result_clear(&r);

    run(&r, "/nonexistent/meterd-test/auth.json", "");
    is_int(r.err, MD_ERR_AUTH, "missing auth.json -> auth");
    ok(contains(r.err_msg, "no Codex login file") && contains(r.err_msg, "keyring") &&
       contains(r.err_msg, "codex login"), "missing file: says a keyring login leaves no file");
    is_int(n_requests(), 0, "missing file: no request made");
    collect_result_clear(&r);

    run(&r, "auth_catalog.json", "");
    is_int(r.err, MD_ERR_NONE, "non-JWT access token: expiry unknown, server decides");
    is_int(n_requests(), 1, "non-JWT token: request made");
    collect_result_clear(&r);

    /* the file is only read: contents unchanged after collections */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/auth_valid.json", fixdir);
    struct stat st0, st1;
    stat(path, &st0);
    run(&r, "auth_valid.json", "");
    stat(path, &st1);
    ok(st0.st_mtime == st1.st_mtime && st0.st_size == st1.st_size,
       "auth.json not modified");
    collect_result_clear(&r);

    pt_run("codex_oauth", &r, "{\"base_url\": \"ftp://127.0.0.1:%d\"}", port);
    is_int(r.err, MD_ERR_CONFIG, "bad base_url -> config");
    collect_result_clear(&r);
}

/* Refresh of an expiring token, written back (mdu_oauth_refresh). */
static void test_refresh(void)
{
    static const char *const body[] = {
        "\"client_id\":\"app_EMoamEEZ73f0CkXaXp7hrann\"",
        "\"grant_type\":\"refresh_token\"",
        "\"refresh_token\":\"rt_EXAMPLErefreshtokenxxxxxxxxxxxxxxxx\"", NULL};
    rt_case c = {
        .plugin = "codex_oauth",
        .fixdir = fixdir,
        .expired = "auth_expired.json",
        .fresh = "auth_valid.json",
        .fresh_auth = "Bearer ****alid",
        .file_name = "auth.json",
        .lock_name = "auth.json.meterd.lock",
        .base_path = "/backend-api",
        .usage_routes = "{\"path\": \"/backend-api/wham/usage\", "
                        "\"body_file\": \"wham_usage.json\"}",
        .token_path = "/oauth/token",
        .token_reply = "{\"id_token\": \"eyJhbGciOiJSUzI1NiJ9.NEWID.SIG\", "
                       "\"access_token\": \"" CX_NEW_JWT "\", "
                       "\"refresh_token\": \"rt_ROTATED-refresh-3\"}",
        .new_access = CX_NEW_JWT,
        .new_auth = "Bearer ****NEWX",
        .body_has = body,
        .content_type = "application/json",
        .kept_key = "\"account_id\": \"a1b2c3d4-0000-4000-8000-00000000abcd\"",
        .lifetime = "about 10 days",
        .renew = "run `codex login`",
    };
    rt_all(port, &c);
}

int main(void)
{
    pt_mock m;
    if (!getcwd(fixdir, sizeof fixdir - 32)) return 1;
    strcat(fixdir, "/t/fixtures/codex_oauth");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    port = pt_mock_start("t/fixtures/codex_oauth", &m);
    if (!port) {
        printf("1..0 # SKIP mock server did not start\n");
        return 0;
    }
    test_normal();
    test_codex_path();
    test_team_spend();
    test_null_windows();
    test_rate_limit_null();
    test_strings();
    test_new_keys();
    test_plan_option();
    test_weekly_only();
    test_business_spend();
    test_drift();
    test_headers();
    test_http_errors();
    test_credentials();
    test_refresh();
    pt_mock_stop(&m);
    curl_global_cleanup();
    return done_testing();
}
