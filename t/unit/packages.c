/* t/unit/packages.c - declared packages measured over a usage store:
 * monthly resets on the first (UTC, and in a zone across a DST change),
 * credits counting down from their limit until expires_at, unit usd with
 * an unpriced model is unknown, the first matching weight glob wins, and
 * the edges of rolling_window and daily periods. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "packages.h"
#include "tap.h"
#include "timeutil.h"
#include "tz.h"
#include "usage_store.h"

#define DAY 86400.0
#define HOUR 3600.0

static char *g_dir;

static double at(const char *rfc)
{
    double t = NAN;
    if (rfc3339_parse(rfc, &t) != 0)
        printf("# bad time %s\n", rfc);
    return t;
}

/* One event of provider "gw" at t: 10 input + 5 output tokens, cost as
 * given (NAN: unknown, to be priced by model). */
static void event(usage_store *s, double t, const char *model, double cost,
                  double now)
{
    md_num b[UB_N] = {MD_NUM(10), MD_NUM(0), MD_NUM(0), MD_NUM(5), MD_NUM(0),
                      MD_NUM(15), isnan(cost) ? (md_num){MD_UNKNOWN, 0}
                                              : MD_NUM(cost),
                      MD_NUM(0)};
    const char *err = NULL;
    if (usage_store_add_event(s, "gw", t, model, b, now, &err, NULL) != 0)
        printf("# add_event: %s\n", err ? err : "?");
}

static char *count_gw[] = {"gw"};

static package pkg(package_kind kind, const char *zone, int reset_min)
{
    char *err = NULL;
    package p = {
        .name = "p", .count = count_gw, .n_count = 1, .kind = kind,
        .unit = PKG_MESSAGES, .limit = 10, .reset_tz = (char *)NULL,
        .zone = tz_load(zone, &err), .reset_min = reset_min, .since = -1,
        .expires_at = -1,
    };
    if (!p.zone)
        printf("# zone %s: %s\n", zone, err);
    free(err);
    return p;
}

static md_num used(const package *p, const usage_store *s, double now,
                   metric *m)
{
    package_measure(p, s, now, m);
    return m->used;
}

static void test_monthly(void)
{
    double now = at("2026-03-10T12:00:00Z");
    usage_store *s = usage_store_new(g_dir, 0);
    event(s, at("2026-02-28T23:50:00Z"), "m", 0, now);   /* February */
    event(s, at("2026-03-01T00:05:00Z"), "m", 0, now);
    event(s, at("2026-03-09T10:00:00Z"), "m", 0, now);
    package p = pkg(PKG_MONTHLY, "UTC", 0);
    is_num(package_period_start(&p, now), at("2026-03-01T00:00:00Z"),
           "monthly UTC: starts on the first at 00:00");
    metric m;
    md_num u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 2, "monthly: the events of this month only");
    is_num(m.resets_at.epoch, at("2026-04-01T00:00:00Z"), "resets on the next first");
    is_num(m.remaining.value, 8, "remaining = limit - used");
    metric_release(&m);
    tz_free(p.zone);

    /* America/Los_Angeles: the first starts at 08:00Z in winter, the
     * next first (after the DST change of 2026-03-08) at 07:00Z. */
    p = pkg(PKG_MONTHLY, "America/Los_Angeles", 0);
    is_num(package_period_start(&p, at("2026-03-01T05:00:00Z")),
           at("2026-02-01T08:00:00Z"),
           "zone: 2026-02-28 21:00 local is still February");
    is_num(package_period_start(&p, at("2026-03-01T09:00:00Z")),
           at("2026-03-01T08:00:00Z"), "zone: from 00:00 local on the first");
    u = used(&p, s, at("2026-03-01T09:00:00Z"), &m);
    ok(u.state == MD_KNOWN && u.value == 0,
       "zone: 00:05Z on the first is still the previous local month");
    metric_release(&m);
    u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 1, "zone: March counts one event");
    is_num(m.resets_at.epoch, at("2026-04-01T07:00:00Z"),
           "zone: the next first is at 07:00Z (daylight time)");
    metric_release(&m);
    /* A reset time of day: the first at 06:00 local. */
    tz_free(p.zone);
    p = pkg(PKG_MONTHLY, "UTC", 6 * 60);
    is_num(package_period_start(&p, at("2026-03-01T05:59:00Z")),
           at("2026-02-01T06:00:00Z"), "reset 06:00: before it, last month");
    tz_free(p.zone);
    usage_store_free(s);
}

static void test_credits(void)
{
    double t0 = at("2026-03-01T00:00:00Z");
    double now = t0 + 10 * DAY;
    usage_store *s = usage_store_new(g_dir, 0);
    event(s, t0 - DAY, "m", 0, now);          /* before since */
    event(s, t0 + DAY, "m", 0, now);
    event(s, t0 + 2 * DAY, "m", 0, now);
    event(s, t0 + 2 * DAY + HOUR, "m", 0, now);
    event(s, t0 + 4 * DAY, "m", 0, now);      /* after expiry */
    package p = pkg(PKG_CREDITS, "UTC", 0);
    p.since = t0;
    p.expires_at = t0 + 3 * DAY;
    metric m;
    used(&p, s, t0 + DAY + HOUR, &m);
    is_num(m.remaining.value, 9, "credits day 1: 10 - 1");
    is_num(m.resets_at.epoch, p.expires_at, "resets_at is the expiry");
    metric_release(&m);
    used(&p, s, t0 + 2.5 * DAY, &m);
    is_num(m.remaining.value, 7, "credits day 2: counted down across days");
    metric_release(&m);
    md_num u = used(&p, s, t0 + 5 * DAY, &m);
    ok(u.state == MD_KNOWN && u.value == 3,
       "after expiry: what was used until then, not after");
    ok(m.remaining.state == MD_KNOWN && m.remaining.value == 0,
       "expired: nothing remains");
    metric_release(&m);
    tz_free(p.zone);
    usage_store_free(s);
}

static void test_usd_and_weights(void)
{
    double now = at("2026-03-10T12:00:00Z");
    usage_store *s = usage_store_new(g_dir, 0);
    event(s, now - HOUR, "claude-opus-x", 0.5, now);
    event(s, now - HOUR, "claude-sonnet-x", 0.25, now);
    event(s, now - HOUR, "other", 1, now);
    package p = pkg(PKG_DAILY, "UTC", 0);
    p.unit = PKG_USD;
    metric m;
    md_num u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && fabs(u.value - 1.75) < 1e-12,
       "usd: the cells' own costs summed");
    metric_release(&m);
    package_weight w[] = {{.glob = "claude-opus-*", .weight = 5},
                          {.glob = "claude-*", .weight = 2},
                          {.glob = "*", .weight = 0}};
    p.unit = PKG_MESSAGES;
    p.weights = w;
    p.n_weights = 3;
    u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 5 + 2 + 0,
       "weights: the first matching glob wins (opus 5, not claude-* 2)");
    metric_release(&m);
    package_weight w2[] = {{.glob = "*", .weight = 1},
                           {.glob = "claude-opus-*", .weight = 5}};
    p.weights = w2;
    p.n_weights = 2;
    u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 3, "a leading '*' shadows the rest");
    metric_release(&m);
    p.weights = w;
    p.n_weights = 1;
    u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 5 + 1 + 1, "no glob matching: weight 1");
    metric_release(&m);
    /* usd with a cost nobody knows and no price: unknown, never 0 */
    event(s, now - HOUR, "unpriced-model-zz", NAN, now);
    p.unit = PKG_USD;
    p.n_weights = 0;
    u = used(&p, s, now, &m);
    ok(u.state == MD_UNKNOWN, "usd: an unpriced cell makes used unknown");
    ok(m.remaining.state != MD_KNOWN, "and remaining unknown");
    metric_release(&m);
    p.unit = PKG_MESSAGES;
    u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 4, "messages still count it");
    metric_release(&m);
    tz_free(p.zone);
    usage_store_free(s);
}

static void test_edges(void)
{
    double t0 = at("2026-03-10T00:00:00Z");
    double now = t0 + 5 * HOUR + 100;
    usage_store *s = usage_store_new(g_dir, 0);
    event(s, t0 - 1, "m", 0, now);           /* slot t0 - 900 */
    event(s, t0 + 10, "m", 0, now);          /* slot t0 */
    event(s, now - 1, "m", 0, now);          /* the current slot */
    package p = pkg(PKG_ROLLING, "UTC", 0);
    p.window_s = 5 * HOUR;
    metric m;
    md_num u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 2,
       "rolling: the cell whose slot the window's edge is in counts fully, "
       "the one before not");
    is_num(m.window_seconds.value, 5 * HOUR, "window_seconds");
    metric_release(&m);
    u = used(&p, s, t0 + 5 * HOUR + 900, &m);
    ok(u.state == MD_KNOWN && u.value == 1,
       "rolling: once the window's edge passed the slot's end, it left");
    metric_release(&m);
    tz_free(p.zone);

    p = pkg(PKG_DAILY, "UTC", 0);
    u = used(&p, s, now, &m);
    ok(u.state == MD_KNOWN && u.value == 2,
       "daily: 23:59:59 yesterday not counted, 00:00:10 today counted");
    is_num(m.resets_at.epoch, t0 + DAY, "daily: resets at the next midnight");
    is_num(m.window_seconds.value, DAY, "daily: a 24 h window");
    metric_release(&m);
    tz_free(p.zone);
    p = pkg(PKG_DAILY, "Asia/Kolkata", 5 * 60 + 30);  /* 05:30 = 00:00Z */
    is_num(package_period_start(&p, now), t0,
           "daily 05:30 Asia/Kolkata is 00:00Z");
    is_num(package_period_start(&p, t0 - 1), t0 - DAY,
           "one second before: the day before");
    tz_free(p.zone);
    usage_store_free(s);
}

int main(void)
{
    char tmpl[] = "/tmp/meterd-packages-XXXXXX";
    g_dir = mkdtemp(tmpl);
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(MD_LOG_ERROR);
    test_monthly();
    test_credits();
    test_usd_and_weights();
    test_edges();
    rmdir(g_dir);
    return done_testing();
}
