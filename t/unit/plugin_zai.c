/* t/unit/plugin_zai.c - the zai plugin through the real host (run_job)
 * against t/mock/mockprov serving t/fixtures/zai. */
#include "tap.h"
#include "plugtest.h"

#define KEY "zai-testkey.0123456789abcdefQRST"
#define PATH "/api/monitor/usage/quota/limit"
#define ROUTE(file) "[{\"path\": \"" PATH "\", \"body_file\": \"" file "\"}]"

static const pt_suite suite = {
    .plugin = "zai",
    .fixtures = "t/fixtures/zai",
    .options = ", \"api_key\": \"" KEY "\"",
};

/* a metric that must be there and be a percent quota window */
static void window_is(const collect_result *r, const char *id, double util,
                      double win, double reset, const char *name)
{
    const metric *m = pt_need(r, id);
    char l[128];
    snprintf(l, sizeof l, "%s: %s utilization", name, id);
    is_num(m->utilization.value, util, l);
    snprintf(l, sizeof l, "%s: %s window_seconds", name, id);
    is_num(m->window_seconds.value, win, l);
    snprintf(l, sizeof l, "%s: %s resets_at", name, id);
    is_num(m->resets_at.epoch, reset, l);
    snprintf(l, sizeof l, "%s: %s is a percent quota_window, counts unknown", name, id);
    ok(m->kind && !strcmp(m->kind, "quota_window") && m->unit &&
       !strcmp(m->unit, "percent") && pt_unknown(m->used) && pt_unknown(m->limit), l);
}

static void test_normal(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_limit.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "normal: success");
    window_is(&r, "five_hour", 25, 18000, 1773169200, "normal");
    window_is(&r, "seven_day", 9, 604800, 1773756000, "normal");
    const metric *m = pt_need(&r, "mcp_monthly");
    is_num(m->limit.value, 1000, "mcp limit = usage");
    is_num(m->used.value, 224, "mcp used = max(usage-remaining, currentValue)");
    is_num(m->remaining.value, 776, "mcp remaining");
    is_num(m->utilization.value, 22, "mcp utilization = percentage");
    is_str(m->unit, "requests", "mcp unit requests");
    ok(pt_unknown(m->window_seconds), "monthly marker: not a 60 s window");
    ok(pt_unknown(m->resets_at), "mcp: no nextResetTime -> unknown");
    ok(pt_has_note(&r, "plan: pro"), "plan note");
    ok(pt_has_note(&r, "mcp_monthly usage by tool: search-prime 210, web-reader 14"),
       "usageDetails note");
    ok(!pt_has_note(&r, "did not report"), "nothing missing");
    is_int(r.n_metrics, 3, "three meters");
    ok(r.raw_json && strstr(r.raw_json, "TOKENS_LIMIT"), "raw kept");
    ok(pt_no_secret(&r, KEY), "key not leaked");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 1, "one request");
    is_str(json_string_value(json_object_get(json_array_get(req, 0), "authorization")),
           "Bearer ****QRST", "bearer auth");
    json_decref(req);
    collect_result_clear(&r);
}

static void test_nulls(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_nulls.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "nulls: success");
    const metric *m = pt_need(&r, "five_hour");
    ok(pt_unknown(m->utilization), "percentage null -> unknown, not 0");
    ok(pt_unknown(m->resets_at), "nextResetTime null -> unknown");
    is_num(m->window_seconds.value, 18000, "window still known");
    ok(pt_has_note(&r, "limits[1] is not an object"), "null entry noted");
    ok(pt_has_note(&r, "plan: lite"), "plan lite");
    m = pt_metric(&r, "seven_day");
    ok(m && pt_unknown(m->utilization), "lite expects seven_day: present, unknown");
    ok(m && m->window_seconds.state == MD_KNOWN && m->window_seconds.value == 604800,
       "expected seven_day keeps its window length");
    ok(pt_has_note(&r, "plan lite expects seven_day; the provider did not report it"),
       "missing seven_day note");
    ok(pt_has_note(&r, "plan lite expects mcp_monthly"), "missing mcp_monthly note");
    m = pt_metric(&r, "mcp_monthly");
    ok(m && pt_unknown(m->limit) && pt_unknown(m->used), "mcp_monthly unknown");
    collect_result_clear(&r);
}

static void test_strings(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_strings.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "strings: success (code \"200\")");
    window_is(&r, "five_hour", 40, 18000, 1773169200, "strings");
    window_is(&r, "seven_day", 12.5, 604800, 1773756000, "strings");
    const metric *m = pt_need(&r, "mcp_monthly");
    is_num(m->limit.value, 4000, "string usage");
    is_num(m->used.value, 350, "string currentValue");
    is_num(m->remaining.value, 3650, "string remaining");
    ok(pt_has_note(&r, "plan: max"), "plan max");
    collect_result_clear(&r);
}

static void test_unknown_keys(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_unknown_keys.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "unknown keys: success");
    window_is(&r, "five_hour", 25, 18000, 1773169200, "unknown keys");
    const metric *c = pt_need(&r, "seven_day");
    is_str(c->kind, "quota_window", "weekly CREDIT_LIMIT is seven_day");
    is_num(c->limit.value, 500, "credit limit");
    is_num(c->used.value, 120, "credit used");
    is_num(c->remaining.value, 380, "credit remaining");
    is_num(c->utilization.value, 24, "credit utilization");
    is_num(c->window_seconds.value, 604800, "credit window one week");
    is_num(c->resets_at.epoch, 1775000000, "credit reset");
    is_str(c->unit, "credits", "CREDIT_LIMIT with counts: unit credits");
    const metric *v = pt_need(&r, "vision_limit_1440m");
    is_num(v->utilization.value, 70, "new type VISION_LIMIT carried through");
    is_str(v->unit, "percent", "percent-only new type");
    ok(!pt_has_note(&r, "expects seven_day"), "pro: seven_day now reported (CREDIT_LIMIT)");
    ok(pt_has_note(&r, "plan pro expects mcp_monthly"), "pro: only the missing mcp_monthly noted");
    ok(pt_has_note(&r, "unrecognised field traceId (format may have changed)"),
       "drift: top-level traceId noted");
    ok(pt_has_note(&r, "unrecognised field data.subscriptionLevel (format may have changed)"),
       "drift: data.subscriptionLevel noted");
    ok(pt_has_note(&r, "unrecognised field data.limits[].burst (format may have changed)"),
       "drift: entry member burst noted");
    ok(pt_has_note(&r, "unrecognised field data.limits[].extra (format may have changed)"),
       "drift: entry member extra noted");
    collect_result_clear(&r);
}

/* Current payloads: CREDIT_LIMIT is the 5-hour / weekly quota, the plan is
 * data.level (live capture of a Lite plan, as third-party clients record
 * it). */
static void test_credit_limit(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_credit_limit.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "credit_limit: success");
    const metric *m = pt_need(&r, "five_hour");
    is_num(m->utilization.value, 0, "credit_limit: five_hour 0 %");
    is_num(m->limit.value, 2000, "credit_limit: five_hour limit 2000");
    is_num(m->used.value, 0, "credit_limit: five_hour used 0");
    is_num(m->remaining.value, 2000, "credit_limit: five_hour remaining 2000");
    is_num(m->window_seconds.value, 18000, "credit_limit: five_hour 5 h");
    ok(pt_unknown(m->resets_at), "credit_limit: no nextResetTime on the active 5 h window");
    is_str(m->unit, "credits", "credit_limit: unit credits");
    m = pt_need(&r, "seven_day");
    is_num(m->utilization.value, 98, "credit_limit: seven_day 98 %");
    is_num(m->used.value, 9855, "credit_limit: seven_day used 9855");
    is_num(m->limit.value, 10000, "credit_limit: seven_day limit 10000");
    is_num(m->remaining.value, 145, "credit_limit: seven_day remaining 145");
    is_num(m->window_seconds.value, 604800, "credit_limit: seven_day one week");
    is_num(m->resets_at.epoch, 1786685679.998, "credit_limit: seven_day reset epoch ms");
    ok(pt_has_note(&r, "plan: lite"), "credit_limit: plan from data.level");
    ok(pt_metric(&r, "credit_limit_300m") == NULL &&
       pt_metric(&r, "credit_limit_10080m") == NULL, "credit_limit: no carried-through ids");
    ok(pt_has_note(&r, "plan lite expects mcp_monthly"), "credit_limit: lite set applies");
    is_int(r.n_metrics, 3, "credit_limit: five_hour, seven_day, expected mcp_monthly");
    ok(!pt_has_note(&r, "unrecognised field"), "credit_limit: no drift note on the current shape");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("quota_level_tokens.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "level+TOKENS_LIMIT: success");
    window_is(&r, "five_hour", 17, 18000, 1782724971.179, "level+TOKENS_LIMIT");
    window_is(&r, "seven_day", 3, 604800, 1783305486.997, "level+TOKENS_LIMIT");
    m = pt_need(&r, "mcp_monthly");
    is_num(m->limit.value, 1000, "level+TOKENS_LIMIT: mcp limit");
    is_num(m->used.value, 0, "level+TOKENS_LIMIT: mcp used");
    is_num(m->resets_at.epoch, 1785292686.976, "level+TOKENS_LIMIT: mcp reset");
    ok(pt_has_note(&r, "plan: pro"), "level+TOKENS_LIMIT: plan pro from level");
    ok(!pt_has_note(&r, "did not report"), "level+TOKENS_LIMIT: set complete");
    ok(pt_has_note(&r, "mcp_monthly usage by tool: search-prime 0, web-reader 0, zread 0"),
       "level+TOKENS_LIMIT: usageDetails note");
    is_int(r.n_metrics, 3, "level+TOKENS_LIMIT: three meters");
    collect_result_clear(&r);
}

/* A renamed field (nextResetTime -> nextResetAt), a new one and a number
 * turned into a string: the collection goes through, each is noted. */
static void test_drift(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_drift.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "drift: success with what could be read");
    const metric *m = pt_need(&r, "five_hour");
    is_num(m->utilization.value, 40, "drift: five_hour still read");
    ok(pt_unknown(m->resets_at), "drift: renamed reset is unknown, not guessed");
    ok(pt_has_note(&r, "unrecognised field data.limits[].nextResetAt (format may have changed)"),
       "drift: renamed field noted");
    ok(pt_has_note(&r, "unrecognised field data.limits[].burst (format may have changed)"),
       "drift: new field noted");
    ok(pt_has_note(&r, "unrecognised field data.limits[].percentage (format may have changed)"),
       "drift: percentage of another type noted");
    ok(pt_unknown(pt_need(&r, "seven_day")->utilization), "drift: string percentage unknown");
    ok(r.raw_json && strstr(r.raw_json, "nextResetAt"), "drift: raw payload kept for include_raw");
    collect_result_clear(&r);
}

/* pt_run with a state directory that outlives the run. */
static void run_in_state(collect_result *r, const char *state)
{
    char *opts = xasprintf("{\"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \""
                           KEY "\"}", pt_port);
    provider_conf pc;
    memset(&pc, 0, sizeof pc);
    pc.name = pc.plugin = (char *)"zai";
    pc.plugin_path = xasprintf("%s/zai.so", getenv("METERD_PLUGIN_DIR") &&
                               *getenv("METERD_PLUGIN_DIR") ? getenv("METERD_PLUGIN_DIR")
                                                            : "plugins");
    pc.options = json_loads(opts, 0, NULL);
    pc.secret_options = json_array();
    json_t *job = protocol_job_to_json(&pc, state, 5000, 0);
    collect_result_init(r);
    run_job(job, r);
    json_decref(job);
    json_decref(pc.options);
    json_decref(pc.secret_options);
    free(pc.plugin_path);
    free(opts);
}

static void test_drift_once_a_day(void)
{
    char tmpl[] = "/tmp/meterd-drift-XXXXXX";
    char *state = mkdtemp(tmpl);
    collect_result r;
    const char *note = "unrecognised field data.limits[].burst (format may have changed)";
    ok(state != NULL, "drift once a day: state dir");
    if (!state)
        return;
    pt_mock_use(pt_port, ROUTE("quota_drift.json"));
    run_in_state(&r, state);
    ok(pt_has_note(&r, note), "drift once a day: first collection notes");
    collect_result_clear(&r);
    run_in_state(&r, state);
    is_int(r.err, MD_ERR_NONE, "drift once a day: second collection succeeds");
    ok(!pt_has_note(&r, note), "drift once a day: second collection the same day is quiet");
    collect_result_clear(&r);
    pt_mock_use(pt_port, ROUTE("quota_unknown_keys.json"));
    run_in_state(&r, state);
    ok(pt_has_note(&r, "unrecognised field traceId"),
       "drift once a day: another field is still noted");
    collect_result_clear(&r);
    /* yesterday's list does not silence today */
    char *path = xasprintf("%s/drift.json", state);
    json_t *s = json_load_file(path, 0, NULL);
    ok(json_is_array(json_object_get(s, "noted")) &&
       json_array_size(json_object_get(s, "noted")) >= 2, "drift once a day: state remembers fields");
    json_object_set_new(s, "day", json_integer(json_integer_value(json_object_get(s, "day")) - 1));
    json_dump_file(s, path, 0);
    json_decref(s);
    pt_mock_use(pt_port, ROUTE("quota_drift.json"));
    run_in_state(&r, state);
    ok(pt_has_note(&r, note), "drift once a day: a new day notes again");
    collect_result_clear(&r);
    free(path);
    char *cmd = xasprintf("rm -rf '%s'", state);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", state);
    free(cmd);
}

static void test_plans(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_no_plan.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "no plan: success");
    ok(pt_metric(&r, "five_hour") && pt_unknown(pt_metric(&r, "five_hour")->utilization),
       "no plan: five_hour expected and unknown");
    ok(pt_has_note(&r, "plan (unknown) expects five_hour"), "no plan: note");
    ok(pt_metric(&r, "seven_day") == NULL, "no plan: seven_day not expected");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("quota_no_limits.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "no limits: success");
    ok(pt_has_note(&r, "no limits reported"), "no limits: note");
    is_int(r.n_metrics, 3, "no limits: the pro meter set, all unknown");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("quota_no_plan.json"));
    pt_go(&r, ", \"plan\": \"Max\"");
    ok(pt_has_note(&r, "plan: max"), "plan option overrides");
    ok(pt_has_note(&r, "plan max expects mcp_monthly"), "plan option drives the meter set");
    collect_result_clear(&r);

    pt_mock_use(pt_port, ROUTE("quota_limit.json"));
    pt_go(&r, ", \"plan\": \"enterprise\"");
    ok(pt_has_note(&r, "plan 'enterprise' has no known meter set"), "unknown plan noted");
    is_int(r.n_metrics, 3, "unknown plan: only what was reported");
    collect_result_clear(&r);
}


#define EROUTE(status, file) "[{\"path\": \"" PATH "\", \"status\": " #status ", \"body_file\": \"" file "\"}]"

static void test_errors(void)
{
    pt_expect_error(EROUTE(401, "error_401.json"), MD_ERR_AUTH,
              "HTTP 401: Authorization Token Missing; check api_key", KEY, "401");
    pt_expect_error(EROUTE(403, "error_403.json"), MD_ERR_AUTH,
              "HTTP 403: You do not have permission", KEY, "403");
    pt_expect_error(EROUTE(500, "error_500.json"), MD_ERR_HTTP, "HTTP 500: Internal server error", KEY, "500");
    pt_expect_error(EROUTE(503, "error.html"), MD_ERR_HTTP,
              "HTTP 503: 503 Service Temporarily Unavailable", KEY, "HTML 503");
    pt_expect_error(ROUTE("error.html"), MD_ERR_BAD_DATA, PATH, KEY, "HTML with 200");
    pt_expect_error(ROUTE("truncated.json"), MD_ERR_BAD_DATA, PATH, KEY, "truncated JSON");
    pt_expect_error(ROUTE("body_error_401.json"), MD_ERR_AUTH,
              "z.ai error code 401: token expired or incorrect; check api_key", KEY,
              "envelope code 401 on HTTP 200");
    pt_expect_error(ROUTE("no_coding_plan.json"), MD_ERR_CONFIG,
              "z.ai reports no coding plan for this key (code 500: No active coding plan", KEY,
              "success false, code 500: no coding plan");
    pt_expect_error(ROUTE("body_error_1302.json"), MD_ERR_HTTP,
              "z.ai error code 1302: concurrency limit reached", KEY, "envelope code 1302");

    collect_result r;
    pt_mock_use(pt_port, "[{\"path\": \"" PATH "\", \"status\": 429, \"body_file\": \"error_429.json\","
           " \"headers\": {\"Retry-After\": \"Tue, 10 Mar 2099 14:00:00 GMT\"}}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429: rate_limited");
    ok(r.retry_after > 1e9, "429: Retry-After as HTTP-date");
    ok(r.err_msg && strstr(r.err_msg, "Too many requests"), "429: provider msg");
    collect_result_clear(&r);
    pt_mock_use(pt_port, EROUTE(429, "error_429.json"));
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_RATE_LIMITED, "429 without Retry-After: rate_limited");
    ok(r.retry_after < 0, "429 without Retry-After: none invented");
    collect_result_clear(&r);
}

static void test_config(void)
{
    collect_result r;
    pt_mock_use(pt_port, ROUTE("quota_limit.json"));
    pt_run("zai", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", pt_port);
    is_int(r.err, MD_ERR_AUTH, "no api_key: auth");
    ok(r.err_msg && strstr(r.err_msg, "Z_AI_API_KEY"), "no api_key: says how");
    json_t *req = pt_mock_requests(pt_port);
    is_int(json_array_size(req), 0, "no api_key: no request made");
    json_decref(req);
    collect_result_clear(&r);
    pt_run("zai", &r, "{\"base_url\": \"file:///etc\", \"api_key\": \"" KEY "\"}");
    is_int(r.err, MD_ERR_CONFIG, "file base_url: config error");
    collect_result_clear(&r);
    pt_mock_use(pt_port, "[{\"path\": \"" PATH "\", \"status\": 401, \"body\": {\"code\": 401, \"msg\": \"bad token "
           KEY "\", \"success\": false}}]");
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_AUTH, "echoed key: auth");
    ok(pt_no_secret(&r, KEY), "echoed key: masked");
    collect_result_clear(&r);
    /* header-derived meters ride along */
    pt_mock_use(pt_port, "[{\"path\": \"" PATH "\", \"body_file\": \"quota_limit.json\", \"headers\": "
           "{\"x-ratelimit-limit-requests\": \"60\", \"x-ratelimit-remaining-requests\": \"59\","
           " \"x-ratelimit-reset-requests\": \"1s\"}}]");
    pt_go(&r, NULL);
    const metric *m = pt_metric(&r, "ratelimit_requests");
    ok(m && m->limit.value == 60 && m->remaining.value == 59, "rate-limit headers -> ratelimit_requests");
    collect_result_clear(&r);
}

int main(void)
{
    if (!pt_start(&suite))
        return 0;
    test_normal();
    test_nulls();
    test_strings();
    test_unknown_keys();
    test_credit_limit();
    test_drift();
    test_drift_once_a_day();
    test_plans();
    test_errors();
    test_config();
    return pt_finish();
}
