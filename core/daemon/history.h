/*
 * history.h - meter samples: what each provider's meters (metric.h) read
 * over time, kept in the history database (history_db.h, table sample).
 *
 * Recording: history_record() is called with a provider's metrics after a
 * successful collection (under daemon.lock: it only compares and queues,
 * no I/O).  A meter's sample is queued when one of used, limit,
 * remaining, utilization, resets_at differs from the last one queued for
 * it, or when sample_every has passed since that one; otherwise it is
 * skipped.  The queue is taken with history_take() (under the same lock,
 * by the usage store's image) and written by history_batch_write() in the
 * usage store's transaction (outside the lock).  Unknown and not
 * applicable values are stored as NULL, never 0.
 *
 * Maintenance (history_maintain, in a write transaction, bounded work per
 * call): samples older than history_retention are deleted; samples older
 * than a week are thinned to the last one of each hour per meter (the
 * same rule /api/history uses for step=1h), a window at a time behind a
 * watermark kept in meta('thinned_until').
 *
 * Invariants: the last-queued cache holds one entry per (provider,
 * meter) seen since start; a write that fails loses its batch (the next
 * change or sample_every writes the meter again).
 * Ownership: a history owns its cache and queue; a history_batch taken
 * from it is the caller's (history_batch_free); query documents are new
 * references.
 * Threads: a history has its own mutex, so record and take may come from
 * any thread; the database functions need the database lock held
 * (history_db_lock), query takes it itself.
 */
#ifndef METERD_HISTORY_H
#define METERD_HISTORY_H

#include <stddef.h>
#include <jansson.h>

#include "history_db.h"
#include "metric.h"

#define HISTORY_SAMPLE_EVERY_DEFAULT_MS (5LL * 60 * 1000)
#define HISTORY_RETENTION_DEFAULT_MS (400LL * 86400 * 1000)
/* Samples older than this keep one per hour per meter. */
#define HISTORY_THIN_AFTER_S (7.0 * 86400)
#define HISTORY_THIN_STEP_S 3600.0

typedef struct history history;
typedef struct history_batch history_batch;

history *history_new(void);
void history_free(history *h);
/* Values <= 0 keep the current setting. */
void history_set_policy(history *h, long long sample_every_ms,
                        long long retention_ms);
long long history_retention_ms(const history *h);

/* Queue the samples of provider's n metrics due at now (see above).
 * Returns how many were queued. */
size_t history_record(history *h, const char *provider, const metric *m,
                      size_t n, double now);

/* The queued samples (the queue is emptied), or NULL when none. */
history_batch *history_take(history *h);
size_t history_batch_count(const history_batch *b);
void history_batch_free(history_batch *b);
/* Insert b's samples (database lock held, inside a transaction). */
int history_batch_write(history_db *db, const history_batch *b, char **err);

/* Retention and thinning, bounded (lock held, inside a transaction).
 * Returns how many samples were deleted, or -1 with *err. */
long long history_maintain(history_db *db, long long retention_ms,
                           double now, char **err);

/* Whether the database holds samples of provider (takes the lock). */
int history_has_provider(history_db *db, const char *provider);

/* The samples of provider (and of meter, NULL: every meter) with since
 * <= at < until, reduced to the last one per step seconds (step 0: all).
 * *out (new reference):
 *   {"provider": P, "meter": M|null, "since": T, "until": T,
 *    "step_seconds": S|null,
 *    "meters": [{"meter": ID, "samples": [{"at": T, "sampled_at": T,
 *      "used": n|null, "limit": n|null, "remaining": n|null,
 *      "utilization": n|null, "resets_at": T|null}, ...]}, ...]}
 * where at is the start of the step bucket (the sample's own time when
 * step is 0) and T an RFC 3339 UTC time.  0, or -1 with *err. */
int history_query(history_db *db, const char *provider, const char *meter,
                  double since, double until, double step, json_t **out,
                  char **err);

#endif
