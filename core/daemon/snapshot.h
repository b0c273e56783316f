/*
 * snapshot.h - crash-safe persistence of every provider's last state.
 *
 * File: STATE_DIR/snapshot.json
 *   {"schema": "meterd.snapshot.v1", "saved_at": ...,
 *    "providers": [{"name", "plugin", "status", "error": {class,message}|null,
 *                   "last_attempt_at", "data": <collect_result>|null}]}
 * Written to a temporary file, fsync'd, renamed over the old one, and the
 * directory fsync'd, so a crash leaves either the old or the new file.
 * Written one provider per line (the header up to "providers":[ on the
 * first line, each entry on a line of its own, "]}" on the last), so the
 * file is one JSON document and also readable line by line.
 *
 * Recovery: one provider's section never costs the others theirs.  A
 * document that parses keeps every entry that validates; one that does
 * not parse as a whole (an entry past the parser's depth limit, say) is
 * read line by line as above and keeps every entry line that parses and
 * validates.  Only a file without the header line, of another schema or
 * cut short (no closing line) is corrupt.  Files of earlier versions
 * (indented, not one entry per line) load when they parse.
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

/* Load. Returns 1 and *n = 0 when there is no snapshot; 0 on success,
 * with *err set (malloc'd) when entries were left out, naming them (the
 * caller warns); -1 when the file is corrupt: it is renamed to
 * snapshot.json.corrupt-<epoch> and *err says so (the caller warns and
 * starts empty), or cannot be read (a symbolic link: left in place).
 * Entries are owned by the caller. */
int snapshot_load(const char *state_dir, snapshot_entry **out, size_t *n,
                  char **err);
void snapshot_entries_free(snapshot_entry *e, size_t n);

#endif
