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
} provider_view;

const char *provider_status_name(provider_status s);
const char *served_from_name(served_from s);

#endif
