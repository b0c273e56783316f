/* securepath.c - StrictModes for the files meterd trusts (securepath.h). */
#include "securepath.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conventions.h"
#include "log.h"

int secure_path_wanted(void) { return geteuid() == 0; }

/* Why the owner or mode of one path (st) is not acceptable, or NULL.
 * what: "" for the file itself, "directory DIR " for a parent. */
static int bad_owner_or_mode(const struct stat *st, uid_t uid, uid_t also,
                             const char *what, char **err)
{
    if (st->st_uid != 0 && st->st_uid != uid && st->st_uid != also)
        return err_set(err, "refused: %sis owned by uid %ld, neither root "
                       "nor uid %ld (meterd trusts no file another user can "
                       "change)", what, (long)st->st_uid, (long)uid);
    /* A root-owned sticky directory (/tmp) above the file: others may add
     * names to it but can neither rename nor remove ours, and a name they
     * add is theirs, which the check of that file refuses. */
    if (*what && (st->st_mode & S_ISVTX) && st->st_uid == 0)
        return 0;
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return err_set(err, "refused: %sis writable by %s (mode %04o); "
                       "chmod go-w it", what,
                       (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH)
                           ? "group and others"
                       : (st->st_mode & S_IWGRP) ? "group" : "others",
                       (unsigned)(st->st_mode & 07777));
    return 0;
}

int secure_path_check(const char *path, const struct stat *st, uid_t uid,
                      char **err)
{
    struct stat own;
    if (!st) {
        if (stat(path, &own) != 0)
            return err_set(err, "cannot stat: %s", strerror(errno));
        st = &own;
    }
    if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
        return err_set(err, "refused: not a regular file or directory");
    if (bad_owner_or_mode(st, uid, uid, "", err) != 0)
        return -1;
    char *real = realpath(path, NULL);
    if (!real)
        return err_set(err, "cannot resolve the path: %s", strerror(errno));
    /* Walk up the canonical path: whoever can write a directory on it can
     * swap what lies below for their own file. */
    int rc = 0;
    for (;;) {
        char *dir = dirname(real);   /* in place, or a static "/" or "." */
        if (dir != real)
            memmove(real, dir, strlen(dir) + 1);
        struct stat ds;
        if (stat(real, &ds) != 0) {
            rc = err_set(err, "cannot stat directory %s: %s", real,
                         strerror(errno));
            break;
        }
        char *what = xasprintf("directory %s ", real);
        rc = bad_owner_or_mode(&ds, uid, st->st_uid, what, err);
        free(what);
        if (rc != 0 || strcmp(real, "/") == 0 || strcmp(real, ".") == 0)
            break;
    }
    free(real);
    return rc;
}

int private_dir_check(const char *dir, char **err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return err_set(err, "state_dir %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_set(err, "state_dir %s is not a directory", dir);
    if (st.st_mode & 077)
        return err_set(err, "state_dir %s is open to group or others (mode "
                       "%04o): the state names accounts; chmod 700 it", dir,
                       (unsigned)(st.st_mode & 07777));
    if (access(dir, W_OK | X_OK) != 0)
        return err_set(err, "state_dir %s is not writable: %s", dir,
                       strerror(errno));
    return 0;
}
