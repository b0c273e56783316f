/*
 * forecast.h - quota forecasting for one meter: its recent samples, the
 * current segment (samples since the last reset), the burn rate as a
 * least-squares slope over that segment, and what follows from it (the
 * projection at the reset, when it runs out, how much lapses unused).
 * Pure arithmetic: no clock, no I/O, no globals; the caller passes now.
 *
 * Definitions (doc/meterd.yaml.5 states them for operators):
 *   consumption  the meter's used when known, else limit - remaining, else
 *                utilization (percent meters), else -remaining (a balance
 *                with no known limit: only its decline is consumption);
 *                the basis is chosen from the newest sample and kept for
 *                the whole segment.
 *   segment      the samples since the last reset within burn_window: a
 *                reset is consumption dropping beyond noise, remaining
 *                rising beyond noise, or resets_at moving forward by more
 *                than FC_RESET_JITTER_S.
 *   burn         least-squares slope of consumption over the segment, per
 *                hour, clamped at 0; needs >= min_samples spanning
 *                >= min_span.
 *   projected_at_reset = consumption now + burn x hours to resets_at;
 *   runway = remaining / burn; exhausts_at = now + runway when that is
 *   before resets_at (or there is none), else null (not_before_reset);
 *   projected_use_by_expiry = burn x time to expires_at; use_or_lose when
 *   remaining - that exceeds use_or_lose_min (default 10 % of remaining)
 *   and expires_at is within use_or_lose_horizon.
 * Every derived number that cannot be computed is unknown, and
 * fc_result.reason names why (the first missing input, see FC_R_*).
 *
 * Invariants: a fc_series holds at most FC_MAX_SAMPLES samples in time
 * order (a sample older than the newest one is dropped); samples older
 * than FC_KEEP_S before the newest one are dropped when one is added.
 * The newest FC_DENSE_SAMPLES are kept as fed; older ones are at least
 * FC_THIN_GAP_S apart (a sample leaving the dense tail closer than that
 * to the one before it is dropped), so FC_MAX_SAMPLES covers all of
 * FC_KEEP_S at any collection interval and a meter collected every
 * second holds about FC_DENSE_SAMPLES + 24 an hour, not 3600: the
 * memory of a series grows with time covered, not with collections.
 * Ownership: a fc_series owns its sample array (fc_series_release).
 * Threads: none of its own; one thread at a time per series.
 */
#ifndef METERD_FORECAST_H
#define METERD_FORECAST_H

#include <stddef.h>

#include "metric.h"

#define FC_MAX_SAMPLES 4096
/* The longest burn_window the configuration allows. */
#define FC_KEEP_S (7.0 * 86400)
/* The newest samples kept at the collection's own pace: enough for a
 * burn rate over a short min_span; older ones are thinned to
 * FC_THIN_GAP_S (about 2.5 minutes), the spacing at which the cap
 * spans FC_KEEP_S. */
#define FC_DENSE_SAMPLES 64
#define FC_THIN_GAP_S (FC_KEEP_S / (FC_MAX_SAMPLES - FC_DENSE_SAMPLES))
/* resets_at may wobble by this much between collections without meaning
 * a new window (providers round or recompute it). */
#define FC_RESET_JITTER_S 60.0

/* Forecast settings of one meter (forecast_conf.h resolves them). */
typedef struct fc_settings {
    long long burn_window_ms;       /* default 24h */
    long long min_samples;          /* default 3 */
    long long min_span_ms;          /* default 30m */
    double watch_at;                /* percent, default 80 */
    md_num topup_below;             /* meter unit; unknown: no threshold */
    md_num use_or_lose_min;         /* meter unit; unknown: 10 % of
                                       remaining */
    long long use_or_lose_horizon_ms;  /* default 14d */
    long long alert_hold_ms;        /* default 10m */
    long long fast_lane_interval_ms;   /* 0: a quarter of the interval */
} fc_settings;

/* The defaults above. */
fc_settings fc_settings_default(void);

typedef struct fc_sample {
    double at;                      /* epoch */
    md_num used, limit, remaining, utilization;
    md_time resets_at;
} fc_sample;

typedef struct fc_series {
    fc_sample *s;                   /* owned, time order */
    size_t n, cap;
} fc_series;

void fc_series_init(fc_series *f);
void fc_series_release(fc_series *f);
/* Append a sample (dropped when older than the newest one; replaces the
 * newest when at the same time). */
void fc_series_add(fc_series *f, const fc_sample *s);
/* The sample of m at `at`. */
fc_sample fc_sample_of(const metric *m, double at);

/* What consumption is measured as (see above). */
typedef enum {
    FC_BASIS_NONE = 0, FC_BASIS_USED, FC_BASIS_LIMIT_MINUS_REMAINING,
    FC_BASIS_UTILIZATION, FC_BASIS_REMAINING_DECLINE
} fc_basis;

/* Why a derived number is null (fc_result.reason; "" none). */
#define FC_R_NO_DATA "no_data"
#define FC_R_TOO_FEW "too_few_samples"
#define FC_R_SPAN "span_too_short"
#define FC_R_NO_CONSUMPTION "no_consumption"
#define FC_R_NOT_BEFORE_RESET "not_before_reset"
#define FC_R_NO_REMAINING "no_remaining"
#define FC_R_NO_RESET "no_reset"
#define FC_R_NO_LIMIT "no_limit"
#define FC_R_NO_EXPIRY "no_expiry"

typedef struct fc_result {
    fc_basis basis;
    size_t segment_samples;         /* samples in the segment */
    double segment_start;           /* epoch of its first sample, 0 none */
    md_num burn_per_hour, burn_per_day;
    md_num remaining;               /* in the consumption unit */
    md_num projected_at_reset, projected_utilization_at_reset;
    md_time exhausts_at;
    md_num runway_seconds;
    md_num projected_use_by_expiry;
    int use_or_lose;                /* 1: credits lapse unused */
    int expires_within_horizon;     /* expires_at known, within horizon */
    const char *reason;             /* static: why the first null is null */
} fc_result;

/* Least-squares slope of y over x (n points).  0 with *slope, or -1 when
 * n < 2 or every x is equal. */
int fc_slope(const double *x, const double *y, size_t n, double *slope);

/* Index of the first sample of the segment that ends with the newest
 * sample of s[0..n), looking back no further than since (epoch).  n when
 * no sample is at or after since. */
size_t fc_segment_start(const fc_sample *s, size_t n, fc_basis basis,
                        double since);

/* The basis of a sample (see above). */
fc_basis fc_basis_of(const fc_sample *s);

/* Forecast the meter whose newest values are m (the series' samples are
 * its history) with settings st at now. */
void fc_compute(const fc_series *f, const metric *m, const fc_settings *st,
                double now, fc_result *out);

#endif
