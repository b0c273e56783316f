/*
 * t/mock/mockprov.c - a scriptable mock provider HTTP server for tests.
 *
 *   t/mock/mockprov [--port N] [--routes FILE.json] [--fixtures DIR]
 *
 * Binds 127.0.0.1 only (port 0, the default, picks an ephemeral port),
 * prints the bound port as the first line on stdout, and serves until
 * SIGTERM or SIGINT.  One thread per connection, so a delayed or hung
 * route blocks only its own connection.
 *
 * Routes are a JSON array, first match wins:
 *   {"method": "GET",            optional, default any method
 *    "path": "/user/balance",    required, exact match (query ignored)
 *    "status": 200,              default 200
 *    "body": "text" | {...},     a JSON value other than a string is
 *                                sent as compact JSON
 *    "body_file": "x.json",      relative to --fixtures (read at load)
 *    "headers": {"Retry-After": "2"},
 *    "delay_ms": 0,              wait before answering
 *    "hang": false,              never answer (until the server stops)
 *    "truncate": N,              announce the full Content-Length, send N
 *                                bytes, then abort the connection
 *    "times": K}                 answer K times, then fall through
 *   Content-Type defaults to text/html for *.html body files, else
 *   application/json.  No match: 404 with a JSON error.
 *
 * Control API (never logged):
 *   POST /_mock/routes    body: array   replace all routes
 *   POST /_mock/route     body: object  prepend one route
 *   GET  /_mock/requests  the request log: [{"count": 1, "method": "GET",
 *                         "path": "/user/balance", "authorization":
 *                         "Bearer ****abcd" | null, "accept": ...,
 *                         "at": 1773151200.123, "status": 200,
 *                         "body": "<request body>" | null,
 *                         "content_type": "<Content-Type>" | null}]
 *   POST /_mock/reset     clear the request log
 *   Bad control input gets 400 with {"error": "..."}; bodies over 1 MiB
 *   get 413.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "unconst.h"

#define MAX_UPLOAD (1024 * 1024)
#define MAX_BODY_FILE (16 * 1024 * 1024)
#define MAX_LOG 10000

typedef struct route {
    char *method;          /* NULL: any */
    char *path;
    int status;
    char *body;            /* owned, may hold NULs */
    size_t body_len;
    char **hname, **hvalue;/* owned arrays of owned strings */
    size_t nh;
    long delay_ms;
    int hang;
    long truncate;         /* -1: send everything */
    long times;            /* -1: unlimited */
    const char *type;      /* default Content-Type (static string) */
} route;

/* Shared state; every field is guarded by mu. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* broadcast when stopping */
    route *routes;
    size_t n;
    json_t *log;           /* array of request records */
    unsigned long seq;
    int stopping;
    const char *fixtures;
} g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, NULL, 0, 0, "."};

/* Per-request upload buffer (MHD's con_cls). */
typedef struct upload {
    char *buf;
    size_t len;
    int too_big;
} upload;

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

static void route_free(route *r)
{
    free(r->method);
    free(r->path);
    free(r->body);
    for (size_t i = 0; i < r->nh; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    free(r->hname);
    free(r->hvalue);
    memset(r, 0, sizeof *r);
}

static void routes_free(route *rs, size_t n)
{
    for (size_t i = 0; i < n; i++) route_free(&rs[i]);
    free(rs);
}

static char *xstrdup0(const char *s)
{
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

static void route_copy(route *dst, const route *src)
{
    *dst = *src;
    dst->method = src->method ? xstrdup0(src->method) : NULL;
    dst->path = xstrdup0(src->path);
    dst->body = malloc(src->body_len + 1);
    if (!dst->body) abort();
    memcpy(dst->body, src->body, src->body_len + 1);
    dst->hname = calloc(src->nh + 1, sizeof(char *));
    dst->hvalue = calloc(src->nh + 1, sizeof(char *));
    if (!dst->hname || !dst->hvalue) abort();
    for (size_t i = 0; i < src->nh; i++) {
        dst->hname[i] = xstrdup0(src->hname[i]);
        dst->hvalue[i] = xstrdup0(src->hvalue[i]);
    }
}

/* Read a fixture file (bounded).  Returns 0 or -1 with err set. */
static int read_fixture(const char *rel, char **out, size_t *len, char *err, size_t el)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", rel[0] == '/' ? "" : g.fixtures, rel);
    FILE *f = fopen(rel[0] == '/' ? rel : path, "rb");
    if (!f) {
        snprintf(err, el, "body_file %s: %s", rel, strerror(errno));
        return -1;
    }
    char *buf = malloc(MAX_BODY_FILE + 1);
    if (!buf) abort();
    size_t n = fread(buf, 1, MAX_BODY_FILE + 1, f);
    fclose(f);
    if (n > MAX_BODY_FILE) {
        free(buf);
        snprintf(err, el, "body_file %s: larger than %d bytes", rel, MAX_BODY_FILE);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int get_long(const json_t *o, const char *key, long lo, long hi, long *out,
                    char *err, size_t el)
{
    const json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, el, "%s: expected an integer %ld..%ld", key, lo, hi);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static int route_headers(const json_t *h, route *r, char *err, size_t el)
{
    if (!h) return 0;
    if (!json_is_object(h)) {
        snprintf(err, el, "headers: expected an object");
        return -1;
    }
    size_t n = json_object_size(h);
    r->hname = calloc(n + 1, sizeof(char *));
    r->hvalue = calloc(n + 1, sizeof(char *));
    if (!r->hname || !r->hvalue) abort();
    const char *k;
    json_t *v;
    json_object_foreach(json_unconst(h), k, v) {
        if (!json_is_string(v)) {
            snprintf(err, el, "headers.%.100s: expected a string", k);
            return -1;
        }
        r->hname[r->nh] = xstrdup0(k);
        r->hvalue[r->nh++] = xstrdup0(json_string_value(v));
    }
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static int route_body(const json_t *o, route *r, char *err, size_t el)
{
    const json_t *body = json_object_get(o, "body"), *file = json_object_get(o, "body_file");
    if (body && file) {
        snprintf(err, el, "give body or body_file, not both");
        return -1;
    }
    if (file) {
        if (!json_is_string(file)) {
            snprintf(err, el, "body_file: expected a string");
            return -1;
        }
        if (read_fixture(json_string_value(file), &r->body, &r->body_len, err, el) != 0)
            return -1;
        if (has_suffix(json_string_value(file), ".html"))
            r->type = "text/html; charset=utf-8";
        return 0;
    }
    if (json_is_string(body)) {
        r->body_len = json_string_length(body);
        r->body = malloc(r->body_len + 1);
        if (!r->body) abort();
        memcpy(r->body, json_string_value(body), r->body_len + 1);
    } else if (body && !json_is_null(body)) {
        r->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!r->body) abort();
        r->body_len = strlen(r->body);
    } else {
        r->body = xstrdup0("");
    }
    return 0;
}

/* Build a route from JSON.  Returns 0, or -1 with err set (r freed). */
static int route_from_json(const json_t *o, route *r, char *err, size_t el)
{
    static const char *const known[] = {"method", "path", "status", "body", "body_file",
                                        "headers", "delay_ms", "hang", "truncate", "times"};
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->truncate = -1;
    r->times = -1;
    r->type = "application/json";
    if (!json_is_object(o)) {
        snprintf(err, el, "route: expected an object");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_unconst(o), k, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(k, known[i]) != 0) i++;
        if (i == sizeof known / sizeof *known) {
            snprintf(err, el, "unknown key '%.100s'", k);
            return -1;
        }
    }
    const json_t *path = json_object_get(o, "path"), *method = json_object_get(o, "method");
    const json_t *hang = json_object_get(o, "hang");
    long status = 200;
    int rc = -1;
    if (!json_is_string(path) || json_string_value(path)[0] != '/')
        snprintf(err, el, "path: expected a string starting with '/'");
    else if (method && !json_is_string(method))
        snprintf(err, el, "method: expected a string");
    else if (hang && !json_is_boolean(hang))
        snprintf(err, el, "hang: expected true or false");
    else if (get_long(o, "status", 100, 599, &status, err, el) == 0 &&
             get_long(o, "delay_ms", 0, 600000, &r->delay_ms, err, el) == 0 &&
             get_long(o, "truncate", 0, MAX_BODY_FILE, &r->truncate, err, el) == 0 &&
             get_long(o, "times", 1, 1000000, &r->times, err, el) == 0 &&
             route_headers(json_object_get(o, "headers"), r, err, el) == 0 &&
             route_body(o, r, err, el) == 0)
        rc = 0;
    if (rc != 0) {
        route_free(r);
        return -1;
    }
    r->status = (int)status;
    r->path = xstrdup0(json_string_value(path));
    r->method = method ? xstrdup0(json_string_value(method)) : NULL;
    r->hang = json_is_true(hang);
    return 0;
}

/* Parse an array of routes.  Returns 0 with the array and count, or -1 with err. */
static int routes_from_json(const json_t *a, route **out, size_t *n, char *err, size_t el)
{
    if (!json_is_array(a)) {
        snprintf(err, el, "routes: expected an array");
        return -1;
    }
    size_t cnt = json_array_size(a);
    route *rs = calloc(cnt + 1, sizeof *rs);
    if (!rs) abort();
    for (size_t i = 0; i < cnt; i++) {
        char sub[400];
        if (route_from_json(json_array_get(a, i), &rs[i], sub, sizeof sub) != 0) {
            snprintf(err, el, "routes[%zu]: %s", i, sub);
            routes_free(rs, i);
            return -1;
        }
    }
    *out = rs;
    *n = cnt;
    return 0;
}

/* Find the first matching route with answers left and copy it (routes may
 * be replaced while we answer).  Caller holds mu.  Returns 0 or -1. */
static int route_take(const char *method, const char *path, route *out)
{
    for (size_t i = 0; i < g.n; i++) {
        route *r = &g.routes[i];
        if (r->times == 0 || strcmp(r->path, path) != 0) continue;
        if (r->method && strcasecmp(r->method, method) != 0) continue;
        if (r->times > 0) r->times--;
        route_copy(out, r);
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status,
                                 const char *type, const char *text)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(text), mhd_buffer(text), MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!text) return MHD_NO;
    enum MHD_Result rc = send_text(c, status, "application/json", text);
    free(text);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_json(c, status, json_pack("{s:s}", "error", msg));
}

/* Wait up to ms (forever when ms < 0) unless the server is stopping.
 * Returns 1 when stopping. */
static int wait_or_stop(long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g.mu);
    int rc = 0;
    while (!g.stopping && rc != ETIMEDOUT)
        rc = ms < 0 ? pthread_cond_wait(&g.cv, &g.mu)
                    : pthread_cond_timedwait(&g.cv, &g.mu, &until);
    int stopping = g.stopping;
    pthread_mutex_unlock(&g.mu);
    return stopping;
}

/* Reader for "truncate": the full length is announced, fewer bytes sent. */
typedef struct trunc_body {
    char *body;
    size_t limit;
} trunc_body;

static ssize_t trunc_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    trunc_body *t = cls;
    if (pos >= t->limit) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->limit - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, t->body + pos, n);
    return (ssize_t)n;
}

static void trunc_free(void *cls)
{
    trunc_body *t = cls;
    free(t->body);
    free(t);
}

static enum MHD_Result send_route(struct MHD_Connection *c, route *r)
{
    struct MHD_Response *resp;
    if (r->truncate >= 0 && (size_t)r->truncate < r->body_len) {
        trunc_body *t = malloc(sizeof *t);
        if (!t) abort();
        t->body = r->body;
        t->limit = (size_t)r->truncate;
        r->body = NULL;   /* now owned by the response */
        resp = MHD_create_response_from_callback(r->body_len, 4096, trunc_reader, t,
                                                 trunc_free);
        if (!resp) trunc_free(t);
    } else {
        resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_COPY);
    }
    if (!resp) return MHD_NO;
    int typed = 0;
    for (size_t i = 0; i < r->nh; i++) {
        if (strcasecmp(r->hname[i], "Content-Type") == 0) typed = 1;
        MHD_add_response_header(resp, r->hname[i], r->hvalue[i]);
    }
    if (!typed) MHD_add_response_header(resp, "Content-Type", r->type);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Request log                                                         */
/* ------------------------------------------------------------------ */

/* "Bearer sk-abcdef1234" -> "Bearer ****1234"; never the whole secret. */
static json_t *mask_auth(const char *v)
{
    if (!v) return json_null();
    const char *tok = v;
    int bearer = strncasecmp(v, "Bearer ", 7) == 0;
    if (bearer) tok = v + 7;
    size_t n = strlen(tok);
    char buf[64];
    snprintf(buf, sizeof buf, "%s****%s", bearer ? "Bearer " : "", n >= 8 ? tok + n - 4 : "");
    return json_string(buf);
}

/* Record a request; returns a new reference to its log entry (so a reset
 * cannot free it under us) for log_status(), which drops it. */
static json_t *log_request(struct MHD_Connection *c, const char *method, const char *url,
                           const upload *up)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    pthread_mutex_lock(&g.mu);
    json_t *e = json_pack("{s:I, s:s, s:s, s:o, s:o, s:f, s:n}", "count",
                          (json_int_t)++g.seq, "method", method, "path", url, "authorization",
                          mask_auth(auth), "accept", accept ? json_string(accept) : json_null(),
                          "at", wall_now(), "status");
    if (e)   /* the request body as text, so a test can check what was sent */
        json_object_set_new(e, "body", up && up->buf && !up->too_big
                                           ? json_stringn(up->buf, up->len) : json_null());
    if (e)   /* form or JSON: token endpoints care */
        json_object_set_new(e, "content_type", ctype ? json_string(ctype) : json_null());
    if (e) {
        if (json_array_size(g.log) >= MAX_LOG) json_array_remove(g.log, 0);
        json_array_append(g.log, e);
    }
    pthread_mutex_unlock(&g.mu);
    return e;
}

static void log_status(json_t *e, int status)
{
    if (!e) return;
    pthread_mutex_lock(&g.mu);
    json_object_set_new(e, "status", json_integer(status));
    pthread_mutex_unlock(&g.mu);
    json_decref(e);
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

static enum MHD_Result control(struct MHD_Connection *c, const char *method,
                               const char *url, const upload *up)
{
    int post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/_mock/requests") == 0 && strcmp(method, "GET") == 0) {
        pthread_mutex_lock(&g.mu);
        json_t *copy = json_deep_copy(g.log);
        pthread_mutex_unlock(&g.mu);
        return send_json(c, 200, copy);
    }
    if (strcmp(url, "/_mock/reset") == 0 && post) {
        pthread_mutex_lock(&g.mu);
        json_array_clear(g.log);
        g.seq = 0;
        pthread_mutex_unlock(&g.mu);
        return send_json(c, 200, json_pack("{s:b}", "ok", 1));
    }
    int all = strcmp(url, "/_mock/routes") == 0, one = strcmp(url, "/_mock/route") == 0;
    if (!post || (!all && !one)) return send_error(c, 404, "unknown control endpoint");
    if (up->too_big) return send_error(c, 413, "control body larger than 1 MiB");
    json_error_t je;
    json_t *doc = json_loadb(up->buf ? up->buf : "", up->len, 0, &je);
    if (!doc) return send_error(c, 400, je.text);
    char err[512];
    route *rs = NULL;
    size_t n = 0;
    int rc;
    if (all) {
        rc = routes_from_json(doc, &rs, &n, err, sizeof err);
    } else {
        rs = calloc(1, sizeof *rs);
        if (!rs) abort();
        n = 1;
        rc = route_from_json(doc, &rs[0], err, sizeof err);
        if (rc != 0) free(rs);
    }
    json_decref(doc);
    if (rc != 0) return send_error(c, 400, err);
    pthread_mutex_lock(&g.mu);
    if (all) {
        routes_free(g.routes, g.n);
        g.routes = rs;
        g.n = n;
    } else {
        route *grown = calloc(g.n + 1, sizeof *grown);
        if (!grown) abort();
        grown[0] = rs[0];
        if (g.n) memcpy(grown + 1, g.routes, g.n * sizeof *grown);
        free(g.routes);
        free(rs);
        g.routes = grown;
        g.n++;
    }
    size_t total = g.n;
    pthread_mutex_unlock(&g.mu);
    return send_json(c, 200, json_pack("{s:b, s:I}", "ok", 1, "routes", (json_int_t)total));
}

static enum MHD_Result serve(struct MHD_Connection *c, const char *method, const char *url,
                             const upload *up)
{
    json_t *entry = log_request(c, method, url, up);
    route r;
    pthread_mutex_lock(&g.mu);
    int found = route_take(method, url, &r) == 0;
    pthread_mutex_unlock(&g.mu);
    if (!found) {
        log_status(entry, 404);
        char msg[600];
        snprintf(msg, sizeof msg, "no mock route for %.16s %.500s", method, url);
        return send_json(c, 404, json_pack("{s:{s:s}}", "error", "message", msg));
    }
    enum MHD_Result rc = MHD_NO;
    if (r.hang) {
        log_status(entry, 0);
        wait_or_stop(-1);           /* answer nothing, ever */
    } else if (r.delay_ms > 0 && wait_or_stop(r.delay_ms)) {
        log_status(entry, 0);       /* stopping: drop the connection */
    } else {
        log_status(entry, r.status);
        rc = send_route(c, &r);
    }
    route_free(&r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    upload *up = *con_cls;
    if (!up) {                      /* first call: headers only */
        up = calloc(1, sizeof *up);
        if (!up) return MHD_NO;
        *con_cls = up;
        return MHD_YES;
    }
    if (*data_size > 0) {           /* body chunk: keep it bounded */
        if (up->len + *data_size > MAX_UPLOAD) {
            up->too_big = 1;
        } else if (!up->too_big) {
            char *b = realloc(up->buf, up->len + *data_size + 1);
            if (!b) abort();
            memcpy(b + up->len, data, *data_size);
            up->buf = b;
            up->len += *data_size;
            up->buf[up->len] = '\0';
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (strncmp(url, "/_mock/", 7) == 0) return control(c, method, url, up);
    return serve(c, method, url, up);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    upload *up = *con_cls;
    if (up) {
        free(up->buf);
        free(up);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr, "usage: mockprov [--port N] [--routes FILE.json] [--fixtures DIR]\n");
    return 2;
}

static int load_routes_file(const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        fprintf(stderr, "mockprov: %s:%d: %s\n", path, je.line, je.text);
        return -1;
    }
    char err[512];
    int rc = routes_from_json(doc, &g.routes, &g.n, err, sizeof err);
    json_decref(doc);
    if (rc != 0) fprintf(stderr, "mockprov: %s: %s\n", path, err);
    return rc;
}

int main(int argc, char **argv)
{
    long port = 0;
    const char *routes_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--port") == 0) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) return usage();
        } else if (strcmp(argv[i], "--routes") == 0) {
            routes_file = argv[++i];
        } else if (strcmp(argv[i], "--fixtures") == 0) {
            g.fixtures = argv[++i];
        } else {
            return usage();
        }
    }
    g.log = json_array();
    if (routes_file && load_routes_file(routes_file) != 0) return 1;

    /* Threads inherit this mask; only main receives the stop signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)0, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mockprov: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("%u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    pthread_mutex_lock(&g.mu);
    g.stopping = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    MHD_stop_daemon(d);
    routes_free(g.routes, g.n);
    json_decref(g.log);
    return 0;
}
