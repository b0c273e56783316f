/*
 * config_yaml.c - the configuration files as libyaml documents: loading
 * with node locations, node access, ${VAR} expansion of scalar values and
 * finding the drop-ins that `include:` names.  It knows no key: what a
 * key means is config_keys.c's and config_apply.c's business.
 *
 * libyaml's document API keeps the start mark of every node, so every
 * diagnostic can name file:line:col.
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conventions.h"
#include "securepath.h"

const char *config_add_file(config *c, const char *path)
{
    c->files = xrealloc(c->files, (c->n_files + 1) * sizeof *c->files);
    c->files[c->n_files] = xstrdup(path);
    return c->files[c->n_files++];
}

char *config_resolve(const config *c, const char *p)
{
    while (p[0] == '.' && p[1] == '/') /* "./x" reads better as "x" */
        p += 2;
    return p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", c->dir, p);
}

/* ---------------------------------------------------------------- */
/* documents and nodes                                               */
/* ---------------------------------------------------------------- */

where at_node(const yfile *y, const yaml_node_t *n)
{
    where w = {.file = y->file, .line = 0, .col = 0};
    if (n) {
        w.line = (int)n->start_mark.line + 1;
        w.col = (int)n->start_mark.column + 1;
    }
    return w;
}

yaml_node_t *ynode(yfile *y, int idx)
{
    return yaml_document_get_node(&y->doc, idx);
}

const char *node_kind(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    return n->type == YAML_MAPPING_NODE ? "mapping"
         : n->type == YAML_SEQUENCE_NODE ? "list" : "scalar";
}

const char *node_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

/* An absent value: `key:`, `key: ~`, `key: null` (unquoted). */
int node_is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE)
        return 0;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return 1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = node_scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
           !strcmp(s, "Null") || !strcmp(s, "NULL");
}

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

int yfile_load(loader *L, yfile *y, const char *path, const where *ref)
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
    y->file = config_add_file(L->c, path);
    /* StrictModes: checked on the open file, so that what is judged is
     * what is parsed. */
    struct stat st;
    char *why = NULL;
    if (secure_path_wanted() &&
        (fstat(fileno(f), &st) != 0
             ? err_set(&why, "cannot stat: %s", strerror(errno))
             : secure_path_check(path, &st, geteuid(), &why)) != 0) {
        diag_add(L->d, y->file, 0, 0, "%s", why);
        free(why);
        fclose(f);
        return -1;
    }
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

void yfile_release(yfile *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    y->loaded = 0;
}

int check_mapping(loader *L, yfile *y, yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_MAPPING_NODE) {
        DIAG(L, at_node(y, n), "%s must be a mapping, not a %s", what,
             node_kind(n));
        return -1;
    }
    FOR_PAIRS(p, n) {
        yaml_node_t *k = ynode(y, p->key);
        const char *ks = node_scalar(k);
        if (!ks) {
            DIAG(L, at_node(y, k), "%s: keys must be strings, not a %s", what,
                 node_kind(k));
            continue;
        }
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k0 = ynode(y, q->key);
            const char *ks0 = node_scalar(k0);
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
                      size_t len, int secret, buf *b)
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
    size_t vlen;
    if (sep && (!val || !*val)) {  /* shell semantics: unset or empty */
        val = sep + 2;
        vlen = len - nl - 2;
    } else if (!val) {
        DIAG(L, at, "%s: environment variable '%s' is not set (write "
             "${%s:-default} for a fallback)", key, name, name);
        return -1;
    } else {
        vlen = strlen(val);
    }
    size_t before = buf_len(b);
    buf_add(b, val, vlen);
    if (secret && !buf_failed(b))
        config_add_secret(L->c, buf_str(b) + before);
    return 0;
}

/* Expand every ${VAR} / ${VAR:-default} of raw ("$${" is a literal
 * "${").  Returns a malloc'd string (caller frees) and sets *used when a
 * reference was expanded, or NULL after a diagnostic. */
static char *expand(loader *L, where at, const char *key, const char *raw,
                    int secret, int *used)
{
    buf b;
    buf_init(&b, CONFIG_VALUE_MAX);
    *used = 0;
    for (const char *p = raw; *p && !buf_failed(&b);) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            buf_addstr(&b, "${");
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                DIAG(L, at, "%s: unterminated '${' (write '$${' for a "
                     "literal '${')", key);
                buf_release(&b);
                return NULL;
            }
            if (expand_one(L, at, key, p + 2, (size_t)(end - p - 2), secret,
                           &b)) {
                buf_release(&b);
                return NULL;
            }
            *used = 1;
            p = end + 1;
        } else {
            buf_add(&b, p++, 1);
        }
    }
    if (buf_failed(&b)) {
        DIAG(L, at, "%s: value longer than %d bytes after expansion", key,
             CONFIG_VALUE_MAX);
        buf_release(&b);
        return NULL;
    }
    return buf_take(&b);
}

char *get_string(loader *L, yfile *y, yaml_node_t *n, const char *key,
                 int secret, int *used)
{
    int dummy;
    if (!used)
        used = &dummy;
    if (!n || n->type != YAML_SCALAR_NODE) {
        DIAG(L, at_node(y, n), "%s must be a string, not a %s", key,
             node_kind(n));
        return NULL;
    }
    if (strlen(node_scalar(n)) != n->data.scalar.length) {
        DIAG(L, at_node(y, n), "%s: value contains a NUL byte", key);
        return NULL;
    }
    return expand(L, at_node(y, n), key, node_scalar(n), secret, used);
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
    char *pat = config_resolve(L->c, L->inc[i]);
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

char **dropin_files(loader *L, size_t *n)
{
    char **files = NULL;
    *n = 0;
    for (size_t i = 0; i < L->n_inc; i++)
        collect_glob(L, i, &files, n);
    return files;
}
