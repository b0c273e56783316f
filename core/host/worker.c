/*
 * worker.c - one collection in this process (run_job) and the helper
 * process's main (worker_main); see worker.h.  The wire format is
 * protocol.c's, the services a plugin calls are hostctx.c's.
 */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostctx.h"
#include "log.h"
#include "plugin_host.h"
#include "protocol.h"
#include "statefile.h"
#include "timeutil.h"

/* ------------------------------------------------------------------ */
/* One collection                                                      */
/* ------------------------------------------------------------------ */

static void add_job_secrets(md_ctx *ctx, const protocol_job *js,
                            const md_plugin *desc)
{
    size_t i;
    json_t *v;
    json_array_foreach(js->secrets, i, v)
        hostctx_add_secret(ctx, json_string_value(v));
    json_array_foreach(js->secret_options, i, v)
        if (json_is_string(v))
            hostctx_add_secret(ctx, json_string_value(json_object_get(
                                        js->options, json_string_value(v))));
    /* Options the plugin declares secret are masked even if validation
     * did not mark them (defence in depth). */
    for (const md_option *o = desc->options; o && o->name; o++)
        if (o->type == MD_OPT_SECRET)
            hostctx_add_secret(ctx, json_string_value(
                                        json_object_get(js->options, o->name)));
}

/* init, collect, fini; failures without a reason get one. */
static void call_plugin(md_ctx *ctx, const md_plugin *desc)
{
    const md_host *host = hostctx_host();
    void *state = NULL;
    if (desc->init && desc->init(host, ctx, &state) != 0) {
        hostctx_fail(ctx, MD_ERR_INTERNAL,
                     "plugin init failed without a reason");
        return;
    }
    if (desc->collect(host, ctx, state) != 0)
        hostctx_fail(ctx, MD_ERR_INTERNAL,
                     "plugin returned failure without a reason");
    if (desc->fini)
        desc->fini(host, ctx, state);
}

/* No secret is known before the context exists; the daemon masks the
 * result again with every configured secret. */
static void set_error(collect_result *out, md_error cls, const char *msg)
{
    out->err = cls;
    out->err_msg = hostctx_message(msg, NULL, 0);
    out->finished_at = time_now();
}

void run_job(const json_t *job, collect_result *out)
{
    collect_result_init(out);
    out->started_at = time_now();
    long long start = mono_ms();
    protocol_job js;
    char *err = NULL;
    if (protocol_job_from_json(job, &js, &err) != 0) {
        set_error(out, MD_ERR_INTERNAL, err);
        free(err);
        return;
    }
    loaded_plugin lp;
    md_error cls;
    if (plugin_open(js.plugin_path, js.instance, &lp, &cls, &err) != 0) {
        set_error(out, cls, err);
        free(err);
        return;
    }
    hostctx_params hp = {
        .instance = js.instance,
        .desc = lp.desc,
        .options = js.options,
        .state_dir = js.state_dir,
        .deadline_ms = start + js.budget_ms,
        .check_only = 0,
        .usage_generation = js.usage_generation,
    };
    md_ctx *ctx = hostctx_new(&hp);
    add_job_secrets(ctx, &js, lp.desc);
    call_plugin(ctx, lp.desc);
    hostctx_take_result(ctx, out);
    hostctx_free(ctx);
    plugin_close(&lp);
    out->finished_at = time_now();
}

/* ------------------------------------------------------------------ */
/* The helper process                                                  */
/* ------------------------------------------------------------------ */

/* Read all of fd (up to max bytes) into a malloc'd buffer. */
static char *read_all(int fd, size_t max, size_t *len, int *too_big)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    *too_big = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                *too_big = 1;
                break;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

/* The job from fd 0, or NULL with the reason already in *res. */
static json_t *load_job(collect_result *res)
{
    size_t len;
    int too_big;
    char *text = read_all(PROTOCOL_JOB_FD, PROTOCOL_JOB_MAX, &len, &too_big);
    json_error_t jerr;
    json_t *job = too_big ? NULL : json_loadb(text, len, 0, &jerr);
    free(text);
    if (!job) {
        collect_result_init(res);
        res->started_at = res->finished_at = time_now();
        res->err = MD_ERR_INTERNAL;
        res->err_msg = too_big ? xstrdup("job too large")
                               : xasprintf("malformed job: %s", jerr.text);
    }
    return job;
}

/* The helper's own log lines mask the job's secrets and use the daemon's
 * level. */
static void adopt_log_settings(const json_t *job)
{
    protocol_job js;
    if (protocol_job_from_json(job, &js, NULL) != 0)
        return;   /* run_job reports the bad job */
    size_t i;
    json_t *v;
    json_array_foreach(js.secrets, i, v)
        log_add_secret(json_string_value(v));
    if (js.log_level >= 0)
        log_set_level((md_log_level)js.log_level);
}

/* ------------------------------------------------------------------ */
/* The collection process (the supervisor's only direct child)         */
/* ------------------------------------------------------------------ */

/* Set before the plugin runs; read by the fatal-signal handler. */
static int g_note_fd = -1;

/* A fatal signal in the collection process: if the last failed call
 * left errno at ENOMEM (malloc returned NULL under RLIMIT_AS and the
 * plugin used the NULL anyway), tell the supervisor that the memory
 * limit is the likely cause.  Only async-signal-safe calls; the signal
 * is then delivered again with its default action. */
static void on_fatal_signal(int sig)
{
    if (errno == ENOMEM && g_note_fd >= 0) {
        char m = 'M';
        ssize_t rc = write(g_note_fd, &m, 1);
        (void)rc;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void set_limit(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    setrlimit(resource, &rl);
}

/* Limits of one collection: address space from the job, CPU time from
 * its budget (the deadline kill normally comes first; the CPU limit also
 * holds while the supervisor or the daemon cannot act). */
static void apply_limits(const json_t *job)
{
    protocol_job js;
    if (protocol_job_from_json(job, &js, NULL) != 0)
        return;
    rlim_t mem = js.memory_limit > 0 ? (rlim_t)js.memory_limit
                                     : (rlim_t)WORKER_DEFAULT_MEMORY_LIMIT;
#ifndef __SANITIZE_ADDRESS__
    /* AddressSanitizer's shadow memory is terabytes of address space: a
     * sanitizer build (t/meterd-asan) runs without this one limit. */
    set_limit(RLIMIT_AS, mem, mem);
#else
    (void)mem;
#endif
    rlim_t cpu = (rlim_t)(js.budget_ms / 1000 + 2);
    set_limit(RLIMIT_CPU, cpu, cpu + 1);
}

static void install_fatal_handlers(int note_fd)
{
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
    g_note_fd = note_fd;
    /* An alternate stack: a fault may come from stack exhaustion. */
    static char altstack[16384];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
}

/* The collection process: runs the job and writes its result; its exit
 * status is the supervisor's business.  Never returns. */
static void collection_main(json_t *job, pid_t supervisor, int note_fd,
                            const sigset_t *orig_mask)
{
    /* The supervisor dies: so do we, at once (PR_SET_PDEATHSIG survives
     * exec, and is re-checked: the supervisor may be gone already). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor)
        _exit(1);
    sigprocmask(SIG_SETMASK, orig_mask, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    apply_limits(job);
    install_fatal_handlers(note_fd);
    collect_result res;
    adopt_log_settings(job);
    /* libcurl is loaded and initialised at the first request
     * (http_client.c, curl_lazy.c): a collection that does no HTTP - the
     * log plugins - never maps it. */
    run_job(job, &res);
    json_decref(job);
    size_t len;
    char *text = protocol_result_encode(&res, &len);
    int rc = text && write_all(PROTOCOL_RESULT_FD, text, len) == 0 ? 0 : 1;
    close(PROTOCOL_RESULT_FD);
    free(text);
    collect_result_release(&res);
    log_clear_secrets();
    /* exit(), not _exit(): a plugin's destructors run as they would in
     * any process. */
    exit(rc);
}

/* ------------------------------------------------------------------ */
/* The supervisor                                                      */
/* ------------------------------------------------------------------ */

/* The pids of our children (as a subreaper: every orphaned descendant
 * too), from /proc/self/task/<tid>/children.  Returns how many fit. */
static size_t list_children(pid_t *out, size_t max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "re");
    size_t n = 0;
    if (!f)
        return 0;
    long pid;
    while (n < max && fscanf(f, "%ld", &pid) == 1)
        out[n++] = (pid_t)pid;
    fclose(f);
    return n;
}

/* Kill every descendant and reap it, bounded by WORKER_KILL_MS.  A child
 * that leads a process group (the exec plugin's command, a setsid()
 * escapee) has its whole group killed too, so members that were not
 * reparented to us yet die in the same step; their orphans come to us
 * (we are a subreaper) and die in the next round. */
static void kill_descendants(pid_t *collector, int *collector_status)
{
    long long end = mono_ms() + WORKER_KILL_MS;
    pid_t kids[256];
    for (;;) {
        size_t n = list_children(kids, sizeof kids / sizeof kids[0]);
        for (size_t i = 0; i < n; i++) {
            if (getpgid(kids[i]) == kids[i])
                kill(-kids[i], SIGKILL);
            kill(kids[i], SIGKILL);
        }
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == *collector) {
                *collector_status = st;
                *collector = 0;
            }
        if (w < 0 && errno == ECHILD)
            return;
        if (mono_ms() >= end)
            return;
        usleep(2000);
    }
}

/* The crash result the supervisor writes when the collection process
 * ended without one (a signal, exit() in a plugin). */
static void report_collection_end(int status, int memory_note,
                                  long long memory_limit)
{
    collect_result res;
    collect_result_init(&res);
    res.started_at = res.finished_at = time_now();
    res.err = MD_ERR_CRASHED;
    char sig[32] = "";
    if (WIFSIGNALED(status)) {
        int s = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(s);
        if (abbrev)
            snprintf(sig, sizeof sig, "SIG%s", abbrev);
        else
            snprintf(sig, sizeof sig, "signal %d", s);
        if (s == SIGXCPU)
            res.err_msg = xasprintf("helper process died of %s (CPU time "
                                    "limit reached)", sig);
        else if (memory_note)
            res.err_msg = xasprintf("helper process died of %s (memory limit "
                                    "%lld MiB reached: an allocation failed)",
                                    sig, memory_limit >> 20);
        else
            res.err_msg = xasprintf("helper process died of %s", sig);
    } else {
        res.err_msg = xasprintf("helper process exited with status %d "
                                "without a result",
                                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    size_t len;
    char *text = protocol_result_encode(&res, &len);
    if (text)
        write_all(PROTOCOL_RESULT_FD, text, len);
    free(text);
    collect_result_release(&res);
}

static long long job_memory_limit(const json_t *job)
{
    protocol_job js;
    if (protocol_job_from_json(job, &js, NULL) != 0 || js.memory_limit <= 0)
        return WORKER_DEFAULT_MEMORY_LIMIT;
    return js.memory_limit;
}

/* "--parent=PID" among the arguments: the daemon that spawned us. */
static pid_t parent_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--parent=", 9) == 0)
            return (pid_t)atol(argv[i] + 9);
    return 0;
}

static void become_supervisor(int argc, char **argv)
{
    /* Our parent dies (kill -9 of the daemon): we get SIGTERM, which our
     * loop turns into killing everything below us.  Set first, then
     * checked: the daemon may have died before the prctl. */
    pid_t parent = parent_arg(argc, argv);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (parent > 0 && getppid() != parent)
        _exit(1);
    /* Orphans of the plugin (double forks, setsid()) become ours, not
     * init's, so they can be found and killed. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

int worker_main(int argc, char **argv)
{
    become_supervisor(argc, argv);
    signal(SIGPIPE, SIG_DFL);
    /* Commands a plugin runs must not inherit the result channel: they
     * could keep it open after we exit. */
    fcntl(PROTOCOL_RESULT_FD, F_SETFD, FD_CLOEXEC);
    /* Signals are taken synchronously (sigtimedwait): blocked from here. */
    sigset_t waited, orig;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGHUP);
    sigprocmask(SIG_BLOCK, &waited, &orig);
    collect_result res;
    json_t *job = load_job(&res);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, PROTOCOL_JOB_FD);   /* the job socket is done with */
        close(null_fd);
    }
    if (!job) {
        size_t len;
        char *text = protocol_result_encode(&res, &len);
        int rc = text && write_all(PROTOCOL_RESULT_FD, text, len) == 0 ? 0 : 1;
        free(text);
        collect_result_release(&res);
        return rc;
    }
    long long memory_limit = job_memory_limit(job);
    int note[2];
    if (pipe2(note, O_CLOEXEC | O_NONBLOCK) != 0)
        note[0] = note[1] = -1;
    pid_t self = getpid();
    pid_t collector = fork();
    if (collector == 0) {
        if (note[0] >= 0)
            close(note[0]);
        collection_main(job, self, note[1], &orig);
    }
    json_decref(job);
    if (note[1] >= 0)
        close(note[1]);
    if (collector < 0) {
        collect_result_init(&res);
        res.err = MD_ERR_INTERNAL;
        res.err_msg = xasprintf("cannot start the collection process: %s",
                                strerror(errno));
        size_t len;
        char *text = protocol_result_encode(&res, &len);
        if (text)
            write_all(PROTOCOL_RESULT_FD, text, len);
        free(text);
        collect_result_release(&res);
        return 1;
    }
    int status = 0, stopped = 0;
    while (collector > 0 && !stopped) {
        struct timespec tick = {.tv_sec = 1};
        int sig = sigtimedwait(&waited, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            stopped = 1;   /* the daemon's kill, or the daemon died */
            break;
        }
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == collector) {
                status = st;
                collector = 0;
            }
    }
    /* Whatever the collection started dies with it. */
    kill_descendants(&collector, &status);
    int memory_note = 0;
    char c;
    if (note[0] >= 0) {
        memory_note = read(note[0], &c, 1) == 1;
        close(note[0]);
    }
    if (stopped)
        return 128 + SIGTERM;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        report_collection_end(status, memory_note, memory_limit);
    return 0;
}
