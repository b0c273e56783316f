/*
 * t/unit/jscan.c - plugins/jscan.h, the log plugins' field extractor:
 * acceptance (every JSON feature, malformed inputs, limits) checked
 * against jansson's json_loadb(.., 0, ..) itself, which the plugins used
 * before and whose acceptance jscan must reproduce; extraction (escapes,
 * unicode, duplicate keys, decoy usage objects, numbers, huge strings);
 * and a differential run over random mutations of the log fixtures
 * comparing acceptance and every extracted field with jansson.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "jscan.h"

/* A schema covering the shapes the plugins use. */
enum {
    F_TYPE, F_TS, F_MSG, F_ID, F_MODEL, F_USAGE, F_IN, F_OUT, F_CC, F_C5,
    F_SPEED, F_COST, F_SC, F_DATA, F_DMSG, F_DID, F_N
};
static const js_field FIELDS[F_N] = {
    {"type", -1},          {"timestamp", -1},    {"message", -1},
    {"id", F_MSG},         {"model", F_MSG},     {"usage", F_MSG},
    {"input_tokens", F_USAGE}, {"output_tokens", F_USAGE},
    {"cache_creation", F_USAGE}, {"ephemeral_5m_input_tokens", F_CC},
    {"speed", F_USAGE},    {"costUSD", -1},      {"isSidechain", -1},
    {"data", -1},          {"message", F_DATA},  {"id", F_DMSG},
};
static const char *const PATHS[F_N] = {
    "type", "timestamp", "message", "message.id", "message.model",
    "message.usage", "message.usage.input_tokens",
    "message.usage.output_tokens", "message.usage.cache_creation",
    "message.usage.cache_creation.ephemeral_5m_input_tokens",
    "message.usage.speed", "costUSD", "isSidechain", "data", "data.message",
    "data.message.id"};

static js_schema S;

/* jansson's verdict: a valid document whose root is an object. */
static int jansson_ok(const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    int okay = j && json_is_object(j);
    json_decref(j);
    return okay;
}

static int jscan_ok(const char *s, size_t n)
{
    js_val v[F_N];
    return js_scan(&S, s, n, v) == 0;
}

static json_t *jpath(json_t *root, const char *path)
{
    char key[64];
    json_t *cur = root;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (!json_is_object(cur))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return cur;
}

/* Is every field jscan extracted what jansson has at that path?  Returns
 * the index of the first mismatch or -1. */
static int same_fields(const char *s, size_t n, const js_val *v)
{
    json_t *root = json_loadb(s, n, 0, NULL);
    int bad = -1;
    for (int i = 0; i < F_N && bad < 0; i++) {
        json_t *j = jpath(root, PATHS[i]);
        const js_val *x = &v[i];
        int same;
        switch (x->type) {
        case JS_ABSENT: same = j == NULL; break;
        case JS_NULL: same = json_is_null(j); break;
        case JS_TRUE: same = json_is_true(j); break;
        case JS_FALSE: same = json_is_false(j); break;
        case JS_INT: same = json_is_integer(j) && json_integer_value(j) == js_int(x); break;
        case JS_REAL: same = json_is_real(j) && json_real_value(j) == js_double(x); break;
        case JS_OBJ: same = json_is_object(j); break;
        case JS_ARR: same = json_is_array(j); break;
        case JS_STR: {
            char buf[64];
            size_t len;
            char *d = js_str(x, buf, sizeof buf, &len);
            same = json_is_string(j) && d && len == json_string_length(j) &&
                   memcmp(d, json_string_value(j), len) == 0;
            if (d != buf)
                free(d);
            break;
        }
        default: same = 0;
        }
        if (!same)
            bad = i;
    }
    json_decref(root);
    return bad;
}

/* Both parsers agree on acceptance (root object) and on every field. */
static int agree(const char *s, size_t n)
{
    js_val v[F_N];
    int a = js_scan(&S, s, n, v) == 0, b = jansson_ok(s, n);
    if (a != b)
        return 0;
    return !a || same_fields(s, n, v) < 0;
}

static void check(const char *s, int want, const char *name)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", want ? "accepted" : "rejected", name);
    size_t n = strlen(s);
    int got = jscan_ok(s, n);
    ok(got == want && jansson_ok(s, n) == want && agree(s, n), msg);
    if (got != want || jansson_ok(s, n) != want)
        printf("#   input: %.120s (jscan %d, jansson %d)\n", s, got,
               jansson_ok(s, n));
}

static void check_n(const char *s, size_t n, int want, const char *name)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", want ? "accepted" : "rejected", name);
    ok(jscan_ok(s, n) == want && jansson_ok(s, n) == want, msg);
}

static void test_syntax(void)
{
    check("{}", 1, "empty object");
    check(" \t\r\n{ } \r\n", 1, "surrounding whitespace");
    check("[]", 0, "array root (jansson takes it; never an entry)");
    check("\"x\"", 0, "string root");
    check("", 0, "empty line");
    check("{", 0, "unterminated object");
    check("{\"a\":1,}", 0, "trailing comma");
    check("{\"a\" 1}", 0, "missing colon");
    check("{\"a\":1 \"b\":2}", 0, "missing comma");
    check("{a:1}", 0, "unquoted key");
    check("{\"a\":1}x", 0, "trailing garbage");
    check("{\"a\":1}{}", 0, "two objects on a line");
    check("{\"a\":[1,[2,[3,{\"b\":[]}]],{}]}", 1, "nested containers");
    check("{\"a\":[1,]}", 0, "trailing comma in array");
    check("{\"a\":[,1]}", 0, "leading comma in array");
    check("{\"a\":tru}", 0, "bad literal");
    check("{\"a\":truex}", 0, "literal with tail");
    check("{\"a\":nul}", 0, "truncated null");
    check("{\"a\":true,\"b\":false,\"c\":null}", 1, "literals");
    /* numbers */
    check("{\"a\":0,\"b\":-0,\"c\":-12,\"d\":1.5,\"e\":-1.5e-3,\"f\":2E+10,"
          "\"g\":1e5}", 1, "number forms");
    check("{\"a\":01}", 0, "leading zero");
    check("{\"a\":-}", 0, "lone minus");
    check("{\"a\":1.}", 0, "fraction without digits");
    check("{\"a\":.5}", 0, "no integer part");
    check("{\"a\":+1}", 0, "plus sign");
    check("{\"a\":1e}", 0, "exponent without digits");
    check("{\"a\":1e+}", 0, "exponent sign without digits");
    check("{\"a\":9223372036854775807}", 1, "LLONG_MAX");
    check("{\"a\":9223372036854775808}", 0, "integer overflow (jansson)");
    check("{\"a\":-9223372036854775808}", 1, "LLONG_MIN");
    check("{\"a\":-9223372036854775809}", 0, "negative overflow");
    check("{\"a\":99999999999999999999999}", 0, "long integer");
    check("{\"a\":99999999999999999999999.0}", 1, "long real");
    check("{\"a\":1e400}", 0, "real overflow");
    check("{\"a\":-1e400}", 0, "negative real overflow");
    check("{\"a\":1e-400}", 1, "real underflow is fine");
    /* strings */
    check("{\"a\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9\"}", 1, "all escapes");
    check("{\"a\":\"\\x\"}", 0, "invalid escape");
    check("{\"a\":\"\\u12\"}", 0, "short \\u");
    check("{\"a\":\"\\u12G4\"}", 0, "non-hex \\u");
    check("{\"a\":\"\\ud83d\\ude00\"}", 1, "surrogate pair");
    check("{\"a\":\"\\ud83d\"}", 0, "lone high surrogate");
    check("{\"a\":\"\\ud83dx\"}", 0, "high surrogate then text");
    check("{\"a\":\"\\ud83d\\u0041\"}", 0, "high surrogate then non-low");
    check("{\"a\":\"\\ude00\"}", 0, "lone low surrogate");
    check("{\"a\":\"\\u0000\"}", 0, "\\u0000 in a value");
    check("{\"\\u0000\":1}", 0, "\\u0000 in a key");
    check("{\"a\":\"tab\there\"}", 0, "raw control character");
    check("{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 1, "UTF-8");
    check("{\"a\":\"\xc0\x80\"}", 0, "overlong UTF-8");
    check("{\"a\":\"\xed\xa0\x80\"}", 0, "UTF-8 encoded surrogate");
    check("{\"a\":\"\xf5\x80\x80\x80\"}", 0, "beyond U+10FFFF");
    check("{\"a\":\"\x80\"}", 0, "stray continuation byte");
    check("{\"a\":\"\xe2\x82\"}", 0, "truncated sequence");
    check("{\"a\":\"x\xff\"}", 0, "0xff");
    check("{\"a\":1,\xc3\xa9:2}", 0, "UTF-8 outside a string");
    check("{\"a\":\"unterminated}", 0, "unterminated string");
    check("{\"a\":\"x\\\"}", 0, "escaped closing quote");
    check_n("{\"a\":\"x\0y\"}", 10, 0, "raw NUL in a string");
    check_n("{\"a\":1}\0", 8, 0, "raw NUL after the object");
    check("\xef\xbb\xbf{}", 0, "byte order mark");
}

static char *nest(int depth, int scalar)
{
    /* {"a": [[[...]]]} with depth values in total (jansson counts the
     * root and a scalar as one level each) */
    size_t cap = (size_t)depth * 2 + 64;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "{\"a\":");
    int arrays = depth - 1 - (scalar ? 1 : 0);
    for (int i = 0; i < arrays; i++)
        *p++ = '[';
    if (scalar)
        *p++ = '1';
    for (int i = 0; i < arrays; i++)
        *p++ = ']';
    *p++ = '}';
    *p = '\0';
    return s;
}

static void test_depth(void)
{
    char *s = nest(JS_MAX_DEPTH, 0);
    check(s, 1, "nesting at the limit (empty array)");
    free(s);
    s = nest(JS_MAX_DEPTH, 1);
    check(s, 1, "nesting at the limit (scalar)");
    free(s);
    s = nest(JS_MAX_DEPTH + 1, 1);
    check(s, 0, "one level too deep");
    free(s);
    s = nest(100000, 0);
    check(s, 0, "very deep");
    free(s);
}

static js_val V[F_N];

static int scan(const char *s)
{
    return js_scan(&S, s, strlen(s), V);
}

static int str_is(const js_val *v, const char *want)
{
    char buf[64];
    size_t n;
    if (v->type != JS_STR)
        return 0;
    char *d = js_str(v, buf, sizeof buf, &n);
    int r = d && n == strlen(want) && memcmp(d, want, n) == 0;
    if (d != buf)
        free(d);
    return r;
}

static void test_extract(void)
{
    ok(scan("{\"type\":\"assistant\",\"timestamp\":\"2026-03-10T13:40:00.000Z\","
            "\"message\":{\"id\":\"msg_1\",\"content\":[{\"type\":\"text\","
            "\"usage\":{\"input_tokens\":999}}],\"usage\":{\"input_tokens\":5,"
            "\"output_tokens\":7,\"cache_creation\":{\"ephemeral_5m_input_tokens\""
            ":3}}},\"toolUseResult\":{\"usage\":{\"input_tokens\":777}}}") == 0,
       "entry scans");
    ok(str_is(&V[F_TYPE], "assistant") && str_is(&V[F_ID], "msg_1"),
       "top-level and nested strings");
    ok(V[F_IN].type == JS_INT && js_int(&V[F_IN]) == 5 &&
       js_int(&V[F_OUT]) == 7 && js_int(&V[F_C5]) == 3,
       "usage numbers, decoys in content and toolUseResult ignored");
    ok(V[F_MODEL].type == JS_ABSENT && V[F_SPEED].type == JS_ABSENT &&
       V[F_DATA].type == JS_ABSENT, "absent fields");

    ok(scan("{\"timestamp\":\"ts\",\"message\":{\"usage\":\"{\\\"input_tokens\\\":9}\"}}")
           == 0 && V[F_USAGE].type == JS_STR && V[F_IN].type == JS_ABSENT,
       "usage inside a string is a string");

    ok(scan("{\"\\u0074ype\":\"a\\u00e9\\ud83d\\ude00\\n\",\"message\":{\"id\":"
            "\"\\\"q\\\"\"}}") == 0 &&
       str_is(&V[F_TYPE], "a\xc3\xa9\xf0\x9f\x98\x80\n") &&
       str_is(&V[F_ID], "\"q\""),
       "escaped key matches; \\u, surrogate pair and quotes decoded");
    ok(js_streq(&V[F_ID], "\"q\"") && !js_streq(&V[F_ID], "q"), "js_streq");

    ok(scan("{\"message\":{\"id\":\"a\",\"model\":\"m\"},\"message\":{\"id\":\"b\"}}")
           == 0 && str_is(&V[F_ID], "b") && V[F_MODEL].type == JS_ABSENT,
       "duplicate object: the last wins, nothing kept from the first");
    ok(scan("{\"message\":{\"id\":\"a\"},\"message\":5}") == 0 &&
       V[F_MSG].type == JS_INT && V[F_ID].type == JS_ABSENT,
       "duplicate replaced by a scalar");
    ok(scan("{\"type\":\"a\",\"type\":null}") == 0 && V[F_TYPE].type == JS_NULL,
       "duplicate scalar: the last wins (null)");

    ok(scan("{\"costUSD\":-1.25e-1,\"isSidechain\":true,\"message\":{\"usage\":"
            "{\"input_tokens\":-3,\"output_tokens\":1.0,\"speed\":\"fast\"}}}") == 0 &&
       V[F_COST].type == JS_REAL && js_double(&V[F_COST]) == -0.125 &&
       V[F_SC].type == JS_TRUE && V[F_IN].type == JS_INT &&
       js_int(&V[F_IN]) == -3 && V[F_OUT].type == JS_REAL &&
       js_streq(&V[F_SPEED], "fast"),
       "numbers: real, negative, 1.0 is a real; booleans");
    ok(scan("{\"costUSD\":-9223372036854775808}") == 0 &&
       js_int(&V[F_COST]) == LLONG_MIN, "LLONG_MIN value");
    ok(scan("{\"data\":{\"message\":{\"id\":\"m2\"}},\"message\":[1]}") == 0 &&
       str_is(&V[F_DID], "m2") && V[F_MSG].type == JS_ARR &&
       V[F_ID].type == JS_ABSENT,
       "same key name under two parents; array where an object was expected");
    ok(scan("{\"type\":{\"message\":{\"id\":\"x\"}}}") == 0 &&
       V[F_TYPE].type == JS_OBJ && V[F_ID].type == JS_ABSENT,
       "a schema key nested under a non-schema object is not taken");
}

static void test_huge(void)
{
    size_t big = 6u << 20;
    char *s = malloc(big + 256);
    int n = sprintf(s, "{\"message\":{\"content\":\"");
    for (size_t i = 0; i < big; i++) {
        /* mostly ASCII, with escapes and multi-byte characters */
        if (i % 4099 == 0) {
            memcpy(s + n, "\\\"", 2);
            n += 2;
            i++;
        } else if (i % 5003 == 0) {
            memcpy(s + n, "\xe2\x82\xac", 3);
            n += 3;
            i += 2;
        } else
            s[n++] = (char)('a' + i % 26);
    }
    n += sprintf(s + n, "\",\"id\":\"msg_big\"}}");
    ok(js_scan(&S, s, (size_t)n, V) == 0 && str_is(&V[F_ID], "msg_big"),
       "6 MiB string skipped, field after it found");
    ok(jansson_ok(s, (size_t)n), "jansson agrees");
    s[n - 3] = '\x01';
    ok(js_scan(&S, s, (size_t)n, V) != 0, "control character at the end rejected");
    /* a long key and a long string value that must be decoded */
    n = sprintf(s, "{\"type\":\"");
    for (int i = 0; i < 300; i++)
        n += sprintf(s + n, "\\u00e9");
    n += sprintf(s + n, "\"}");
    ok(js_scan(&S, s, (size_t)n, V) == 0 && V[F_TYPE].type == JS_STR, "long escaped value");
    char buf[16];
    size_t len;
    char *d = js_str(&V[F_TYPE], buf, sizeof buf, &len);
    ok(d && d != buf && len == 600 && (unsigned char)d[598] == 0xc3, "decoded to the heap");
    free(d);
    free(s);
}

/* xorshift: deterministic mutations */
static unsigned long long rs = 88172645463325252ull;
static unsigned rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (unsigned)rs;
}

static void test_differential(void)
{
    static const char *const files[] = {
        "t/fixtures/claude_logs/claude_code_session.jsonl",
        "t/fixtures/claude_logs/claude_code_session_legacy.jsonl",
        "t/fixtures/claude_logs/sidechain_agent.jsonl",
        "t/fixtures/claude_logs/resumed_session.jsonl",
        "t/fixtures/codex_logs/codex_rollout.jsonl"};
    static const char pool[] = "\"\\{}[],:0-+eE.u1 \t\x80\xc3\xe2\xff\x01nlt";
    char line[65536], mut[65600];
    size_t lines = 0, trials = 0, mismatches = 0, accepted = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) {
            printf("# missing %s\n", files[f]);
            continue;
        }
        while (fgets(line, sizeof line, fp)) {
            size_t n = strcspn(line, "\n");
            lines++;
            if (!agree(line, n))
                mismatches++;
            for (int t = 0; t < 400; t++) {
                memcpy(mut, line, n);
                size_t m = n;
                int edits = 1 + (int)(rnd() % 3);
                for (int k = 0; k < edits && m; k++) {
                    size_t at = rnd() % m;
                    switch (rnd() % 3) {
                    case 0: mut[at] = pool[rnd() % (sizeof pool - 1)]; break;
                    case 1: memmove(mut + at, mut + at + 1, m - at - 1); m--; break;
                    default:
                        memmove(mut + at + 1, mut + at, m - at);
                        mut[at] = pool[rnd() % (sizeof pool - 1)];
                        m++;
                    }
                }
                trials++;
                accepted += jansson_ok(mut, m);
                if (!agree(mut, m)) {
                    if (mismatches++ < 5)
                        printf("#   mismatch: %.*s\n", (int)(m < 300 ? m : 300), mut);
                }
            }
        }
        fclose(fp);
    }
    printf("# %zu fixture lines, %zu mutations (%zu valid per jansson)\n",
           lines, trials, accepted);
    ok(lines > 10 && trials > 4000 && accepted > 100,
       "differential corpus is non-trivial");
    ok(mismatches == 0, "jscan agrees with jansson on every line and mutation "
                        "(acceptance and every extracted field)");
}

/* js_decimal must give strtod's double bit for bit, or decline. */
static void test_decimal(void)
{
    static const char *const fixed[] = {
        "0", "-0", "0.0", "-0.0", "11.0", "11.3", "17.1", "99.99",
        "14.5000000000", "0.1", "0.3", "1.7976931348623157", "123456789.125",
        "9007199254740992", "9007199254740993", "900719925474099.3",
        "0.0000000000000000000001", "0.00000000000000000000001", "5.", ".5",
        "1e5", "1.5e-3", "--1", "1.2.3", "", "-", "12a", " 1", "+1"};
    size_t agree = 0, fast = 0, n = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < n; i++) {
        double a = 0, b = strtod(fixed[i], NULL);
        if (js_decimal(fixed[i], strlen(fixed[i]), &a) != 0) {
            agree++;
            continue;
        }
        fast++;
        agree += memcmp(&a, &b, sizeof a) == 0;
        if (memcmp(&a, &b, sizeof a) != 0)
            printf("#   %s: %.17g vs strtod %.17g\n", fixed[i], a, b);
    }
    ok(agree == n && fast >= 12, "js_decimal = strtod on fixed cases");
    /* random decimals: 1..19 integer digits, 0..23 decimals */
    unsigned long long x = 88172645463325252ull;
    size_t bad = 0, tried = 0;
    fast = 0;
    for (int t = 0; t < 200000; t++) {
        char buf[64];
        size_t o = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x & 1)
            buf[o++] = '-';
        int id = 1 + (int)((x >> 8) % 19), fd = (int)((x >> 16) % 24);
        for (int i = 0; i < id; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[o++] = (char)('0' + x % 10);
        }
        if (fd) {
            buf[o++] = '.';
            for (int i = 0; i < fd; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[o++] = (char)('0' + x % 10);
            }
        }
        buf[o] = '\0';
        double a, b = strtod(buf, NULL);
        tried++;
        if (js_decimal(buf, o, &a) != 0)
            continue;
        fast++;
        if (memcmp(&a, &b, sizeof a) != 0 && bad++ < 5)
            printf("#   %s: %.17g vs strtod %.17g\n", buf, a, b);
    }
    printf("# %zu random decimals, %zu on the fast path\n", tried, fast);
    /* integers of every length through a scanned line: js_int = strtoll */
    size_t int_bad = 0;
    for (int t = 0; t < 20000; t++) {
        char line[64], num[32];
        size_t o = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x & 1)
            num[o++] = '-';
        int nd = 1 + (int)((x >> 8) % 19);
        for (int i = 0; i < nd; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            num[o++] = (char)((i == 0 && nd > 1 ? '1' : '0') + x % (i == 0 && nd > 1 ? 9 : 10));
        }
        num[o] = '\0';
        int ln = snprintf(line, sizeof line, "{\"message\":{\"usage\":{\"input_tokens\":%s}}}", num);
        js_val v[F_N];
        errno = 0;
        long long want = strtoll(num, NULL, 10);
        int range = errno == ERANGE; /* jansson: "too big integer" */
        int got = js_scan(&S, line, (size_t)ln, v) == 0;
        if (range ? got : (!got || v[F_IN].type != JS_INT ||
                           js_int(&v[F_IN]) != want)) {
            if (int_bad++ < 5)
                printf("#   %s\n", line);
        }
    }
    ok(int_bad == 0, "js_int = strtoll for integers of 1 to 19 digits (and "
                     "refused past a long long)");
    ok(bad == 0 && fast > tried / 4, "js_decimal = strtod on random decimals");
}

int main(void)
{
    ok(js_schema_init(&S, FIELDS, F_N) == 0, "schema accepted");
    js_schema bad;
    static const js_field BAD[] = {{"a", -1}, {"b", 0}, {"c", -1}, {"d", 0}};
    ok(js_schema_init(&bad, BAD, 4) != 0, "non depth-first schema refused");
    test_syntax();
    test_depth();
    test_extract();
    test_huge();
    test_decimal();
    test_differential();
    return done_testing();
}
