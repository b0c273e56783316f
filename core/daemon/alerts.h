/*
 * alerts.h - the alert class of a meter, from its values and forecast
 * (forecast.h), and the flapping guard that decides when a meter's
 * class actually changes.
 *
 * Classes, most urgent first:
 *   exhausted    remaining is 0 or utilization >= 100;
 *   topup        it runs out before its reset or its expiry (exhausts_at
 *                known, before expires_at when there is one), or remaining
 *                is under topup_below;
 *   use_or_lose  credits that lapse unused (fc_result.use_or_lose);
 *   watch        utilization >= watch_at, or the projection at the reset
 *                is above 100 %;
 *   ok           anything else with a value;
 *   unknown      no value at all.
 * A family's class is its most urgent member meter's.
 *
 * Flapping guard (alert_track): a meter moves to a more urgent class at
 * once; it moves to a less urgent one only after it has been out of its
 * class for alert_hold (evaluations in between keep the old class).  The
 * first class of a meter (from unknown) is taken at once as well.
 *
 * Invariants: the enum order is the urgency order; alert_name() of every
 * class is stable (it is API text).
 * Ownership: nothing allocated.  Threads: pure functions.
 */
#ifndef METERD_ALERTS_H
#define METERD_ALERTS_H

#include "forecast.h"
#include "metric.h"

typedef enum {
    ALERT_EXHAUSTED = 0,
    ALERT_TOPUP,
    ALERT_USE_OR_LOSE,
    ALERT_WATCH,
    ALERT_OK,
    ALERT_UNKNOWN,
    ALERT_N
} alert_class;

const char *alert_name(alert_class a);
/* The class named s, or -1. */
int alert_from_name(const char *s);

/* The class of m with forecast fc under st, and a one-line reason
 * (written into why, at most n bytes). */
alert_class alert_classify(const metric *m, const fc_result *fc,
                           const fc_settings *st, char *why, size_t n);

/* The flapping guard of one meter. */
typedef struct alert_track {
    alert_class cur;        /* the class shown */
    double out_since;       /* epoch since when a less urgent class was
                               seen, 0 when not */
    int seen;               /* cur came from a classification */
} alert_track;

void alert_track_init(alert_track *t);
/* Feed the class seen at now; returns 1 when t->cur changed (*from gets
 * the old class), else 0. */
int alert_track_update(alert_track *t, alert_class seen, double now,
                       long long hold_ms, alert_class *from);

#endif
