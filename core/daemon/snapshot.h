/*
 * snapshot.h - crash-safe persistence of every provider's last state.
 *
 * File: STATE_DIR/snapshot.json
 *   {"schema": "meterd.snapshot.v1", "saved_at": ...,
 *    "providers": [{"name", "plugin", "status", "error": {class,message}|null,
 *                   "last_attempt_at", "data": <collect_result>|null}]}
 * Written to a temporary file, fsync'd, renamed over the old one, and the
 * directory fsync'd, so a crash leaves either the old or the new file.
 */
#ifndef METERD_SNAPSHOT_H
#define METERD_SNAPSHOT_H

#include <stddef.h>
#include "view.h"

typedef struct snapshot_entry {
    char *name;               /* owned */
    char *plugin;             /* owned */
    provider_status status;
    md_error err;
    char *err_msg;            /* owned or NULL */
    double last_attempt_at;
    int has_data;
    collect_result data;      /* owned; valid when has_data */
} snapshot_entry;

/* Save views to STATE_DIR/snapshot.json. Returns 0, or -1 with *err
 * (malloc'd). */
int snapshot_save(const char *state_dir, const provider_view *v, size_t n,
                  char **err);

/* Load. Returns 1 and *n = 0 when there is no snapshot; 0 on success;
 * -1 when the file is corrupt: it is renamed to
 * snapshot.json.corrupt-<epoch> and *err says so (the caller warns and
 * starts empty).  Entries are owned by the caller. */
int snapshot_load(const char *state_dir, snapshot_entry **out, size_t *n,
                  char **err);
void snapshot_entries_free(snapshot_entry *e, size_t n);

#endif
