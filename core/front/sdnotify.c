/* sdnotify.c - readiness notification to the service manager; see
 * sdnotify.h for the protocol. */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conventions.h"

int sdnotify_open(sdnotify *n, char **err)
{
    memset(n, 0, sizeof *n);
    const char *env = getenv("NOTIFY_SOCKET");
    if (!env || !*env)
        return 0;
    char name[sizeof n->addr.sun_path + 1];
    size_t len = strlen(env);
    int ok = (env[0] == '/' || env[0] == '@') && len < sizeof n->addr.sun_path;
    if (ok)
        memcpy(name, env, len + 1);
    unsetenv("NOTIFY_SOCKET");
    if (!ok)
        return err_set(err, "NOTIFY_SOCKET: not an absolute path or @name");
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, name, len);
    if (name[0] == '@')
        n->addr.sun_path[0] = '\0';  /* abstract namespace: no terminator */
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                              (name[0] == '@' ? 0 : 1));
    n->on = 1;
    return 0;
}

int sdnotify_send(const sdnotify *n, const char *message, char **err)
{
    if (!n || !n->on)
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, "notify socket: %s", strerror(errno));
    ssize_t sent;
    do
        sent = sendto(fd, message, strlen(message), MSG_NOSIGNAL,
                      (const struct sockaddr *)&n->addr, n->addr_len);
    while (sent < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (sent < 0)
        return err_set(err, "notify %s: %s", message, strerror(e));
    return 0;
}

int sdnotify_reloading(const sdnotify *n, char **err)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL +
                 (unsigned long long)ts.tv_nsec / 1000ULL);
    return sdnotify_send(n, msg, err);
}
