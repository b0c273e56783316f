/*
 * provider_conf.h - what one configured provider instance is: its plugin,
 * timing, isolation and plugin options.  The configuration loader
 * (daemon/config.c) builds these; the host layer runs collections from
 * them without knowing about the rest of the configuration.
 */
#ifndef METERD_PROVIDER_CONF_H
#define METERD_PROVIDER_CONF_H

#include <jansson.h>

typedef enum { ISOLATION_PROCESS = 0, ISOLATION_INLINE = 1 } isolation_mode;

typedef struct provider_conf {
    char *name;            /* instance name, [A-Za-z0-9_.-]+ */
    char *plugin;          /* plugin name as written */
    char *plugin_path;     /* resolved .so path: plugin_dir/NAME.so, or the
                              plugin value itself if it contains a '/'
                              (relative to the main config's directory) */
    long long interval_ms;
    long long timeout_ms;  /* < interval_ms */
    int interval_set;      /* interval given for this provider (else the
                              plugin's default or the global one applies) */
    long long min_interval_ms; /* the plugin's minimum interval (0: none);
                              set by plugin_check_config, not a key */
    int enabled;
    isolation_mode isolation;
    long long memory_limit; /* bytes of address space of one collection's
                               helper (RLIMIT_AS); 0: unlimited */
    /* Plugin options, every key not consumed by the core:
     * scalars as JSON strings (exactly as written, after ${VAR}),
     * sequences as arrays of strings, mappings as objects of strings.
     * A NAME_file key stays as written (a path); plugin_check_config()
     * replaces it by NAME holding the file's content when the plugin
     * declares NAME as MD_OPT_SECRET. */
    json_t *options;
    /* Object: option name -> [file, line, col] where it was last set. */
    json_t *option_locs;
    /* Array of strings: option names whose value is a secret (came from
     * ${VAR} or a *_file, or the plugin declared MD_OPT_SECRET - the
     * latter added by plugin_check_config). */
    json_t *secret_options;
    unsigned produces;     /* MD_PRODUCES_* of its plugin, learnt by
                              plugin_check_config(); 0: not known */
    json_t *env_names;     /* array: environment variables its helper
                              gets besides PATH, HOME, LANG, LC_*, TZ
                              (the plugin's md_plugin.env), set by
                              plugin_check_config(); NULL: none */
    char *file;            /* where the provider was first defined */
    int line, col;
    char *fingerprint;     /* canonical text of everything above: equal
                              fingerprints mean an unchanged provider */
} provider_conf;

#endif
