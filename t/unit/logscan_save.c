/*
 * t/unit/logscan_save.c - the log scanner's state file (plugins/sdk/
 * logscan.c): the entries follow the header (they are written while the
 * cells are built), a run over an unchanged tree neither reads a log nor
 * rewrites the file, an append continues from it, a file of the older
 * layout or whose sections do not add up to its size is discarded (the
 * next run reads everything again, to the same totals), a save that cannot be committed fails the run with no usage
 * cells handed over (both log plugins), and a save given up
 * (ls_save_release with go = 0) leaves the old file and no temporary file.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "logtest.h"
#include "logscan.h"

#define NOW_FIX "1773151200" /* 2026-03-10T14:00:00Z */
#define S1 "sessions/2026/03/09/rollout-2026-03-09T00-00-00-0199d1c2.jsonl"
/* events in the generated rollout: more entries (64 bytes each) than the
 * writer's 64 KiB buffer, so that they go straight through */
#define N_EV 3000

static char *root, *state;

/* One token_count line every 30 seconds from 2026-03-09T00:00Z (inside
 * the 7-day window of NOW_FIX), cumulative totals growing by k + 1. */
static void put_events(int from, int to, const char *mode)
{
    size_t cap = (size_t)(to - from) * 400 + 1, len = 0;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    if (from == 0)
        len += (size_t)snprintf(buf, cap,
                                "{\"timestamp\":\"2026-03-09T00:00:00.000Z\","
                                "\"type\":\"turn_context\",\"payload\":"
                                "{\"model\":\"gpt-5.2\"}}\n");
    for (int k = from; k < to; k++) {
        long long t = 1773014400LL + 30LL * k, tot = (long long)(k + 1) * (k + 2) / 2;
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        len += (size_t)snprintf(
            buf + len, cap - len,
            "{\"timestamp\":\"%s\",\"type\":\"event_msg\",\"payload\":{\"type\":"
            "\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":"
            "%lld,\"cached_input_tokens\":0,\"output_tokens\":%lld,"
            "\"reasoning_output_tokens\":0,\"total_tokens\":%lld}},"
            "\"rate_limits\":null}}\n",
            ts, tot, tot, 2 * tot);
    }
    lt_puts(root, S1, mode, buf);
    free(buf);
}

static void run(const char *plugin, const char *st, collect_result *r)
{
    lt_run(plugin, st, 10000, r, "{\"roots\": [\"%s\"], \"now\": \"" NOW_FIX "\"}",
           root);
}

static char *path_in(const char *dir, const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static int read_hdr(ls_hdr *h, ls_ent *first)
{
    char *p = path_in(state, "logscan.state");
    FILE *f = fopen(p, "rb");
    free(p);
    if (!f)
        return -1;
    int rc = fread(h, sizeof *h, 1, f) == 1 &&
                     (!first || fread(first, sizeof *first, 1, f) == 1)
                 ? 0
                 : -1;
    fclose(f);
    return rc;
}

/* Temporary files (.logscan.state.*) left in dir. */
static int temps_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strncmp(de->d_name, ".logscan.state", 14) == 0;
    if (d)
        closedir(d);
    return n;
}

static double total_7d;

static void test_layout_and_warm(void)
{
    collect_result r;
    run("codex_logs", state, &r);
    if (!ok(r.err == MD_ERR_NONE, "a cold scan succeeds"))
        lt_dump_notes(&r);
    total_7d = lt_tok(&r, "total", "7d");
    ok(total_7d == 2.0 * N_EV * (N_EV + 1) / 2, "the 7-day total is every delta");
    ok(r.has_usage && r.n_usage > 0, "its cells are handed over");
    collect_result_clear(&r);
    ls_hdr h;
    ls_ent e;
    ok(read_hdr(&h, &e) == 0 && memcmp(h.magic, LS_MAGIC, 8) == 0 &&
           memcmp(LS_MAGIC, "MDLSCAN4", 8) == 0,
       "the state file starts with the current layout's header");
    is_num(h.n_ents, N_EV, "its header counts one entry per event");
    ok(e.slot == 1773014400u / 900 && e.tok[LS_OUT] == 1 && e.model == 1,
       "the first entry follows the header at once");
    char *p = path_in(state, "logscan.state");
    struct stat a, b;
    ok(stat(p, &a) == 0, "state file there");
    run("codex_logs", state, &r);
    ok(r.err == MD_ERR_NONE && pt_has_note(&r, "1 files, 0 read this run"),
       "a warm run reads no log");
    ok(lt_tok(&r, "total", "7d") == total_7d, "and gives the same total");
    collect_result_clear(&r);
    ok(stat(p, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_mtime == b.st_mtime,
       "nor rewrites the state file");
    free(p);
    put_events(N_EV, N_EV + 2, "a");
    run("codex_logs", state, &r);
    double more = 2.0 * (N_EV + 2) * (N_EV + 3) / 2;
    ok(r.err == MD_ERR_NONE && pt_has_note(&r, "1 read this run") &&
           lt_tok(&r, "total", "7d") == more,
       "an append continues from the saved state");
    collect_result_clear(&r);
    ok(read_hdr(&h, NULL) == 0 && h.n_ents == N_EV + 2,
       "the state saved after it has every entry");
    run("codex_logs", state, &r);
    ok(r.err == MD_ERR_NONE && pt_has_note(&r, "0 read this run") &&
           lt_tok(&r, "total", "7d") == more,
       "which the next run reads back");
    collect_result_clear(&r);
    total_7d = more;
}

static void test_old_layout(void)
{
    char *p = path_in(state, "logscan.state");
    FILE *f = fopen(p, "r+b");
    ok(f && fwrite("MDLSCAN3", 1, 8, f) == 8, "give the state file the old magic");
    if (f)
        fclose(f);
    free(p);
    collect_result r;
    run("codex_logs", state, &r);
    ok(r.err == MD_ERR_NONE && pt_has_note(&r, "1 read this run"),
       "a state file of the older layout is discarded: the log is read again");
    ok(lt_tok(&r, "total", "7d") == total_7d, "to the same total");
    collect_result_clear(&r);
    ls_hdr h;
    ok(read_hdr(&h, NULL) == 0 && memcmp(h.magic, LS_MAGIC, 8) == 0,
       "and the file is saved in the current layout");
}

/* A state file whose sections do not add up to its size (torn, or cut
 * short) is not trusted: the next run reads everything again. */
static void test_torn(void)
{
    char *p = path_in(state, "logscan.state");
    struct stat sb;
    ok(stat(p, &sb) == 0 && truncate(p, sb.st_size - 1) == 0,
       "cut the state file short by one byte");
    collect_result r;
    run("codex_logs", state, &r);
    ok(r.err == MD_ERR_NONE && pt_has_note(&r, "1 read this run") &&
           lt_tok(&r, "total", "7d") == total_7d,
       "a torn state file is read as none: the log again, the same total");
    collect_result_clear(&r);
    ok(stat(p, &sb) == 0 && truncate(p, sb.st_size + 64) == 0,
       "give it 64 bytes too many");
    run("codex_logs", state, &r);
    ok(r.err == MD_ERR_NONE && pt_has_note(&r, "1 read this run") &&
           lt_tok(&r, "total", "7d") == total_7d,
       "so is one longer than its header says");
    collect_result_clear(&r);
    free(p);
}

/* The save cannot be committed (a directory where the file goes): the
 * run fails and hands over no cell, whatever the plugin. */
static void test_save_fails(const char *plugin)
{
    char *st = lt_tmpdir(), name[160];
    char *p = path_in(st, "logscan.state");
    char *q = path_in(p, "keep");
    mkdir(p, 0700);
    lt_puts(p, "keep", "w", "x\n");
    collect_result r;
    run(plugin, st, &r);
    snprintf(name, sizeof name, "%s: a state that cannot be saved fails the run",
             plugin);
    if (!ok(r.err != MD_ERR_NONE && r.err_msg &&
                strstr(r.err_msg, "cannot write state"),
            name))
        lt_dump_notes(&r);
    snprintf(name, sizeof name, "%s: and hands over no usage cell", plugin);
    ok(!r.has_usage && r.n_usage == 0, name);
    collect_result_clear(&r);
    snprintf(name, sizeof name, "%s: no temporary file is left", plugin);
    ok(temps_in(st) == 0, name);
    free(q);
    free(p);
    lt_rmrf(st);
}

/* ls_save_release(go = 0): the old file stays, the temporary goes. */
static void test_give_up(void)
{
    char *p = path_in(state, "logscan.state");
    struct stat a, b;
    stat(p, &a);
    ls_state st;
    memset(&st, 0, sizeof st);
    st.fd_state = -1;
    ls_load(&st, state);
    ok(st.h.n_ents == N_EV + 2, "the saved state loads");
    ok(ls_finish_ents(&st, 1773151200.0, 400.0 * 86400) == 0,
       "ls_finish_ents with nothing changed");
    st.changed = 1;   /* as if a scan had added something */
    ok(ls_finish_ents(&st, 1773151200.0, 400.0 * 86400) == 0 && st.cells_stale &&
           st.n_ents == N_EV + 2,
       "with a change it loads the entries and marks the cells stale");
    ls_saver sv;
    ls_save_start(&sv, &st, state);
    ok(ls_finish_cells(&st) == 0 && !st.cells_stale && st.n_cells > 0,
       "ls_finish_cells rebuilds the cells while the entries are written");
    ls_save_release(&sv, 0);
    errno = 0;
    ok(ls_save_wait(&sv) == -1 && errno == ECANCELED,
       "a save given up reports ECANCELED");
    ok(stat(p, &b) == 0 && a.st_ino == b.st_ino && a.st_size == b.st_size,
       "the old state file stays");
    ok(temps_in(state) == 0, "no temporary file is left");
    ls_save_start(&sv, &st, state);
    ok(ls_save_wait(&sv) == 0, "a save waited for without a release goes ahead");
    ok(stat(p, &b) == 0 && a.st_ino != b.st_ino, "and replaces the file");
    ls_clear(&st);
    free(p);
}

int main(void)
{
    root = lt_tmpdir();
    state = lt_tmpdir();
    put_events(0, N_EV, "w");
    test_layout_and_warm();
    test_old_layout();
    test_torn();
    test_save_fails("codex_logs");
    lt_copy("t/fixtures/claude_logs/claude_code_session.jsonl", root,
            "projects/-home-dev-proj/s.jsonl");
    test_save_fails("claude_logs");
    test_give_up();
    lt_rmrf(root);
    lt_rmrf(state);
    return done_testing();
}
