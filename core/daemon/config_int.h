/*
 * config_int.h - what the configuration loader's files share; included
 * only by core/daemon/config*.c.
 *
 * The loader is split by job:
 *   config.c         config_load(): order of the steps, defaults and
 *                    cross-key checks on the merged result, config_free();
 *   config_keys.c    the key table (one line per core key) and the typed
 *                    readers, default filling and bounds that walk it;
 *   config_apply.c   applying one parsed file onto the loader: top-level
 *                    keys, providers and their plugin options, families,
 *                    include;
 *   config_yaml.c    libyaml documents with node locations, ${VAR}
 *                    expansion, drop-in file discovery;
 *   config_pricing.c the `pricing:` section (model price overrides);
 *   config_forecast.c the `forecast:` sections and `notify:`;
 *   config_secret.c  secret values: remembering them for masking, reading
 *                    *_file secrets;
 *   config_dump.c    `meterd -t -v` text and the provider fingerprint.
 *
 * Invariants:
 *   - every diagnostic names file:line:col through a `where`; a where's
 *     file is borrowed from config->files and lives as long as the config;
 *   - the loader owns what the files said (slots, provider builds, include
 *     globs) until config_load() releases it; finalising copies or moves
 *     values into the config, which then owns them;
 *   - a slot holds the last value a file gave a key (drop-ins override the
 *     main file), with where it was written; `set` is 0 for an untouched
 *     key, whose default is filled in only after every file was merged.
 */
#ifndef METERD_CONFIG_INT_H
#define METERD_CONFIG_INT_H

#include <stddef.h>
#include <yaml.h>

#include "buf.h"
#include "config.h"
#include "log.h"

/* Expanded scalar values and the dump are capped: a runaway ${VAR} must
 * not grow the daemon without bound. */
#define CONFIG_VALUE_MAX (1024 * 1024)
#define CONFIG_DUMP_MAX (16 * 1024 * 1024)

typedef struct where {
    const char *file; /* borrowed from config->files */
    int line, col;    /* 1-based; 0 when unknown */
} where;

#define DIAG(L, w, ...) diag_add((L)->d, (w).file, (w).line, (w).col, __VA_ARGS__)

/* ---- the key table ---------------------------------------------- */

typedef enum {
    CK_STRING,      /* char *, as written */
    CK_PATH,        /* char *, relative to the main file's directory */
    CK_SECRET,      /* char *, masked everywhere, dumped as [REDACTED] */
    CK_LISTEN,      /* char *: host:port, [v6addr]:port or unix:/path */
    CK_DURATION,    /* long long ms: 250ms, 10s, 5m, 1h, 1m30s */
    CK_DAYS,        /* long long ms: a duration that may use days (400d) */
    CK_BOOL,        /* int 0/1, parse_bool() */
    CK_BYTES,       /* long long bytes: 1073741824, 512M, 1G, 1GiB */
    CK_COUNT,       /* long long: a whole number >= 0, within [min, max]
                       (max 0: unbounded) */
    CK_ENUM,        /* int, index into key->names */
    CK_ALIAS_FILE,  /* char * or NULL: "" none; unset: the default file
                       when it exists */
    CK_PLUGIN_PATH, /* char *, derived from plugin and plugin_dir; never
                       read from a file, but dumped and fingerprinted */
    CK_WHEN_EXISTS, /* a path or a list of paths (provider only): the
                       instance exists only when one of them does; kept
                       in the slot's list, evaluated by config_load() */
    CK_INCLUDE,     /* a glob or a list of globs, main file only */
    CK_PROVIDERS,   /* the providers: section */
    CK_FAMILIES,    /* the families: section */
    CK_PRICING,     /* the pricing: section (config_pricing.c) */
    CK_PACKAGES,    /* the packages: section (config_packages.c) */
    CK_FORECAST,    /* a forecast: section, top level or per provider
                       (config_forecast.c) */
    CK_NOTIFY,      /* the notify: section (config_forecast.c) */
    CK_STRING_LIST  /* char **, NULL-terminated, never NULL after
                       finalising: one string or a list of them */
} ckey_type;

typedef enum { CS_TOP, CS_PROVIDER } ckey_scope;

/* Where an unset key's value comes from. */
typedef enum {
    DF_TEXT = 0,    /* key->dflt, in the key's own syntax (NULL: none) */
    DF_STATE_DIR,   /* config_load()'s state_dir_default, else the main
                       file's directory */
    DF_PLUGIN_DIR,  /* config_load()'s plugin_dir_default, likewise */
    DF_TOP          /* the top-level key of the same name */
} ckey_default;

enum {
    CKF_REQUIRED = 1 << 0,  /* a provider must set it */
    CKF_NONEMPTY = 1 << 1,  /* "" is an error */
    CKF_SET_FLAG = 1 << 2,  /* record at set_off whether a file set it */
    CKF_NO_FIELD = 1 << 3,  /* the loader consumes it: no field in the
                               target, not dumped per provider, not part
                               of the fingerprint */
};

typedef struct config_key {
    const char *name;
    ckey_type type;
    ckey_scope scope;
    unsigned flags;
    /* Durations, byte sizes, counts: least and greatest value (max 0:
     * unbounded).  Strings: least length in bytes. */
    long long min, max;
    ckey_default dflt_from;
    const char *dflt;
    size_t off;             /* target in config / provider_conf */
    size_t set_off;         /* int in provider_conf, with CKF_SET_FLAG */
    const char *const *names; /* CK_ENUM: the words, NULL-terminated */
    const char *doc;        /* one line; the man page says the rest */
} config_key;

/* The whole table and its length; the index of a key is its slot. */
extern const config_key config_keys[];
extern const size_t n_config_keys;
/* Index of the key name in scope, or -1. */
int config_key_find(ckey_scope scope, const char *name);
/* Does the key hold a value (not a section, not derived)? */
int config_key_is_value(const config_key *k);

/* ---- the loader ------------------------------------------------- */

typedef struct slot {
    int set;
    where at;      /* where the value was written */
    char *s;       /* owned: the string types */
    long long n;   /* durations (ms), booleans, enum index */
    char **list;   /* owned: CK_WHEN_EXISTS, n_list expanded paths;
                      CK_STRING_LIST, n_list strings */
    size_t n_list;
} slot;

/* One provider as merged so far. */
typedef struct pbuild {
    char *name;    /* owned */
    where def;     /* first definition */
    slot *slots;   /* owned, n_config_keys long (provider keys used) */
    json_t *options;  /* owned: option name -> JSON value */
    json_t *locs;     /* owned: option name -> [file, line, col] */
    json_t *secret;   /* owned: option name -> true */
} pbuild;

typedef struct loader {
    config *c;     /* being built; owned by config_load */
    diag_list *d;  /* caller's */
    slot *top;     /* owned, n_config_keys long (top-level keys used) */
    char **inc;    /* owned include globs */
    where *inc_at;
    size_t n_inc;
    pbuild *pb;    /* owned array */
    size_t n_pb;
    char *main_real; /* owned realpath of the main file, or NULL */
    const char *state_dir_default, *plugin_dir_default; /* borrowed */
} loader;

typedef struct yfile {
    yaml_document_t doc;
    int loaded;
    const char *file; /* borrowed from config->files */
} yfile;

#define FOR_PAIRS(p, n) \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; \
         p < (n)->data.mapping.pairs.top; p++)
#define FOR_ITEMS(it, n) \
    for (yaml_node_item_t *it = (n)->data.sequence.items.start; \
         it < (n)->data.sequence.items.top; it++)

/* ---- config_yaml.c ---------------------------------------------- */

/* Parse one file into y (release with yfile_release, even on failure).
 * Returns 0 (the root may be NULL for an empty file) or -1 after a
 * diagnostic; ref, when given, is where the file was named. */
int yfile_load(loader *L, yfile *y, const char *path, const where *ref);
void yfile_release(yfile *y);
where at_node(const yfile *y, const yaml_node_t *n);
yaml_node_t *ynode(yfile *y, int idx);
const char *node_kind(const yaml_node_t *n);     /* "mapping", ... */
const char *node_scalar(const yaml_node_t *n);   /* NULL unless scalar */
int node_is_null(const yaml_node_t *n);
/* 0 when n is a mapping (bad or duplicate keys reported), else -1 after
 * a diagnostic. */
int check_mapping(loader *L, yfile *y, yaml_node_t *n, const char *what);
/* The ${VAR}-expanded text of a scalar node (caller frees), or NULL after
 * a diagnostic.  secret: remember expanded values for masking.  *used
 * (may be NULL) tells whether a reference was expanded. */
char *get_string(loader *L, yfile *y, yaml_node_t *n, const char *key,
                 int secret, int *used);
/* The drop-in files the include globs name, in merge order (owned array
 * of owned strings, *n long). */
char **dropin_files(loader *L, size_t *n);
/* Path relative to the main file's directory (caller frees). */
char *config_resolve(const config *c, const char *p);
/* Remember a file that was read; returns the stored copy. */
const char *config_add_file(config *c, const char *path);

/* ---- config_keys.c ---------------------------------------------- */

/* Read the value node of key k into s (diagnostics on bad values). */
void key_read(loader *L, yfile *y, const config_key *k, yaml_node_t *n,
              slot *s);
/* Move the merged values of scope into target (a config or a
 * provider_conf), filling defaults and checking what needs the merged
 * value.  p is the provider being finalised (NULL for the top level). */
void keys_finalize(loader *L, ckey_scope scope, slot *slots, void *target,
                   const pbuild *p);
/* A "did you mean" for an unknown key among cands (n), or the list of
 * them when none is close. */
void unknown_key(loader *L, where w, const char *k, const char *const *cands,
                 size_t n);
/* The names of the keys of scope that a file may set (owned array of
 * borrowed strings; *n long). */
const char **key_names(ckey_scope scope, size_t *n);
void slot_array_free(slot *slots);
/* Free a slot's path list (it stays usable, empty). */
void slot_list_clear(slot *s);
/* Free the string values of scope's keys in target (a config or a
 * provider_conf). */
void keys_release(ckey_scope scope, void *target);

/* ---- config_apply.c --------------------------------------------- */

/* Apply one configuration file (main or drop-in) onto the loader. */
void apply_root(loader *L, yfile *y, int is_main);
/* Apply an alias file (only `families:`). */
void apply_alias_file(loader *L, yfile *y);
/* An instance or plugin name: [A-Za-z0-9_.-]+. */
int config_name_ok(const char *s);

/* ---- config_pricing.c ------------------------------------------- */

/* Apply a `pricing:` mapping (model glob -> prices per million tokens)
 * onto L->c->pricing. */
void apply_pricing(loader *L, yfile *y, yaml_node_t *n);

/* ---- config_packages.c ------------------------------------------ */

/* Apply a `packages:` mapping (name -> declared package) onto
 * L->c->packages. */
void apply_packages(loader *L, yfile *y, yaml_node_t *n);

/* ---- config_forecast.c ------------------------------------------ */

/* Apply a `forecast:` mapping of the top level (provider NULL) or of a
 * provider onto L->c->forecast; `notify:` likewise. */
void apply_forecast(loader *L, yfile *y, yaml_node_t *n, const char *provider);
void apply_notify(loader *L, yfile *y, yaml_node_t *n);

/* ---- config_secret.c -------------------------------------------- */

/* Remember a secret value for masking (copied; empty values ignored). */
void config_add_secret(config *c, const char *s);

/* ---- config_dump.c ---------------------------------------------- */

/* Canonical text of everything that defines pc (caller frees).  It holds
 * secret option values, so it is only ever compared, never shown. */
char *provider_fingerprint(const provider_conf *pc);

#endif
