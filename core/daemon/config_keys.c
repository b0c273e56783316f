/*
 * config_keys.c - the core's configuration keys as one table, and the
 * typed readers that walk it.
 *
 * Adding a core key is one line in config_keys[] (plus its field in
 * config / provider_conf and its entry in doc/meterd.yaml.5): reading,
 * bounds, the default, the "did you mean" candidates, `meterd -t -v` and
 * the provider fingerprint all come from the table.  Values are read and
 * checked against their syntax and bounds where they are written (so the
 * diagnostic points at the value); defaults are filled in and the checks
 * that need the merged value (non-empty, least length, listen address)
 * run only after every file was merged, so a drop-in can fix what the
 * main file set.
 */
#include "config_int.h"

#include "parse.h"
#include "suggest.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_MS 86400000LL

/* Enum targets are stored through an int. */
_Static_assert(sizeof(isolation_mode) == sizeof(int),
               "isolation_mode is stored as an int");

static const char *const isolation_names[] = {
    [ISOLATION_PROCESS] = "process", [ISOLATION_INLINE] = "inline", NULL,
};

#define TOP(f) offsetof(config, f)
#define PROV(f) offsetof(provider_conf, f)

/* Table order is the order of `meterd -t -v` and of the known-keys list. */
const config_key config_keys[] = {
    {.name = "listen", .type = CK_LISTEN, .scope = CS_TOP,
     .dflt = "127.0.0.1:9477", .off = TOP(listen),
     .doc = "address of the HTTP API"},
    {.name = "ingest_token", .type = CK_SECRET, .scope = CS_TOP, .min = 16,
     .off = TOP(ingest_token),
     .doc = "bearer token for POST /api/telemetry"},
    {.name = "state_dir", .type = CK_PATH, .scope = CS_TOP,
     .flags = CKF_NONEMPTY, .dflt_from = DF_STATE_DIR, .off = TOP(state_dir),
     .doc = "where the snapshot and usage store live"},
    {.name = "plugin_dir", .type = CK_PATH, .scope = CS_TOP,
     .flags = CKF_NONEMPTY, .dflt_from = DF_PLUGIN_DIR,
     .off = TOP(plugin_dir), .doc = "where plugin NAME is NAME.so"},
    {.name = "aliases", .type = CK_ALIAS_FILE, .scope = CS_TOP,
     .dflt = "aliases.yaml", .off = TOP(aliases_path),
     .doc = "the alias map file"},
    {.name = "include", .type = CK_INCLUDE, .scope = CS_TOP,
     .doc = "drop-in globs, main file only"},
    {.name = "endpoint_timeout", .type = CK_DURATION, .scope = CS_TOP,
     .min = 1, .dflt = "2s", .off = TOP(endpoint_timeout_ms),
     .doc = "deadline of one HTTP request"},
    {.name = "interval", .type = CK_DURATION, .scope = CS_TOP, .min = 1,
     .dflt = "60s", .off = TOP(interval_ms),
     .doc = "default collection interval"},
    {.name = "timeout", .type = CK_DURATION, .scope = CS_TOP, .min = 1,
     .dflt = "10s", .off = TOP(timeout_ms),
     .doc = "default collection timeout"},
    /* Containment of collections (core/host/worker.h): */
    {.name = "max_concurrent_collections", .type = CK_COUNT, .scope = CS_TOP,
     .min = 1, .max = 4096, .dflt = "16", .off = TOP(max_concurrent),
     .doc = "at most this many helpers run at once"},
    {.name = "memory_limit", .type = CK_BYTES, .scope = CS_TOP,
     .min = 16 << 20, .dflt = "1G", .off = TOP(memory_limit),
     .doc = "default address-space limit of a collection's helper"},
    {.name = "min_refresh_interval", .type = CK_DURATION, .scope = CS_TOP,
     .min = 0, .dflt = "10s", .off = TOP(min_refresh_ms),
     .doc = "force_refresh never re-polls a younger attempt"},
    {.name = "usage_retention", .type = CK_DAYS, .scope = CS_TOP,
     .min = DAY_MS, .max = 36525 * DAY_MS, .dflt = "400d",
     .off = TOP(usage_retention_ms),
     .doc = "usage cells older than this are dropped"},
    {.name = "sample_every", .type = CK_DURATION, .scope = CS_TOP,
     .min = 1000, .dflt = "5m", .off = TOP(sample_every_ms),
     .doc = "an unchanged meter is sampled at most this often"},
    {.name = "history_retention", .type = CK_DAYS, .scope = CS_TOP,
     .min = DAY_MS, .max = 36525 * DAY_MS, .dflt = "400d",
     .off = TOP(history_retention_ms),
     .doc = "meter samples older than this are dropped"},
    /* The HTTP API's admission (doc/meterd.8, LIMITS). */
    {.name = "allowed_hosts", .type = CK_STRING_LIST, .scope = CS_TOP,
     .off = TOP(allowed_hosts),
     .doc = "more Host/Origin names the HTTP API answers to"},
    {.name = "http_max_connections", .type = CK_COUNT, .scope = CS_TOP,
     .min = 1, .max = 65536, .dflt = "512", .off = TOP(http_max_connections),
     .doc = "open HTTP connections at most"},
    {.name = "http_max_connections_per_ip", .type = CK_COUNT, .scope = CS_TOP,
     .min = 1, .max = 65536, .dflt = "128",
     .off = TOP(http_max_connections_per_ip),
     .doc = "open HTTP connections per client address at most"},
    {.name = "http_request_timeout", .type = CK_DURATION, .scope = CS_TOP,
     .min = 1000, .max = 3600000, .dflt = "5s",
     .off = TOP(http_request_timeout_ms),
     .doc = "an HTTP connection silent this long is closed"},
    {.name = "providers", .type = CK_PROVIDERS, .scope = CS_TOP,
     .doc = "provider instances by name"},
    {.name = "families", .type = CK_FAMILIES, .scope = CS_TOP,
     .doc = "family name -> instance names or globs"},
    {.name = "pricing", .type = CK_PRICING, .scope = CS_TOP,
     .doc = "model glob -> prices per million tokens"},
    {.name = "packages", .type = CK_PACKAGES, .scope = CS_TOP,
     .doc = "declared packages counted from recorded usage"},
    {.name = "forecast", .type = CK_FORECAST, .scope = CS_TOP,
     .flags = CKF_NO_FIELD,
     .doc = "burn rate, alert and fast lane settings"},
    {.name = "notify", .type = CK_NOTIFY, .scope = CS_TOP,
     .flags = CKF_NO_FIELD,
     .doc = "command run on every alert transition"},

    {.name = "plugin", .type = CK_STRING, .scope = CS_PROVIDER,
     .flags = CKF_REQUIRED, .off = PROV(plugin),
     .doc = "plugin name or path of its .so"},
    {.name = "plugin_path", .type = CK_PLUGIN_PATH, .scope = CS_PROVIDER,
     .off = PROV(plugin_path), .doc = "derived: the .so that is loaded"},
    {.name = "enabled", .type = CK_BOOL, .scope = CS_PROVIDER,
     .dflt = "true", .off = PROV(enabled),
     .doc = "false keeps the instance configured but idle"},
    {.name = "isolation", .type = CK_ENUM, .scope = CS_PROVIDER,
     .dflt = "process", .names = isolation_names, .off = PROV(isolation),
     .doc = "process (a helper per collection) or inline"},
    {.name = "interval", .type = CK_DURATION, .scope = CS_PROVIDER,
     .flags = CKF_SET_FLAG, .min = 1, .dflt_from = DF_TOP,
     .off = PROV(interval_ms), .set_off = PROV(interval_set),
     .doc = "collection interval of this instance"},
    {.name = "timeout", .type = CK_DURATION, .scope = CS_PROVIDER, .min = 1,
     .dflt_from = DF_TOP, .off = PROV(timeout_ms),
     .doc = "collection timeout of this instance"},
    {.name = "memory_limit", .type = CK_BYTES, .scope = CS_PROVIDER,
     .min = 16 << 20, .dflt_from = DF_TOP, .off = PROV(memory_limit),
     .doc = "address-space limit of this instance's helper"},
    {.name = "when_exists", .type = CK_WHEN_EXISTS, .scope = CS_PROVIDER,
     .flags = CKF_NO_FIELD,
     .doc = "the instance exists only when one of these paths does"},
    {.name = "forecast", .type = CK_FORECAST, .scope = CS_PROVIDER,
     .flags = CKF_NO_FIELD,
     .doc = "forecast settings of this instance (override the top level)"},
};
const size_t n_config_keys = sizeof config_keys / sizeof config_keys[0];

int config_key_find(ckey_scope scope, const char *name)
{
    for (size_t i = 0; i < n_config_keys; i++)
        if (config_keys[i].scope == scope &&
            strcmp(config_keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

int config_key_is_value(const config_key *k)
{
    return k->type != CK_INCLUDE && k->type != CK_PROVIDERS &&
           k->type != CK_FAMILIES && k->type != CK_PLUGIN_PATH &&
           k->type != CK_PRICING && k->type != CK_PACKAGES &&
           k->type != CK_FORECAST && k->type != CK_NOTIFY;
}

const char **key_names(ckey_scope scope, size_t *n)
{
    const char **v = xcalloc(n_config_keys, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < n_config_keys; i++)
        if (config_keys[i].scope == scope &&
            config_keys[i].type != CK_PLUGIN_PATH)
            v[(*n)++] = config_keys[i].name;
    return v;
}

void slot_list_clear(slot *s)
{
    for (size_t i = 0; i < s->n_list; i++)
        free(s->list[i]);
    free(s->list);
    s->list = NULL;
    s->n_list = 0;
}

void slot_array_free(slot *slots)
{
    if (!slots)
        return;
    for (size_t i = 0; i < n_config_keys; i++) {
        free(slots[i].s);
        slot_list_clear(&slots[i]);
    }
    free(slots);
}

static int is_string_type(ckey_type t);

static void string_list_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void keys_release(ckey_scope scope, void *target)
{
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *k = &config_keys[i];
        if (k->scope == scope && k->type == CK_STRING_LIST) {
            char **v;
            memcpy(&v, (char *)target + k->off, sizeof v);
            string_list_free(v);
            v = NULL;
            memcpy((char *)target + k->off, &v, sizeof v);
            continue;
        }
        if (k->scope != scope || !is_string_type(k->type))
            continue;
        char *s;
        memcpy(&s, (char *)target + k->off, sizeof s);
        free(s);
        s = NULL;
        memcpy((char *)target + k->off, &s, sizeof s);
    }
}

/* ---------------------------------------------------------------- */
/* typed values                                                      */
/* ---------------------------------------------------------------- */

static int is_string_type(ckey_type t)
{
    return t == CK_STRING || t == CK_PATH || t == CK_SECRET ||
           t == CK_LISTEN || t == CK_ALIAS_FILE || t == CK_PLUGIN_PATH;
}

static void fmt_dur(const config_key *k, long long ms, char *b, size_t n)
{
    if (k->type == CK_DAYS)
        duration_format_days(ms, b, n);
    else
        duration_format(ms, b, n);
}

/* "1073741824", "512M", "1G", "1GiB", "64MiB": binary multiples. */
static int parse_bytes(const char *text, long long *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (end == text || n < 0 || errno)
        return -1;
    static const struct { const char *suffix; int shift; } units[] = {
        {"", 0}, {"K", 10}, {"KiB", 10}, {"M", 20}, {"MiB", 20},
        {"G", 30}, {"GiB", 30}, {"T", 40}, {"TiB", 40},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (n > (LLONG_MAX >> units[i].shift))
            return -1;
        *v = n << units[i].shift;
        return 0;
    }
    return -1;
}

/* Parse text as k's number type.  Returns 0 or -1 (bad syntax). */
static int parse_typed(const config_key *k, const char *text, long long *v)
{
    int b;
    switch (k->type) {
    case CK_BYTES:
        return parse_bytes(text, v);
    case CK_COUNT:
        return parse_int(text, v) != 0 || *v < 0 ? -1 : 0;
    case CK_DURATION:
        return duration_parse(text, v);
    case CK_DAYS:
        return duration_parse_days(text, v);
    case CK_BOOL:
        if (parse_bool(text, &b))
            return -1;
        *v = b;
        return 0;
    case CK_ENUM:
        for (size_t i = 0; k->names[i]; i++)
            if (strcmp(text, k->names[i]) == 0) {
                *v = (long long)i;
                return 0;
            }
        return -1;
    default:
        return -1;
    }
}

/* "'a' or 'b'", "'a', 'b' or 'c'" (caller frees). */
static char *enum_words(const config_key *k)
{
    buf b;
    buf_init(&b, 4096);
    for (size_t i = 0; k->names[i]; i++)
        buf_printf(&b, "%s'%s'", i == 0 ? "" : k->names[i + 1] ? ", " : " or ",
                   k->names[i]);
    return buf_take(&b);
}

/* Report why raw (the value as written) is not a k. */
static void syntax_error(loader *L, where at, const config_key *k,
                         const char *raw)
{
    char *words;
    switch (k->type) {
    case CK_DURATION:
        DIAG(L, at, "%s: '%s' is not a duration (write e.g. 250ms, 10s, 5m, "
             "1h or 1m30s)", k->name, raw);
        break;
    case CK_DAYS:
        DIAG(L, at, "%s: '%s' is not a duration (write e.g. 400d, 90d or "
             "720h)", k->name, raw);
        break;
    case CK_BOOL:
        DIAG(L, at, "%s: '%s' is not a boolean (write true or false)",
             k->name, raw);
        break;
    case CK_BYTES:
        DIAG(L, at, "%s: '%s' is not a size (write e.g. 512M, 1G or a "
             "number of bytes)", k->name, raw);
        break;
    case CK_COUNT:
        DIAG(L, at, "%s: '%s' is not a whole number", k->name, raw);
        break;
    default:
        words = enum_words(k);
        DIAG(L, at, "%s: '%s' is not %s", k->name, raw, words);
        free(words);
        break;
    }
}

/* 0 when v is within k's bounds, else -1 after a diagnostic. */
static int check_bounds(loader *L, where at, const config_key *k,
                        const char *raw, long long v)
{
    if (k->type != CK_DURATION && k->type != CK_DAYS &&
        k->type != CK_BYTES && k->type != CK_COUNT)
        return 0;
    if (v >= k->min && (!k->max || v <= k->max))
        return 0;
    if (k->type == CK_BYTES || k->type == CK_COUNT) {
        if (k->max)
            DIAG(L, at, "%s: '%s' must be between %lld and %lld", k->name,
                 raw, k->min, k->max);
        else
            DIAG(L, at, "%s: '%s' must be at least %lld%s", k->name, raw,
                 k->type == CK_BYTES ? k->min >> 20 : k->min,
                 k->type == CK_BYTES ? " MiB" : "");
        return -1;
    }
    char lo[32], hi[32];
    fmt_dur(k, k->min, lo, sizeof lo);
    fmt_dur(k, k->max, hi, sizeof hi);
    if (k->max)
        DIAG(L, at, "%s: '%s' must be between %s and %s", k->name, raw, lo, hi);
    else if (k->min == 1)
        DIAG(L, at, "%s must be greater than zero", k->name);
    else
        DIAG(L, at, "%s must be at least %s", k->name, lo);
    return -1;
}

/* The home directory for a leading "~": $HOME, else the password
 * database (a daemon started without HOME), else NULL. */
static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* One when_exists path: ${VAR} expanded (by get_string), then a leading
 * "~" or "~/" is the home directory (after the expansion, so that
 * ${CLAUDE_CONFIG_DIR:-~/.claude} works), then relative to the main
 * file's directory.  Caller frees; NULL after a diagnostic. */
static char *when_exists_path(loader *L, yfile *y, const config_key *k,
                              yaml_node_t *n)
{
    char *text = get_string(L, y, n, k->name, 0, NULL);
    if (!text)
        return NULL;
    if (!*text) {
        DIAG(L, at_node(y, n), "%s: empty path", k->name);
        free(text);
        return NULL;
    }
    const char *home = home_dir();
    if (text[0] == '~' && (text[1] == '/' || !text[1]) && home) {
        char *t = xasprintf("%s%s", home, text + 1);
        free(text);
        text = t;
    }
    char *out = config_resolve(L->c, text);
    free(text);
    return out;
}

/* when_exists: one path or a list of them; null removes the condition
 * (a drop-in can make an instance unconditional again). */
static void read_when_exists(loader *L, yfile *y, const config_key *k,
                             yaml_node_t *n, slot *s)
{
    slot_list_clear(s);
    s->set = 0;
    if (node_is_null(n))
        return;
    where at = at_node(y, n);
    if (n->type == YAML_SCALAR_NODE) {
        char *p = when_exists_path(L, y, k, n);
        if (!p)
            return;
        s->list = xcalloc(1, sizeof *s->list);
        s->list[s->n_list++] = p;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        size_t max = (size_t)(n->data.sequence.items.top -
                              n->data.sequence.items.start);
        s->list = xcalloc(max ? max : 1, sizeof *s->list);
        FOR_ITEMS(it, n) {
            char *p = when_exists_path(L, y, k, ynode(y, *it));
            if (p)
                s->list[s->n_list++] = p;
        }
        if (!max) {
            DIAG(L, at, "%s: an empty list (write at least one path, or "
                 "remove the key)", k->name);
            return;
        }
    } else {
        DIAG(L, at, "%s must be a path or a list of paths, not a %s",
             k->name, node_kind(n));
        return;
    }
    s->set = 1;
    s->at = at;
}

/* A list of strings: one string or a sequence of them; null or [] is
 * the empty list (a drop-in can clear what the main file said). */
static void read_string_list(loader *L, yfile *y, const config_key *k,
                             yaml_node_t *n, slot *s)
{
    slot_list_clear(s);
    s->set = 1;
    s->at = at_node(y, n);
    if (node_is_null(n))
        return;
    if (n->type == YAML_SCALAR_NODE) {
        char *v = get_string(L, y, n, k->name, 0, NULL);
        if (v && !*v) {
            DIAG(L, at_node(y, n), "%s: an empty string", k->name);
            free(v);
        } else if (v) {
            s->list = xcalloc(1, sizeof *s->list);
            s->list[s->n_list++] = v;
        }
        return;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        DIAG(L, at_node(y, n), "%s must be a string or a list of strings, "
             "not a %s", k->name, node_kind(n));
        return;
    }
    size_t max = (size_t)(n->data.sequence.items.top -
                          n->data.sequence.items.start);
    s->list = xcalloc(max ? max : 1, sizeof *s->list);
    FOR_ITEMS(it, n) {
        yaml_node_t *item = ynode(y, *it);
        if (item->type != YAML_SCALAR_NODE) {
            DIAG(L, at_node(y, item), "%s: each item must be a string, not "
                 "a %s", k->name, node_kind(item));
            continue;
        }
        char *v = get_string(L, y, item, k->name, 0, NULL);
        if (v && !*v) {
            DIAG(L, at_node(y, item), "%s: an empty string", k->name);
            free(v);
        } else if (v) {
            s->list[s->n_list++] = v;
        }
    }
}

/* The merged list as a NULL-terminated copy (never NULL). */
static char **string_list_value(const slot *s)
{
    char **v = xcalloc(s->n_list + 1, sizeof *v);
    for (size_t i = 0; i < s->n_list; i++)
        v[i] = xstrdup(s->list[i]);
    return v;
}

void key_read(loader *L, yfile *y, const config_key *k, yaml_node_t *n,
              slot *s)
{
    if (k->type == CK_WHEN_EXISTS) {
        read_when_exists(L, y, k, n, s);
        return;
    }
    if (k->type == CK_STRING_LIST) {
        read_string_list(L, y, k, n, s);
        return;
    }
    char *text = get_string(L, y, n, k->name, 0, NULL);
    if (!text)
        return;
    where at = at_node(y, n);
    if (is_string_type(k->type)) {
        free(s->s);
        s->s = text;
        s->set = 1;
        s->at = at;
        return;
    }
    long long v;
    if (parse_typed(k, text, &v))
        syntax_error(L, at, k, node_scalar(n));
    else if (check_bounds(L, at, k, node_scalar(n), v) == 0) {
        s->n = v;
        s->set = 1;
        s->at = at;
    }
    free(text);
}

/* ---------------------------------------------------------------- */
/* listen addresses                                                  */
/* ---------------------------------------------------------------- */

static int port_ok(const char *s)
{
    if (!*s || strlen(s) > 5)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    long v = strtol(s, NULL, 10);
    return v >= 0 && v <= 65535; /* 0: an ephemeral port (tests, benches) */
}

/* NULL when fine, else what is wrong. */
static const char *listen_problem(const char *s)
{
    if (strncmp(s, "unix:", 5) == 0)
        return s[5] == '/' ? NULL : "a unix socket path must be absolute "
                                    "(unix:/run/meterd.sock)";
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return "write an IPv6 address as [addr]:port";
        char addr[INET6_ADDRSTRLEN + 1];
        unsigned char bin[sizeof(struct in6_addr)];
        size_t n = (size_t)(close - s - 1);
        if (n >= sizeof addr)
            return "bad IPv6 address";
        memcpy(addr, s + 1, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET6, addr, bin) != 1)
            return "bad IPv6 address";
        return port_ok(close + 2) ? NULL : "port must be 0-65535";
    }
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return "write host:port, [v6addr]:port or unix:/path";
    for (const char *p = s; p < colon; p++)
        if (*p == ':')
            return "write an IPv6 address as [addr]:port";
        else if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            return "bad host name";
    return port_ok(colon + 1) ? NULL : "port must be 0-65535";
}

/* ---------------------------------------------------------------- */
/* finalising: defaults and checks on the merged value               */
/* ---------------------------------------------------------------- */

/* The string value of an unset key (caller frees; NULL: none). */
static char *string_default(loader *L, const config_key *k)
{
    config *c = L->c;
    const char *d = k->dflt;
    if (k->dflt_from == DF_STATE_DIR || k->dflt_from == DF_PLUGIN_DIR) {
        d = k->dflt_from == DF_STATE_DIR ? L->state_dir_default
                                         : L->plugin_dir_default;
        return xstrdup(d ? d : c->dir);
    }
    if (k->type == CK_ALIAS_FILE) {
        /* the default alias file is optional: used when it exists */
        char *p = config_resolve(c, d);
        if (access(p, F_OK) == 0)
            return p;
        free(p);
        return NULL;
    }
    return xstrdup(d);
}

/* The merged string value of a set key (caller frees; NULL: none). */
static char *string_value(loader *L, const config_key *k, const slot *s)
{
    if (k->flags & CKF_NONEMPTY && !*s->s)
        DIAG(L, s->at, "%s must not be empty", k->name);
    if (k->min && strlen(s->s) < (size_t)k->min)
        DIAG(L, s->at, "%s must be at least %lld characters", k->name,
             k->min);
    switch (k->type) {
    case CK_PATH:
        return config_resolve(L->c, s->s);
    case CK_ALIAS_FILE:
        return *s->s ? config_resolve(L->c, s->s) : NULL; /* "": none */
    default:
        return xstrdup(s->s);
    }
}

/* The number value of an unset key. */
static long long number_default(loader *L, const config_key *k)
{
    if (k->dflt_from == DF_TOP) {
        int t = config_key_find(CS_TOP, k->name);
        long long v;
        memcpy(&v, (const char *)L->c + config_keys[t].off, sizeof v);
        return v;
    }
    long long v = 0;
    if (parse_typed(k, k->dflt, &v))
        abort(); /* a table default that does not parse: t/unit/config.c */
    return v;
}

static void store_number(const config_key *k, void *target, long long v)
{
    char *at = (char *)target + k->off;
    if (k->type == CK_BOOL || k->type == CK_ENUM) {
        int i = (int)v;
        memcpy(at, &i, sizeof i);
    } else {
        memcpy(at, &v, sizeof v);
    }
}

void keys_finalize(loader *L, ckey_scope scope, slot *slots, void *target,
                   const pbuild *p)
{
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *k = &config_keys[i];
        const slot *s = &slots[i];
        if (k->scope != scope || !config_key_is_value(k) ||
            k->flags & CKF_NO_FIELD)
            continue;
        if (k->flags & CKF_SET_FLAG) {
            int set = s->set;
            memcpy((char *)target + k->set_off, &set, sizeof set);
        }
        if (!s->set && k->flags & CKF_REQUIRED && p)
            DIAG(L, p->def, "provider '%s' has no '%s' key", p->name,
                 k->name);
        if (k->type == CK_STRING_LIST) {
            char **list = string_list_value(s);
            memcpy((char *)target + k->off, &list, sizeof list);
            continue;
        }
        if (!is_string_type(k->type)) {
            store_number(k, target, s->set ? s->n : number_default(L, k));
            continue;
        }
        char *v = s->set ? string_value(L, k, s) : string_default(L, k);
        if (!v && k->flags & CKF_REQUIRED)
            v = xstrdup("");
        if (k->type == CK_SECRET) /* a secret however it was written */
            config_add_secret(L->c, v);
        const char *why;
        if (k->type == CK_LISTEN && v && (why = listen_problem(v)) != NULL)
            DIAG(L, s->at, "%s: '%s': %s", k->name, v, why);
        memcpy((char *)target + k->off, &v, sizeof v);
    }
}

/* ---------------------------------------------------------------- */
/* unknown keys                                                      */
/* ---------------------------------------------------------------- */

void unknown_key(loader *L, where w, const char *k, const char *const *cands,
                 size_t n)
{
    const char *hint = suggest(k, cands, n, 2);
    if (hint) {
        DIAG(L, w, "unknown key '%s'; did you mean '%s'?", k, hint);
        return;
    }
    buf b;
    buf_init(&b, 4096);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", cands[i]);
    DIAG(L, w, "unknown key '%s' (known keys: %s)", k, buf_str(&b));
    buf_release(&b);
}
