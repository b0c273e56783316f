/*
 * config_pricing.c - the `pricing:` section: model price overrides.
 *
 *   pricing:
 *     "claude-sonnet-4-5*":           # fnmatch(3) glob on the model name
 *       input: 3                      # US dollars per million tokens
 *       output: 15
 *       cache_write: 3.75             # default: input x 1.25
 *       cache_read: 0.30              # default: input x 0.1
 *       cache_write_1h: 6             # optional; kept, not yet charged
 *       above_200k: {input: 6, output: 22.5, cache_write: 7.5,
 *                    cache_read: 0.6} # optional long-context tier
 *
 * Per million tokens because that is how every provider publishes its
 * prices; the rows are stored per token (pricing.h).  input and output are
 * required; an above_200k tier, when given, needs input and output too and
 * defaults its cache prices like the base ones.  Entries keep file order
 * (first matching glob wins); a drop-in that names a glob again replaces
 * that entry in place.
 */
#include "config_int.h"

#include "parse.h"
#include "suggest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PER_MILLION 1e-6

static const char *const price_keys[] = {
    "input", "output", "cache_write", "cache_read", "cache_write_1h",
    "above_200k",
};
static const char *const tier_keys[] = {
    "input", "output", "cache_write", "cache_read",
};

/* A price scalar in dollars per million tokens into *out (per token).
 * Returns 0, or -1 after a diagnostic. */
static int read_price(loader *L, yfile *y, yaml_node_t *v, const char *key,
                      double *out)
{
    if (v->type != YAML_SCALAR_NODE) {
        DIAG(L, at_node(y, v), "pricing: %s: expected a number (dollars per "
             "million tokens), not a %s", key, node_kind(v));
        return -1;
    }
    char *s = get_string(L, y, v, key, 0, NULL);
    if (!s)
        return -1;
    double d;
    int rc = -1;
    if (parse_number(s, &d) != 0 || !isfinite(d))
        DIAG(L, at_node(y, v), "pricing: %s: '%s' is not a number (dollars "
             "per million tokens)", key, s);
    else if (d < 0)
        DIAG(L, at_node(y, v), "pricing: %s: a price cannot be negative (%s)",
             key, s);
    else {
        *out = d * PER_MILLION;
        rc = 0;
    }
    free(s);
    return rc;
}

static void unknown_price_key(loader *L, where w, const char *k,
                              const char *const *cands, size_t n)
{
    const char *near = suggest(k, cands, n, 2);
    if (near) {
        DIAG(L, w, "pricing: unknown price key '%s' (did you mean '%s'?)", k,
             near);
        return;
    }
    buf b;
    buf_init(&b, 256);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", cands[i]);
    DIAG(L, w, "pricing: unknown price key '%s' (known: %s)", k, buf_str(&b));
    buf_release(&b);
}

/* Read the four prices of one level (base: p[0..4), tier: p[4..8)) from
 * mapping n.  Returns 0 or -1 after diagnostics. */
static int read_level(loader *L, yfile *y, yaml_node_t *n, double *p,
                      double *cw_1h, const char *what)
{
    int base = cw_1h != NULL;
    if (check_mapping(L, y, n, what))
        return -1;
    double got[PR_N];
    int have[PR_N] = {0};
    int bad = 0;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        const char *k = node_scalar(kn);
        if (!k) {
            bad = 1;
            continue;
        }
        int idx = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(k, tier_keys[i]) == 0)
                idx = i;
        if (base && strcmp(k, "cache_write_1h") == 0)
            idx = PR_CW_1H;
        if (base && strcmp(k, "above_200k") == 0) {
            if (read_level(L, y, v, p + 4, NULL, "pricing: above_200k"))
                bad = 1;
            else
                have[PR_IN_HI] = 1;
            continue;
        }
        if (idx < 0) {
            unknown_price_key(L, at_node(y, kn), k, base ? price_keys : tier_keys,
                              base ? 6 : 4);
            bad = 1;
            continue;
        }
        if (read_price(L, y, v, k, &got[idx]) == 0)
            have[idx] = 1;
        else
            bad = 1;
    }
    if (bad)
        return -1;
    if (!have[PR_IN] || !have[PR_OUT]) {
        DIAG(L, at_node(y, n), "%s: input and output prices are required",
             what);
        return -1;
    }
    p[PR_IN] = got[PR_IN];
    p[PR_OUT] = got[PR_OUT];
    /* The same defaults the generated table applies (tools/gen-pricing). */
    p[PR_CW] = have[PR_CW] ? got[PR_CW] : got[PR_IN] * 1.25;
    p[PR_CR] = have[PR_CR] ? got[PR_CR] : got[PR_IN] * 0.1;
    if (base) {
        if (!have[PR_IN_HI])
            for (int i = PR_IN_HI; i <= PR_CR_HI; i++)
                p[i] = PRICING_NO_TIER;
        *cw_1h = have[PR_CW_1H] ? got[PR_CW_1H] : PRICING_NO_TIER;
    }
    return 0;
}

static void put_entry(config *c, const char *glob, const double *p,
                      where at)
{
    size_t i = 0;
    while (i < c->n_pricing && strcmp(c->pricing[i].model, glob) != 0)
        i++;
    if (i == c->n_pricing) {
        c->pricing = xrealloc(c->pricing, (c->n_pricing + 1) * sizeof *c->pricing);
        c->pricing_at = xrealloc(c->pricing_at,
                                 (c->n_pricing + 1) * sizeof *c->pricing_at);
        c->pricing[i].model = xstrdup(glob);
        c->n_pricing++;
    }
    memcpy(c->pricing[i].p, p, sizeof c->pricing[i].p);
    c->pricing_at[i] = (config_where){.file = at.file, .line = at.line,
                                      .col = at.col};
}

void apply_pricing(loader *L, yfile *y, yaml_node_t *n)
{
    if (node_is_null(n) || check_mapping(L, y, n, "pricing"))
        return;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        const char *glob = node_scalar(kn);
        if (!glob)
            continue; /* reported by check_mapping */
        if (!*glob) {
            DIAG(L, at_node(y, kn), "pricing: a model glob cannot be empty");
            continue;
        }
        double p[PR_N];
        if (read_level(L, y, v, p, &p[PR_CW_1H], "pricing") == 0)
            put_entry(L->c, glob, p, at_node(y, kn));
    }
}

void config_install_pricing(const config *c)
{
    if (!c || c->n_pricing == 0) {
        pricing_set_overrides(NULL, 0);
        return;
    }
    pricing_row *rows = xcalloc(c->n_pricing, sizeof *rows);
    for (size_t i = 0; i < c->n_pricing; i++) {
        rows[i] = c->pricing[i];
        rows[i].model = xstrdup(c->pricing[i].model);
    }
    pricing_set_overrides(rows, c->n_pricing);
}
