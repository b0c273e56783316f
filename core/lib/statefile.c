/* statefile.c - crash-safe JSON state files (see statefile.h). */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

/* fsync the directory so the rename itself is durable. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int statefile_write(const char *dir, const char *name, const char *text,
                    char **err)
{
    char *tmp = xasprintf("%s/.%s.XXXXXX", dir, name);
    char *path = xasprintf("%s/%s", dir, name);
    int rc = 0, fd = mkstemp(tmp);
    if (fd < 0) {
        rc = fail(err, xasprintf("cannot create %s: %s", tmp, strerror(errno)));
        goto out;
    }
    /* Records may name accounts; keep them private like the state dir. */
    int bad = fchmod(fd, 0600) != 0 || write_all(fd, text, strlen(text)) != 0 ||
              fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        rc = fail(err, xasprintf("cannot write %s: %s", tmp, strerror(e)));
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        rc = fail(err, xasprintf("cannot rename %s to %s: %s", tmp, path,
                                 strerror(errno)));
        unlink(tmp);
    } else if (fsync_dir(dir) != 0) {
        rc = fail(err, xasprintf("cannot fsync %s: %s", dir, strerror(errno)));
    }
out:
    free(tmp);
    free(path);
    return rc;
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
    /* Not json_loadfd: it reads one byte per read(2) call. */
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        int rc = e == ENOENT ? 1
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
