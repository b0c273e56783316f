/* pricing.c - price lookup and cell cost (pricing.h). */
#include "pricing.h"

#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* pricing_parts_cost indexes the prices by the SDK's priced buckets. */
_Static_assert((int)MD_PRICED_INPUT == (int)PR_IN &&
               (int)MD_PRICED_OUTPUT == (int)PR_OUT &&
               (int)MD_PRICED_CACHE_WRITE == (int)PR_CW &&
               (int)MD_PRICED_CACHE_READ == (int)PR_CR,
               "MD_PRICED_* follow PR_*");

static pthread_mutex_t overrides_lock = PTHREAD_MUTEX_INITIALIZER;
static pricing_row *overrides;
static size_t n_overrides;

void pricing_rows_free(pricing_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].model);
    free(rows);
}

void pricing_set_overrides(pricing_row *rows, size_t n)
{
    pthread_mutex_lock(&overrides_lock);
    pricing_row *old = overrides;
    size_t n_old = n_overrides;
    overrides = rows;
    n_overrides = rows ? n : 0;
    pthread_mutex_unlock(&overrides_lock);
    pricing_rows_free(old, n_old);
}

static const pricing_row *builtin_find(const char *name, size_t len)
{
    size_t lo = 0, hi = pricing_builtin_n;
    while (lo < hi) {   /* the generator writes the table sorted */
        size_t mid = (lo + hi) / 2;
        const char *m = pricing_builtin[mid].model;
        int c = strncmp(m, name, len);
        if (c == 0)
            c = m[len] ? 1 : 0;
        if (c == 0)
            return &pricing_builtin[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Length of name without a trailing "-YYYYMMDD" or "-YYYY-MM-DD", or 0
 * when it has none. */
static size_t undated_len(const char *name, size_t len)
{
    static const char *const shapes[] = {"-dddddddd", "-dddd-dd-dd"};
    for (size_t s = 0; s < 2; s++) {
        size_t k = strlen(shapes[s]);
        if (len <= k)
            continue;
        const char *t = name + len - k;
        size_t i = 0;
        for (; i < k; i++)
            if (shapes[s][i] == 'd' ? !isdigit((unsigned char)t[i])
                                    : t[i] != shapes[s][i])
                break;
        if (i == k)
            return len - k;
    }
    return 0;
}

int pricing_glob_matches_builtin(const char *glob)
{
    for (size_t i = 0; i < pricing_builtin_n; i++)
        if (fnmatch(glob, pricing_builtin[i].model, 0) == 0)
            return 1;
    return 0;
}

int pricing_lookup(const char *model, pricing_row *out)
{
    if (!model)
        return -1;
    pthread_mutex_lock(&overrides_lock);
    for (size_t i = 0; i < n_overrides; i++)
        if (fnmatch(overrides[i].model, model, 0) == 0) {
            *out = overrides[i];
            out->model = NULL;   /* the override's string is not ours */
            pthread_mutex_unlock(&overrides_lock);
            return 1;
        }
    pthread_mutex_unlock(&overrides_lock);
    const char *name = model;
    size_t len = strlen(name);
    const pricing_row *r = builtin_find(name, len);
    if (!r) {
        const char *slash = strrchr(name, '/');
        if (slash) {
            name = slash + 1;
            len = strlen(name);
            r = builtin_find(name, len);
        }
    }
    if (!r) {
        size_t u = undated_len(name, len);
        if (u)
            r = builtin_find(name, u);
    }
    if (!r)
        return -1;
    *out = *r;
    return 0;
}

/* tokens of one bucket over `events` messages at base / above-threshold
 * prices (see pricing.h for the per-message mean). */
static double bucket_cost(double tokens, double events, double base,
                          double above)
{
    if (tokens <= 0)
        return 0;
    if (above < 0 || events < 1)
        return tokens * base;
    double mean = tokens / events;
    if (mean <= PRICING_THRESHOLD)
        return tokens * base;
    return events * (PRICING_THRESHOLD * base +
                     (mean - PRICING_THRESHOLD) * above);
}

md_num pricing_cell_cost(const pricing_row *p, md_num input_uncached,
                         md_num cache_write, md_num cache_read,
                         md_num output, double events)
{
    const md_num b[4] = {input_uncached, output, cache_write, cache_read};
    double sum = 0;
    for (int k = 0; k < 4; k++) {
        if (b[k].state == MD_NOT_APPLICABLE)
            continue;
        if (b[k].state != MD_KNOWN)
            return (md_num){MD_UNKNOWN, 0};
        sum += bucket_cost(b[k].value, events, p->p[k], p->p[k + 4]);
    }
    return MD_NUM(sum);
}

md_num pricing_cell_cost_1h(const pricing_row *p, md_num input_uncached,
                            md_num cache_write, md_num cache_write_1h,
                            md_num cache_read, md_num output, double events)
{
    double h1 = cache_write_1h.state == MD_KNOWN ? cache_write_1h.value : 0;
    if (h1 <= 0 || cache_write.state != MD_KNOWN)
        return pricing_cell_cost(p, input_uncached, cache_write, cache_read,
                                 output, events);
    if (h1 > cache_write.value)
        h1 = cache_write.value;   /* a subset; never charge more tokens */
    md_num rest = pricing_cell_cost(p, input_uncached,
                                    MD_NUM(cache_write.value - h1),
                                    cache_read, output, events);
    if (rest.state != MD_KNOWN)
        return rest;
    double base = p->p[PR_CW_1H] >= 0 ? p->p[PR_CW_1H] : 2 * p->p[PR_IN];
    double above = p->p[PR_IN_HI] >= 0 ? 2 * p->p[PR_IN_HI] : PRICING_NO_TIER;
    return MD_NUM(rest.value + bucket_cost(h1, events, base, above));
}

md_num pricing_parts_cost(const pricing_row *p, const usage_parts *parts)
{
    double sum = parts->own_usd;
    for (int k = 0; k < MD_PRICED_N; k++) {
        if (parts->tokens[k] <= 0)
            continue;
        double base, above;
        if (k == MD_PRICED_CACHE_WRITE_1H) {
            base = p->p[PR_CW_1H] >= 0 ? p->p[PR_CW_1H] : 2 * p->p[PR_IN];
            above = p->p[PR_IN_HI] >= 0 ? 2 * p->p[PR_IN_HI] : PRICING_NO_TIER;
        } else {
            base = p->p[k];
            above = p->p[k + 4];
        }
        /* tier: T*base + (t-T)*above = t*base + (t-T)*(above-base) */
        sum += parts->tokens[k] * base;
        if (above >= 0)
            sum += parts->above[k] * (above - base);
    }
    return MD_NUM(sum);
}

/* Whether a stored cell's cost needs its model's price: not when its
 * events priced themselves and left no token, when its source reported
 * its cost, or when it has no token to pay for. */
static int cell_needs_price(const md_num *b, const usage_parts *parts)
{
    if (parts && parts->known) {
        int any = 0;
        for (int k = 0; k < MD_PRICED_N; k++)
            any |= parts->tokens[k] > 0;
        return any;
    }
    if (b[UB_COST].state == MD_KNOWN)
        return 0;
    static const usage_bucket paid[] = {UB_INPUT_UNCACHED, UB_CACHE_WRITE,
                                        UB_CACHE_READ, UB_OUTPUT};
    for (size_t k = 0; k < sizeof paid / sizeof paid[0]; k++)
        if (b[paid[k]].state == MD_UNKNOWN ||
            (b[paid[k]].state == MD_KNOWN && b[paid[k]].value > 0))
            return 1;
    return 0;
}

md_num pricing_stored_cell_cost_at(const pricing_row *p, const md_num *b,
                                   double events, const usage_parts *parts,
                                   int *unpriced)
{
    static const pricing_row free_of_charge = {.model = NULL};
    if (!cell_needs_price(b, parts)) {
        if (parts && parts->known)
            return pricing_parts_cost(NULL, parts);
        if (b[UB_COST].state == MD_KNOWN)
            return b[UB_COST];
        p = &free_of_charge;   /* no token to pay for: 0 whatever the price */
    } else if (!p) {
        *unpriced = 1;
        return (md_num){MD_UNKNOWN, 0};
    }
    if (parts && parts->known)
        return pricing_parts_cost(p, parts);
    return pricing_cell_cost_1h(p, b[UB_INPUT_UNCACHED], b[UB_CACHE_WRITE],
                                b[UB_CACHE_WRITE_1H], b[UB_CACHE_READ],
                                b[UB_OUTPUT], events);
}

md_num pricing_stored_cell_cost(const char *model, const md_num *b,
                                double events, const usage_parts *parts,
                                int *unpriced)
{
    pricing_row p;
    int priced = cell_needs_price(b, parts) && pricing_lookup(model, &p) >= 0;
    return pricing_stored_cell_cost_at(priced ? &p : NULL, b, events, parts,
                                       unpriced);
}
