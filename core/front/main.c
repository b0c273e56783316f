/* main.c - command line, signals and the daemon's lifecycle. */
#include "daemon.h"
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
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
#include "tz.h"
#include "history.h"
#include "usage_store.h"
#include "worker.h"

#ifndef METERD_CONFDIR
#define METERD_CONFDIR "/usr/local/etc/meterd"
#endif
#ifndef METERD_PLUGINDIR
#define METERD_PLUGINDIR "/usr/local/lib/meterd"
#endif
#ifndef METERD_STATEDIR
#define METERD_STATEDIR "/usr/local/var/lib/meterd"
#endif

/* Signal handlers only set flags and write to the wake pipe; this is the
 * one process-wide pointer they need. */
static daemon_t *g_daemon;
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
static config *load_config(const char *path, int strict, int allow_inline,
                           char **first_error)
{
    diag_list diags = {0}, load_errors = {0};
    config *cfg = config_load(path, METERD_PLUGINDIR, METERD_STATEDIR, &diags);
    if (cfg && !allow_inline)
        refuse_inline(cfg, &diags);
    if (cfg)
        plugin_check_config(cfg, &diags, strict ? NULL : &load_errors);
    for (size_t i = 0; i < load_errors.n; i++) {
        char *line = diag_format(&load_errors.items[i]);
        log_msg(MD_LOG_WARN, NULL, "%s; that provider will not collect", line);
        free(line);
    }
    diag_free(&load_errors);
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
    diag_free(&diags);
    config_free(cfg);
    return NULL;
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
static int install_signals(void)
{
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
static usage_store *open_usage_store(const config *cfg, int meta_only)
{
    usage_store *u = usage_store_new(cfg->state_dir, cfg->usage_retention_ms);
    history_set_policy(usage_store_history(u), cfg->sample_every_ms,
                       cfg->history_retention_ms);
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

/* Whether dir takes new files: access(2) also says EROFS for root on a
 * read-only file system, where the mode bits would not. */
static int state_dir_writable(const char *dir, char **err)
{
    if (access(dir, W_OK | X_OK) == 0)
        return 0;
    return err_set(err, "state_dir %s is not writable: %s (usage, ingest ids "
                        "and the snapshot cannot be saved)", dir,
                   strerror(errno));
}

/* usage: the store to use (owned by d from now on), or NULL to open it. */
static int daemon_setup(daemon_t *d, config *cfg, usage_store *usage)
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
    state_init(d, cfg);
    state_load_snapshot(d);
    ingest_load(d);
    return 0;
}

static void daemon_teardown(daemon_t *d)
{
    g_daemon = NULL;
    state_free(d);
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
    usage_meta meta = {"live_refresh", NULL, NULL, 0};
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
    httpd_stop(h);
    state_save_snapshot(d);
    state_save_usage(d);
    return 0;
}

/* ---- meterd report daily | cost ---- */

typedef struct report_opts {
    const char *path, *provider, *since, *until, *tz;
    const char *by;     /* report cost: day, model or provider */
    int json, verbose, cost;
} report_opts;

static void report_usage(FILE *out)
{
    fprintf(out, "usage: meterd report daily [-c FILE] [--provider NAME] "
                 "[--since YYYY-MM-DD]\n"
                 "                           [--until YYYY-MM-DD] [--tz TZ] "
                 "[--json] [-v]\n"
                 "       meterd report cost [-c FILE] [--provider NAME] "
                 "[--since YYYY-MM-DD]\n"
                 "                          [--until YYYY-MM-DD] "
                 "[--by day|model|provider] [--tz TZ]\n"
                 "                          [--json] [-v]\n");
}

/* 0, or 2 after printing a usage error. */
static int report_parse(int argc, char **argv, report_opts *o)
{
    static const struct option longopts[] = {
        {"provider", required_argument, NULL, 'p'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"tz", required_argument, NULL, 'z'},
        {"json", no_argument, NULL, 'j'},
        {"by", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->path = METERD_CONFDIR "/meterd.yaml";
    o->tz = "UTC";
    o->by = "day";
    if (argc < 2 ||
        (strcmp(argv[1], "daily") != 0 && strcmp(argv[1], "cost") != 0)) {
        fprintf(stderr, "meterd report: the reports are 'daily' and 'cost'\n");
        report_usage(stderr);
        return 2;
    }
    o->cost = strcmp(argv[1], "cost") == 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->path = optarg; break;
        case 'p': o->provider = optarg; break;
        case 's': o->since = optarg; break;
        case 'u': o->until = optarg; break;
        case 'z': o->tz = optarg; break;
        case 'j': o->json = 1; break;
        case 'b': o->by = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'h': report_usage(stdout); exit(0);
        default: report_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        report_usage(stderr);
        return 2;
    }
    if (strcmp(o->by, "day") != 0 && strcmp(o->by, "model") != 0 &&
        strcmp(o->by, "provider") != 0) {
        fprintf(stderr, "meterd report: --by: '%s' is not day, model or "
                        "provider\n", o->by);
        return 2;
    }
    if (!o->cost && strcmp(o->by, "day") != 0) {
        fprintf(stderr, "meterd report: --by is for 'report cost'\n");
        return 2;
    }
    long day_s = 0, day_u = 0;
    const char *bad = o->since && usage_parse_date(o->since, &day_s) != 0 ? "since"
                      : o->until && usage_parse_date(o->until, &day_u) != 0 ? "until"
                                                                              : NULL;
    if (bad) {
        fprintf(stderr, "meterd report: --%s: not a date (YYYY-MM-DD)\n", bad);
        return 2;
    }
    if (o->since && o->until && day_s > day_u) {
        fprintf(stderr, "meterd report: --since is after --until\n");
        return 2;
    }
    char *err = NULL;
    tz_zone *z = tz_load(o->tz, &err);
    if (!z) {
        fprintf(stderr, "meterd report: --tz: %s\n", err);
        free(err);
        return 2;
    }
    tz_free(z);
    return 0;
}

/* Does the provider's plugin declare usage cells (md_plugin.produces,
 * ABI 1.3)?  plugin_check_config() learnt it from the probe; a plugin
 * that does not load declares nothing. */
static int produces_usage_cells(const provider_conf *pc)
{
    return (pc->produces & MD_PRODUCES_USAGE_CELLS) != 0;
}

/* Which providers the report runs: enabled ones whose plugin declares
 * that it produces usage cells, or that already handed the store usage
 * cells (a plugin from before ABI 1.3 using put_usage); with --provider
 * only that one.  Every other provider is disabled in this process's
 * config copy, so the report never calls a remote API.  Returns how many
 * run. */
static size_t report_select(config *cfg, const usage_store *u,
                            const char *only)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        provider_conf *pc = &cfg->providers[i];
        int run = pc->enabled && (!only || strcmp(pc->name, only) == 0) &&
                  (usage_store_has_plugin_cells(u, pc->name) ||
                   produces_usage_cells(pc));
        pc->enabled = run;
        n += run != 0;
    }
    return n;
}

static void report_no_reload(daemon_t *d) { (void)d; }

/* ---- the table ---- */

static char *cell_text(const json_t *v, int is_cost)
{
    if (!json_is_number(v))
        return xstrdup("-");
    double x = json_number_value(v);
    return is_cost ? xasprintf("%.2f", x) : xasprintf("%.0f", x);
}

#define REPORT_COLS 8

static void table_row(char ***rows, size_t *n, const char *label,
                      const json_t *o)
{
    static const char *const keys[REPORT_COLS - 1] = {
        "tokens_input_uncached", "tokens_cache_read", "tokens_cache_write",
        "tokens_output", "tokens_reasoning", "tokens_total", "cost_usd"};
    *rows = xrealloc(*rows, (*n + 1) * REPORT_COLS * sizeof **rows);
    char **r = *rows + *n * REPORT_COLS;
    r[0] = xstrdup(label);
    for (int k = 0; k < REPORT_COLS - 1; k++)
        r[k + 1] = cell_text(json_object_get(o, keys[k]), k == REPORT_COLS - 2);
    (*n)++;
}

/* The TOTAL row: a column is known only when every day's value is. */
static json_t *table_total(const json_t *days)
{
    json_t *t = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(json_array_get(days, 0), key, v) {
        if (!json_is_number(v) && !json_is_null(v))
            continue;
        double sum = 0;
        int known = 1;
        size_t i;
        json_t *day;
        json_array_foreach(days, i, day) {
            json_t *x = json_object_get(day, key);
            known &= json_is_number(x);
            sum += json_is_number(x) ? json_number_value(x) : 0;
        }
        json_object_set_new(t, key, known ? json_real(sum) : json_null());
    }
    return t;
}

static void print_table(const json_t *doc, FILE *out)
{
    static const char *const head[REPORT_COLS] = {
        "date", "input", "cache read", "cache write", "output", "reasoning",
        "total", "cost USD"};
    json_t *days = json_object_get(doc, "days");
    if (json_array_size(days) == 0) {
        fprintf(out, "no usage recorded in this range\n");
        return;
    }
    char **rows = NULL;
    size_t n = 0, i;
    json_t *day;
    json_array_foreach(days, i, day)
        table_row(&rows, &n, json_string_value(json_object_get(day, "date")), day);
    json_t *total = table_total(days);
    table_row(&rows, &n, "TOTAL", total);
    json_decref(total);
    size_t w[REPORT_COLS];
    for (int k = 0; k < REPORT_COLS; k++) {
        w[k] = strlen(head[k]);
        for (size_t r = 0; r < n; r++)
            if (strlen(rows[r * REPORT_COLS + k]) > w[k])
                w[k] = strlen(rows[r * REPORT_COLS + k]);
    }
    for (int k = 0; k < REPORT_COLS; k++)
        fprintf(out, k ? "  %*s" : "%-*s", (int)w[k], head[k]);
    fputc('\n', out);
    for (size_t r = 0; r < n; r++) {
        for (int k = 0; k < REPORT_COLS; k++)
            fprintf(out, k ? "  %*s" : "%-*s", (int)w[k], rows[r * REPORT_COLS + k]);
        fputc('\n', out);
    }
    fprintf(out, "time zone %s; '-' = unknown (not reported by every "
                 "source), never 0\n",
            json_string_value(json_object_get(doc, "tz")));
    for (size_t r = 0; r < n * REPORT_COLS; r++)
        free(rows[r]);
    free(rows);
}

/* The cost table: one line per row, then TOTAL; an unknown cost is
 * '-' with its reason at the end of the line. */
static void print_cost_table(const json_t *doc, FILE *out)
{
    json_t *rows = json_object_get(doc, "rows");
    const char *by = json_string_value(json_object_get(doc, "by"));
    const char *key = strcmp(by, "day") == 0 ? "date" : by;
    if (json_array_size(rows) == 0) {
        fprintf(out, "no usage recorded in this range\n");
        return;
    }
    size_t n = json_array_size(rows) + 1, w[3] = {strlen(key), 6, 8};
    char **cells = xcalloc(n * 4, sizeof *cells);
    for (size_t r = 0; r < n; r++) {
        const json_t *o = r + 1 < n ? json_array_get(rows, r)
                                    : json_object_get(doc, "total");
        const char *name = r + 1 < n ? json_string_value(json_object_get(o, key))
                                     : "TOTAL";
        const char *note = json_string_value(json_object_get(o, "cost_note"));
        cells[r * 4] = xstrdup(name ? name : "(unknown model)");
        cells[r * 4 + 1] = cell_text(json_object_get(o, "tokens_total"), 0);
        cells[r * 4 + 2] = cell_text(json_object_get(o, "cost_usd"), 1);
        cells[r * 4 + 3] = note ? xasprintf("  (%s)", note) : xstrdup("");
        for (int k = 0; k < 3; k++)
            if (strlen(cells[r * 4 + k]) > w[k])
                w[k] = strlen(cells[r * 4 + k]);
    }
    fprintf(out, "%-*s  %*s  %*s\n", (int)w[0], key, (int)w[1], "tokens",
            (int)w[2], "cost USD");
    for (size_t r = 0; r < n; r++) {
        fprintf(out, "%-*s  %*s  %*s%s\n", (int)w[0], cells[r * 4], (int)w[1],
                cells[r * 4 + 1], (int)w[2], cells[r * 4 + 2], cells[r * 4 + 3]);
        for (int k = 0; k < 4; k++)
            free(cells[r * 4 + k]);
    }
    free(cells);
    fprintf(out, "time zone %s; '-' = unknown (reason in parentheses), "
                 "never 0\n",
            json_string_value(json_object_get(doc, "tz")));
}

static int report_print(usage_store *u, const report_opts *o)
{
    json_t *doc = NULL;
    char *err = NULL;
    if (usage_store_daily_db(u, o->provider, o->since, o->until, o->tz, &doc,
                          &err) != 0) {
        fprintf(stderr, "meterd report: %s\n", err);
        free(err);
        return 2;
    }
    if (o->cost) {
        json_t *cost = NULL;
        if (usage_cost_report(doc, o->by, &cost, &err) != 0) {
            fprintf(stderr, "meterd report: %s\n", err);
            free(err);
            json_decref(doc);
            return 2;
        }
        json_decref(doc);
        doc = cost;
    }
    int rc = 0;
    if (o->json) {
        rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
    } else if (o->cost) {
        print_cost_table(doc, stdout);
    } else {
        print_table(doc, stdout);
    }
    json_decref(doc);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

/* Does glob match a model of the usage already recorded in report? */
static int glob_matches_recorded(const char *glob, json_t *report)
{
    size_t i, j;
    json_t *day, *m;
    json_array_foreach(json_object_get(report, "days"), i, day)
        json_array_foreach(json_object_get(day, "models"), j, m) {
            const char *name = json_string_value(json_object_get(m, "model"));
            if (name && fnmatch(glob, name, 0) == 0)
                return 1;
        }
    return 0;
}

/* meterd -t: a `pricing:` glob that matches no known model and no
 * recorded usage is most likely a typo; warn, it is not an error. */
static void warn_unused_pricing(const config *cfg)
{
    if (cfg->n_pricing == 0)
        return;
    json_t *report = NULL;
    usage_store *u = usage_store_new(cfg->state_dir, cfg->usage_retention_ms);
    char *err = NULL;
    if (usage_store_load(u, time_now(), &err) < 0 ||
        usage_store_daily(u, NULL, NULL, NULL, "UTC", &report, &err) != 0)
        report = NULL;
    free(err);
    usage_store_free(u);
    for (size_t i = 0; i < cfg->n_pricing; i++) {
        const char *glob = cfg->pricing[i].model;
        if (pricing_glob_matches_builtin(glob) ||
            (report && glob_matches_recorded(glob, report)))
            continue;
        const config_where *w = &cfg->pricing_at[i];
        log_msg(MD_LOG_WARN, NULL, "%s:%d:%d: pricing: '%s' matches no known "
                "model and no recorded usage", w->file, w->line, w->col, glob);
    }
    json_decref(report);
}

static int report_main(int argc, char **argv)
{
    report_opts o;
    int rc = report_parse(argc, argv, &o);
    if (rc)
        return rc;
    /* The report's own output is the point; chatter only when asked. */
    log_set_level(o.verbose ? MD_LOG_DEBUG : MD_LOG_WARN);
    config *cfg = load_config(o.path, 0, 0, NULL);
    if (!cfg)
        return 1;
    usage_store *u = open_usage_store(cfg, 1);
    if (o.provider && !config_provider(cfg, o.provider) &&
        !usage_store_has_provider(u, o.provider)) {
        fprintf(stderr, "meterd report: no provider named '%s'\n", o.provider);
        usage_store_free(u);
        config_free(cfg);
        return 2;
    }
    size_t n = report_select(cfg, u, o.provider);
    static daemon_t d;
    if (daemon_setup(&d, cfg, u) != 0)
        return 1;
    g_daemon = &d;
    if (n && install_signals() == 0) {
        /* The same runner, timeouts and plugin state directories as the
         * daemon: a running daemon and this report share the plugins'
         * incremental state (the plugins lock it). */
        d.once = 1;
        for (size_t i = 0; i < d.n_ps; i++)
            d.ps[i].sched.force = 1;
        scheduler_run(&d, report_no_reload);
        scheduler_kill_all(&d);
        char *err = NULL;
        if (usage_store_save(d.usage, time_now(), &err) != 0) {
            log_msg(MD_LOG_WARN, NULL, "cannot save the usage store: %s", err);
            free(err);
        }
    }
    rc = report_print(d.usage, &o);
    daemon_teardown(&d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--probe") == 0)
        return probe_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return report_main(argc - 1, argv + 1);
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

    config *cfg = load_config(path, check, once && !check, NULL);
    if (check) {
        /* A state_dir that does not exist yet is created 0700 at start. */
        char *err = NULL;
        if (cfg && access(cfg->state_dir, F_OK) == 0 &&
            (private_dir_check(cfg->state_dir, &err) != 0 ||
             state_dir_writable(cfg->state_dir, &err) != 0)) {
            log_msg(MD_LOG_ERROR, NULL, "%s", err);
            free(err);
            config_free(cfg);
            cfg = NULL;
        }
        if (!cfg) {
            fprintf(stderr, "%s: configuration has errors\n", path);
            return 1;
        }
        warn_unused_pricing(cfg);
        if (verbose) {
            char *dump = config_dump(cfg);
            fputs(dump, stdout);
            free(dump);
        }
        printf("configuration OK\n");
        config_free(cfg);
        return 0;
    }
    if (!cfg)
        return 1;

    static daemon_t d;
    if (daemon_setup(&d, cfg, NULL) != 0)
        return 1;
    g_daemon = &d;
    if (install_signals() != 0) {
        log_msg(MD_LOG_ERROR, NULL, "sigaction: %s", strerror(errno));
        return 1;
    }
    int rc = once ? run_once(&d) : run_daemon(&d);
    daemon_teardown(&d);
    return rc;
}
