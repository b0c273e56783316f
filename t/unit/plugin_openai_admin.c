/* t/unit/plugin_openai_admin.c - the openai_admin plugin
 * (plugins/openai_admin.so) through the real host (pt_run -> run_job)
 * against t/mock/mockprov serving t/fixtures/openai_admin/.  "now" is
 * pinned with reference_time = 1773151200 (2026-03-10T14:00:00Z, the
 * recorded reference): today starts 1773100800, the month 1772323200. */
#include "tap.h"
#include "plugtest.h"

#include <time.h>

#include <jansson.h>

#define KEY "sk-admin-testkey0123456789wxyz"
#define USAGE "/v1/organization/usage/completions"
#define COSTS "/v1/organization/costs"
#define GRANTS "/v1/dashboard/billing/credit_grants"
#define EMB "/v1/organization/usage/embeddings"
#define MOD "/v1/organization/usage/moderations"
#define REF "1773151200"
/* embeddings and moderations read by default: empty days unless a test
 * says otherwise, so that the completions figures stay the sums */
#define EXTRA ", {\"path\": \"" EMB "\", \"body_file\": \"usage_zero.json\"}," \
              " {\"path\": \"" MOD "\", \"body_file\": \"usage_zero.json\"}"

static const pt_suite suite = {
    .plugin = "openai_admin",
    .fixtures = "t/fixtures/openai_admin",
    .options = ", \"api_key\": \"" KEY "\", \"reference_time\": \"" REF "\"",
};

/* ---- mock helpers ---- */

typedef struct buf { char *p; size_t n; } buf;

/* Requests made to path since the last route change. */
static int n_requests(const char *path)
{
    json_t *log = pt_mock_requests(pt_port), *e;
    size_t i;
    int n = 0;
    json_array_foreach(log, i, e) {
        const char *p = json_string_value(json_object_get(e, "path"));
        if (!path || (p && strcmp(p, path) == 0)) n++;
    }
    json_decref(log);
    return n;
}

/* Replace the routes (a JSON array text) and clear the request log. */
/* usage + costs from body files, with a status for each. */
static void route2(int ust, const char *ufile, const char *uhdr, int cst, const char *cfile)
{
    char r[1024];
    snprintf(r, sizeof r,
             "[{\"path\": \"" USAGE "\", \"status\": %d, \"body_file\": \"%s\", \"headers\": %s},"
             " {\"path\": \"" COSTS "\", \"status\": %d, \"body_file\": \"%s\"},"
             " {\"path\": \"" GRANTS "\", \"body_file\": \"credit_grants.json\"}" EXTRA "]",
             ust, ufile, uhdr ? uhdr : "{}", cst, cfile);
    pt_mock_use(pt_port, r);
}

static int contains(const char *s, const char *needle)
{
    int yes = s && strstr(s, needle);
    if (!yes) printf("#   '%s' does not contain '%s'\n", s ? s : "(null)", needle);
    return yes;
}

static int no_key(const collect_result *r)
{
    if (r->err_msg && strstr(r->err_msg, KEY)) return 0;
    if (r->raw_json && strstr(r->raw_json, KEY)) return 0;
    for (size_t i = 0; i < r->n_notes; i++)
        if (strstr(r->notes[i], KEY)) return 0;
    return 1;
}

/* A token bucket: want < 0 means unknown, -2 not applicable. */
static void check_tok(const collect_result *r, const char *id, double want, const char *what)
{
    char name[160];
    const metric *m = pt_metric(r, id);
    snprintf(name, sizeof name, "%s: %s", what, id);
    if (!ok(m != NULL, name)) return;
    if (want == -2) {
        snprintf(name, sizeof name, "%s: %s not applicable", what, id);
        ok(m->used.state == MD_NOT_APPLICABLE, name);
    } else if (want < 0) {
        snprintf(name, sizeof name, "%s: %s unknown (not 0)", what, id);
        ok(pt_unknown(m->used), name);
    } else {
        snprintf(name, sizeof name, "%s: %s = %.0f", what, id, want);
        ok(pt_known(m->used), name);
        is_num(m->used.value, want, name);
    }
}

/* input_uncached, cache_read, cache_write, output, reasoning, total */
static void check_period(const collect_result *r, const char *period, const double v[6],
                         const char *what)
{
    static const char *const b[] = {"input_uncached", "cache_read", "cache_write",
                                    "output", "reasoning", "total"};
    for (int i = 0; i < 6; i++) {
        char id[64];
        snprintf(id, sizeof id, "tokens_%s_%s", b[i], period);
        check_tok(r, id, v[i], what);
    }
}

static void check_cost(const collect_result *r, const char *id, double want,
                       const char *unit, const char *what)
{
    char name[160];
    const metric *m = pt_metric(r, id);
    snprintf(name, sizeof name, "%s: %s present, kind usage, unit %s", what, id, unit);
    if (!ok(m && strcmp(m->kind, "usage") == 0 && m->unit && strcmp(m->unit, unit) == 0, name))
        return;
    snprintf(name, sizeof name, "%s: %s", what, id);
    if (want < 0) {
        ok(pt_unknown(m->used), name);
    } else {
        ok(pt_known(m->used), name);
        is_num(m->used.value, want, name);
    }
}

#define U (-1.0)
#define NA (-2.0)

/* ---- cases ---- */

static void test_normal(void)
{
    collect_result r;
    route2(200, "usage_completions.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "recorded payloads: success");
    ok(pt_has_note(&r, "tokens_* count completions, embeddings, moderations usage"),
       "recorded payloads: the endpoints read are noted");
    /* 2026-03-10 has an empty bucket: a real 0, not unknown */
    const double today[6] = {0, 0, NA, 0, U, 0};
    /* 2026-03-09: 182340+9120 input of which 120000+0 cached; 20411+880 out */
    const double month[6] = {71460, 120000, NA, 21291, U, 212751};
    check_period(&r, "today", today, "recorded");
    check_period(&r, "month", month, "recorded");
    const metric *t = pt_metric(&r, "tokens_total_month");
    ok(t && strcmp(t->kind, "usage") == 0 && strcmp(t->unit, "tokens") == 0 &&
       strcmp(t->source, "api") == 0, "tokens: kind usage, unit tokens, source api");
    check_cost(&r, "cost_usd_today", 0, "usd", "recorded");
    check_cost(&r, "cost_usd_month", 0.6228725, "usd", "recorded");
    ok(pt_metric(&r, "credits_usd") == NULL, "credit grants off by default");
    is_int(r.n_metrics, 14, "12 token buckets + 2 costs");
    ok(r.raw_json && contains(r.raw_json, USAGE) && contains(r.raw_json, COSTS),
       "raw holds both endpoints");
    ok(no_key(&r), "key not in raw/notes");
    is_int(n_requests(USAGE), 1, "one usage request");
    is_int(n_requests(EMB), 1, "embeddings read by default");
    is_int(n_requests(MOD), 1, "moderations read by default");
    is_int(n_requests(COSTS), 1, "one costs request");
    is_int(n_requests(GRANTS), 0, "no credit grants request");
    json_t *log = pt_mock_requests(pt_port);
    is_str(json_string_value(json_object_get(json_array_get(log, 0), "authorization")),
           "Bearer ****wxyz", "admin key sent as Bearer");
    json_decref(log);
    collect_result_clear(&r);
}

static void test_grants(void)
{
    collect_result r;
    route2(200, "usage_completions.json", NULL, 200, "costs.json");
    pt_go(&r, ", \"credit_grants\": \"true\"");
    is_int(r.err, MD_ERR_NONE, "grants: success");
    const metric *c = pt_metric(&r, "credits_usd");
    ok(c && strcmp(c->kind, "credits") == 0 && strcmp(c->unit, "usd") == 0,
       "grants: credits_usd kind credits unit usd");
    if (c) {
        is_num(c->remaining.value, 18.25, "grants: remaining = total_available");
        is_num(c->limit.value, 25.5, "grants: limit = total_granted");
        is_num(c->used.value, 7.25, "grants: used = total_used");
    }
    is_int(n_requests(GRANTS), 1, "grants: requested");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_completions.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"},"
           " {\"path\": \"" GRANTS "\", \"status\": 403, \"body_file\": \"error_403.json\"}" EXTRA "]");
    pt_go(&r, ", \"credit_grants\": \"true\"");
    is_int(r.err, MD_ERR_NONE, "grants 403: the collection still succeeds");
    ok(pt_metric(&r, "credits_usd") == NULL, "grants 403: no balance invented");
    ok(pt_has_note(&r, "credit grants unavailable: HTTP 403"), "grants 403: noted");
    ok(pt_metric(&r, "cost_usd_month") != NULL, "grants 403: costs still reported");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_completions.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"},"
           " {\"path\": \"" GRANTS "\", \"body_file\": \"credit_grants_strings.json\"}" EXTRA "]");
    pt_go(&r, ", \"credit_grants\": \"true\"");
    c = pt_metric(&r, "credits_usd");
    ok(c && pt_known(c->remaining) && c->remaining.value == 18.25, "grants strings: \"18.25\"");
    ok(c && pt_known(c->limit) && c->limit.value == 25.5, "grants strings: \"25.5\"");
    ok(c && pt_unknown(c->used), "grants: null total_used stays unknown");
    collect_result_clear(&r);
}

static void test_pages(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_page1.json\", \"times\": 1},"
           " {\"path\": \"" USAGE "\", \"body_file\": \"usage_page2.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"}" EXTRA "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "pages: success");
    is_int(n_requests(USAGE), 2, "pages: next_page followed once");
    const double today[6] = {500, 1500, NA, 700, U, 2700};
    /* the February bucket on page 2 is outside the month and not counted */
    const double month[6] = {1600, 1900, NA, 1100, U, 4600};
    check_period(&r, "today", today, "pages");
    check_period(&r, "month", month, "pages");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_more_forever.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"}" EXTRA "]");
    pt_go(&r, ", \"max_pages\": \"2\"");
    is_int(r.err, MD_ERR_NONE, "endless pages: success");
    is_int(n_requests(USAGE), 2, "endless pages: stops at max_pages");
    check_tok(&r, "tokens_total_month", U, "endless pages: partial month");
    check_tok(&r, "tokens_total_today", U, "endless pages: partial today");
    ok(pt_has_note(&r, "more than 2 pages"), "endless pages: noted");
    check_cost(&r, "cost_usd_month", 0.6228725, "usd", "endless usage pages");
    collect_result_clear(&r);

    pt_run("openai_admin", &r, "{\"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"" KEY
           "\", \"max_pages\": \"0\"}", pt_port);
    is_int(r.err, MD_ERR_CONFIG, "max_pages 0 -> config");
    collect_result_clear(&r);
}

static void test_strings_and_new_fields(void)
{
    collect_result r;
    route2(200, "usage_strings.json", NULL, 200, "costs_strings.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "strings: success");
    /* 5000 input = 3000 cached + 500 + 100 cache writes + 1400 uncached */
    const double today[6] = {1400, 3000, 600, 1200, U, 6200};
    check_period(&r, "today", today, "strings/new fields");
    check_period(&r, "month", today, "strings/new fields (month)");
    check_cost(&r, "cost_usd_today", 2.0, "usd", "string amount + \"USD\" lower-cased");
    check_cost(&r, "cost_eur_today", 3.5, "eur", "other currency carried through");
    check_cost(&r, "cost_eur_month", 3.5, "eur", "other currency carried through");
    collect_result_clear(&r);
}

static void test_unknowns(void)
{
    collect_result r;
    route2(200, "usage_cached_null.json", NULL, 200, "costs_bad_amount.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "null cached: success");
    const double today[6] = {U, U, NA, 250, U, 1150};
    check_period(&r, "today", today, "null/absent input_cached_tokens");
    check_cost(&r, "cost_usd_month", U, "usd", "null amount: month unknown");
    check_cost(&r, "cost_usd_today", 2.0, "usd", "null amount only on the 9th: today known");
    ok(pt_has_note(&r, "without a usable amount.value"), "null amount noted");
    collect_result_clear(&r);

    route2(200, "usage_empty.json", NULL, 200, "usage_empty.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "no buckets: success");
    const double unk[6] = {U, U, U, U, U, U};
    check_period(&r, "today", unk, "no buckets");
    check_period(&r, "month", unk, "no buckets");
    check_cost(&r, "cost_usd_month", U, "usd", "no cost buckets");
    ok(pt_has_note(&r, "no usage bucket for today"), "no buckets: noted");
    collect_result_clear(&r);
}

static void test_headers(void)
{
    collect_result r;
    route2(200, "usage_completions.json",
           "{\"x-ratelimit-limit-requests\": \"5000\", \"x-ratelimit-remaining-requests\": \"4999\","
           " \"x-ratelimit-reset-requests\": \"12ms\", \"x-ratelimit-limit-tokens\": \"4000000\","
           " \"x-ratelimit-remaining-tokens\": \"3998765\", \"x-ratelimit-reset-tokens\": \"6m0s\"}",
           200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "headers: success");
    const metric *q = pt_metric(&r, "ratelimit_requests");
    ok(q && strcmp(q->source, "headers") == 0, "headers: ratelimit_requests from x-ratelimit-*");
    ok(q && q->limit.value == 5000 && q->remaining.value == 4999, "headers: limit/remaining");
    const metric *t = pt_metric(&r, "ratelimit_tokens");
    double now = (double)time(NULL);
    ok(t && pt_known(t->resets_at) && fabs(t->resets_at.epoch - (now + 360)) < 10,
       "headers: 6m0s reset relative to now");
    collect_result_clear(&r);
}

static void test_errors(void)
{
    collect_result r;
    route2(401, "error_401.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_AUTH, "401 -> auth");
    ok(contains(r.err_msg, "Incorrect API key provided") && contains(r.err_msg, "Admin key"),
       "401: provider message + hint");
    is_int(n_requests(COSTS), 0, "401: stops before costs");
    collect_result_clear(&r);

    route2(401, "error_401_echo.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_AUTH, "401 echoing the key -> auth");
    ok(no_key(&r), "401 echo: the key is masked in the message");
    collect_result_clear(&r);

    route2(403, "error_403.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_AUTH, "403 -> auth");
    ok(contains(r.err_msg, "Missing scopes"), "403: message");
    collect_result_clear(&r);

    route2(429, "error_429_insufficient_quota.json", "{\"Retry-After\": \"20\"}", 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 insufficient_quota -> rate_limited");
    ok(contains(r.err_msg, "exceeded your current quota"), "429: message");
    ok(r.retry_after > 18 && r.retry_after <= 20.5, "429: Retry-After 20");
    collect_result_clear(&r);

    route2(429, "error_429_rate_limit.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 without Retry-After -> rate_limited");
    ok(r.retry_after < 0, "429 without Retry-After: no wait invented");
    collect_result_clear(&r);

    route2(200, "usage_completions.json", NULL, 500, "error_500.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_HTTP, "costs 500 -> http");
    ok(contains(r.err_msg, "HTTP 500") && contains(r.err_msg, "server had an error"),
       "500: status and message");
    ok(r.n_metrics == 0, "500: the failed collection emits nothing");
    collect_result_clear(&r);

    route2(502, "error_502.html", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_HTTP, "HTML 502 -> http");
    ok(contains(r.err_msg, "502 Bad Gateway"), "HTML: <title> as message");
    collect_result_clear(&r);

    route2(200, "error_502.html", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_BAD_DATA, "HTML with 200 -> bad_data");
    collect_result_clear(&r);

    route2(200, "truncated.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_BAD_DATA, "truncated JSON -> bad_data");
    collect_result_clear(&r);

    route2(200, "usage_completions.json", NULL, 200, "costs.json");
    pt_run("openai_admin", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "no api_key -> auth");
    ok(contains(r.err_msg, "api_key"), "no api_key: says what to set");
    is_int(n_requests(NULL), 0, "no api_key: no request made");
    collect_result_clear(&r);

    pt_run("openai_admin", &r, "{\"base_url\": \"file:///etc\", \"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "bad base_url -> config");
    collect_result_clear(&r);
}

/* embeddings and moderations add their input tokens to the totals; a
 * day one endpoint did not report leaves that period unknown */
static void test_endpoints(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_completions.json\"},"
           " {\"path\": \"" EMB "\", \"body_file\": \"usage_embeddings.json\"},"
           " {\"path\": \"" MOD "\", \"body_file\": \"usage_moderations.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "endpoints: success");
    /* completions as in test_normal; + 4000 + 1000 + 300 embeddings,
     * + 50 moderations, all uncached input */
    const double today[6] = {300, 0, NA, 0, U, 300};
    const double month[6] = {71460 + 5300 + 50, 120000, NA, 21291, U, 212751 + 5350};
    check_period(&r, "today", today, "three endpoints");
    check_period(&r, "month", month, "three endpoints");
    ok(r.raw_json && contains(r.raw_json, EMB) && contains(r.raw_json, MOD),
       "endpoints: raw holds every endpoint");
    collect_result_clear(&r);

    pt_mock_reset(pt_port);
    pt_go(&r, ", \"endpoints\": \"completions\"");
    is_int(r.err, MD_ERR_NONE, "endpoints=completions: success");
    is_int(n_requests(EMB) + n_requests(MOD), 0, "endpoints=completions: nothing else read");
    check_tok(&r, "tokens_total_month", 212751, "endpoints=completions");
    ok(pt_has_note(&r, "tokens_* count completions usage"), "endpoints=completions: noted");
    collect_result_clear(&r);

    pt_mock_reset(pt_port);
    pt_go(&r, ", \"endpoints\": \" embeddings , moderations\"");
    is_int(r.err, MD_ERR_NONE, "endpoints without completions: success");
    is_int(n_requests(USAGE), 0, "endpoints without completions: completions not read");
    check_tok(&r, "tokens_total_month", 5350, "embeddings + moderations only");
    check_tok(&r, "tokens_input_uncached_today", 300, "embeddings + moderations today");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_completions.json\"},"
           " {\"path\": \"" EMB "\", \"body_file\": \"usage_embeddings.json\"},"
           " {\"path\": \"" MOD "\", \"body_file\": \"usage_moderations_no_today.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "moderations without today: success");
    check_tok(&r, "tokens_total_today", U, "moderations without today: today unknown, not 300");
    check_tok(&r, "tokens_total_month", 212751 + 5350, "moderations without today: month known");
    collect_result_clear(&r);

    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_completions.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs.json\"}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_HTTP, "embeddings endpoint missing (404) -> http, not a short sum");
    collect_result_clear(&r);

    pt_go(&r, ", \"endpoints\": \"completions,images\"");
    is_int(r.err, MD_ERR_CONFIG, "endpoints=images -> config (not tokens)");
    ok(contains(r.err_msg, "unknown 'images'"), "endpoints: the bad name is named");
    collect_result_clear(&r);
    pt_go(&r, ", \"endpoints\": \" , \"");
    is_int(r.err, MD_ERR_CONFIG, "endpoints empty -> config");
    collect_result_clear(&r);
}

/* A renamed field (input_cached_tokens -> cached_input_tokens), new
 * fields and a number turned into a word: noted, the collection goes
 * through, and what could not be read is unknown rather than 0. */
static void test_drift(void)
{
    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"" USAGE "\", \"body_file\": \"usage_drift.json\"},"
           " {\"path\": \"" COSTS "\", \"body_file\": \"costs_drift.json\"}" EXTRA "]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "drift: success with what could be read");
    static const char *const fields[] = {
        "data[].results[].cached_input_tokens", "data[].results[].reasoning_tokens",
        "data[].results[].output_tokens", "usage_summary",
        "data[].results[].amount.value_minor", "data[].results[].quantity"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char want[160], name[160];
        snprintf(want, sizeof want, "unrecognised field %s (format may have changed)", fields[i]);
        snprintf(name, sizeof name, "drift: %s noted", fields[i]);
        ok(pt_has_note(&r, want), name);
    }
    ok(!pt_has_note(&r, "start_time_iso"), "drift: documented bucket fields are not noted");
    ok(!pt_has_note(&r, "unrecognised field data[].results[].model"),
       "drift: documented result fields are not noted");
    check_tok(&r, "tokens_output_today", U, "drift: output_tokens \"lots\"");
    check_tok(&r, "tokens_cache_read_today", U, "drift: renamed cached count");
    check_cost(&r, "cost_usd_today", 1.25, "usd", "drift: costs still read");
    collect_result_clear(&r);

    route2(200, "usage_completions.json", NULL, 200, "costs.json");
    pt_go(&r, NULL);
    ok(!pt_has_note(&r, "unrecognised field"), "drift: the recorded payloads note nothing");
    collect_result_clear(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!pt_start(&suite))
        return 0;
    test_normal();
    test_grants();
    test_pages();
    test_strings_and_new_fields();
    test_unknowns();
    test_headers();
    test_errors();
    test_endpoints();
    test_drift();
    curl_global_cleanup();
    return pt_finish();
}
