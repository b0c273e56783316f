/*
 * forecast_conf.h - the forecast settings as configured (`forecast:` at
 * the top level and per provider, with `meters: {GLOB: {...}}` inside
 * either) and the `notify:` command, and how one meter's settings are
 * resolved from them.
 *
 * Resolution for (provider P, meter M), each later step overriding only
 * the fields it sets: the defaults (fc_settings_default), the top-level
 * forecast:, P's forecast:, the top-level meters: globs matching M (file
 * order), P's meters: globs matching M (file order).  Globs are
 * fnmatch(3) patterns on the meter id.
 *
 * Invariants: a rule's `set` bits name exactly the fields it gives.
 * Ownership: a forecast_conf owns its rules, their strings and the notify
 * argv (forecast_conf_release).  Immutable once loaded (part of a config).
 * Threads: read-only after loading.
 */
#ifndef METERD_FORECAST_CONF_H
#define METERD_FORECAST_CONF_H

#include <stddef.h>

#include "forecast.h"

/* Bits of fc_rule.set, one per fc_settings field. */
enum {
    FCS_BURN_WINDOW = 1u << 0, FCS_MIN_SAMPLES = 1u << 1,
    FCS_MIN_SPAN = 1u << 2, FCS_WATCH_AT = 1u << 3,
    FCS_TOPUP_BELOW = 1u << 4, FCS_USE_OR_LOSE_MIN = 1u << 5,
    FCS_HORIZON = 1u << 6, FCS_ALERT_HOLD = 1u << 7,
    FCS_FAST_LANE = 1u << 8
};

typedef struct fc_rule {
    char *provider;     /* owned; NULL: the top-level forecast: */
    char *glob;         /* owned; NULL: every meter */
    unsigned set;       /* FCS_* */
    fc_settings v;      /* the fields named by set */
} fc_rule;

#define NOTIFY_TIMEOUT_DEFAULT_MS 5000LL

typedef struct forecast_conf {
    fc_rule *rules;     /* owned, file order */
    size_t n_rules;
    char **notify_argv; /* owned, NULL-terminated; NULL: no command */
    long long notify_timeout_ms;
} forecast_conf;

void forecast_conf_init(forecast_conf *c);
void forecast_conf_release(forecast_conf *c);
/* Deep copy (dst is overwritten). */
void forecast_conf_copy(forecast_conf *dst, const forecast_conf *src);

/* The settings of meter (NULL: the provider's own) of provider. */
fc_settings forecast_conf_resolve(const forecast_conf *c, const char *provider,
                                  const char *meter);

#endif
