/*
 * admission.h - which HTTP requests the local API lets in, judged from
 * the request line and the headers alone, before any body is read.
 *
 * A browser can be made to talk to a loopback port by any page it
 * loads: directly (a cross-site POST: CSRF) or under the page's own
 * name after a DNS rebinding (the request then carries the attacker's
 * name in Host).  So the API answers only to names it knows - Host must
 * be one of the localhost names, the bound address (with or without its
 * port) or a name from `allowed_hosts` - and a request that carries an
 * Origin must come from one of those names too.  Same-origin pages (the
 * dashboard at /) send an Origin equal to the address they loaded from,
 * which is always allowed.
 *
 * Invariants
 * - An admission owns its copies of the names; admission_release frees
 *   them and leaves an empty admission that admits no Host at all.
 * - Names compare case-insensitively (DNS names and IPv6 hex digits are
 *   case-blind).  An allowed name without a port matches that name with
 *   any port or none; one with a port matches only that port.
 * - A unix-socket listener has no Host to check: any Host is accepted
 *   there (only processes that can open the socket file reach it), but
 *   Origin is still checked.
 * - Nothing here allocates after admission_init, so the checks are safe
 *   on every request from any HTTP thread.  A reload builds a new
 *   admission from the new allowed_hosts and httpd swaps it in under its
 *   own lock (httpd_reconfigure); an admission itself never changes.
 */
#ifndef METERD_ADMISSION_H
#define METERD_ADMISSION_H

#include <stddef.h>

/* At most this many query parameters; MHD stores each one in the
 * connection's memory pool before the first callback, so a request with
 * thousands of them would exhaust it (doc/meterd.8, LIMITS). */
#define ADMISSION_MAX_PARAMS 64

typedef struct admission {
    char **names;   /* allowed Host names, lowercase, owned; n_names */
    size_t n_names;
    int any_host;   /* unix socket: Host is not checked */
} admission;

/* Allowed names for the bound address (as httpd_address() prints it:
 * "127.0.0.1:41234", "[::1]:9477" or "unix:/path") plus extra (the
 * `allowed_hosts` list, NULL-terminated; may be NULL). */
void admission_init(admission *a, const char *bound, const char *const *extra);
void admission_release(admission *a);

/* Whether a Host header value is allowed (NULL: no Host, as HTTP/1.0
 * allows; no browser sends such a request). */
int admission_host_ok(const admission *a, const char *host);

/* Whether an Origin header value is allowed: http:// or https:// and an
 * allowed name, nothing after it.  "null" (sandboxed frames, file://
 * pages) is not. */
int admission_origin_ok(const admission *a, const char *origin);

typedef enum {
    TARGET_OK = 0,
    TARGET_TOO_MANY_PARAMS, /* more than ADMISSION_MAX_PARAMS */
    TARGET_NUL              /* "%00" anywhere: it would cut a name short */
} target_verdict;

/* Judge the raw request target (path and query, still percent-encoded).
 * *query_at is set to the offset of the '?' or -1. */
target_verdict admission_check_target(const char *target, long *query_at);

/* Whether a Content-Type value names application/json (parameters such
 * as "; charset=utf-8" allowed). */
int admission_is_json(const char *content_type);

#endif
