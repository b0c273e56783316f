/*
 * daemon.h - the running daemon's state, its one owner, and the immutable
 * views the HTTP threads read.
 *
 * Invariants
 * - One thread owns the provider state: the thread that runs
 *   scheduler_run() (the main thread; before and after it, the thread that
 *   set the daemon up and tears it down).  Only it reads or writes ps,
 *   cfg, usage, ingest, waiters, orphans and the counters below.  Other
 *   threads never touch them: they read a published view set, and they
 *   hand work to the owner as messages (state_post, state_post_then).
 * - No other thread ever waits for the owner: a message is queued and
 *   its poster goes on; an answer comes back through the message's
 *   completion callback, which the owner runs (an HTTP request suspends
 *   its connection meanwhile and the callback resumes it).  The owner may
 *   be inside an fsync for tens of milliseconds at a time.
 * - d->lock guards exactly two things: the message queue (msgs,
 *   mailbox_closed) and the pointer to the current view set (views).
 *   Only state.c takes it, and never for longer than a pointer swap or a
 *   list splice; no I/O, no waiting for a child, no rendering happens
 *   under it, and no function returns holding it.
 * - A view set is immutable once published.  view_set_acquire() returns
 *   the current one with its reference count raised (under d->lock, O(1));
 *   the caller renders from it without any lock and drops it with
 *   view_set_release().  The last release frees it, whichever thread that
 *   is.  Its version is d->version at publication: equal versions mean
 *   equal content (apart from clocks, see view_set_views_at).
 * - Lock order: a module's own lock (e.g. httpd's) may be held while
 *   taking d->lock; never the reverse.  Callbacks (refresh waiters,
 *   message functions) are never run under d->lock.
 *
 * Files: state.c (provider state, the mailbox, view sets, snapshot and
 * usage persistence), scheduler.c (when to collect, running, killing and
 * reaping helpers, backoff and Retry-After, forced refreshes), ingest.c
 * (POST /api/telemetry), quotas.c (forecasts and alerts, fed and
 * evaluated by state.c).
 */
#ifndef METERD_DAEMON_H
#define METERD_DAEMON_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "metric.h"
#include "runner.h"
#include "view.h"

/* What the scheduler keeps per provider (scheduler.c alone writes it;
 * state.c moves it across reloads and reads it for views). */
typedef struct sched_slot {
    run_handle *run;            /* in flight, or NULL */
    long long next_due_ms;      /* mono_ms of the next scheduled run */
    long long not_before_ms;    /* backoff / Retry-After floor (mono) */
    long long last_start_ms;    /* mono_ms of the last start, 0 never */
    int skip_counted;           /* this due time already counted a skip */
    int force;                  /* start as soon as possible (refresh) */
} sched_slot;

struct shared_result;
struct usage_counters;
struct usage_total;

/* Runtime state of one provider instance (owner thread only). */
typedef struct pstate {
    char *name;                 /* owned */
    char *family;               /* owned, from the alias map */
    const provider_conf *conf;  /* borrowed from daemon.cfg */
    provider_status status;
    md_error err;
    char *err_msg;              /* owned or NULL */
    int has_data;
    collect_result data;        /* last good data, owned */
    struct shared_result *pub;  /* immutable copy of data for view sets,
                                   or NULL when data changed since */
    served_from served;
    double last_attempt_at;     /* epoch, 0 never */
    unsigned consecutive_failures;
    unsigned long runs, failures, skips;
    unsigned long run_seq;      /* increments per finished run */
    collection_stats stats;     /* finished runs by result, durations */
    size_t n_plugin_metrics;    /* data.metrics[0..n) came from the plugin;
                                   the rest are copies of ingest_metrics */
    metric *ingest_metrics;     /* owned, sorted by id: rate-limit meters
                                   a gateway reported (POST /api/telemetry) */
    size_t n_ingest_metrics;
    sched_slot sched;
    long long fast_lane_ms;     /* poll interval while a meter is urgent
                                   (quotas.h), 0 when none is */
} pstate;

/* A forced refresh waiting for providers (one per HTTP request).  Two
 * references: the requester's and the scheduler's. */
typedef struct refresh_waiter {
    struct refresh_waiter *next;   /* in d->waiters (owner thread) */
    char **pending;             /* owner thread: names not yet finished */
    size_t n_pending;
    char **fallback;            /* names that missed the deadline; written
                                   by the owner before done, then frozen */
    size_t n_fallback;
    long long deadline_ms;      /* mono */
    int resolved;               /* owner thread: callback still to run */
    atomic_int done;            /* 1 once fallback is final (release) */
    atomic_int refs;
    void (*on_done)(void *arg); /* run on the owner thread, never under
                                   d->lock, after the views are published */
    void *arg;
} refresh_waiter;

/* An immutable picture of the daemon for the HTTP threads. */
typedef struct view_set {
    atomic_uint refs;
    unsigned long version;      /* d->version it was built from */
    provider_view *v;           /* v[i].* point into this set */
    size_t n;
    double built_at;            /* epoch */
    long long built_mono_ms;
    long long *due_mono_ms;     /* per provider: next run (mono), 0 none */
    struct shared_result **data;
    char **strs;                /* owned strings the views point to */
    size_t n_strs;
    /* for /healthz, telemetry and forced refreshes */
    const char *config_path, *state_dir, *last_reload_error, *ingest_token;
    const char *const *secrets; /* to mask error messages with */
    size_t n_secrets;
    size_t n_enabled, n_ok, n_running;
    double started_at;
    unsigned long reloads, reload_failures;
    long long endpoint_timeout_ms;
    const char *snapshot_error; /* the last snapshot save failed, or NULL */
    double snapshot_failing_since;
    struct usage_store *usage;  /* borrowed: the daemon's store, which
                                   outlives every view set (it serialises
                                   its own database use); NULL in once
                                   mode without a store */
    struct usage_total *usage_totals;  /* owned copy of the running usage
                                          totals (usage_counter.h) */
    size_t n_usage_totals;
    struct quota_set *quotas;   /* owned reference: forecasts and alerts
                                   of the providers above (quotas.h) */
} view_set;

struct daemon;

/* A unit of work for the owner thread (malloc'd by the poster, freed by
 * the owner once it ran). */
typedef struct state_msg {
    struct state_msg *next;
    void (*fn)(struct daemon *d, void *arg);
    void (*done)(void *arg);    /* after fn, once its effect is published;
                                   or NULL */
    void *arg;
    /* state_post_group: run with the other queued messages of the same
     * group function instead of fn (NULL for a plain message) */
    void (*group)(struct daemon *d, void **args, size_t n);
} state_msg;

struct ingest_state;

typedef struct daemon {
    pthread_mutex_t lock;       /* see the invariants above */
    state_msg *msgs, **msgs_tail;  /* under lock */
    int mailbox_closed;         /* under lock */
    view_set *views;            /* under lock: the current set */
    /* ---- owner thread only ---- */
    config *cfg;                /* owned; swapped on reload */
    pstate *ps;                 /* owned array, in name order */
    size_t n_ps;
    unsigned long version;      /* bumped on every visible change */
    unsigned long published;    /* version of d->views */
    refresh_waiter *waiters;    /* scheduler's references */
    run_handle **orphans;       /* killed runs of removed or changed
                                   providers, still to be reaped */
    size_t n_orphans;
    char *self_exe;             /* owned: /proc/self/exe */
    double started_at;
    unsigned long reloads, reload_failures;
    char *last_reload_error;    /* owned or NULL */
    int once;                   /* --once mode: no HTTP, no snapshot save */
    struct usage_store *usage;  /* owned: per-turn usage history */
    struct ingest_state *ingest;   /* ingest.c's remembered ids, or NULL
                                      (created and freed by ingest.c) */
    struct usage_counters *counters;  /* owned: running usage totals,
                                         loaded at the first publication
                                         (NULL in once mode) */
    char *snapshot_error;       /* owned: why the last snapshot save
                                   failed, NULL when it succeeded */
    double snapshot_failing_since, snapshot_tried_at;
    struct quotas *quotas;      /* owned: samples, alerts, notify commands
                                   (quotas.h; created by state_init) */
    /* ---- any thread ---- */
    int wake_pipe[2];           /* any thread -> scheduler wake-up */
    volatile sig_atomic_t stop, reload, child_exited; /* signal handlers */
} daemon_t;

/* ---- state.c: lifecycle (owner thread) ---- */

/* Create provider states for cfg (taking ownership of cfg) and the
 * mailbox; publishes the first view set. */
void state_init(daemon_t *d, config *cfg);
/* Release everything the state owns; d itself is the caller's (no other
 * thread may use d any more). */
void state_release(daemon_t *d);

/* Load the snapshot into matching providers (served_from snapshot). */
void state_load_snapshot(daemon_t *d);
/* Read the recent meter samples of every provider back from the history
 * database and evaluate their forecasts (state_load_snapshot ends with
 * it; a start without a snapshot calls it too). */
void state_load_forecasts(daemon_t *d);
/* Persist the current view set to the snapshot (no lock held while
 * writing). */
void state_save_snapshot(daemon_t *d);
/* Persist the usage store if it changed (or a failed write is due
 * again: then every cell), and the running usage totals
 * (usage_counter.h) at most every 30 s, or now once d->stop is set. */
void state_save_usage(daemon_t *d);
/* Whether a failed save (usage store or snapshot) should be tried again
 * now, although nothing changed (owner thread). */
int state_persist_retry_due(daemon_t *d, double now);

/* Record a finished collection: success replaces data, failure keeps the
 * last good data and records the error.  When to run next is the
 * scheduler's business.  Usage cells go to d->usage. */
void state_apply_result(daemon_t *d, pstate *p, collect_result *r);

/* Swap in a new config, keeping the state of providers whose fingerprint
 * is unchanged and the data of providers that changed.  Runs of removed
 * or changed providers are killed and left in d->orphans for the
 * scheduler to reap.  Takes ownership of cfg. */
void state_swap_config(daemon_t *d, config *cfg);
/* Record a failed reload (takes ownership of error). */
void state_reload_failed(daemon_t *d, char *error);

/* Fold gateway-reported meters into p (m[] is copied): each replaces an
 * earlier ingest meter of the same id (a later one in m[] wins) and is
 * shown with p's metrics unless the plugin itself reports that id.  The
 * merged metric array is built once per call. */
void state_put_ingest_metrics(daemon_t *d, pstate *p, const metric *m,
                              size_t n);

/* Find a provider by exact name, or NULL. */
pstate *state_find(daemon_t *d, const char *name);

/* Publish a new view set if d->version moved since the last one (the
 * running usage totals are brought up to date first). */
void state_publish(daemon_t *d);

/* ---- state.c: the mailbox ---- */

/* Queue fn(d, arg) for the owner thread without waiting (any thread).
 * Returns 0, or -1 when shutting down (fn will not run; arg stays the
 * caller's).  There is no call that waits for the owner: see the
 * invariants above. */
int state_post(daemon_t *d, void (*fn)(daemon_t *, void *), void *arg);
/* The same, and once fn ran and a view set showing its effect is
 * published, done(arg) runs on the owner thread (never under d->lock):
 * where an answer is handed back to the poster.  Every message queued
 * before the mailbox closes runs, so done always runs when this returned
 * 0; on -1 neither runs. */
int state_post_then(daemon_t *d, void (*fn)(daemon_t *, void *),
                    void (*done)(void *), void *arg);
/* The same for work that is cheaper done many at once (the ingest group
 * commit): when the owner drains its queue, every queued message of the
 * same group function (at most STATE_GROUP_MAX, in queue order) runs as
 * ONE call group(d, args, n), where the first of them stood in the
 * queue; one view set is published, then each done(args[i]) runs.  Only
 * later messages are moved earlier, never an earlier one later, so a
 * poster that waited for an answer before posting again still sees its
 * order kept. */
#define STATE_GROUP_MAX 256
int state_post_group(daemon_t *d, void (*group)(daemon_t *, void **, size_t),
                     void (*done)(void *), void *arg);
/* Owner thread: whether a message is queued (a hint: a message may
 * arrive right after). */
int state_messages_waiting(daemon_t *d);
/* Owner thread: run the queued messages. */
void state_run_messages(daemon_t *d);
/* Owner thread: refuse new messages and run the queued ones. */
void state_close_mailbox(daemon_t *d);

/* ---- state.c: view sets (any thread) ---- */

view_set *view_set_acquire(daemon_t *d);
void view_set_release(view_set *vs);
/* A copy of vs->v (free() it) with the clock-dependent fields (next
 * attempt) stated for now. */
provider_view *view_set_views_at(const view_set *vs, double now);
const provider_view *view_set_find(const view_set *vs, const char *name);

/* ---- scheduler.c ---- */

/* Run the scheduling loop until d->stop; handles d->reload by calling
 * reload_fn(d).  In once mode, starts every enabled provider immediately
 * and returns when all have finished. */
void scheduler_run(daemon_t *d, void (*reload_fn)(daemon_t *));
/* Wake the scheduler (any thread, async-signal-safe). */
void scheduler_wake(daemon_t *d);
/* Note that a child exited (async-signal-safe: the SIGCHLD handler). */
void scheduler_child_exited(daemon_t *d);

/* Request a forced refresh (any thread): every enabled provider that may
 * be polled now (not in backoff, last start older than
 * min_refresh_interval) is started; on_done(arg) runs on the owner thread
 * once they all finished or deadline_ms passed (then the missing ones are
 * in fallback), after the view set showing their results is published.
 * *out gets the requester's reference (refresh_waiter_release it).
 * Returns 0, or -1 when shutting down (on_done will not run). */
int scheduler_request_refresh(daemon_t *d, long long deadline_ms,
                              void (*on_done)(void *), void *arg,
                              refresh_waiter **out);
int refresh_waiter_done(const refresh_waiter *w);
void refresh_waiter_release(refresh_waiter *w);

/* Kill every running helper, reap it (bounded), resolve every waiter
 * (used at shutdown, owner thread). */
void scheduler_kill_all(daemon_t *d);

#endif
