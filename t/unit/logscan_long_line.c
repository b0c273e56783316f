/*
 * t/unit/logscan_long_line.c - the SDK log scanner (plugins/sdk/logscan.c)
 * past its read buffer, through the claude_logs plugin and the real host:
 * a line of several MiB without usage is stepped over without being kept,
 * a usage line longer than LS_LINE_CAP (64 MiB) is skipped, counted and
 * noted, and in both cases the lines after it are still read.
 */
#include "tap.h"
#include "logtest.h"

#define NOW_FIX "1773151200" /* 2026-03-10T14:00:00Z */
#define REL "projects/-p/s.jsonl"

static void usage_line(FILE *f, const char *id, const char *ts, int in, int out)
{
    fprintf(f, "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":\"2.1.70\","
               "\"requestId\":\"req_%s\",\"timestamp\":\"%s\",\"message\":{\"id\":"
               "\"msg_%s\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":"
               "%d,\"output_tokens\":%d}}}\n", id, ts, id, in, out);
}

/* One line of about size bytes of padding; with_usage puts a usage object
 * (the scanner's marker) after the padding, so it is found only by
 * scanning the whole line. */
static void long_line(FILE *f, size_t size, int with_usage)
{
    fputs("{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":\"2.1.70\","
          "\"requestId\":\"req_LONG\",\"timestamp\":\"2026-03-10T13:30:00.000Z\","
          "\"message\":{\"id\":\"msg_LONG\",\"model\":\"claude-sonnet-4-5\","
          "\"content\":[{\"type\":\"text\",\"text\":\"", f);
    static char chunk[1 << 16];
    memset(chunk, 'z', sizeof chunk);
    for (size_t left = size; left; ) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        fwrite(chunk, 1, n, f);
        left -= n;
    }
    fputs(with_usage ? "\"}],\"usage\":{\"input_tokens\":100000,\"output_tokens\":1}}}\n"
                     : "\"}]}}\n", f);
}

static void write_log(const char *root, size_t size, int with_usage)
{
    lt_puts(root, REL, "w", "");
    char p[4096];
    snprintf(p, sizeof p, "%s/" REL, root);
    FILE *f = fopen(p, "w");
    if (!f) {
        ok(0, "write the log");
        return;
    }
    usage_line(f, "A", "2026-03-10T13:00:00.000Z", 10, 5);
    long_line(f, size, with_usage);
    usage_line(f, "B", "2026-03-10T13:45:00.000Z", 20, 7);
    fclose(f);
}

static void scan(size_t size, int with_usage, const char *what,
                 int expect_skipped)
{
    char *root = lt_tmpdir(), *state = lt_tmpdir();
    write_log(root, size, with_usage);
    collect_result r;
    lt_run("claude_logs", state, 60000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"" NOW_FIX "\"}", root);
    char name[200];
    snprintf(name, sizeof name, "%s: the scan succeeds", what);
    if (!ok(r.err == MD_ERR_NONE, name))
        lt_dump_notes(&r);
    snprintf(name, sizeof name, "%s: the lines before and after it are read "
             "(10+5 + 20+7 tokens)", what);
    is_num(lt_tok(&r, "total", "today"), 42, name);
    snprintf(name, sizeof name, "%s: %s", what,
             expect_skipped ? "counted and noted as skipped"
                            : "no skipped line noted");
    int noted = pt_has_note(&r, "1 usage lines longer than 64 MiB skipped");
    ok(expect_skipped ? noted : !pt_has_note(&r, "longer than"), name);
    collect_result_clear(&r);
    lt_rmrf(root);
    lt_rmrf(state);
}

int main(void)
{
    scan((size_t)6 << 20, 0, "a 6 MiB line without usage", 0);
    scan((size_t)65 << 20, 1, "a 65 MiB usage line (past LS_LINE_CAP)", 1);
    return done_testing();
}
