/*
 * config.h - loading meterd.yaml, its drop-ins and the alias map.
 *
 * config_load() reads the main file, expands ${VAR}, reads *_file secrets,
 * deep-merges the drop-ins named by `include:` (byte order, *.yaml only,
 * dotfiles and backups skipped), loads the alias map, and checks every core
 * key.  Plugin-specific options are collected per provider (with where each
 * came from) but validated later by plugin_check_config(), which knows the
 * plugin's option table.  Every problem is appended to a diag_list as
 * "file:line:col: message"; the config is only usable when none was added.
 *
 * Every core key (top-level and per provider) is one line of the key table
 * in config_keys.c; config_int.h describes how the loader is split.
 * A config is immutable once loaded; config_free() releases all of it.
 */
#ifndef METERD_CONFIG_H
#define METERD_CONFIG_H

#include <stddef.h>
#include <jansson.h>
#include "log.h"
#include "provider_conf.h"
#include "pricing.h"
#include "packages.h"
#include "forecast_conf.h"

struct alias_map;

/* One provider instance with a `when_exists` key, as config_load() found
 * the machine: the instance is in config.providers only when one of its
 * paths exists (`found`); otherwise it is skipped entirely - no row, no
 * scheduling, not unavailable - and a reload (SIGHUP) looks again.  Only
 * existence is tested: nothing is opened, read or copied. */
typedef struct config_detection {
    char *provider;        /* instance name */
    char *plugin;          /* its plugin as written */
    char *found;           /* the first path that exists, or NULL: skipped */
    char **paths;          /* every path looked for, expanded; n_paths */
    size_t n_paths;
} config_detection;

/* A place in a configuration file; file is borrowed from config->files. */
typedef struct config_where {
    const char *file;
    int line, col;
} config_where;

typedef struct config {
    char *path;            /* main file as given */
    char *dir;             /* its directory */
    char *listen;          /* "127.0.0.1:9477", "[::1]:9477", "unix:/path" */
    char *ingest_token;    /* bearer token for POST /api/telemetry, or NULL
                              (then only loopback and unix-socket peers may
                              post); a secret */
    char *state_dir;
    char *plugin_dir;
    char *aliases_path;    /* resolved, may be NULL when no alias file */
    long long endpoint_timeout_ms;  /* default 2s */
    long long interval_ms;          /* default 60s */
    long long timeout_ms;           /* default 10s */
    long long max_concurrent;       /* `max_concurrent_collections` */
    long long memory_limit;         /* default of the provider key */
    long long min_refresh_ms;       /* `min_refresh_interval`, default 10s:
                                       force_refresh never re-polls a provider
                                       whose last attempt is younger */
    long long usage_retention_ms;   /* `usage_retention`, default 400d:
                                       usage cells older than this are
                                       dropped (usage_store.h) */
    long long sample_every_ms;      /* `sample_every`, default 5m: an
                                       unchanged meter is sampled at most
                                       this often (history.h) */
    long long history_retention_ms; /* `history_retention`, default 400d */
    /* The HTTP API's admission (httpd.c reads them once, at start, like
     * listen). */
    char **allowed_hosts;           /* `allowed_hosts`: more names for Host
                                       and Origin than the localhost names
                                       and the listen address; owned,
                                       NULL-terminated, never NULL */
    long long http_max_connections; /* `http_max_connections`, default 512 */
    long long http_max_connections_per_ip; /* default 128 */
    long long http_request_timeout_ms; /* `http_request_timeout`, default 5s:
                                          a connection silent this long is
                                          closed */
    provider_conf *providers;       /* owned array, in name order; the
                                       instances skipped by when_exists
                                       are not here */
    size_t n_providers;
    config_detection *detections;   /* owned: every instance with a
                                       when_exists key, in name order */
    size_t n_detections;
    struct alias_map *aliases;      /* owned, never NULL after success */
    /* `pricing:` overrides, in file order (a drop-in's entry for a glob
     * already given replaces it in place): rows in US dollars per token,
     * model = the glob; pricing_at[i] is where row i was written. */
    pricing_row *pricing;           /* owned, with the glob strings */
    config_where *pricing_at;       /* owned array, files borrowed */
    size_t n_pricing;
    /* `packages:` declared packages (packages.h), in file order; a
     * drop-in's package of the same name replaces it. */
    package *packages;              /* owned */
    size_t n_packages;
    /* `forecast:` sections (top level and per provider) and `notify:`
     * (config_forecast.c; forecast_conf.h resolves them per meter). */
    forecast_conf forecast;
    char **secrets;                 /* every secret value, for masking */
    size_t n_secrets;
    char **files;                   /* every file read, in order */
    size_t n_files;
} config;

/* Load and check.  Returns a config (caller frees with config_free) when
 * no diagnostic was added, else NULL with the problems in *diags.
 * plugin_dir_default / state_dir_default are the compiled-in defaults
 * used when the keys are absent. */
config *config_load(const char *path, const char *plugin_dir_default,
                    const char *state_dir_default, diag_list *diags);
void config_free(config *c);

/* Read a secret file (path relative to the main file's directory): a
 * regular file that group and others cannot read, at most 1 MiB, one
 * trailing newline stripped.  Returns the content (caller frees) or NULL
 * with *err (caller frees). */
char *config_read_secret_file(const config *c, const char *path, char **err);

/* Make c's `pricing:` overrides the ones pricing_lookup() uses (copied;
 * none clears them).  Called when a loaded config is adopted: on start,
 * after a good SIGHUP reload (a bad one keeps the old overrides), and by
 * the report command. */
void config_install_pricing(const config *c);

/* Find a provider by instance name (exact), or NULL. */
const provider_conf *config_provider(const config *c, const char *name);

/* What when_exists found, as "# "-prefixed lines ("detected: PATH
 * (NAME [plugin] enabled)", "not detected: ...", or "detected: nothing");
 * "" when no instance has the key.  Caller frees. */
char *config_detection_text(const config *c);

/* The merged configuration as YAML-ish text for `meterd -t -v`, with every
 * secret option shown as "[REDACTED]", after config_detection_text().
 * Caller frees. */
char *config_dump(const config *c);

#endif
