/* forecast_conf.c - resolving forecast settings (contract:
 * forecast_conf.h). */
#include "forecast_conf.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void forecast_conf_init(forecast_conf *c)
{
    memset(c, 0, sizeof *c);
    c->notify_timeout_ms = NOTIFY_TIMEOUT_DEFAULT_MS;
}

void forecast_conf_release(forecast_conf *c)
{
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i].provider);
        free(c->rules[i].glob);
    }
    free(c->rules);
    for (char **a = c->notify_argv; a && *a; a++)
        free(*a);
    free(c->notify_argv);
    forecast_conf_init(c);
}

void forecast_conf_copy(forecast_conf *dst, const forecast_conf *src)
{
    forecast_conf_init(dst);
    dst->notify_timeout_ms = src->notify_timeout_ms;
    dst->n_rules = src->n_rules;
    dst->rules = xcalloc(src->n_rules ? src->n_rules : 1, sizeof *dst->rules);
    for (size_t i = 0; i < src->n_rules; i++) {
        dst->rules[i] = src->rules[i];
        dst->rules[i].provider = xstrdup(src->rules[i].provider);
        dst->rules[i].glob = xstrdup(src->rules[i].glob);
    }
    if (src->notify_argv) {
        size_t n = 0;
        while (src->notify_argv[n])
            n++;
        dst->notify_argv = xcalloc(n + 1, sizeof *dst->notify_argv);
        for (size_t i = 0; i < n; i++)
            dst->notify_argv[i] = xstrdup(src->notify_argv[i]);
    }
}

static void overlay(fc_settings *s, const fc_rule *r)
{
    if (r->set & FCS_BURN_WINDOW)
        s->burn_window_ms = r->v.burn_window_ms;
    if (r->set & FCS_MIN_SAMPLES)
        s->min_samples = r->v.min_samples;
    if (r->set & FCS_MIN_SPAN)
        s->min_span_ms = r->v.min_span_ms;
    if (r->set & FCS_WATCH_AT)
        s->watch_at = r->v.watch_at;
    if (r->set & FCS_TOPUP_BELOW)
        s->topup_below = r->v.topup_below;
    if (r->set & FCS_USE_OR_LOSE_MIN)
        s->use_or_lose_min = r->v.use_or_lose_min;
    if (r->set & FCS_HORIZON)
        s->use_or_lose_horizon_ms = r->v.use_or_lose_horizon_ms;
    if (r->set & FCS_ALERT_HOLD)
        s->alert_hold_ms = r->v.alert_hold_ms;
    if (r->set & FCS_FAST_LANE)
        s->fast_lane_interval_ms = r->v.fast_lane_interval_ms;
}

fc_settings forecast_conf_resolve(const forecast_conf *c, const char *provider,
                                  const char *meter)
{
    fc_settings s = fc_settings_default();
    /* step 0: top-level, 1: provider's, 2: top-level globs, 3: provider's
     * globs */
    for (int step = 0; step < 4; step++) {
        int want_provider = step & 1, want_glob = step >> 1;
        for (size_t i = 0; i < c->n_rules; i++) {
            const fc_rule *r = &c->rules[i];
            if ((r->provider != NULL) != want_provider ||
                (r->glob != NULL) != want_glob)
                continue;
            if (r->provider && (!provider || strcmp(r->provider, provider)))
                continue;
            if (r->glob && (!meter || fnmatch(r->glob, meter, 0) != 0))
                continue;
            overlay(&s, r);
        }
    }
    return s;
}
