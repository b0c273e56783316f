/* t/unit/plugin_deepseek.c - the deepseek plugin (plugins/deepseek.so)
 * driven by the fake host against t/mock/mockprov serving the fixtures in
 * t/fixtures/deepseek/. */
#include "tap.h"
#include "fakehost.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

extern char **environ;

#define KEY "sk-testkey0123456789wxyz"

static fh_plugin plug;
static pid_t mock_pid = -1;
static char base_url[64];

/* ---- the mock server ---- */

static int mock_start(void)
{
    const char *bin = getenv("METERD_MOCKPROV");
    if (!bin || !*bin) bin = "t/mock/mockprov";
    char *argv[] = {(char *)bin, "--port", "0", "--fixtures", "t/fixtures/deepseek", NULL};
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    int rc = posix_spawn(&mock_pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        printf("# cannot start %s: %s\n", bin, strerror(rc));
        close(pfd[0]);
        mock_pid = -1;
        return -1;
    }
    FILE *f = fdopen(pfd[0], "r");
    unsigned port = 0;
    if (!f || fscanf(f, "%u", &port) != 1 || port == 0) {
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", port);
    return 0;
}

static void mock_stop(void)
{
    if (mock_pid <= 0) return;
    kill(mock_pid, SIGTERM);
    int st;
    waitpid(mock_pid, &st, 0);
    mock_pid = -1;
}

static size_t mock_sink(char *p, size_t sz, size_t nm, void *ud)
{
    fh_http_acc *a = ud;
    return fh_http_body_cb(p, sz, nm, a);
}

/* Call the mock's control API; returns the HTTP status and the body
 * (malloc'd, caller frees) in *body when body is non-NULL. */
static long mock_call(const char *method, const char *path, const char *json, char **body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    md_http_response r;
    memset(&r, 0, sizeof r);
    r.body = xcalloc(1, 1);
    fh_http_acc acc = {&r, 1u << 22, 1, 0};
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json) curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mock_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &acc);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (body) *body = r.body;
    else free(r.body);
    return status;
}

/* Replace the routes and clear the request log. */
static void routes(const char *json)
{
    long st = mock_call("POST", "/_mock/routes", json, NULL);
    if (st != 200) printf("# setting routes failed (%ld): %s\n", st, json);
    mock_call("POST", "/_mock/reset", "", NULL);
}

/* The mock's request log (new reference). */
static json_t *requests(void)
{
    char *body = NULL;
    mock_call("GET", "/_mock/requests", NULL, &body);
    json_t *doc = json_loads(body ? body : "", 0, NULL);
    free(body);
    return doc ? doc : json_array();
}

static void route_file(const char *file, int status, const char *headers)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "[{\"method\": \"GET\", \"path\": \"/user/balance\", \"status\": %d, "
             "\"body_file\": \"%s\", \"headers\": %s}]",
             status, file, headers ? headers : "{}");
    routes(buf);
}

/* ---- running the plugin ---- */

static void ctx_new(fh_ctx *c)
{
    fh_init(c, "deepseek");
    fh_set_opt(c, "base_url", base_url);
    fh_set_secret(c, "api_key", KEY);
    fh_set_timeout_ms(c, 10000);
}

static int has(const char *s, const char *needle)
{
    int yes = s && strstr(s, needle);
    if (!yes) printf("#   '%s' does not contain '%s'\n", s ? s : "(null)", needle);
    return yes;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- tests ---- */

static void test_descriptor(void)
{
    const md_plugin *d = plug.desc;
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
}

static void test_check(void)
{
    fh_ctx c;
    fh_init(&c, "deepseek");
    fh_set_opt(&c, "base_url", "ftp://example.org");
    is_int(fh_check(&plug, &c), -1, "check: ftp:// base_url rejected");
    is_int(c.fail_class, MD_ERR_CONFIG, "check: config class");
    fh_reset_results(&c);
    fh_set_opt(&c, "base_url", "http://127.0.0.1:1");
    is_int(fh_check(&plug, &c), 0, "check: http:// base_url accepted");
    fh_set_opt(&c, "currency", "U$D");
    is_int(fh_check(&plug, &c), -1, "check: bad currency rejected");
    fh_free(&c);
}

static void test_no_key(void)
{
    route_file("balance_ok.json", 200, NULL);
    fh_ctx c;
    fh_init(&c, "deepseek");
    fh_set_opt(&c, "base_url", base_url);
    is_int(fh_run(&plug, &c), -1, "no api_key: failure");
    is_int(c.fail_class, MD_ERR_AUTH, "no api_key: auth");
    ok(has(c.fail_msg, "no api_key configured"), "no api_key: message");
    fh_set_opt(&c, "api_key", "");
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "empty api_key: failure");
    is_int(c.fail_class, MD_ERR_AUTH, "empty api_key: auth");
    json_t *log = requests();
    is_int(json_array_size(log), 0, "no api_key: the mock saw no request");
    json_decref(log);
    fh_free(&c);
}

static void test_ok(void)
{
    route_file("balance_ok.json", 200, NULL);
    fh_ctx c;
    ctx_new(&c);
    is_int(fh_run(&plug, &c), 0, "balance_ok: success");
    is_int(c.n_metrics, 2, "balance_ok: two metrics");
    const fh_metric *u = fh_metric_by_id(&c, "balance_usd");
    const fh_metric *y = fh_metric_by_id(&c, "balance_cny");
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
    ok(fh_has_note(&c, "USD balance 18.42 = granted 0.00 + topped up 18.42"), "usd split note");
    ok(fh_has_note(&c, "CNY balance 110.00 = granted 10.00 + topped up 100.00"), "cny split note");
    ok(!fh_has_note(&c, "is_available=false"), "no availability note when available");
    char *want = slurp("t/fixtures/deepseek/balance_ok.json");
    is_str(c.raw, want, "raw is the response body");
    free(want);
    json_t *log = requests();
    json_t *e = json_array_get(log, 0);
    is_int(json_array_size(log), 1, "one request");
    is_str(json_string_value(json_object_get(e, "method")), "GET", "GET");
    is_str(json_string_value(json_object_get(e, "path")), "/user/balance", "path /user/balance");
    is_str(json_string_value(json_object_get(e, "authorization")), "Bearer ****wxyz",
           "Authorization: Bearer <key> sent");
    is_str(json_string_value(json_object_get(e, "accept")), "application/json", "Accept header");
    json_decref(log);

    /* trailing slash on base_url is tolerated */
    char slash[80];
    snprintf(slash, sizeof slash, "%s/", base_url);
    fh_set_opt(&c, "base_url", slash);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "base_url with trailing slash: success");
    fh_free(&c);
}

static void test_currency(void)
{
    route_file("balance_ok.json", 200, NULL);
    fh_ctx c;
    ctx_new(&c);
    fh_set_opt(&c, "currency", "cny");
    is_int(fh_run(&plug, &c), 0, "currency cny: success");
    is_int(c.n_metrics, 1, "currency cny: one metric");
    ok(fh_metric_by_id(&c, "balance_cny") != NULL, "currency cny: balance_cny");
    fh_set_opt(&c, "currency", "EUR");
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "currency EUR: success");
    is_int(c.n_metrics, 0, "currency EUR: no metric");
    ok(fh_has_note(&c, "no EUR balance reported"), "currency EUR: noted");
    fh_free(&c);
}

static void test_shapes(void)
{
    fh_ctx c;
    ctx_new(&c);
    route_file("balance_unavailable.json", 200, NULL);
    is_int(fh_run(&plug, &c), 0, "unavailable: success");
    ok(fh_has_note(&c, "cannot pay for API calls (is_available=false)"), "unavailable: noted");
    const fh_metric *m = fh_metric_by_id(&c, "balance_usd");
    ok(m && m->remaining.state == MD_KNOWN && m->remaining.value == 0,
       "unavailable: a reported 0 is a known 0");

    route_file("balance_empty.json", 200, NULL);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "empty: success");
    is_int(c.n_metrics, 0, "empty: no metrics");
    ok(fh_has_note(&c, "no balance reported"), "empty: noted");

    route_file("balance_strings_odd.json", 200, NULL);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "odd strings: success");
    is_int(c.n_metrics, 3, "odd strings: three metrics");
    m = fh_metric_by_id(&c, "balance_usd");
    ok(m && m->remaining.state == MD_KNOWN, "odd: usd \" 5.0\" known");
    if (m) is_num(m->remaining.value, 5.0, "odd: usd 5");
    m = fh_metric_by_id(&c, "balance_cny");
    if (m) is_num(m->remaining.value, 12.5, "odd: cny JSON number 12.5");
    else ok(0, "odd: cny present");
    m = fh_metric_by_id(&c, "balance_eur");
    ok(m && m->remaining.state == MD_KNOWN && m->remaining.value == 0, "odd: eur \"0E-10\" is 0");
    ok(fh_has_note(&c, "CNY balance 12.5 = granted 0E-10 + topped up 12.5"), "odd: note text");

    route_file("balance_missing_fields.json", 200, NULL);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "missing fields: success");
    is_int(c.n_metrics, 2, "missing fields: entry without currency skipped");
    m = fh_metric_by_id(&c, "balance_usd");
    ok(m && m->remaining.state == MD_UNKNOWN, "missing total_balance: remaining unknown");
    m = fh_metric_by_id(&c, "balance_cny");
    ok(m && m->remaining.state == MD_UNKNOWN, "non-numeric total_balance: unknown");
    ok(fh_has_note(&c, "balance_infos[1]: no usable currency"), "skipped entry noted");
    ok(fh_has_note(&c, "CNY balance unknown = granted unknown + topped up 7.00"),
       "missing split parts say unknown");
    ok(!fh_has_note(&c, "is_available"), "missing is_available: no claim either way");

    route_file("truncated.json", 200, NULL);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "truncated: failure");
    is_int(c.fail_class, MD_ERR_BAD_DATA, "truncated: bad_data");
    is_int(c.n_metrics, 0, "truncated: nothing emitted");

    routes("[{\"path\": \"/user/balance\", \"body\": [1, 2]}]");
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "array body: failure");
    is_int(c.fail_class, MD_ERR_BAD_DATA, "array body: bad_data");
    ok(has(c.fail_msg, "not a JSON object"), "array body: message");
    fh_free(&c);
}

static void test_errors(void)
{
    fh_ctx c;
    ctx_new(&c);
    route_file("error_401.json", 401, NULL);
    is_int(fh_run(&plug, &c), -1, "401: failure");
    is_int(c.fail_class, MD_ERR_AUTH, "401: auth");
    ok(has(c.fail_msg, "HTTP 401: Authentication Fails"), "401: provider message");
    ok(c.fail_msg && !strstr(c.fail_msg, KEY), "401: key not echoed");

    route_file("error_401.json", 403, NULL);
    fh_reset_results(&c);
    fh_run(&plug, &c);
    is_int(c.fail_class, MD_ERR_AUTH, "403: auth");

    route_file("error_429.json", 429, "{\"Retry-After\": \"2\"}");
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "429: failure");
    is_int(c.fail_class, MD_ERR_RATE_LIMITED, "429: rate_limited");
    is_num(c.retry_after, 2, "429: retry_after 2");
    ok(has(c.fail_msg, "Rate limit reached"), "429: message");

    /* Retry-After as an HTTP-date two minutes ahead */
    char hdr[128], date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdr, sizeof hdr, "{\"Retry-After\": \"%s\"}", date);
    route_file("error_429.json", 429, hdr);
    fh_reset_results(&c);
    fh_run(&plug, &c);
    ok(c.retry_after > 110 && c.retry_after <= 121, "429: HTTP-date Retry-After ~120 s");

    route_file("error_500.html", 500, NULL);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "500 html: failure");
    is_int(c.fail_class, MD_ERR_HTTP, "500 html: http");
    is_str(c.fail_msg, "HTTP 500: 500 Internal Server Error", "500 html: title quoted");

    /* 503 once, then 200: exercises the mock's times and the plugin */
    routes("[{\"path\": \"/user/balance\", \"status\": 503, \"times\": 1, "
           "\"body\": {\"error\": {\"message\": \"Server overloaded\"}}},"
           " {\"path\": \"/user/balance\", \"body_file\": \"balance_ok.json\"}]");
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "503: failure");
    is_str(c.fail_msg, "HTTP 503: Server overloaded", "503: message");
    is_int(c.fail_class, MD_ERR_HTTP, "503: http");
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "then 200: success");

    /* a key-like token in the provider's message is masked by the plugin
     * itself (api_key set as a plain option so the host would not mask) */
    fh_set_opt(&c, "api_key", "sk-plainkey0123456789abcd");
    routes("[{\"path\": \"/user/balance\", \"status\": 401, \"body\": {\"error\": "
           "{\"message\": \"bad key sk-plainkey0123456789abcd, try sk-otherkey99887766\"}}}]");
    fh_reset_results(&c);
    fh_run(&plug, &c);
    ok(c.fail_msg && !strstr(c.fail_msg, "sk-plainkey0123456789abcd") &&
       !strstr(c.fail_msg, "sk-otherkey99887766"), "key-like tokens masked");
    ok(has(c.fail_msg, "abcd") && has(c.fail_msg, "7766"), "masked tokens keep last 4");
    fh_free(&c);
}

static void test_transport(void)
{
    fh_ctx c;
    ctx_new(&c);
    routes("[{\"path\": \"/user/balance\", \"body_file\": \"balance_ok.json\", \"truncate\": 40}]");
    is_int(fh_run(&plug, &c), -1, "connection cut: failure");
    is_int(c.fail_class, MD_ERR_NETWORK, "connection cut: network (from the host)");
    ok(has(c.fail_msg, "/user/balance failed"), "connection cut: message names the request");

    routes("[{\"path\": \"/user/balance\", \"hang\": true}]");
    fh_reset_results(&c);
    fh_set_timeout_ms(&c, 1500);
    long long t0 = fh_mono_ms();
    is_int(fh_run(&plug, &c), -1, "hang: failure");
    is_int(c.fail_class, MD_ERR_TIMEOUT, "hang: timeout");
    ok(fh_mono_ms() - t0 < 5000, "hang: bounded by the deadline");

    fh_set_opt(&c, "base_url", "http://127.0.0.1:1");
    fh_set_timeout_ms(&c, 5000);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "refused: failure");
    is_int(c.fail_class, MD_ERR_NETWORK, "refused: network");
    fh_free(&c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fh_load(&plug, "deepseek") != 0) {
        ok(0, "load plugins/deepseek.so");
        return done_testing();
    }
    test_descriptor();
    test_check();
    if (mock_start() != 0) {
        ok(0, "start t/mock/mockprov");
    } else {
        test_no_key();
        test_ok();
        test_currency();
        test_shapes();
        test_errors();
        test_transport();
    }
    mock_stop();
    fh_unload(&plug);
    curl_global_cleanup();
    return done_testing();
}
