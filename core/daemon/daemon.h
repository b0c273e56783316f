/*
 * daemon.h - the running daemon's shared state and the operations on it.
 *
 * One daemon object exists per process.  Its mutex guards everything
 * below it; the scheduler thread (main thread) mutates provider state, the
 * HTTP threads read it to render responses and to request forced
 * refreshes.  Nothing here does network or plugin I/O under the lock.
 *
 * Files: state.c (provider state: results, snapshot, reload, views),
 * scheduler.c (when to collect, running and reaping helpers, backoff,
 * forced refreshes), httpd.c (the HTTP API), main.c (CLI, signals).
 */
#ifndef METERD_DAEMON_H
#define METERD_DAEMON_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "config.h"
#include "metric.h"
#include "runner.h"
#include "view.h"

/* Runtime state of one provider instance. */
typedef struct pstate {
    char *name;                 /* owned */
    char *family;               /* owned, from the alias map */
    const provider_conf *conf;  /* borrowed from daemon.cfg */
    provider_status status;
    md_error err;
    char *err_msg;              /* owned or NULL */
    int has_data;
    collect_result data;        /* last good data, owned */
    served_from served;
    double last_attempt_at;     /* epoch, 0 never */
    double next_attempt_at;     /* epoch, for the API */
    long long next_due_ms;      /* mono_ms of the next scheduled run */
    long long not_before_ms;    /* backoff / Retry-After floor (mono) */
    long long last_start_ms;    /* mono_ms of the last start, 0 never */
    unsigned consecutive_failures;
    unsigned long runs, failures, skips;
    int skip_counted;           /* this due time already counted a skip */
    int force;                  /* start as soon as possible (refresh) */
    run_handle *run;            /* in flight, or NULL */
    unsigned long run_seq;      /* increments per finished run */
    size_t n_plugin_metrics;    /* data.metrics[0..n) came from the plugin;
                                   the rest are copies of ingest_metrics */
    metric *ingest_metrics;     /* owned: rate-limit meters a gateway
                                   reported (POST /api/telemetry) */
    size_t n_ingest_metrics;
} pstate;

/* A forced refresh waiting for providers (one per HTTP request). */
typedef struct refresh_waiter {
    struct refresh_waiter *next;
    char **pending;             /* owned instance names not yet finished */
    size_t n_pending;
    char **fallback;            /* owned: names that missed the deadline */
    size_t n_fallback;
    long long deadline_ms;      /* mono */
    int done;                   /* resolved; the HTTP thread may render */
    int abandoned;              /* the HTTP side went away: free on resolve */
    void *connection;           /* struct MHD_Connection * to resume */
} refresh_waiter;

typedef struct daemon {
    pthread_mutex_t lock;
    config *cfg;                /* owned; swapped on reload */
    pstate *ps;                 /* owned array, in name order */
    size_t n_ps;
    unsigned long version;      /* bumped on every visible change */
    refresh_waiter *waiters;    /* owned list */
    int wake_pipe[2];           /* any thread -> scheduler wake-up */
    char *self_exe;             /* owned: /proc/self/exe */
    double started_at;
    unsigned long reloads, reload_failures;
    char *last_reload_error;    /* owned or NULL */
    int once;                   /* --once mode: no HTTP, no snapshot save */
    struct usage_store *usage;  /* owned: per-turn usage history
                                   (usage_store.h), used under the lock */
    void *httpd;                /* httpd handle, or NULL */
    void *ingest;               /* ingest.c's remembered ids, or NULL */
    volatile sig_atomic_t stop, reload;  /* set from signal handlers */
} daemon_t;

/* ---- state.c ---- */

/* Create provider states for cfg (taking ownership of cfg). */
void state_init(daemon_t *d, config *cfg);
void state_free(daemon_t *d);

/* Load the snapshot into matching providers (served_from snapshot).
 * Logs what it did.  Call before the scheduler starts. */
void state_load_snapshot(daemon_t *d);
/* Persist every provider (copies under the lock, writes outside it).
 * Caller must NOT hold the lock. */
void state_save_snapshot(daemon_t *d);

/* Persist the usage store if it changed (image under the lock, write
 * outside it).  Caller must NOT hold the lock. */
void state_save_usage(daemon_t *d);

/* Apply a finished collection to p (lock held): success replaces data,
 * failure keeps the last good data and records the error; computes the
 * next due time with backoff and Retry-After.  The usage cells of a
 * successful collection go to d->usage (when set) and are not kept in
 * p->data. */
void state_apply_result(daemon_t *d, pstate *p, collect_result *r,
                        long long now_ms);

/* Swap in a new config (lock held), keeping the state of providers whose
 * fingerprint is unchanged and the data of providers that changed.
 * Runs of removed or changed providers are killed and reaped.  Takes
 * ownership of cfg and frees the old one. */
void state_swap_config(daemon_t *d, config *cfg);

/* Build views of every provider (lock held).  The views borrow from d;
 * *out is owned by the caller (free() it). */
size_t state_views(daemon_t *d, provider_view **out, double now);

/* Fold one gateway-reported meter into p (lock held; m is copied): it
 * replaces an earlier ingest meter of the same id and is shown with p's
 * metrics unless the plugin itself reports that id. */
void state_put_ingest_metric(daemon_t *d, pstate *p, const metric *m);

/* Find a provider by exact name (lock held), or NULL. */
pstate *state_find(daemon_t *d, const char *name);

/* ---- scheduler.c ---- */

/* Run the scheduling loop until d->stop; handles d->reload by calling
 * reload_fn(d).  In once mode, starts every enabled provider immediately
 * and returns when all have finished. */
void scheduler_run(daemon_t *d, void (*reload_fn)(daemon_t *));
/* Wake the scheduler (any thread, async-signal-safe). */
void scheduler_wake(daemon_t *d);

/* Request a forced refresh (lock held): marks every enabled provider that
 * may be polled now (not in backoff, last attempt older than
 * min_refresh_interval) and returns a waiter for the ones running or
 * started, with the given deadline.  The waiter is linked into d->waiters
 * and resolved by the scheduler; connection is what to resume. */
refresh_waiter *scheduler_request_refresh(daemon_t *d, long long deadline_ms,
                                          void *connection);
void refresh_waiter_free(refresh_waiter *w);

/* Kill every running helper and reap it (used at shutdown). */
void scheduler_kill_all(daemon_t *d);

/* ---- httpd.c ---- */

/* Start the HTTP API on cfg->listen.  Returns 0, or -1 with *err. */
int httpd_start(daemon_t *d, char **err);
/* Resume a suspended connection whose waiter resolved (lock held). */
void httpd_resume(daemon_t *d, void *connection);
void httpd_stop(daemon_t *d);
/* The bound address as text ("127.0.0.1:41234" or "unix:/path"). */
const char *httpd_address(const daemon_t *d);

#endif
