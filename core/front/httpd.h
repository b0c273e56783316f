/*
 * httpd.h - the local HTTP API (libmicrohttpd).
 *
 * Invariants
 * - The HTTP threads never touch the daemon's provider state and never
 *   take d->lock directly: they render from a published view set
 *   (view_set_acquire / view_set_release, daemon.h) and hand everything
 *   else to the owner thread (ingest_submit, a forced refresh, the daily
 *   usage report) as messages.  They never wait for the owner thread
 *   (which may be inside an fsync): such a request suspends its
 *   connection and the owner's completion callback resumes it.
 * - httpd's own cache lock guards the cached responses only; it is never
 *   held while waiting for the owner thread.  Its suspend lock is held
 *   from suspending a connection until its message is queued, and by the
 *   resume callback, so a connection is never resumed before it was
 *   suspended.  Both may be held while state.c takes d->lock, never the
 *   reverse.
 * - The httpd object belongs to main.c, which starts it after the
 *   daemon's state is set up and stops it after the scheduler has
 *   resolved every forced refresh (scheduler_kill_all) and the mailbox
 *   has answered every queued message (state_close_mailbox); httpd_stop
 *   then lets the resumed connections send their answers (bounded)
 *   before it stops libmicrohttpd.
 */
#ifndef METERD_HTTPD_H
#define METERD_HTTPD_H

#include "daemon.h"

typedef struct httpd httpd;

/* Start the HTTP API on cfg->listen.  Returns the server, or NULL with
 * *err. */
httpd *httpd_start(daemon_t *d, char **err);
/* Stop and free it (NULL is fine). */
void httpd_stop(httpd *h);
/* A reload took cfg (owner thread, before cfg is installed): new
 * requests are admitted by its allowed_hosts from now on.  The
 * connection limits and timeout are fixed when libmicrohttpd starts:
 * when cfg changes one of them, a warning names the key and says it
 * takes effect at restart.  NULL h (no HTTP server) is a no-op. */
void httpd_reconfigure(httpd *h, const config *cfg);
/* The bound address as text ("127.0.0.1:41234" or "unix:/path"). */
const char *httpd_address(const httpd *h);

#endif
