/*
 * t/unit/runner.c - isolated collections end to end: this test binary is
 * also the helper ("--worker"), exactly as the daemon re-executes itself.
 * Plugins come from t/plugins (or $METERD_TEST_PLUGIN_DIR); HTTP tests use
 * a tiny server on 127.0.0.1 run by a thread of this process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_client.h"
#include "log.h"
#include "protocol.h"
#include "runner.h"
#include "worker.h"
#include "tap.h"
#include "timeutil.h"

#define TOKEN "tok-SECRET-1234"

static char g_self[PATH_MAX];
static char g_state[PATH_MAX];
static int g_port;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

static provider_conf *mkpc(const char *name, const char *plugin,
                           const char *options_json, isolation_mode iso)
{
    const char *dir = getenv("METERD_TEST_PLUGIN_DIR");
    provider_conf *pc = xcalloc(1, sizeof *pc);
    pc->name = xstrdup(name);
    pc->plugin = xstrdup(plugin);
    pc->plugin_path = xasprintf("%s/%s.so", dir && *dir ? dir : "t/plugins",
                                plugin);
    pc->enabled = 1;
    pc->isolation = iso;
    pc->options = json_loads(options_json, 0, NULL);
    if (!pc->options)
        pc->options = json_object();
    pc->option_locs = json_object();
    pc->secret_options = json_array();
    pc->timeout_ms = 5000;
    return pc;
}

static void free_pc(provider_conf *pc)
{
    free(pc->name);
    free(pc->plugin);
    free(pc->plugin_path);
    json_decref(pc->options);
    json_decref(pc->option_locs);
    json_decref(pc->secret_options);
    free(pc);
}

/* Reap h like the scheduler does: non-blocking reaps until it is gone,
 * a kill() at the deadline, never a blocking wait. */
static void reap_like_scheduler(run_handle *h)
{
    while (!runner_reap(h)) {
        if (mono_ms() >= runner_deadline(h))
            runner_kill(h);
        usleep(2000);
    }
}

/* Run pc like the scheduler does: poll until end of stream or deadline,
 * kill at the deadline, reap, finish.  Returns the elapsed milliseconds. */
static long long run_pc(const provider_conf *pc, long long budget_ms,
                        collect_result *out)
{
    long long t0 = mono_ms();
    char *err = NULL;
    run_handle *h = runner_start(pc, g_self, g_state, t0 + budget_ms, 0, &err);
    if (!h) {
        collect_result_init(out);
        out->err = MD_ERR_INTERNAL;
        out->err_msg = err;
        return mono_ms() - t0;
    }
    for (;;) {
        long long left = runner_deadline(h) - mono_ms();
        if (left <= 0) {
            runner_kill(h);
            break;
        }
        struct pollfd p = {runner_fd(h), POLLIN, 0};
        if (poll(&p, 1, (int)left) > 0 && runner_read(h))
            break;
    }
    reap_like_scheduler(h);
    runner_finish(h, out);
    return mono_ms() - t0;
}

static long long run_plugin(const char *plugin, const char *opts,
                            isolation_mode iso, long long budget,
                            collect_result *out)
{
    provider_conf *pc = mkpc(plugin, plugin, opts, iso);
    pc->timeout_ms = budget;   /* as the scheduler: deadline = now + timeout */
    long long ms = run_pc(pc, budget, out);
    free_pc(pc);
    return ms;
}

static const metric *find_metric(const collect_result *r, const char *id)
{
    for (size_t i = 0; i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].id, id) == 0)
            return &r->metrics[i];
    return NULL;
}

static int note_has(const collect_result *r, const char *needle)
{
    for (size_t i = 0; i < r->n_notes; i++)
        if (strstr(r->notes[i], needle))
            return 1;
    return 0;
}

static double used_of(const collect_result *r, const char *id)
{
    const metric *m = find_metric(r, id);
    return m && m->used.state == MD_KNOWN ? m->used.value : -1;
}

/* ------------------------------------------------------------------ */
/* A tiny HTTP server on 127.0.0.1                                     */
/* ------------------------------------------------------------------ */

static void respond(int fd, const char *path, const char *auth)
{
    char head[1024], body[300];
    if (strcmp(path, "/ok") == 0) {
        snprintf(body, sizeof body, "hello %s", auth);
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nX-Test:   Hello  \r\nContent-Length: "
                 "%zu\r\nConnection: close\r\n\r\n%s",
                 strlen(body), body);
    } else if (strcmp(path, "/big") == 0) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    } else if (strcmp(path, "/file") == 0) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n");
    } else if (path[0] == '/' && path[1] == 'r' && path[2] >= '1' &&
               path[2] <= '9') {
        snprintf(head, sizeof head,
                 "HTTP/1.1 302 Found\r\nX-Test: hop\r\nLocation: /r%c\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
                 path[2] - 1);
    } else if (strcmp(path, "/r0") == 0) {
        snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: /ok\r\n"
                                    "Content-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/slow") == 0) {
        sleep(3);   /* longer than any client timeout used below */
        return;
    } else {
        snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\n"
                                    "Content-Length: 0\r\n\r\n");
    }
    /* send(MSG_NOSIGNAL): a client that hangs up (the size-cap test)
     * must not SIGPIPE the test */
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0)
        return;
    if (strcmp(path, "/big") == 0) {
        char chunk[1000];
        memset(chunk, 'a', sizeof chunk);
        for (int i = 0; i < 10; i++)
            if (send(fd, chunk, sizeof chunk, MSG_NOSIGNAL) < 0)
                return;
    }
}

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[8192];
    req[0] = '\0';
    size_t n = 0;
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
    }
    req[n] = '\0';
    char path[256] = "", auth[256] = "none";
    sscanf(req, "%*s %255s", path);
    const char *a = strstr(req, "Authorization: ");
    if (a)
        sscanf(a + 15, "%255[^\r]", auth);
    respond(fd, path, auth);
    close(fd);
    return NULL;
}

static void *server_thread(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_thread, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
}

static int start_server(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, server_thread, (void *)(intptr_t)lfd);
    pthread_attr_destroy(&at);
    return rc == 0 ? ntohs(sa.sin_port) : -1;
}

/* ------------------------------------------------------------------ */
/* Process isolation                                                   */
/* ------------------------------------------------------------------ */

static void test_good(void)
{
    collect_result r;
    run_plugin("good",
               "{\"metrics\": [\"credits:credits:usd:-:-:18.42\", "
               "\"window:quota_window:percent:20:100:-\"], \"token\": \"" TOKEN
               "\", \"retry_after\": \"30\"}",
               ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "good: no error");
    ok(r.err_msg == NULL, "good: no error message");
    is_int(r.n_metrics, 2, "good: two metrics");
    const metric *c = find_metric(&r, "credits");
    ok(c && c->remaining.state == MD_KNOWN, "good: remaining known");
    is_num(c ? c->remaining.value : 0, 18.42, "good: remaining value");
    ok(c && c->used.state == MD_UNKNOWN && c->limit.state == MD_UNKNOWN,
       "good: unreported used/limit stay unknown");
    ok(c && c->utilization.state == MD_UNKNOWN,
       "good: utilization not invented");
    is_str(c ? c->unit : NULL, "usd", "good: unit");
    is_str(c ? c->source : NULL, "api", "good: default source");
    is_str(c ? c->provider : NULL, "good", "good: provider is the instance");
    const metric *w = find_metric(&r, "window");
    is_num(w ? w->remaining.value : -1, 80, "good: remaining derived");
    is_num(r.retry_after, 30, "good: retry_after carried");
    ok(note_has(&r, "good plugin ran for good"), "good: note present");
    ok(note_has(&r, "token in a note: [REDACTED]") && !note_has(&r, TOKEN),
       "good: secret masked in notes");
    ok(r.raw_json && !contains(r.raw_json, TOKEN), "good: raw has no secret");
    ok(contains(r.raw_json, "\"token\":\"[REDACTED]\"") &&
           contains(r.raw_json, "\"Api_Key\":\"[REDACTED]\"") &&
           contains(r.raw_json, "\"user_email\":\"[REDACTED]\""),
       "good: credential-like keys redacted");
    ok(contains(r.raw_json, "\"text\":\"bearer [REDACTED]\"") &&
           contains(r.raw_json, "\"count\":3"),
       "good: secret masked inside strings, other data kept");
    ok(r.started_at > 0 && r.finished_at >= r.started_at,
       "good: timestamps filled");
    collect_result_clear(&r);
}

/* ABI 1.1 services through the real helper process. */
static void test_abi_1_1(void)
{
    collect_result r;
    run_plugin("good",
               "{\"metrics\": [\"five_hour:quota_window:percent:-:-:-\"], "
               "\"expect\": [\"five_hour:quota_window:percent\", "
               "\"seven_day_opus:quota_window:percent\"], "
               "\"headers\": {\"X-Codex-Secondary-Used-Percent\": \"41\", "
               "\"x-codex-secondary-window-minutes\": \"10080\", "
               "\"x-codex-primary-used-percent\": \"99\", "
               "\"x-codex-primary-window-minutes\": \"300\", "
               "\"retry-after\": \"7\"}}",
               ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "1.1: ok");
    const metric *opus = find_metric(&r, "seven_day_opus");
    ok(opus != NULL, "1.1: an expected meter the plugin did not emit appears");
    ok(opus && opus->utilization.state == MD_UNKNOWN && opus->remaining.state == MD_UNKNOWN,
       "1.1: with unknown values, not 0");
    ok(note_has(&r, "plan expects seven_day_opus; not reported"), "1.1: and its note");
    ok(!note_has(&r, "plan expects five_hour"), "1.1: a reported expected meter adds no note");
    const metric *sd = find_metric(&r, "seven_day");
    ok(sd && sd->utilization.state == MD_KNOWN && sd->utilization.value == 41,
       "1.1: header-derived meter emitted");
    is_str(sd ? sd->source : NULL, "headers", "1.1: source headers");
    const metric *fh = find_metric(&r, "five_hour");
    ok(fh && fh->utilization.state == MD_UNKNOWN,
       "1.1: a meter the plugin reported is not overwritten by its header echo");
    is_num(r.retry_after, 7, "1.1: Retry-After from the headers");
    collect_result_clear(&r);

    /* expected meters are not added to a failed collection */
    run_plugin("good",
               "{\"expect\": [\"seven_day:quota_window:percent\"], "
               "\"fail_class\": \"http\"}",
               ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_HTTP, "1.1: failure kept");
    is_int(r.n_metrics, 0, "1.1: no metrics from a failed collection");
    collect_result_clear(&r);
}

static void test_failures(void)
{
    collect_result r;
    run_plugin("good",
               "{\"metrics\": [\"a:usage:-:1:-:-\"], \"token\": \"" TOKEN
               "\", \"fail_class\": \"auth\", \"fail_message\": "
               "\"bad token " TOKEN "\"}",
               ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_AUTH, "fail: class from the plugin");
    is_str(r.err_msg, "bad token [REDACTED]", "fail: message masked");
    is_int(r.n_metrics, 0, "fail: emitted metrics discarded");
    collect_result_clear(&r);

    run_plugin("good", "{\"fail_silently\": \"yes\"}", ISOLATION_PROCESS,
               5000, &r);
    is_int(r.err, MD_ERR_INTERNAL, "silent failure: internal");
    is_str(r.err_msg, "plugin returned failure without a reason",
           "silent failure: message");
    collect_result_clear(&r);

    run_plugin("abi2", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_ABI, "abi2 through the runner: abi");
    is_str(r.err_msg, "plugin 'abi2' built for ABI 2, meterd provides 1",
           "abi2 through the runner: message");
    collect_result_clear(&r);

    run_plugin("nonexistent", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_CONFIG, "missing plugin: config");
    collect_result_clear(&r);
}

static void test_hang_and_crash(void)
{
    collect_result r;
    long long ms = run_plugin("hang", "{}", ISOLATION_PROCESS, 500, &r);
    is_int(r.err, MD_ERR_TIMEOUT, "hang: timeout");
    is_str(r.err_msg, "collection exceeded its timeout of 500 ms",
           "hang: message names the configured timeout");
    ok(ms >= 450 && ms < 2500, "hang: killed at the deadline, not later");
    is_int(r.n_metrics, 0, "hang: nothing reported");
    collect_result_clear(&r);

    run_plugin("segv", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_CRASHED, "segv: crashed");
    is_str(r.err_msg, "helper process died of SIGSEGV", "segv: signal named");
    is_int(r.n_metrics, 0, "segv: metric emitted before the crash is lost");
    collect_result_clear(&r);

    run_plugin("abort", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_CRASHED, "abort: crashed");
    is_str(r.err_msg, "helper process died of SIGABRT", "abort: signal named");
    collect_result_clear(&r);
}

/* A plugin that allocates 4 GiB under the default 1 GiB limit is
 * "crashed" with the limit named; a provider's own limit is named too. */
static void test_memory_limit(void)
{
    collect_result r;
    long long ms = run_plugin("bigalloc", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_CRASHED, "bigalloc: crashed");
    ok(contains(r.err_msg, "memory limit 1024 MiB reached"),
       "bigalloc: the message says the memory limit was reached");
    ok(ms < 4000, "bigalloc: ends at once, not at the deadline");
    collect_result_clear(&r);

    provider_conf *pc = mkpc("bigalloc", "bigalloc", "{}", ISOLATION_PROCESS);
    pc->memory_limit = 64LL << 20;
    run_pc(pc, 5000, &r);
    ok(contains(r.err_msg, "memory limit 64 MiB reached"),
       "bigalloc: a provider's memory_limit is the one applied and named");
    collect_result_clear(&r);
    free_pc(pc);
}

static void test_bad_output(void)
{
    collect_result r;
    run_plugin("nan", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "nan: collection succeeds");
    is_int(r.n_metrics, 1, "nan: the metric is kept, the id-less one not");
    const metric *m = find_metric(&r, "weird");
    ok(m && m->used.state == MD_UNKNOWN && m->limit.state == MD_UNKNOWN &&
           m->remaining.state == MD_UNKNOWN &&
           m->utilization.state == MD_UNKNOWN,
       "nan: invalid fields became unknown");
    ok(m && m->window_seconds.state == MD_KNOWN &&
           m->window_seconds.value == 3600 && m->resets_at.state == MD_KNOWN,
       "nan: valid fields kept");
    ok(note_has(&r, "emit reported 4 rejected fields"),
       "nan: emit returned the rejection count");
    ok(note_has(&r, "emit without id returned -1"), "nan: id-less dropped");
    size_t rej = 0;
    for (size_t i = 0; i < r.n_notes; i++)
        rej += contains(r.notes[i], "rejected") &&
               contains(r.notes[i], "weird");
    is_int(rej, 4, "nan: one note per rejected field");
    collect_result_clear(&r);

    run_plugin("stdout_noise", "{}", ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "stdout noise: result intact");
    const metric *q = find_metric(&r, "quiet");
    is_num(q ? q->remaining.value : 0, 18.42, "stdout noise: metric intact");
    collect_result_clear(&r);
}

static void test_options(void)
{
    collect_result r;
    run_plugin("opts",
               "{\"api_url\": \"u\", \"retries\": \"7\", \"period\": \"90s\","
               " \"verbose\": \"on\", \"ratio\": \"0.25\", \"tags\": [\"a\", "
               "\"b\"], \"extra\": {\"k\": \"v\"}}",
               ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "opts: ok");
    is_num(used_of(&r, "retries"), 7, "opt_int");
    is_num(used_of(&r, "period_ms"), 90000, "opt_duration_ms");
    is_num(used_of(&r, "verbose"), 1, "opt_bool");
    is_num(used_of(&r, "ratio"), 0.25, "opt_number");
    is_num(used_of(&r, "number"), 18.42, "parse_number trims blanks");
    is_num(used_of(&r, "bad_number"), -1, "parse_number rejects trailers");
    is_num(used_of(&r, "tags"), 2, "opt_list count");
    ok(note_has(&r, "tag a") && note_has(&r, "tag b"), "opt_list items");
    ok(note_has(&r, "extra k=v"), "opt_map");
    is_num(used_of(&r, "state_dir_ok"), 1, "state_dir created 0700");
    is_num(used_of(&r, "remaining_ms"), 1, "remaining_ms positive");
    const metric *t = find_metric(&r, "resets");
    ok(t && t->resets_at.state == MD_KNOWN &&
           t->resets_at.epoch == 1773151200.0,
       "parse_time");
    ok(note_has(&r, "fini saw the init state: yes"), "init state reaches fini");
    collect_result_clear(&r);

    run_plugin("opts", "{\"api_url\": \"u\"}", ISOLATION_PROCESS, 5000, &r);
    is_num(used_of(&r, "retries"), 3, "default applied for int");
    is_num(used_of(&r, "period_ms"), 60000, "default applied for duration");
    is_num(used_of(&r, "verbose"), 0, "default applied for bool");
    is_num(used_of(&r, "ratio"), -1, "unset option without default: unset");
    is_num(used_of(&r, "tags"), -1, "unset list: NULL");
    collect_result_clear(&r);

    char *counter = xasprintf("%s/counter", g_state);
    char *opts = xasprintf("{\"counter_file\": \"%s\"}", counter);
    unlink(counter);
    run_plugin("good", opts, ISOLATION_PROCESS, 5000, &r);
    collect_result_clear(&r);
    run_plugin("good", opts, ISOLATION_PROCESS, 5000, &r);
    collect_result_clear(&r);
    FILE *f = fopen(counter, "r");
    double s1 = 0, e1 = 0, s2 = 0, e2 = 0;
    int n = f ? fscanf(f, "%lf %lf %lf %lf", &s1, &e1, &s2, &e2) : 0;
    if (f)
        fclose(f);
    ok(n == 4 && s1 <= e1 && e1 <= s2 && s2 <= e2,
       "counter_file: one line per run, runs in order");
    free(opts);
    free(counter);
}

/* Dead: gone, or a zombie waiting for whoever adopted it. */
static int process_dead(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

static void test_group_and_start(void)
{
    collect_result r;
    char *pidfile = xasprintf("%s/orphan.pid", g_state);
    char *opts = xasprintf("{\"orphan_pid_file\": \"%s\"}", pidfile);
    run_plugin("good", opts, ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "orphan: collection itself fine");
    collect_result_clear(&r);
    long pid = 0;
    FILE *f = fopen(pidfile, "r");
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    int dead = 0;
    for (int i = 0; pid > 0 && i < 200 && !(dead = process_dead(pid)); i++)
        usleep(10000);
    ok(pid > 0 && dead, "grandchild left in the group is killed at finish");
    free(opts);
    free(pidfile);

    provider_conf *pc = mkpc("good", "good", "{}", ISOLATION_PROCESS);
    char *err = NULL;
    run_handle *h = runner_start(pc, "/nonexistent/meterd", g_state,
                                 mono_ms() + 1000, 0, &err);
    if (h) {
        /* under valgrind --trace-children the exec failure shows up only
         * as the helper's exit status */
        while (runner_fd(h) >= 0 && !runner_read(h))
            usleep(2000);
        reap_like_scheduler(h);
        runner_finish(h, &r);
        ok(r.err == MD_ERR_CRASHED, "missing helper executable: crashed");
        collect_result_clear(&r);
    } else {
        ok(contains(err, "/nonexistent/meterd"),
           "missing helper executable: start fails with a reason");
    }
    free(err);
    err = NULL;
    h = runner_start(pc, g_self, g_state, mono_ms() - 1, 0, &err);
    ok(h == NULL && err != NULL, "deadline already passed: not started");
    free(err);

    json_object_set_new(pc->options, "token", json_string(TOKEN));
    json_array_append_new(pc->secret_options, json_string("token"));
    json_t *job = protocol_job_to_json(pc, "/st/plugins/good", 1234, 0);
    is_str(json_string_value(json_array_get(json_object_get(job, "secrets"),
                                            0)),
           TOKEN, "protocol_job_to_json: secret option values listed as secrets");
    ok(json_is_string(json_object_get(job, "instance")) &&
           json_is_string(json_object_get(job, "plugin_path")) &&
           json_is_object(json_object_get(job, "options")) &&
           json_is_array(json_object_get(job, "secret_options")) &&
           json_is_array(json_object_get(job, "secrets")) &&
           json_is_number(json_object_get(job, "deadline_epoch")),
       "protocol_job_to_json: every field present");
    is_int(json_integer_value(json_object_get(job, "timeout_ms")), 1234,
           "protocol_job_to_json: timeout_ms is the remaining budget");
    is_str(json_string_value(json_object_get(job, "state_dir")),
           "/st/plugins/good", "protocol_job_to_json: state_dir");
    json_decref(job);
    free_pc(pc);
}

/* ------------------------------------------------------------------ */
/* Inline mode                                                         */
/* ------------------------------------------------------------------ */

static void test_inline(void)
{
    collect_result r;
    run_plugin("good", "{\"metrics\": [\"c:credits:usd:-:-:5\"]}",
               ISOLATION_INLINE, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "inline good: ok");
    const metric *c = find_metric(&r, "c");
    is_num(c ? c->remaining.value : -1, 5, "inline good: metric value");
    collect_result_clear(&r);

    long long ms = run_plugin("good",
                              "{\"sleep_ms\": \"1200\", \"metrics\": "
                              "[\"late:credits:usd:-:-:1\"]}",
                              ISOLATION_INLINE, 300, &r);
    is_int(r.err, MD_ERR_TIMEOUT, "inline late: timeout reported");
    is_str(r.err_msg, "collection exceeded its timeout of 300 ms",
           "inline late: message");
    ok(ms < 1000, "inline late: reported at the deadline");
    is_int(r.n_metrics, 0, "inline late: no metrics");
    collect_result_clear(&r);
    /* let the late thread finish: it must not touch the freed handle
     * (ASan/valgrind would say so) */
    usleep(1500 * 1000);
    ok(1, "inline late: thread finished after the handle was freed");

    ms = run_plugin("hang", "{}", ISOLATION_INLINE, 300, &r);
    is_int(r.err, MD_ERR_TIMEOUT, "inline hang: timeout");
    ok(ms < 2300, "inline hang: call returns at the deadline");
    collect_result_clear(&r);
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

static int get(const char *path, size_t cap, long timeout_ms,
               long long remaining, md_http_response **resp)
{
    char *url = xasprintf("http://127.0.0.1:%d%s", g_port, path);
    md_http_request req = {0};
    req.url = url;
    req.max_response_bytes = cap;
    req.timeout_ms = timeout_ms;
    const char *secrets[] = {"larger"};
    int rc = http_perform(&req, remaining, secrets, 1, resp);
    free(url);
    return rc;
}

static void test_http_direct(void)
{
    md_http_response *r;
    is_int(get("/ok", 0, 0, 5000, &r), 0, "http ok: response");
    is_int(r->status, 200, "http ok: status");
    is_str(http_response_header(r, "x-TEST"), "Hello",
           "http ok: header, case-insensitive, trimmed");
    is_str(r->body, "hello none", "http ok: body");
    http_response_free(r);

    is_int(get("/big", 1000, 0, 5000, &r), -1, "http cap: failure");
    is_int(r->error_class, MD_ERR_BAD_DATA, "http cap: bad_data");
    is_int(r->status, 0, "http cap: status 0");
    is_str(r->error, "response [REDACTED] than 1000 bytes",
           "http cap: message (secrets masked)");
    http_response_free(r);
    is_int(get("/big", 0, 0, 5000, &r), 0, "http default cap allows 10 kB");
    is_int(r->body_len, 10000, "http: whole body read");
    http_response_free(r);

    is_int(get("/file", 0, 0, 5000, &r), -1, "redirect to file:// refused");
    is_int(r->error_class, MD_ERR_NETWORK, "redirect to file://: network");
    http_response_free(r);

    is_int(get("/r2", 0, 0, 5000, &r), 0, "three redirects followed");
    ok(r->status == 200 && http_response_header(r, "location") == NULL &&
           strcmp(http_response_header(r, "x-test"), "Hello") == 0,
       "headers are those of the final response");
    http_response_free(r);
    is_int(get("/r3", 0, 0, 5000, &r), -1, "a fourth redirect is refused");
    ok(r->error_class == MD_ERR_NETWORK && contains(r->error, "redirect"),
       "too many redirects: network error naming redirects");
    http_response_free(r);

    long long t0 = mono_ms();
    is_int(get("/slow", 0, 10000, 300, &r), -1, "slow: failure");
    is_int(r->error_class, MD_ERR_TIMEOUT, "slow: timeout class");
    ok(mono_ms() - t0 < 2000, "slow: clamped to the remaining time");
    http_response_free(r);

    is_int(get("/ok", 0, 0, 0, &r), -1, "no time left: fails at once");
    is_int(r->error_class, MD_ERR_TIMEOUT, "no time left: timeout");
    http_response_free(r);

    char *url = xasprintf("http://127.0.0.1:%d/ok", g_port);
    md_http_request req = {0};
    req.url = "http://127.0.0.1:1/";
    is_int(http_perform(&req, 5000, NULL, 0, &r), -1, "refused: failure");
    ok(r->error_class == MD_ERR_NETWORK && r->status == 0 && r->error,
       "refused: network, status 0, error text");
    http_response_free(r);
    free(url);
}

static void test_http_plugin(void)
{
    collect_result r;
    char *opts = xasprintf("{\"url\": \"http://127.0.0.1:%d/ok\", \"token\": "
                           "\"" TOKEN "\"}",
                           g_port);
    run_plugin("http", opts, ISOLATION_PROCESS, 5000, &r);
    is_int(r.err, MD_ERR_NONE, "http plugin: ok");
    is_num(used_of(&r, "status"), 200, "http plugin: status");
    ok(note_has(&r, "x-test=Hello"), "http plugin: header via host");
    ok(note_has(&r, "body=hello Bearer [REDACTED]") && !note_has(&r, TOKEN),
       "http plugin: echoed secret masked");
    collect_result_clear(&r);
    free(opts);

    opts = xasprintf("{\"url\": \"http://127.0.0.1:%d/slow\"}", g_port);
    run_plugin("http", opts, ISOLATION_PROCESS, 400, &r);
    ok(r.err == MD_ERR_TIMEOUT, "http plugin: slow server ends in timeout");
    collect_result_clear(&r);
    free(opts);
}

static void setup(void)
{
    ssize_t n = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    g_self[n > 0 ? n : 0] = '\0';
    snprintf(g_state, sizeof g_state, "/tmp/meterd-runner-t.%d",
             (int)getpid());
    mkdir(g_state, 0700);
    /* Let a SIGSEGV in a helper be a SIGSEGV even under AddressSanitizer. */
    const char *asan = getenv("ASAN_OPTIONS");
    char *opts = xasprintf("%s%shandle_segv=0", asan ? asan : "",
                           asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    free(opts);
    g_port = start_server();
}

static void cleanup(void)
{
    char *cmd = xasprintf("rm -rf '%s'", g_state);
    if (system(cmd) != 0)
        diag_line("could not remove the state directory");
    free(cmd);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);
    setup();
    ok(g_port > 0 && g_self[0], "test setup");
    test_good();
    test_abi_1_1();
    test_failures();
    test_hang_and_crash();
    test_memory_limit();
    test_bad_output();
    test_options();
    test_group_and_start();
    test_inline();
    test_http_direct();
    test_http_plugin();
    cleanup();
    return done_testing();
}
