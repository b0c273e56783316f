/*
 * t/unit/codex_fastscan.c - the Codex plugin's byte-for-byte match of the
 * token_count line (plugins/codex_logs.c scan_token_count, compiled in)
 * against the scanner it stands in for (js_scan with the same schema):
 * whenever the match accepts a line, js_scan accepts it too and records
 * every field the same (type, escape flag, token position and length).
 * Lines: the fixtures' rollouts, token_count lines in the shapes the CLI
 * has written (rate limits absent, flat, with reset times, with credits;
 * info null), numbers at the edges of the match (0, 18 and 19 digits,
 * leading zeros, signs, fractions), rate limits in the CLI's shapes and
 * in others, and every one of them truncated at each length and with
 * each byte replaced by bytes that matter to JSON.  The match must also
 * engage: the writers' lines, and their rate limits, are taken by it.
 */
#define meterd_plugin_entry unit_codex_logs_plugin_entry
#include "../../plugins/codex_logs.c"
#undef meterd_plugin_entry

#include "tap.h"
#include "logtest.h"

static size_t n_checked, n_fast, n_bad;

static int same_val(const js_val *a, const js_val *b)
{
    return a->type == b->type && a->esc == b->esc &&
           (a->type == JS_ABSENT || (a->p == b->p && a->n == b->n));
}

/* One line: the match, if it takes the line, agrees with js_scan.
 * Returns 1 when the match took it. */
static int check(const char *line, size_t len)
{
    js_val fast[F_N], slow[F_N];
    int f = scan_token_count(line, len, fast);
    n_checked++;
    if (f != 0)
        return 0;
    n_fast++;
    int s = js_scan(&schema, line, len, slow);
    int agree = s == 0;
    for (int i = 0; agree && i < F_N; i++)
        agree = same_val(&fast[i], &slow[i]);
    if (!agree && n_bad++ < 5)
        printf("# disagree (js_scan %d): %.*s\n", s, (int)(len > 300 ? 300 : len),
               line);
    return 1;
}

/* The line, every prefix of it, and every byte of it replaced. */
static void check_all(const char *line)
{
    static const char repl[] = "\"\\ 09-.e},{x:\x80\x1f";
    size_t len = strlen(line);
    char *buf = xmalloc(len + 1);
    check(line, len);
    for (size_t n = 0; n < len; n++)
        check(line, n);
    for (size_t i = 0; i < len; i++) {
        for (size_t r = 0; r < sizeof repl - 1; r++) {
            memcpy(buf, line, len);
            if (buf[i] == repl[r])
                continue;
            buf[i] = repl[r];
            check(buf, len);
        }
    }
    /* a trailing newline or space: js_scan's whitespace, not the match's */
    char *ws = xasprintf("%s ", line);
    check(ws, len + 1);
    free(ws);
    free(buf);
}

#define TS "{\"timestamp\":\"2026-03-10T13:40:19.877Z\",\"type\":\"event_msg\"," \
           "\"payload\":{\"type\":\"token_count\",\"info\":"
#define USAGE(a, b, c, d, t)                                                 \
    "{\"input_tokens\":" a ",\"cached_input_tokens\":" b                      \
    ",\"output_tokens\":" c ",\"reasoning_output_tokens\":" d                 \
    ",\"total_tokens\":" t "}"
#define INFO(u) "{\"total_token_usage\":" u ",\"last_token_usage\":" u      \
                ",\"model_context_window\":272000}"
#define RL_REAL                                                              \
    "{\"limit_id\":\"codex\",\"limit_name\":null,\"primary\":{\"used_"       \
    "percent\":22.0,\"window_minutes\":300,\"resets_at\":1773160200},"       \
    "\"secondary\":{\"used_percent\":40.0,\"window_minutes\":10080,"         \
    "\"resets_at\":1773432000},\"credits\":{\"has_credits\":true,"           \
    "\"unlimited\":false,\"balance\":\"14.5000000000\"},\"plan_type\":"      \
    "\"plus\"}"
#define RL_SECS                                                              \
    "{\"primary\":{\"used_percent\":7.3,\"window_minutes\":300,"             \
    "\"resets_in_seconds\":9174},\"secondary\":{\"used_percent\":53.0,"      \
    "\"window_minutes\":10080,\"resets_in_seconds\":279802}}"
#define RL_FLAT                                                              \
    "{\"primary_used_percent\":12.5,\"primary_window_minutes\":300,"         \
    "\"primary_reset_after_seconds\":600,\"secondary_used_percent\":3,"      \
    "\"secondary_window_minutes\":10080,\"secondary_reset_after_seconds\":"  \
    "86000}"

/* Whether the match takes each line (1): the writers' shapes, whatever
 * the rate limits hold (that part is js_scan_member's); 0: left to
 * js_scan. */
static const int takes[] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0};

static const char *const lines[] = {
    TS INFO(USAGE("12000", "9000", "800", "320", "12800")) ",\"rate_limits\":" RL_REAL "}}",
    TS INFO(USAGE("10445", "8773", "421", "276", "10866")) ",\"rate_limits\":" RL_SECS "}}",
    TS INFO(USAGE("0", "0", "0", "0", "0")) ",\"rate_limits\":" RL_FLAT "}}",
    TS INFO(USAGE("1", "2", "3", "4", "5")) ",\"rate_limits\":null}}",
    TS "null,\"rate_limits\":" RL_REAL "}}",
    TS INFO(USAGE("999999999999999999", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    /* 19 digits: left to js_scan (a long long or "too big") */
    TS INFO(USAGE("9223372036854775807", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    TS INFO(USAGE("9223372036854775808", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    /* what the match leaves to js_scan */
    TS INFO(USAGE("012", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    TS INFO(USAGE("-1", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    TS INFO(USAGE("1.5", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    TS INFO(USAGE("1e3", "1", "1", "1", "1")) ",\"rate_limits\":null}}",
    TS "{\"total_token_usage\":{\"input_tokens\":1,\"cached_input_tokens\":2,"
       "\"cache_write_input_tokens\":7,\"output_tokens\":3,"
       "\"reasoning_output_tokens\":4,\"total_tokens\":5},\"last_token_usage\":"
       "null,\"model_context_window\":1},\"rate_limits\":null}}",
    TS INFO(USAGE("1", "2", "3", "4", "5")) ",\"rate_limits\":{\"primary\":"
       "{\"used_percent\":1,\"used_percent\":2},\"primary\":null}}}",
    TS INFO(USAGE("1", "2", "3", "4", "5")) ",\"rate_limits\":{\"primary\":"
       "{\"used_percent\":\"\\u0031\"}}}}",
    TS INFO(USAGE("1", "2", "3", "4", "5")) ",\"rate_limits\":null},\"x\":1}",
    TS INFO(USAGE("1", "2", "3", "4", "5")) ",\"rate_limits\":null,\"info\":null}}",
};

/* The rate limits' own match engages on the shapes the CLI writes (the
 * scanner would take them too, so check() alone would not show it). */
static void rate_limit_shapes(void)
{
    static const char *const rl[] = {
        RL_REAL, RL_SECS, "null",
        "{\"limit_id\":\"codex\",\"limit_name\":\"Codex-2\",\"primary\":"
        "{\"used_percent\":100,\"window_minutes\":300,\"resets_at\":1},"
        "\"secondary\":{\"used_percent\":0.5,\"window_minutes\":10080,"
        "\"resets_at\":2},\"credits\":{\"has_credits\":false,"
        "\"unlimited\":true,\"balance\":\"0\"},\"plan_type\":null}",
    };
    static const char *const other[] = {
        RL_FLAT,
        "{\"primary\":{\"used_percent\":1e2,\"window_minutes\":300,"
        "\"resets_at\":1},\"secondary\":null}",
        "{\"primary\":{\"used_percent\":1234567890123456,\"window_minutes\":3,"
        "\"resets_at\":1},\"secondary\":{\"used_percent\":1,"
        "\"window_minutes\":3,\"resets_at\":1}}",
        "{\"limit_id\":\"codex\",\"limit_name\":null,\"primary\":{\"used_"
        "percent\":1,\"window_minutes\":3,\"resets_at\":1},\"secondary\":{"
        "\"used_percent\":1,\"window_minutes\":3,\"resets_at\":1},"
        "\"credits\":null,\"plan_type\":\"plus\"}",
    };
    int all = 1, none = 1;
    for (size_t i = 0; i < sizeof rl / sizeof *rl; i++) {
        js_val v[F_N];
        memset(v, 0, sizeof v);
        char *line = xasprintf(TS "null,\"rate_limits\":%s}}", rl[i]);
        const char *p = strstr(line, "\"rate_limits\":") + 14;
        all &= tc_rate_limits(p, line + strlen(line), v) ==
               line + strlen(line) - 2;
        check_all(line);
        free(line);
    }
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        js_val v[F_N];
        memset(v, 0, sizeof v);
        char *line = xasprintf(TS "null,\"rate_limits\":%s}}", other[i]);
        const char *p = strstr(line, "\"rate_limits\":") + 14;
        none &= tc_rate_limits(p, line + strlen(line), v) == NULL;
        check_all(line);
        free(line);
    }
    ok(all, "the rate limits' match takes the CLI's shapes");
    ok(none, "and leaves the others to the scanner");
}

static void fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    size_t taken = 0, counts = 0;
    while (f && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        int tc = strstr(line, "\"token_count\"") != NULL &&
                 strncmp(line, "{\"timestamp\"", 12) == 0;
        counts += tc;
        taken += check(line, (size_t)n);
        if (tc)
            check_all(line);
    }
    free(line);
    if (f)
        fclose(f);
    char name[200];
    snprintf(name, sizeof name, "%s: the match takes its %zu token_count lines",
             path, counts);
    ok(f && counts > 0 && taken == counts, name);
}

int main(void)
{
    schema_ok = js_schema_init(&schema, fields, F_N);
    ok(schema_ok == 0, "the schema");
    _Static_assert(sizeof takes / sizeof *takes == sizeof lines / sizeof *lines,
                   "one expectation per line");
    int as_listed = 1;
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (check(lines[i], strlen(lines[i])) != takes[i]) {
            printf("# line %zu: taken %d, expected %d\n", i, !takes[i], takes[i]);
            as_listed = 0;
        }
        check_all(lines[i]);
    }
    ok(as_listed, "the match takes the writers' shapes and leaves the rest");
    rate_limit_shapes();
    fixture("t/fixtures/codex_logs/codex_rollout.jsonl");
    printf("# %zu lines checked, %zu taken by the match\n", n_checked, n_fast);
    ok(n_fast > 1000, "the mutations leave the match many lines to take");
    ok(n_bad == 0, "wherever the match takes a line, js_scan gives the same "
                   "fields");
    return done_testing();
}
