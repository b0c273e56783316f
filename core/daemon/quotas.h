/*
 * quotas.h - quota intelligence of the running daemon: the recent
 * samples of every meter (forecast.h), its alert class with the flapping
 * guard (alerts.h), transitions (logged, counted, handed to the notify
 * command, notify.h), and the immutable quota_set published with each
 * view set for GET /api/quotas, /api/advice and the family rows.
 *
 * Feeding: quotas_feed() is called where history_record() is (after
 * each successful collection) with the same metrics, each sampled at its
 * collected_at when that is within ten minutes of now, else at now; quotas_load() reads
 * the recent samples back from the history database at start, so burn
 * rates survive a restart.  quotas_evaluate() forecasts and classifies a
 * provider's meters and returns the poll interval of its fast lane (0:
 * not urgent); quotas_build() makes the quota_set of the current state.
 *
 * Invariants: a quota_set is immutable once built; its entries are
 * sorted by alert urgency, then utilization (highest first; unknown
 * last), then family, provider and meter (deterministic); its families
 * are sorted by name.  The store holds one record per (provider, meter)
 * ever seen; quotas_retain() drops the records of providers no longer
 * configured.
 * Ownership: the store owns its records and its notifier; a quota_set
 * owns its strings and is reference counted (quota_set_release).
 * Threads: the store is the owner thread's (daemon.h); a quota_set may be
 * read by any thread holding a reference.
 */
#ifndef METERD_QUOTAS_H
#define METERD_QUOTAS_H

#include <stdatomic.h>
#include <stddef.h>

#include "alerts.h"
#include "forecast.h"
#include "forecast_conf.h"
#include "metric.h"

struct history_db;

typedef struct quota_entry {
    char *family, *provider, *meter, *kind, *unit, *source; /* owned */
    md_num used, limit, remaining, utilization;
    md_time resets_at, expires_at;
    md_confidence confidence;
    fc_result fc;               /* fc.reason is static text */
    alert_class alert;
    char *alert_reason;         /* owned */
} quota_entry;

typedef struct quota_family {
    char *family;               /* owned */
    alert_class alert;          /* most urgent member meter's */
    md_time exhausts_at;        /* earliest of its meters */
} quota_family;

typedef struct quota_set {
    atomic_uint refs;
    double generated_at;
    quota_entry *e;
    size_t n;
    quota_family *fam;
    size_t n_fam;
    unsigned long transitions;  /* since start */
    unsigned long notify_started, notify_failed;
} quota_set;

quota_set *quota_set_ref(quota_set *s);
void quota_set_release(quota_set *s);
/* The family named f, or NULL. */
const quota_family *quota_set_family(const quota_set *s, const char *f);

/* The alert class of provider's meter in s (ALERT_UNKNOWN when s has no
 * such meter); any thread holding s, e.g. for /metrics. */
alert_class quota_set_alert(const quota_set *s, const char *provider,
                            const char *meter);

typedef struct quotas quotas;

quotas *quotas_new(void);
void quotas_free(quotas *q);

/* Add the samples of provider's n metrics at now. */
void quotas_feed(quotas *q, const char *provider, const metric *m, size_t n,
                 double now);
/* Read provider's samples of [since, now] from db (a failure is
 * logged; the store keeps what it has). */
void quotas_load(quotas *q, struct history_db *db, const char *provider,
                 double since, double now);

/* Restore the stored alert states (alerts.h) of the providers in
 * names[0..n) from db and drop the others'; from now on every change of
 * a meter's track is committed to db (NULL: nothing kept).  A failure is
 * logged; the meters then start unknown. */
void quotas_restore(quotas *q, struct history_db *db,
                    const char *const *names, size_t n);

/* Forecast and classify provider's meters at now; transitions are
 * logged, counted and notified (notify_argv NULL: not notified), then
 * changed tracks committed.  live is 0 for data that is not a new
 * collection (the snapshot at start): a restored track then stays as it
 * was; on live data a restored track of a meter the provider no longer
 * has is dropped.
 * Returns the fast-lane interval the provider should be polled at (ms,
 * at least min_interval_ms), or 0 when none of its meters is urgent. */
long long quotas_evaluate(quotas *q, const forecast_conf *fc,
                          const char *provider, const char *family,
                          const metric *m, size_t n, long long interval_ms,
                          long long min_interval_ms, double now,
                          long long now_ms, int live);

/* Drop records of providers not in names[0..n). */
void quotas_retain(quotas *q, const char *const *names, size_t n);

/* One provider's part of a quota_set being built. */
typedef struct quotas_provider {
    const char *provider, *family;
    const metric *m;
    size_t n;
} quotas_provider;
/* The quota_set of these providers' current metrics with the alerts and
 * forecasts of their last evaluation. */
quota_set *quotas_build(const quotas *q, const quotas_provider *p, size_t n,
                        double now);

/* The alert class of one meter as last evaluated (ALERT_UNKNOWN when
 * never), e.g. for /metrics. */
alert_class quotas_alert(const quotas *q, const char *provider,
                         const char *meter);

/* Reap and time out notify commands; the next deadline (mono ms) or -1. */
long long quotas_tick(quotas *q, long long now_ms);
/* Notify commands still running (the scheduler polls faster while so). */
size_t quotas_notify_running(const quotas *q);

#endif
