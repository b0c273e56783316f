/*
 * sdnotify.h - the service manager's readiness protocol (sd_notify), without
 * libsystemd.
 *
 * The service manager names an AF_UNIX datagram socket in $NOTIFY_SOCKET:
 * a path ("/run/systemd/notify") or, with a leading '@', a name in the
 * abstract namespace.  Each message is one datagram of newline-separated
 * VARIABLE=value assignments ("READY=1", "RELOADING=1", "STOPPING=1",
 * "STATUS=...", "MONOTONIC_USEC=...").  See the sd_notify(3) manual page.
 *
 * Invariants: sdnotify_open() reads $NOTIFY_SOCKET once and removes it
 * from the environment, so helper processes and the commands they run do
 * not inherit it (only the daemon itself speaks for the service).  A
 * zeroed sdnotify, or one opened without $NOTIFY_SOCKET, is "off": sending
 * on it does nothing and succeeds.  It owns no memory and no descriptor
 * (each send opens and closes its own socket), so there is nothing to
 * release.
 */
#ifndef METERD_SDNOTIFY_H
#define METERD_SDNOTIFY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct sdnotify {
    int on;                       /* $NOTIFY_SOCKET was set and valid */
    struct sockaddr_un addr;      /* the manager's socket */
    socklen_t addr_len;           /* exact length (abstract names count) */
} sdnotify;

/* Take $NOTIFY_SOCKET (and unset it).  Returns 0 (n is on, or off when
 * the variable is absent or empty), or -1 with *err when it is set but
 * not usable (relative path, too long); n is then off. */
int sdnotify_open(sdnotify *n, char **err);

/* Send one message (assignments separated by '\n').  Returns 0 (also when
 * n is off), or -1 with *err. */
int sdnotify_send(const sdnotify *n, const char *message, char **err);

/* "RELOADING=1\nMONOTONIC_USEC=<now>": the form a manager that tracks
 * reloads expects (the timestamp tells it which reload READY=1 ends). */
int sdnotify_reloading(const sdnotify *n, char **err);

#endif
