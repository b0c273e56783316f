/*
 * httpd_int.h - what the two parts of the HTTP API share and nothing
 * else: httpd.c (socket, MHD set-up, admission, dispatch, the response
 * cache) and routes.c (the JSON endpoints).  The contract is httpd.h.
 *
 * Invariants:
 *   - struct httpd is fixed once httpd_start returns, except slots
 *     (under cache_lock), the suspend/resume pairing (suspend_lock) and
 *     adm, which a reload replaces (httpd_reconfigure) under adm_lock and
 *     every request reads under adm_lock;
 *     see the locking rules in httpd.h;
 *   - a request belongs to its connection (MHD's req_cls): made by
 *     on_target, freed by on_completed; it holds one reference to its
 *     refresh_waiter and owns its body and its answer;
 *   - no HTTP thread waits for the owner thread: a request that needs it
 *     is parked (httpd_park: its connection suspended, counted in
 *     n_parked until on_completed) and the owner's completion callback
 *     stores the answer and resumes it (httpd_answer_parked), after which
 *     MHD calls the handler again and the answer is sent; every resume
 *     goes through httpd_resume_locked, so httpd_stop can answer (503)
 *     whatever is still suspended when its drain time is up: MHD must
 *     never be stopped with a suspended connection (it aborts);
 *   - the httpd_send_* functions queue a response on the connection and
 *     return MHD's verdict; the _free variant frees msg.
 */
#ifndef METERD_HTTPD_INT_H
#define METERD_HTTPD_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <jansson.h>

#include "admission.h"
#include "httpd.h"
#include "render.h"

#define USAGE_PATH "/api/automation/usage"
#define PROVIDERS_PATH "/api/providers"
#define DAILY_PATH "/api/usage/daily"
#define TELEMETRY_PATH "/api/telemetry"
#define METRICS_PATH "/metrics"

/* One cached rendering. */
typedef struct cache_slot {
    struct MHD_Response *resp;
    unsigned long version;
    long long second;
} cache_slot;

enum { SLOT_USAGE = 0, /* + 2*compact + include_raw: 4 slots */
       SLOT_PROVIDERS = 4, SLOT_PROVIDERS_RAW = 5, SLOT_METRICS = 6,
       N_SLOTS = 7 };

struct httpd {
    daemon_t *d;
    struct MHD_Daemon *mhd;
    int listen_fd;
    char *address;
    char *unix_path;            /* to unlink at stop */
    pthread_mutex_t cache_lock; /* guards slots */
    pthread_mutex_t suspend_lock; /* suspend before resume, see httpd.h;
                                     also guards n_parked */
    size_t n_parked;            /* requests parked and not yet completed */
    struct request *suspended;  /* parked and not yet resumed (list) */
    cache_slot slots[N_SLOTS];
    pthread_mutex_t adm_lock;   /* guards adm (held for a check only) */
    admission adm;              /* Host/Origin names; replaced on reload */
    /* What MHD was started with (restart-only: a reload that changes
     * them is warned about, httpd_reconfigure). */
    long long max_connections, max_connections_per_ip, request_timeout_ms;
};

/* Per-request context (MHD's req_cls). */
typedef struct request {
    httpd *h;
    struct MHD_Connection *c;
    target_verdict target;      /* the raw request target, see on_target */
    int admitted;               /* admit_request let it in */
    refresh_waiter *waiter;     /* forced refresh in progress (our ref) */
    int refresh_refused;        /* shutting down: resumed without one */
    int compact, include_raw;
    char *body;                 /* POST body so far (owned), telemetry only */
    size_t body_len;
    int body_too_big;
    int parked;                 /* was suspended (counted in n_parked) */
    /* In h->suspended while its connection is suspended (suspend_lock). */
    struct request *susp_prev, *susp_next;
    int is_suspended;
    /* An answer the owner thread made while the connection was parked:
     * written before the resume, read by the handler after it. */
    int answered;
    unsigned answer_status;
    json_t *answer;             /* owned until sent */
} request;

/* Queue doc (consumed) as a JSON response with status. */
enum MHD_Result httpd_send_json(struct MHD_Connection *c, unsigned status,
                                json_t *doc);
/* Queue the error document {"error": {status, message}}. */
enum MHD_Result httpd_send_error(struct MHD_Connection *c, unsigned status,
                                 const char *msg);
/* The same, then free(msg); msg NULL says "bad request". */
enum MHD_Result httpd_send_error_free(struct MHD_Connection *c,
                                      unsigned status, char *msg);
/* The usage document of vs as of now, with the family alerts. */
json_t *httpd_render_usage_at(const view_set *vs, render_opts o,
                              const usage_meta *meta);
/* Queue the cached rendering of slot (SLOT_USAGE.. SLOT_PROVIDERS_RAW),
 * rendered anew when the view set or the second changed. */
enum MHD_Result httpd_send_cached(httpd *h, struct MHD_Connection *c,
                                  int slot, render_opts o);

/* Suspend rq's connection for an answer from the owner thread (an HTTP
 * thread, in the handler).  Call with h->suspend_lock held and queue the
 * owner's work before releasing it: then the resume cannot come before
 * the suspend. */
void httpd_park(httpd *h, request *rq);
/* Store rq's answer (doc consumed) and resume its connection; the
 * handler sends it.  Any thread: the owner's completion callback, or
 * the parking HTTP thread itself (holding suspend_lock) when its
 * message was refused. */
void httpd_answer_parked(request *rq, unsigned status, json_t *doc,
                         int lock_held);
/* Resume rq's suspended connection (with suspend_lock held); a no-op
 * when it is not suspended, e.g. once httpd_stop answered it. */
void httpd_resume_locked(request *rq);

/* The endpoints (routes.c), called by dispatch once the request is
 * admitted and, for telemetry, once per piece of the body. */
/* GET /api/automation/usage, and its resumption after a forced refresh. */
enum MHD_Result route_usage(httpd *h, struct MHD_Connection *c, request *rq);
/* GET /api/providers and /api/providers/NAME. */
enum MHD_Result route_providers(httpd *h, struct MHD_Connection *c,
                                const char *url);
/* GET /api/usage/daily. */
enum MHD_Result route_daily(httpd *h, struct MHD_Connection *c, request *rq);
/* GET /healthz. */
enum MHD_Result route_health(httpd *h, struct MHD_Connection *c);
/* POST /api/telemetry: collects the body, then hands it to ingest. */
enum MHD_Result route_telemetry(httpd *h, struct MHD_Connection *c,
                                request *rq, const char *upload,
                                size_t *upload_size);

#endif
