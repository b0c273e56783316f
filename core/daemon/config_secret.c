/*
 * config_secret.c - secret configuration values: every value that came
 * from ${VAR} or a *_file is remembered so that the dump and the log can
 * mask it, and *_file secrets are read here under the rules the operator
 * relies on (regular file, owner-only permissions, bounded size).
 */
#include "config_int.h"
#include "conventions.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A secret is a token or a key, not a document: 1 MiB is far beyond any
 * credential and still small enough to hold in memory without worry. */
#define MAX_SECRET_FILE (1024 * 1024)

void config_add_secret(config *c, const char *s)
{
    if (!s || !*s)
        return;
    for (size_t i = 0; i < c->n_secrets; i++)
        if (strcmp(c->secrets[i], s) == 0)
            return;
    c->secrets = xrealloc(c->secrets, (c->n_secrets + 1) * sizeof *c->secrets);
    c->secrets[c->n_secrets++] = xstrdup(s);
}

/* Read fd to its end into b; -1 on a read error (errno set) or when the
 * file grew past the cap since fstat(). */
static int read_all(int fd, buf *b)
{
    char chunk[4096];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (buf_add(b, chunk, (size_t)r)) {
            errno = EFBIG;
            return -1;
        }
    }
}

char *config_read_secret_file(const config *c, const char *path, char **err)
{
    char *full = config_resolve(c, path);
    char *out = NULL;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    struct stat st;
    buf b;
    buf_init(&b, MAX_SECRET_FILE);
    if (fd < 0) {
        err_set(err, "cannot read '%s': %s", full, strerror(errno));
    } else if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        err_set(err, "'%s' is not a regular file", full);
    } else if (st.st_mode & 077) {
        err_set(err, "'%s' must not be readable by group or others "
                "(chmod 600)", full);
    } else if (st.st_size > MAX_SECRET_FILE || read_all(fd, &b)) {
        if (buf_failed(&b) || st.st_size > MAX_SECRET_FILE)
            err_set(err, "'%s' is larger than %d bytes", full,
                    MAX_SECRET_FILE);
        else
            err_set(err, "cannot read '%s': %s", full, strerror(errno));
    } else if (strlen(buf_str(&b)) != buf_len(&b)) {
        err_set(err, "'%s' contains a NUL byte", full);
    } else {
        size_t n = buf_len(&b);
        out = buf_take(&b);
        if (n > 0 && out[n - 1] == '\n')
            out[--n] = '\0';
        if (n > 0 && out[n - 1] == '\r')
            out[--n] = '\0';
    }
    buf_release(&b);
    if (fd >= 0)
        close(fd);
    free(full);
    return out;
}
