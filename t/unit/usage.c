/* t/unit/usage.c - the normalised usage record: every dialect mapped from
 * the fixtures in t/fixtures/usage (copies of the recorded payloads plus one
 * file per case), the expected figures, the JSON round trip, and that a
 * usage record carries exactly the SDK's bucket conversions
 * (mdu_tokens_openai / _anthropic, one implementation in core/lib/tokens.c):
 * no bucket dropped or swapped on the way into the record. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tap.h"
#include "usage.h"
#include "meterd/util.h"

#define FIX "t/fixtures/usage/"
#define NOW 1773151200.0 /* 2026-03-10T14:00:00Z */

static json_t *load_file(const char *file)
{
    char path[256];
    json_error_t e;
    snprintf(path, sizeof path, FIX "%s", file);
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &e);
    if (!j)
        printf("# cannot load %s: %s (line %d)\n", path, e.text, e.line);
    return j;
}

/* Line n (1-based) of a JSONL fixture, parsed. */
static json_t *load_line(const char *file, int n)
{
    char path[256], buf[65536];
    snprintf(path, sizeof path, FIX "%s", file);
    FILE *f = fopen(path, "r");
    json_t *j = NULL;
    for (int i = 1; f && fgets(buf, sizeof buf, f); i++)
        if (i == n) {
            j = json_loads(buf, 0, NULL);
            break;
        }
    if (f)
        fclose(f);
    if (!j)
        printf("# cannot load %s line %d\n", path, n);
    return j;
}

/* Map a parsed document; returns the rc, *err freed unless wanted. */
static int map_json(usage_dialect d, json_t *j, usage_record *r,
                    char **errout)
{
    char *err = NULL;
    int rc = usage_from_dialect(d, j, r, &err);
    if (errout)
        *errout = err;
    else
        free(err);
    json_decref(j);   /* the record keeps its own reference to raw */
    return rc;
}

static int map_file(usage_dialect d, const char *file, usage_record *r)
{
    return map_json(d, load_file(file), r, NULL);
}

static const char *const BUCKETS[7] = {
    "tokens_input_uncached", "tokens_cache_read", "tokens_cache_write",
    "tokens_output", "tokens_reasoning", "tokens_total", "cost_usd"};

static const md_num *bucket(const usage_record *r, int i)
{
    const md_num *v[7] = {&r->tokens_input_uncached, &r->tokens_cache_read,
                          &r->tokens_cache_write, &r->tokens_output,
                          &r->tokens_reasoning, &r->tokens_total,
                          &r->cost_usd};
    return v[i];
}

static const char *state_name(md_state s)
{
    return s == MD_KNOWN ? "known" : s == MD_NOT_APPLICABLE ? "n/a"
                                                           : "unknown";
}

/* Check one bucket against a spec word: "?" unknown, "-" not applicable,
 * else the known value. */
static void expect_one(const char *name, int i, const md_num *v,
                       const char *w)
{
    char label[160];
    snprintf(label, sizeof label, "%s: %s = %s", name, BUCKETS[i], w);
    if (strcmp(w, "?") == 0 || strcmp(w, "-") == 0) {
        md_state want = *w == '?' ? MD_UNKNOWN : MD_NOT_APPLICABLE;
        if (!ok(v->state == want, label))
            printf("#   state %s\n", state_name(v->state));
        return;
    }
    double want = strtod(w, NULL);
    int good = v->state == MD_KNOWN &&
               fabs(v->value - want) <= 1e-9 * (fabs(want) + 1.0);
    if (!ok(good, label))
        printf("#   state %s value %.17g\n", state_name(v->state),
               v->value);
}

/* The disjoint-bucket invariant: when the four buckets are known (a
 * not-applicable one counts 0), the total is their sum. */
static void expect_invariant(const char *name, const usage_record *r)
{
    char label[160];
    double sum = 0;
    int all = r->tokens_total.state == MD_KNOWN;
    for (int i = 0; i < 4; i++) {
        const md_num *v = bucket(r, i);
        if (v->state == MD_KNOWN)
            sum += v->value;
        else if (v->state != MD_NOT_APPLICABLE)
            all = 0;
    }
    snprintf(label, sizeof label, "%s: total is the sum of the buckets",
             name);
    ok(!all || fabs(sum - r->tokens_total.value) < 1e-6, label);
}

/* spec: seven words in BUCKETS order.  8 tests. */
static void expect(const usage_record *r, const char *name, const char *spec)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", spec);
    char *w = strtok_r(buf, " ", &save);
    for (int i = 0; i < 7; i++, w = strtok_r(NULL, " ", &save))
        expect_one(name, i, bucket(r, i), w ? w : "(missing spec)");
    expect_invariant(name, r);
}

/* Map a fixture and check it: 9 tests. */
static void check_file(usage_dialect d, const char *file, const char *spec)
{
    usage_record r;
    char name[128];
    snprintf(name, sizeof name, "%s %s", usage_dialect_name(d), file);
    int rc = map_file(d, file, &r);
    is_int(rc, 0, name);
    expect(&r, name, spec);
    usage_record_clear(&r);
}

/* ------------------------------------------------------------------ */

static void test_dialect_names(void)
{
    static const char *const names[] = {
        "openai", "openai-responses", "anthropic", "deepseek", "gemini",
        "openrouter", "ollama", "claude-code", "codex"};
    for (int i = 0; i < 9; i++) {
        usage_dialect d = USAGE_N_DIALECTS;
        int good = usage_dialect_from_name(names[i], &d) == 0 &&
                   (int)d == i && strcmp(usage_dialect_name(d), names[i]) == 0;
        ok(good, names[i]);
    }
    usage_dialect d;
    ok(usage_dialect_from_name("mistral", &d) == -1, "unknown name: -1");
    ok(usage_dialect_from_name(NULL, &d) == -1, "NULL name: -1");
    ok(usage_dialect_name(USAGE_N_DIALECTS) == NULL, "out of range: NULL");
}

static void test_openai_chat(void)
{
    /*                                   in   cr   cw out  rs   tot  cost */
    check_file(USAGE_OPENAI_CHAT, "openai_chat_plain.json",
               "? ? - 300 ? 1500 ?");
    check_file(USAGE_OPENAI_CHAT, "openai_chat_cached_reasoning.json",
               "86 1920 - 300 192 2306 ?");
    check_file(USAGE_OPENAI_CHAT, "openai_chat_strings.json",
               "86 1920 - 300 192 2306 ?");
    /* -5 prompt, "inf" cached, "12 tokens" reasoning: unknown, never 0;
     * the total cannot be computed and "NaN" is no fallback. */
    check_file(USAGE_OPENAI_CHAT, "openai_chat_negative.json",
               "? ? - 300 ? ? ?");
    /* wrong JSON types everywhere: nothing known, so nothing is n/a */
    check_file(USAGE_OPENAI_CHAT, "openai_chat_bad_types.json",
               "? ? ? ? ? ? ?");
    check_file(USAGE_OPENAI_CHAT, "openai_chat_total_only.json",
               "? ? - ? ? 777 ?");
}

static void test_openai_responses(void)
{
    check_file(USAGE_OPENAI_RESPONSES, "openai_responses.json",
               "1000 4000 - 700 512 5700 ?");
    check_file(USAGE_OPENAI_RESPONSES, "openai_responses_missing.json",
               "? ? - 700 ? 5700 ?");
}

static void test_anthropic(void)
{
    check_file(USAGE_ANTHROPIC_MESSAGES, "anthropic_messages.json",
               "25 1800 0 503 ? 2328 ?");
    /* the 5m + 1h split replaces cache_creation_input_tokens */
    check_file(USAGE_ANTHROPIC_MESSAGES, "anthropic_messages_split.json",
               "3 0 3500 87 ? 3590 ?");
    /* a split without its 1h half is not usable: the flat counter wins */
    check_file(USAGE_ANTHROPIC_MESSAGES,
               "anthropic_messages_split_partial.json",
               "3 0 999 87 ? 1089 ?");
    check_file(USAGE_ANTHROPIC_MESSAGES,
               "anthropic_messages_missing_cache.json",
               "10 ? ? 5 ? ? ?");
    usage_record r;
    is_int(map_file(USAGE_ANTHROPIC_MESSAGES, "anthropic_messages_split.json",
                    &r), 0, "split: maps");
    ok(r.tokens_cache_write_1h.state == MD_KNOWN &&
           r.tokens_cache_write_1h.value == 2500,
       "split: the 1h bucket is ephemeral_1h_input_tokens (2500 of 3500)");
    usage_record_clear(&r);
    is_int(map_file(USAGE_ANTHROPIC_MESSAGES, "anthropic_messages.json", &r),
           0, "no split: maps");
    ok(r.tokens_cache_write_1h.state == MD_KNOWN &&
           r.tokens_cache_write_1h.value == 0,
       "no split: the 1h bucket is a known 0 (default five-minute TTL)");
    usage_record_clear(&r);
    is_int(map_file(USAGE_ANTHROPIC_MESSAGES,
                    "anthropic_messages_missing_cache.json", &r),
           0, "no cache-write counter: maps");
    ok(r.tokens_cache_write_1h.state == MD_UNKNOWN,
       "no cache-write counter: the 1h bucket is unknown, not 0");
    usage_record_clear(&r);
    /* expected figure: the Sonnet row of the usage report, as Messages usage */
    check_file(USAGE_ANTHROPIC_MESSAGES,
               "anthropic_report_sonnet_as_messages.json",
               "15230 913400 42100 38211 ? 1008941 ?");
}

/* The report row itself (uncached_input_tokens instead of input_tokens):
 * rename the one key and the Messages mapping gives the expected figure. */
static void test_anthropic_report_row(void)
{
    json_t *doc = load_file("anthropic_usage_report_messages.json");
    json_t *row = json_deep_copy(
        json_array_get(json_object_get(
                           json_array_get(json_object_get(doc, "data"), 0),
                           "results"),
                       0));
    json_decref(doc);
    json_object_set(row, "input_tokens",
                    json_object_get(row, "uncached_input_tokens"));
    json_object_del(row, "uncached_input_tokens");
    usage_record r;
    is_int(map_json(USAGE_ANTHROPIC_MESSAGES, row, &r, NULL), 0,
           "report Sonnet row maps");
    expect(&r, "report Sonnet row", "15230 913400 42100 38211 ? 1008941 ?");
    usage_record_clear(&r);
}

static void test_deepseek(void)
{
    check_file(USAGE_DEEPSEEK, "deepseek.json", "232 768 - 220 150 1220 ?");
    check_file(USAGE_DEEPSEEK, "deepseek_no_hit_miss.json",
               "? ? - 220 ? 1220 ?");
}

static void test_gemini(void)
{
    /* output = candidates 200 + thoughts 300 */
    check_file(USAGE_GEMINI, "gemini.json", "400 600 - 500 300 1500 ?");
    /* whole response; promptTokenCount as a string; tool-use prompt on top */
    check_file(USAGE_GEMINI, "gemini_response_tool.json",
               "1050 0 - 200 0 1250 ?");
    /* no thoughtsTokenCount: output unknown (absent is not zero) */
    check_file(USAGE_GEMINI, "gemini_no_thoughts.json", "? ? - ? ? 15 ?");
}

static void test_openrouter(void)
{
    check_file(USAGE_OPENROUTER, "openrouter.json", "194 0 - 2 0 196 0.95");
    check_file(USAGE_OPENROUTER, "openrouter_cost_string.json",
               "? ? - 2 ? 196 0.00012");
}

static void test_ollama(void)
{
    check_file(USAGE_OLLAMA, "ollama.json", "26 - - 298 ? 324 ?");
    check_file(USAGE_OLLAMA, "ollama_no_counts.json", "? ? ? ? ? ? ?");
}

/* Every API dialect: {} (no telemetry), a quota-style object, JSON null
 * give all-unknown token buckets, never zeros and never n/a. */
static void test_no_usage(void)
{
    static const char *const files[] = {"empty.json", "quota_style.json"};
    for (int d = 0; d <= USAGE_OLLAMA; d++) {
        for (int f = 0; f < 2; f++)
            check_file((usage_dialect)d, files[f], "? ? ? ? ? ? ?");
        usage_record r;
        char name[64];
        snprintf(name, sizeof name, "%s null",
                 usage_dialect_name((usage_dialect)d));
        ok(map_json((usage_dialect)d, json_null(), &r, NULL) == 0 &&
               r.raw == NULL,
           name);
        expect(&r, name, "? ? ? ? ? ? ?");
        usage_record_clear(&r);
    }
    usage_record r;
    char *err = NULL;
    ok(map_json(USAGE_OPENAI_CHAT, json_string("12"), &r, &err) == -1 &&
           err && strstr(err, "not an object"),
       "a string is not a usage object");
    free(err);
    ok(map_json((usage_dialect)42, json_object(), &r, &err) == -1 && err,
       "an unknown dialect is an error");
    free(err);
}

static void test_claude_code(void)
{
    usage_record r;
    const char *f = "claude_code_session.jsonl";
    char *err = NULL;

    /* first streaming chunk of msg_01AbCd...: output 1 */
    is_int(map_json(USAGE_CLAUDE_CODE_LINE, load_line(f, 2), &r, NULL), 0,
           "claude line 2 maps");
    expect(&r, "claude line 2", "4 13920 20154 1 ? 34079 ?");
    usage_record_clear(&r);

    /* expected figure (the entry kept after dedup): output 412 */
    is_int(map_json(USAGE_CLAUDE_CODE_LINE, load_line(f, 3), &r, NULL), 0,
           "claude line 3 maps");
    expect(&r, "claude line 3", "4 13920 20154 412 ? 34490 ?");
    is_str(r.dedup_key, "msg_01AbCdEfGhIjKlMnOpQrStUv:req_011CQxYzAbCdEfGhIjKlMnOp",
           "claude line 3: dedup key message.id:requestId");
    is_str(r.model, "claude-sonnet-4-5-20250929", "claude line 3: model");
    ok(r.at.state == MD_KNOWN && fabs(r.at.epoch - 1773151089.902) < 1e-3,
       "claude line 3: at = timestamp");
    ok(json_is_object(r.raw) &&
           json_integer_value(json_object_get(r.raw, "output_tokens")) == 412 &&
           !json_object_get(r.raw, "content"),
       "claude line 3: raw is message.usage only");
    ok(r.provider == NULL && r.source == NULL && r.route == NULL &&
           r.observed_at.state == MD_UNKNOWN,
       "claude line 3: provider/route/source/observed_at left to the caller");
    usage_record_clear(&r);

    is_int(map_json(USAGE_CLAUDE_CODE_LINE, load_line(f, 5), &r, NULL), 0,
           "claude line 5 maps");
    expect(&r, "claude line 5", "1 34074 1288 236 ? 35599 ?");
    usage_record_clear(&r);

    /* synthetic API-error line: real zeros, no model, no requestId */
    is_int(map_json(USAGE_CLAUDE_CODE_LINE, load_line(f, 6), &r, NULL), 0,
           "synthetic line maps");
    expect(&r, "synthetic line", "0 0 0 0 ? 0 ?");
    ok(r.model == NULL, "synthetic line: model NULL");
    is_str(r.dedup_key, "6f1e0a2b-0000-4000-8000-000000000000",
           "synthetic line: dedup key is message.id alone");
    usage_record_clear(&r);

    ok(map_json(USAGE_CLAUDE_CODE_LINE, load_line(f, 1), &r, &err) == -1 &&
           err && strcmp(err, "no usage in this line") == 0,
       "user line: no usage");
    free(err);
    ok(map_json(USAGE_CLAUDE_CODE_LINE, load_line(f, 7), &r, &err) == -1 &&
           err,
       "summary line: no usage");
    free(err);
    ok(map_json(USAGE_CLAUDE_CODE_LINE, json_null(), &r, &err) == -1 && err,
       "claude-code: null is not a line");
    free(err);

    /* legacy 1.0.x: costUSD, no cache_creation object */
    is_int(map_json(USAGE_CLAUDE_CODE_LINE,
                    load_line("claude_code_session_legacy.jsonl", 1), &r,
                    NULL),
           0, "legacy line maps");
    expect(&r, "legacy line", "12 0 3100 96 ? 3208 0.06715");
    is_str(r.model, "claude-opus-4-20250514", "legacy line: model");
    usage_record_clear(&r);

    /* strings, negative and junk; no requestId */
    is_int(map_file(USAGE_CLAUDE_CODE_LINE, "claude_code_no_request_id.json",
                    &r),
           0, "odd line maps");
    expect(&r, "odd line", "7 ? ? ? ? ? ?");
    is_str(r.dedup_key, "msg_01NoReq", "odd line: dedup key without requestId");
    usage_record_clear(&r);

    /* progress wrapper; the decoy usage inside a tool result is ignored */
    is_int(map_file(USAGE_CLAUDE_CODE_LINE, "claude_code_progress.json", &r),
           0, "progress wrapper maps");
    expect(&r, "progress wrapper", "2 20 10 30 ? 62 ?");
    is_str(r.dedup_key, "msg_sub:req_sub", "progress wrapper: dedup key");
    ok(r.at.state == MD_KNOWN && fabs(r.at.epoch - (NOW - 90.5)) < 1e-3,
       "progress wrapper: at = the nested entry's timestamp");
    usage_record_clear(&r);
}

static void test_codex(void)
{
    usage_record r;
    const char *f = "codex_rollout.jsonl";
    char *err = NULL;

    ok(map_json(USAGE_CODEX_TOKEN_COUNT, load_line(f, 2), &r, &err) == -1 &&
           err && strcmp(err, "no usage in this event") == 0,
       "rate-limits-only token_count: no usage in this event");
    free(err);
    err = NULL;
    ok(map_json(USAGE_CODEX_TOKEN_COUNT, load_line(f, 1), &r, &err) == -1 &&
           err && strstr(err, "not a token_count"),
       "session_meta: not a token_count event");
    free(err);
    err = NULL;
    ok(map_file(USAGE_CODEX_TOKEN_COUNT, "codex_not_token_count.json", &r) ==
           -1,
       "turn_context: not a token_count event");

    /* expected figure: turn 1 */
    is_int(map_json(USAGE_CODEX_TOKEN_COUNT, load_line(f, 5), &r, NULL), 0,
           "codex turn 1 maps");
    expect(&r, "codex turn 1", "3000 9000 - 800 320 12800 ?");
    ok(r.at.state == MD_KNOWN && fabs(r.at.epoch - 1773150019.877) < 1e-3,
       "codex turn 1: at = line timestamp");
    ok(r.model == NULL && r.dedup_key == NULL,
       "codex turn 1: no model (turn_context has it), no dedup key");
    ok(json_integer_value(json_object_get(r.raw, "total_tokens")) == 12800,
       "codex turn 1: raw is last_token_usage");
    usage_record_clear(&r);

    is_int(map_json(USAGE_CODEX_TOKEN_COUNT, load_line(f, 7), &r, NULL), 0,
           "codex turn 2 maps");
    expect(&r, "codex turn 2", "2700 12800 - 1200 512 16700 ?");
    usage_record_clear(&r);

    is_int(map_json(USAGE_CODEX_TOKEN_COUNT,
                    load_line("codex_rollout_legacy.jsonl", 3), &r, NULL),
           0, "codex legacy maps");
    expect(&r, "codex legacy", "3000 9000 - 800 320 12800 ?");
    usage_record_clear(&r);

    check_file(USAGE_CODEX_TOKEN_COUNT, "codex_token_count_cache_write.json",
               "7000 9000 4000 900 100 20900 ?");

    is_int(map_file(USAGE_CODEX_TOKEN_COUNT, "codex_payload_only_strings.json",
                    &r),
           0, "codex payload only maps");
    expect(&r, "codex payload only", "3000 9000 - 800 320 12800 ?");
    is_str(r.model, "gpt-5.2-codex", "codex payload only: info.model");
    usage_record_clear(&r);
}

/* ------------------------------------------------------------------ */

static void test_round_trip(void)
{
    usage_record r, back, cp;
    usage_record_init(&r);
    r.provider = xstrdup("openai");
    r.route = xstrdup("chat");
    r.model = xstrdup("gpt-5.2");
    r.source = xstrdup("ingest");
    r.at = MD_TIME(1773151089.902);
    r.observed_at = MD_TIME_NA;
    r.tokens_input_uncached = MD_NUM(86);
    r.tokens_cache_read = MD_NUM(0);
    r.tokens_cache_write = MD_NUM_NA;
    r.tokens_output = MD_NUM(300);
    r.tokens_total = MD_NUM(386);
    r.cost_usd = MD_NUM(0.0125);
    r.raw = json_pack("{s:i,s:i}", "prompt_tokens", 86, "completion_tokens",
                      300);

    json_t *j = usage_to_json(&r);
    static const char *const keys[] = {
        "provider", "route", "model", "source", "dedup_key", "at",
        "observed_at", "tokens_input_uncached", "tokens_cache_read",
        "tokens_cache_write", "tokens_output", "tokens_reasoning",
        "tokens_total", "tokens_cache_write_1h", "cost_usd", "raw",
        "not_applicable"};
    int all = 1;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        all &= json_object_get(j, keys[i]) != NULL;
    ok(all && json_object_size(j) == 17, "to_json: every key present");
    ok(json_is_null(json_object_get(j, "tokens_reasoning")) &&
           json_is_null(json_object_get(j, "tokens_cache_write")) &&
           json_is_null(json_object_get(j, "dedup_key")),
       "to_json: unknown and n/a are null");
    ok(json_integer_value(json_object_get(j, "tokens_cache_read")) == 0 &&
           json_is_number(json_object_get(j, "tokens_cache_read")),
       "to_json: a known 0 stays 0");
    json_t *na = json_object_get(j, "not_applicable");
    ok(json_array_size(na) == 2 &&
           strcmp(json_string_value(json_array_get(na, 0)), "observed_at") ==
               0 &&
           strcmp(json_string_value(json_array_get(na, 1)),
                  "tokens_cache_write") == 0,
       "to_json: not_applicable lists observed_at and tokens_cache_write");
    is_str(json_string_value(json_object_get(j, "at")),
           "2026-03-10T13:58:09.902Z", "to_json: at as RFC 3339");

    /* through text, as storage does */
    char *text = json_dumps(j, JSON_COMPACT);
    json_t *j2 = json_loads(text, 0, NULL);
    char *err = NULL;
    is_int(usage_from_json(j2, &back, &err), 0, "from_json: ok");
    json_t *j3 = usage_to_json(&back);
    ok(json_equal(j, j3), "round trip: same JSON");
    ok(back.tokens_reasoning.state == MD_UNKNOWN &&
           back.tokens_cache_write.state == MD_NOT_APPLICABLE &&
           back.observed_at.state == MD_NOT_APPLICABLE &&
           back.tokens_cache_read.state == MD_KNOWN &&
           back.tokens_cache_read.value == 0,
       "round trip: unknown, n/a and known 0 keep their states");
    ok(back.raw && back.raw != r.raw && json_equal(back.raw, r.raw),
       "round trip: raw deep-copied");
    is_str(back.dedup_key, NULL, "round trip: NULL string stays NULL");

    usage_record_copy(&cp, &back);
    usage_record_clear(&back);
    json_t *j4 = usage_to_json(&cp);
    ok(json_equal(j, j4), "copy outlives its source");
    usage_record_clear(&cp);
    usage_record_clear(&r);
    free(text);
    json_decref(j);
    json_decref(j2);
    json_decref(j3);
    json_decref(j4);
    usage_record_clear(NULL);
}

static void test_from_json_errors(void)
{
    usage_record r;
    char *err = NULL;
    json_t *j = json_pack("{s:s}", "tokens_output", "12");
    ok(usage_from_json(j, &r, &err) == -1 && err &&
           strstr(err, "tokens_output"),
       "from_json: a number as a string is malformed");
    free(err);
    err = NULL;
    json_decref(j);
    j = json_pack("{s:s}", "at", "yesterday");
    ok(usage_from_json(j, &r, &err) == -1 && err, "from_json: bad timestamp");
    free(err);
    err = NULL;
    json_decref(j);
    j = json_pack("{s:i}", "model", 5);
    ok(usage_from_json(j, &r, &err) == -1 && err, "from_json: bad string");
    free(err);
    err = NULL;
    json_decref(j);
    j = json_pack("{s:i}", "not_applicable", 5);
    ok(usage_from_json(j, &r, &err) == -1 && err,
       "from_json: bad not_applicable");
    free(err);
    err = NULL;
    json_decref(j);
    ok(usage_from_json(json_null(), &r, NULL) == -1,
       "from_json: null is not a record (err may be NULL)");
    j = json_pack("{s:i,s:f,s:i}", "tokens_output", -3, "cost_usd", 1.5,
                  "at", 1773151200);
    ok(usage_from_json(j, &r, NULL) == 0 &&
           r.tokens_output.state == MD_UNKNOWN && r.cost_usd.value == 1.5 &&
           r.at.state == MD_KNOWN && r.at.epoch == NOW &&
           r.tokens_total.state == MD_UNKNOWN,
       "from_json: negative -> unknown, epoch time, missing -> unknown");
    usage_record_clear(&r);
    json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Parity with the plugins' rules over every state combination          */
/* ------------------------------------------------------------------ */

static const md_num GRID[] = {{MD_UNKNOWN, 0}, {MD_NOT_APPLICABLE, 0},
                              {MD_KNOWN, 0},   {MD_KNOWN, 5},
                              {MD_KNOWN, 12}};
#define NG (sizeof GRID / sizeof GRID[0])

static int same_num(md_num a, md_num b)
{
    return a.state == b.state && (a.state != MD_KNOWN || a.value == b.value);
}

static int same_buckets(const usage_record *r, const mdu_tokens *t)
{
    return same_num(r->tokens_input_uncached, t->input_uncached) &&
           same_num(r->tokens_cache_read, t->cache_read) &&
           same_num(r->tokens_cache_write, t->cache_write) &&
           same_num(r->tokens_output, t->output) &&
           same_num(r->tokens_reasoning, t->reasoning) &&
           same_num(r->tokens_total, t->total);
}

static void test_parity(void)
{
    int bad_o = 0, bad_a = 0, n = 0;
    for (size_t a = 0; a < NG; a++)
        for (size_t b = 0; b < NG; b++)
            for (size_t c = 0; c < NG; c++)
                for (size_t d = 0; d < NG; d++) {
                    usage_record r;
                    usage_record_init(&r);
                    usage_set_openai_buckets(&r, GRID[a], GRID[b], GRID[c],
                                             GRID[d]);
                    mdu_tokens t =
                        mdu_tokens_openai(GRID[a], GRID[b], GRID[c], GRID[d]);
                    bad_o += !same_buckets(&r, &t);
                    usage_set_anthropic_buckets(&r, GRID[a], GRID[b],
                                                GRID[c], GRID[d]);
                    t = mdu_tokens_anthropic(GRID[a], GRID[b], GRID[c],
                                            GRID[d]);
                    bad_a += !same_buckets(&r, &t);
                    n++;
                }
    is_int(bad_o, 0, "openai buckets == mdu_tokens_openai on 625 inputs");
    is_int(bad_a, 0, "anthropic buckets == mdu_tokens_anthropic on 625 inputs");
    is_int(n, 625, "parity grid size");
}

int main(void)
{
    test_dialect_names();
    test_openai_chat();
    test_openai_responses();
    test_anthropic();
    test_anthropic_report_row();
    test_deepseek();
    test_gemini();
    test_openrouter();
    test_ollama();
    test_no_usage();
    test_claude_code();
    test_codex();
    test_round_trip();
    test_from_json_errors();
    test_parity();
    return done_testing();
}
