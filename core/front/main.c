/* main.c - command line, signals and the daemon's lifecycle: option
 * parsing, loading the configuration, daemon set-up and tear-down, the
 * daemon and --once runs, reload and shutdown.  The subcommands are
 * cli_report.c (report), cli_test.c (-t), cli_status.c and cli_check.c. */
#include "main_int.h"

#include "httpd.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_check.h"
#include "cli_status.h"
#include "conventions.h"
#include "ingest.h"
#include "log.h"
#include "plugin_check.h"
#include "probe.h"
#include "render.h"
#include "sdnotify.h"
#include "securepath.h"
#include "timeutil.h"
#include "history.h"
#include "usage_store.h"
#include "worker.h"

/* Signal handlers only set flags and write to the wake pipe; this is the
 * one process-wide pointer they need. */
static daemon_t *g_daemon;
/* The HTTP server of the running daemon (NULL in once mode and before
 * it starts): a reload hands it the new allowed_hosts. */
static httpd *g_httpd;
/* The service manager's notification socket (off when not run by one). */
static sdnotify g_notify;

static void notify(const char *message)
{
    char *err = NULL;
    if (sdnotify_send(&g_notify, message, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "%s", err);
        free(err);
    }
}

static void on_signal(int sig)
{
    int saved = errno;
    if (g_daemon) {
        if (sig == SIGCHLD) {
            scheduler_child_exited(g_daemon);
        } else {
            if (sig == SIGHUP)
                g_daemon->reload = 1;
            else
                g_daemon->stop = 1;
            scheduler_wake(g_daemon);
        }
    }
    errno = saved;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meterd [-c FILE] [-t] [--once] [-v] [-V] [-h]\n"
            "       meterd status [-c FILE] [--url URL] [--json] [--no-color]\n"
            "       meterd check FAMILY [--min-remaining N|N%%] [--quiet]\n"
            "                           [-c FILE] [--url URL]\n"
            "       meterd report daily [-c FILE] [--provider NAME] [--since D]\n"
            "                           [--until D] [--tz TZ] [--json] [-v]\n"
            "       meterd report cost [-c FILE] [--provider NAME] [--since D]\n"
            "                          [--until D] [--by day|model|provider]\n"
            "                          [--tz TZ] [--json] [-v]\n"
            "  -c FILE   configuration file (default %s/meterd.yaml)\n"
            "  -t        check the configuration, drop-ins, aliases and plugins; exit\n"
            "  --once    collect every provider once, print the usage JSON, exit\n"
            "  -v        verbose: debug logging; with -t print the merged config\n"
            "  -V        print the version and exit\n"
            "  -h        this help\n"
            "  report daily  per-day token usage (local logs and ingest), after\n"
            "            scanning the log providers once; D is YYYY-MM-DD, TZ\n"
            "            UTC, +05:30 or an IANA name; --json prints the API's JSON\n"
            "  report cost   cost in US dollars over the range, per day, model or\n"
            "            provider, with a total; '-' (JSON null) and a reason when\n"
            "            a cost is unknown\n",
            METERD_CONFDIR);
}

/* isolation: inline runs plugin code in the daemon: a plugin's exit() or
 * endless loop would take the daemon with it.  Only `meterd --once`, a
 * debugging run, accepts it. */
static void refuse_inline(const config *cfg, diag_list *diags)
{
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const provider_conf *pc = &cfg->providers[i];
        if (pc->enabled && pc->isolation == ISOLATION_INLINE)
            diag_add(diags, pc->file, pc->line, pc->col,
                     "provider '%s': isolation: inline runs the plugin inside "
                     "the daemon, where its exit() or endless loop would "
                     "stop it; it is accepted only with --once (debugging)",
                     pc->name);
    }
}

/* Load config + validate plugins; print every problem. NULL on failure.
 * With strict (meterd -t) a plugin that cannot be loaded is an error;
 * otherwise it is a warning and only that provider fails (class abi or
 * config) while the others run.  allow_inline: `meterd --once`. */
static store_opening *store_opening_start(const config *cfg);

static config *load_config_with(const char *path, int strict,
                                int allow_inline, int cached,
                                char **first_error, store_opening **op)
{
    diag_list diags = {0}, load_errors = {0};
    config *cfg = config_load(path, METERD_PLUGINDIR, METERD_STATEDIR, &diags);
    if (cfg && !allow_inline)
        refuse_inline(cfg, &diags);
    if (cfg && op && diags.n == 0)
        *op = store_opening_start(cfg);
    if (cfg && cached)
        plugin_check_config_cached(cfg, &diags, strict ? NULL : &load_errors);
    else if (cfg)
        plugin_check_config(cfg, &diags, strict ? NULL : &load_errors);
    for (size_t i = 0; i < load_errors.n; i++) {
        char *line = diag_format(&load_errors.items[i]);
        log_msg(MD_LOG_WARN, NULL, "%s; that provider will not collect", line);
        free(line);
    }
    diag_clear(&load_errors);
    if (diags.n == 0) {
        /* Every caller adopts the config it gets (start, reload, report,
         * -t), so its price overrides take effect here. */
        config_install_pricing(cfg);
        return cfg;
    }
    for (size_t i = 0; i < diags.n; i++) {
        char *line = diag_format(&diags.items[i]);
        if (first_error && i == 0)
            *first_error = xstrdup(line);
        log_msg(MD_LOG_ERROR, NULL, "%s", line);
        free(line);
    }
    diag_clear(&diags);
    config_free(cfg);
    return NULL;
}

config *load_config(const char *path, int strict, int allow_inline,
                    char **first_error)
{
    return load_config_with(path, strict, allow_inline, 0, first_error, NULL);
}

config *load_config_report(const char *path)
{
    return load_config_with(path, 0, 0, 1, NULL, NULL);
}

config *load_config_report_opening(const char *path, store_opening **op)
{
    *op = NULL;
    return load_config_with(path, 0, 0, 1, NULL, op);
}

static void register_secrets(const config *cfg)
{
    log_clear_secrets();
    for (size_t i = 0; i < cfg->n_secrets; i++)
        log_add_secret(cfg->secrets[i]);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static void reload(daemon_t *d)
{
    log_msg(MD_LOG_INFO, NULL, "SIGHUP: reloading %s", d->cfg->path);
    char *first = NULL;
    config *cfg = load_config(d->cfg->path, 0, d->once, &first);
    if (!cfg) {
        state_reload_failed(d, first);
        log_msg(MD_LOG_ERROR, NULL, "reload failed; keeping the running configuration");
        return;
    }
    if (strcmp(cfg->listen, d->cfg->listen) != 0)
        log_msg(MD_LOG_WARN, NULL, "listen changed to %s: restart meterd to apply it",
                cfg->listen);
    httpd_reconfigure(g_httpd, cfg);
    if (mkdir_p(cfg->state_dir, 0700) != 0)
        log_msg(MD_LOG_WARN, NULL, "cannot create state_dir %s: %s", cfg->state_dir,
                strerror(errno));
    register_secrets(cfg);
    if (d->usage) {
        usage_store_set_retention(d->usage, cfg->usage_retention_ms);
        history_set_policy(usage_store_history(d->usage), cfg->sample_every_ms,
                           cfg->history_retention_ms);
    }
    state_swap_config(d, cfg);
    size_t n = d->n_ps;
    log_msg(MD_LOG_INFO, NULL, "configuration reloaded: %zu providers", n);
}

/* A reload as the service manager sees it: RELOADING=1 (with the
 * monotonic time it asks for) before, READY=1 after, whether the new
 * configuration was taken or refused. */
static void reload_notified(daemon_t *d)
{
    char *err = NULL;
    if (sdnotify_reloading(&g_notify, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "%s", err);
        free(err);
    }
    reload(d);
    notify("READY=1");
}

/* SIGCHLD only raises a flag and wakes the scheduler, which then reaps
 * the helpers it knows with non-blocking waits (scheduler.c). */
int install_signals(daemon_t *d)
{
    g_daemon = d;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
        sigaction(SIGHUP, &sa, NULL))
        return -1;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL))
        return -1;
    sa.sa_flags = 0;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* The usage store of cfg's state_dir, loaded (a corrupt usage.json is
 * moved aside with a warning, like the snapshot); meta_only: without the
 * cells (the report reads them from the database). */
/* What opening a store takes from a config. */
typedef struct store_args {
    char *state_dir;   /* owned */
    long long usage_retention_ms, sample_every_ms, history_retention_ms;
} store_args;

static usage_store *store_open(const store_args *a, int meta_only)
{
    usage_store *u = usage_store_new(a->state_dir, a->usage_retention_ms);
    history_set_policy(usage_store_history(u), a->sample_every_ms,
                       a->history_retention_ms);
    char *err = NULL;
    int rc = meta_only ? usage_store_load_meta(u, time_now(), &err)
                       : usage_store_load(u, time_now(), &err);
    if (rc < 0) {
        log_msg(MD_LOG_WARN, NULL, "%s; starting with empty usage history",
                err ? err : "corrupt usage store");
        free(err);
    } else if (rc == 0) {
        log_msg(MD_LOG_DEBUG, NULL, "loaded usage history: %zu cells",
                usage_store_count(u, NULL));
    }
    return u;
}

usage_store *open_usage_store(const config *cfg, int meta_only)
{
    store_args a = {cfg->state_dir, cfg->usage_retention_ms,
                    cfg->sample_every_ms, cfg->history_retention_ms};
    return store_open(&a, meta_only);
}

struct store_opening {
    store_args a;
    pthread_t tid;
    usage_store *u;    /* the thread's result */
};

static void *store_opening_main(void *arg)
{
    store_opening *op = arg;
    op->u = store_open(&op->a, 1);
    return NULL;
}

/* NULL when no thread can be made: the caller opens the store itself. */
static store_opening *store_opening_start(const config *cfg)
{
    store_opening *op = xcalloc(1, sizeof *op);
    op->a = (store_args){xstrdup(cfg->state_dir), cfg->usage_retention_ms,
                         cfg->sample_every_ms, cfg->history_retention_ms};
    if (pthread_create(&op->tid, NULL, store_opening_main, op) != 0) {
        free(op->a.state_dir);
        free(op);
        return NULL;
    }
    return op;
}

usage_store *usage_store_opened(store_opening *op)
{
    if (!op)
        return NULL;
    pthread_join(op->tid, NULL);
    usage_store *u = op->u;
    free(op->a.state_dir);
    free(op);
    return u;
}

/* Whether dir takes new files: access(2) also says EROFS for root on a
 * read-only file system, where the mode bits would not. */
int state_dir_writable(const char *dir, char **err)
{
    if (access(dir, W_OK | X_OK) == 0)
        return 0;
    return err_set(err, "state_dir %s is not writable: %s (usage, ingest ids "
                        "and the snapshot cannot be saved)", dir,
                   strerror(errno));
}

/* usage: the store to use (owned by d from now on), or NULL to open it.
 * report: set up for `meterd report` (main_int.h). */
static int setup(daemon_t *d, config *cfg, usage_store *usage, int report)
{
    memset(d, 0, sizeof *d);
    d->usage = usage;
    pthread_mutex_init(&d->lock, NULL);
    d->started_at = time_now();
    if (pipe2(d->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_msg(MD_LOG_ERROR, NULL, "pipe: %s", strerror(errno));
        return -1;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        log_msg(MD_LOG_ERROR, NULL, "cannot find my own binary: %s", strerror(errno));
        return -1;
    }
    exe[n] = '\0';
    d->self_exe = xstrdup(exe);
    if (mkdir_p(cfg->state_dir, 0700) != 0) {
        log_msg(MD_LOG_ERROR, NULL, "cannot create state_dir %s: %s", cfg->state_dir,
                strerror(errno));
        return -1;
    }
    char *err = NULL;
    if (private_dir_check(cfg->state_dir, &err) != 0) {
        log_msg(MD_LOG_ERROR, NULL, "%s", err);
        free(err);
        return -1;
    }
    if (state_dir_writable(cfg->state_dir, &err) != 0) {
        /* Served anyway (live data needs no disk); /healthz says degraded
         * and POST /api/telemetry answers 503 until it is writable. */
        log_msg(MD_LOG_ERROR, NULL, "%s", err);
        free(err);
        err = NULL;
    }
    register_secrets(cfg);
    if (!d->usage)
        d->usage = open_usage_store(cfg, 0);
    if (report) {
        /* Without restored alert states an evaluation would see every
         * meter anew: no command may announce that. */
        for (char **a = cfg->forecast.notify_argv; a && *a; a++)
            free(*a);
        free(cfg->forecast.notify_argv);
        cfg->forecast.notify_argv = NULL;
    }
    state_init(d, cfg);
    if (report)
        state_publish(d);
    else
        state_load_snapshot(d);
    ingest_load(d);
    return 0;
}

int daemon_setup(daemon_t *d, config *cfg, usage_store *usage)
{
    return setup(d, cfg, usage, 0);
}

int daemon_setup_report(daemon_t *d, config *cfg, usage_store *usage)
{
    return setup(d, cfg, usage, 1);
}

void daemon_teardown(daemon_t *d)
{
    g_daemon = NULL;
    state_release(d);
    ingest_free(d);
    usage_store_free(d->usage);
    d->usage = NULL;
    close(d->wake_pipe[0]);
    close(d->wake_pipe[1]);
    free(d->self_exe);
    free(d->last_reload_error);
    pthread_mutex_destroy(&d->lock);
    log_clear_secrets();
}

static int run_once(daemon_t *d)
{
    d->once = 1;
    for (size_t i = 0; i < d->n_ps; i++)
        d->ps[i].sched.force = 1;
    scheduler_run(d, reload);
    scheduler_kill_all(d);
    view_set *vs = view_set_acquire(d);
    double now = time_now();
    provider_view *v = view_set_views_at(vs, now);
    usage_meta meta = {.data_source = "live_refresh"};
    render_opts o = {0, 0};
    json_t *doc = render_usage(v, vs->n, o, &meta, now);
    free(v);
    view_set_release(vs);
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(doc);
    fputc('\n', stdout);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

/* The soft open-file limit up to the hard one: every HTTP connection is
 * a descriptor, and a soft limit of 1024 (a common default) is reached
 * by 1024 idle clients, after which accept() fails for everyone.  Only
 * the soft limit changes, so no privilege is needed; poll and epoll have
 * no FD_SETSIZE ceiling. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_msg(MD_LOG_WARN, NULL, "cannot raise the open file limit from "
                "%llu: %s", (unsigned long long)was, strerror(errno));
}

static int run_daemon(daemon_t *d)
{
    raise_nofile();
    char *err = NULL;
    if (sdnotify_open(&g_notify, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "%s", err);
        free(err);
        err = NULL;
    }
    /* Signals are the main thread's: the HTTP threads start with them
     * blocked (they inherit this mask), so a SIGCHLD per helper exit never
     * interrupts their socket calls. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    httpd *h = httpd_start(d, &err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    g_httpd = h;
    if (!h) {
        log_msg(MD_LOG_ERROR, NULL, "%s", err);
        free(err);
        return 1;
    }
    log_msg(MD_LOG_INFO, NULL, "meterd %s listening on http://%s (%zu providers)",
            METERD_VERSION, httpd_address(h), d->n_ps);
    /* Ready: the listener answers and the snapshot (daemon_setup) is
     * loaded, so the first request already gets the last known data. */
    char *ready = xasprintf("READY=1\nSTATUS=listening on %s", httpd_address(h));
    notify(ready);
    free(ready);
    scheduler_run(d, reload_notified);
    notify("STOPPING=1");
    log_msg(MD_LOG_INFO, NULL, "shutting down");
    /* Order: kill and reap the helpers and resolve every forced refresh
     * (resuming its connection), refuse further messages while answering
     * the queued ones, then stop the HTTP threads. */
    scheduler_kill_all(d);
    state_close_mailbox(d);
    g_httpd = NULL;
    httpd_stop(h);
    state_save_snapshot(d);
    state_save_usage(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--probe") == 0)
        return probe_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return cli_report_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "status") == 0)
        return cli_status_main(argc - 1, argv + 1, METERD_CONFDIR "/meterd.yaml");
    if (argc > 1 && strcmp(argv[1], "check") == 0)
        return cli_check_main(argc - 1, argv + 1, METERD_CONFDIR "/meterd.yaml");

    static const struct option longopts[] = {
        {"once", no_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    const char *path = METERD_CONFDIR "/meterd.yaml";
    int check = 0, once = 0, verbose = 0, c;
    while ((c = getopt_long(argc, argv, "c:tvVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 't': check = 1; break;
        case 'o': once = 1; break;
        case 'v': verbose = 1; break;
        case 'V': printf("meterd %s (plugin ABI %d.%d)\n", METERD_VERSION,
                         MD_ABI_MAJOR, MD_ABI_MINOR);
                  return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (verbose && !check)
        log_set_level(MD_LOG_DEBUG);

    if (check)
        return cli_test_main(path, verbose);
    config *cfg = load_config(path, 0, once, NULL);
    if (!cfg)
        return 1;

    static daemon_t d;
    if (daemon_setup(&d, cfg, NULL) != 0)
        return 1;
    if (install_signals(&d) != 0) {
        log_msg(MD_LOG_ERROR, NULL, "sigaction: %s", strerror(errno));
        return 1;
    }
    int rc = once ? run_once(&d) : run_daemon(&d);
    daemon_teardown(&d);
    return rc;
}
