/* t/unit/protocol.c - the daemon<->helper wire format: the job and the
 * result to JSON and back, the result's framing, and that a truncated,
 * oversized or garbage result is an error rather than a crash. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "protocol.h"
#include "tap.h"
#include "timeutil.h"

#define NOW 1773151200.0 /* 2026-03-10T14:00:00Z */

static void test_collect_result(void)
{
    collect_result r, back, cp;
    collect_result_init(&r);
    ok(r.retry_after < 0 && r.metrics == NULL, "init");
    r.n_metrics = 1;
    r.metrics = xcalloc(1, sizeof *r.metrics);
    md_metric in = {0};
    in.id = "five_hour";
    in.kind = "quota_window";
    in.unit = "hours";
    in.used = MD_NUM(1);
    in.limit = MD_NUM(5);
    in.resets_at = MD_TIME(NOW + 3600);
    in.collected_at = MD_TIME(NOW);
    metric_from_sdk(&r.metrics[0], &in, sizeof in, "claude", "oauth", NOW,
                    NULL, NULL);
    r.n_notes = 1;
    r.notes = xcalloc(1, sizeof *r.notes);
    r.notes[0] = xstrdup("hello");
    r.raw_json = xstrdup("{\"a\": [1, 2]}");
    r.started_at = NOW - 1;
    r.finished_at = NOW;
    r.retry_after = 30;

    json_t *j = protocol_result_to_json(&r);
    ok(json_is_null(json_object_get(j, "error")), "success: error null");
    ok(json_is_object(json_object_get(j, "raw")) &&
           json_array_size(json_object_get(json_object_get(j, "raw"), "a")) ==
               2,
       "raw parsed as JSON");
    is_num(json_number_value(json_object_get(j, "retry_after")), 30,
           "retry_after");
    is_str(json_string_value(json_object_get(j, "finished_at")),
           "2026-03-10T14:00:00Z", "finished_at RFC 3339");
    char *err = NULL;
    is_int(protocol_result_from_json(j, &back, &err), 0, "result round trip");
    is_int(back.n_metrics, 1, "metric back");
    is_num(back.metrics[0].remaining.value, 4, "derived remaining back");
    ok(back.metrics[0].derived ==
           (METRIC_DERIVED_REMAINING | METRIC_DERIVED_UTILIZATION),
       "derived bits back");
    is_num(back.metrics[0].resets_at.epoch, NOW + 3600, "resets_at back");
    is_str(back.notes[0], "hello", "note back");
    is_num(back.started_at, NOW - 1, "started_at back");
    is_num(back.retry_after, 30, "retry_after back");
    json_t *j2 = protocol_result_to_json(&back);
    ok(json_equal(j, j2), "result JSON stable across round trip");
    json_decref(j2);

    collect_result_copy(&cp, &back);
    collect_result_clear(&back);
    is_str(cp.metrics[0].id, "five_hour", "deep copy survives a clear of the source");
    is_str(cp.raw_json, "{\"a\":[1,2]}", "raw copied");
    ok(back.metrics == NULL && back.n_metrics == 0 && back.retry_after < 0,
       "clear re-inits");
    collect_result_clear(&cp);
    json_decref(j);

    /* failure with unparseable raw */
    collect_result_clear(&r);
    r.err = MD_ERR_RATE_LIMITED;
    r.err_msg = xstrdup("429 Too Many Requests");
    r.raw_json = xstrdup("<html>nope");
    j = protocol_result_to_json(&r);
    json_t *e = json_object_get(j, "error");
    is_str(json_string_value(json_object_get(e, "class")), "rate_limited",
           "error class name");
    is_str(json_string_value(json_object_get(e, "message")),
           "429 Too Many Requests", "error message");
    is_str(json_string_value(json_object_get(j, "raw")), "<html>nope",
           "unparseable raw kept as string");
    ok(json_is_null(json_object_get(j, "retry_after")), "no retry_after: null");
    ok(json_is_null(json_object_get(j, "started_at")), "unset time: null");
    is_int(protocol_result_from_json(j, &back, &err), 0, "failure parses");
    ok(back.err == MD_ERR_RATE_LIMITED, "class back");
    json_t *j3 = protocol_result_to_json(&back);
    ok(json_equal(j, j3), "string raw stable across round trip");
    json_decref(j3);
    collect_result_clear(&back);
    json_decref(j);
    collect_result_clear(&r);

    /* malformed */
    j = json_pack("{s:[{s:s}]}", "metrics", "kind", "usage");
    err = NULL;
    is_int(protocol_result_from_json(j, &back, &err), -1, "bad metric rejected");
    ok(err && strstr(err, "metrics[0]"), "error locates the metric");
    free(err);
    json_decref(j);
    j = json_pack("{s:i}", "notes", 3);
    err = NULL;
    is_int(protocol_result_from_json(j, &back, &err), -1, "bad notes rejected");
    free(err);
    json_decref(j);
}

static void test_error_names(void)
{
    static const char *names[] = {"timeout", "crashed", "auth", "rate_limited",
                                  "http", "bad_data", "config", "abi",
                                  "network", "internal"};
    ok(md_error_name(MD_ERR_NONE) == NULL, "NONE has no name");
    int all = 1;
    for (int i = 0; i < 10; i++) {
        md_error e = (md_error)(MD_ERR_TIMEOUT + i);
        if (!md_error_name(e) || strcmp(md_error_name(e), names[i]) != 0 ||
            md_error_from_name(names[i]) != e)
            all = 0;
    }
    ok(all, "all ten names map both ways");
    ok(md_error_from_name("bogus") == MD_ERR_INTERNAL, "unknown -> internal");
    ok(md_error_from_name(NULL) == MD_ERR_INTERNAL, "NULL -> internal");
}

static void test_job_round_trip(void)
{
    provider_conf pc = {
        .name = "claude",
        .plugin_path = "/p/claude.so",
        .options = json_pack("{s:s, s:[s, s]}", "api_key", "sk-secret-1",
                             "models", "a", "b"),
        .secret_options = json_pack("[s]", "api_key"),
    };
    log_set_level(MD_LOG_INFO);
    json_t *j = protocol_job_to_json(&pc, "/st/plugins/claude", 5000,
                                     18446744073709551615ULL);
    protocol_job js;
    char *err = NULL;
    is_int(protocol_job_from_json(j, &js, &err), 0, "job reads back");
    is_str(js.instance, "claude", "instance back");
    is_str(js.plugin_path, "/p/claude.so", "plugin_path back");
    is_str(js.state_dir, "/st/plugins/claude", "state_dir back");
    ok(json_equal(js.options, pc.options), "options back");
    ok(json_array_size(js.secrets) == 1 &&
           strcmp(json_string_value(json_array_get(js.secrets, 0)),
                  "sk-secret-1") == 0,
       "secret option values listed as secrets");
    ok(js.usage_generation == 18446744073709551615ULL,
       "usage_generation exact for the largest 64-bit value");
    ok(js.budget_ms > 4000 && js.budget_ms <= 5000,
       "budget is the remaining time");
    is_int(js.log_level, MD_LOG_INFO, "the daemon's log level travels");

    /* Time spent in transit counts: a deadline already past leaves 0. */
    json_object_set_new(j, "deadline_epoch", json_real(time_now() - 10));
    is_int(protocol_job_from_json(j, &js, &err), 0, "late job reads");
    is_int(js.budget_ms, 0, "a deadline in the past leaves no budget");
    json_decref(j);

    j = protocol_job_to_json(&pc, NULL, 10, 0);
    is_int(protocol_job_from_json(j, &js, &err), 0, "job without state_dir");
    ok(js.state_dir == NULL && js.usage_generation == 0,
       "no state_dir, generation 0");
    json_object_del(j, "usage_generation");
    json_object_del(j, "log_level");
    json_object_del(j, "deadline_epoch");
    is_int(protocol_job_from_json(j, &js, &err), 0,
           "optional keys may be absent");
    ok(js.usage_generation == 0 && js.log_level == -1 && js.budget_ms == 10,
       "absent keys read as their defaults");
    json_decref(j);
    json_decref(pc.options);
    json_decref(pc.secret_options);
}

static void test_job_errors(void)
{
    static const char *const bad[] = {
        "[]",
        "{\"plugin_path\": \"/p\", \"timeout_ms\": 1}",
        "{\"instance\": \"x\", \"timeout_ms\": 1}",
        "{\"instance\": \"x\", \"plugin_path\": \"/p\"}",
        "{\"instance\": \"x\", \"plugin_path\": \"/p\", \"timeout_ms\": \"1\"}",
        "{\"instance\": \"x\", \"plugin_path\": \"/p\", \"timeout_ms\": 1,"
        " \"options\": []}",
        "{\"instance\": \"x\", \"plugin_path\": \"/p\", \"timeout_ms\": 1,"
        " \"usage_generation\": \"-1\"}",
        "{\"instance\": \"x\", \"plugin_path\": \"/p\", \"timeout_ms\": 1,"
        " \"usage_generation\": \"99999999999999999999999\"}",
    };
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        protocol_job js;
        char *err = NULL;
        int rc = protocol_job_from_json(j, &js, &err);
        if (rc != -1 || !err || js.instance != NULL) {
            diag_line(bad[i]);
            all = 0;
        }
        free(err);
        json_decref(j);
    }
    ok(all, "every malformed job is an error with a message, nothing kept");
    protocol_job js;
    is_int(protocol_job_from_json(NULL, &js, NULL), -1, "NULL job, NULL err");
}

/* A result with a metric, a note, raw JSON and usage cells. */
static void full_result(collect_result *r)
{
    collect_result_init(r);
    md_metric in = {
        .id = "credits", .kind = "credits", .remaining = MD_NUM(18.5),
        .collected_at = MD_TIME(NOW),
    };
    r->metrics = xcalloc(1, sizeof *r->metrics);
    metric_from_sdk(&r->metrics[0], &in, sizeof in, "deepseek", "api", NOW,
                    NULL, NULL);
    r->n_metrics = 1;
    r->notes = xcalloc(1, sizeof *r->notes);
    r->notes[r->n_notes++] = xstrdup("line one\nline two");
    r->raw_json = xstrdup("{\"balance\":\"18.50\"}");
    r->started_at = NOW - 2;
    r->finished_at = NOW;
    r->has_usage = 1;
    r->usage_since = NOW - 900;
    r->usage_generation = 7;
    r->usage = xcalloc(1, sizeof *r->usage);
    r->usage[0] = (usage_cell_rec){.slot_start = NOW - 900,
                                   .model = xstrdup("m"), .events = 2};
    r->usage[0].b[UB_OUTPUT] = MD_NUM(12);
    r->usage[0].b[UB_CACHE_WRITE] = MD_NUM_NA;
    r->n_usage = 1;
}

static void test_result_framing(void)
{
    collect_result r, back;
    full_result(&r);
    size_t len;
    char *text = protocol_result_encode(&r, &len);
    /* "P<n>\n", n bytes of packed cells, then the JSON and its newline */
    size_t n = text ? strtoul(text + 1, NULL, 10) : 0;
    const char *nl = text ? memchr(text, '\n', len) : NULL;
    const char *json = nl ? nl + 1 + n : NULL;
    ok(text && text[0] == 'P' && nl && n > 0 && json < text + len &&
           json[0] == '{' && strlen(json) == (size_t)(text + len - json),
       "cells packed ahead of the JSON, encoded with its length");
    ok(json && text[len - 1] == '\n' &&
           memchr(json, '\n', (size_t)(text + len - json) - 1) == NULL,
       "one newline after the cells, at the end (a note's newline is "
       "escaped)");
    int early = 0;
    for (size_t cut = 0; cut < len; cut++)
        early |= protocol_result_complete(text, cut);
    ok(!early && protocol_result_complete(text, len),
       "complete only with its last byte");
    char *err = NULL;
    is_int(protocol_result_decode(text, len, &back, &err), 0,
           "framed result decodes");
    json_t *a = protocol_result_to_json(&r), *b = protocol_result_to_json(&back);
    ok(json_equal(a, b), "result survives the pipe unchanged");
    ok(back.has_usage && back.n_usage == 1 && back.usage_generation == 7 &&
           back.usage[0].b[UB_CACHE_WRITE].state == MD_NOT_APPLICABLE,
       "usage cells survive");
    json_decref(a);
    json_decref(b);
    collect_result_release(&back);
    is_int(protocol_result_decode(text, len - 1, &back, &err), 0,
           "the final newline is optional (inline mode)");
    collect_result_release(&back);

    /* Every truncation is an error, and leaves an empty result. */
    int all = 1;
    for (size_t cut = 0; cut < len - 1; cut++) {
        err = NULL;
        if (protocol_result_decode(text, cut, &back, &err) != -1 || !err ||
            back.n_metrics || back.n_usage || back.err != MD_ERR_NONE)
            all = 0;
        free(err);
    }
    ok(all, "every truncated result is an error");
    err = NULL;
    protocol_result_decode(text, 0, &back, &err);
    is_str(err, "no output", "no bytes: \"no output\"");
    free(err);
    free(text);
    collect_result_release(&r);

    /* Oversized: refused before parsing, whatever it holds. */
    size_t big = PROTOCOL_RESULT_MAX + 1;
    char *huge = xmalloc(big);
    memset(huge, ' ', big);
    memcpy(huge, "{}", 2);
    err = NULL;
    is_int(protocol_result_decode(huge, big, &back, &err), -1,
           "a result over the cap is an error");
    ok(err && strstr(err, "larger than"), "the error says why");
    free(err);
    free(huge);
}

/* Packed cells read back as the JSON cells do, value for value. */
static void test_result_packed_cells(void)
{
    collect_result r, packed, plain;
    collect_result_init(&r);
    r.has_usage = 1;
    r.usage_since = NOW - 3600;
    r.usage_generation = 18446744073709551615ULL;
    r.n_usage = 4;
    r.usage = xcalloc(r.n_usage, sizeof *r.usage);
    for (size_t i = 0; i < r.n_usage; i++) {
        usage_cell_rec *c = &r.usage[i];
        c->slot_start = NOW - 900 * (double)(i + 1);
        c->model = i == 2 ? NULL : xstrdup(i % 2 ? "gpt-5" : "o3");
        c->events = (double)i;
        c->b[UB_INPUT_UNCACHED] = MD_NUM(1234567.0 * (double)i);
        c->b[UB_OUTPUT] = MD_NUM(-0.0);
        c->b[UB_CACHE_WRITE] = MD_NUM_NA;
        c->b[UB_COST] = MD_NUM(0.1 + 0.2 * (double)i);
    }
    double pv[USAGE_PARTS_N];
    pv[0] = 0.125;                            /* own cost */
    for (int k = 0; k < MD_PRICED_N; k++) {
        pv[1 + k] = 1000.0 + k;               /* tokens */
        pv[1 + MD_PRICED_N + k] = 0.5 * k;    /* their excess */
    }
    usage_parts_unflatten(&r.usage[1].parts, pv);
    size_t len;
    char *text = protocol_result_encode(&r, &len);
    char *err = NULL;
    is_int(protocol_result_decode(text, len, &packed, &err), 0,
           "packed cells decode");
    if (err)
        diag_line(err);
    free(err);
    err = NULL;
    json_t *j = protocol_result_to_json(&r);
    is_int(protocol_result_from_json(j, &plain, &err), 0,
           "the same cells as JSON decode");
    free(err);
    json_decref(j);
    int same = packed.n_usage == plain.n_usage &&
               packed.usage_generation == plain.usage_generation &&
               packed.usage_since == plain.usage_since;
    for (size_t i = 0; same && i < plain.n_usage; i++) {
        const usage_cell_rec *a = &packed.usage[i], *b = &plain.usage[i];
        same = memcmp(&a->slot_start, &b->slot_start,
                      sizeof a->slot_start) == 0 &&
               (a->model ? b->model && strcmp(a->model, b->model) == 0
                         : !b->model) &&
               memcmp(a->b, b->b, sizeof a->b) == 0 &&
               memcmp(&a->events, &b->events, sizeof a->events) == 0 &&
               memcmp(&a->parts, &b->parts, sizeof a->parts) == 0;
    }
    ok(same, "packed cells are bit for bit the JSON cells (-0 arrives as 0)");
    collect_result_release(&packed);
    collect_result_release(&plain);

    /* A packed byte count the frame does not hold is refused. */
    const char *nl = memchr(text, '\n', len);
    size_t head = (size_t)(nl + 1 - text);
    char *lie = xmalloc(len + 32);
    int h = snprintf(lie, 32, "P%lu\n", strtoul(text + 1, NULL, 10) - 1);
    memcpy(lie + h, text + head, len - head);
    err = NULL;
    is_int(protocol_result_decode(lie, (size_t)h + len - head, &packed, &err),
           -1, "a packed length off by one is an error");
    ok(err && packed.n_usage == 0, "and leaves no cell");
    free(err);
    free(lie);
    free(text);

    /* Without cells the frame is the JSON and its newline alone. */
    collect_result_release(&r);
    collect_result_init(&r);
    text = protocol_result_encode(&r, &len);
    ok(text && text[0] == '{' && len == strlen(text) &&
           memchr(text, '\n', len - 1) == NULL &&
           protocol_result_complete(text, len),
       "no cells: one JSON line");
    free(text);
    collect_result_release(&r);
}

static void test_result_garbage(void)
{
    static const char *const bad[] = {
        "\x01\xff\xfe garbage",
        "null",
        "[]",
        "{} {}",
        "{\"metrics\": 5}",
        "{\"metrics\": [{\"id\": \"bad id!\", \"kind\": \"k\"}]}",
        "{\"error\": {\"class\": 3}}",
        "{\"retry_after\": -1}",
        "{\"started_at\": \"yesterday\"}",
        "{\"notes\": [1]}",
        "{\"usage\": {\"since\": 0, \"generation\": \"1\", \"cells\": [[1]]}}",
        "{\"usage\": {\"since\": 0, \"generation\": \"x\", \"cells\": []}}",
        "{\"usage\": {\"since\": 900, \"generation\": \"1\", \"cells\":"
        " [[0, null, 1, 1, 1, 1, 1, 1, 1, 1]]}}",
        "{\"usage\": {\"since\": 0, \"generation\": \"1\", \"cells\":"
        " [[0, \"m\", -1, 1, 1, 1, 1, 1, 1, 1]]}}",
    };
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        collect_result r;
        char *err = NULL;
        if (protocol_result_decode(bad[i], strlen(bad[i]), &r, &err) != -1 ||
            !err || r.n_metrics || r.n_usage || r.usage || r.notes) {
            diag_line(bad[i]);
            all = 0;
        }
        free(err);
    }
    ok(all, "garbage and malformed results are errors, nothing kept");
    collect_result r;
    ok(protocol_result_decode("{}", 2, &r, NULL) == 0 && r.retry_after < 0 &&
           r.err == MD_ERR_NONE,
       "an empty object is an empty success (every key optional)");
    collect_result_release(&r);
}

int main(void)
{
    test_collect_result();
    test_error_names();
    test_job_round_trip();
    test_job_errors();
    test_result_framing();
    test_result_packed_cells();
    test_result_garbage();
    return done_testing();
}
