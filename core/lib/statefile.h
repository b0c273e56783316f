/*
 * statefile.h - crash-safe JSON state files in state_dir (the snapshot,
 * the usage store): written as temp file + fsync + rename + fsync(dir), so
 * a crash leaves the old or the new file, never a mix; read back whole;
 * a file that does not parse or validate is moved aside as
 * NAME.corrupt-<epoch> so the operator can look at it.  State files are
 * opened O_NOFOLLOW | O_CLOEXEC: a symlink in state_dir is refused, never
 * followed.
 */
#ifndef METERD_STATEFILE_H
#define METERD_STATEFILE_H

#include <jansson.h>
#include <stddef.h>

/* write(2) all of buf, retrying on EINTR.  Returns 0 or -1 (errno set). */
int write_all(int fd, const char *buf, size_t len);

/* Atomically replace dir/name by text (mode 0600).  Returns 0, or -1 with
 * *err (malloc'd; err may be NULL). */
int statefile_write(const char *dir, const char *name, const char *text,
                    char **err);

/* Read and parse dir/name (rejecting duplicate keys).  Returns 0 with *doc
 * (new reference); 1 when the file does not exist; -1 with *err when it
 * cannot be read (a symbolic link included: it is left in place), or
 * when it does not parse (then it has been moved aside and *err says
 * so). */
int statefile_read(const char *dir, const char *name, json_t **doc,
                   char **err);

/* Move dir/name aside because of why (a parsed file that failed
 * validation).  Returns the message for the caller to log (malloc'd). */
char *statefile_move_aside(const char *dir, const char *name,
                           const char *why);

#endif
