/*
 * t/unit/logscan_state_nofollow.c - the log scanner's state files
 * (plugins/sdk/logscan.c) are never opened through a symbolic link
 * planted in the state directory: a link at logscan.state is not read
 * (the scan starts from scratch and says so) and its target is neither
 * read nor written - the next save replaces the link itself; a link at
 * the lock file does not create its target.
 */
#include <sys/stat.h>

#include "tap.h"
#include "logtest.h"

#define NOW_FIX "1773151200" /* 2026-03-10T14:00:00Z */
#define FIX "t/fixtures/claude_logs/"

static char *root, *state;

static void run(collect_result *r)
{
    lt_run("claude_logs", state, 10000, r,
           "{\"roots\": [\"%s\"], \"now\": \"" NOW_FIX "\"}", root);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = calloc(1, 4096);
    if (s && fread(s, 1, 4095, f) == 0)
        s[0] = '\0';
    fclose(f);
    return s;
}

static void test_state_link(void)
{
    char *victim_dir = lt_tmpdir();
    char victim[4200], link_path[4200];
    snprintf(victim, sizeof victim, "%s/victim", victim_dir);
    snprintf(link_path, sizeof link_path, "%s/logscan.state", state);
    lt_puts(victim_dir, "victim", "w", "not meterd's state\n");
    ok(symlink(victim, link_path) == 0, "plant a link at logscan.state");
    collect_result r;
    run(&r);
    if (!ok(r.err == MD_ERR_NONE, "the scan succeeds from scratch"))
        lt_dump_notes(&r);
    ok(pt_has_note(&r, "logscan.state in the state directory is not a regular "
                   "file (a symbolic link?): not followed"),
       "the refused link is noted");
    ok(lt_tok(&r, "total", "today") > 0, "the logs were read");
    collect_result_clear(&r);
    char *text = slurp(victim);
    ok(text && strcmp(text, "not meterd's state\n") == 0,
       "the link's target is not written");
    free(text);
    struct stat sb;
    ok(lstat(link_path, &sb) == 0 && S_ISREG(sb.st_mode),
       "the save replaced the link with a regular state file");
    run(&r);
    ok(r.err == MD_ERR_NONE && !pt_has_note(&r, "not followed"),
       "the next run reads its own state without a note");
    collect_result_clear(&r);
    lt_rmrf(victim_dir);
}

static void test_lock_link(void)
{
    char *victim_dir = lt_tmpdir();
    char victim[4200], link_path[4200];
    snprintf(victim, sizeof victim, "%s/created", victim_dir);
    snprintf(link_path, sizeof link_path, "%s/lock", state);
    unlink(link_path);
    ok(symlink(victim, link_path) == 0, "plant a dangling link at lock");
    collect_result r;
    run(&r);
    ok(r.err != MD_ERR_NONE, "the run refuses to lock through it");
    collect_result_clear(&r);
    ok(access(victim, F_OK) != 0, "the link's target was not created");
    lt_rmrf(victim_dir);
}

int main(void)
{
    root = lt_tmpdir();
    state = lt_tmpdir();
    lt_copy(FIX "claude_code_session.jsonl", root, "projects/-home-dev-proj/s.jsonl");
    test_state_link();
    test_lock_link();
    lt_rmrf(root);
    lt_rmrf(state);
    return done_testing();
}
