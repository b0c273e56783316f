/* t/unit/forecast.c - the slope and segmentation math (forecast.h), the
 * derived numbers and their reasons, alert classes and the flapping
 * guard (alerts.h), and settings resolution (forecast_conf.h). */
#include "tap.h"
#include "alerts.h"
#include "forecast.h"
#include "forecast_conf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T0 1800000000.0

static md_num unk(void) { return (md_num){MD_UNKNOWN, 0}; }

static fc_sample used_at(double at, double used, double resets)
{
    return (fc_sample){.at = at, .used = MD_NUM(used), .limit = MD_NUM(1000),
                       .remaining = unk(), .utilization = unk(),
                       .resets_at = resets > 0 ? MD_TIME(resets)
                                               : (md_time){MD_UNKNOWN, 0}};
}

static metric meter(double used, double limit, double resets)
{
    metric m;
    memset(&m, 0, sizeof m);
    m.id = "m";
    m.used = MD_NUM(used);
    m.limit = MD_NUM(limit);
    m.remaining = MD_NUM(limit - used);
    m.utilization = MD_NUM(100.0 * used / limit);
    if (resets > 0)
        m.resets_at = MD_TIME(resets);
    return m;
}

static void test_slope(void)
{
    double x[] = {0, 1, 2, 3, 4}, y[] = {5, 7, 9, 11, 13}, s = 0;
    ok(fc_slope(x, y, 5, &s) == 0 && fabs(s - 2.0) < 1e-12,
       "slope of an exact line is its gradient");
    double yn[] = {5.1, 6.9, 9.05, 10.95, 13.0};
    ok(fc_slope(x, yn, 5, &s) == 0 && fabs(s - 2.0) < 0.05,
       "least squares averages noise out");
    double xs[] = {3, 3, 3};
    ok(fc_slope(xs, y, 3, &s) == -1, "equal x: no slope");
    ok(fc_slope(x, y, 1, &s) == -1, "one point: no slope");
}

static void test_segments(void)
{
    fc_sample s[6];
    for (int i = 0; i < 6; i++)
        s[i] = used_at(T0 + 60 * i, 10.0 * i, T0 + 86400);
    is_int((int)fc_segment_start(s, 6, FC_BASIS_USED, 0), 0,
           "no reset: the segment is every sample");
    is_int((int)fc_segment_start(s, 6, FC_BASIS_USED, T0 + 150), 3,
           "burn_window bounds the segment");
    s[3].used = MD_NUM(1);
    s[4].used = MD_NUM(11);
    s[5].used = MD_NUM(21);
    is_int((int)fc_segment_start(s, 6, FC_BASIS_USED, 0), 3,
           "a drop of used starts a new segment");
    for (int i = 0; i < 6; i++)
        s[i] = used_at(T0 + 60 * i, 10.0 * i, T0 + 86400 + (i >= 4 ? 3600 : 0));
    is_int((int)fc_segment_start(s, 6, FC_BASIS_USED, 0), 4,
           "resets_at moving forward starts a new segment");
    for (int i = 0; i < 6; i++)
        s[i] = used_at(T0 + 60 * i, 10.0 * i, T0 + 86400 + i * 5.0);
    is_int((int)fc_segment_start(s, 6, FC_BASIS_USED, 0), 0,
           "resets_at wobbling by seconds is no reset");
    for (int i = 0; i < 6; i++) {
        s[i] = used_at(T0 + 60 * i, 0, 0);
        s[i].used = unk();
        s[i].limit = unk();
        s[i].remaining = MD_NUM(i == 2 ? 500 : 400 - 10.0 * i);
    }
    is_int((int)fc_segment_start(s, 6, FC_BASIS_REMAINING_DECLINE, 0), 2,
           "remaining rising (a top-up) starts a new segment");
    s[3].remaining = MD_NUM(500 - 1e-9);
    is_int((int)fc_segment_start(s, 6, FC_BASIS_REMAINING_DECLINE, 0), 2,
           "a change within noise is no reset");
}

static void test_compute(void)
{
    fc_settings st = fc_settings_default();
    st.min_span_ms = 60 * 1000;
    fc_series f;
    fc_series_init(&f);
    double resets = T0 + 10 * 3600;
    /* 100 per hour, limit 1000, 10 h to the reset */
    for (int i = 0; i <= 6; i++) {
        fc_sample s = used_at(T0 + 600 * i, 100.0 * i / 6, resets);
        fc_series_add(&f, &s);
    }
    metric m = meter(100, 1000, resets);
    fc_result r;
    fc_compute(&f, &m, &st, T0 + 3600, &r);
    ok(r.burn_per_hour.state == MD_KNOWN && fabs(r.burn_per_hour.value - 100) < 1e-6,
       "burn_per_hour = 100");
    ok(fabs(r.burn_per_day.value - 2400) < 1e-6, "burn_per_day = 24 x");
    ok(fabs(r.projected_at_reset.value - 1000) < 1e-6,
       "projected_at_reset = 100 + 100 x 9 h");
    ok(fabs(r.projected_utilization_at_reset.value - 100) < 1e-6,
       "projected utilization 100 %");
    ok(fabs(r.runway_seconds.value - 9 * 3600) < 1e-3, "runway 900 / 100 = 9 h");
    ok(r.exhausts_at.state != MD_KNOWN, "exhausting exactly at the reset is not before it");
    is_str(r.reason, FC_R_NOT_BEFORE_RESET, "reason not_before_reset");

    m.resets_at = MD_TIME(T0 + 20 * 3600);
    fc_compute(&f, &m, &st, T0 + 3600, &r);
    ok(r.exhausts_at.state == MD_KNOWN &&
       fabs(r.exhausts_at.epoch - (T0 + 10 * 3600)) < 1e-3,
       "exhausts_at = now + runway when before the reset");
    char why[200];
    is_int(alert_classify(&m, &r, &st, why, sizeof why), ALERT_TOPUP,
           "running out before the reset is topup");

    fc_settings few = st;
    few.min_samples = 50;
    fc_compute(&f, &m, &few, T0 + 3600, &r);
    ok(r.burn_per_hour.state != MD_KNOWN && r.runway_seconds.state != MD_KNOWN,
       "too few samples: burn and runway unknown");
    is_str(r.reason, FC_R_TOO_FEW, "reason too_few_samples");
    fc_settings longspan = st;
    longspan.min_span_ms = 2 * 3600 * 1000LL;
    fc_compute(&f, &m, &longspan, T0 + 3600, &r);
    is_str(r.reason, FC_R_SPAN, "a segment shorter than min_span: span_too_short");

    /* falling consumption clamps to 0 */
    fc_series g;
    fc_series_init(&g);
    for (int i = 0; i <= 6; i++) {
        fc_sample s = used_at(T0 + 600 * i, 50, 0);
        s.used = MD_NUM(50 - 1e-3 * i * 0); /* flat */
        fc_series_add(&g, &s);
    }
    metric flat = meter(50, 1000, 0);
    fc_compute(&g, &flat, &st, T0 + 3600, &r);
    ok(r.burn_per_hour.state == MD_KNOWN && r.burn_per_hour.value == 0,
       "flat meter: burn 0");
    is_str(r.reason, FC_R_NO_CONSUMPTION, "runway null: no_consumption");
    fc_series_release(&g);
    fc_series_release(&f);
}

static void test_use_or_lose(void)
{
    fc_settings st = fc_settings_default();
    st.min_span_ms = 60 * 1000;
    fc_series f;
    fc_series_init(&f);
    for (int i = 0; i <= 6; i++) {
        fc_sample s = {.at = T0 + 600 * i, .used = unk(), .limit = unk(),
                       .remaining = MD_NUM(100 - 0.1 * i),
                       .utilization = unk(),
                       .resets_at = {MD_UNKNOWN, 0}};
        fc_series_add(&f, &s);
    }
    metric m;
    memset(&m, 0, sizeof m);
    m.id = "credits";
    m.remaining = MD_NUM(99.4);
    m.expires_at = MD_TIME(T0 + 3600 + 5 * 86400);
    fc_result r;
    fc_compute(&f, &m, &st, T0 + 3600, &r);
    ok(fabs(r.burn_per_hour.value - 0.6) < 1e-6, "a balance's decline is its burn");
    ok(fabs(r.projected_use_by_expiry.value - 0.6 * 120) < 1e-6,
       "projected_use_by_expiry = burn x hours to expiry");
    ok(r.use_or_lose, "most of it lapses: use_or_lose");
    char why[200];
    is_int(alert_classify(&m, &r, &st, why, sizeof why), ALERT_USE_OR_LOSE,
           "class use_or_lose");
    m.expires_at = MD_TIME(T0 + 3600 + 30 * 86400);
    fc_compute(&f, &m, &st, T0 + 3600, &r);
    ok(!r.use_or_lose, "an expiry beyond the horizon is not use_or_lose");
    st.use_or_lose_min = MD_NUM(1000);
    m.expires_at = MD_TIME(T0 + 3600 + 5 * 86400);
    fc_compute(&f, &m, &st, T0 + 3600, &r);
    ok(!r.use_or_lose, "lapsing less than use_or_lose_min is not use_or_lose");
    fc_series_release(&f);
}

static void test_alerts(void)
{
    fc_settings st = fc_settings_default();
    fc_result r;
    memset(&r, 0, sizeof r);
    r.exhausts_at = (md_time){MD_UNKNOWN, 0};
    r.remaining = unk();
    r.projected_utilization_at_reset = unk();
    char why[200];
    metric m = meter(10, 10, 0);
    is_int(alert_classify(&m, &r, &st, why, sizeof why), ALERT_EXHAUSTED,
           "utilization 100: exhausted");
    m = meter(85, 100, 0);
    is_int(alert_classify(&m, &r, &st, why, sizeof why), ALERT_WATCH,
           "utilization >= watch_at: watch");
    m = meter(10, 100, 0);
    r.projected_utilization_at_reset = MD_NUM(130);
    is_int(alert_classify(&m, &r, &st, why, sizeof why), ALERT_WATCH,
           "projected above 100 % at the reset: watch");
    r.projected_utilization_at_reset = unk();
    is_int(alert_classify(&m, &r, &st, why, sizeof why), ALERT_OK, "else ok");
    metric none;
    memset(&none, 0, sizeof none);
    is_int(alert_classify(&none, &r, &st, why, sizeof why), ALERT_UNKNOWN,
           "no values: unknown");

    alert_track t;
    alert_track_init(&t);
    alert_class from;
    ok(alert_track_update(&t, ALERT_OK, T0, 600000, &from) && from == ALERT_UNKNOWN,
       "the first class is taken at once");
    ok(alert_track_update(&t, ALERT_TOPUP, T0 + 1, 600000, &from) && t.cur == ALERT_TOPUP,
       "more urgent: at once");
    ok(!alert_track_update(&t, ALERT_OK, T0 + 2, 600000, &from) && t.cur == ALERT_TOPUP,
       "less urgent: held");
    ok(!alert_track_update(&t, ALERT_TOPUP, T0 + 100, 600000, &from),
       "back in the class: nothing changes");
    ok(!alert_track_update(&t, ALERT_OK, T0 + 200, 600000, &from),
       "out again: the hold restarts");
    ok(!alert_track_update(&t, ALERT_OK, T0 + 700, 600000, &from),
       "not yet out for alert_hold");
    ok(alert_track_update(&t, ALERT_OK, T0 + 800, 600000, &from) &&
       from == ALERT_TOPUP && t.cur == ALERT_OK,
       "out for alert_hold: leaves the class");
}

static void test_resolve(void)
{
    forecast_conf c;
    forecast_conf_init(&c);
    fc_rule rules[] = {
        {.provider = NULL, .glob = NULL, .set = FCS_WATCH_AT, .v = {.watch_at = 70}},
        {.provider = NULL, .glob = "five*", .set = FCS_WATCH_AT, .v = {.watch_at = 95}},
        {.provider = "p", .glob = NULL, .set = FCS_WATCH_AT | FCS_MIN_SAMPLES,
         .v = {.watch_at = 60, .min_samples = 7}},
        {.provider = "p", .glob = "five_hour", .set = FCS_WATCH_AT, .v = {.watch_at = 99}},
    };
    c.rules = rules;
    c.n_rules = 4;
    is_num(forecast_conf_resolve(&c, "q", "weekly").watch_at, 70.0, "global");
    is_num(forecast_conf_resolve(&c, "q", "five_hour").watch_at, 95.0, "global glob");
    is_num(forecast_conf_resolve(&c, "p", "weekly").watch_at, 60.0, "provider over global");
    is_num(forecast_conf_resolve(&c, "p", "five_x").watch_at, 95.0, "glob over provider");
    is_num(forecast_conf_resolve(&c, "p", "five_hour").watch_at, 99.0,
           "the provider's glob wins");
    is_int((int)forecast_conf_resolve(&c, "p", "five_hour").min_samples, 7,
           "unset fields come from the levels below");
    is_int((int)forecast_conf_resolve(&c, "q", "x").min_samples, 3, "defaults");
}

int main(void)
{
    test_slope();
    test_segments();
    test_compute();
    test_use_or_lose();
    test_alerts();
    test_resolve();
    return done_testing();
}
