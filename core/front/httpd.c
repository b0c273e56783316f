/* httpd.c - the local HTTP API (libmicrohttpd); see httpd.h.
 *
 * Cached GETs are rendered once per published view set (and at most once
 * per second, since ages and generated_at move with the clock) and the
 * same MHD_Response is queued for every request until then.  A forced
 * refresh suspends its connection until the scheduler calls back, so a
 * hung provider never occupies an HTTP thread. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admission.h"
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
#include "tz.h"
#include "usage_store.h"

#define HTTP_THREADS 2
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
    pthread_mutex_t suspend_lock; /* suspend before resume, see httpd.h */
    cache_slot slots[N_SLOTS];
    admission adm;              /* fixed at start: read-only after */
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
} request;

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

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status,
                                 json_t *doc)
{
    struct MHD_Response *r = json_response(doc);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status,
                                  const char *msg)
{
    return send_json(c, status, render_error((int)status, msg));
}

/* ---- query parameters ---- */

typedef struct query_check {
    const char *const *allowed;
    char *error; /* first problem, owned */
} query_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    query_check *q = cls;
    (void)kind;
    if (q->error)
        return MHD_YES;
    for (size_t i = 0; q->allowed[i]; i++) {
        if (strcmp(key, q->allowed[i]) != 0)
            continue;
        int b;
        if (!value || parse_bool(value, &b) != 0)
            q->error = xasprintf("query parameter '%s' must be a boolean "
                                 "(true/false/1/0/yes/no/on/off), got '%.64s'",
                                 key, value ? value : "");
        return MHD_YES;
    }
    q->error = xasprintf("unknown query parameter '%.64s'", key);
    return MHD_YES;
}

/* Validate the query; every allowed parameter is a boolean. */
static char *validate_query(struct MHD_Connection *c, const char *const *allowed)
{
    query_check q = {allowed, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &q);
    return q.error;
}

static int bool_arg(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    int b = 0;
    return v && parse_bool(v, &b) == 0 ? b : 0;
}

/* ---- rendering from a view set ---- */

static json_t *render_usage_at(const view_set *vs, render_opts o,
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

static const usage_meta live_meta = {"live_or_cache", NULL, NULL, 0};

/* Queue the cached response of slot, rendered anew when the view set or
 * the second changed.  MHD responses are reference counted: once queued,
 * it stays alive even if the slot is replaced. */
static enum MHD_Result send_cached(httpd *h, struct MHD_Connection *c,
                                   int slot, render_opts o)
{
    long long sec = (long long)time_now();
    view_set *vs = view_set_acquire(h->d);
    pthread_mutex_lock(&h->cache_lock);
    cache_slot *s = &h->slots[slot];
    if (!s->resp || s->version != vs->version || s->second != sec) {
        json_t *doc;
        if (slot < SLOT_PROVIDERS) {
            doc = render_usage_at(vs, o, &live_meta);
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
                                    vs->n_usage_totals, time_now(), &len);
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

/* ---- handlers ---- */

/* The scheduler's callback (owner thread): the refresh is resolved. */
static void resume_request(void *arg)
{
    request *rq = arg;
    httpd *h = rq->h; /* once resumed, rq may be answered and freed */
    pthread_mutex_lock(&h->suspend_lock);
    MHD_resume_connection(rq->c);
    pthread_mutex_unlock(&h->suspend_lock);
}

static enum MHD_Result send_refreshed(struct MHD_Connection *c, request *rq,
                                      const view_set *vs)
{
    refresh_waiter *w = rq->waiter;
    usage_meta meta = {"live_refresh", NULL, NULL, 0};
    if (w && refresh_waiter_done(w) && w->n_fallback) {
        meta.data_source = "snapshot_fallback";
        meta.fallback_reason = "timeout";
        meta.fallback_providers = (const char *const *)w->fallback;
        meta.n_fallback_providers = w->n_fallback;
    }
    render_opts o = {rq->compact, rq->include_raw};
    json_t *doc = render_usage_at(vs, o, &meta);
    refresh_waiter_release(w);
    rq->waiter = NULL;
    rq->refresh_refused = 0;
    return send_json(c, MHD_HTTP_OK, doc);
}

static enum MHD_Result handle_usage(httpd *h, struct MHD_Connection *c,
                                    request *rq)
{
    if (rq->waiter || rq->refresh_refused) { /* resumed */
        view_set *vs = view_set_acquire(h->d);
        enum MHD_Result rc = send_refreshed(c, rq, vs);
        view_set_release(vs);
        return rc;
    }
    static const char *const allowed[] = {"force_refresh", "compact",
                                          "include_raw", NULL};
    char *err = validate_query(c, allowed);
    if (err) {
        enum MHD_Result rc = send_error(c, MHD_HTTP_BAD_REQUEST, err);
        free(err);
        return rc;
    }
    rq->compact = bool_arg(c, "compact");
    rq->include_raw = bool_arg(c, "include_raw");
    render_opts o = {rq->compact, rq->include_raw};
    if (!bool_arg(c, "force_refresh"))
        return send_cached(h, c, SLOT_USAGE + 2 * o.compact + o.include_raw, o);

    view_set *vs = view_set_acquire(h->d);
    long long deadline = mono_ms() + vs->endpoint_timeout_ms;
    view_set_release(vs);
    /* Suspend first, under suspend_lock, which the callback also takes:
     * it cannot resume us before we are suspended. */
    pthread_mutex_lock(&h->suspend_lock);
    MHD_suspend_connection(c);
    int rc = scheduler_request_refresh(h->d, deadline, resume_request, rq,
                                       &rq->waiter);
    if (rc != 0) { /* shutting down: answer from the views as they are */
        rq->refresh_refused = 1;
        MHD_resume_connection(c);
    }
    pthread_mutex_unlock(&h->suspend_lock);
    return MHD_YES;
}

static enum MHD_Result handle_providers(httpd *h, struct MHD_Connection *c,
                                        const char *url)
{
    static const char *const allowed[] = {"include_raw", NULL};
    char *err = validate_query(c, allowed);
    if (err) {
        enum MHD_Result rc = send_error(c, MHD_HTTP_BAD_REQUEST, err);
        free(err);
        return rc;
    }
    int raw = bool_arg(c, "include_raw");
    if (strcmp(url, PROVIDERS_PATH) == 0 || strcmp(url, PROVIDERS_PATH "/") == 0) {
        render_opts o = {0, raw};
        return send_cached(h, c, raw ? SLOT_PROVIDERS_RAW : SLOT_PROVIDERS, o);
    }
    const char *name = url + strlen(PROVIDERS_PATH "/");
    view_set *vs = view_set_acquire(h->d);
    double now = time_now();
    provider_view *v = view_set_views_at(vs, now);
    json_t *doc = NULL;
    for (size_t i = 0; i < vs->n && !doc; i++)
        if (strcmp(v[i].name, name) == 0)
            doc = render_provider(&v[i], raw, now);
    free(v);
    view_set_release(vs);
    if (!doc) {
        char *msg = xasprintf("no provider named '%.64s'", name);
        enum MHD_Result rc = send_error(c, MHD_HTTP_NOT_FOUND, msg);
        free(msg);
        return rc;
    }
    return send_json(c, MHD_HTTP_OK, doc);
}

/* ---- GET /api/usage/daily ---- */

typedef struct daily_args {
    const char *v[4];   /* provider, since, until, tz (MHD-owned) */
    char *error;        /* first problem, owned */
} daily_args;

static const char *const daily_names[] = {"provider", "since", "until", "tz"};

static enum MHD_Result daily_arg(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    daily_args *a = cls;
    (void)kind;
    if (a->error)
        return MHD_YES;
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(key, daily_names[i]) != 0)
            continue;
        if (a->v[i])
            a->error = xasprintf("query parameter '%s' given twice", key);
        else if (!value || !*value)
            a->error = xasprintf("query parameter '%s' must not be empty", key);
        else
            a->v[i] = value;
        return MHD_YES;
    }
    a->error = xasprintf("unknown query parameter '%.64s' (known: provider, "
                         "since, until, tz)", key);
    return MHD_YES;
}

static enum MHD_Result send_error_free(struct MHD_Connection *c,
                                       unsigned status, char *msg)
{
    enum MHD_Result rc = send_error(c, status, msg ? msg : "bad request");
    free(msg);
    return rc;
}

/* The daily report, built by the owner thread (the usage store is
 * its alone). */
typedef struct daily_call {
    const daily_args *a;
    const tz_zone *z;
    const char *tzname;
    json_t *doc;
    char *err;
    int rc;
} daily_call;

static void daily_on_owner(daemon_t *d, void *arg)
{
    daily_call *q = arg;
    const daily_args *a = q->a;
    q->rc = -2;
    if (!d->usage)
        q->rc = -3;   /* main() always creates one; be safe, not crash */
    else if (!a->v[0] || state_find(d, a->v[0]) ||
             usage_store_has_provider(d->usage, a->v[0]))
        q->rc = usage_store_daily_zone(d->usage, a->v[0], a->v[1], a->v[2],
                                       q->z, q->tzname, &q->doc, &q->err);
}

/* The zone file is read here, the report built by the owner thread. */
static enum MHD_Result handle_daily(httpd *h, struct MHD_Connection *c)
{
    daily_args a = {{NULL, NULL, NULL, NULL}, NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, daily_arg, &a);
    if (a.error)
        return send_error_free(c, MHD_HTTP_BAD_REQUEST, a.error);
    long day;
    for (size_t i = 1; i <= 2; i++)
        if (a.v[i] && usage_parse_date(a.v[i], &day) != 0)
            return send_error_free(
                c, MHD_HTTP_BAD_REQUEST,
                xasprintf("%s: '%.32s' is not a date (YYYY-MM-DD)",
                          daily_names[i], a.v[i]));
    char *err = NULL;
    const char *tzname = a.v[3] ? a.v[3] : "UTC";
    tz_zone *z = tz_load(tzname, &err);
    if (!z)
        return send_error_free(c, MHD_HTTP_BAD_REQUEST, err);
    daily_call q = {.a = &a, .z = z, .tzname = tzname, .doc = NULL,
                    .err = NULL, .rc = -3};
    if (state_call(h->d, daily_on_owner, &q) != 0)
        q.rc = -3;
    tz_free(z);
    int rc = q.rc;
    json_t *doc = q.doc;
    err = q.err;
    if (rc == -3)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "no usage store (or shutting down)");
    if (rc == -2)
        return send_error_free(c, MHD_HTTP_NOT_FOUND,
                               xasprintf("no provider named '%.64s'", a.v[0]));
    if (rc != 0)
        return send_error_free(c, MHD_HTTP_BAD_REQUEST, err);
    return send_json(c, MHD_HTTP_OK, doc);
}

static json_t *time_or_null(double t)
{
    char text[40];
    if (t <= 0)
        return json_null();
    rfc3339_format(t, text, sizeof text);
    return json_string(text);
}

/* {"ok": bool, "usage": {"ok", "error", "failing_since"},
 *  "snapshot": {"ok", "error", "failing_since"}}: whether what the daemon
 * accepted is being saved (status "degraded" when not). */
static json_t *persistence_json(const view_set *vs)
{
    double since = 0;
    char *err = NULL;
    int usage_failing = vs->usage ? usage_store_failing(vs->usage, &since, &err)
                                  : 0;
    json_t *usage = json_pack("{s:b, s:o, s:o}", "ok", !usage_failing,
                              "error", err ? json_string(err) : json_null(),
                              "failing_since", time_or_null(since));
    free(err);
    json_t *snap = json_pack(
        "{s:b, s:o, s:o}", "ok", vs->snapshot_error == NULL, "error",
        vs->snapshot_error ? json_string(vs->snapshot_error) : json_null(),
        "failing_since", time_or_null(vs->snapshot_error
                                          ? vs->snapshot_failing_since : 0));
    return json_pack("{s:b, s:o, s:o}", "ok",
                     !usage_failing && !vs->snapshot_error, "usage", usage,
                     "snapshot", snap);
}

static enum MHD_Result handle_health(httpd *h, struct MHD_Connection *c)
{
    view_set *vs = view_set_acquire(h->d);
    double now = time_now();
    char started[40];
    rfc3339_format(vs->started_at, started, sizeof started);
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:f, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:s?}}",
        "status", "ok", "version", METERD_VERSION, "config", vs->config_path,
        "pid", (json_int_t)getpid(), "started_at", started,
        "uptime_seconds", now - vs->started_at,
        "providers", "configured", (json_int_t)vs->n,
        "enabled", (json_int_t)vs->n_enabled,
        "ok", (json_int_t)vs->n_ok, "running", (json_int_t)vs->n_running,
        "reloads", "succeeded", (json_int_t)vs->reloads,
        "failed", (json_int_t)vs->reload_failures,
        "last_error", vs->last_reload_error);
    json_object_set_new(doc, "history", usage_store_health(vs->usage));
    json_t *persist = persistence_json(vs);
    if (!json_is_true(json_object_get(persist, "ok")))
        json_object_set_new(doc, "status", json_string("degraded"));
    json_object_set_new(doc, "persistence", persist);
    view_set_release(vs);
    return send_json(c, MHD_HTTP_OK, doc);
}

/* ---- POST /api/telemetry ---- */

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

static enum MHD_Result handle_telemetry(httpd *h, struct MHD_Connection *c,
                                        request *rq, const char *upload,
                                        size_t *upload_size)
{
    if (*upload_size) { /* collect the body, bounded */
        if (!rq->body_too_big && rq->body_len + *upload_size <= INGEST_MAX_BODY) {
            rq->body = xrealloc(rq->body, rq->body_len + *upload_size + 1);
            memcpy(rq->body + rq->body_len, upload, *upload_size);
            rq->body_len += *upload_size;
        } else {
            rq->body_too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    /* who may post was settled by admit_request, before the body */
    if (rq->body_too_big)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                          "body larger than 1 MiB");
    if (!rq->body_len)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "empty body: send JSON");
    json_t *resp = NULL;
    char *error = NULL;
    int status = ingest_handle(h->d, rq->body, rq->body_len, &resp, &error);
    if (error) {
        resp = render_error(status, error);
        free(error);
    }
    return send_json(c, (unsigned)status, resp);
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
 * and admit_request answers 400 for it. */
static void *on_target(void *cls, const char *uri, struct MHD_Connection *c)
{
    request *rq = xcalloc(1, sizeof *rq);
    rq->h = cls;
    rq->c = c;
    long query_at;
    rq->target = admission_check_target(uri, &query_at);
    if (rq->target == TARGET_TOO_MANY_PARAMS)
        ((char *)uri)[query_at + 1] = '\0';
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
        return send_error(c, denied, denied == MHD_HTTP_UNAUTHORIZED
                                         ? "missing or wrong bearer token"
                                         : "telemetry is accepted from this "
                                           "machine only unless ingest_token "
                                           "is configured");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!admission_is_json(type))
        return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "send the body as Content-Type: application/json");
    const char *length = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long n;
    if (length && parse_int(length, &n) == 0 && n > INGEST_MAX_BODY) {
        const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0)
            return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                              "body larger than 1 MiB");
        /* A client already sending would see the connection reset
         * before our answer: read and drop the body unbuffered (as nginx
         * does), then answer 413 (handle_telemetry). */
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
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "too many query parameters (at most 64)");
    if (rq->target == TARGET_NUL)
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "the request target contains %00 (a NUL byte)");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_HOST);
    if (!admission_host_ok(&h->adm, host))
        return send_error_free(
            c, MHD_HTTP_BAD_REQUEST,
            xasprintf("Host '%.64s' is not this server; add it to "
                      "allowed_hosts to reach meterd by that name", host));
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     "Origin");
    if (origin && !admission_origin_ok(&h->adm, origin))
        return send_error_free(
            c, MHD_HTTP_FORBIDDEN,
            xasprintf("requests from origin '%.64s' are not allowed; add "
                      "its host to allowed_hosts to allow them", origin));
    if (!is_known_path(url))
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
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
    if (rq->waiter || rq->refresh_refused)
        return handle_usage(h, c, rq);
    if (strcmp(url, TELEMETRY_PATH) == 0)
        return handle_telemetry(h, c, rq, upload_data, upload_data_size);
    if (*upload_data_size) { /* a GET with a body: discard it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, USAGE_PATH) == 0)
        return handle_usage(h, c, rq);
    const dashboard_file *page = dashboard_find(url);
    if (page) { /* static and immortal: MHD may send it without a copy */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            page->len, (void *)page->data, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", page->content_type);
        for (const dashboard_header *hd = dashboard_headers; hd->name; hd++)
            MHD_add_response_header(r, hd->name, hd->value);
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (strcmp(url, "/healthz") == 0)
        return handle_health(h, c);
    if (strcmp(url, METRICS_PATH) == 0)
        return send_metrics(h, c);
    if (strcmp(url, DAILY_PATH) == 0)
        return handle_daily(h, c);
    if (strcmp(url, HISTORY_API_PATH) == 0) {
        json_t *doc = NULL;
        view_set *vs = view_set_acquire(h->d);
        unsigned status = history_api_get(vs, c, &doc);
        view_set_release(vs);
        return send_json(c, status, doc);
    }
    if (strcmp(url, QUOTAS_API_PATH) == 0 || strcmp(url, ADVICE_API_PATH) == 0) {
        json_t *doc = NULL;
        view_set *vs = view_set_acquire(h->d);
        unsigned status = strcmp(url, QUOTAS_API_PATH) == 0
                              ? quotas_api_get(vs, c, &doc)
                              : advice_api_get(vs, c, &doc);
        view_set_release(vs);
        return send_json(c, status, doc);
    }
    return handle_providers(h, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request *rq = *req_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (!rq)
        return;
    /* The scheduler holds its own reference until it called back. */
    refresh_waiter_release(rq->waiter);
    free(rq->body);
    free(rq);
    *req_cls = NULL;
}

/* ---- listening socket ---- */

static int listen_unix(const char *path, char **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        *err = xasprintf("unix socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = xasprintf("socket: %s", strerror(errno));
        return -1;
    }
    unlink(path); /* a stale socket from a previous run */
    mode_t old = umask(0117); /* socket 0660 */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(fd, 128) != 0) {
        *err = xasprintf("cannot listen on unix:%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int listen_tcp(const char *spec, char **address, char **err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) {
        *err = xasprintf("listen: expected host:port, got '%s'", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0) {
        *err = xasprintf("listen %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 511) != 0) {
        *err = xasprintf("cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
            port = ntohs(in6->sin6_port);
        }
    }
    *address = ss.ss_family == AF_INET6 ? xasprintf("[%s]:%d", ip, port)
                                        : xasprintf("%s:%d", ip, port);
    return fd;
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
    admission_init(&h->adm, h->address,
                   (const char *const *)d->cfg->allowed_hosts);
    http_limits limits = http_limits_from(d->cfg);
    h->mhd = start_mhd(h, &limits);
    if (!h->mhd) {
        *err = xasprintf("cannot start the HTTP server on %s", h->address);
        close(h->listen_fd);
        pthread_mutex_destroy(&h->cache_lock);
        pthread_mutex_destroy(&h->suspend_lock);
        admission_release(&h->adm);
        free(h->unix_path);
        free(h->address);
        free(h);
        return NULL;
    }
    return h;
}

const char *httpd_address(const httpd *h)
{
    return h ? h->address : NULL;
}

void httpd_stop(httpd *h)
{
    if (!h)
        return;
    /* Every suspended connection was resumed by scheduler_kill_all. */
    MHD_stop_daemon(h->mhd);
    close(h->listen_fd);
    if (h->unix_path)
        unlink(h->unix_path);
    for (int i = 0; i < N_SLOTS; i++)
        if (h->slots[i].resp)
            MHD_destroy_response(h->slots[i].resp);
    pthread_mutex_destroy(&h->cache_lock);
    pthread_mutex_destroy(&h->suspend_lock);
    admission_release(&h->adm);
    free(h->unix_path);
    free(h->address);
    free(h);
}
