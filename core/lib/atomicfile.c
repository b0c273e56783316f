/*
 * atomicfile.c - crash-safe replacement of a file in a state directory
 * (temp file + fsync + rename + fsync of the directory), and full-length
 * read/write.  The one implementation for the core's JSON state files
 * (statefile.c), the plugins' own (the log scanner's logscan.state, the
 * drift notes' drift.json) and the write-back of a CLI's credentials
 * file after an OAuth refresh (begin_keep: mode and owner kept); declared
 * in meterd/util.h, and libmeterd-plugin.a is built from this file too.
 * libc and meterd/ headers only: errors are returned as -1 with errno
 * (and a step name), never logged, so that both the daemon and a plugin
 * can word the message their own way.
 */
#include "meterd/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mdu_write_all(int fd, const void *buf, size_t n)
{
    const char *c = buf;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int mdu_read_all(int fd, void *buf, size_t n)
{
    char *c = buf;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* malloc'd printf of up to three strings; NULL when out of memory. */
static char *cat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static void release(mdu_statefile *sf)
{
    free(sf->tmp);
    free(sf->path);
    free(sf->dir);
    sf->tmp = sf->path = sf->dir = NULL;
    sf->fd = -1;
}

int mdu_statefile_begin(mdu_statefile *sf, const char *dir, const char *name)
{
    *sf = (mdu_statefile){.fd = -1};
    char *dot = cat3(dir, "/.", name);
    sf->tmp = dot ? cat3(dot, ".XXXXXX", "") : NULL;
    free(dot);
    sf->path = cat3(dir, "/", name);
    sf->dir = cat3(dir, "", "");
    if (!sf->tmp || !sf->path || !sf->dir) {
        release(sf);
        errno = ENOMEM;
        return -1;
    }
    /* mkostemp's O_EXCL already refuses an existing name (a symlink
     * included); O_NOFOLLOW says so once more, as for every state file. */
    sf->fd = mkostemp(sf->tmp, O_CLOEXEC | O_NOFOLLOW);
    /* State may name accounts: private, whatever the umask. */
    if (sf->fd < 0 || fchmod(sf->fd, 0600) != 0) {
        int e = errno;
        if (sf->fd >= 0) {
            close(sf->fd);
            unlink(sf->tmp);
        }
        release(sf);
        errno = e;
        return -1;
    }
    return 0;
}

int mdu_statefile_begin_keep(mdu_statefile *sf, const char *dir,
                             const char *name)
{
    char *path = cat3(dir, "/", name);
    struct stat st;
    if (!path) {
        *sf = (mdu_statefile){.fd = -1};
        errno = ENOMEM;
        return -1;
    }
    int rc = stat(path, &st);
    free(path);
    if (rc != 0) {
        *sf = (mdu_statefile){.fd = -1};
        return -1;
    }
    if (mdu_statefile_begin(sf, dir, name) != 0)
        return -1;
    if (fchmod(sf->fd, st.st_mode & 07777) != 0 ||
        fchown(sf->fd, st.st_uid, st.st_gid) != 0) {
        int e = errno;
        mdu_statefile_abort(sf);
        errno = e;
        return -1;
    }
    return 0;
}

void mdu_statefile_abort(mdu_statefile *sf)
{
    if (sf->fd >= 0) {
        close(sf->fd);
        unlink(sf->tmp);
    }
    release(sf);
}

int mdu_statefile_commit(mdu_statefile *sf)
{
    int bad = fsync(sf->fd) != 0, e = errno;
    if (close(sf->fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    sf->fd = -1;
    sf->failed_step = NULL;
    if (bad) {
        sf->failed_step = "write";
    } else if (rename(sf->tmp, sf->path) != 0) {
        bad = 1;
        e = errno;
        sf->failed_step = "rename";
    } else {
        /* The rename is durable only once the directory entry is. */
        int dfd = open(sf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            bad = 1;
            e = errno;
            sf->failed_step = "fsync";
        }
        if (dfd >= 0)
            close(dfd);
        release(sf);
        errno = e;
        return bad ? -1 : 0;
    }
    unlink(sf->tmp);
    release(sf);
    errno = e;
    return -1;
}
