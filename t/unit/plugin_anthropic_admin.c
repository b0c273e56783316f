/* t/unit/plugin_anthropic_admin.c - plugins/anthropic_admin.so through the
 * real host (run_job) against t/mock/mockprov serving
 * t/fixtures/anthropic_admin/.  The fixtures' buckets are dated March 2026;
 * the plugin counts buckets of the CURRENT month only, so most cases serve
 * a fixture with its bucket dates moved to today / the 1st (inline body).
 * Oracles (recorded payloads): Sonnet row in 15230, cache_write 42100,
 * cache_read 913400, output 38211, total 1008941; cost bucket
 * (4.569 + 27.402 + 15.7875 + 57.3165 + 3.0) cents = $1.080750. */
#include "tap.h"
#include "plugtest.h"

#include <limits.h>
#include <time.h>

#define FIX "t/fixtures/anthropic_admin"
#define KEY "sk-ant-admin01-TESTadminKEY0000111122223333444455556666"
#define USAGE "/v1/organizations/usage_report/messages"
#define COST "/v1/organizations/cost_report"

#define A_USAGE "/v1/organizations/analytics/usage_report"
#define A_COST "/v1/organizations/analytics/cost_report"

static const pt_suite suite = {
    .plugin = "anthropic_admin",
    .fixtures = FIX,
    .options = ", \"api_key\": \"" KEY "\"",
};
static char fixdir[PATH_MAX];
static double today0, month0; /* UTC midnight today, the 1st */

static void clock_init(void)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    today0 = (double)timegm(&tm);
    month0 = today0 - (tm.tm_mday - 1) * 86400.0;
}

static json_t *iso(double t)
{
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
    return json_string(buf);
}

/* A fixture with data[i] re-dated to starts[i] (n entries; NAN keeps). */
static json_t *dated(const char *file, const double *starts, size_t n)
{
    char *path = xasprintf("%s/%s", fixdir, file);
    json_error_t e;
    json_t *doc = json_load_file(path, 0, &e);
    free(path);
    json_t *data = json_object_get(doc, "data");
    for (size_t i = 0; i < n && i < json_array_size(data); i++) {
        json_t *b = json_array_get(data, i);
        if (isnan(starts[i]))
            continue;
        json_object_set_new(b, "starting_at", iso(starts[i]));
        json_object_set_new(b, "ending_at", iso(starts[i] + 86400));
    }
    return doc;
}

/* One route (steals body). */
static json_t *rt(const char *path, int status, json_t *body,
                  const char *file, json_t *headers, int times)
{
    json_t *r = json_pack("{s:s, s:i}", "path", path, "status", status);
    if (body)
        json_object_set_new(r, "body", body);
    if (file)
        json_object_set_new(r, "body_file", json_string(file));
    if (headers)
        json_object_set_new(r, "headers", headers);
    if (times > 0)
        json_object_set_new(r, "times", json_integer(times));
    return r;
}

/* Install routes (the array is consumed) and clear the request log. */
static void routes(json_t *arr)
{
    char *text = json_dumps(arr, JSON_COMPACT);
    if (pt_mock_routes(pt_port, text) != 200)
        printf("# could not set routes\n");
    free(text);
    json_decref(arr);
    pt_mock_post(pt_port, "/_mock/reset", "");
}

static size_t collect_body(char *p, size_t s, size_t n, void *u)
{
    json_t **acc = u;
    json_error_t e;
    json_t *j = json_loadb(p, s * n, 0, &e);
    if (j) {
        json_decref(*acc);
        *acc = j;
    }
    return s * n;
}

static size_t n_requests(void)
{
    json_t *log = NULL;
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_mock/requests", pt_port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &log);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    size_t n = json_array_size(log);
    json_decref(log);
    return n;
}

static int mentions(const collect_result *r, const char *s)
{
    return (r->err_msg && strstr(r->err_msg, s)) ||
           (r->raw_json && strstr(r->raw_json, s)) || pt_has_note(r, s);
}

/* Expected buckets; NAN = unknown. */
typedef struct tok {
    double in, cr, cw, out, total;
} tok;

static void check_num(const collect_result *r, const char *id, double want,
                      const char *what)
{
    const metric *m = pt_metric(r, id);
    char n[160];
    snprintf(n, sizeof n, "%s: %s", what, id);
    if (!m) {
        ok(0, n);
        return;
    }
    if (isnan(want))
        ok(pt_unknown(m->used), n);
    else
        is_num(pt_known(m->used) ? m->used.value : -1, want, n);
}

static void check_tokens(const collect_result *r, const char *period, tok t,
                         const char *what)
{
    static const char *const names[] = {"input_uncached", "cache_read",
                                        "cache_write", "output", "total"};
    double v[] = {t.in, t.cr, t.cw, t.out, t.total};
    for (size_t i = 0; i < 5; i++) {
        char id[64];
        snprintf(id, sizeof id, "tokens_%s_%s", names[i], period);
        check_num(r, id, v[i], what);
    }
    char id[64];
    snprintf(id, sizeof id, "tokens_reasoning_%s", period);
    const metric *m = pt_metric(r, id);
    ok(m && pt_unknown(m->used) && strcmp(m->unit, "tokens") == 0 &&
           strcmp(m->kind, "usage") == 0,
       "reasoning is never reported by Anthropic: unknown");
}

static const tok FIXTURE_SUM = {15230 + 2040, 913400, 42100, 38211 + 512,
                                1008941 + 2040 + 512};
static const tok UNKNOWN_TOK = {NAN, NAN, NAN, NAN, NAN};

static void t_normal(void)
{
    double d[] = {today0, today0 + 86400};
    json_t *hdr = json_pack(
        "{s:s, s:s, s:s}", "anthropic-ratelimit-requests-limit", "1000",
        "anthropic-ratelimit-requests-remaining", "999",
        "anthropic-ratelimit-requests-reset", "2026-03-10T14:00:01Z");
    routes(json_pack("[o, o]",
                     rt(USAGE, 200, dated("usage_report.json", d, 2), NULL,
                        hdr, 0),
                     rt(COST, 200, dated("cost_report.json", d, 2), NULL,
                        NULL, 0)));
    collect_result r;
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    ok(pt_has_note(&r, "cost_usd_* exclude Priority Tier costs"), "normal: Priority Tier exclusion noted");
    check_tokens(&r, "today", FIXTURE_SUM, "normal today");
    check_tokens(&r, "month", FIXTURE_SUM, "normal month");
    check_num(&r, "cost_usd_today", 1.08075, "cost cents -> USD");
    check_num(&r, "cost_usd_month", 1.08075, "cost cents -> USD");
    const metric *c = pt_metric(&r, "cost_usd_month");
    ok(c && strcmp(c->unit, "usd") == 0 && strcmp(c->source, "api") == 0,
       "cost unit usd, source api");
    const metric *rl = pt_metric(&r, "ratelimit_requests");
    ok(rl && pt_known(rl->limit) && rl->limit.value == 1000 &&
           pt_known(rl->remaining) && rl->remaining.value == 999 &&
           strcmp(rl->source, "headers") == 0,
       "anthropic-ratelimit-* headers attached");
    ok(r.raw_json && strstr(r.raw_json, "usage_report") &&
           strstr(r.raw_json, "cost_report"), "raw holds both reports");
    is_int(n_requests(), 2, "two requests (one page each)");
    ok(!mentions(&r, KEY) && !mentions(&r, "TESTadminKEY"), "key nowhere");
    collect_result_clear(&r);
}

static void t_month_vs_today(void)
{
    double d[] = {month0, today0};
    routes(json_pack("[o, o]",
                     rt(USAGE, 200, dated("usage_report.json", d, 2), NULL,
                        NULL, 0),
                     rt(COST, 200, dated("cost_report.json", d, 2), NULL,
                        NULL, 0)));
    collect_result r;
    pt_go(&r, NULL);
    int first = month0 == today0; /* on the 1st both buckets are today */
    tok zero = {0, 0, 0, 0, 0};
    check_tokens(&r, "month", FIXTURE_SUM, "month sums every bucket");
    check_tokens(&r, "today", first ? FIXTURE_SUM : zero,
                 "today: empty bucket is a reported 0");
    check_num(&r, "cost_usd_month", 1.08075, "month cost");
    check_num(&r, "cost_usd_today", first ? 1.08075 : 0, "today cost");
    collect_result_clear(&r);
}

static void t_outside_month(void)
{
    /* the recorded fixtures: March 2026, not this month */
    routes(json_pack("[o, o]",
                     rt(USAGE, 200, NULL, "usage_report.json", NULL, 0),
                     rt(COST, 200, NULL, "cost_report.json", NULL, 0)));
    collect_result r;
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "old buckets: success");
    check_tokens(&r, "month", UNKNOWN_TOK, "buckets outside the month");
    check_tokens(&r, "today", UNKNOWN_TOK, "no bucket for today");
    check_num(&r, "cost_usd_month", NAN, "no cost bucket: unknown, not 0");
    ok(pt_has_note(&r, "no usage bucket for this month"), "noted");
    collect_result_clear(&r);
}

static void usage_only(const char *file, const double *d, size_t n,
                       collect_result *r)
{
    double c[] = {today0};
    routes(json_pack("[o, o]", rt(USAGE, 200, dated(file, d, n), NULL, NULL, 0),
                     rt(COST, 200, dated("cost_report.json", c, 1), NULL,
                        NULL, 0)));
    pt_go(r, NULL);
}

static void t_variants(void)
{
    collect_result r;
    double d[] = {today0, NAN};
    usage_only("usage_strings.json", d, 1, &r);
    tok sonnet = {15230, 913400, 42100, 38211, 1008941};
    check_tokens(&r, "today", sonnet, "numbers as strings (Sonnet oracle)");
    collect_result_clear(&r);

    usage_only("usage_missing_fields.json", d, 2, &r);
    is_int(r.err, MD_ERR_NONE, "missing fields: success");
    tok partial = {100, NAN, 25, NAN, NAN};
    check_tokens(&r, "today", partial, "missing/null counters stay unknown");
    ok(pt_has_note(&r, "bucket without a usable starting_at"),
       "bucket without starting_at noted");
    collect_result_clear(&r);

    usage_only("usage_new_keys.json", d, 1, &r);
    tok small = {10, 40, 10, 50, 110};
    check_tokens(&r, "today", small, "unknown keys ignored");
    collect_result_clear(&r);
}

static void t_pages(void)
{
    double p1[] = {month0}, p2[] = {today0}, c[] = {today0};
    json_t *arr = json_pack(
        "[o, o, o]",
        rt(USAGE, 200, dated("usage_page1.json", p1, 1), NULL, NULL, 1),
        rt(USAGE, 200, dated("usage_page2.json", p2, 1), NULL, NULL, 0),
        rt(COST, 200, dated("cost_report.json", c, 1), NULL, NULL, 0));
    json_t *copy = json_deep_copy(arr);
    routes(arr);
    collect_result r;
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "pages: success");
    tok month = {1001, 2004, 5, 305, 3315}, today = {1, 4, 5, 5, 15};
    check_tokens(&r, "month", month, "two pages summed");
    if (month0 != today0)
        check_tokens(&r, "today", today, "today from page 2");
    is_int(n_requests(), 3, "next_page followed once");
    collect_result_clear(&r);

    routes(copy);
    pt_go(&r, ", \"max_pages\": \"1\"");
    is_int(r.err, MD_ERR_NONE, "page cap: success");
    check_tokens(&r, "month", UNKNOWN_TOK, "page cap: partial month unknown");
    ok(pt_has_note(&r, "more than 1 pages"), "page cap noted");
    collect_result_clear(&r);
}

static void cost_case(const char *file, double want, const char *what)
{
    double d[] = {today0};
    routes(json_pack("[o, o]",
                     rt(USAGE, 200, dated("usage_strings.json", d, 1), NULL,
                        NULL, 0),
                     rt(COST, 200, dated(file, d, 1), NULL, NULL, 0)));
    collect_result r;
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, what);
    check_num(&r, "cost_usd_today", want, what);
    check_num(&r, "tokens_output_today", 38211, what);
    if (isnan(want))
        ok(pt_has_note(&r, "without a usable amount"), "bad amount noted");
    collect_result_clear(&r);
}

static void check_error(const char *path, int status, const char *file,
                        json_t *headers, md_error cls, const char *frag,
                        double retry_min, double retry_max, const char *what)
{
    double d[] = {today0};
    json_t *ok_usage = rt(USAGE, 200, dated("usage_strings.json", d, 1), NULL,
                          NULL, 0);
    json_t *ok_cost = rt(COST, 200, dated("cost_report.json", d, 1), NULL,
                         NULL, 0);
    json_t *bad = rt(path, status, NULL, file, headers, 0);
    routes(json_pack("[o, o, o]", bad, ok_usage, ok_cost));
    collect_result r;
    pt_go(&r, NULL);
    char n[200];
    snprintf(n, sizeof n, "%s: class", what);
    is_int(r.err, cls, n);
    snprintf(n, sizeof n, "%s: message has '%s'", what, frag);
    ok(r.err_msg && strstr(r.err_msg, frag), n);
    if (!(r.err_msg && strstr(r.err_msg, frag)))
        printf("# err_msg: %s\n", r.err_msg ? r.err_msg : "(null)");
    snprintf(n, sizeof n, "%s: retry_after", what);
    ok(r.retry_after >= retry_min && r.retry_after <= retry_max, n);
    snprintf(n, sizeof n, "%s: no metrics, no key", what);
    ok(r.n_metrics == 0 && !mentions(&r, KEY) && !mentions(&r, "TESTadminKEY"),
       n);
    collect_result_clear(&r);
}

static void t_errors(void)
{
    check_error(USAGE, 401, "error_401.json", NULL, MD_ERR_AUTH,
                "invalid x-api-key", -1, -1, "401");
    check_error(USAGE, 401, "error_401.json", NULL, MD_ERR_AUTH,
                "admin key (sk-ant-admin01", -1, -1, "401 hint");
    check_error(USAGE, 401, "error_401_echo.json", NULL, MD_ERR_AUTH,
                "invalid x-api-key", -1, -1, "401 echoing the key");
    check_error(USAGE, 403, "error_403.json", NULL, MD_ERR_AUTH,
                "permission to access the Admin API", -1, -1, "403");
    check_error(USAGE, 429, "error_429.json",
                json_pack("{s:s}", "retry-after", "12"), MD_ERR_RATE_LIMITED,
                "Rate limited", 10, 12.5, "429 Retry-After 12");
    check_error(USAGE, 429, "error_429.json", NULL, MD_ERR_RATE_LIMITED,
                "HTTP 429", -1, -1, "429 without Retry-After");
    check_error(USAGE, 500, "error_500.html", NULL, MD_ERR_HTTP,
                "500 Internal Server Error", -1, -1, "500 html");
    check_error(USAGE, 200, "truncated.json", NULL, MD_ERR_BAD_DATA,
                "usage_report", -1, -1, "truncated JSON");
    check_error(USAGE, 200, "html_instead_of_json.html", NULL,
                MD_ERR_BAD_DATA, "usage_report", -1, -1, "HTML instead of JSON");
    check_error(COST, 500, "error_500.html", NULL, MD_ERR_HTTP,
                "500 Internal Server Error", -1, -1, "cost_report 500");
    check_error(COST, 200, "cost_no_data.json", NULL, MD_ERR_BAD_DATA,
                "no data array", -1, -1, "cost_report without data");
}

static void t_config(void)
{
    collect_result r;
    routes(json_pack("[o]", rt(USAGE, 200, NULL, "usage_report.json", NULL,
                               0)));
    pt_run("anthropic_admin", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}",
           pt_port);
    is_int(r.err, MD_ERR_AUTH, "no api_key: auth");
    ok(r.err_msg && strstr(r.err_msg, "ANTHROPIC_ADMIN_KEY"),
       "no api_key: says how to set it");
    is_int(n_requests(), 0, "no api_key: no request");
    collect_result_clear(&r);
    pt_go(&r, ", \"max_pages\": \"0\"");
    is_int(r.err, MD_ERR_CONFIG, "max_pages 0: config");
    collect_result_clear(&r);
    pt_run("anthropic_admin", &r, "{\"base_url\": \"file:///etc\", "
           "\"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "file:// base_url: config");
    ok(!mentions(&r, KEY), "config error: no key");
    collect_result_clear(&r);
}

/* api: analytics reads the analytics reports (documented shape: one
 * combined row per bucket, amount in fractional cents, data_refreshed_at) */
static void t_analytics(void)
{
    double d[] = {today0, today0 + 86400};
    routes(json_pack("[o, o, o, o]",
                     rt(A_USAGE, 200, dated("analytics_usage.json", d, 2), NULL, NULL, 0),
                     rt(A_COST, 200, dated("analytics_cost.json", d, 2), NULL, NULL, 0),
                     rt(USAGE, 500, NULL, "error_500.html", NULL, 0),
                     rt(COST, 500, NULL, "error_500.html", NULL, 0)));
    collect_result r;
    pt_go(&r, ", \"api\": \"analytics\"");
    is_int(r.err, MD_ERR_NONE, "analytics: success");
    const tok want = {7000, 20000, 1500, 3000, 31500};
    check_tokens(&r, "today", want, "analytics today");
    check_tokens(&r, "month", want, "analytics month");
    check_num(&r, "cost_usd_month", 2.505, "analytics: fractional cents -> USD");
    ok(!pt_has_note(&r, "Priority Tier"), "analytics: no legacy Priority Tier note");
    ok(!pt_has_note(&r, "unrecognised field"), "analytics: documented fields are not drift");
    is_int(n_requests(), 2, "analytics: two requests, no legacy report read");
    collect_result_clear(&r);

    routes(json_pack("[o, o]",
                     rt(A_USAGE, 200, dated("analytics_unrefreshed.json", d, 2), NULL, NULL, 0),
                     rt(A_COST, 200, dated("analytics_cost.json", d, 2), NULL, NULL, 0)));
    pt_go(&r, ", \"api\": \"analytics\"");
    is_int(r.err, MD_ERR_NONE, "analytics unrefreshed: success");
    check_tokens(&r, "month", UNKNOWN_TOK, "no export yet: unknown, not 0");
    ok(pt_has_note(&r, "data_refreshed_at null"), "analytics unrefreshed: noted");
    check_num(&r, "cost_usd_month", 2.505, "analytics unrefreshed: cost still read");
    collect_result_clear(&r);

    routes(json_pack("[o]", rt(A_USAGE, 403, NULL, "error_403.json", NULL, 0)));
    pt_go(&r, ", \"api\": \"analytics\"");
    is_int(r.err, MD_ERR_AUTH, "analytics with a key without read:analytics: auth");
    collect_result_clear(&r);

    pt_go(&r, ", \"api\": \"v2\"");
    is_int(r.err, MD_ERR_CONFIG, "api v2: config");
    ok(r.err_msg && strstr(r.err_msg, "legacy or analytics"), "api v2: says what is allowed");
    collect_result_clear(&r);
}

/* A renamed field (output_tokens -> output_token_count), a new one and a
 * number turned into a word: noted, the collection goes through, and what
 * could not be read is unknown. */
static void t_drift(void)
{
    double d[] = {today0};
    routes(json_pack("[o, o]",
                     rt(USAGE, 200, dated("usage_drift.json", d, 1), NULL, NULL, 0),
                     rt(COST, 200, dated("cost_report.json", d, 1), NULL, NULL, 0)));
    collect_result r;
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "drift: success with what could be read");
    static const char *const fields[] = {
        "data[].results[].output_token_count", "data[].results[].priority_tokens",
        "data[].results[].cache_creation.ephemeral_5m_input_tokens"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char want[160], name[160];
        snprintf(want, sizeof want, "unrecognised field %s (format may have changed)",
                 fields[i]);
        snprintf(name, sizeof name, "drift: %s noted", fields[i]);
        ok(pt_has_note(&r, want), name);
    }
    const tok want = {100, 400, NAN, NAN, NAN};
    check_tokens(&r, "month", want, "drift");
    check_num(&r, "cost_usd_month", 1.08075, "drift: cost still read");
    collect_result_clear(&r);

    double d2[] = {today0, today0 + 86400};
    routes(json_pack("[o, o]",
                     rt(USAGE, 200, dated("usage_report.json", d2, 2), NULL, NULL, 0),
                     rt(COST, 200, dated("cost_report.json", d2, 2), NULL, NULL, 0)));
    pt_go(&r, NULL);
    ok(!pt_has_note(&r, "unrecognised field"), "drift: the recorded payloads note nothing");
    collect_result_clear(&r);
}

int main(void)
{
    if (!realpath(FIX, fixdir)) {
        printf("1..0 # SKIP no %s\n", FIX);
        return 0;
    }
    if (!pt_start(&suite))
        return 0;
    log_set_level(MD_LOG_ERROR);
    clock_init();
    t_normal();
    t_month_vs_today();
    t_outside_month();
    t_variants();
    t_pages();
    cost_case("cost_odd.json", 1.7378912, "fractional cents + number amount");
    cost_case("cost_bad_amount.json", NAN, "unusable amount: cost unknown");
    t_errors();
    t_config();
    t_analytics();
    t_drift();
    return pt_finish();
}
