/* t/unit/forecast_samples_bounded.c - the recent samples of a meter
 * (forecast.h) grow with the time they cover, not with the number of
 * collections: a meter collected every second holds the newest
 * FC_DENSE_SAMPLES as fed and older ones FC_THIN_GAP_S apart, its burn
 * window is not cut short by FC_MAX_SAMPLES, a slower meter keeps every
 * sample, and the daemon's sample store (quotas.h) for the soak's 110
 * meters collected every second stays within a few hundred KiB an hour
 * instead of growing by ~1 MiB a minute. */
#include "tap.h"
#include "forecast.h"
#include "quotas.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define T0 1800000000.0

static fc_sample used_at(double at, double used)
{
    return (fc_sample){.at = at, .used = MD_NUM(used), .limit = MD_NUM(1e9),
                       .remaining = {MD_UNKNOWN, 0},
                       .utilization = {MD_UNKNOWN, 0},
                       .resets_at = {MD_UNKNOWN, 0}};
}

static void test_every_second(void)
{
    fc_series f;
    fc_series_init(&f);
    const int secs = 3 * 86400;
    size_t most = 0;
    for (int i = 0; i < secs; i++) {
        fc_sample s = used_at(T0 + i, 2.0 * i);
        fc_series_add(&f, &s);
        if (f.n > most)
            most = f.n;
    }
    size_t bound = FC_DENSE_SAMPLES + (size_t)(secs / FC_THIN_GAP_S) + 2;
    char name[160];
    snprintf(name, sizeof name,
             "3 days at one sample a second: at most %zu samples held "
             "(most %zu, not FC_MAX_SAMPLES %d)", bound, most, FC_MAX_SAMPLES);
    ok(most <= bound && most < FC_MAX_SAMPLES, name);
    ok(f.cap <= 2 * most, "the array is no larger than twice what it holds");
    ok(f.s[0].at <= T0 + FC_THIN_GAP_S,
       "the oldest sample is still the first: the cap does not cut the window");
    int dense = 1;
    for (size_t i = f.n - FC_DENSE_SAMPLES + 1; i < f.n; i++)
        dense &= f.s[i].at - f.s[i - 1].at == 1.0;
    ok(dense, "the newest FC_DENSE_SAMPLES are kept as fed");
    int thin = 1;
    for (size_t i = 1; i + FC_DENSE_SAMPLES < f.n; i++)
        thin &= f.s[i].at - f.s[i - 1].at >= FC_THIN_GAP_S;
    ok(thin, "older ones are at least FC_THIN_GAP_S apart");

    /* A linear meter: the slope over the thinned day is exact. */
    fc_settings st = fc_settings_default();
    metric m;
    memset(&m, 0, sizeof m);
    m.id = "m";
    m.used = MD_NUM(2.0 * (secs - 1));
    m.limit = MD_NUM(1e9);
    fc_result r;
    fc_compute(&f, &m, &st, T0 + secs - 1, &r);
    ok(r.burn_per_hour.state == MD_KNOWN &&
       fabs(r.burn_per_hour.value - 7200) < 1e-6,
       "the burn rate over the thinned burn_window is the true 7200/h");
    ok(r.segment_start <= T0 + secs - 1 - 86400 + FC_THIN_GAP_S,
       "the segment spans the whole 24 h burn_window");
    fc_series_release(&f);
}

static void test_reset_survives_thinning(void)
{
    fc_series f;
    fc_series_init(&f);
    for (int i = 0; i < 3600; i++) {
        fc_sample s = used_at(T0 + i, 10.0 * i);
        fc_series_add(&f, &s);
    }
    for (int i = 0; i < 600; i++) { /* reset: consumption starts again */
        fc_sample s = used_at(T0 + 3600 + i, 1.0 * i);
        fc_series_add(&f, &s);
    }
    fc_settings st = fc_settings_default();
    st.min_span_ms = 60 * 1000;
    metric m;
    memset(&m, 0, sizeof m);
    m.id = "m";
    m.used = MD_NUM(599);
    m.limit = MD_NUM(1e9);
    fc_result r;
    fc_compute(&f, &m, &st, T0 + 4199, &r);
    ok(r.segment_start >= T0 + 3600,
       "a reset is still found among thinned samples: the segment starts after it");
    ok(r.burn_per_hour.state == MD_KNOWN &&
       fabs(r.burn_per_hour.value - 3600) < 1e-6,
       "and the burn rate is that of the new window (3600/h)");
    fc_series_release(&f);
}

static void test_slow_meter_keeps_all(void)
{
    fc_series f;
    fc_series_init(&f);
    for (int i = 0; i < 500; i++) {
        fc_sample s = used_at(T0 + 300.0 * i, i);
        fc_series_add(&f, &s);
    }
    is_int((int)f.n, 500, "a meter collected every 5 minutes keeps every sample");
    fc_series_release(&f);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* The soak's shape: 55 providers with two meters each, collected every
 * second for an hour. */
static void test_store_stays_small(void)
{
    quotas *q = quotas_new();
    size_t base = heap_in_use(), at10 = 0, at60 = 0;
    char name[16];
    for (int t = 1; t <= 3600; t++) {
        for (int p = 0; p < 55; p++) {
            metric m[2];
            memset(m, 0, sizeof m);
            m[0].id = "five_hour";
            m[0].utilization = MD_NUM(t % 100);
            m[1].id = "requests";
            m[1].used = MD_NUM(t);
            snprintf(name, sizeof name, "p%02d", p);
            quotas_feed(q, name, m, 2, T0 + t);
        }
        if (t == 600)
            at10 = heap_in_use();
        if (t == 3600)
            at60 = heap_in_use();
    }
    quotas_free(q);
    if (mallinfo2().arena == 0) { /* a sanitizer's allocator: no figures */
        ok(1, "# SKIP heap figures need glibc malloc");
        ok(1, "# SKIP heap figures need glibc malloc");
        return;
    }
    char msg[200];
    snprintf(msg, sizeof msg,
             "110 meters, 600 collections each: %zu KiB of samples (< 2 MiB)",
             (at10 - base) / 1024);
    ok(at10 - base < 2u << 20, msg);
    snprintf(msg, sizeof msg,
             "the next 3000 collections add %ld KiB (< 512 KiB)",
             ((long)at60 - (long)at10) / 1024);
    ok(at60 < at10 || at60 - at10 < 512u << 10, msg);
}

int main(void)
{
    test_every_second();
    test_reset_survives_thinning();
    test_slow_meter_keeps_all();
    test_store_stays_small();
    return done_testing();
}
