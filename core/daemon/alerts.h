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
 * Persistence (alert_state_read / alert_state_write): the track of every
 * meter is kept in the table alert_state of the history database
 * (history_db.h), one row per (provider, meter): the class by its name,
 * since when it is shown, and the start of a pending leave (NULL when
 * none), all epoch seconds.  The database, not the snapshot, because the
 * snapshot is rewritten on a timer and a restart must see the class the
 * last notification announced: a row is committed (synchronous=FULL) by
 * the evaluation that changed the track, right after its notify command
 * was started, so a process killed before that commit restarts from the
 * previous committed row and notifies the transition again (at least
 * once), never from a class it did not announce.
 *
 * Invariants: the enum order is the urgency order; alert_name() of every
 * class is stable (it is API text, and the stored form).
 * Ownership: alert_state_read fills an array the caller frees with
 * alert_saved_free; alert_state_write borrows its rows.
 * Threads: classification and the guard are pure functions; the
 * alert_state_* functions take the database's lock.
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
    double since;           /* epoch cur was entered, 0 when never */
} alert_track;

void alert_track_init(alert_track *t);
/* Feed the class seen at now; returns 1 when t->cur changed (*from gets
 * the old class), else 0. */
int alert_track_update(alert_track *t, alert_class seen, double now,
                       long long hold_ms, alert_class *from);

struct history_db;

/* One stored track. */
typedef struct alert_saved {
    char *provider, *meter; /* owned */
    alert_track track;      /* seen is 1 */
} alert_saved;

/* Every stored track: 0 with *out (NULL when none) and *n, or -1 with
 * *err.  A row whose class name is not known is skipped. */
int alert_state_read(struct history_db *db, alert_saved **out, size_t *n,
                     char **err);
void alert_saved_free(alert_saved *v, size_t n);

/* A row to write: track NULL deletes the row of (provider, meter); meter
 * NULL with track NULL deletes every row of provider. */
typedef struct alert_row {
    const char *provider, *meter;
    const alert_track *track;
} alert_row;

/* Write rows[0..n) in one transaction: 0, or -1 with *err (nothing
 * written). */
int alert_state_write(struct history_db *db, const alert_row *rows, size_t n,
                      char **err);

#endif
