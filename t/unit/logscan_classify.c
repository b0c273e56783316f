/*
 * t/unit/logscan_classify.c - the classified fast path of the SDK log
 * scanner (plugins/sdk/logscan.c) and the Codex classifier that drives it
 * (plugins/codex_logs.c, compiled in):
 *   - classify_line decides only lines in the writers' exact key order and
 *     leaves every other shape (key order, whitespace, escapes, a short
 *     read) to the marker search;
 *   - the reader hands parse exactly the PARSE lines and the undecided
 *     lines that carry a marker, never a SKIP line (even one carrying a
 *     marker), steps over a SKIP line longer than its buffer without
 *     parsing it, and still reads a PARSE line longer than its buffer.
 */
#define meterd_plugin_entry unit_codex_logs_plugin_entry
#include "../../plugins/codex_logs.c"
#undef meterd_plugin_entry

#include "tap.h"
#include "logtest.h"

static int cls(const char *s)
{
    return classify_line(s, strlen(s));
}

#define TS "{\"timestamp\":\"2026-03-10T13:41:02.123Z\","

static void classifier(void)
{
    ok(cls(TS "\"type\":\"response_item\",\"payload\":{\"type\":\"message\"}}")
           == LS_LINE_SKIP, "response_item: skipped");
    ok(cls(TS "\"type\":\"session_meta\",\"payload\":{\"id\":\"x\"}}")
           == LS_LINE_SKIP, "session_meta: skipped");
    ok(cls(TS "\"type\":\"turn_context\",\"payload\":{\"model\":\"m\"}}")
           == LS_LINE_PARSE, "turn_context: parsed");
    ok(cls(TS "\"type\":\"event_msg\",\"payload\":{\"type\":\"token_count\","
              "\"info\":null}}") == LS_LINE_PARSE, "event_msg/token_count: parsed");
    ok(cls(TS "\"type\":\"event_msg\",\"payload\":{\"type\":\"agent_message\","
              "\"message\":\"token_count\"}}") == LS_LINE_SKIP,
       "event_msg/agent_message: skipped, marker or not");
    ok(cls("{\"type\":\"event_msg\",\"timestamp\":\"2026-03-10T13:41:02Z\","
           "\"payload\":{\"type\":\"token_count\"}}") == LS_LINE_UNKNOWN,
       "another key order: undecided");
    ok(cls("{ \"timestamp\":\"2026-03-10T13:41:02Z\",\"type\":\"response_item\"}")
           == LS_LINE_UNKNOWN, "whitespace: undecided");
    ok(cls(TS "\"type\":\"respon\\u0073e_item\",\"payload\":{}}") == LS_LINE_UNKNOWN,
       "an escape in the kind: undecided");
    ok(cls(TS "\"type\":\"event_msg\",\"payload\":{\"id\":1,\"type\":\"token_count\"}}")
           == LS_LINE_UNKNOWN, "payload type not first: undecided");
    ok(cls(TS "\"type\":\"response_item\"") == LS_LINE_UNKNOWN,
       "bytes end after the kind: undecided");
    ok(cls(TS "\"type\":\"respo") == LS_LINE_UNKNOWN, "short read: undecided");
    ok(cls(TS "\"type\":\"response_item\"x") == LS_LINE_UNKNOWN,
       "kind not closed by , or }: undecided");
    ok(cls(TS "\"type\":\"response_item\"}") == LS_LINE_SKIP,
       "kind closing the object: skipped");
}

/* ---- the reader, with a recording parser ---- */

typedef struct seen {
    char tags[32768];
    size_t n;
} seen;

/* Every line starts with a one-letter tag at byte 1 ({"X...); the parser
 * records the tags it is handed (the sink is not used). */
static int rec_parse(const ls_parse_env *env, ls_sink *out, ls_pstate *ps,
                     const char *line, size_t len)
{
    (void)out;
    (void)ps;
    seen *s = (seen *)(uintptr_t)env->conf;
    if (len > 2 && s->n < sizeof s->tags - 1)
        s->tags[s->n++] = line[2];
    s->tags[s->n] = '\0';
    return 0;
}

static int rec_apply(ls_state *st, uint32_t fi, ls_pstate *ps, const void *rec,
                     size_t n, void *user)
{
    (void)st, (void)fi, (void)ps, (void)rec, (void)n, (void)user;
    return 0;
}

/* {"A":"S",...: the value of the tag decides: S skip, P parse, else
 * undecided */
static int tag_classify(const char *p, size_t n)
{
    if (n < 7)
        return LS_LINE_UNKNOWN;
    return p[6] == 'S' ? LS_LINE_SKIP : p[6] == 'P' ? LS_LINE_PARSE
                                                     : LS_LINE_UNKNOWN;
}

static long long far_ms(md_ctx *ctx)
{
    (void)ctx;
    return 600000;
}

static void pad_line(FILE *f, char tag, char cls_c, size_t pad, int marker)
{
    fprintf(f, "{\"%c\":\"%c\",\"x\":\"", tag, cls_c);
    for (size_t i = 0; i < pad; i++)
        fputc('z', f);
    fprintf(f, "\"%s}\n", marker ? ",\"MARK\":1" : "");
}

static const char *scan(const char *path, int classified, seen *s)
{
    md_host h;
    memset(&h, 0, sizeof h);
    h.remaining_ms = far_ms;
    ls_state st;
    memset(&st, 0, sizeof st);
    st.fd_state = -1;
    st.markers[0] = "\"MARK\"";
    st.n_markers = 1;
    ls_list found = {0};
    found.v = calloc(1, sizeof *found.v);
    found.cap = found.n = 1;
    found.v[0].id = strdup(path);
    found.v[0].real = strdup(path);
    stat(path, &found.v[0].sb);
    memset(s, 0, sizeof *s);
    ls_plugin_fns fns = {.parse = rec_parse, .apply = rec_apply,
                         .classify = classified ? tag_classify : NULL,
                         .conf = s, .user = NULL};
    ls_result r = ls_scan(&h, NULL, &st, &found, &fns, 1, 600000);
    ls_list_release(&found);
    ls_clear(&st);
    ok(!r.failed && r.complete, classified ? "classified scan completes"
                                           : "marker scan completes");
    return s->tags;
}

static void reader(void)
{
    char *dir = lt_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        ok(0, "write the log");
        return;
    }
    pad_line(f, 'A', 'S', 10, 0);
    pad_line(f, 'B', 'S', 10, 1);           /* SKIP wins over its marker */
    pad_line(f, 'C', 'P', 10, 1);
    pad_line(f, 'D', 'U', 10, 1);           /* undecided, marker: parsed */
    pad_line(f, 'E', 'U', 10, 0);           /* undecided, none: not      */
    pad_line(f, 'F', 'S', 3u << 20, 1);     /* SKIP past the buffer      */
    pad_line(f, 'G', 'P', 10, 1);
    pad_line(f, 'H', 'P', 3u << 20, 1);     /* PARSE past the buffer     */
    pad_line(f, 'I', 'U', 3u << 20, 1);     /* undecided past the buffer */
    for (int i = 0; i < 20000; i++)         /* lines across refills      */
        pad_line(f, 'J', i % 2 ? 'S' : 'U', 100, 1);
    pad_line(f, 'K', 'P', 10, 1);
    fputs("{\"L\":\"P\",\"MARK\":1}", f);   /* no newline: not consumed  */
    fclose(f);

    seen s;
    const char *got = scan(path, 1, &s);
    char want[64];
    snprintf(want, sizeof want, "CDGHI");
    ok(strncmp(got, want, 5) == 0, "classified: SKIP lines never parsed, "
       "PARSE and marked undecided lines parsed, long lines both ways");
    size_t nj = 0;
    for (size_t i = 5; i < s.n && got[i] == 'J'; i++)
        nj++;
    is_num(nj, 10000, "classified: the undecided half of 20000 lines across refills");
    ok(s.n == 5 + nj + 1 && got[s.n - 1] == 'K', "classified: K last, the "
       "unterminated line left unread");

    got = scan(path, 0, &s);
    ok(strncmp(got, "BCDFGHI", 7) == 0, "markers only: every marked line parsed");
    ok(s.n == 7 + 20000 + 1 && got[s.n - 1] == 'K', "markers only: all 20000 J "
       "lines and K");
    lt_rmrf(dir);
}

int main(void)
{
    classifier();
    reader();
    return done_testing();
}
