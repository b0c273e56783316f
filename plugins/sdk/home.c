/*
 * plugins/sdk/home.c - "~/" in a path option (meterd/util.h, "Paths"):
 * one expansion for every plugin that reads a CLI's files, so that they
 * agree when HOME is unset (the helper process of a system service often
 * runs without it).  The home directory is $HOME when set and non-empty,
 * else the passwd entry of the real user, as the shells do.  Results are
 * malloc'd and owned by the caller; nothing is cached.
 */
#include "meterd/util.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The passwd entry's directory, malloc'd; NULL with errno when there is
 * none.  getpwuid_r: a plugin may run beside other threads. */
static char *passwd_home(void)
{
    long cap = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t n = cap > 0 && cap < 1 << 20 ? (size_t)cap : 16384;
    char *buf = malloc(n);
    struct passwd pw, *res = NULL;
    char *out = NULL;
    if (!buf)
        return NULL;
    int rc = getpwuid_r(getuid(), &pw, buf, n, &res);
    if (rc == 0 && res && res->pw_dir && *res->pw_dir)
        out = strdup(res->pw_dir);
    else
        errno = rc ? rc : ENOENT;
    free(buf);
    return out;
}

char *mdu_expand_home(const char *path)
{
    if (!path) {
        errno = EINVAL;
        return NULL;
    }
    if (path[0] != '~' || (path[1] != '/' && path[1] != '\0'))
        return strdup(path); /* "~user/x" is not ours to expand either */
    const char *env = getenv("HOME");
    char *home = env && *env ? strdup(env) : passwd_home();
    if (!home)
        return NULL;
    /* "/" as home: "~/x" is "/x", not "//x" */
    size_t hl = strlen(home);
    while (hl > 1 && home[hl - 1] == '/')
        home[--hl] = '\0';
    const char *rest = path + 1;
    if (hl == 1 && home[0] == '/' && *rest == '/')
        hl = 0;
    char *out = malloc(hl + strlen(rest) + 1);
    if (out) {
        memcpy(out, home, hl);
        strcpy(out + hl, rest);
    }
    free(home);
    return out;
}
