/*
 * view.h - a read-only picture of one provider instance, as the renderer,
 * the ranking and the snapshot writer see it.  The state module builds
 * views under its lock; none of these functions keeps pointers past the
 * call.
 *
 * Invariants: data is NULL exactly when there never was good data; a
 * view is only valid while the state that built it is unchanged.
 * Ownership: every pointer in a provider_view is borrowed from the
 * daemon's state (or from a snapshot being written); a view owns nothing.
 * Threads: built and read under the daemon's lock, or on a private copy.
 */
#ifndef METERD_VIEW_H
#define METERD_VIEW_H

#include <stddef.h>
#include "result.h"

typedef enum {
    PSTAT_PENDING = 0,  /* no collection finished yet ("pending") */
    PSTAT_OK,           /* last collection succeeded ("ok") */
    PSTAT_ERROR,        /* last collection failed ("error") */
    PSTAT_DISABLED      /* enabled: false ("disabled") */
} provider_status;

typedef enum {
    SERVED_NONE = 0,    /* no data at all ("none") */
    SERVED_LIVE,        /* data from a collection of this run ("live") */
    SERVED_SNAPSHOT     /* data loaded from the snapshot ("snapshot") */
} served_from;

/* Collection health of one provider instance since the daemon started
 * (Prometheus counters restart with the process; the state owner adds one
 * finished run at a time, so every field only grows, except
 * last_success_at which moves forward). */
#define VIEW_RESULT_CLASSES (MD_ERR_INTERNAL + 1)  /* by_result index: an
                                                      md_error, 0 = ok */
#define VIEW_DURATION_BUCKETS 10
/* Upper bounds (seconds) of the duration histogram: from a fast local
 * scan to the longest plugin timeout anyone sets; +Inf is implied. */
#define VIEW_DURATION_BOUNDS {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

typedef struct collection_stats {
    unsigned long by_result[VIEW_RESULT_CLASSES];  /* finished runs */
    unsigned long duration_in[VIEW_DURATION_BUCKETS + 1];  /* runs whose
                                  duration fell in bucket i (not
                                  cumulative; the last is above 60 s) */
    double duration_sum;       /* seconds, over duration_count runs */
    unsigned long duration_count;  /* runs with a known duration */
    double last_success_at;    /* epoch of the last successful run (this
                                  process or the snapshot), 0 never */
} collection_stats;

typedef struct provider_view {
    const char *name;          /* instance name */
    const char *plugin;        /* plugin name */
    const char *family;        /* from the alias map */
    provider_status status;
    md_error err;              /* last collection's error, NONE if ok */
    const char *err_msg;       /* NULL if none */
    /* last good data (kept across failures): */
    const collect_result *data;   /* NULL when there never was good data */
    double collected_at;       /* finished_at of the last good data; 0 none */
    served_from served;
    int stale;                 /* data is older than the last attempt
                                  (that attempt failed) */
    double last_attempt_at;    /* 0 never */
    double next_attempt_at;    /* 0 not scheduled (disabled) */
    int running;               /* a collection is in flight */
    unsigned long runs, failures, skips;
    unsigned consecutive_failures;
    collection_stats stats;    /* a copy: owns nothing */
} provider_view;

const char *provider_status_name(provider_status s);
const char *served_from_name(served_from s);

#endif
