/* ratelimit.c - rate-limit header dialects to metrics (see ratelimit.h). */
#include "ratelimit.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "timeutil.h"

#define MAX_RL_METRICS 64

typedef struct headers {
    const char *const *names, *const *values;
    size_t n;
    double now;
    const char *prefix;
    rl_metric *out;
    size_t n_out;
} headers;

static const char *hget(const headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->names[i] && strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

/* A finite non-negative number, else unknown (strtod reads "1e400" as
 * infinity and accepts "inf" and "nan"). */
static md_num hnum(const headers *h, const char *name)
{
    const char *v = hget(h, name);
    char *end;
    if (!v)
        return (md_num){MD_UNKNOWN, 0};
    double d = strtod(v, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (end == v || *end || d < 0 || !isfinite(d))
        return (md_num){MD_UNKNOWN, 0};
    return MD_NUM(d);
}

static md_time htime(const headers *h, const char *name, ts_dialect d)
{
    double t;
    const char *v = hget(h, name);
    if (!v || timestamp_parse(v, d, h->now, &t) != 0)
        return (md_time){MD_UNKNOWN, 0};
    return MD_TIME(t);
}

/* Append a metric; NULL when the array is full or the id already exists. */
static rl_metric *add(headers *h, const char *id, const char *label,
                      const char *kind, const char *unit)
{
    if (h->n_out >= MAX_RL_METRICS)
        return NULL;
    char full[96];
    snprintf(full, sizeof full, "%s%s", h->prefix ? h->prefix : "", id);
    for (size_t i = 0; i < h->n_out; i++)
        if (strcmp(h->out[i].id, full) == 0)
            return NULL;
    if (!h->out)
        h->out = xcalloc(MAX_RL_METRICS, sizeof *h->out);
    rl_metric *r = &h->out[h->n_out++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", full);
    snprintf(r->label, sizeof r->label, "%s", label);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->m.id = r->id;
    r->m.label = r->label;
    r->m.kind = r->kind;
    r->m.unit = r->unit;
    r->m.source = "headers";
    return r;
}

static int any_known(md_num a, md_num b, md_time t)
{
    return a.state == MD_KNOWN || b.state == MD_KNOWN || t.state == MD_KNOWN;
}

/* The dialects that send a limit, a remaining count and a reset time per
 * family, one header each.  Order matters: the first row to produce an
 * id wins (OpenRouter's unsuffixed headers only fill ratelimit_requests
 * when OpenAI's suffixed ones did not). */
typedef struct triple_dialect {
    const char *limit, *remaining, *reset;   /* header names */
    ts_dialect reset_as;
    const char *family;  /* id ratelimit_<family> ('-' as '_'), label */
    const char *unit;
} triple_dialect;

static const triple_dialect triples[] = {
    /* OpenAI: -requests/-tokens suffixes, resets as Go durations. */
    {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
     "x-ratelimit-reset-requests", TS_GO_DURATION, "requests", "requests"},
    {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
     "x-ratelimit-reset-tokens", TS_GO_DURATION, "tokens", "tokens"},
    /* OpenRouter: no suffix, resets as epoch seconds or milliseconds. */
    {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
     TS_EPOCH_S_OR_MS, "requests", "requests"},
    /* Anthropic: four families, resets as RFC 3339 times. */
    {"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
     "anthropic-ratelimit-requests-reset", TS_RFC3339, "requests", "requests"},
    {"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining",
     "anthropic-ratelimit-tokens-reset", TS_RFC3339, "tokens", "tokens"},
    {"anthropic-ratelimit-input-tokens-limit",
     "anthropic-ratelimit-input-tokens-remaining",
     "anthropic-ratelimit-input-tokens-reset", TS_RFC3339, "input-tokens", "tokens"},
    {"anthropic-ratelimit-output-tokens-limit",
     "anthropic-ratelimit-output-tokens-remaining",
     "anthropic-ratelimit-output-tokens-reset", TS_RFC3339, "output-tokens", "tokens"},
};

static void parse_triples(headers *h)
{
    for (size_t i = 0; i < sizeof triples / sizeof triples[0]; i++) {
        const triple_dialect *t = &triples[i];
        md_num lim = hnum(h, t->limit), rem = hnum(h, t->remaining);
        md_time reset = htime(h, t->reset, t->reset_as);
        if (!any_known(lim, rem, reset))
            continue;
        char id[48], label[64];
        snprintf(id, sizeof id, "ratelimit_%s", t->family);
        for (char *p = id; *p; p++)
            if (*p == '-')
                *p = '_';
        snprintf(label, sizeof label, "Rate limit (%s)", t->family);
        rl_metric *r = add(h, id, label, "rate_limit", t->unit);
        if (r) {
            r->m.limit = lim;
            r->m.remaining = rem;
            r->m.resets_at = reset;
        }
    }
}

/* Whether name is <pre><middle><suf> (case-insensitively) with a middle
 * that fits cap; if so, middle = the lowercased middle. */
static int match_affixes(const char *name, const char *pre, const char *suf,
                         char *middle, size_t cap)
{
    size_t nl = name ? strlen(name) : 0, pl = strlen(pre), sl = strlen(suf);
    if (nl <= pl + sl || strncasecmp(name, pre, pl) != 0 ||
        strcasecmp(name + nl - sl, suf) != 0)
        return 0;
    size_t ml = nl - pl - sl;
    if (ml >= cap)
        return 0;
    for (size_t i = 0; i < ml; i++)
        middle[i] = (char)tolower((unsigned char)name[pl + i]);
    middle[ml] = '\0';
    return 1;
}

/* "5h" -> five_hour (18000 s), "7d..." -> seven_day... (604800 s). */
static void window_id(const char *w, char *id, size_t len, double *seconds)
{
    const char *rest = w;
    const char *base = NULL;
    *seconds = -1;
    if (strncmp(w, "5h", 2) == 0) {
        base = "five_hour";
        rest = w + 2;
        *seconds = 18000;
    } else if (strncmp(w, "7d", 2) == 0) {
        base = "seven_day";
        rest = w + 2;
        *seconds = 604800;
    }
    if (base)
        snprintf(id, len, "%s%s%s", base, *rest ? "_" : "",
                 *rest == '-' || *rest == '_' ? rest + 1 : rest);
    else
        snprintf(id, len, "unified_%s", w);
    for (char *p = id; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
}

static void parse_unified(headers *h)
{
    static const char pre[] = "anthropic-ratelimit-unified-";
    static const char suf[] = "-utilization";
    for (size_t i = 0; i < h->n; i++) {
        const char *name = h->names[i];
        char w[48];
        if (!match_affixes(name, pre, suf, w, sizeof w))
            continue;
        if (strcmp(w, "overage") == 0)
            continue; /* pay-as-you-go state, not a window */
        char id[64], label[96], reset_name[128];
        double secs;
        window_id(w, id, sizeof id, &secs);
        snprintf(label, sizeof label, "Claude %s window (headers)", w);
        rl_metric *r = add(h, id, label, "quota_window", "percent");
        if (!r)
            continue;
        md_num frac = hnum(h, name);
        if (frac.state == MD_KNOWN)
            r->m.utilization = MD_NUM(frac.value * 100.0);
        snprintf(reset_name, sizeof reset_name, "%s%s-reset", pre, w);
        r->m.resets_at = htime(h, reset_name, TS_EPOCH_S_OR_MS);
        if (secs > 0)
            r->m.window_seconds = MD_NUM(secs);
    }
}

static void codex_window_id(const char *limit, const char *slot, md_num minutes,
                            char *id, size_t len)
{
    char base[32];
    if (minutes.state == MD_KNOWN && minutes.value == 300)
        snprintf(base, sizeof base, "five_hour");
    else if (minutes.state == MD_KNOWN && minutes.value == 10080)
        snprintf(base, sizeof base, "seven_day");
    else if (minutes.state == MD_KNOWN)
        snprintf(base, sizeof base, "window_%.0fm", minutes.value);
    else
        snprintf(base, sizeof base, "%.12s_window", slot);
    snprintf(id, len, "%.48s%s%s", limit, *limit ? "_" : "", base);
    for (char *p = id; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
}

static void parse_codex(headers *h)
{
    static const char pre[] = "x-codex-";
    static const char suf[] = "-used-percent";
    for (size_t i = 0; i < h->n; i++) {
        const char *name = h->names[i];
        char mid[64]; /* "[<limit>-]primary" */
        if (!match_affixes(name, pre, suf, mid, sizeof mid))
            continue;
        char *dash = strrchr(mid, '-');
        const char *slot = dash ? dash + 1 : mid;
        if (strcmp(slot, "primary") != 0 && strcmp(slot, "secondary") != 0)
            continue;
        char limit[64] = "";
        if (dash) {
            memcpy(limit, mid, (size_t)(dash - mid));
            limit[dash - mid] = '\0';
        }
        char key[128], id[96], label[128];
        snprintf(key, sizeof key, "%s%s-window-minutes", pre, mid);
        md_num minutes = hnum(h, key);
        codex_window_id(limit, slot, minutes, id, sizeof id);
        snprintf(label, sizeof label, "Codex %.40s%s%.10s window (headers)", limit,
                 *limit ? " " : "", slot);
        rl_metric *r = add(h, id, label, "quota_window", "percent");
        if (!r)
            continue;
        r->m.utilization = hnum(h, name);
        if (minutes.state == MD_KNOWN)
            r->m.window_seconds = MD_NUM(minutes.value * 60);
        snprintf(key, sizeof key, "%s%s-reset-at", pre, mid);
        r->m.resets_at = htime(h, key, TS_EPOCH_S_OR_MS);
        if (r->m.resets_at.state != MD_KNOWN) {
            snprintf(key, sizeof key, "%s%s-reset-after-seconds", pre, mid);
            r->m.resets_at = htime(h, key, TS_RELATIVE_S);
        }
    }
}

size_t ratelimit_parse(const char *const *names, const char *const *values,
                       size_t n, double now, const char *id_prefix,
                       rl_metric **out, double *retry_after)
{
    headers h = {.names = names, .values = values, .n = n, .now = now,
                 .prefix = id_prefix};
    parse_triples(&h);
    parse_unified(&h);
    parse_codex(&h);
    if (retry_after) {
        double t;
        const char *ra = hget(&h, "retry-after");
        *retry_after = -1;
        if (ra && timestamp_parse(ra, TS_RELATIVE_S, now, &t) == 0)
            *retry_after = t - now;
        else if (ra && http_date_parse(ra, &t) == 0)
            *retry_after = t > now ? t - now : 0;
    }
    *out = h.out;
    return h.n_out;
}
