/*
 * config.c - meterd.yaml, its drop-ins and the alias map.
 *
 * Every file is parsed with libyaml's document API, which keeps the start
 * mark of each node, so every diagnostic can name file:line:col.  Files
 * are applied one after another onto a `loader` (main file first, then
 * the drop-ins in order, then the alias file); only after everything is
 * merged are defaults filled in and cross-key rules (timeout < interval,
 * alias conflicts) checked, so a drop-in can fix what the main file set.
 *
 * Ownership: the loader owns everything it collects until finalize()
 * moves it into the config; strings named `where.file` are borrowed from
 * config->files and live as long as the config.
 */
#include "config.h"

#include "alias.h"
#include "parse.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define DEFAULT_LISTEN "127.0.0.1:9477"
#define MAX_SECRET_FILE (1024 * 1024)

/* ---------------------------------------------------------------- */
/* small helpers                                                     */
/* ---------------------------------------------------------------- */

typedef struct where {
    const char *file; /* borrowed from config->files */
    int line, col;    /* 1-based */
} where;

#define DIAG(L, w, ...) diag_add((L)->d, (w).file, (w).line, (w).col, __VA_ARGS__)

typedef struct sbuf {
    char *s; /* owned until sb_take() */
    size_t n, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) MD_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

/* The buffer's string (caller frees); "" when nothing was written. */
static char *sb_take(sbuf *b)
{
    char *s = b->s ? b->s : xstrdup("");
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
}

static char *xstrndup_(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return 0;
    return 1;
}

/* Case-insensitive Levenshtein distance (SIZE_MAX for long strings: keys
 * are short and a did-you-mean for a 60-byte key is not worth the cost). */
static size_t lev(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) !=
                          tolower((unsigned char)b[j - 1]);
            size_t v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

/* The candidate closest to key within max_for(candidate) edits, or NULL. */
static const char *closest(const char *key, const char *const *cands,
                           size_t n, int strict)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        /* strict: plugin options may legitimately resemble core keys
         * ("login" vs "plugin"), so only near-certain typos count there */
        size_t max = strict ? (strlen(cands[i]) >= 7 ? 2 : 1) : 2;
        size_t d = lev(key, cands[i]);
        if (d <= max && d < bestd) {
            best = cands[i];
            bestd = d;
        }
    }
    return best;
}

static const char *const top_keys[] = {
    "listen", "state_dir", "plugin_dir", "aliases", "include",
    "endpoint_timeout", "interval", "timeout", "min_refresh_interval",
    "usage_retention", "ingest_token", "providers", "families",
};
#define N_TOP_KEYS (sizeof top_keys / sizeof top_keys[0])

static const char *const provider_keys[] = {
    "plugin", "interval", "timeout", "enabled", "isolation",
};
#define N_PROVIDER_KEYS (sizeof provider_keys / sizeof provider_keys[0])

static int is_provider_key(const char *k)
{
    for (size_t i = 0; i < N_PROVIDER_KEYS; i++)
        if (strcmp(k, provider_keys[i]) == 0)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- */
/* the loader: what the files said, before defaults                  */
/* ---------------------------------------------------------------- */

typedef struct tl_str {
    char *v; /* owned; NULL when never set */
    where at;
} tl_str;

typedef struct tl_dur {
    long long ms;
    int set;
    where at;
} tl_dur;

/* One provider as merged so far. */
typedef struct pbuild {
    char *name;    /* owned */
    where def;     /* first definition */
    char *plugin;  /* owned; NULL until set */
    where plugin_at;
    tl_dur interval, timeout;
    int enabled;
    isolation_mode isolation;
    json_t *options;  /* owned: option name -> JSON value */
    json_t *locs;     /* owned: option name -> [file, line, col] */
    json_t *secret;   /* owned: option name -> true */
} pbuild;

typedef struct loader {
    config *c;     /* being built; owned by config_load */
    diag_list *d;  /* caller's */
    tl_str listen, state_dir, plugin_dir, aliases, ingest_token;
    tl_dur endpoint_timeout, interval, timeout, min_refresh;
    tl_dur usage_retention;
    char **inc;    /* owned include globs */
    where *inc_at;
    size_t n_inc;
    pbuild *pb;    /* owned array */
    size_t n_pb;
    char *main_real; /* owned realpath of the main file, or NULL */
} loader;

typedef struct yfile {
    yaml_document_t doc;
    int loaded;
    const char *file; /* borrowed from config->files */
} yfile;

static const char *add_file(config *c, const char *path)
{
    c->files = xrealloc(c->files, (c->n_files + 1) * sizeof *c->files);
    c->files[c->n_files] = xstrdup(path);
    return c->files[c->n_files++];
}

/* Remember a secret value for masking (copied; empty values ignored). */
static void add_secret(config *c, const char *s)
{
    if (!s || !*s)
        return;
    for (size_t i = 0; i < c->n_secrets; i++)
        if (strcmp(c->secrets[i], s) == 0)
            return;
    c->secrets = xrealloc(c->secrets, (c->n_secrets + 1) * sizeof *c->secrets);
    c->secrets[c->n_secrets++] = xstrdup(s);
}

/* Path relative to the main file's directory (absolute paths as is). */
static char *resolve(const config *c, const char *p)
{
    while (p[0] == '.' && p[1] == '/') /* "./x" reads better as "x" */
        p += 2;
    return p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", c->dir, p);
}

/* ---------------------------------------------------------------- */
/* YAML access                                                       */
/* ---------------------------------------------------------------- */

static where at_node(const yfile *y, const yaml_node_t *n)
{
    where w = {y->file, 0, 0};
    if (n) {
        w.line = (int)n->start_mark.line + 1;
        w.col = (int)n->start_mark.column + 1;
    }
    return w;
}

static yaml_node_t *ynode(yfile *y, int idx)
{
    return yaml_document_get_node(&y->doc, idx);
}

static const char *kind(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    return n->type == YAML_MAPPING_NODE ? "mapping"
         : n->type == YAML_SEQUENCE_NODE ? "list" : "scalar";
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

/* An absent value: `key:`, `key: ~`, `key: null` (unquoted). */
static int is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE)
        return 0;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
           !strcmp(s, "Null") || !strcmp(s, "NULL");
}

#define FOR_PAIRS(p, n) \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; \
         p < (n)->data.mapping.pairs.top; p++)
#define FOR_ITEMS(it, n) \
    for (yaml_node_item_t *it = (n)->data.sequence.items.start; \
         it < (n)->data.sequence.items.top; it++)

static void report_parser_error(loader *L, const char *file,
                                const yaml_parser_t *p)
{
    if (p->error == YAML_READER_ERROR) {
        diag_add(L->d, file, 0, 0, "cannot read YAML: %s at byte %zu",
                 p->problem ? p->problem : "error", p->problem_offset);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        diag_add(L->d, file, 0, 0, "out of memory while parsing YAML");
        return;
    }
    if (p->context)
        diag_add(L->d, file, (int)p->problem_mark.line + 1,
                 (int)p->problem_mark.column + 1,
                 "YAML syntax error: %s (%s started at line %d, column %d)",
                 p->problem ? p->problem : "error", p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    else
        diag_add(L->d, file, (int)p->problem_mark.line + 1,
                 (int)p->problem_mark.column + 1, "YAML syntax error: %s",
                 p->problem ? p->problem : "error");
}

/* Parse one file into y (which the caller releases with yfile_free).
 * Returns 0 (the root may be NULL for an empty file) or -1 after adding a
 * diagnostic.  ref, when given, is where the file was named, for open
 * errors. */
static int yfile_load(loader *L, yfile *y, const char *path, const where *ref)
{
    memset(y, 0, sizeof *y);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (ref)
            DIAG(L, *ref, "cannot read '%s': %s", path, strerror(errno));
        else
            diag_add(L->d, path, 0, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    y->file = add_file(L->c, path);
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = 0;
    if (!yaml_parser_load(&p, &y->doc)) {
        report_parser_error(L, y->file, &p);
        rc = -1;
    } else {
        y->loaded = 1;
        /* a second document would be silently ignored otherwise */
        yaml_document_t extra;
        if (!yaml_parser_load(&p, &extra)) {
            report_parser_error(L, y->file, &p);
            rc = -1;
        } else {
            yaml_node_t *r = yaml_document_get_root_node(&extra);
            if (r) {
                diag_add(L->d, y->file, (int)r->start_mark.line + 1,
                         (int)r->start_mark.column + 1,
                         "only one YAML document per file is allowed");
                rc = -1;
            }
            yaml_document_delete(&extra);
        }
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

static void yfile_free(yfile *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    y->loaded = 0;
}

/* Check that n is a mapping whose keys are distinct scalars.  Returns 0
 * when n is a mapping (even with bad keys, which are reported and later
 * skipped), -1 otherwise. */
static int check_mapping(loader *L, yfile *y, yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_MAPPING_NODE) {
        DIAG(L, at_node(y, n), "%s must be a mapping, not a %s", what, kind(n));
        return -1;
    }
    FOR_PAIRS(p, n) {
        yaml_node_t *k = ynode(y, p->key);
        const char *ks = scalar(k);
        if (!ks) {
            DIAG(L, at_node(y, k), "%s: keys must be strings, not a %s", what,
                 kind(k));
            continue;
        }
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k0 = ynode(y, q->key);
            const char *ks0 = scalar(k0);
            if (ks0 && strcmp(ks, ks0) == 0) {
                where w0 = at_node(y, k0);
                DIAG(L, at_node(y, k), "duplicate key '%s' (first at line %d, "
                     "column %d)", ks, w0.line, w0.col);
                break;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* ${VAR} expansion                                                  */
/* ---------------------------------------------------------------- */

static int var_name_ok(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return 1;
}

/* Append the value of one "NAME" or "NAME:-default" reference to b.
 * When secret, the value is remembered for masking. */
static int expand_one(loader *L, where at, const char *key, const char *ref,
                      size_t len, int secret, sbuf *b)
{
    const char *sep = memmem(ref, len, ":-", 2);
    size_t nl = sep ? (size_t)(sep - ref) : len;
    if (!var_name_ok(ref, nl) || nl > 255) {
        DIAG(L, at, "%s: '${%.*s}' is not a valid variable reference", key,
             (int)len, ref);
        return -1;
    }
    char name[256];
    memcpy(name, ref, nl);
    name[nl] = '\0';
    const char *val = getenv(name);
    char *dflt = NULL;
    if (sep && (!val || !*val))  /* shell semantics: unset or empty */
        val = dflt = xstrndup_(sep + 2, len - nl - 2);
    if (!val) {
        DIAG(L, at, "%s: environment variable '%s' is not set (write "
             "${%s:-default} for a fallback)", key, name, name);
        return -1;
    }
    sb_puts(b, val);
    if (secret)
        add_secret(L->c, val);
    free(dflt);
    return 0;
}

/* Expand every ${VAR} / ${VAR:-default} of raw ("$${" is a literal
 * "${").  Returns a malloc'd string (caller frees) and sets *used when a
 * reference was expanded, or NULL after a diagnostic. */
static char *expand(loader *L, where at, const char *key, const char *raw,
                    int secret, int *used)
{
    sbuf b = {0};
    *used = 0;
    for (const char *p = raw; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            sb_puts(&b, "${");
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                DIAG(L, at, "%s: unterminated '${' (write '$${' for a "
                     "literal '${')", key);
                free(b.s);
                return NULL;
            }
            if (expand_one(L, at, key, p + 2, (size_t)(end - p - 2), secret,
                           &b)) {
                free(b.s);
                return NULL;
            }
            *used = 1;
            p = end + 1;
        } else {
            sb_putn(&b, p++, 1);
        }
    }
    return sb_take(&b);
}

/* The expanded text of a scalar node, or NULL after a diagnostic.
 * *used (may be NULL) tells whether ${VAR} was expanded. */
static char *get_string_u(loader *L, yfile *y, yaml_node_t *n,
                          const char *key, int secret, int *used)
{
    int dummy;
    if (!used)
        used = &dummy;
    if (!n || n->type != YAML_SCALAR_NODE) {
        DIAG(L, at_node(y, n), "%s must be a string, not a %s", key, kind(n));
        return NULL;
    }
    if (strlen(scalar(n)) != n->data.scalar.length) {
        DIAG(L, at_node(y, n), "%s: value contains a NUL byte", key);
        return NULL;
    }
    return expand(L, at_node(y, n), key, scalar(n), secret, used);
}

static char *get_string(loader *L, yfile *y, yaml_node_t *n, const char *key)
{
    return get_string_u(L, y, n, key, 0, NULL);
}

static int get_duration(loader *L, yfile *y, yaml_node_t *n, const char *key,
                        int allow_zero, long long *ms)
{
    char *s = get_string(L, y, n, key);
    if (!s)
        return -1;
    int rc = 0;
    if (duration_parse(s, ms)) {
        DIAG(L, at_node(y, n), "%s: '%s' is not a duration (write e.g. 250ms, "
             "10s, 5m, 1h or 1m30s)", key, scalar(n));
        rc = -1;
    } else if (!allow_zero && *ms == 0) {
        DIAG(L, at_node(y, n), "%s must be greater than zero", key);
        rc = -1;
    }
    free(s);
    return rc;
}

static int get_bool(loader *L, yfile *y, yaml_node_t *n, const char *key,
                    int *v)
{
    char *s = get_string(L, y, n, key);
    if (!s)
        return -1;
    int rc = parse_bool(s, v);
    if (rc)
        DIAG(L, at_node(y, n), "%s: '%s' is not a boolean (write true or "
             "false)", key, scalar(n));
    free(s);
    return rc;
}

static void set_dur(loader *L, yfile *y, yaml_node_t *n, const char *key,
                    int allow_zero, tl_dur *t)
{
    long long ms;
    if (get_duration(L, y, n, key, allow_zero, &ms) == 0) {
        t->ms = ms;
        t->set = 1;
        t->at = at_node(y, n);
    }
}

/* usage_retention: a duration, or whole days ("400d", which durations
 * lack); at least a day (a daily report needs one), at most 100 years. */
static void set_retention(loader *L, yfile *y, yaml_node_t *n,
                          const char *key, tl_dur *t)
{
    char *s = get_string(L, y, n, key);
    if (!s)
        return;
    long long ms = -1;
    size_t len = strlen(s);
    if (len >= 2 && len <= 6 && s[len - 1] == 'd' &&
        strspn(s, "0123456789") == len - 1)
        ms = strtoll(s, NULL, 10) * 86400000LL;
    else if (duration_parse(s, &ms) != 0)
        ms = -1;
    if (ms < 0)
        DIAG(L, at_node(y, n), "%s: '%s' is not a duration (write e.g. "
             "400d, 90d or 720h)", key, scalar(n));
    else if (ms < 86400000LL || ms > 36525LL * 86400000LL)
        DIAG(L, at_node(y, n), "%s: '%s' must be between 1d and 36525d", key,
             scalar(n));
    else {
        t->ms = ms;
        t->set = 1;
        t->at = at_node(y, n);
    }
    free(s);
}

static void set_str(loader *L, yfile *y, yaml_node_t *n, const char *key,
                    tl_str *t)
{
    char *s = get_string(L, y, n, key);
    if (s) {
        free(t->v);
        t->v = s;
        t->at = at_node(y, n);
    }
}

/* ---------------------------------------------------------------- */
/* provider options                                                  */
/* ---------------------------------------------------------------- */

/* A JSON string of s, or NULL after a diagnostic (jansson insists on
 * UTF-8, which an environment variable need not be). */
static json_t *jstr(loader *L, where at, const char *key, const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        DIAG(L, at, "%s: value is not valid UTF-8", key);
    return j;
}

/* One option value of a scalar: expanded, remembered as secret when it
 * came from ${VAR}. */
static json_t *option_scalar(loader *L, yfile *y, yaml_node_t *n,
                             const char *key, int *secret)
{
    int used = 0;
    char *s = get_string_u(L, y, n, key, 1, &used);
    if (!s)
        return NULL;
    if (used) {
        *secret = 1;
        add_secret(L->c, s);
    }
    json_t *j = jstr(L, at_node(y, n), key, s);
    free(s);
    return j;
}

static json_t *option_value(loader *L, yfile *y, yaml_node_t *n,
                            const char *key, int *secret)
{
    static const char nested[] = "%s: too deeply nested (an option is a "
                                 "string, a list of strings or a mapping of "
                                 "strings)";
    if (n->type == YAML_SCALAR_NODE)
        return option_scalar(L, y, n, key, secret);
    json_t *out = n->type == YAML_SEQUENCE_NODE ? json_array() : json_object();
    int bad = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        FOR_ITEMS(it, n) {
            yaml_node_t *v = ynode(y, *it);
            json_t *j = NULL;
            if (v->type != YAML_SCALAR_NODE)
                DIAG(L, at_node(y, v), nested, key);
            else
                j = option_scalar(L, y, v, key, secret);
            if (j)
                json_array_append_new(out, j);
            else
                bad = 1;
        }
    } else if (check_mapping(L, y, n, key) == 0) {
        FOR_PAIRS(p, n) {
            yaml_node_t *k = ynode(y, p->key), *v = ynode(y, p->value);
            json_t *j = NULL;
            if (!scalar(k)) {
                bad = 1; /* reported by check_mapping */
                continue;
            }
            if (v->type != YAML_SCALAR_NODE)
                DIAG(L, at_node(y, v), nested, key);
            else
                j = option_scalar(L, y, v, key, secret);
            if (j)
                json_object_set_new(out, scalar(k), j);
            else
                bad = 1;
        }
    }
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Read a NAME_file secret: a regular file only its owner can read.
 * Returns the content (one trailing newline stripped; caller frees) or
 * NULL with *err set (caller frees). */
char *config_read_secret_file(const config *c, const char *path, char **err)
{
    char *full = resolve(c, path);
    char *out = NULL;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *err = NULL;
    if (fd < 0) {
        *err = xasprintf("cannot read '%s': %s", full, strerror(errno));
    } else if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        *err = xasprintf("'%s' is not a regular file", full);
    } else if (st.st_mode & 077) {
        *err = xasprintf("'%s' must not be readable by group or others "
                         "(chmod 600)", full);
    } else if (st.st_size > MAX_SECRET_FILE) {
        *err = xasprintf("'%s' is larger than %d bytes", full, MAX_SECRET_FILE);
    } else {
        char *buf = xmalloc((size_t)st.st_size + 1);
        ssize_t got = 0, r;
        while (got < st.st_size &&
               (r = read(fd, buf + got, (size_t)(st.st_size - got))) > 0)
            got += r;
        buf[got] = '\0';
        if (strlen(buf) != (size_t)got) {
            *err = xasprintf("'%s' contains a NUL byte", full);
            free(buf);
        } else {
            if (got > 0 && buf[got - 1] == '\n')
                buf[--got] = '\0';
            if (got > 0 && buf[got - 1] == '\r')
                buf[--got] = '\0';
            out = buf;
        }
    }
    if (fd >= 0)
        close(fd);
    free(full);
    return out;
}

/* Store one plugin option as written.  A NAME_file key stays a path here:
 * plugin_check_config() reads it into NAME when the plugin declares NAME
 * as a secret (so a plugin may also have ordinary *_file options). */
static void set_option(loader *L, yfile *y, pbuild *p, yaml_node_t *kn,
                       yaml_node_t *vn)
{
    const char *k = scalar(kn);
    size_t kl = strlen(k);
    int is_file = kl > 5 && strcmp(k + kl - 5, "_file") == 0;
    char *base = is_file ? xstrndup_(k, kl - 5) : NULL;
    where wk = at_node(y, kn);
    const char *hint;
    json_t *val = NULL;
    int secret = 0;
    if (is_file && is_provider_key(base)) {
        DIAG(L, wk, "provider '%s': '%s' is a core key and cannot be read "
             "from a file", p->name, base);
    } else if (!is_file && (hint = closest(k, provider_keys, N_PROVIDER_KEYS,
                                           1)) != NULL) {
        DIAG(L, wk, "provider '%s': unknown key '%s'; did you mean '%s'?",
             p->name, k, hint);
    } else if (is_null(vn) && is_file) {
        DIAG(L, at_node(y, vn), "%s needs a file name", k);
    } else {
        val = option_value(L, y, vn, k, &secret);
    }
    if (val) {
        json_object_set_new(p->options, k, val);
        json_object_set_new(p->locs, k,
                            json_pack("[s,i,i]", wk.file, wk.line, wk.col));
        /* the last setting decides, like every other merged key */
        if (secret)
            json_object_set_new(p->secret, k, json_true());
        else
            json_object_del(p->secret, k);
    }
    free(base);
}

/* ---------------------------------------------------------------- */
/* providers and families                                            */
/* ---------------------------------------------------------------- */

static pbuild *provider_get(loader *L, const char *name, where def)
{
    for (size_t i = 0; i < L->n_pb; i++)
        if (strcmp(L->pb[i].name, name) == 0)
            return &L->pb[i];
    L->pb = xrealloc(L->pb, (L->n_pb + 1) * sizeof *L->pb);
    pbuild *p = &L->pb[L->n_pb++];
    memset(p, 0, sizeof *p);
    p->name = xstrdup(name);
    p->def = def;
    p->enabled = 1;
    p->isolation = ISOLATION_PROCESS;
    p->options = json_object();
    p->locs = json_object();
    p->secret = json_object();
    return p;
}

static void set_isolation(loader *L, yfile *y, yaml_node_t *v, pbuild *p)
{
    char *s = get_string(L, y, v, "isolation");
    if (!s)
        return;
    if (strcmp(s, "process") == 0)
        p->isolation = ISOLATION_PROCESS;
    else if (strcmp(s, "inline") == 0)
        p->isolation = ISOLATION_INLINE;
    else
        DIAG(L, at_node(y, v), "isolation: '%s' is not 'process' or 'inline'",
             scalar(v));
    free(s);
}

static void apply_provider(loader *L, yfile *y, pbuild *p, yaml_node_t *m)
{
    FOR_PAIRS(pr, m) {
        yaml_node_t *kn = ynode(y, pr->key), *v = ynode(y, pr->value);
        const char *k = scalar(kn);
        if (!k)
            continue; /* reported by check_mapping */
        if (strcmp(k, "plugin") == 0) {
            char *s = get_string(L, y, v, k);
            if (s) {
                free(p->plugin);
                p->plugin = s;
                p->plugin_at = at_node(y, v);
            }
        } else if (strcmp(k, "interval") == 0) {
            set_dur(L, y, v, k, 0, &p->interval);
        } else if (strcmp(k, "timeout") == 0) {
            set_dur(L, y, v, k, 0, &p->timeout);
        } else if (strcmp(k, "enabled") == 0) {
            get_bool(L, y, v, k, &p->enabled);
        } else if (strcmp(k, "isolation") == 0) {
            set_isolation(L, y, v, p);
        } else {
            set_option(L, y, p, kn, v);
        }
    }
}

static void apply_providers(loader *L, yfile *y, yaml_node_t *n)
{
    if (is_null(n) || check_mapping(L, y, n, "providers"))
        return;
    FOR_PAIRS(pr, n) {
        yaml_node_t *kn = ynode(y, pr->key), *v = ynode(y, pr->value);
        const char *name = scalar(kn);
        if (!name)
            continue;
        if (!name_ok(name)) {
            DIAG(L, at_node(y, kn), "provider name '%s' may only contain "
                 "letters, digits, '_', '.' and '-'", name);
            continue;
        }
        char what[300];
        snprintf(what, sizeof what, "provider '%s'", name);
        if (check_mapping(L, y, v, what))
            continue;
        apply_provider(L, y, provider_get(L, name, at_node(y, kn)), v);
    }
}

static void apply_families(loader *L, yfile *y, yaml_node_t *n)
{
    if (is_null(n) || check_mapping(L, y, n, "families"))
        return;
    FOR_PAIRS(pr, n) {
        yaml_node_t *kn = ynode(y, pr->key), *v = ynode(y, pr->value);
        const char *fam = scalar(kn);
        if (!fam)
            continue;
        if (!*fam) {
            DIAG(L, at_node(y, kn), "a family name must not be empty");
            continue;
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            DIAG(L, at_node(y, v), "family '%s' must be a list of instance "
                 "names or globs, not a %s", fam, kind(v));
            continue;
        }
        FOR_ITEMS(it, v) {
            yaml_node_t *m = ynode(y, *it);
            char *pat = get_string(L, y, m, "family member");
            if (pat && !*pat)
                DIAG(L, at_node(y, m), "family '%s': empty member", fam);
            else if (pat) {
                where w = at_node(y, m);
                alias_add(L->c->aliases, fam, pat, w.file, w.line, w.col);
            }
            free(pat);
        }
    }
}

/* ---------------------------------------------------------------- */
/* top level                                                         */
/* ---------------------------------------------------------------- */

static void add_include(loader *L, char *glob_text, where at)
{
    L->inc = xrealloc(L->inc, (L->n_inc + 1) * sizeof *L->inc);
    L->inc_at = xrealloc(L->inc_at, (L->n_inc + 1) * sizeof *L->inc_at);
    L->inc[L->n_inc] = glob_text;
    L->inc_at[L->n_inc++] = at;
}

static void apply_include(loader *L, yfile *y, yaml_node_t *n, int is_main)
{
    if (!is_main) {
        DIAG(L, at_node(y, n), "include is only allowed in the main "
             "configuration file");
        return;
    }
    if (is_null(n))
        return;
    if (n->type == YAML_SEQUENCE_NODE) {
        FOR_ITEMS(it, n) {
            yaml_node_t *m = ynode(y, *it);
            char *s = get_string(L, y, m, "include");
            if (s)
                add_include(L, s, at_node(y, m));
        }
        return;
    }
    char *s = get_string(L, y, n, "include");
    if (s)
        add_include(L, s, at_node(y, n));
}

static void unknown_key(loader *L, where w, const char *k,
                        const char *const *cands, size_t n)
{
    const char *hint = closest(k, cands, n, 0);
    if (hint) {
        DIAG(L, w, "unknown key '%s'; did you mean '%s'?", k, hint);
        return;
    }
    sbuf b = {0};
    for (size_t i = 0; i < n; i++)
        sb_printf(&b, "%s%s", i ? ", " : "", cands[i]);
    DIAG(L, w, "unknown key '%s' (known keys: %s)", k, b.s);
    free(b.s);
}

static void apply_top_key(loader *L, yfile *y, const char *k, yaml_node_t *kn,
                          yaml_node_t *v, int is_main)
{
    if (!strcmp(k, "listen"))
        set_str(L, y, v, k, &L->listen);
    else if (!strcmp(k, "state_dir"))
        set_str(L, y, v, k, &L->state_dir);
    else if (!strcmp(k, "plugin_dir"))
        set_str(L, y, v, k, &L->plugin_dir);
    else if (!strcmp(k, "aliases"))
        set_str(L, y, v, k, &L->aliases);
    else if (!strcmp(k, "include"))
        apply_include(L, y, v, is_main);
    else if (!strcmp(k, "endpoint_timeout"))
        set_dur(L, y, v, k, 0, &L->endpoint_timeout);
    else if (!strcmp(k, "interval"))
        set_dur(L, y, v, k, 0, &L->interval);
    else if (!strcmp(k, "timeout"))
        set_dur(L, y, v, k, 0, &L->timeout);
    else if (!strcmp(k, "min_refresh_interval"))
        set_dur(L, y, v, k, 1, &L->min_refresh);
    else if (!strcmp(k, "usage_retention"))
        set_retention(L, y, v, k, &L->usage_retention);
    else if (!strcmp(k, "providers"))
        apply_providers(L, y, v);
    else if (!strcmp(k, "families"))
        apply_families(L, y, v);
    else if (!strcmp(k, "ingest_token"))
        set_str(L, y, v, k, &L->ingest_token);
    else
        unknown_key(L, at_node(y, kn), k, top_keys, N_TOP_KEYS);
}

/* Apply one configuration file (main or drop-in) onto the loader. */
static void apply_root(loader *L, yfile *y, int is_main)
{
    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    if (is_null(root))
        return; /* empty or all comments: nothing to merge */
    if (root->type != YAML_MAPPING_NODE) {
        DIAG(L, at_node(y, root), "a configuration file must be a mapping "
             "of keys, not a %s", kind(root));
        return;
    }
    check_mapping(L, y, root, "the configuration");
    FOR_PAIRS(p, root) {
        yaml_node_t *kn = ynode(y, p->key);
        if (scalar(kn))
            apply_top_key(L, y, scalar(kn), kn, ynode(y, p->value), is_main);
    }
}

/* ---------------------------------------------------------------- */
/* drop-ins                                                          */
/* ---------------------------------------------------------------- */

/* Only NAME.yaml, and never dotfiles or package-manager leftovers. */
static int dropin_name_ok(const char *base)
{
    size_t n = strlen(base);
    if (base[0] == '.' || n < 6 || strcmp(base + n - 5, ".yaml") != 0)
        return 0;
    /* "x.yaml.bak" already fails the suffix test; these catch leftovers
     * renamed back to .yaml, e.g. "x.dpkg-dist.yaml" or "x.bak.yaml" */
    static const char *const junk[] = {".dpkg-", ".rpm", ".bak.", ".orig.",
                                       "~"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        if (strstr(base, junk[i]))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the drop-ins matching include glob i to *files (owned). */
static void collect_glob(loader *L, size_t i, char ***files, size_t *n)
{
    char *pat = resolve(L->c, L->inc[i]);
    glob_t g;
    memset(&g, 0, sizeof g);
    int rc = glob(pat, GLOB_NOSORT, NULL, &g);
    if (rc != 0 && rc != GLOB_NOMATCH)
        DIAG(L, L->inc_at[i], "include: cannot expand '%s'", L->inc[i]);
    if (rc == 0) {
        /* byte order, not the locale's collation: the same files in the
         * same order on every machine */
        qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
        for (size_t j = 0; j < g.gl_pathc; j++) {
            const char *f = g.gl_pathv[j], *slash = strrchr(f, '/');
            struct stat st;
            if (!dropin_name_ok(slash ? slash + 1 : f) || stat(f, &st) ||
                !S_ISREG(st.st_mode))
                continue;
            char *real = realpath(f, NULL);
            int dup = real && L->main_real && strcmp(real, L->main_real) == 0;
            free(real);
            for (size_t k = 0; k < *n && !dup; k++)
                dup = strcmp((*files)[k], f) == 0;
            if (dup)
                continue;
            *files = xrealloc(*files, (*n + 1) * sizeof **files);
            (*files)[(*n)++] = xstrdup(f);
        }
    }
    globfree(&g); /* safe after any result: gl_pathv is NULL or owned */
    free(pat);
}

static void load_includes(loader *L)
{
    char **files = NULL;
    size_t n = 0;
    for (size_t i = 0; i < L->n_inc; i++)
        collect_glob(L, i, &files, &n);
    for (size_t i = 0; i < n; i++) {
        yfile y;
        if (yfile_load(L, &y, files[i], NULL) == 0)
            apply_root(L, &y, 0);
        yfile_free(&y);
        free(files[i]);
    }
    free(files);
}

/* ---------------------------------------------------------------- */
/* the alias file                                                    */
/* ---------------------------------------------------------------- */

static void apply_alias_file(loader *L, yfile *y)
{
    static const char *const keys[] = {"families"};
    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    if (is_null(root))
        return;
    if (check_mapping(L, y, root, "an alias file"))
        return;
    FOR_PAIRS(p, root) {
        yaml_node_t *kn = ynode(y, p->key);
        const char *k = scalar(kn);
        if (!k)
            continue;
        if (strcmp(k, "families") == 0)
            apply_families(L, y, ynode(y, p->value));
        else
            unknown_key(L, at_node(y, kn), k, keys, 1);
    }
}

/* aliases: set -> that file (must exist; "" means none); unset ->
 * aliases.yaml next to the main file when it exists. */
static void load_aliases(loader *L)
{
    config *c = L->c;
    if (L->aliases.v) {
        if (!*L->aliases.v)
            return;
        c->aliases_path = resolve(c, L->aliases.v);
    } else {
        char *p = resolve(c, "aliases.yaml");
        if (access(p, F_OK) == 0)
            c->aliases_path = p;
        else
            free(p);
    }
    if (!c->aliases_path)
        return;
    yfile y;
    if (yfile_load(L, &y, c->aliases_path, L->aliases.v ? &L->aliases.at
                                                         : NULL) == 0)
        apply_alias_file(L, &y);
    yfile_free(&y);
}

/* ---------------------------------------------------------------- */
/* finalize: defaults, resolution, cross-key checks                  */
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
        unsigned char buf[sizeof(struct in6_addr)];
        size_t n = (size_t)(close - s - 1);
        if (n >= sizeof addr)
            return "bad IPv6 address";
        memcpy(addr, s + 1, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET6, addr, buf) != 1)
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

static void finalize_top(loader *L, const char *plugin_dir_default,
                         const char *state_dir_default)
{
    config *c = L->c;
    const char *why;
    c->listen = xstrdup(L->listen.v ? L->listen.v : DEFAULT_LISTEN);
    if (L->ingest_token.v && strlen(L->ingest_token.v) < 16)
        DIAG(L, L->ingest_token.at, "ingest_token must be at least 16 "
             "characters");
    /* A bearer token is a secret however it was written. */
    c->ingest_token = xstrdup(L->ingest_token.v);
    add_secret(c, c->ingest_token);
    if ((why = listen_problem(c->listen)) != NULL)
        DIAG(L, L->listen.at, "listen: '%s': %s", c->listen, why);
    tl_str *dirs[2] = {&L->state_dir, &L->plugin_dir};
    const char *dflt[2] = {state_dir_default, plugin_dir_default};
    char **out[2] = {&c->state_dir, &c->plugin_dir};
    for (int i = 0; i < 2; i++) {
        if (dirs[i]->v && !*dirs[i]->v)
            DIAG(L, dirs[i]->at, "%s must not be empty",
                 i ? "plugin_dir" : "state_dir");
        *out[i] = dirs[i]->v ? resolve(c, dirs[i]->v)
                             : xstrdup(dflt[i] ? dflt[i] : c->dir);
    }
    c->endpoint_timeout_ms = L->endpoint_timeout.set ? L->endpoint_timeout.ms
                                                     : 2000;
    c->interval_ms = L->interval.set ? L->interval.ms : 60000;
    c->timeout_ms = L->timeout.set ? L->timeout.ms : 10000;
    c->min_refresh_ms = L->min_refresh.set ? L->min_refresh.ms : 10000;
    c->usage_retention_ms = L->usage_retention.set ? L->usage_retention.ms
                                                   : 400LL * 86400000LL;
}

static char *plugin_path(loader *L, const pbuild *p)
{
    if (strchr(p->plugin, '/'))
        return resolve(L->c, p->plugin);
    if (!name_ok(p->plugin) || p->plugin[0] == '.')
        DIAG(L, p->plugin_at, "plugin: '%s' is not a plugin name (letters, "
             "digits, '_', '.', '-') or a path containing '/'", p->plugin);
    return xasprintf("%s/%s.so", L->c->plugin_dir, p->plugin);
}

/* Canonical text of everything that defines the provider.  It contains
 * secret option values, so it is only ever compared, never shown. */
static char *fingerprint(const provider_conf *pc)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:s,s:O}",
                          "name", pc->name, "plugin", pc->plugin,
                          "plugin_path", pc->plugin_path,
                          "interval_ms", (json_int_t)pc->interval_ms,
                          "timeout_ms", (json_int_t)pc->timeout_ms,
                          "enabled", pc->enabled,
                          "isolation", pc->isolation == ISOLATION_INLINE
                                           ? "inline" : "process",
                          "options", pc->options);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    char *out = xstrdup(s); /* xstrdup: callers free() with libc */
    free(s);
    return out;
}

static json_t *secret_list(json_t *secret)
{
    size_t n = json_object_size(secret), i = 0;
    const char **keys = xcalloc(n, sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(secret, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    json_t *a = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(keys[i]));
    free(keys);
    return a;
}

/* The timeout < interval rule is checked on the merged values, and
 * reported where the operator most likely has to change something. */
static void check_timeout(loader *L, const pbuild *p, const provider_conf *pc)
{
    if (pc->timeout_ms < pc->interval_ms)
        return;
    where w = p->timeout.set ? p->timeout.at
            : p->interval.set ? p->interval.at
            : L->timeout.set ? L->timeout.at
            : L->interval.set ? L->interval.at : p->def;
    char t[32], i[32];
    duration_format(pc->timeout_ms, t, sizeof t);
    duration_format(pc->interval_ms, i, sizeof i);
    DIAG(L, w, "provider '%s': timeout %s must be shorter than interval %s",
         pc->name, t, i);
}

static void finalize_provider(loader *L, pbuild *p, provider_conf *pc)
{
    config *c = L->c;
    pc->name = xstrdup(p->name);
    pc->file = xstrdup(p->def.file);
    pc->line = p->def.line;
    pc->col = p->def.col;
    if (!p->plugin) {
        DIAG(L, p->def, "provider '%s' has no 'plugin' key", p->name);
        pc->plugin = xstrdup("");
        pc->plugin_path = xstrdup("");
    } else {
        pc->plugin = xstrdup(p->plugin);
        pc->plugin_path = plugin_path(L, p);
    }
    pc->interval_ms = p->interval.set ? p->interval.ms : c->interval_ms;
    pc->interval_set = p->interval.set;
    pc->timeout_ms = p->timeout.set ? p->timeout.ms : c->timeout_ms;
    pc->enabled = p->enabled;
    pc->isolation = p->isolation;
    pc->options = json_incref(p->options);
    pc->option_locs = json_incref(p->locs);
    pc->secret_options = secret_list(p->secret);
    pc->fingerprint = fingerprint(pc);
    check_timeout(L, p, pc);
}

static int cmp_provider(const void *a, const void *b)
{
    return strcmp(((const provider_conf *)a)->name,
                  ((const provider_conf *)b)->name);
}

static void finalize_providers(loader *L)
{
    config *c = L->c;
    c->providers = xcalloc(L->n_pb, sizeof *c->providers);
    c->n_providers = L->n_pb;
    for (size_t i = 0; i < L->n_pb; i++)
        finalize_provider(L, &L->pb[i], &c->providers[i]);
    qsort(c->providers, c->n_providers, sizeof *c->providers, cmp_provider);
    const char **names = xcalloc(c->n_providers, sizeof *names);
    for (size_t i = 0; i < c->n_providers; i++)
        names[i] = c->providers[i].name;
    alias_check(c->aliases, names, c->n_providers, L->d);
    free(names);
}

static void loader_free(loader *L)
{
    free(L->listen.v);
    free(L->ingest_token.v);
    free(L->state_dir.v);
    free(L->plugin_dir.v);
    free(L->aliases.v);
    for (size_t i = 0; i < L->n_inc; i++)
        free(L->inc[i]);
    free(L->inc);
    free(L->inc_at);
    for (size_t i = 0; i < L->n_pb; i++) {
        pbuild *p = &L->pb[i];
        free(p->name);
        free(p->plugin);
        json_decref(p->options);
        json_decref(p->locs);
        json_decref(p->secret);
    }
    free(L->pb);
    free(L->main_real);
}

/* The main file's directory, absolute when it exists, so that relative
 * paths keep working if the daemon changes directory. */
static char *dir_of(const char *path)
{
    char *copy = xstrdup(path);
    const char *d = dirname(copy); /* points into copy (or is static) */
    char *real = realpath(d, NULL);
    char *out = xstrdup(real ? real : d);
    free(real);
    free(copy);
    return out;
}

config *config_load(const char *path, const char *plugin_dir_default,
                    const char *state_dir_default, diag_list *diags)
{
    size_t start = diags->n;
    loader L;
    memset(&L, 0, sizeof L);
    L.d = diags;
    config *c = L.c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    c->dir = dir_of(path);
    c->aliases = alias_new();
    L.main_real = realpath(path, NULL);

    yfile y;
    int parsed = yfile_load(&L, &y, path, NULL) == 0;
    if (parsed)
        apply_root(&L, &y, 1);
    yfile_free(&y);
    if (parsed) {
        load_includes(&L);
        load_aliases(&L);
        finalize_top(&L, plugin_dir_default, state_dir_default);
        finalize_providers(&L);
    }
    loader_free(&L);
    if (diags->n > start) {
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_providers; i++) {
        provider_conf *p = &c->providers[i];
        free(p->name);
        free(p->plugin);
        free(p->plugin_path);
        json_decref(p->options);
        json_decref(p->option_locs);
        json_decref(p->secret_options);
        free(p->file);
        free(p->fingerprint);
    }
    free(c->providers);
    alias_free(c->aliases);
    for (size_t i = 0; i < c->n_secrets; i++)
        free(c->secrets[i]);
    free(c->secrets);
    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i]);
    free(c->files);
    free(c->path);
    free(c->dir);
    free(c->listen);
    free(c->ingest_token);
    free(c->state_dir);
    free(c->plugin_dir);
    free(c->aliases_path);
    free(c);
}

const provider_conf *config_provider(const config *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n_providers; i++)
        if (strcmp(c->providers[i].name, name) == 0)
            return &c->providers[i];
    return NULL;
}

/* ---------------------------------------------------------------- */
/* dump                                                              */
/* ---------------------------------------------------------------- */

/* JSON text is valid YAML flow syntax, and it quotes exactly what needs
 * quoting. */
static void dump_json(sbuf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    sb_puts(b, s ? s : "null");
    free(s);
}

static void dump_str(sbuf *b, const char *key, const char *v, int indent)
{
    json_t *j = v ? json_string(v) : json_null();
    sb_printf(b, "%*s%s: ", indent, "", key);
    dump_json(b, j ? j : json_null());
    sb_puts(b, "\n");
    json_decref(j);
}

static void dump_dur(sbuf *b, const char *key, long long ms, int indent)
{
    char t[32];
    duration_format(ms, t, sizeof t);
    sb_printf(b, "%*s%s: %s\n", indent, "", key, t);
}

static int is_secret(const provider_conf *p, const char *opt)
{
    size_t i;
    json_t *v;
    json_array_foreach(p->secret_options, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), opt) == 0)
            return 1;
    return 0;
}

static void dump_provider(sbuf *b, const config *c, const provider_conf *p)
{
    sb_printf(b, "  %s:\n", p->name);
    sb_printf(b, "    # defined at %s:%d:%d\n", p->file ? p->file : "?",
              p->line, p->col);
    dump_str(b, "family", alias_family(c->aliases, p->name), 4);
    dump_str(b, "plugin", p->plugin, 4);
    dump_str(b, "plugin_path", p->plugin_path, 4);
    sb_printf(b, "    enabled: %s\n", p->enabled ? "true" : "false");
    sb_printf(b, "    isolation: %s\n",
              p->isolation == ISOLATION_INLINE ? "inline" : "process");
    dump_dur(b, "interval", p->interval_ms, 4);
    dump_dur(b, "timeout", p->timeout_ms, 4);
    size_t n = json_object_size(p->options), i = 0;
    const char **keys = xcalloc(n, sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(p->options, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (i = 0; i < n; i++) {
        sb_printf(b, "    %s: ", keys[i]);
        if (is_secret(p, keys[i]))
            sb_puts(b, "\"[REDACTED]\"");
        else
            dump_json(b, json_object_get(p->options, keys[i]));
        json_t *loc = json_object_get(p->option_locs, keys[i]);
        if (json_array_size(loc) == 3)
            sb_printf(b, "  # %s:%d:%d",
                      json_string_value(json_array_get(loc, 0)),
                      (int)json_integer_value(json_array_get(loc, 1)),
                      (int)json_integer_value(json_array_get(loc, 2)));
        sb_puts(b, "\n");
    }
    free(keys);
}

char *config_dump(const config *c)
{
    if (!c)
        return xstrdup("");
    sbuf b = {0};
    sb_puts(&b, "# meterd configuration, merged from:\n");
    for (size_t i = 0; i < c->n_files; i++)
        sb_printf(&b, "#   %s\n", c->files[i]);
    dump_str(&b, "listen", c->listen, 0);
    if (c->ingest_token)
        dump_str(&b, "ingest_token", "[REDACTED]", 0);
    dump_str(&b, "state_dir", c->state_dir, 0);
    dump_str(&b, "plugin_dir", c->plugin_dir, 0);
    dump_str(&b, "aliases", c->aliases_path, 0);
    dump_dur(&b, "endpoint_timeout", c->endpoint_timeout_ms, 0);
    dump_dur(&b, "interval", c->interval_ms, 0);
    dump_dur(&b, "timeout", c->timeout_ms, 0);
    dump_dur(&b, "min_refresh_interval", c->min_refresh_ms, 0);
    if (c->usage_retention_ms % 86400000LL == 0)
        sb_printf(&b, "usage_retention: %lldd\n",
                  c->usage_retention_ms / 86400000LL);
    else
        dump_dur(&b, "usage_retention", c->usage_retention_ms, 0);
    sb_puts(&b, c->n_providers ? "providers:\n" : "providers: {}\n");
    for (size_t i = 0; i < c->n_providers; i++)
        dump_provider(&b, c, &c->providers[i]);
    char *raw = sb_take(&b);
    /* belt and braces: a secret value that also appears in a non-secret
     * option or a path is masked too */
    char *out = mask_secrets(raw, (const char *const *)c->secrets,
                             c->n_secrets);
    free(raw);
    return out;
}
