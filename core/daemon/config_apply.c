/*
 * config_apply.c - applying one parsed configuration file onto the
 * loader: top-level keys and sections, provider instances with their core
 * keys (through the key table) and their plugin options (kept as written
 * for plugin_check_config()), families, and the include globs.
 *
 * Files are applied one after another (main file, then drop-ins in
 * order, then the alias file); a later file overrides single values and
 * adds to maps, so nothing here fills defaults or checks cross-key rules.
 */
#include "config_int.h"

#include "alias.h"
#include "suggest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return 0;
    return 1;
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
    char *s = get_string(L, y, n, key, 1, &used);
    if (!s)
        return NULL;
    if (used) {
        *secret = 1;
        config_add_secret(L->c, s);
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
            if (!node_scalar(k)) {
                bad = 1; /* reported by check_mapping */
                continue;
            }
            if (v->type != YAML_SCALAR_NODE)
                DIAG(L, at_node(y, v), nested, key);
            else
                j = option_scalar(L, y, v, key, secret);
            if (j)
                json_object_set_new(out, node_scalar(k), j);
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

/* The provider key nearest to k when k is almost certainly a typo of
 * one, else NULL.  Plugin options may legitimately resemble core keys
 * ("login" vs "plugin"), so only near-certain typos count: one edit for
 * short keys, two from seven letters on. */
static const char *provider_key_typo(const char *k)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *ck = &config_keys[i];
        if (ck->scope != CS_PROVIDER || !config_key_is_value(ck))
            continue;
        size_t max = strlen(ck->name) >= 7 ? 2 : 1;
        size_t d = edit_distance(k, ck->name);
        if (d <= max && d < best_d) {
            best = ck->name;
            best_d = d;
        }
    }
    return best;
}

/* Store one plugin option as written.  A NAME_file key stays a path here:
 * plugin_check_config() reads it into NAME when the plugin declares NAME
 * as a secret (so a plugin may also have ordinary *_file options). */
static void set_option(loader *L, yfile *y, pbuild *p, yaml_node_t *kn,
                       yaml_node_t *vn)
{
    const char *k = node_scalar(kn);
    size_t kl = strlen(k);
    int is_file = kl > 5 && strcmp(k + kl - 5, "_file") == 0;
    char *base = is_file ? xasprintf("%.*s", (int)(kl - 5), k) : NULL;
    where wk = at_node(y, kn);
    const char *hint;
    json_t *val = NULL;
    int secret = 0;
    int core = is_file ? config_key_find(CS_PROVIDER, base) : -1;
    if (core >= 0 && config_key_is_value(&config_keys[core])) {
        DIAG(L, wk, "provider '%s': '%s' is a core key and cannot be read "
             "from a file", p->name, base);
    } else if (!is_file && (hint = provider_key_typo(k)) != NULL) {
        DIAG(L, wk, "provider '%s': unknown key '%s'; did you mean '%s'?",
             p->name, k, hint);
    } else if (node_is_null(vn) && is_file) {
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
    *p = (pbuild){
        .name = xstrdup(name),
        .def = def,
        .slots = xcalloc(n_config_keys, sizeof *p->slots),
        .options = json_object(),
        .locs = json_object(),
        .secret = json_object(),
    };
    return p;
}

static void apply_provider(loader *L, yfile *y, pbuild *p, yaml_node_t *m)
{
    FOR_PAIRS(pr, m) {
        yaml_node_t *kn = ynode(y, pr->key), *v = ynode(y, pr->value);
        const char *k = node_scalar(kn);
        if (!k)
            continue; /* reported by check_mapping */
        int i = config_key_find(CS_PROVIDER, k);
        if (i >= 0 && config_keys[i].type == CK_FORECAST)
            apply_forecast(L, y, v, p->name);
        else if (i >= 0 && config_key_is_value(&config_keys[i]))
            key_read(L, y, &config_keys[i], v, &p->slots[i]);
        else
            set_option(L, y, p, kn, v);
    }
}

static void apply_providers(loader *L, yfile *y, yaml_node_t *n)
{
    if (node_is_null(n) || check_mapping(L, y, n, "providers"))
        return;
    FOR_PAIRS(pr, n) {
        yaml_node_t *kn = ynode(y, pr->key), *v = ynode(y, pr->value);
        const char *name = node_scalar(kn);
        if (!name)
            continue;
        if (!config_name_ok(name)) {
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
    if (node_is_null(n) || check_mapping(L, y, n, "families"))
        return;
    FOR_PAIRS(pr, n) {
        yaml_node_t *kn = ynode(y, pr->key), *v = ynode(y, pr->value);
        const char *fam = node_scalar(kn);
        if (!fam)
            continue;
        if (!*fam) {
            DIAG(L, at_node(y, kn), "a family name must not be empty");
            continue;
        }
        if (v->type != YAML_SEQUENCE_NODE) {
            DIAG(L, at_node(y, v), "family '%s' must be a list of instance "
                 "names or globs, not a %s", fam, node_kind(v));
            continue;
        }
        FOR_ITEMS(it, v) {
            yaml_node_t *m = ynode(y, *it);
            char *pat = get_string(L, y, m, "family member", 0, NULL);
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
    if (node_is_null(n))
        return;
    if (n->type == YAML_SEQUENCE_NODE) {
        FOR_ITEMS(it, n) {
            yaml_node_t *m = ynode(y, *it);
            char *s = get_string(L, y, m, "include", 0, NULL);
            if (s)
                add_include(L, s, at_node(y, m));
        }
        return;
    }
    char *s = get_string(L, y, n, "include", 0, NULL);
    if (s)
        add_include(L, s, at_node(y, n));
}

static void apply_top_key(loader *L, yfile *y, const char *k, yaml_node_t *kn,
                          yaml_node_t *v, int is_main)
{
    int i = config_key_find(CS_TOP, k);
    if (i < 0) {
        size_t n;
        const char **names = key_names(CS_TOP, &n);
        unknown_key(L, at_node(y, kn), k, names, n);
        free(names);
        return;
    }
    const config_key *ck = &config_keys[i];
    switch (ck->type) {
    case CK_INCLUDE:
        apply_include(L, y, v, is_main);
        break;
    case CK_PROVIDERS:
        apply_providers(L, y, v);
        break;
    case CK_FAMILIES:
        apply_families(L, y, v);
        break;
    case CK_PRICING:
        apply_pricing(L, y, v);
        break;
    case CK_PACKAGES:
        apply_packages(L, y, v);
        break;
    case CK_FORECAST:
        apply_forecast(L, y, v, NULL);
        break;
    case CK_NOTIFY:
        apply_notify(L, y, v);
        break;
    default:
        key_read(L, y, ck, v, &L->top[i]);
        break;
    }
}

void apply_root(loader *L, yfile *y, int is_main)
{
    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    if (node_is_null(root))
        return; /* empty or all comments: nothing to merge */
    if (root->type != YAML_MAPPING_NODE) {
        DIAG(L, at_node(y, root), "a configuration file must be a mapping "
             "of keys, not a %s", node_kind(root));
        return;
    }
    check_mapping(L, y, root, "the configuration");
    FOR_PAIRS(p, root) {
        yaml_node_t *kn = ynode(y, p->key);
        if (node_scalar(kn))
            apply_top_key(L, y, node_scalar(kn), kn, ynode(y, p->value),
                          is_main);
    }
}

void apply_alias_file(loader *L, yfile *y)
{
    static const char *const keys[] = {"families"};
    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    if (node_is_null(root))
        return;
    if (check_mapping(L, y, root, "an alias file"))
        return;
    FOR_PAIRS(p, root) {
        yaml_node_t *kn = ynode(y, p->key);
        const char *k = node_scalar(kn);
        if (!k)
            continue;
        if (strcmp(k, "families") == 0)
            apply_families(L, y, ynode(y, p->value));
        else
            unknown_key(L, at_node(y, kn), k, keys, 1);
    }
}
