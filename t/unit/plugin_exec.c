/* t/unit/plugin_exec.c - the exec plugin (plugins/exec.so) driven by the
 * fake host against the scripts in t/fixtures/exec/. */
#include "tap.h"
#include "fakehost.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static fh_plugin plug;
static char fixdir[PATH_MAX];

/* Absolute path of a fixture script (cwd may be changed by the option). */
static const char *script(const char *name)
{
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", fixdir, name);
    return buf;
}

/* Run one collection of `command: [script]` with a timeout; extra options
 * are set by the caller on c before.  Returns collect()'s rc. */
static int run_cmd(fh_ctx *c, const char *name, long long timeout_ms,
                   long long *elapsed_ms)
{
    const char *argv[] = {script(name)};
    fh_set_list(c, "command", argv, 1);
    fh_set_timeout_ms(c, timeout_ms);
    long long t0 = fh_mono_ms();
    int rc = fh_run(&plug, c);
    if (elapsed_ms) *elapsed_ms = fh_mono_ms() - t0;
    return rc;
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
    const md_plugin *d = plug.desc;
    is_int(d->abi_major, MD_ABI_MAJOR, "abi major");
    is_str(d->name, "exec", "name");
    is_str(d->default_source, "exec", "default_source");
    ok(d->collect && d->check && d->options, "collect, check and options present");
    int saw_command = 0;
    for (const md_option *o = d->options; o->name; o++)
        if (strcmp(o->name, "command") == 0)
            saw_command = o->type == MD_OPT_LIST && o->required;
    ok(saw_command, "command is a required LIST option");
}

static void test_check(void)
{
    fh_ctx c;
    fh_init(&c, "exec");
    is_int(fh_check(&plug, &c), -1, "check: missing command rejected");
    is_int(c.fail_class, MD_ERR_CONFIG, "check: config class");

    const char *argv[] = {"/bin/true"};
    fh_set_list(&c, "command", argv, 1);
    fh_reset_results(&c);
    is_int(fh_check(&plug, &c), 0, "check: valid command accepted");

    const char *k[] = {"BAD-NAME"}, *v[] = {"x"};
    fh_set_map(&c, "env", k, v, 1);
    is_int(fh_check(&plug, &c), -1, "check: invalid env name rejected");
    ok(has(c.fail_msg, "BAD-NAME"), "check: message names the variable");

    const char *k2[] = {"GOOD_NAME"};
    fh_set_map(&c, "env", k2, v, 1);
    fh_set_opt(&c, "max_output", "0");
    fh_reset_results(&c);
    is_int(fh_check(&plug, &c), -1, "check: max_output 0 rejected");
    ok(has(c.fail_msg, "max_output"), "check: message names max_output");
    fh_free(&c);
}

static void test_ok(void)
{
    fh_ctx c;
    fh_init(&c, "exec");
    is_int(run_cmd(&c, "ok.sh", 5000, NULL), 0, "ok.sh: success");
    is_int(c.n_fail, 0, "ok.sh: no failure");
    is_int(c.n_metrics, 2, "ok.sh: two metrics");
    const fh_metric *m = fh_metric_by_id(&c, "monthly_budget");
    ok(m != NULL, "ok.sh: monthly_budget emitted");
    if (m) {
        is_str(m->label, "Team budget", "label");
        is_str(m->kind, "budget", "kind");
        is_str(m->unit, "usd", "unit");
        ok(m->used.state == MD_KNOWN, "used known");
        is_num(m->used.value, 12.5, "used 12.5");
        ok(m->limit.state == MD_KNOWN, "limit from numeric string known");
        is_num(m->limit.value, 100, "limit 100");
        ok(m->remaining.state == MD_UNKNOWN, "remaining null stays unknown (not 0)");
        ok(m->utilization.state == MD_UNKNOWN, "utilization null stays unknown");
        ok(m->window_seconds.state == MD_NOT_APPLICABLE, "window \"n/a\" is not applicable");
        ok(m->resets_at.state == MD_KNOWN, "resets_at known");
        is_num(m->resets_at.epoch, 1775001600, "resets_at 2026-04-01T00:00:00Z");
        ok(m->collected_at.state == MD_KNOWN, "collected_at known");
        is_num(m->collected_at.epoch, 1773151200, "collected_at 2026-03-10T14:00:00Z");
        is_int(m->confidence, MD_EXACT, "confidence exact");
        is_str(m->source, "exec", "source exec");
    }
    m = fh_metric_by_id(&c, "gpu_hours");
    ok(m != NULL, "ok.sh: gpu_hours emitted");
    if (m) {
        is_num(m->used.value, 7.25, "used from \" 7.25 \"");
        ok(m->limit.state == MD_NOT_APPLICABLE, "limit n/a");
        ok(m->remaining.state == MD_NOT_APPLICABLE, "remaining n/a");
        ok(m->resets_at.state == MD_NOT_APPLICABLE, "resets_at n/a");
        ok(m->utilization.state == MD_UNKNOWN, "omitted utilization unknown");
        ok(m->window_seconds.state == MD_UNKNOWN, "omitted window unknown");
        ok(m->collected_at.state == MD_UNKNOWN, "omitted collected_at unknown");
        is_int(m->confidence, MD_ESTIMATED, "confidence estimated");
        is_str(m->label, NULL, "label omitted -> NULL");
        is_str(m->source, NULL, "source omitted -> default");
    }
    ok(fh_has_note(&c, "from ok.sh"), "notes passed through");
    is_str(c.raw, "{\"ledger\":\"demo\",\"entries\":3}", "raw passed compact");
    fh_free(&c);
}

static void test_error(void)
{
    fh_ctx c;
    fh_init(&c, "exec");
    is_int(run_cmd(&c, "error.sh", 5000, NULL), -1, "error.sh: failure");
    is_int(c.fail_class, MD_ERR_AUTH, "error.sh: class auth");
    is_str(c.fail_msg, "token expired for demo", "error.sh: message");
    is_num(c.retry_after, 30, "error.sh: retry_after 30");
    is_int(c.n_metrics, 0, "error.sh: no metrics");
    fh_free(&c);
}

static void test_bad(void)
{
    fh_ctx c;
    fh_init(&c, "exec");
    is_int(run_cmd(&c, "badjson.sh", 5000, NULL), -1, "badjson.sh: failure");
    is_int(c.fail_class, MD_ERR_BAD_DATA, "badjson.sh: bad_data");
    ok(has(c.fail_msg, "not valid JSON"), "badjson.sh: says not valid JSON");

    fh_reset_results(&c);
    is_int(run_cmd(&c, "wrongtypes.sh", 5000, NULL), -1, "wrongtypes.sh: failure");
    is_int(c.fail_class, MD_ERR_BAD_DATA, "wrongtypes.sh: bad_data");
    ok(has(c.fail_msg, "metrics[2].used: expected number, null or \"n/a\""),
       "wrongtypes.sh: names the field");
    is_int(c.n_metrics, 0, "wrongtypes.sh: nothing emitted");

    fh_reset_results(&c);
    is_int(run_cmd(&c, "nonzero.sh", 5000, NULL), -1, "nonzero.sh: failure");
    is_int(c.fail_class, MD_ERR_INTERNAL, "nonzero.sh: internal");
    ok(has(c.fail_msg, "status 3"), "nonzero.sh: exit status quoted");
    ok(has(c.fail_msg, "cannot open /nonexistent/ledger.tsv"), "nonzero.sh: stderr quoted");

    fh_reset_results(&c);
    is_int(run_cmd(&c, "signal.sh", 5000, NULL), -1, "signal.sh: failure");
    is_int(c.fail_class, MD_ERR_CRASHED, "signal.sh: crashed");
    ok(has(c.fail_msg, "signal 11") && has(c.fail_msg, "about to crash"),
       "signal.sh: signal and stderr quoted");

    fh_reset_results(&c);
    is_int(run_cmd(&c, "badid.sh", 5000, NULL), 0, "badid.sh: success");
    is_int(c.n_metrics, 1, "badid.sh: only the valid metric");
    ok(fh_metric_by_id(&c, "good") != NULL, "badid.sh: 'good' kept");
    ok(fh_has_note(&c, "metrics[0] skipped: invalid or missing id \"bad id!\""),
       "badid.sh: invalid id noted");
    ok(fh_has_note(&c, "metrics[1] (nokind) skipped"), "badid.sh: missing kind noted");

    fh_reset_results(&c);
    const char *argv[] = {"meterd-no-such-command"};
    fh_set_list(&c, "command", argv, 1);
    is_int(fh_run(&plug, &c), -1, "missing program: failure");
    is_int(c.fail_class, MD_ERR_CONFIG, "missing program: config");
    fh_free(&c);
}

static void test_env_cwd(void)
{
    fh_ctx c;
    fh_init(&c, "exec");
    setenv("METERD_FH_LEAK", "1", 1);
    const char *k[] = {"FOO"}, *v[] = {"bar baz"};
    fh_set_map(&c, "env", k, v, 1);
    fh_set_opt(&c, "cwd", "/tmp");
    is_int(run_cmd(&c, "env.sh", 5000, NULL), 0, "env.sh: success");
    ok(fh_has_note(&c, "PATH=/usr/local/bin:/usr/bin:/bin"), "minimal PATH");
    ok(fh_has_note(&c, "FOO=bar baz"), "env option passed");
    ok(fh_has_note(&c, "LEAK=unset"), "daemon environment not inherited");
    ok(fh_has_note(&c, "PWD=/tmp"), "cwd option honoured");

    fh_reset_results(&c);
    fh_set_opt(&c, "cwd", "/nonexistent-meterd-dir");
    is_int(run_cmd(&c, "env.sh", 5000, NULL), -1, "bad cwd: failure");
    is_int(c.fail_class, MD_ERR_CONFIG, "bad cwd: config");
    unsetenv("METERD_FH_LEAK");
    fh_free(&c);
}

static void test_kill(void)
{
    char pidfile[64];
    snprintf(pidfile, sizeof pidfile, "/tmp/meterd-exec-test.%ld", (long)getpid());
    fh_ctx c;
    fh_init(&c, "exec");
    const char *k[] = {"PIDFILE"}, *v[] = {pidfile};
    fh_set_map(&c, "env", k, v, 1);

    long long el = 0;
    unlink(pidfile);
    is_int(run_cmd(&c, "hang.sh", 1500, &el), -1, "hang.sh: failure");
    is_int(c.fail_class, MD_ERR_TIMEOUT, "hang.sh: timeout");
    ok(has(c.fail_msg, "command did not finish within"), "hang.sh: message");
    ok(el >= 1000 && el < 5000, "hang.sh: stopped at the deadline (generous bound)");
    pid_t bg = read_pidfile(pidfile);
    ok(bg > 0, "hang.sh: background child pid recorded");
    ok(bg > 0 && proc_gone(bg), "hang.sh: background child killed with the group");

    fh_reset_results(&c);
    unlink(pidfile);
    is_int(run_cmd(&c, "leftover.sh", 10000, &el), 0, "leftover.sh: success");
    ok(fh_metric_by_id(&c, "x") != NULL, "leftover.sh: metric emitted");
    ok(el < 5000, "leftover.sh: did not wait for the child holding stdout");
    bg = read_pidfile(pidfile);
    ok(bg > 0 && proc_gone(bg), "leftover.sh: leftover child killed");

    fh_reset_results(&c);
    fh_set_opt(&c, "max_output", "4096");
    is_int(run_cmd(&c, "bigout.sh", 10000, &el), -1, "bigout.sh: failure");
    is_int(c.fail_class, MD_ERR_BAD_DATA, "bigout.sh: bad_data");
    ok(has(c.fail_msg, "more than 4096 bytes"), "bigout.sh: message names the cap");
    ok(el < 5000, "bigout.sh: killed at the cap, not at the deadline");
    unlink(pidfile);
    fh_free(&c);
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
    fh_ctx c;
    fh_init(&c, "ledger");
    const char *argv[] = {prog, ledger};
    fh_set_list(&c, "command", argv, 2);
    double before = next_month_start();
    is_int(fh_run(&plug, &c), 0, "ledger: success");
    double after = next_month_start();
    const fh_metric *m = fh_metric_by_id(&c, "monthly_budget");
    ok(m != NULL, "ledger: monthly_budget emitted");
    if (m) {
        is_str(m->kind, "budget", "ledger: kind budget");
        is_str(m->unit, "usd", "ledger: unit usd");
        is_num(m->used.value, 120, "ledger: used = the two recurring entries");
        is_num(m->limit.value, 200, "ledger: limit = budget line");
        ok(m->remaining.state == MD_UNKNOWN, "ledger: remaining left to the core");
        ok(m->resets_at.state == MD_KNOWN &&
           (m->resets_at.epoch == before || m->resets_at.epoch == after),
           "ledger: resets at the start of next month");
    }

    char bad[64];
    snprintf(bad, sizeof bad, "/tmp/meterd-ledger-test.%ld", (long)getpid());
    FILE *f = fopen(bad, "w");
    if (f) {
        fputs("# comment\n\n2026-01-02\t5\tok\n2026-01-03\t-4\trefund\n", f);
        fclose(f);
    }
    const char *argv2[] = {prog, bad};
    fh_set_list(&c, "command", argv2, 2);
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), -1, "bad ledger: failure");
    is_int(c.fail_class, MD_ERR_BAD_DATA, "bad ledger: bad_data");
    ok(has(c.fail_msg, "line 4"), "bad ledger: names the line");

    f = fopen(bad, "w");
    if (f) {
        fputs("*\t3.5\tsub\n", f);
        fclose(f);
    }
    fh_reset_results(&c);
    is_int(fh_run(&plug, &c), 0, "ledger without budget: success");
    m = fh_metric_by_id(&c, "monthly_budget");
    ok(m && m->limit.state == MD_UNKNOWN, "ledger without budget: limit unknown");
    ok(m && m->used.state == MD_KNOWN && m->used.value == 3.5, "ledger without budget: used 3.5");
    ok(fh_has_note(&c, "no budget line"), "ledger without budget: noted");
    unlink(bad);
    fh_free(&c);
}

int main(void)
{
    /* Orphans of the scripts come to us so we can see how they died. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (!realpath("t/fixtures/exec", fixdir)) {
        ok(0, "t/fixtures/exec found (run from the repository root)");
        return done_testing();
    }
    if (fh_load(&plug, "exec") != 0) {
        ok(0, "load plugins/exec.so");
        return done_testing();
    }
    test_descriptor();
    test_check();
    test_ok();
    test_error();
    test_bad();
    test_env_cwd();
    test_kill();
    test_ledger();
    fh_unload(&plug);
    return done_testing();
}
