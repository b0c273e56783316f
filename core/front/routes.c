/* routes.c - the JSON endpoints of the HTTP API: usage (cached, or
 * after a forced refresh), providers, the daily usage report, health and
 * telemetry.  Each is called by httpd.c's dispatch once the request is
 * admitted (httpd_int.h); they read published view sets and hand the
 * rest to the owner thread, under the locking rules of httpd.h. */
#include "httpd_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest.h"
#include "log.h"
#include "parse.h"
#include "query.h"
#include "timeutil.h"
#include "tz.h"
#include "usage_store.h"

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

/* ---- handlers ---- */

/* The scheduler's callback (owner thread): the refresh is resolved. */
static void resume_request(void *arg)
{
    request *rq = arg;
    httpd *h = rq->h; /* once resumed, rq may be answered and freed */
    pthread_mutex_lock(&h->suspend_lock);
    httpd_resume_locked(rq);
    pthread_mutex_unlock(&h->suspend_lock);
}

static enum MHD_Result send_refreshed(struct MHD_Connection *c, request *rq,
                                      const view_set *vs)
{
    refresh_waiter *w = rq->waiter;
    usage_meta meta = {.data_source = "live_refresh"};
    if (w && refresh_waiter_done(w) && w->n_fallback) {
        meta.data_source = "snapshot_fallback";
        meta.fallback_reason = "timeout";
        meta.fallback_providers = (const char *const *)w->fallback;
        meta.n_fallback_providers = w->n_fallback;
    }
    render_opts o = {rq->compact, rq->include_raw};
    json_t *doc = httpd_render_usage_at(vs, o, &meta);
    refresh_waiter_release(w);
    rq->waiter = NULL;
    rq->refresh_refused = 0;
    return httpd_send_json(c, MHD_HTTP_OK, doc);
}

enum MHD_Result route_usage(httpd *h, struct MHD_Connection *c, request *rq)
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
        enum MHD_Result rc = httpd_send_error(c, MHD_HTTP_BAD_REQUEST, err);
        free(err);
        return rc;
    }
    rq->compact = bool_arg(c, "compact");
    rq->include_raw = bool_arg(c, "include_raw");
    render_opts o = {rq->compact, rq->include_raw};
    if (!bool_arg(c, "force_refresh"))
        return httpd_send_cached(h, c, SLOT_USAGE + 2 * o.compact + o.include_raw, o);

    view_set *vs = view_set_acquire(h->d);
    long long deadline = mono_ms() + vs->endpoint_timeout_ms;
    view_set_release(vs);
    /* Suspend first, under suspend_lock, which the callback also takes:
     * it cannot resume us before we are suspended. */
    pthread_mutex_lock(&h->suspend_lock);
    httpd_park(h, rq);
    int rc = scheduler_request_refresh(h->d, deadline, resume_request, rq,
                                       &rq->waiter);
    if (rc != 0) { /* shutting down: answer from the views as they are */
        rq->refresh_refused = 1;
        httpd_resume_locked(rq);
    }
    pthread_mutex_unlock(&h->suspend_lock);
    return MHD_YES;
}

enum MHD_Result route_providers(httpd *h, struct MHD_Connection *c,
                                const char *url)
{
    static const char *const allowed[] = {"include_raw", NULL};
    char *err = validate_query(c, allowed);
    if (err) {
        enum MHD_Result rc = httpd_send_error(c, MHD_HTTP_BAD_REQUEST, err);
        free(err);
        return rc;
    }
    int raw = bool_arg(c, "include_raw");
    if (strcmp(url, PROVIDERS_PATH) == 0 || strcmp(url, PROVIDERS_PATH "/") == 0) {
        render_opts o = {0, raw};
        return httpd_send_cached(h, c, raw ? SLOT_PROVIDERS_RAW : SLOT_PROVIDERS, o);
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
        enum MHD_Result rc = httpd_send_error(c, MHD_HTTP_NOT_FOUND, msg);
        free(msg);
        return rc;
    }
    return httpd_send_json(c, MHD_HTTP_OK, doc);
}

/* ---- GET /api/usage/daily ---- */

static const char *const daily_names[] = {"provider", "since", "until", "tz",
                                          NULL};

/* The daily report, built by the owner thread (the usage store is its
 * alone) while the request is parked.  Owns everything it points to. */
typedef struct daily_call {
    request *rq;
    char *provider, *since, *until, *tzname;
    tz_zone *z;
    json_t *doc;
    char *err;
    int rc;         /* -3 no store, -2 no such provider, else the store's */
} daily_call;

static void daily_on_owner(daemon_t *d, void *arg)
{
    daily_call *q = arg;
    q->rc = -2;
    if (!d->usage)
        q->rc = -3;   /* main() always creates one; be safe, not crash */
    else if (!q->provider || state_find(d, q->provider) ||
             usage_store_has_provider(d->usage, q->provider))
        q->rc = usage_store_daily_zone(d->usage, q->provider, q->since,
                                       q->until, q->z, q->tzname, &q->doc,
                                       &q->err);
}

static void daily_call_free(daily_call *q)
{
    free(q->provider);
    free(q->since);
    free(q->until);
    free(q->tzname);
    tz_free(q->z);
    json_decref(q->doc);
    free(q->err);
    free(q);
}

/* The answer of a daily report (q->doc and q->err consumed). */
static json_t *daily_answer(daily_call *q, unsigned *status)
{
    json_t *doc;
    if (q->rc == -3) {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        doc = render_error((int)*status, "no usage store (or shutting down)");
    } else if (q->rc == -2) {
        *status = MHD_HTTP_NOT_FOUND;
        char *msg = xasprintf("no provider named '%.64s'", q->provider);
        doc = render_error((int)*status, msg);
        free(msg);
    } else if (q->rc != 0) {
        *status = MHD_HTTP_BAD_REQUEST;
        doc = render_error((int)*status, q->err ? q->err : "bad request");
    } else {
        *status = MHD_HTTP_OK;
        doc = q->doc;
        q->doc = NULL;
    }
    return doc;
}

/* Owner thread, after daily_on_owner: answer and resume. */
static void daily_done(void *arg)
{
    daily_call *q = arg;
    unsigned status;
    json_t *doc = daily_answer(q, &status);
    httpd_answer_parked(q->rq, status, doc, 0);
    daily_call_free(q);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* The query and the zone file are read here, the report is built by the
 * owner thread while the connection is parked. */
enum MHD_Result route_daily(httpd *h, struct MHD_Connection *c, request *rq)
{
    query_args a = {.names = daily_names};
    if (query_args_collect(c, &a) != 0)
        return httpd_send_error_free(c, MHD_HTTP_BAD_REQUEST, a.error);
    long day;
    for (size_t i = 1; i <= 2; i++)
        if (a.v[i] && usage_parse_date(a.v[i], &day) != 0)
            return httpd_send_error_free(
                c, MHD_HTTP_BAD_REQUEST,
                xasprintf("%s: '%.32s' is not a date (YYYY-MM-DD)",
                          daily_names[i], a.v[i]));
    char *err = NULL;
    const char *tzname = a.v[3] ? a.v[3] : "UTC";
    tz_zone *z = tz_load(tzname, &err);
    if (!z)
        return httpd_send_error_free(c, MHD_HTTP_BAD_REQUEST, err);
    daily_call *q = xmalloc(sizeof *q);
    *q = (daily_call){.rq = rq, .provider = dup_or_null(a.v[0]),
                      .since = dup_or_null(a.v[1]),
                      .until = dup_or_null(a.v[2]),
                      .tzname = xstrdup(tzname), .z = z, .doc = NULL,
                      .err = NULL, .rc = -3};
    pthread_mutex_lock(&h->suspend_lock);
    httpd_park(h, rq);
    if (state_post_then(h->d, daily_on_owner, daily_done, q) != 0) {
        unsigned status; /* shutting down: q->rc is -3 */
        json_t *doc = daily_answer(q, &status);
        httpd_answer_parked(rq, status, doc, 1);
        daily_call_free(q);
    }
    pthread_mutex_unlock(&h->suspend_lock);
    return MHD_YES;
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

enum MHD_Result route_health(httpd *h, struct MHD_Connection *c)
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
    return httpd_send_json(c, MHD_HTTP_OK, doc);
}

/* ---- POST /api/telemetry ---- */

/* Owner thread: ingest's answer (ingest.h), sent once resumed. */
static void telemetry_answer(void *arg, int status, json_t *response,
                             char *error)
{
    if (error) {
        json_decref(response);
        response = render_error(status, error);
        free(error);
    }
    httpd_answer_parked(arg, (unsigned)status, response, 0);
}

enum MHD_Result route_telemetry(httpd *h, struct MHD_Connection *c,
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
        return httpd_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                "body larger than 1 MiB");
    if (!rq->body_len)
        return httpd_send_error(c, MHD_HTTP_BAD_REQUEST, "empty body: send JSON");
    /* Parsed and validated here, against the published views; applied
     * by the owner while the connection is parked. */
    char *error = NULL;
    ingest_batch *b = NULL;
    view_set *vs = view_set_acquire(h->d);
    int status = ingest_parse(vs, rq->body, rq->body_len, &b, &error);
    view_set_release(vs);
    if (status != 200) {
        enum MHD_Result rc = httpd_send_error(c, (unsigned)status, error);
        free(error);
        return rc;
    }
    pthread_mutex_lock(&h->suspend_lock);
    httpd_park(h, rq);
    if (ingest_submit(h->d, b, telemetry_answer, rq) != 0)
        httpd_answer_parked(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                            render_error(MHD_HTTP_SERVICE_UNAVAILABLE,
                                         "shutting down"), 1);
    pthread_mutex_unlock(&h->suspend_lock);
    return MHD_YES;
}
