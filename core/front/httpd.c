/* httpd.c - the local HTTP API (libmicrohttpd); see httpd.h: the MHD
 * set-up, admission (what is refused before any body is read), dispatch
 * to the endpoints and the response cache.  The listening socket is
 * listen.c.  The
 * JSON endpoints themselves are routes.c.
 *
 * Cached GETs are rendered once per published view set (and at most once
 * per second, since ages and generated_at move with the clock) and the
 * same MHD_Response is queued for every request until then.  A forced
 * refresh suspends its connection until the scheduler calls back, so a
 * hung provider never occupies an HTTP thread. */
#include "httpd_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "listen.h"
#include "dashboard.h"
#include "history_api.h"
#include "quotas.h"
#include "quotas_api.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "render.h"
#include "timeutil.h"

#define HTTP_THREADS 2
/* ---- responses ---- */

static struct MHD_Response *json_response(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (!text)
        text = xstrdup("{\"error\":{\"status\":500,\"message\":\"render failed\"}}");
    size_t len = strlen(text);
    char *body = xmalloc(len + 2);
    memcpy(body, text, len);
    body[len++] = '\n';
    free(text);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return r;
}

enum MHD_Result httpd_send_json(struct MHD_Connection *c, unsigned status,
                                json_t *doc)
{
    struct MHD_Response *r = json_response(doc);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result httpd_send_error(struct MHD_Connection *c, unsigned status,
                                 const char *msg)
{
    return httpd_send_json(c, status, render_error((int)status, msg));
}

enum MHD_Result httpd_send_error_free(struct MHD_Connection *c,
                                      unsigned status, char *msg)
{
    enum MHD_Result rc = httpd_send_error(c, status, msg ? msg : "bad request");
    free(msg);
    return rc;
}

/* ---- parked requests (httpd_int.h) ---- */

void httpd_park(httpd *h, request *rq)
{
    MHD_suspend_connection(rq->c);
    if (!rq->parked) {
        rq->parked = 1;
        h->n_parked++;
    }
    rq->is_suspended = 1;
    rq->susp_prev = NULL;
    rq->susp_next = h->suspended;
    if (h->suspended)
        h->suspended->susp_prev = rq;
    h->suspended = rq;
}

static void unlink_suspended(request *rq)
{
    httpd *h = rq->h;
    if (!rq->is_suspended)
        return;
    if (rq->susp_prev)
        rq->susp_prev->susp_next = rq->susp_next;
    else
        h->suspended = rq->susp_next;
    if (rq->susp_next)
        rq->susp_next->susp_prev = rq->susp_prev;
    rq->susp_prev = rq->susp_next = NULL;
    rq->is_suspended = 0;
}

void httpd_resume_locked(request *rq)
{
    if (!rq->is_suspended)
        return;
    unlink_suspended(rq);
    MHD_resume_connection(rq->c);
}

void httpd_answer_parked(request *rq, unsigned status, json_t *doc,
                         int lock_held)
{
    httpd *h = rq->h; /* once resumed, rq may be answered and freed */
    if (!lock_held)
        pthread_mutex_lock(&h->suspend_lock);
    if (rq->is_suspended) {
        rq->answer_status = status;
        rq->answer = doc;
        rq->answered = 1;
        httpd_resume_locked(rq);
    } else {
        json_decref(doc); /* httpd_stop answered it already */
    }
    if (!lock_held)
        pthread_mutex_unlock(&h->suspend_lock);
}

/* The resumed handler call of a parked request: send what the owner
 * answered. */
static enum MHD_Result send_answer(struct MHD_Connection *c, request *rq)
{
    json_t *doc = rq->answer;
    rq->answer = NULL;
    rq->answered = 0;
    return httpd_send_json(c, rq->answer_status, doc);
}

/* ---- rendering from a view set ---- */

json_t *httpd_render_usage_at(const view_set *vs, render_opts o,
                              const usage_meta *meta)
{
    double now = time_now();
    provider_view *v = view_set_views_at(vs, now);
    /* The family alerts of the view set's quota set (quotas.h). */
    const quota_set *q = vs->quotas;
    size_t nf = q ? q->n_fam : 0;
    family_alert *fa = xcalloc(nf ? nf : 1, sizeof *fa);
    for (size_t i = 0; i < nf; i++)
        fa[i] = (family_alert){q->fam[i].family, alert_name(q->fam[i].alert),
                               q->fam[i].exhausts_at.state == MD_KNOWN
                                   ? q->fam[i].exhausts_at.epoch : 0};
    json_t *doc = render_usage_alerts(v, vs->n, o, meta, fa, nf, now);
    free(fa);
    free(v);
    return doc;
}

static const usage_meta live_meta = {.data_source = "live_or_cache"};

/* Queue the cached response of slot, rendered anew when the view set or
 * the second changed.  MHD responses are reference counted: once queued,
 * it stays alive even if the slot is replaced. */
enum MHD_Result httpd_send_cached(httpd *h, struct MHD_Connection *c,
                                  int slot, render_opts o)
{
    long long sec = (long long)time_now();
    view_set *vs = view_set_acquire(h->d);
    pthread_mutex_lock(&h->cache_lock);
    cache_slot *s = &h->slots[slot];
    if (!s->resp || s->version != vs->version || s->second != sec) {
        json_t *doc;
        if (slot < SLOT_PROVIDERS) {
            doc = httpd_render_usage_at(vs, o, &live_meta);
        } else {
            double now = time_now();
            provider_view *v = view_set_views_at(vs, now);
            doc = render_providers(v, vs->n, slot == SLOT_PROVIDERS_RAW, now);
            free(v);
        }
        if (s->resp)
            MHD_destroy_response(s->resp);
        s->resp = json_response(doc);
        s->version = vs->version;
        s->second = sec;
    }
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, s->resp);
    pthread_mutex_unlock(&h->cache_lock);
    view_set_release(vs);
    return rc;
}

/* GET /metrics: cached like the usage JSON (ages move with the clock). */
static enum MHD_Result send_metrics(httpd *h, struct MHD_Connection *c)
{
    long long sec = (long long)time_now();
    view_set *vs = view_set_acquire(h->d);
    pthread_mutex_lock(&h->cache_lock);
    cache_slot *s = &h->slots[SLOT_METRICS];
    if (!s->resp || s->version != vs->version || s->second != sec) {
        size_t len = 0;
        char *text = metrics_render(vs->v, vs->n, vs->usage_totals,
                                    vs->n_usage_totals, vs->quotas,
                                    time_now(), &len);
        if (s->resp)
            MHD_destroy_response(s->resp);
        s->resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(s->resp, "Content-Type", METRICS_CONTENT_TYPE);
        MHD_add_response_header(s->resp, "Cache-Control", "no-store");
        s->version = vs->version;
        s->second = sec;
    }
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, s->resp);
    pthread_mutex_unlock(&h->cache_lock);
    view_set_release(vs);
    return rc;
}

/* ---- telemetry: who may post ---- */

/* Whether the peer is on this machine: loopback TCP or the unix socket. */
static int peer_is_local(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (!sa || sa->sa_family == AF_UNIX)
        return 1; /* unix sockets report no address */
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

/* Constant-time comparison, so the token cannot be guessed by timing. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

/* Who may post: with ingest_token configured, whoever sends it as a
 * bearer token; without one, only local peers.  0 or an HTTP status. */
static unsigned telemetry_access(httpd *h, struct MHD_Connection *c)
{
    view_set *vs = view_set_acquire(h->d);
    char *token = xstrdup(vs->ingest_token);
    view_set_release(vs);
    unsigned status = 0;
    if (token) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                       "Authorization");
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
            !same_secret(auth + 7, token))
            status = MHD_HTTP_UNAUTHORIZED;
    } else if (!peer_is_local(c)) {
        status = MHD_HTTP_FORBIDDEN;
    }
    free(token);
    return status;
}

static int is_known_path(const char *url)
{
    return strcmp(url, USAGE_PATH) == 0 || strcmp(url, "/healthz") == 0 ||
           strcmp(url, DAILY_PATH) == 0 || strcmp(url, TELEMETRY_PATH) == 0 ||
           strcmp(url, PROVIDERS_PATH) == 0 || strcmp(url, HISTORY_API_PATH) == 0 ||
           strcmp(url, METRICS_PATH) == 0 ||
           strcmp(url, QUOTAS_API_PATH) == 0 || strcmp(url, ADVICE_API_PATH) == 0 ||
           strncmp(url, PROVIDERS_PATH "/", strlen(PROVIDERS_PATH "/")) == 0 ||
           dashboard_find(url) != NULL;
}

/* ---- admission: what is refused before any body is read ---- */

/* MHD's URI log callback: it sees the raw request target before MHD
 * parses the query into the connection's memory pool, which is where a
 * request's context starts.  MHD 0.9.75 stores every parameter in that
 * pool (16 KiB) and, when it runs out, closes the connection without a
 * response; so a query with too many parameters is cut off here (the
 * buffer is MHD's own, writable, and parsed right after this returns)
 * and admit_request answers 400 for it.
 * Measured alternatives that do not write into MHD's buffer all lose the
 * answer: counting in the access handler (MHD_get_connection_values) is
 * too late, as MHD has already closed a connection whose query has ~150
 * or more parameters (a client sees no response at all); a larger pool
 * does not help, since every parameter costs MHD a ~56-byte record from
 * the pool for as little as two bytes of request line, which lives in the
 * same pool; and the unescape callback cannot stop MHD's parsing loop. */
static void *on_target(void *cls, const char *uri, struct MHD_Connection *c)
{
    request *rq = xcalloc(1, sizeof *rq);
    rq->h = cls;
    rq->c = c;
    long query_at;
    rq->target = admission_check_target(uri, &query_at);
    if (rq->target == TARGET_TOO_MANY_PARAMS) {
        /* MHD hands its writable buffer as const: the cut is by design
         * (see above), so the const is dropped on purpose, via uintptr_t. */
        char *target = (char *)(uintptr_t)uri;
        target[query_at + 1] = '\0';
    }
    return rq;
}

static enum MHD_Result send_not_allowed(struct MHD_Connection *c,
                                        const char *method, int post_only)
{
    char *msg = xasprintf("method %.16s not allowed; use %s", method,
                          post_only ? "POST" : "GET");
    struct MHD_Response *r = json_response(render_error(405, msg));
    free(msg);
    MHD_add_response_header(r, "Allow", post_only ? "POST" : "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    MHD_destroy_response(r);
    return rc;
}

/* The checks on a POST /api/telemetry: who posts, what and how much. */
static enum MHD_Result admit_telemetry(httpd *h, struct MHD_Connection *c,
                                       request *rq)
{
    unsigned denied = telemetry_access(h, c);
    if (denied)
        return httpd_send_error(c, denied,
                                denied == MHD_HTTP_UNAUTHORIZED
                                    ? "missing or wrong bearer token"
                                    : "telemetry is accepted from this "
                                      "machine only unless ingest_token "
                                      "is configured");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!admission_is_json(type))
        return httpd_send_error(
            c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json");
    const char *length = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long n;
    if (length && parse_int(length, &n) == 0 && n > INGEST_MAX_BODY) {
        const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0)
            return httpd_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                    "body larger than 1 MiB");
        /* A client already sending would see the connection reset
         * before our answer: read and drop the body unbuffered (as nginx
         * does), then answer 413 (route_telemetry). */
        rq->body_too_big = 1;
    }
    rq->admitted = 1;
    return MHD_YES;
}

/* The first call for a request: the request line and headers are in,
 * no byte of a body was accepted.  A refusal queued here is an "early"
 * response: MHD sends it, reads no body and closes the connection. */
static enum MHD_Result admit_request(httpd *h, struct MHD_Connection *c,
                                     request *rq, const char *url,
                                     const char *method)
{
    if (rq->target == TARGET_TOO_MANY_PARAMS)
        return httpd_send_error(c, MHD_HTTP_BAD_REQUEST,
                                "too many query parameters (at most 64)");
    if (rq->target == TARGET_NUL)
        return httpd_send_error(
            c, MHD_HTTP_BAD_REQUEST,
            "the request target contains %00 (a NUL byte)");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_HOST);
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     "Origin");
    pthread_mutex_lock(&h->adm_lock);
    int host_ok = admission_host_ok(&h->adm, host);
    int origin_ok = !origin || admission_origin_ok(&h->adm, origin);
    pthread_mutex_unlock(&h->adm_lock);
    if (!host_ok)
        return httpd_send_error_free(
            c, MHD_HTTP_BAD_REQUEST,
            xasprintf("Host '%.64s' is not this server; add it to "
                      "allowed_hosts to reach meterd by that name", host));
    if (!origin_ok)
        return httpd_send_error_free(
            c, MHD_HTTP_FORBIDDEN,
            xasprintf("requests from origin '%.64s' are not allowed; add "
                      "its host to allowed_hosts to allow them", origin));
    if (!is_known_path(url))
        return httpd_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    int post_only = strcmp(url, TELEMETRY_PATH) == 0;
    if (post_only && strcmp(method, "POST") == 0)
        return admit_telemetry(h, c, rq);
    if (post_only || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
        return send_not_allowed(c, method, post_only);
    rq->admitted = 1;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    httpd *h = cls;
    (void)version;
    request *rq = *req_cls;
    if (!rq) /* on_target always runs first; be safe, not crash */
        *req_cls = rq = on_target(h, url, c);
    if (!rq->admitted) {
        /* Answer an admitted request only once the whole request is in:
         * a response queued on this first call counts as "early" and MHD
         * closes the connection, which would defeat keep-alive. */
        return admit_request(h, c, rq, url, method);
    }
    if (rq->answered)
        return send_answer(c, rq);
    if (rq->waiter || rq->refresh_refused)
        return route_usage(h, c, rq);
    if (strcmp(url, TELEMETRY_PATH) == 0)
        return route_telemetry(h, c, rq, upload_data, upload_data_size);
    if (*upload_data_size) { /* a GET with a body: discard it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, USAGE_PATH) == 0)
        return route_usage(h, c, rq);
    const dashboard_file *page = dashboard_find(url);
    if (page) { /* static and immortal: MHD may send it without a copy */
        /* MHD_RESPMEM_PERSISTENT: MHD only reads the buffer; this MHD
         * (0.9.75) has no const variant, so the const is dropped here. */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            page->len, (void *)(uintptr_t)page->data, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", page->content_type);
        for (const dashboard_header *hd = dashboard_headers; hd->name; hd++)
            MHD_add_response_header(r, hd->name, hd->value);
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (strcmp(url, "/healthz") == 0)
        return route_health(h, c);
    if (strcmp(url, METRICS_PATH) == 0)
        return send_metrics(h, c);
    if (strcmp(url, DAILY_PATH) == 0)
        return route_daily(h, c, rq);
    if (strcmp(url, HISTORY_API_PATH) == 0) {
        json_t *doc = NULL;
        view_set *vs = view_set_acquire(h->d);
        unsigned status = history_api_get(vs, c, &doc);
        view_set_release(vs);
        return httpd_send_json(c, status, doc);
    }
    if (strcmp(url, QUOTAS_API_PATH) == 0 || strcmp(url, ADVICE_API_PATH) == 0) {
        json_t *doc = NULL;
        view_set *vs = view_set_acquire(h->d);
        unsigned status = strcmp(url, QUOTAS_API_PATH) == 0
                              ? quotas_api_get(vs, c, &doc)
                              : advice_api_get(vs, c, &doc);
        view_set_release(vs);
        return httpd_send_json(c, status, doc);
    }
    return route_providers(h, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request *rq = *req_cls;
    httpd *h = cls;
    (void)c;
    (void)toe;
    if (!rq)
        return;
    if (rq->parked) {
        pthread_mutex_lock(&h->suspend_lock);
        unlink_suspended(rq);
        h->n_parked--;
        pthread_mutex_unlock(&h->suspend_lock);
    }
    /* The scheduler holds its own reference until it called back. */
    refresh_waiter_release(rq->waiter);
    json_decref(rq->answer);
    free(rq->body);
    free(rq);
    *req_cls = NULL;
}

/* ---- MHD options: what a client can hold ---- */

/* File descriptors kept back from the connection limit for the rest of
 * the daemon: helpers' pipes, plugins' sockets, the database, logs. */
#define FD_RESERVE 64

/* The limits of the HTTP server (doc/meterd.8, LIMITS). */
typedef struct http_limits {
    unsigned threads;          /* MHD pool threads (1: no pool) */
    unsigned connections;      /* open at most, all clients */
    unsigned per_ip;           /* open at most, one client address */
    unsigned timeout_s;        /* a connection silent this long is closed */
} http_limits;

/* One thread per CPU the daemon may run on, at most HTTP_THREADS: two
 * threads sharing one CPU only preempt each other mid-response. */
static unsigned http_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return HTTP_THREADS;
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n < HTTP_THREADS ? (unsigned)n : HTTP_THREADS;
}

static http_limits http_limits_from(const config *cfg)
{
    http_limits l = {
        .threads = http_threads(),
        .connections = (unsigned)cfg->http_max_connections,
        .per_ip = (unsigned)cfg->http_max_connections_per_ip,
        .timeout_s = (unsigned)((cfg->http_request_timeout_ms + 999) / 1000),
    };
    /* Past RLIMIT_NOFILE accept() fails and MHD stops answering: stay
     * below it (main.c raised the soft limit to the hard one). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)l.connections + 2 * FD_RESERVE) {
        unsigned fit = rl.rlim_cur > 2 * FD_RESERVE
                           ? (unsigned)(rl.rlim_cur - 2 * FD_RESERVE) : 16;
        log_msg(MD_LOG_WARN, NULL, "http_max_connections %u lowered to %u: "
                "the open file limit is %llu", l.connections, fit,
                (unsigned long long)rl.rlim_cur);
        l.connections = fit;
    }
    if (l.per_ip > l.connections)
        l.per_ip = l.connections;
    return l;
}

static struct MHD_Daemon *start_mhd(httpd *h, const http_limits *l)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h,
        MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, l->threads,
        MHD_OPTION_CONNECTION_LIMIT, l->connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, l->per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, l->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
        MHD_OPTION_URI_LOG_CALLBACK, on_target, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_END);
}

httpd *httpd_start(daemon_t *d, char **err)
{
    httpd *h = xcalloc(1, sizeof *h);
    h->d = d;
    char *spec = xstrdup(d->cfg->listen); /* main.c calls us as the owner */
    if (strncmp(spec, "unix:", 5) == 0) {
        h->listen_fd = listen_unix(spec + 5, err);
        h->unix_path = xstrdup(spec + 5);
        h->address = xstrdup(spec);
    } else {
        h->listen_fd = listen_tcp(spec, &h->address, err);
    }
    free(spec);
    if (h->listen_fd < 0) {
        free(h->unix_path);
        free(h->address);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->cache_lock, NULL);
    pthread_mutex_init(&h->suspend_lock, NULL);
    pthread_mutex_init(&h->adm_lock, NULL);
    admission_init(&h->adm, h->address,
                   (const char *const *)d->cfg->allowed_hosts);
    h->max_connections = d->cfg->http_max_connections;
    h->max_connections_per_ip = d->cfg->http_max_connections_per_ip;
    h->request_timeout_ms = d->cfg->http_request_timeout_ms;
    http_limits limits = http_limits_from(d->cfg);
    h->mhd = start_mhd(h, &limits);
    if (!h->mhd) {
        *err = xasprintf("cannot start the HTTP server on %s", h->address);
        close(h->listen_fd);
        pthread_mutex_destroy(&h->cache_lock);
        pthread_mutex_destroy(&h->suspend_lock);
        pthread_mutex_destroy(&h->adm_lock);
        admission_release(&h->adm);
        free(h->unix_path);
        free(h->address);
        free(h);
        return NULL;
    }
    return h;
}

/* Warn that key changed from was to now but applies at restart only. */
static void warn_restart_only(const char *key, long long was, long long now,
                              const char *unit)
{
    if (was != now)
        log_msg(MD_LOG_WARN, NULL, "%s changed (%lld%s -> %lld%s); takes "
                "effect at restart", key, was, unit, now, unit);
}

void httpd_reconfigure(httpd *h, const config *cfg)
{
    if (!h)
        return;
    /* Built outside the lock: a request waits for a pointer swap only. */
    admission fresh, old;
    admission_init(&fresh, h->address,
                   (const char *const *)cfg->allowed_hosts);
    pthread_mutex_lock(&h->adm_lock);
    old = h->adm;
    h->adm = fresh;
    pthread_mutex_unlock(&h->adm_lock);
    admission_release(&old);
    /* MHD takes these at MHD_start_daemon and has no call to change them
     * on a running daemon; restarting it would drop the connections in
     * flight and the suspended refreshes. */
    warn_restart_only("http_max_connections", h->max_connections,
                      cfg->http_max_connections, "");
    warn_restart_only("http_max_connections_per_ip", h->max_connections_per_ip,
                      cfg->http_max_connections_per_ip, "");
    warn_restart_only("http_request_timeout", h->request_timeout_ms,
                      cfg->http_request_timeout_ms, " ms");
}

const char *httpd_address(const httpd *h)
{
    return h ? h->address : NULL;
}

/* At stop, how long resumed connections are given to send their answers
 * in all. */
#define STOP_DRAIN_MS 1000
/* ... and those answered 503 by httpd_stop itself. */
#define STOP_FORCED_MS 300

void httpd_stop(httpd *h)
{
    if (!h)
        return;
    /* No new connections; the listening socket stays ours to close. */
    MHD_quiesce_daemon(h->mhd);
    /* Every parked request was resumed by now (scheduler_kill_all
     * resolved the forced refreshes, state_close_mailbox answered the
     * queued messages and refuses new ones).  MHD must not be stopped
     * with a suspended connection, and one resumed but not yet answered
     * would be closed without its answer: wait, bounded, until every
     * parked request completed. */
    long long end = mono_ms() + STOP_DRAIN_MS;
    size_t parked;
    for (;;) {
        pthread_mutex_lock(&h->suspend_lock);
        parked = h->n_parked;
        pthread_mutex_unlock(&h->suspend_lock);
        if (!parked || mono_ms() >= end)
            break;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (parked) {
        /* What is still suspended now would abort MHD_stop_daemon: answer
         * it 503 and give the answers a short while to go out.  (The
         * owner thread has returned, so no callback races with this.) */
        size_t forced = 0;
        pthread_mutex_lock(&h->suspend_lock);
        while (h->suspended) {
            request *rq = h->suspended;
            rq->answer_status = MHD_HTTP_SERVICE_UNAVAILABLE;
            json_decref(rq->answer);
            rq->answer = render_error(MHD_HTTP_SERVICE_UNAVAILABLE,
                                      "shutting down");
            rq->answered = 1;
            httpd_resume_locked(rq);
            forced++;
        }
        pthread_mutex_unlock(&h->suspend_lock);
        end = mono_ms() + STOP_FORCED_MS;
        while (parked && mono_ms() < end) {
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&h->suspend_lock);
            parked = h->n_parked;
            pthread_mutex_unlock(&h->suspend_lock);
        }
        log_msg(MD_LOG_WARN, NULL, "shutdown: %zu parked HTTP requests "
                "answered 503, %zu still unanswered", forced, parked);
    }
    MHD_stop_daemon(h->mhd);
    close(h->listen_fd);
    if (h->unix_path)
        unlink(h->unix_path);
    for (int i = 0; i < N_SLOTS; i++)
        if (h->slots[i].resp)
            MHD_destroy_response(h->slots[i].resp);
    pthread_mutex_destroy(&h->cache_lock);
    pthread_mutex_destroy(&h->suspend_lock);
    pthread_mutex_destroy(&h->adm_lock);
    admission_release(&h->adm);
    free(h->unix_path);
    free(h->address);
    free(h);
}
