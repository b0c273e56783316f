/* config_packages.c - the `packages:` section: declared packages
 * (packages.h), each a mapping of family, count, kind, window, reset,
 * limit, unit, weights, since, expires_at; file:line:col diagnostics. */
#include "config_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "timeutil.h"

static const char *const pkg_keys[] = {
    "family", "count", "kind", "window", "reset", "limit", "unit",
    "weights", "since", "expires_at"};
#define N_PKG_KEYS (sizeof pkg_keys / sizeof pkg_keys[0])

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* "5h", "90m", "3600s", "1d" or a number of seconds; > 0. */
static int parse_window(const char *s, double *out)
{
    char *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || !isfinite(v) || v <= 0)
        return -1;
    double mul = 1;
    if (*end == 's') mul = 1, end++;
    else if (*end == 'm') mul = 60, end++;
    else if (*end == 'h') mul = 3600, end++;
    else if (*end == 'd') mul = 86400, end++;
    if (*end)
        return -1;
    *out = v * mul;
    return 0;
}

/* "HH:MM[ ZONE]" (zone default UTC). */
static int parse_reset(loader *L, yfile *y, yaml_node_t *n, package *p)
{
    const char *s = node_scalar(n);
    unsigned h, m;
    int used = 0;
    if (!s || sscanf(s, "%2u:%2u%n", &h, &m, &used) != 2 || h > 23 || m > 59 ||
        (s[used] && s[used] != ' ')) {
        DIAG(L, at_node(y, n), "packages: %s: reset: '%s' is not \"HH:MM "
             "[ZONE]\"", p->name, s ? s : "");
        return -1;
    }
    p->reset_min = (int)(h * 60 + m);
    const char *z = s[used] ? s + used + 1 : "UTC";
    char *err = NULL;
    tz_zone *zone = tz_load(z, &err);
    if (!zone) {
        DIAG(L, at_node(y, n), "packages: %s: reset: %s", p->name, err);
        free(err);
        return -1;
    }
    tz_free(p->zone);
    p->zone = zone;
    free(p->reset_tz);
    p->reset_tz = xstrdup(z);
    return 0;
}

static int read_time(loader *L, yfile *y, yaml_node_t *n, const package *p,
                     const char *key, double *out)
{
    const char *s = node_scalar(n);
    if (!s || rfc3339_parse(s, out) != 0) {
        DIAG(L, at_node(y, n), "packages: %s: %s: '%s' is not an RFC 3339 "
             "time", p->name, key, s ? s : "");
        return -1;
    }
    return 0;
}

static int read_count(loader *L, yfile *y, yaml_node_t *n, package *p)
{
    if (n->type == YAML_SCALAR_NODE && node_scalar(n) && *node_scalar(n)) {
        where w = at_node(y, n);
        p->count = xcalloc(1, sizeof *p->count);
        p->count_at = xcalloc(1, sizeof *p->count_at);
        p->count_at[0] = (package_at){w.line, w.col};
        p->count[p->n_count++] = xstrdup(node_scalar(n));
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        DIAG(L, at_node(y, n), "packages: %s: count: expected a provider "
             "name or a list of them", p->name);
        return -1;
    }
    FOR_ITEMS(it, n) {
        yaml_node_t *v = ynode(y, *it);
        const char *s = node_scalar(v);
        if (!s || !*s) {
            DIAG(L, at_node(y, v), "packages: %s: count: expected a provider "
                 "name", p->name);
            return -1;
        }
        where w = at_node(y, v);
        p->count = xrealloc(p->count, (p->n_count + 1) * sizeof *p->count);
        p->count_at = xrealloc(p->count_at,
                               (p->n_count + 1) * sizeof *p->count_at);
        p->count_at[p->n_count] = (package_at){w.line, w.col};
        p->count[p->n_count++] = xstrdup(s);
    }
    return 0;
}

static int read_weights(loader *L, yfile *y, yaml_node_t *n, package *p)
{
    if (check_mapping(L, y, n, "weights"))
        return -1;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        double w;
        if (!node_scalar(v) || parse_number(node_scalar(v), &w) != 0 || w < 0) {
            DIAG(L, at_node(y, v), "packages: %s: weights: expected a number "
                 ">= 0", p->name);
            return -1;
        }
        p->weights = xrealloc(p->weights, (p->n_weights + 1) *
                                              sizeof *p->weights);
        where at = at_node(y, kn);
        p->weights[p->n_weights++] = (package_weight){
            .glob = xstrdup(node_scalar(kn)), .weight = w,
            .at = {at.line, at.col}};
    }
    return 0;
}

static int read_package(loader *L, yfile *y, yaml_node_t *n, package *p)
{
    int bad = 0, have_limit = 0, have_count = 0, have_window = 0;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        const char *k = node_scalar(kn), *s = node_scalar(v);
        int ki = name_index(pkg_keys, (int)N_PKG_KEYS, k);
        if (ki < 0) {
            unknown_key(L, at_node(y, kn), k ? k : "", pkg_keys, N_PKG_KEYS);
            bad = 1;
            continue;
        }
        if (!strcmp(k, "family")) {
            if (!s || !config_name_ok(s)) {
                DIAG(L, at_node(y, v), "packages: %s: family: expected a "
                     "name", p->name);
                bad = 1;
            } else {
                where w = at_node(y, v);
                free(p->family);
                p->family = xstrdup(s);
                p->family_at = (package_at){w.line, w.col};
            }
        } else if (!strcmp(k, "count")) {
            bad |= read_count(L, y, v, p) != 0;
            have_count = 1;
        } else if (!strcmp(k, "kind") || !strcmp(k, "unit")) {
            int is_kind = !strcmp(k, "kind");
            int i = is_kind ? name_index(package_kind_names, PKG_N_KINDS, s)
                            : name_index(package_unit_names, PKG_N_UNITS, s);
            if (i < 0) {
                DIAG(L, at_node(y, v), is_kind
                         ? "packages: %s: kind: '%s' is not rolling_window, "
                           "daily, monthly or credits"
                         : "packages: %s: unit: '%s' is not messages, "
                           "requests, tokens or usd",
                     p->name, s ? s : "");
                bad = 1;
            } else if (is_kind)
                p->kind = (package_kind)i;
            else
                p->unit = (package_unit)i;
        } else if (!strcmp(k, "window")) {
            if (parse_window(s, &p->window_s) != 0) {
                DIAG(L, at_node(y, v), "packages: %s: window: '%s' is not a "
                     "duration (5h, 90m, 1d)", p->name, s ? s : "");
                bad = 1;
            }
            have_window = 1;
        } else if (!strcmp(k, "reset")) {
            bad |= parse_reset(L, y, v, p) != 0;
        } else if (!strcmp(k, "limit")) {
            if (!s || parse_number(s, &p->limit) != 0 || p->limit < 0) {
                DIAG(L, at_node(y, v), "packages: %s: limit: expected a "
                     "number >= 0", p->name);
                bad = 1;
            }
            have_limit = 1;
        } else if (!strcmp(k, "weights")) {
            bad |= read_weights(L, y, v, p) != 0;
        } else if (!strcmp(k, "since")) {
            bad |= read_time(L, y, v, p, "since", &p->since) != 0;
        } else {
            bad |= read_time(L, y, v, p, "expires_at", &p->expires_at) != 0;
        }
    }
    where w = at_node(y, n);
    if (!have_count) {
        DIAG(L, w, "packages: %s: count: required (the providers whose usage "
             "counts)", p->name);
        bad = 1;
    }
    if (!have_limit) {
        DIAG(L, w, "packages: %s: limit: required", p->name);
        bad = 1;
    }
    if (p->kind == PKG_ROLLING && !have_window) {
        DIAG(L, w, "packages: %s: window: required for rolling_window",
             p->name);
        bad = 1;
    }
    return bad ? -1 : 0;
}

void apply_packages(loader *L, yfile *y, yaml_node_t *n)
{
    if (node_is_null(n) || check_mapping(L, y, n, "packages"))
        return;
    char *err = NULL;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        const char *name = node_scalar(kn);
        if (!name)
            continue; /* reported by check_mapping */
        if (!config_name_ok(name)) {
            DIAG(L, at_node(y, kn), "packages: '%s' is not a name "
                 "([A-Za-z0-9_.-]+)", name);
            continue;
        }
        if (check_mapping(L, y, v, name))
            continue;
        where w = at_node(y, kn);
        package p = {
            .name = xstrdup(name),
            .kind = PKG_DAILY,
            .unit = PKG_REQUESTS,
            .since = -1,
            .expires_at = -1,
            .reset_tz = xstrdup("UTC"),
            .zone = tz_load("UTC", &err),   /* built in: cannot fail */
            .file = w.file,
            .line = w.line,
            .col = w.col,
        };
        free(err);
        err = NULL;
        if (read_package(L, y, v, &p) != 0) {
            package_release(&p);
            continue;
        }
        config *c = L->c;
        size_t i = 0;
        while (i < c->n_packages && strcmp(c->packages[i].name, name) != 0)
            i++;
        if (i == c->n_packages) {
            c->packages = xrealloc(c->packages, (i + 1) * sizeof *c->packages);
            c->n_packages++;
        } else {
            package_release(&c->packages[i]);  /* a drop-in replaces it */
        }
        c->packages[i] = p;
    }
}
