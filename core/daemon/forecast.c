/* forecast.c - burn rate, segments and projections of one meter
 * (contract: forecast.h). */
#include "forecast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define HOUR_S 3600.0
/* A change smaller than this (relative) is rounding, not a reset. */
#define NOISE_REL 1e-6

fc_settings fc_settings_default(void)
{
    return (fc_settings){
        .burn_window_ms = 24LL * 3600 * 1000,
        .min_samples = 3,
        .min_span_ms = 30LL * 60 * 1000,
        .watch_at = 80.0,
        .topup_below = {MD_UNKNOWN, 0},
        .use_or_lose_min = {MD_UNKNOWN, 0},
        .use_or_lose_horizon_ms = 14LL * 86400 * 1000,
        .alert_hold_ms = 10LL * 60 * 1000,
        .fast_lane_interval_ms = 0,
    };
}

void fc_series_init(fc_series *f)
{
    memset(f, 0, sizeof *f);
}

void fc_series_release(fc_series *f)
{
    free(f->s);
    fc_series_init(f);
}

void fc_series_add(fc_series *f, const fc_sample *s)
{
    if (f->n && s->at < f->s[f->n - 1].at)
        return;
    if (f->n && s->at == f->s[f->n - 1].at) {
        f->s[f->n - 1] = *s;
        return;
    }
    /* Drop what no burn_window can reach, and the oldest past the cap. */
    size_t drop = 0;
    while (drop < f->n && f->s[drop].at < s->at - FC_KEEP_S)
        drop++;
    if (f->n - drop >= FC_MAX_SAMPLES)
        drop = f->n - FC_MAX_SAMPLES + 1;
    if (drop) {
        memmove(f->s, f->s + drop, (f->n - drop) * sizeof *f->s);
        f->n -= drop;
    }
    /* The sample that leaves the dense tail with this one stays only
     * FC_THIN_GAP_S after its predecessor: without it a meter collected
     * every second fills the cap (360 KiB) within the hour, and the cap
     * then cuts its burn window to that hour. */
    if (f->n > FC_DENSE_SAMPLES) {
        size_t k = f->n - FC_DENSE_SAMPLES;
        if (f->s[k].at - f->s[k - 1].at < FC_THIN_GAP_S) {
            memmove(f->s + k, f->s + k + 1, (f->n - k - 1) * sizeof *f->s);
            f->n--;
        }
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->s = xrealloc(f->s, f->cap * sizeof *f->s);
    }
    f->s[f->n++] = *s;
}

fc_sample fc_sample_of(const metric *m, double at)
{
    return (fc_sample){.at = at, .used = m->used, .limit = m->limit,
                       .remaining = m->remaining,
                       .utilization = m->utilization,
                       .resets_at = m->resets_at};
}

static int known(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value);
}

fc_basis fc_basis_of(const fc_sample *s)
{
    if (known(s->used))
        return FC_BASIS_USED;
    if (known(s->limit) && known(s->remaining))
        return FC_BASIS_LIMIT_MINUS_REMAINING;
    if (known(s->utilization))
        return FC_BASIS_UTILIZATION;
    if (known(s->remaining))
        return FC_BASIS_REMAINING_DECLINE;
    return FC_BASIS_NONE;
}

/* Consumption of s under basis into *c: 1, or 0 when s lacks it. */
static int consumption(const fc_sample *s, fc_basis basis, double *c)
{
    switch (basis) {
    case FC_BASIS_USED:
        if (!known(s->used))
            return 0;
        *c = s->used.value;
        return 1;
    case FC_BASIS_LIMIT_MINUS_REMAINING:
        if (!known(s->limit) || !known(s->remaining))
            return 0;
        *c = s->limit.value - s->remaining.value;
        return 1;
    case FC_BASIS_UTILIZATION:
        if (!known(s->utilization))
            return 0;
        *c = s->utilization.value;
        return 1;
    case FC_BASIS_REMAINING_DECLINE:
        if (!known(s->remaining))
            return 0;
        *c = -s->remaining.value;
        return 1;
    default:
        return 0;
    }
}

static double noise(double v)
{
    return NOISE_REL * (fabs(v) > 1.0 ? fabs(v) : 1.0);
}

/* Did the meter reset between older and newer? */
static int is_reset(const fc_sample *older, const fc_sample *newer,
                    fc_basis basis)
{
    double a, b;
    if (consumption(older, basis, &a) && consumption(newer, basis, &b) &&
        b < a - noise(a))
        return 1;
    if (known(older->remaining) && known(newer->remaining) &&
        newer->remaining.value > older->remaining.value +
                                     noise(older->remaining.value))
        return 1;
    return older->resets_at.state == MD_KNOWN &&
           newer->resets_at.state == MD_KNOWN &&
           newer->resets_at.epoch > older->resets_at.epoch + FC_RESET_JITTER_S;
}

size_t fc_segment_start(const fc_sample *s, size_t n, fc_basis basis,
                        double since)
{
    if (!n || s[n - 1].at < since)
        return n;
    size_t start = n - 1;
    for (size_t i = n - 1; i-- > 0;) {
        if (s[i].at < since || is_reset(&s[i], &s[i + 1], basis))
            break;
        start = i;
    }
    return start;
}

int fc_slope(const double *x, const double *y, size_t n, double *slope)
{
    if (n < 2)
        return -1;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    if (!(sxx > 0))
        return -1;
    *slope = sxy / sxx;
    return 0;
}

/* The burn over the segment s[0..n) in units per hour (clamped at 0), or
 * a reason it cannot be had. */
static const char *segment_burn(const fc_sample *s, size_t n, fc_basis basis,
                                const fc_settings *st, double *burn)
{
    double *x = xcalloc(n ? n : 1, sizeof *x), *y = xcalloc(n ? n : 1, sizeof *y);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (consumption(&s[i], basis, &y[k])) {
            x[k] = (s[i].at - s[0].at) / HOUR_S; /* hours: well scaled */
            k++;
        }
    const char *why = NULL;
    if (k < 2 || (long long)k < st->min_samples)
        why = FC_R_TOO_FEW;
    else if ((x[k - 1] - x[0]) * HOUR_S * 1000.0 < (double)st->min_span_ms ||
             fc_slope(x, y, k, burn) != 0)
        why = FC_R_SPAN;
    else if (*burn < 0)
        *burn = 0;
    free(x);
    free(y);
    return why;
}

/* The remaining amount, the consumption now and the limit, all in the
 * consumption unit of basis. */
static void basis_values(const metric *m, fc_basis basis, md_num *rem,
                         md_num *now, md_num *limit)
{
    md_num unk = {MD_UNKNOWN, 0};
    *rem = *now = *limit = unk;
    switch (basis) {
    case FC_BASIS_USED:
        *now = m->used;
        *limit = known(m->limit) ? m->limit : unk;
        if (known(m->remaining))
            *rem = m->remaining;
        else if (known(m->limit))
            *rem = MD_NUM(fmax(0.0, m->limit.value - m->used.value));
        break;
    case FC_BASIS_LIMIT_MINUS_REMAINING:
        *rem = m->remaining;
        *limit = m->limit;
        *now = MD_NUM(m->limit.value - m->remaining.value);
        break;
    case FC_BASIS_UTILIZATION:
        *now = m->utilization;
        *limit = MD_NUM(100.0);
        *rem = MD_NUM(fmax(0.0, 100.0 - m->utilization.value));
        break;
    case FC_BASIS_REMAINING_DECLINE:
        *rem = m->remaining;
        break;
    default:
        break;
    }
}

void fc_compute(const fc_series *f, const metric *m, const fc_settings *st,
                double now, fc_result *out)
{
    md_num unk = {MD_UNKNOWN, 0};
    *out = (fc_result){.burn_per_hour = unk, .burn_per_day = unk,
                       .remaining = unk, .projected_at_reset = unk,
                       .projected_utilization_at_reset = unk,
                       .exhausts_at = {MD_UNKNOWN, 0}, .runway_seconds = unk,
                       .projected_use_by_expiry = unk, .reason = NULL};
    fc_sample cur = fc_sample_of(m, now);
    out->basis = fc_basis_of(&cur);
    if (out->basis == FC_BASIS_NONE) {
        out->reason = FC_R_NO_DATA;
        return;
    }
    md_num cons_now, limit;
    basis_values(m, out->basis, &out->remaining, &cons_now, &limit);
    double since = now - (double)st->burn_window_ms / 1000.0;
    size_t start = fc_segment_start(f->s, f->n, out->basis, since);
    out->segment_samples = f->n - start;
    out->segment_start = start < f->n ? f->s[start].at : 0;
    double burn = 0;
    const char *burn_why = segment_burn(f->s + start, f->n - start,
                                        out->basis, st, &burn);
    const char *proj_why = NULL, *run_why = NULL, *exh_why = NULL;
    double resets = m->resets_at.state == MD_KNOWN ? m->resets_at.epoch : 0;
    if (burn_why) {
        out->reason = burn_why;
    } else {
        out->burn_per_hour = MD_NUM(burn);
        out->burn_per_day = MD_NUM(24.0 * burn);
        if (!(resets > now))
            proj_why = FC_R_NO_RESET;
        else if (!known(cons_now))
            proj_why = FC_R_NO_LIMIT;
        else {
            double p = cons_now.value + burn * (resets - now) / HOUR_S;
            out->projected_at_reset = MD_NUM(p);
            if (known(limit) && limit.value > 0)
                out->projected_utilization_at_reset =
                    MD_NUM(100.0 * p / limit.value);
        }
        if (!known(out->remaining))
            run_why = FC_R_NO_REMAINING;
        else if (!(burn > 0))
            run_why = FC_R_NO_CONSUMPTION;
        else {
            double runway = out->remaining.value / burn * HOUR_S;
            out->runway_seconds = MD_NUM(runway);
            if (resets > now && now + runway >= resets)
                exh_why = FC_R_NOT_BEFORE_RESET;
            else
                out->exhausts_at = MD_TIME(now + runway);
        }
        out->reason = exh_why ? exh_why : run_why ? run_why : proj_why;
    }
    if (m->expires_at.state != MD_KNOWN)
        return;
    double to_expiry = m->expires_at.epoch - now;
    out->expires_within_horizon =
        to_expiry >= 0 &&
        to_expiry * 1000.0 <= (double)st->use_or_lose_horizon_ms;
    if (burn_why || to_expiry < 0 || !known(out->remaining))
        return;
    double use = burn * to_expiry / HOUR_S;
    out->projected_use_by_expiry = MD_NUM(use);
    double min = known(st->use_or_lose_min) ? st->use_or_lose_min.value
                                            : 0.1 * out->remaining.value;
    out->use_or_lose = out->expires_within_horizon &&
                       out->remaining.value - use > min;
}
