/* cli_test.c - `meterd -t`: load and check the configuration, its
 * drop-ins, aliases and plugins (strict: a plugin that does not load is
 * an error), check an existing state_dir, warn about prices that match
 * nothing; with -v print the merged configuration. */
#include "main_int.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "packages.h"
#include "securepath.h"
#include "timeutil.h"
#include "usage_store.h"

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

/* meterd -t: packages whose count, family or weights are most likely a
 * typo (packages_lint); warnings, not errors. */
static void warn_packages(const config *cfg)
{
    if (cfg->n_packages == 0)
        return;
    usage_store *u = usage_store_new(cfg->state_dir, cfg->usage_retention_ms);
    char *err = NULL;
    int loaded = usage_store_load(u, time_now(), &err) >= 0;
    free(err);
    const char **names = xcalloc(cfg->n_providers ? cfg->n_providers : 1,
                                 sizeof *names);
    for (size_t i = 0; i < cfg->n_providers; i++)
        names[i] = cfg->providers[i].name;
    char **lines;
    size_t n = packages_lint(cfg->packages, cfg->n_packages, names,
                             cfg->n_providers, cfg->aliases,
                             loaded ? u : NULL, &lines);
    for (size_t i = 0; i < n; i++) {
        log_msg(MD_LOG_WARN, NULL, "%s", lines[i]);
        free(lines[i]);
    }
    free(lines);
    free(names);
    usage_store_free(u);
}

int cli_test_main(const char *path, int verbose)
{
    config *cfg = load_config(path, 1, 0, NULL);
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
    warn_packages(cfg);
    if (verbose) {
        char *dump = config_dump(cfg);
        fputs(dump, stdout);
        free(dump);
    }
    printf("configuration OK\n");
    config_free(cfg);
    return 0;
}
