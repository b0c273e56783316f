/* listen.h - open the socket the HTTP API listens on.
 *
 * Invariants:
 *   - Each function returns a listening, close-on-exec descriptor that
 *     the caller owns (and closes), or -1 with a malloc'd *err that the
 *     caller frees (core/lib/conventions.h); nothing is logged here.
 *   - listen_unix replaces a stale socket file at path (a previous run's)
 *     and creates the new one mode 0660: only the owner and its group may
 *     connect.
 *   - listen_tcp takes "host:port" or "[v6]:port"; port 0 asks the
 *     kernel for a free one.  *address receives the bound address as
 *     "ip:port" ("[ip]:port" for IPv6), malloc'd, owned by the caller, so
 *     a caller that asked for port 0 learns the real port.
 */
#ifndef METERD_LISTEN_H
#define METERD_LISTEN_H

int listen_unix(const char *path, char **err);
int listen_tcp(const char *spec, char **address, char **err);

#endif
