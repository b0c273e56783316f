/* main.c - command line, signals and the daemon's lifecycle. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin_host.h"
#include "render.h"
#include "timeutil.h"

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

static void on_signal(int sig)
{
    int saved = errno;
    if (g_daemon) {
        if (sig == SIGHUP)
            g_daemon->reload = 1;
        else
            g_daemon->stop = 1;
        scheduler_wake(g_daemon);
    }
    errno = saved;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meterd [-c FILE] [-t] [--once] [-v] [-V] [-h]\n"
            "  -c FILE   configuration file (default %s/meterd.yaml)\n"
            "  -t        check the configuration, drop-ins, aliases and plugins; exit\n"
            "  --once    collect every provider once, print the usage JSON, exit\n"
            "  -v        verbose: debug logging; with -t print the merged config\n"
            "  -V        print the version and exit\n"
            "  -h        this help\n",
            METERD_CONFDIR);
}

/* Load config + validate plugins; print every problem. NULL on failure.
 * With strict (meterd -t) a plugin that cannot be loaded is an error;
 * otherwise it is a warning and only that provider fails (class abi or
 * config) while the others run. */
static config *load_config(const char *path, int strict, char **first_error)
{
    diag_list diags = {0}, load_errors = {0};
    config *cfg = config_load(path, METERD_PLUGINDIR, METERD_STATEDIR, &diags);
    if (cfg)
        plugin_host_validate(cfg, &diags, strict ? NULL : &load_errors);
    for (size_t i = 0; i < load_errors.n; i++) {
        char *line = diag_format(&load_errors.items[i]);
        log_msg(MD_LOG_WARN, NULL, "%s; that provider will not collect", line);
        free(line);
    }
    diag_free(&load_errors);
    if (diags.n == 0)
        return cfg;
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
    config *cfg = load_config(d->cfg->path, 0, &first);
    pthread_mutex_lock(&d->lock);
    if (!cfg) {
        d->reload_failures++;
        free(d->last_reload_error);
        d->last_reload_error = first;
        pthread_mutex_unlock(&d->lock);
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
    state_swap_config(d, cfg);
    d->reloads++;
    free(d->last_reload_error);
    d->last_reload_error = NULL;
    size_t n = d->n_ps;
    pthread_mutex_unlock(&d->lock);
    log_msg(MD_LOG_INFO, NULL, "configuration reloaded: %zu providers", n);
}

static int install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
        sigaction(SIGHUP, &sa, NULL))
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int daemon_setup(daemon_t *d, config *cfg)
{
    memset(d, 0, sizeof *d);
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
    register_secrets(cfg);
    state_init(d, cfg);
    state_load_snapshot(d);
    return 0;
}

static void daemon_teardown(daemon_t *d)
{
    g_daemon = NULL;
    state_free(d);
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
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->n_ps; i++)
        d->ps[i].force = 1;
    pthread_mutex_unlock(&d->lock);
    scheduler_run(d, reload);
    scheduler_kill_all(d);
    pthread_mutex_lock(&d->lock);
    provider_view *v;
    double now = time_now();
    size_t n = state_views(d, &v, now);
    usage_meta meta = {"live_refresh", NULL, NULL, 0};
    render_opts o = {0, 0};
    json_t *doc = render_usage(v, n, o, &meta, now);
    free(v);
    pthread_mutex_unlock(&d->lock);
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(doc);
    fputc('\n', stdout);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

static int run_daemon(daemon_t *d)
{
    char *err = NULL;
    if (httpd_start(d, &err) != 0) {
        log_msg(MD_LOG_ERROR, NULL, "%s", err);
        free(err);
        return 1;
    }
    log_msg(MD_LOG_INFO, NULL, "meterd %s listening on http://%s (%zu providers)",
            METERD_VERSION, httpd_address(d), d->n_ps);
    scheduler_run(d, reload);
    log_msg(MD_LOG_INFO, NULL, "shutting down");
    scheduler_kill_all(d);
    httpd_stop(d);
    state_save_snapshot(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);

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

    config *cfg = load_config(path, check, NULL);
    if (check) {
        if (!cfg) {
            fprintf(stderr, "%s: configuration has errors\n", path);
            return 1;
        }
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
    if (daemon_setup(&d, cfg) != 0)
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
