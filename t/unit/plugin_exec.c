/* t/unit/plugin_exec.c - the exec plugin (plugins/exec.so) through the
 * real host (run_job, as the helper process runs it) against the scripts
 * in t/fixtures/exec/. */
#include "tap.h"
#include "plugtest.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char fixdir[PATH_MAX];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One collection of `command: [<fixture script>]` with a timeout; extra is
 * more JSON members (", \"cwd\": \"/tmp\"") or NULL.  The elapsed time of
 * the collection goes to *elapsed_ms when not NULL. */
static void run_cmd(collect_result *r, const char *name, long long timeout_ms,
                    const char *extra, long long *elapsed_ms)
{
    long long t0 = now_ms();
    pt_run_ms("exec", timeout_ms, r, "{\"command\": [\"%s/%s\"]%s}", fixdir,
              name, extra ? extra : "");
    if (elapsed_ms)
        *elapsed_ms = now_ms() - t0;
}

static int has(const char *s, const char *needle)
{
    int yes = s && strstr(s, needle);
    if (!yes) printf("#   '%s' does not contain '%s'\n", s ? s : "(null)", needle);
    return yes;
}

static pid_t read_pidfile(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = 0;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = 0;
        fclose(f);
    }
    return (pid_t)v;
}

/* Is pid gone (within a generous 3 s)?  We are a child subreaper, so the
 * script's orphaned background child is re-parented to us and we reap it
 * here; it may also have been reaped by the dying script itself, in which
 * case it simply no longer exists.  A survivor is killed so the test run
 * leaves nothing behind, and counts as a failure. */
static int proc_gone(pid_t pid)
{
    for (int i = 0; i < 300; i++) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
                printf("#   pid %ld ended with status 0x%x\n", (long)pid, st);
            return 1;
        }
        if (w < 0 && kill(pid, 0) != 0 && errno == ESRCH) return 1;
        usleep(10000);
    }
    printf("#   pid %ld still exists\n", (long)pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, WNOHANG);
    return 0;
}

static void test_descriptor(void)
{
    loaded_plugin lp;
    if (pt_plugin_open("exec", &lp) != 0) {
        ok(0, "load plugins/exec.so");
        return;
    }
    const md_plugin *d = lp.desc;
    is_int(d->abi_major, MD_ABI_MAJOR, "abi major");
    is_str(d->name, "exec", "name");
    is_str(d->default_source, "exec", "default_source");
    ok(d->collect && d->check && d->options, "collect, check and options present");
    int saw_command = 0;
    for (const md_option *o = d->options; o->name; o++)
        if (strcmp(o->name, "command") == 0)
            saw_command = o->type == MD_OPT_LIST && o->required;
    ok(saw_command, "command is a required LIST option");
    plugin_close(&lp);
}

/* Option validation as `meterd -t` and the daemon do it (option table,
 * then the plugin's check()). */
static void test_check(void)
{
    char *d = NULL;
    ok(pt_validate("exec", &d, "{}") == 1, "check: missing command rejected");
    ok(has(d, "missing required option 'command'"), "check: reported as a config problem");
    free(d);

    is_int((int)pt_validate("exec", &d, "{\"command\": [\"/bin/true\"]}"), 0,
           "check: valid command accepted");
    free(d);

    ok(pt_validate("exec", &d, "{\"command\": [\"/bin/true\"], "
                               "\"env\": {\"BAD-NAME\": \"x\"}}") == 1,
       "check: invalid env name rejected");
    ok(has(d, "BAD-NAME"), "check: message names the variable");
    free(d);

    ok(pt_validate("exec", &d, "{\"command\": [\"/bin/true\"], "
                               "\"env\": {\"GOOD_NAME\": \"x\"}, "
                               "\"max_output\": \"0\"}") == 1,
       "check: max_output 0 rejected");
    ok(has(d, "max_output"), "check: message names max_output");
    free(d);
}

static void test_ok(void)
{
    collect_result r;
    run_cmd(&r, "ok.sh", 5000, NULL, NULL);
    is_int(r.err, MD_ERR_NONE, "ok.sh: success");
    ok(r.err_msg == NULL, "ok.sh: no failure");
    is_int(r.n_metrics, 2, "ok.sh: two metrics");
    const metric *m = pt_metric(&r, "monthly_budget");
    ok(m != NULL, "ok.sh: monthly_budget emitted");
    if (m) {
        is_str(m->label, "Team budget", "label");
        is_str(m->kind, "budget", "kind");
        is_str(m->unit, "usd", "unit");
        ok(m->used.state == MD_KNOWN, "used known");
        is_num(m->used.value, 12.5, "used 12.5");
        ok(m->limit.state == MD_KNOWN, "limit from numeric string known");
        is_num(m->limit.value, 100, "limit 100");
        /* The plugin passes null on as unknown (not 0); the core then
         * derives it from used and limit and says so. */
        ok((m->derived & METRIC_DERIVED_REMAINING) && m->remaining.value == 87.5,
           "remaining null stays unknown (not 0): derived 87.5 by the core");
        ok((m->derived & METRIC_DERIVED_UTILIZATION) && m->utilization.value == 12.5,
           "utilization null stays unknown: derived 12.5 by the core");
        ok(m->window_seconds.state == MD_NOT_APPLICABLE, "window \"n/a\" is not applicable");
        ok(m->resets_at.state == MD_KNOWN, "resets_at known");
        is_num(m->resets_at.epoch, 1775001600, "resets_at 2026-04-01T00:00:00Z");
        ok(m->collected_at.state == MD_KNOWN, "collected_at known");
        is_num(m->collected_at.epoch, 1773151200, "collected_at 2026-03-10T14:00:00Z");
        is_int(m->confidence, MD_EXACT, "confidence exact");
        is_str(m->source, "exec", "source exec");
    }
    m = pt_metric(&r, "gpu_hours");
    ok(m != NULL, "ok.sh: gpu_hours emitted");
    if (m) {
        is_num(m->used.value, 7.25, "used from \" 7.25 \"");
        ok(m->limit.state == MD_NOT_APPLICABLE, "limit n/a");
        ok(m->remaining.state == MD_NOT_APPLICABLE, "remaining n/a");
        ok(m->resets_at.state == MD_NOT_APPLICABLE, "resets_at n/a");
        ok(m->utilization.state == MD_UNKNOWN, "omitted utilization unknown");
        ok(m->window_seconds.state == MD_UNKNOWN, "omitted window unknown");
        /* omitted collected_at is passed as unknown; the core stamps the
         * collection time (never a value from the script) */
        ok(m->collected_at.state == MD_KNOWN &&
               m->collected_at.epoch >= r.started_at - 1 &&
               m->collected_at.epoch <= r.finished_at + 1,
           "omitted collected_at unknown: the core stamps the collection time");
        is_int(m->confidence, MD_ESTIMATED, "confidence estimated");
        is_str(m->label, "gpu_hours", "label omitted -> the id (core default)");
        is_str(m->source, "exec", "source omitted -> default");
    }
    ok(pt_has_note(&r, "from ok.sh"), "notes passed through");
    is_str(r.raw_json, "{\"ledger\":\"demo\",\"entries\":3}", "raw passed compact");
    collect_result_clear(&r);
}

static void test_error(void)
{
    collect_result r;
    run_cmd(&r, "error.sh", 5000, NULL, NULL);
    ok(r.err != MD_ERR_NONE, "error.sh: failure");
    is_int(r.err, MD_ERR_AUTH, "error.sh: class auth");
    is_str(r.err_msg, "token expired for demo", "error.sh: message");
    is_num(r.retry_after, 30, "error.sh: retry_after 30");
    is_int(r.n_metrics, 0, "error.sh: no metrics");
    collect_result_clear(&r);
}

static void test_bad(void)
{
    collect_result r;
    run_cmd(&r, "badjson.sh", 5000, NULL, NULL);
    ok(r.err != MD_ERR_NONE, "badjson.sh: failure");
    is_int(r.err, MD_ERR_BAD_DATA, "badjson.sh: bad_data");
    ok(has(r.err_msg, "not valid JSON"), "badjson.sh: says not valid JSON");
    collect_result_clear(&r);

    run_cmd(&r, "wrongtypes.sh", 5000, NULL, NULL);
    ok(r.err != MD_ERR_NONE, "wrongtypes.sh: failure");
    is_int(r.err, MD_ERR_BAD_DATA, "wrongtypes.sh: bad_data");
    ok(has(r.err_msg, "metrics[2].used: expected number, null or \"n/a\""),
       "wrongtypes.sh: names the field");
    is_int(r.n_metrics, 0, "wrongtypes.sh: nothing emitted");
    collect_result_clear(&r);

    run_cmd(&r, "nonzero.sh", 5000, NULL, NULL);
    ok(r.err != MD_ERR_NONE, "nonzero.sh: failure");
    is_int(r.err, MD_ERR_INTERNAL, "nonzero.sh: internal");
    ok(has(r.err_msg, "status 3"), "nonzero.sh: exit status quoted");
    ok(has(r.err_msg, "cannot open /nonexistent/ledger.tsv"), "nonzero.sh: stderr quoted");
    collect_result_clear(&r);

    run_cmd(&r, "signal.sh", 5000, NULL, NULL);
    ok(r.err != MD_ERR_NONE, "signal.sh: failure");
    is_int(r.err, MD_ERR_CRASHED, "signal.sh: crashed");
    ok(has(r.err_msg, "signal 11") && has(r.err_msg, "about to crash"),
       "signal.sh: signal and stderr quoted");
    collect_result_clear(&r);

    run_cmd(&r, "badid.sh", 5000, NULL, NULL);
    is_int(r.err, MD_ERR_NONE, "badid.sh: success");
    is_int(r.n_metrics, 1, "badid.sh: only the valid metric");
    ok(pt_metric(&r, "good") != NULL, "badid.sh: 'good' kept");
    ok(pt_has_note(&r, "metrics[0] skipped: invalid or missing id \"bad id!\""),
       "badid.sh: invalid id noted");
    ok(pt_has_note(&r, "metrics[1] (nokind) skipped"), "badid.sh: missing kind noted");
    collect_result_clear(&r);

    pt_run("exec", &r, "{\"command\": [\"meterd-no-such-command\"]}");
    ok(r.err != MD_ERR_NONE, "missing program: failure");
    is_int(r.err, MD_ERR_CONFIG, "missing program: config");
    collect_result_clear(&r);
}

/* Control characters never pass: a kind with one skips the metric, a unit
 * with one is dropped, labels and notes are escaped, repeated notes are
 * folded; and an over-quota meter keeps its value. */
static void test_controls_and_over_quota(void)
{
    collect_result r;
    run_cmd(&r, "controls.sh", 5000, NULL, NULL);
    is_int(r.err, MD_ERR_NONE, "controls.sh: success");
    int forged = 0;
    for (size_t i = 0; i < r.n_metrics; i++)
        forged |= strcmp(r.metrics[i].id, "forged") == 0;
    ok(!forged && r.n_metrics == 3,
       "controls.sh: the metric with a newline in its kind is skipped");
    ok(pt_has_note(&r, "metrics[0] (forged) skipped: control characters in kind"),
       "controls.sh: ... with a note");
    const metric *b = pt_metric(&r, "budget");
    is_str(b->label, "Team\\x0a\\x1b[31mbudget", "controls.sh: label escaped");
    ok(b->unit == NULL, "controls.sh: unit with an ANSI escape dropped");
    ok(pt_has_note(&r, "metrics[1].unit rejected: control characters"),
       "controls.sh: ... with a note");
    ok(pt_has_note(&r, "forged\\x0awarning: meterd: line\\x1b[2J"),
       "controls.sh: a note's newline and ESC escaped");
    int raw = 0;
    for (size_t i = 0; i < r.n_notes; i++)
        for (const char *c = r.notes[i]; *c; c++)
            raw |= (unsigned char)*c < 0x20;
    ok(!raw, "controls.sh: no note holds a raw control character");
    ok(pt_has_note(&r, "same (x3)"), "controls.sh: identical notes folded (x3)");
    size_t same = 0;
    for (size_t i = 0; i < r.n_notes; i++)
        same += strncmp(r.notes[i], "same", 4) == 0;
    is_int((int)same, 1, "controls.sh: ... into one note");
    const metric *w = pt_metric(&r, "weekly");
    ok(w->utilization.state == MD_KNOWN && w->utilization.value == 100.4,
       "controls.sh: a reported 100.4 % is kept");
    const metric *sp = pt_metric(&r, "spend");
    ok(sp->remaining.state == MD_KNOWN && sp->remaining.value == 0,
       "controls.sh: used 120 of 100: remaining 0");
    is_num(sp->utilization.value, 120, "controls.sh: used 120 of 100: 120 %");
    collect_result_clear(&r);
}

static void test_env_cwd(void)
{
    collect_result r;
    setenv("METERD_FH_LEAK", "1", 1);   /* the name env.sh reports */
    run_cmd(&r, "env.sh", 5000,
            ", \"env\": {\"FOO\": \"bar baz\"}, \"cwd\": \"/tmp\"", NULL);
    is_int(r.err, MD_ERR_NONE, "env.sh: success");
    ok(pt_has_note(&r, "PATH=/usr/local/bin:/usr/bin:/bin"), "minimal PATH");
    ok(pt_has_note(&r, "FOO=bar baz"), "env option passed");
    ok(pt_has_note(&r, "LEAK=unset"), "daemon environment not inherited");
    ok(pt_has_note(&r, "PWD=/tmp"), "cwd option honoured");
    collect_result_clear(&r);

    run_cmd(&r, "env.sh", 5000,
            ", \"env\": {\"FOO\": \"bar baz\"}, \"cwd\": \"/nonexistent-meterd-dir\"",
            NULL);
    ok(r.err != MD_ERR_NONE, "bad cwd: failure");
    is_int(r.err, MD_ERR_CONFIG, "bad cwd: config");
    unsetenv("METERD_FH_LEAK");
    collect_result_clear(&r);
}

static void test_kill(void)
{
    char pidfile[64], env[128];
    snprintf(pidfile, sizeof pidfile, "/tmp/meterd-exec-test.%ld", (long)getpid());
    snprintf(env, sizeof env, ", \"env\": {\"PIDFILE\": \"%s\"}", pidfile);
    collect_result r;

    long long el = 0;
    unlink(pidfile);
    run_cmd(&r, "hang.sh", 1500, env, &el);
    ok(r.err != MD_ERR_NONE, "hang.sh: failure");
    is_int(r.err, MD_ERR_TIMEOUT, "hang.sh: timeout");
    ok(has(r.err_msg, "command did not finish within"), "hang.sh: message");
    ok(el >= 1000 && el < 5000, "hang.sh: stopped at the deadline (generous bound)");
    pid_t bg = read_pidfile(pidfile);
    ok(bg > 0, "hang.sh: background child pid recorded");
    ok(bg > 0 && proc_gone(bg), "hang.sh: background child killed with the group");
    collect_result_clear(&r);

    unlink(pidfile);
    run_cmd(&r, "leftover.sh", 10000, env, &el);
    is_int(r.err, MD_ERR_NONE, "leftover.sh: success");
    ok(pt_metric(&r, "x") != NULL, "leftover.sh: metric emitted");
    ok(el < 5000, "leftover.sh: did not wait for the child holding stdout");
    bg = read_pidfile(pidfile);
    ok(bg > 0 && proc_gone(bg), "leftover.sh: leftover child killed");
    collect_result_clear(&r);

    char extra[192];
    snprintf(extra, sizeof extra, "%s, \"max_output\": \"4096\"", env);
    run_cmd(&r, "bigout.sh", 10000, extra, &el);
    ok(r.err != MD_ERR_NONE, "bigout.sh: failure");
    is_int(r.err, MD_ERR_BAD_DATA, "bigout.sh: bad_data");
    ok(has(r.err_msg, "more than 4096 bytes"), "bigout.sh: message names the cap");
    ok(el < 5000, "bigout.sh: killed at the cap, not at the deadline");
    unlink(pidfile);
    collect_result_clear(&r);
}

/* First second of the UTC month after now. */
static double next_month_start(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon += 1;               /* timegm normalises December + 1 */
    return (double)timegm(&tm);
}

/* conf/examples/ledger-budget through the plugin, as the default config
 * runs it. */
static void test_ledger(void)
{
    char prog[PATH_MAX], ledger[PATH_MAX];
    if (!realpath("conf/examples/ledger-budget", prog) ||
        !realpath("conf/examples/ledger.tsv", ledger)) {
        ok(0, "conf/examples/ledger-budget and ledger.tsv exist");
        return;
    }
    collect_result r;
    double before = next_month_start();
    pt_run("exec", &r, "{\"command\": [\"%s\", \"%s\"]}", prog, ledger);
    double after = next_month_start();
    is_int(r.err, MD_ERR_NONE, "ledger: success");
    const metric *m = pt_metric(&r, "monthly_budget");
    ok(m != NULL, "ledger: monthly_budget emitted");
    if (m) {
        is_str(m->kind, "budget", "ledger: kind budget");
        is_str(m->unit, "usd", "ledger: unit usd");
        is_num(m->used.value, 120, "ledger: used = the two recurring entries");
        is_num(m->limit.value, 200, "ledger: limit = budget line");
        ok((m->derived & METRIC_DERIVED_REMAINING) && m->remaining.value == 80,
           "ledger: remaining left to the core (derived 80)");
        ok(m->resets_at.state == MD_KNOWN &&
           (m->resets_at.epoch == before || m->resets_at.epoch == after),
           "ledger: resets at the start of next month");
    }
    collect_result_clear(&r);

    char bad[64];
    snprintf(bad, sizeof bad, "/tmp/meterd-ledger-test.%ld", (long)getpid());
    FILE *f = fopen(bad, "w");
    if (f) {
        fputs("# comment\n\n2026-01-02\t5\tok\n2026-01-03\t-4\trefund\n", f);
        fclose(f);
    }
    pt_run("exec", &r, "{\"command\": [\"%s\", \"%s\"]}", prog, bad);
    ok(r.err != MD_ERR_NONE, "bad ledger: failure");
    is_int(r.err, MD_ERR_BAD_DATA, "bad ledger: bad_data");
    ok(has(r.err_msg, "line 4"), "bad ledger: names the line");
    collect_result_clear(&r);

    f = fopen(bad, "w");
    if (f) {
        fputs("*\t3.5\tsub\n", f);
        fclose(f);
    }
    pt_run("exec", &r, "{\"command\": [\"%s\", \"%s\"]}", prog, bad);
    is_int(r.err, MD_ERR_NONE, "ledger without budget: success");
    m = pt_metric(&r, "monthly_budget");
    ok(m && m->limit.state == MD_UNKNOWN, "ledger without budget: limit unknown");
    ok(m && m->used.state == MD_KNOWN && m->used.value == 3.5, "ledger without budget: used 3.5");
    ok(pt_has_note(&r, "no budget line"), "ledger without budget: noted");
    unlink(bad);
    collect_result_clear(&r);
}

int main(void)
{
    /* Orphans of the scripts come to us so we can see how they died. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (!realpath("t/fixtures/exec", fixdir)) {
        ok(0, "t/fixtures/exec found (run from the repository root)");
        return done_testing();
    }
    test_descriptor();
    test_check();
    test_ok();
    test_error();
    test_bad();
    test_controls_and_over_quota();
    test_env_cwd();
    test_kill();
    test_ledger();
    return done_testing();
}
