/*
 * config_forecast.c - the `forecast:` sections (top level and per
 * provider) and the top-level `notify:` command.
 *
 *   forecast:
 *     burn_window: 24h          # samples looked at for the burn rate
 *     min_samples: 3            # fewer: no burn rate
 *     min_span: 30m             # a shorter segment: no burn rate
 *     watch_at: 80              # utilization percent
 *     topup_below: 5            # remaining under this (meter unit)
 *     use_or_lose_min: 2        # lapsing more than this is use_or_lose
 *                               # (default: 10 % of remaining)
 *     use_or_lose_horizon: 14d  # only expiries this close count
 *     alert_hold: 10m           # flapping guard
 *     fast_lane_interval: 15s   # poll interval while urgent (default:
 *                               # a quarter of the provider's interval)
 *     meters:
 *       "five_hour*": {watch_at: 90}
 *   notify:
 *     command: [/usr/local/bin/page-me, --quota]
 *     timeout: 5s
 *
 * A provider may repeat `forecast:` (without notify) to override the top
 * level; forecast_conf.h says how the levels combine.  Every section a
 * file gives appends rules, so a drop-in overrides what came before.
 */
#include "config_int.h"

#include "parse.h"
#include "suggest.h"
#include "timeutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

typedef enum { FV_DURATION, FV_DAYS, FV_COUNT, FV_NUMBER } fv_type;

static const struct fkey {
    const char *name;
    fv_type type;
    unsigned bit;
    long long min, max;         /* durations (ms) and counts */
} fkeys[] = {
    {"burn_window", FV_DURATION, FCS_BURN_WINDOW, 1, 7 * DAY_MS},
    {"min_samples", FV_COUNT, FCS_MIN_SAMPLES, 2, 100000},
    {"min_span", FV_DURATION, FCS_MIN_SPAN, 0, 7 * DAY_MS},
    {"watch_at", FV_NUMBER, FCS_WATCH_AT, 0, 10000},
    {"topup_below", FV_NUMBER, FCS_TOPUP_BELOW, 0, 0},
    {"use_or_lose_min", FV_NUMBER, FCS_USE_OR_LOSE_MIN, 0, 0},
    {"use_or_lose_horizon", FV_DAYS, FCS_HORIZON, 1000, 3660 * DAY_MS},
    {"alert_hold", FV_DURATION, FCS_ALERT_HOLD, 0, DAY_MS},
    {"fast_lane_interval", FV_DURATION, FCS_FAST_LANE, 1, DAY_MS},
};
#define N_FKEYS (sizeof fkeys / sizeof fkeys[0])

static void store(fc_settings *s, unsigned bit, long long n, double d)
{
    switch (bit) {
    case FCS_BURN_WINDOW: s->burn_window_ms = n; break;
    case FCS_MIN_SAMPLES: s->min_samples = n; break;
    case FCS_MIN_SPAN: s->min_span_ms = n; break;
    case FCS_WATCH_AT: s->watch_at = d; break;
    case FCS_TOPUP_BELOW: s->topup_below = MD_NUM(d); break;
    case FCS_USE_OR_LOSE_MIN: s->use_or_lose_min = MD_NUM(d); break;
    case FCS_HORIZON: s->use_or_lose_horizon_ms = n; break;
    case FCS_ALERT_HOLD: s->alert_hold_ms = n; break;
    case FCS_FAST_LANE: s->fast_lane_interval_ms = n; break;
    default: break;
    }
}

/* One value of a forecast key into r.  0 or -1 after a diagnostic. */
static int read_value(loader *L, yfile *y, const struct fkey *k,
                      yaml_node_t *v, fc_rule *r, const char *what)
{
    if (v->type != YAML_SCALAR_NODE) {
        DIAG(L, at_node(y, v), "%s: %s: expected a value, not a %s", what,
             k->name, node_kind(v));
        return -1;
    }
    char *s = get_string(L, y, v, k->name, 0, NULL);
    if (!s)
        return -1;
    long long n = 0;
    double d = 0;
    int rc = -1;
    switch (k->type) {
    case FV_DURATION:
    case FV_DAYS:
        if ((k->type == FV_DAYS ? duration_parse_days(s, &n)
                                : duration_parse(s, &n)) != 0)
            DIAG(L, at_node(y, v), "%s: %s: '%s' is not a duration", what,
                 k->name, s);
        else if (n < k->min || n > k->max)
            DIAG(L, at_node(y, v), "%s: %s: %s is out of range", what,
                 k->name, s);
        else
            rc = 0;
        break;
    case FV_COUNT:
        if (parse_int(s, &n) != 0 || n < k->min || n > k->max)
            DIAG(L, at_node(y, v), "%s: %s: '%s' is not a whole number from "
                 "%lld to %lld", what, k->name, s, k->min, k->max);
        else
            rc = 0;
        break;
    case FV_NUMBER:
        if (parse_number(s, &d) != 0 || !isfinite(d) || d < 0 ||
            (k->max && d > (double)k->max))
            DIAG(L, at_node(y, v), "%s: %s: '%s' is not a number%s", what,
                 k->name, s, k->max ? " from 0 to 10000" : " >= 0");
        else
            rc = 0;
        break;
    }
    free(s);
    if (rc == 0) {
        store(&r->v, k->bit, n, d);
        r->set |= k->bit;
    }
    return rc;
}

static void unknown_forecast_key(loader *L, where w, const char *what,
                                 const char *k, int with_meters)
{
    const char *cands[N_FKEYS + 1];
    size_t n = 0;
    for (size_t i = 0; i < N_FKEYS; i++)
        cands[n++] = fkeys[i].name;
    if (with_meters)
        cands[n++] = "meters";
    const char *near = suggest(k, cands, n, 2);
    if (near) {
        DIAG(L, w, "%s: unknown key '%s' (did you mean '%s'?)", what, k, near);
        return;
    }
    buf b;
    buf_init(&b, 256);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", cands[i]);
    DIAG(L, w, "%s: unknown key '%s' (known: %s)", what, k, buf_str(&b));
    buf_release(&b);
}

static void add_rule(config *c, const fc_rule *r)
{
    forecast_conf *f = &c->forecast;
    f->rules = xrealloc(f->rules, (f->n_rules + 1) * sizeof *f->rules);
    f->rules[f->n_rules++] = *r;
}

static void apply_level(loader *L, yfile *y, yaml_node_t *n,
                        const char *provider, const char *glob,
                        const char *what);

static void apply_meters(loader *L, yfile *y, yaml_node_t *n,
                         const char *provider, const char *what)
{
    char sub[400];
    snprintf(sub, sizeof sub, "%s: meters", what);
    if (node_is_null(n) || check_mapping(L, y, n, sub))
        return;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key);
        const char *glob = node_scalar(kn);
        if (!glob)
            continue; /* reported by check_mapping */
        if (!*glob) {
            DIAG(L, at_node(y, kn), "%s: a meter glob cannot be empty", sub);
            continue;
        }
        char inner[520];
        snprintf(inner, sizeof inner, "%s: '%.64s'", sub, glob);
        apply_level(L, y, ynode(y, pair->value), provider, glob, inner);
    }
}

static void apply_level(loader *L, yfile *y, yaml_node_t *n,
                        const char *provider, const char *glob,
                        const char *what)
{
    if (node_is_null(n) || check_mapping(L, y, n, what))
        return;
    fc_rule r = {.provider = NULL, .glob = NULL, .set = 0,
                 .v = fc_settings_default()};
    yaml_node_t *meters = NULL;
    int bad = 0;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        const char *k = node_scalar(kn);
        if (!k)
            continue;
        if (!glob && strcmp(k, "meters") == 0) {
            meters = v;
            continue;
        }
        size_t i = 0;
        while (i < N_FKEYS && strcmp(fkeys[i].name, k) != 0)
            i++;
        if (i == N_FKEYS) {
            unknown_forecast_key(L, at_node(y, kn), what, k, !glob);
            bad = 1;
        } else if (read_value(L, y, &fkeys[i], v, &r, what) != 0) {
            bad = 1;
        }
    }
    if (!bad && r.set) {
        r.provider = xstrdup(provider);
        r.glob = xstrdup(glob);
        add_rule(L->c, &r);
    }
    if (meters)
        apply_meters(L, y, meters, provider, what);
}

void apply_forecast(loader *L, yfile *y, yaml_node_t *n, const char *provider)
{
    char what[300];
    if (provider)
        snprintf(what, sizeof what, "provider '%s': forecast", provider);
    else
        snprintf(what, sizeof what, "forecast");
    apply_level(L, y, n, provider, NULL, what);
}

void apply_notify(loader *L, yfile *y, yaml_node_t *n)
{
    static const char *const keys[] = {"command", "timeout"};
    if (node_is_null(n) || check_mapping(L, y, n, "notify"))
        return;
    forecast_conf *f = &L->c->forecast;
    FOR_PAIRS(pair, n) {
        yaml_node_t *kn = ynode(y, pair->key), *v = ynode(y, pair->value);
        const char *k = node_scalar(kn);
        if (!k)
            continue;
        if (strcmp(k, "timeout") == 0) {
            char *s = get_string(L, y, v, "notify: timeout", 0, NULL);
            long long ms;
            if (s && (duration_parse(s, &ms) != 0 || ms < 1 ||
                      ms > 10 * 60 * 1000LL))
                DIAG(L, at_node(y, v), "notify: timeout: '%s' is not a "
                     "duration from 1ms to 10m", s);
            else if (s)
                f->notify_timeout_ms = ms;
            free(s);
        } else if (strcmp(k, "command") == 0) {
            if (v->type != YAML_SEQUENCE_NODE ||
                v->data.sequence.items.start == v->data.sequence.items.top) {
                DIAG(L, at_node(y, v), "notify: command must be a non-empty "
                     "list (the program and its arguments; no shell)");
                continue;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top -
                                  v->data.sequence.items.start);
            char **argv = xcalloc(cnt + 1, sizeof *argv);
            size_t i = 0;
            int bad = 0;
            FOR_ITEMS(it, v) {
                yaml_node_t *m = ynode(y, *it);
                char *s = m->type == YAML_SCALAR_NODE
                              ? get_string(L, y, m, "notify: command", 0, NULL)
                              : NULL;
                if (!s || (i == 0 && !*s)) {
                    if (m->type != YAML_SCALAR_NODE || (s && !*s))
                        DIAG(L, at_node(y, m), "notify: command: each item "
                             "must be a string (the first non-empty)");
                    free(s);
                    bad = 1;
                    continue;
                }
                argv[i++] = s;
            }
            if (bad) {
                for (size_t j = 0; j < i; j++)
                    free(argv[j]);
                free(argv);
                continue;
            }
            for (char **a = f->notify_argv; a && *a; a++)
                free(*a);
            free(f->notify_argv);
            f->notify_argv = argv;
        } else {
            unknown_key(L, at_node(y, kn), k, keys, 2);
        }
    }
}
