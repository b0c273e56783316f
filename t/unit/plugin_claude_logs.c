/*
 * t/unit/plugin_claude_logs.c - the claude_logs plugin through the real
 * host on trees built from t/fixtures/claude_logs: expected figures, the
 * ccusage 20 dedup rules (streaming partials, resumed session, sidechain
 * replay, entries without message.id, null-field skip), decoy usage in a
 * tool result, multi-MiB lines, malformed and cut-off lines, a non-usage
 * file; then incremental runs on one state dir (append, unchanged re-scan,
 * cross-run duplicate, truncation, rotation), a budget stop and real kills
 * mid-scan.  Expected per-day totals were cross-checked with ccusage 20.0.24
 * (`ccusage claude daily --json --offline -z UTC`) on the same trees.
 */
#include <limits.h>
#include <signal.h>
#include <sys/file.h>

#include "tap.h"
#include "logtest.h"

#define NOW_FIX "1773151200" /* 2026-03-10T14:00:00Z */
#define FIX "t/fixtures/claude_logs/"
#define PROJ "projects/-home-dev-proj/"

static char *root, *state;

static void run(collect_result *r, long long budget)
{
    lt_run("claude_logs", state, budget, r,
           "{\"roots\": [\"%s\"], \"now\": \"" NOW_FIX "\"}", root);
}

static void check_today(const collect_result *r, double in, double cw,
                        double cr, double out, const char *what)
{
    char name[160];
    snprintf(name, sizeof name, "%s: input_uncached", what);
    is_num(lt_tok(r, "input_uncached", "today"), in, name);
    snprintf(name, sizeof name, "%s: cache_write", what);
    is_num(lt_tok(r, "cache_write", "today"), cw, name);
    snprintf(name, sizeof name, "%s: cache_read", what);
    is_num(lt_tok(r, "cache_read", "today"), cr, name);
    snprintf(name, sizeof name, "%s: output", what);
    is_num(lt_tok(r, "output", "today"), out, name);
    snprintf(name, sizeof name, "%s: total", what);
    is_num(lt_tok(r, "total", "today"), in + cw + cr + out, name);
}

/* A line of about size bytes: a user tool result whose text is padding and
 * whose structured toolUseResult carries a decoy usage object. */
static char *huge_user_line(size_t size)
{
    char *s = malloc(size + 512);
    int n = sprintf(s, "{\"type\":\"user\",\"sessionId\":\"s\",\"version\":\"2.1.70\","
                       "\"timestamp\":\"2026-03-10T13:40:00.000Z\",\"message\":{\"role\":"
                       "\"user\",\"content\":[{\"type\":\"tool_result\",\"content\":\"");
    memset(s + n, 'x', size);
    n += (int)size;
    n += sprintf(s + n, "\"}]},\"toolUseResult\":{\"usage\":{\"input_tokens\":777777,"
                        "\"output_tokens\":1}}}\n");
    return s;
}

/* An assistant line of about size bytes whose real usage comes last. */
static char *huge_assistant_line(size_t size)
{
    char *s = malloc(size + 512);
    int n = sprintf(s, "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":\"2.1.70\","
                       "\"requestId\":\"req_BIG\",\"timestamp\":\"2026-03-10T13:41:00.000Z\","
                       "\"message\":{\"id\":\"msg_BIG\",\"model\":\"claude-opus-4-6\","
                       "\"content\":[{\"type\":\"tool_use\",\"input\":{\"content\":\"");
    memset(s + n, 'y', size);
    n += (int)size;
    n += sprintf(s + n, "\"}}],\"usage\":{\"input_tokens\":1,\"output_tokens\":1000}}}\n");
    return s;
}

static const char *cut_line =
    "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":\"2.1.70\","
    "\"requestId\":\"req_CUT\",\"timestamp\":\"2026-03-10T13:50:00.000Z\","
    "\"message\":{\"id\":\"msg_CUT\",\"model\":\"claude-opus-4-6\","
    "\"usage\":{\"input_tokens\":100000,\"output_tokens\":1}}}";

static void build_tree(void)
{
    lt_copy(FIX "claude_code_session.jsonl", root,
            PROJ "7c1f3e2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b.jsonl");
    lt_copy(FIX "sidechain_agent.jsonl", root,
            PROJ "7c1f3e2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b/subagents/agent-a1.jsonl");
    lt_copy(FIX "resumed_session.jsonl", root, PROJ "8d2a4b6c.jsonl");
    lt_copy(FIX "notes.jsonl", root, "projects/-home-dev-other/notes.jsonl");
    char *u = huge_user_line(5u << 20), *a = huge_assistant_line(3u << 20);
    lt_puts(root, PROJ "8d2a4b6c.jsonl", "a", u);
    lt_puts(root, PROJ "8d2a4b6c.jsonl", "a", a);
    lt_puts(root, PROJ "8d2a4b6c.jsonl", "a", cut_line); /* no newline */
    free(u);
    free(a);
}

/* Many sessions for the budget and kill tests. */
static void build_bulk(const char *dir, int files, int lines)
{
    char rel[256], *line = NULL;
    for (int f = 0; f < files; f++) {
        snprintf(rel, sizeof rel, "projects/-bulk/%04d.jsonl", f);
        FILE *fp = NULL;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, rel);
        lt_puts(dir, rel, "w", "");
        fp = fopen(p, "w");
        for (int l = 0; fp && l < lines; l++) {
            int m = (f * lines + l) / 2; /* every message twice (streaming) */
            fprintf(fp, "{\"type\":\"assistant\",\"sessionId\":\"s%d\",\"version\":"
                        "\"2.1.70\",\"requestId\":\"req_%d\",\"timestamp\":"
                        "\"2026-03-%02dT%02d:%02d:00.000Z\",\"message\":{\"id\":"
                        "\"msg_%d\",\"model\":\"claude-sonnet-4-5\",\"content\":"
                        "[{\"type\":\"text\",\"text\":\"%0400d\"}],\"usage\":"
                        "{\"input_tokens\":%d,\"cache_read_input_tokens\":%d,"
                        "\"output_tokens\":%d}}}\n",
                    f, m, 4 + (m % 7), m % 24, m % 60, m, l, 1 + m % 13,
                    1000 + m % 97, 10 + (l % 2) * (m % 50));
        }
        if (fp)
            fclose(fp);
    }
    free(line);
}

static void test_fixture_tree(void)
{
    collect_result r;
    run(&r, 10000);
    ok(r.err == MD_ERR_NONE, "cold scan succeeds");
    /* recorded: 5/21442/47994/648; subagent own message 10/0/100/20;
     * msg_P1 keeps its largest copy 2/50/1000/300; two id-less entries
     * 14/0/0/6; msg_BIG 1/0/0/1000; sidechain replay, resumed copy,
     * null requestId, malformed line, decoy and cut-off line: nothing */
    check_today(&r, 32, 21492, 49094, 1974, "fixture tree");
    is_num(lt_tok(&r, "reasoning", "today"), -1, "reasoning is unknown, not 0");
    is_num(lt_tok(&r, "total", "7d"), 72592, "7d total");
    is_num(lt_tok(&r, "total", "5h"), 72592, "5h block total");
    ok(pt_has_note(&r, "5-hour block started 2026-03-10T13:00Z"),
       "block starts at the hour of its first event");
    const metric *m = pt_metric(&r, "tokens_total_today");
    ok(m && m->confidence == MD_ESTIMATED && m->source &&
       strcmp(m->source, "local_log") == 0, "estimated, source local_log");
    collect_result_clear(&r);

    /* legacy (costUSD) on its own day */
    char *st2 = lt_tmpdir(), *root2 = lt_tmpdir();
    lt_copy(FIX "claude_code_session_legacy.jsonl", root2, "projects/-old/x.jsonl");
    lt_run("claude_logs", st2, 5000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1748779200\"}", root2);
    is_num(lt_tok(&r, "total", "today"), 3208, "legacy line: 12+3100+0+96");
    is_num(lt_tok(&r, "cache_write", "today"), 3100, "legacy flat cache_creation");
    collect_result_clear(&r);
    lt_rmrf(st2);
    lt_rmrf(root2);
}

static void test_incremental(void)
{
    collect_result r;
    /* the cut-off line completes */
    lt_puts(root, PROJ "8d2a4b6c.jsonl", "a", "\n");
    run(&r, 5000);
    check_today(&r, 100032, 21492, 49094, 1975, "cut-off line completed");
    ok(pt_has_note(&r, "1 read this run"), "only the appended file is read");
    collect_result_clear(&r);

    run(&r, 5000);
    ok(pt_has_note(&r, "0 read this run"), "unchanged tree: no file opened");
    check_today(&r, 100032, 21492, 49094, 1975, "unchanged re-scan");
    collect_result_clear(&r);

    /* a larger copy of msg_P1 arrives in a later run: it replaces */
    lt_puts(root, PROJ "8d2a4b6c.jsonl", "a",
            "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":\"2.1.70\","
            "\"requestId\":\"req_P1\",\"timestamp\":\"2026-03-10T13:30:09.000Z\","
            "\"message\":{\"id\":\"msg_P1\",\"model\":\"claude-sonnet-4-5-20250929\","
            "\"usage\":{\"input_tokens\":2,\"cache_creation_input_tokens\":50,"
            "\"cache_read_input_tokens\":1000,\"output_tokens\":500}}}\n");
    run(&r, 5000);
    check_today(&r, 100032, 21492, 49094, 2175, "cross-run duplicate replaced");
    collect_result_clear(&r);

    /* truncation: the file's contribution goes, then it is read again */
    char p[4096];
    snprintf(p, sizeof p, "%s/" PROJ "8d2a4b6c.jsonl", root);
    ok(truncate(p, 0) == 0, "truncate");
    run(&r, 5000);
    /* left: recorded + subagent own message; msg_01AbCd still counted once
     * (its copy in the truncated file was the duplicate) */
    check_today(&r, 15, 21442, 48094, 668, "after truncation");
    collect_result_clear(&r);

    /* rotation: a new inode under the same name */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new", p);
    FILE *f = fopen(tmp, "w");
    fputs(cut_line, f);
    fputs("\n", f);
    fclose(f);
    ok(rename(tmp, p) == 0, "rotate");
    run(&r, 5000);
    check_today(&r, 100015, 21442, 48094, 669, "after rotation");
    collect_result_clear(&r);
}

/* Totals of a tree scanned cold with a fresh state. */
static double cold_total(const char *dir)
{
    char *st = lt_tmpdir();
    collect_result r;
    lt_run("claude_logs", st, 60000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1773151200\"}", dir);
    double t = lt_tok(&r, "total", "7d");
    collect_result_clear(&r);
    lt_rmrf(st);
    return t;
}

static void test_budget_and_kill(void)
{
    char *bulk = lt_tmpdir();
    build_bulk(bulk, 60, 4000); /* ~ 120 MB? no: ~0.6 KB x 240k = 150 MB */
    double want = cold_total(bulk);
    ok(want > 0, "bulk tree has usage");

    /* budget stop: a budget far too small for the tree keeps partial
     * progress; later runs continue from it and end equal to a cold scan */
    char *st = lt_tmpdir();
    collect_result r;
    lt_run("claude_logs", st, 40, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1773151200\"}", bulk);
    if (!ok(r.err == MD_ERR_NONE && pt_has_note(&r, "initial scan in progress"),
            "budget stop reports progress"))
        printf("# err %d %s\n", r.err, r.err_msg ? r.err_msg : "");
    double partial = lt_tok(&r, "total", "7d");
    ok(!(partial >= want), "the stopped scan counted only part of the tree");
    collect_result_clear(&r);
    for (int rounds = 0;; rounds++) {
        lt_run("claude_logs", st, 200, &r,
               "{\"roots\": [\"%s\"], \"now\": \"1773151200\"}", bulk);
        int done = !pt_has_note(&r, "initial scan in progress");
        double got = lt_tok(&r, "total", "7d");
        collect_result_clear(&r);
        if (done || rounds > 500) {
            is_num(got, want, "resumed scan equals the cold scan");
            break;
        }
    }
    lt_rmrf(st);

    /* real kills at various moments, then a full run */
    st = lt_tmpdir();
    static const int delays_ms[] = {5, 30, 80, 150, 300};
    for (size_t i = 0; i < sizeof delays_ms / sizeof delays_ms[0]; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            collect_result cr;
            lt_run("claude_logs", st, 60000, &cr,
                   "{\"roots\": [\"%s\"], \"now\": \"1773151200\"}", bulk);
            _exit(0);
        }
        struct timespec ts = {0, delays_ms[i] * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        /* append to one file between kills: the state must follow */
        if (i == 2)
            lt_puts(bulk, "projects/-bulk/0000.jsonl", "a",
                    "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":"
                    "\"2.1.70\",\"requestId\":\"req_NEW\",\"timestamp\":"
                    "\"2026-03-09T10:00:00.000Z\",\"message\":{\"id\":\"msg_NEW\","
                    "\"usage\":{\"input_tokens\":5,\"output_tokens\":5}}}\n");
    }
    lt_run("claude_logs", st, 60000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1773151200\"}", bulk);
    is_num(lt_tok(&r, "total", "7d"), want + 10, "after kills: equals cold scan");
    collect_result_clear(&r);
    is_num(cold_total(bulk), want + 10, "cold scan agrees");
    lt_rmrf(st);
    lt_rmrf(bulk);
}

/* The whole state file of path, malloc'd (*n its size), or NULL. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

/* A tree whose duplicates cross files: every response is written as
 * 1-4 lines sharing message.id and requestId, and the lines of one
 * response are spread over files 7 apart (so different scanning threads
 * read them); some responses are replayed in another file as sidechain
 * copies under a new requestId, some lines have no requestId, some carry
 * costUSD; several models.  Files differ in size so the threads drift. */
static void build_crossdup(const char *dir, int files, int responses)
{
    FILE *fp[64];
    char p[64];
    static const char *const models[] = {"claude-sonnet-4-5", "claude-opus-4-1",
                                         "claude-haiku-4-5", "<synthetic>"};
    for (int f = 0; f < files && f < 64; f++) {
        snprintf(p, sizeof p, "projects/-x%d/%03d.jsonl", f % 3, f);
        lt_puts(dir, p, "w", "");
        char full[4200];
        snprintf(full, sizeof full, "%s/%s", dir, p);
        fp[f] = fopen(full, "a");
    }
    uint64_t x = 88172645463325252ull;
    for (int m = 0; m < responses; m++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int parts = 1 + (int)(x % 4), home = (int)((x >> 8) % (unsigned)files);
        const char *model = models[(x >> 16) % 4];
        int noreq = (x >> 20) % 17 == 0, cost = (x >> 24) % 5 == 0;
        int sc = (x >> 28) % 6 == 0;
        for (int k = 0; k <= parts; k++) {
            int last = k == parts;
            if (last && !sc)
                break;
            int f = last ? (home + 11) % files : (home + 7 * k) % files;
            char req[48] = "";
            if (!noreq || last)
                snprintf(req, sizeof req, "\"requestId\":\"req_%d%s\",", m,
                         last ? "_sc" : "");
            char cst[48] = "";
            if (cost)
                snprintf(cst, sizeof cst, "\"costUSD\":0.%04d,", 1 + (m * 37 + k) % 9000);
            fprintf(fp[f], "{\"type\":\"assistant\",\"sessionId\":\"s%d\","
                    "\"version\":\"2.1.70\",%s%s\"isSidechain\":%s,"
                    "\"timestamp\":\"2026-03-%02dT%02d:%02d:%02d.%03dZ\","
                    "\"message\":{\"id\":\"msg_%d\",\"model\":\"%s\","
                    "\"content\":[{\"type\":\"text\",\"text\":\"%0*d\"}],"
                    "\"usage\":{\"input_tokens\":%d,"
                    "\"cache_creation_input_tokens\":%d,"
                    "\"cache_read_input_tokens\":%d,\"output_tokens\":%d}}}\n",
                    home, req, cst, last ? "true" : "false", 4 + m % 5,
                    (m / 60) % 24, m % 60, k, (int)(x % 1000), m, model,
                    40 + (int)((x >> 32) % 2000), 0, 3 + m % 11,
                    (m * 7) % 500, 900 + m % 300, 5 + 40 * k + (last ? 3 : 0));
        }
    }
    for (int f = 0; f < files && f < 64; f++)
        if (fp[f])
            fclose(fp[f]);
}

/* Scanning threads change nothing: the state file (entries, their order,
 * models, cells, file index) after a cold scan with threads = 2 or 3 is
 * byte for byte the one of threads = 1, and so is an incremental run
 * after appends to files that different threads read. */
static void test_threads_equal(void)
{
    char *tree = lt_tmpdir();
    build_crossdup(tree, 23, 6000);
    char *st[3];
    double tot[3];
    char *img[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        st[i] = lt_tmpdir();
        collect_result r;
        lt_run("claude_logs", st[i], 60000, &r,
               "{\"roots\": [\"%s\"], \"now\": \"1773151200\", "
               "\"threads\": \"%d\"}", tree, i + 1);
        char name[96];
        snprintf(name, sizeof name, "threads=%d: scan succeeds", i + 1);
        if (!ok(r.err == MD_ERR_NONE, name))
            lt_dump_notes(&r);
        tot[i] = lt_tok(&r, "total", "7d");
        collect_result_clear(&r);
    }
    ok(tot[0] > 0, "the tree has usage");
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/logscan.state", st[i]);
            img[i] = slurp(p, &len[i]);
        }
        for (int i = 1; i < 3; i++) {
            char name[128];
            const char *when = round ? "incremental" : "cold";
            snprintf(name, sizeof name, "%s: threads=%d total = threads=1 total",
                     when, i + 1);
            is_num(tot[i], tot[0], name);
            snprintf(name, sizeof name, "%s: threads=%d state file = "
                     "threads=1 state file (%zu bytes)", when, i + 1, len[0]);
            ok(img[0] && img[i] && len[i] == len[0] &&
                   memcmp(img[i], img[0], len[0]) == 0, name);
        }
        for (int i = 0; i < 3; i++)
            free(img[i]);
        if (round)
            break;
        /* appends: a continuation of an early response and a replay */
        lt_puts(tree, "projects/-x0/000.jsonl", "a",
                "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":"
                "\"2.1.70\",\"requestId\":\"req_3\",\"timestamp\":"
                "\"2026-03-09T10:00:00.000Z\",\"message\":{\"id\":\"msg_3\","
                "\"usage\":{\"input_tokens\":5000,\"output_tokens\":5}}}\n");
        lt_puts(tree, "projects/-x1/013.jsonl", "a",
                "{\"type\":\"assistant\",\"sessionId\":\"s\",\"version\":"
                "\"2.1.70\",\"requestId\":\"req_9z\",\"isSidechain\":true,"
                "\"timestamp\":\"2026-03-09T11:00:00.000Z\",\"message\":{\"id\":"
                "\"msg_9\",\"usage\":{\"input_tokens\":7,\"output_tokens\":7}}}\n");
        for (int i = 0; i < 3; i++) {
            collect_result r;
            lt_run("claude_logs", st[i], 60000, &r,
                   "{\"roots\": [\"%s\"], \"now\": \"1773151200\", "
                   "\"threads\": \"%d\"}", tree, i + 1);
            tot[i] = lt_tok(&r, "total", "7d");
            collect_result_clear(&r);
        }
    }
    for (int i = 0; i < 3; i++)
        lt_rmrf(st[i]);
    lt_rmrf(tree);
}

static void test_lock(void)
{
    /* the state is locked by someone else for the whole deadline */
    char p[4096];
    snprintf(p, sizeof p, "%s/lock", state);
    int fd = open(p, O_RDWR | O_CREAT, 0600);
    ok(fd >= 0 && flock(fd, LOCK_EX) == 0, "hold the lock");
    collect_result r;
    run(&r, 400);
    ok(r.err != MD_ERR_NONE, "a locked state fails after waiting");
    collect_result_clear(&r);
    close(fd);
    run(&r, 2000);
    ok(r.err == MD_ERR_NONE, "released: runs again");
    collect_result_clear(&r);
}

/* No logs and no history: an error, not a day of zeros. */
static void test_no_logs(void)
{
    collect_result r;
    pt_run("claude_logs", &r, "{\"roots\": [\"/nonexistent/meterd-test\"], "
           "\"now\": \"1773151200\"}");
    is_int(r.err, MD_ERR_CONFIG, "no projects directory: config error");
    ok(r.err_msg && strstr(r.err_msg, "no Claude Code projects directory"),
       "says what is missing");
    is_int(r.n_metrics, 0, "and reports no zeros");
    collect_result_clear(&r);
}

int main(void)
{
    test_no_logs();
    root = lt_tmpdir();
    state = lt_tmpdir();
    build_tree();
    test_fixture_tree();
    test_incremental();
    test_lock();
    test_threads_equal();
    test_budget_and_kill();
    lt_rmrf(root);
    lt_rmrf(state);
    return done_testing();
}
