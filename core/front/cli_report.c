/* cli_report.c - `meterd report daily | cost`: runs the providers that
 * produce usage cells once (the daemon's runner, no remote quota API),
 * then prints the per-day token table or the cost table from the usage
 * store, or its JSON.
 *
 * Timeline of a run (a warm report is mostly waiting for the collection):
 *   1. the spare helper (runner.h) and a spare probe (probe.h) are
 *      forked while this process has no thread, no SQLite handle and no
 *      secret;
 *   2. configuration and usage store (providers and generations only),
 *      the store opening on a thread while the plugins are checked;
 *   3. the collection starts (the first run in the spare helper) and,
 *      at the same time, a thread reads the report from the database
 *      through a store of its own (the prefetch);
 *   4. the collection's cells are saved; the prefetched report is
 *      printed when that save cannot have changed a day it shows (no
 *      cell was handed over, and the retention cut falls before its
 *      first day); otherwise the report is read again, as it was before
 *      the prefetch existed.  Either way the output is what a read after
 *      the save gives. */
#include "main_int.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history_db.h"
#include "log.h"
#include "probe.h"
#include "runner.h"
#include "timeutil.h"
#include "tz.h"
#include "usage_store.h"

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
 * ABI 1.3)?  plugin_check_config_cached() learnt it from the probe or
 * the probe cache; a plugin that does not load declares nothing. */
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

/* The daily document of the report (usage_store_daily_db). */
static int report_daily(usage_store *u, const report_opts *o, json_t **doc,
                        char **err)
{
    /* The table and the cost by day print day totals only: the per-model
     * and per-provider lists are for --json and the other groupings. */
    usage_daily_detail detail =
        !o->json && (!o->cost || strcmp(o->by, "day") == 0)
            ? USAGE_DAILY_TOTALS
            : USAGE_DAILY_FULL;
    return usage_store_daily_db(u, o->provider, o->since, o->until, o->tz,
                                detail, doc, err);
}

/* Print the daily document doc (taken) as o asks. */
static int report_emit(json_t *doc, const report_opts *o)
{
    char *err = NULL;
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

static int report_print(usage_store *u, const report_opts *o)
{
    json_t *doc = NULL;
    char *err = NULL;
    if (report_daily(u, o, &doc, &err) != 0) {
        fprintf(stderr, "meterd report: %s\n", err);
        free(err);
        return 2;
    }
    return report_emit(doc, o);
}

/* ---- the report read while the collection runs ---- */

/* The daily document read on a thread while the collection runs, from a
 * store of its own (its own database connection: the thread touches
 * nothing the main thread uses).  Printed only when the save after the
 * collection cannot have changed anything it shows (prefetch_take);
 * otherwise the report is read again after the save, as before. */
typedef struct prefetch {
    const report_opts *o;
    char *state_dir;            /* owned */
    long long retention_ms;
    unsigned long changes;      /* usage_store_changes at the start */
    pthread_t tid;
    int running;
    json_t *doc;                /* the thread's result (owned), or NULL */
} prefetch;

static void *prefetch_main(void *arg)
{
    prefetch *pf = arg;
    usage_store *mine = usage_store_new(pf->state_dir, pf->retention_ms);
    char *err = NULL;
    if (usage_store_load_meta(mine, time_now(), &err) < 0 ||
        report_daily(mine, pf->o, &pf->doc, &err) != 0) {
        json_decref(pf->doc);
        pf->doc = NULL;
    }
    free(err);
    usage_store_free(mine);
    return NULL;
}

/* Start the thread (nothing happens when it cannot start). */
static void prefetch_start(prefetch *pf, const config *cfg, usage_store *u,
                           const report_opts *o)
{
    *pf = (prefetch){
        .o = o,
        .state_dir = xstrdup(cfg->state_dir),
        .retention_ms = cfg->usage_retention_ms,
        .changes = usage_store_changes(u),
    };
    pf->running = pthread_create(&pf->tid, NULL, prefetch_main, pf) == 0;
}

/* Whether the save at now, after the collection, can have changed a day
 * that doc shows: when the collection changed cells (a put), or when
 * the retention cut of the save may fall inside a shown day (a local
 * day starts at most 14 hours before its UTC date). */
static int prefetch_stale(const prefetch *pf, const json_t *doc,
                          usage_store *u, double now)
{
    if (usage_store_changes(u) != pf->changes)
        return 1;
    const char *first =
        json_string_value(json_object_get(json_array_get(
                                              json_object_get(doc, "days"), 0),
                                          "date"));
    long day;
    if (!first)
        return 0;   /* no day shown: nothing to change */
    if (usage_parse_date(first, &day) != 0)
        return 1;
    return (double)day * 86400 - 14 * 3600 < usage_store_kept_from(u, now);
}

/* Wait for the thread; its document when it still holds (see
 * prefetch_stale), else NULL.  Call before the save, with the save's
 * now. */
static json_t *prefetch_take(prefetch *pf, usage_store *u, double now)
{
    if (pf->running)
        pthread_join(pf->tid, NULL);
    pf->running = 0;
    free(pf->state_dir);
    pf->state_dir = NULL;
    json_t *doc = pf->doc;
    pf->doc = NULL;
    if (doc && prefetch_stale(pf, doc, u, now)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* Everything after the options: collect, save, print. */
static int report_run(const report_opts *po)
{
    const report_opts o = *po;
    json_t *doc = NULL;   /* the prefetched report, when it holds */
    int rc;
    /* The report's own output is the point; chatter only when asked. */
    log_set_level(o.verbose ? MD_LOG_DEBUG : MD_LOG_WARN);
    /* The store opens while the plugins are checked. */
    store_opening *op;
    config *cfg = load_config_report_opening(o.path, &op);
    /* the probes are over (or were all in the cache): the spare probe,
     * unused then, exits meanwhile */
    probe_spare_dismiss();
    usage_store *u = usage_store_opened(op);
    if (!cfg) {
        usage_store_free(u);
        return 1;
    }
    if (!u)
        u = open_usage_store(cfg, 1);
    if (o.provider && !config_provider(cfg, o.provider) &&
        !usage_store_has_provider(u, o.provider)) {
        fprintf(stderr, "meterd report: no provider named '%s'\n", o.provider);
        usage_store_free(u);
        config_free(cfg);
        return 2;
    }
    size_t n = report_select(cfg, u, o.provider);
    static daemon_t d;
    if (daemon_setup_report(&d, cfg, u) != 0)
        return 1;
    if (n && install_signals(&d) == 0) {
        /* The same runner, timeouts and plugin state directories as the
         * daemon: a running daemon and this report share the plugins'
         * incremental state (the plugins lock it). */
        d.once = 1;
        for (size_t i = 0; i < d.n_ps; i++)
            d.ps[i].sched.force = 1;
        prefetch pf;
        prefetch_start(&pf, cfg, d.usage, &o);
        scheduler_run(&d, report_no_reload);
        scheduler_kill_all(&d);
        double now = time_now();
        doc = prefetch_take(&pf, d.usage, now);
        char *err = NULL;
        if (usage_store_save(d.usage, now, &err) != 0) {
            log_msg(MD_LOG_WARN, NULL, "cannot save the usage store: %s", err);
            free(err);
        }
    }
    /* A large WAL is copied into the database when this run closes it:
     * the copy starts now, while the report is read and printed. */
    history_db_copy_wal_soon(usage_store_db(d.usage));
    rc = doc ? report_emit(doc, &o) : report_print(d.usage, &o);
    /* The save's commit is durable in the WAL: copying it into the
     * database on close (SQLite's default for the last connection) would
     * cost this one-shot run two more fsyncs and the next run a new WAL
     * file (history_db.h).  Decided after the print, which may commit
     * too (a zone's rollup). */
    history_db_keep_wal_on_close(usage_store_db(d.usage));
    daemon_teardown(&d);
    return rc;
}

int cli_report_main(int argc, char **argv)
{
    report_opts o;
    int rc = report_parse(argc, argv, &o);
    if (rc)
        return rc;
    /* The collection's helper, forked now, while this process has no
     * thread, no SQLite handle and no secret (runner.h); without it the
     * run spawns a helper as the daemon does. */
    char *err = NULL;
    if (runner_spare_fork(&err) != 0) {
        log_msg(MD_LOG_DEBUG, NULL, "%s", err);
        free(err);
    }
    /* Likewise a probe, for a state_dir without a probe cache (a cold
     * report: the probe is the first thing the collection waits for). */
    if (probe_spare_fork(&err) != 0) {
        log_msg(MD_LOG_DEBUG, NULL, "%s", err);
        free(err);
    }
    rc = report_run(&o);
    probe_spare_release();
    runner_spare_release();
    return rc;
}
