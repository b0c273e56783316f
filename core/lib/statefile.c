/* statefile.c - crash-safe JSON state files (see statefile.h).  The atomic
 * replace itself is atomicfile.c, shared with the plugin SDK. */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "meterd/util.h"

int write_all(int fd, const char *buf, size_t len)
{
    return mdu_write_all(fd, buf, len);
}

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

int statefile_write(const char *dir, const char *name, const char *text,
                    char **err)
{
    mdu_statefile sf;
    if (mdu_statefile_begin(&sf, dir, name) != 0)
        return fail(err, xasprintf("cannot create a temporary file for "
                                   "%s/%s: %s", dir, name, strerror(errno)));
    if (mdu_write_all(sf.fd, text, strlen(text)) != 0) {
        char *msg = xasprintf("cannot write %s: %s", sf.tmp, strerror(errno));
        mdu_statefile_abort(&sf);
        return fail(err, msg);
    }
    if (mdu_statefile_commit(&sf) != 0)
        return fail(err, xasprintf("cannot replace %s/%s (%s): %s", dir, name,
                                   sf.failed_step, strerror(errno)));
    return 0;
}

char *statefile_move_aside(const char *dir, const char *name, const char *why)
{
    char *path = xasprintf("%s/%s", dir, name);
    char *aside = xasprintf("%s.corrupt-%lld", path, (long long)time(NULL));
    char *msg = rename(path, aside) == 0
                    ? xasprintf("%s is corrupt (%s); moved aside to %s", path,
                                why, aside)
                    : xasprintf("%s is corrupt (%s); could not move it aside: "
                                "%s", path, why, strerror(errno));
    free(aside);
    free(path);
    return msg;
}

int statefile_read(const char *dir, const char *name, json_t **doc,
                   char **err)
{
    char *path = xasprintf("%s/%s", dir, name);
    *doc = NULL;
    /* O_NOFOLLOW: a symlink planted in state_dir must not make the daemon
     * read (and, when it does not parse, rename) a file elsewhere.  Not
     * json_loadfd: it reads one byte per read(2) call. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        int rc = e == ENOENT ? 1
                 : e == ELOOP
                     ? fail(err, xasprintf("cannot open %s: it is a symbolic "
                                           "link, refused", path))
                     : fail(err, xasprintf("cannot open %s: %s", path,
                                           strerror(e)));
        free(path);
        return rc;
    }
    free(path);
    json_error_t jerr;
    *doc = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (*doc)
        return 0;
    char *why = xasprintf("line %d: %s", jerr.line, jerr.text);
    fail(err, statefile_move_aside(dir, name, why));
    free(why);
    return -1;
}
