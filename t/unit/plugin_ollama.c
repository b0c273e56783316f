/*
 * t/unit/plugin_ollama.c - the ollama plugin through the real host against
 * the mock provider (t/fixtures/ollama).  Catalog section 9: a local
 * runtime has no quota or cost, which must read "not applicable", never
 * "no data" and never 0.
 */
#include <limits.h>

#include "tap.h"
#include "plugtest.h"

static const pt_suite suite = {
    .plugin = "ollama",
    .fixtures = "t/fixtures/ollama",
    .base_path = "/",
};
static char fixdir[PATH_MAX];

/* Routes for /api/tags and /api/ps: status + body file each; extra is a
 * JSON "headers" object for /api/tags or NULL. */
static void routes(int ts, const char *tags, int ps_status, const char *ps,
                   const char *headers)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "[{\"method\": \"GET\", \"path\": \"/api/tags\", \"status\": %d, "
             "\"body_file\": \"%s\", \"headers\": %s},"
             " {\"method\": \"GET\", \"path\": \"/api/ps\", \"status\": %d, "
             "\"body_file\": \"%s\"}]",
             ts, tags, headers ? headers : "{}", ps_status, ps);
    pt_mock_routes(pt_port, buf);
    pt_mock_post(pt_port, "/_mock/reset", "");
}


/* The not-applicable quota meter and its note. */
static void check_na_quota(const collect_result *r, const char *what)
{
    char name[128];
    const metric *q = pt_metric(r, "quota");
    snprintf(name, sizeof name, "%s: quota metric present", what);
    ok(q != NULL, name);
    if (!q)
        return;
    snprintf(name, sizeof name, "%s: quota kind quota_window, unit percent", what);
    ok(strcmp(q->kind, "quota_window") == 0 && q->unit && strcmp(q->unit, "percent") == 0,
       name);
    snprintf(name, sizeof name, "%s: used/limit/remaining/utilization not applicable", what);
    ok(q->used.state == MD_NOT_APPLICABLE && q->limit.state == MD_NOT_APPLICABLE &&
       q->remaining.state == MD_NOT_APPLICABLE &&
       q->utilization.state == MD_NOT_APPLICABLE, name);
    snprintf(name, sizeof name, "%s: noted 'local runtime: no quota or cost'", what);
    ok(pt_has_note(r, "local runtime: no quota or cost"), name);
}

static void test_ok(void)
{
    collect_result r;
    routes(200, "tags_ok.json", 200, "ps_ok.json", NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "ok: success");
    check_na_quota(&r, "ok");
    const metric *inst = pt_metric(&r, "models_installed");
    const metric *load = pt_metric(&r, "models_loaded");
    const metric *vram = pt_metric(&r, "vram_bytes");
    ok(inst && load && vram, "ok: count and vram metrics");
    if (inst && load && vram) {
        ok(pt_known(inst->used) && inst->used.value == 1, "ok: one model installed");
        is_str(inst->kind, "usage", "ok: kind usage");
        is_str(inst->unit, "models", "ok: unit models");
        ok(inst->limit.state == MD_NOT_APPLICABLE &&
           inst->remaining.state == MD_NOT_APPLICABLE &&
           inst->utilization.state == MD_NOT_APPLICABLE,
           "ok: installed has no cap (not applicable, not unknown)");
        ok(pt_known(load->used) && load->used.value == 1, "ok: one model loaded");
        is_num(vram->used.value, 6654289920.0, "ok: vram = size_vram");
        is_str(vram->unit, "bytes", "ok: vram unit bytes");
        is_str(inst->source, "api", "ok: source api");
    }
    /* expires_at 15:04:59.120334+01:00 = 14:04:59Z (local offset honoured) */
    ok(pt_has_note(&r, "loaded: qwen3:8b, VRAM 6.2 GiB, context 4096, "
                       "expires_at 2026-03-10T14:04:59Z"), "ok: loaded model note");
    is_int(r.n_metrics, 4, "ok: four metrics");
    /* The core reads a family as not_applicable only when every metric's
     * limit/remaining/utilization are not applicable (core/rank.c). */
    int all_na = r.n_metrics > 0;
    for (size_t i = 0; i < r.n_metrics; i++)
        all_na &= r.metrics[i].limit.state == MD_NOT_APPLICABLE &&
                  r.metrics[i].remaining.state == MD_NOT_APPLICABLE &&
                  r.metrics[i].utilization.state == MD_NOT_APPLICABLE;
    ok(all_na, "ok: every metric quota-free, so the family reads not_applicable");
    ok(r.raw_json && strstr(r.raw_json, "\"tags\"") && strstr(r.raw_json, "\"ps\""),
       "ok: raw holds both payloads");
    json_t *log = pt_mock_requests(pt_port);
    is_int(json_array_size(log), 2, "ok: two requests");
    is_str(json_string_value(json_object_get(json_array_get(log, 0), "path")),
           "/api/tags", "ok: /api/tags (trailing slash in base_url handled)");
    is_str(json_string_value(json_object_get(json_array_get(log, 1), "path")),
           "/api/ps", "ok: /api/ps");
    ok(json_is_null(json_object_get(json_array_get(log, 0), "authorization")),
       "ok: no Authorization sent");
    json_decref(log);
    collect_result_clear(&r);
}

static void test_empty_and_missing(void)
{
    collect_result r;
    routes(200, "tags_empty.json", 200, "ps_empty.json", NULL);
    pt_go(&r, NULL);
    const metric *inst = pt_metric(&r, "models_installed");
    const metric *load = pt_metric(&r, "models_loaded");
    const metric *vram = pt_metric(&r, "vram_bytes");
    ok(r.err == MD_ERR_NONE && inst && load && vram, "empty: success");
    if (inst && load && vram) {
        ok(pt_known(inst->used) && inst->used.value == 0, "empty: [] is a known 0 installed");
        ok(pt_known(load->used) && load->used.value == 0, "empty: [] is a known 0 loaded");
        ok(pt_known(vram->used) && vram->used.value == 0, "empty: nothing loaded, 0 bytes");
    }
    check_na_quota(&r, "empty");
    collect_result_clear(&r);

    routes(200, "tags_null.json", 200, "ps_missing.json", NULL);
    pt_go(&r, NULL);
    inst = pt_metric(&r, "models_installed");
    load = pt_metric(&r, "models_loaded");
    vram = pt_metric(&r, "vram_bytes");
    ok(r.err == MD_ERR_NONE && inst && load && vram, "null/missing: success");
    if (inst && load && vram) {
        ok(pt_unknown(inst->used), "null models: installed unknown, not 0");
        ok(pt_unknown(load->used), "missing models: loaded unknown, not 0");
        ok(pt_unknown(vram->used), "missing models: vram unknown, not 0");
    }
    ok(pt_has_note(&r, "/api/tags: no models array"), "null models: noted");
    ok(pt_has_note(&r, "/api/ps: no models array"), "missing models: noted");
    check_na_quota(&r, "null/missing");
    collect_result_clear(&r);
}

static void test_strings_unknown_keys(void)
{
    collect_result r;
    routes(200, "tags_strings.json", 200, "ps_strings_unknown_keys.json", NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "strings: success");
    const metric *inst = pt_metric(&r, "models_installed");
    const metric *load = pt_metric(&r, "models_loaded");
    const metric *vram = pt_metric(&r, "vram_bytes");
    ok(inst && inst->used.value == 3, "strings: three installed");
    ok(load && load->used.value == 2, "strings: two loaded");
    ok(vram && pt_unknown(vram->used),
       "strings: one model without size_vram makes the sum unknown, not partial");
    ok(pt_has_note(&r, "loaded: qwen3:8b, VRAM 6.2 GiB, context 4096"),
       "strings: numeric strings read");
    ok(pt_has_note(&r, "loaded: llama3.2:1b, VRAM unknown, context unknown, "
                       "expires_at unknown"), "strings: missing fields unknown");
    collect_result_clear(&r);
}

static void test_old_ollama(void)
{
    collect_result r;
    routes(200, "tags_ok.json", 404, "error_404.txt", NULL);
    pt_go(&r, NULL);
    is_int(r.err, MD_ERR_NONE, "no /api/ps: still a success");
    const metric *load = pt_metric(&r, "models_loaded");
    ok(load && pt_unknown(load->used), "no /api/ps: loaded unknown");
    ok(pt_has_note(&r, "/api/ps not available"), "no /api/ps: noted");
    const metric *inst = pt_metric(&r, "models_installed");
    ok(inst && inst->used.value == 1, "no /api/ps: installed still counted");
    collect_result_clear(&r);
}

static void test_headers(void)
{
    collect_result r;
    routes(200, "tags_ok.json", 200, "ps_ok.json",
           "{\"x-ratelimit-limit-requests\": \"100\", "
           "\"x-ratelimit-remaining-requests\": \"99\"}");
    pt_go(&r, NULL);
    const metric *m = pt_metric(&r, "ratelimit_requests");
    ok(m && m->limit.value == 100 && m->remaining.value == 99,
       "headers: a proxy's rate-limit headers are attached");
    collect_result_clear(&r);
}

static void error_case(int status, const char *tags, int ps_status, const char *ps,
                       const char *headers, md_error cls, const char *text, double retry)
{
    collect_result r;
    char name[200];
    routes(status, tags, ps_status, ps, headers);
    pt_go(&r, NULL);
    snprintf(name, sizeof name, "tags %d %s / ps %d %s: class %s", status, tags,
             ps_status, ps, md_error_name(cls));
    is_int(r.err, cls, name);
    snprintf(name, sizeof name, "tags %d %s / ps %d: message has '%s'", status, tags,
             ps_status, text);
    ok(r.err_msg && strstr(r.err_msg, text), name);
    if (!(r.err_msg && strstr(r.err_msg, text)))
        printf("#   got: %s\n", r.err_msg ? r.err_msg : "(null)");
    snprintf(name, sizeof name, "tags %d %s: retry_after", status, tags);
    if (retry < 0)
        ok(r.retry_after < 0, name);
    else
        ok(fabs(r.retry_after - retry) < 2, name);
    collect_result_clear(&r);
}

static void test_errors(void)
{
    error_case(500, "error_500.json", 200, "ps_ok.json", NULL, MD_ERR_HTTP,
               "something went wrong", -1);
    error_case(200, "tags_ok.json", 500, "error_500.json", NULL, MD_ERR_HTTP,
               "HTTP 500", -1);
    error_case(401, "error_401.json", 200, "ps_ok.json", NULL, MD_ERR_AUTH,
               "unauthorized: bad proxy token", -1);
    error_case(403, "error_403.json", 200, "ps_ok.json", NULL, MD_ERR_AUTH, "forbidden", -1);
    error_case(429, "error_429.json", 200, "ps_ok.json", "{\"Retry-After\": \"12\"}",
               MD_ERR_RATE_LIMITED, "too many requests", 12);
    error_case(429, "error_429.json", 200, "ps_ok.json", NULL, MD_ERR_RATE_LIMITED,
               "HTTP 429", -1);
    error_case(502, "error_502.html", 200, "ps_ok.json", NULL, MD_ERR_HTTP,
               "502 Bad Gateway", -1);
    error_case(200, "truncated.json", 200, "ps_ok.json", NULL, MD_ERR_BAD_DATA,
               "/api/tags", -1);
    error_case(200, "tags_ok.json", 200, "truncated.json", NULL, MD_ERR_BAD_DATA,
               "/api/ps", -1);
    error_case(200, "error_502.html", 200, "ps_ok.json", NULL, MD_ERR_BAD_DATA,
               "/api/tags", -1);
    error_case(200, "tags_array.json", 200, "ps_ok.json", NULL, MD_ERR_BAD_DATA,
               "expected a JSON object", -1);
    error_case(404, "error_404.txt", 200, "ps_ok.json", NULL, MD_ERR_HTTP, "HTTP 404", -1);
}

static void test_refused_and_config(void)
{
    pt_mock closed;
    int p = pt_mock_start(fixdir, &closed);
    pt_mock_stop(&closed);
    collect_result r;
    pt_run("ollama", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", p);
    is_int(r.err, MD_ERR_NETWORK, "connection refused: network class");
    ok(r.err_msg && strstr(r.err_msg, "Ollama not reachable"), "connection refused: message");
    is_int(r.n_metrics, 0, "connection refused: no metrics");
    collect_result_clear(&r);
    pt_run("ollama", &r, "{\"base_url\": \"unix:///run/ollama.sock\"}");
    is_int(r.err, MD_ERR_CONFIG, "non-http base_url: config");
    collect_result_clear(&r);
}

int main(void)
{
    if (!realpath("t/fixtures/ollama", fixdir)) {
        printf("1..0 # SKIP run from the source tree\n");
        return 0;
    }
    ok(pt_start(&suite) > 0, "mock provider started");
    if (pt_port <= 0)
        return pt_finish();
    test_ok();
    test_empty_and_missing();
    test_strings_unknown_keys();
    test_old_ollama();
    test_headers();
    test_errors();
    test_refused_and_config();
    return pt_finish();
}
