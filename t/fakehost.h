/*
 * t/fakehost.h - a fake md_host for plugin unit tests (header only).
 *
 * It implements the md_host table of include/meterd/plugin.h well enough to
 * drive a real plugin .so the way the core does (dlopen, entry point,
 * check/init/collect/fini), and records everything the plugin reports so
 * a test can assert on it.  HTTP goes through libcurl like the core's.
 *
 * Unit tests are linked with all core objects, so every symbol here is
 * static and prefixed fh_ (or FH_) to stay clear of core names.  The fake
 * reuses two core helpers on purpose (rfc3339_parse, mask_secrets) so the
 * plugins are tested against the same parsing and masking as production.
 *
 * Usage:
 *     fh_ctx c; fh_init(&c, "deepseek");
 *     fh_set_opt(&c, "api_key", "sk-test"); fh_set_timeout_ms(&c, 5000);
 *     fh_plugin p; fh_load(&p, "deepseek");
 *     int rc = fh_run(&p, &c);          (check + init + collect + fini)
 *     ... c.metrics / c.notes / c.fail_class / c.fail_msg / c.retry_after
 *     fh_free(&c); fh_unload(&p);
 *
 * Ownership: fh_ctx owns every string it stores (options and results);
 * fh_free() releases them.  fh_reset_results() clears only the results so
 * one context can run several collections.
 */
#ifndef METERD_FAKEHOST_H
#define METERD_FAKEHOST_H

#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "meterd/plugin.h"
#include "log.h"
#include "ratelimit.h"
#include "timeutil.h"

#define FH_MAX_OPTS 32
#define FH_MSG_MAX 1024

/* A metric as the fake host stored it (deep copy of what was emitted). */
typedef struct fh_metric {
    char *id, *label, *kind, *unit, *source;   /* owned; may be NULL */
    md_num used, limit, remaining, utilization, window_seconds;
    md_time resets_at, collected_at;
    md_confidence confidence;
    int rejected;                               /* fields the host refused */
} fh_metric;

typedef struct fh_opt {
    char *name;          /* owned */
    char *value;         /* scalar value (owned) or NULL */
    char **items;        /* list items or map keys (owned) */
    char **values;       /* map values (owned) */
    size_t n;
    int is_map, is_list;
} fh_opt;

typedef struct fh_ctx {
    char *instance;
    fh_opt opts[FH_MAX_OPTS];
    size_t n_opts;
    char *secrets[FH_MAX_OPTS];
    size_t n_secrets;
    long long deadline_mono_ms;   /* monotonic deadline of the collection */
    char *state_dir;

    /* results */
    fh_metric *metrics;
    size_t n_metrics;
    int n_dropped;                /* emit_metric calls that returned -1 */
    char **notes;
    size_t n_notes;
    char *raw;
    md_error fail_class;
    char *fail_msg;
    int n_fail;
    double retry_after;           /* < 0: not called */
    int n_http;                   /* HTTP requests the plugin made */
    char *last_url;
} fh_ctx;

typedef struct fh_plugin {
    void *handle;
    const md_plugin *desc;
} fh_plugin;

static inline char *fh_strdup(const char *s) { return s ? xstrdup(s) : NULL; }

static inline long long fh_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline fh_ctx *fh_of(md_ctx *ctx) { return (fh_ctx *)(void *)ctx; }
static inline md_ctx *fh_md(fh_ctx *c) { return (md_ctx *)(void *)c; }

static inline void fh_init(fh_ctx *c, const char *instance)
{
    memset(c, 0, sizeof *c);
    c->instance = xstrdup(instance);
    c->deadline_mono_ms = fh_mono_ms() + 10000;
    c->retry_after = -1;
    c->state_dir = xstrdup("/tmp");
}

static inline void fh_set_timeout_ms(fh_ctx *c, long long ms)
{
    c->deadline_mono_ms = fh_mono_ms() + ms;
}

static inline fh_opt *fh_new_opt(fh_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_opts; i++)
        if (strcmp(c->opts[i].name, name) == 0) {
            fh_opt *o = &c->opts[i];
            free(o->value);
            for (size_t k = 0; k < o->n; k++) {
                free(o->items[k]);
                if (o->values) free(o->values[k]);
            }
            free(o->items);
            free(o->values);
            char *keep = o->name;
            memset(o, 0, sizeof *o);
            o->name = keep;
            return o;
        }
    if (c->n_opts == FH_MAX_OPTS) abort();
    fh_opt *o = &c->opts[c->n_opts++];
    memset(o, 0, sizeof *o);
    o->name = xstrdup(name);
    return o;
}

static inline void fh_set_opt(fh_ctx *c, const char *name, const char *value)
{
    fh_new_opt(c, name)->value = xstrdup(value);
}

/* A secret option: stored like a scalar and registered for masking, as
 * the core does for MD_OPT_SECRET. */
static inline void fh_set_secret(fh_ctx *c, const char *name, const char *value)
{
    fh_set_opt(c, name, value);
    if (c->n_secrets < FH_MAX_OPTS) c->secrets[c->n_secrets++] = xstrdup(value);
}

static inline void fh_set_list(fh_ctx *c, const char *name,
                               const char *const *items, size_t n)
{
    fh_opt *o = fh_new_opt(c, name);
    o->is_list = 1;
    o->n = n;
    o->items = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) o->items[i] = xstrdup(items[i]);
}

static inline void fh_set_map(fh_ctx *c, const char *name,
                              const char *const *keys,
                              const char *const *values, size_t n)
{
    fh_opt *o = fh_new_opt(c, name);
    o->is_map = 1;
    o->n = n;
    o->items = xcalloc(n ? n : 1, sizeof(char *));
    o->values = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        o->items[i] = xstrdup(keys[i]);
        o->values[i] = xstrdup(values[i]);
    }
}

static inline void fh_reset_results(fh_ctx *c)
{
    for (size_t i = 0; i < c->n_metrics; i++) {
        fh_metric *m = &c->metrics[i];
        free(m->id); free(m->label); free(m->kind); free(m->unit); free(m->source);
    }
    free(c->metrics);
    c->metrics = NULL;
    c->n_metrics = 0;
    c->n_dropped = 0;
    for (size_t i = 0; i < c->n_notes; i++) free(c->notes[i]);
    free(c->notes);
    c->notes = NULL;
    c->n_notes = 0;
    free(c->raw);
    c->raw = NULL;
    free(c->fail_msg);
    c->fail_msg = NULL;
    c->fail_class = MD_ERR_NONE;
    c->n_fail = 0;
    c->retry_after = -1;
    c->n_http = 0;
    free(c->last_url);
    c->last_url = NULL;
}

static inline void fh_free(fh_ctx *c)
{
    fh_reset_results(c);
    for (size_t i = 0; i < c->n_opts; i++) {
        fh_opt *o = &c->opts[i];
        for (size_t k = 0; k < o->n; k++) {
            free(o->items[k]);
            if (o->values) free(o->values[k]);
        }
        free(o->items); free(o->values); free(o->value); free(o->name);
    }
    for (size_t i = 0; i < c->n_secrets; i++) free(c->secrets[i]);
    free(c->instance);
    free(c->state_dir);
    memset(c, 0, sizeof *c);
}

static inline const fh_opt *fh_find_opt(fh_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_opts; i++)
        if (strcmp(c->opts[i].name, name) == 0) return &c->opts[i];
    return NULL;
}

/* ---- query helpers for tests ---- */

static inline const fh_metric *fh_metric_by_id(const fh_ctx *c, const char *id)
{
    for (size_t i = 0; i < c->n_metrics; i++)
        if (c->metrics[i].id && strcmp(c->metrics[i].id, id) == 0)
            return &c->metrics[i];
    return NULL;
}

static inline int fh_has_note(const fh_ctx *c, const char *needle)
{
    for (size_t i = 0; i < c->n_notes; i++)
        if (strstr(c->notes[i], needle)) return 1;
    return 0;
}

/* ---- md_host implementation ---- */

static inline char *fh_vfmt_masked(fh_ctx *c, const char *fmt, va_list ap)
{
    char buf[FH_MSG_MAX];
    vsnprintf(buf, sizeof buf, fmt, ap);
    return mask_secrets(buf, (const char *const *)c->secrets, c->n_secrets);
}

static inline void fh_log(md_ctx *ctx, md_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = fh_vfmt_masked(fh_of(ctx), fmt, ap);
    va_end(ap);
    if (getenv("FH_VERBOSE")) printf("# log(%d): %s\n", (int)level, msg);
    free(msg);
}

static inline const char *fh_instance(md_ctx *ctx) { return fh_of(ctx)->instance; }

static inline const char *fh_opt_str(md_ctx *ctx, const char *name)
{
    const fh_opt *o = fh_find_opt(fh_of(ctx), name);
    return o ? o->value : NULL;
}

static inline int fh_opt_int(md_ctx *ctx, const char *name, long long *out)
{
    const char *v = fh_opt_str(ctx, name);
    if (!v) return -1;
    *out = strtoll(v, NULL, 10);
    return 0;
}

static inline int fh_opt_number(md_ctx *ctx, const char *name, double *out)
{
    const char *v = fh_opt_str(ctx, name);
    if (!v) return -1;
    *out = strtod(v, NULL);
    return 0;
}

static inline int fh_opt_bool(md_ctx *ctx, const char *name, int *out)
{
    const char *v = fh_opt_str(ctx, name);
    if (!v) return -1;
    *out = (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
            strcmp(v, "on") == 0 || strcmp(v, "1") == 0);
    return 0;
}

static inline int fh_opt_duration_ms(md_ctx *ctx, const char *name, long long *out)
{
    const char *v = fh_opt_str(ctx, name);
    if (!v) return -1;
    return duration_parse(v, out);
}

static inline const char *const *fh_opt_list(md_ctx *ctx, const char *name,
                                             size_t *count)
{
    const fh_opt *o = fh_find_opt(fh_of(ctx), name);
    if (!o || !o->is_list) { *count = 0; return NULL; }
    *count = o->n;
    return (const char *const *)o->items;
}

static inline int fh_opt_map(md_ctx *ctx, const char *name,
                             const char *const **keys,
                             const char *const **values, size_t *count)
{
    const fh_opt *o = fh_find_opt(fh_of(ctx), name);
    if (!o || !o->is_map) { *count = 0; return -1; }
    *keys = (const char *const *)o->items;
    *values = (const char *const *)o->values;
    *count = o->n;
    return 0;
}

static inline long long fh_remaining_ms(md_ctx *ctx)
{
    long long left = fh_of(ctx)->deadline_mono_ms - fh_mono_ms();
    return left > 0 ? left : 0;
}

static inline double fh_now(md_ctx *ctx) { (void)ctx; return time_now(); }
static inline const char *fh_state_dir(md_ctx *ctx) { return fh_of(ctx)->state_dir; }

/* Same validation rule as the SDK promises: id [A-Za-z0-9_.-]{1,64}. */
static inline int fh_valid_id(const char *id)
{
    if (!id) return 0;
    size_t n = strlen(id);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i])) return 0;
    return 1;
}

static inline int fh_check_num(md_num *v, int is_util)
{
    if (v->state != MD_KNOWN) return 0;
    if (!isfinite(v->value) || v->value < 0 || (is_util && v->value > 100)) {
        v->state = MD_UNKNOWN;
        v->value = 0;
        return 1;
    }
    return 0;
}

static inline int fh_emit_metric(md_ctx *ctx, const md_metric *m, size_t size)
{
    fh_ctx *c = fh_of(ctx);
    if (size != sizeof(md_metric) || !fh_valid_id(m->id) || !m->kind || !*m->kind) {
        c->n_dropped++;
        return -1;
    }
    c->metrics = xrealloc(c->metrics, (c->n_metrics + 1) * sizeof *c->metrics);
    fh_metric *s = &c->metrics[c->n_metrics++];
    memset(s, 0, sizeof *s);
    s->id = fh_strdup(m->id);
    s->label = fh_strdup(m->label);
    s->kind = fh_strdup(m->kind);
    s->unit = fh_strdup(m->unit);
    s->source = fh_strdup(m->source);
    s->used = m->used;
    s->limit = m->limit;
    s->remaining = m->remaining;
    s->utilization = m->utilization;
    s->window_seconds = m->window_seconds;
    s->resets_at = m->resets_at;
    s->collected_at = m->collected_at;
    s->confidence = m->confidence;
    int bad = fh_check_num(&s->used, 0) + fh_check_num(&s->limit, 0) +
              fh_check_num(&s->remaining, 0) + fh_check_num(&s->utilization, 1) +
              fh_check_num(&s->window_seconds, 0);
    s->rejected = bad;
    return bad;
}

static inline void fh_note(md_ctx *ctx, const char *fmt, ...)
{
    fh_ctx *c = fh_of(ctx);
    va_list ap;
    va_start(ap, fmt);
    char *msg = fh_vfmt_masked(c, fmt, ap);
    va_end(ap);
    c->notes = xrealloc(c->notes, (c->n_notes + 1) * sizeof *c->notes);
    c->notes[c->n_notes++] = msg;
    if (getenv("FH_VERBOSE")) printf("# note: %s\n", msg);
}

static inline void fh_set_raw(md_ctx *ctx, const char *json, size_t len)
{
    fh_ctx *c = fh_of(ctx);
    free(c->raw);
    c->raw = xmalloc(len + 1);
    memcpy(c->raw, json, len);
    c->raw[len] = '\0';
}

static inline void fh_fail(md_ctx *ctx, md_error cls, const char *fmt, ...)
{
    fh_ctx *c = fh_of(ctx);
    c->n_fail++;
    if (c->n_fail > 1) return;   /* like the core: the first failure wins */
    va_list ap;
    va_start(ap, fmt);
    c->fail_msg = fh_vfmt_masked(c, fmt, ap);
    va_end(ap);
    c->fail_class = cls;
    if (getenv("FH_VERBOSE")) printf("# fail(%d): %s\n", (int)cls, c->fail_msg);
}

static inline void fh_retry_after(md_ctx *ctx, double seconds)
{
    fh_of(ctx)->retry_after = seconds;
}

static inline void fh_add_secret(md_ctx *ctx, const char *secret)
{
    fh_ctx *c = fh_of(ctx);
    if (secret && c->n_secrets < FH_MAX_OPTS) c->secrets[c->n_secrets++] = xstrdup(secret);
}

/* ---- HTTP through libcurl ---- */

typedef struct fh_http_acc {
    md_http_response *r;
    size_t cap;          /* max body bytes */
    size_t alloc;
    int over;            /* body exceeded cap */
} fh_http_acc;

static inline size_t fh_http_body_cb(char *p, size_t sz, size_t nm, void *ud)
{
    fh_http_acc *a = ud;
    size_t n = sz * nm;
    if (a->r->body_len + n > a->cap) { a->over = 1; return 0; }
    if (a->r->body_len + n + 1 > a->alloc) {
        a->alloc = (a->r->body_len + n + 1) * 2;
        a->r->body = xrealloc(a->r->body, a->alloc);
    }
    memcpy(a->r->body + a->r->body_len, p, n);
    a->r->body_len += n;
    a->r->body[a->r->body_len] = '\0';
    return n;
}

static inline void fh_http_clear_headers(md_http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
    free(r->header_names);
    free(r->header_values);
    r->header_names = r->header_values = NULL;
    r->n_headers = 0;
}

static inline size_t fh_http_header_cb(char *p, size_t sz, size_t nm, void *ud)
{
    fh_http_acc *a = ud;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {   /* a new response head */
        fh_http_clear_headers(a->r);
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon) return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && isspace((unsigned char)end[-1])) end--;
    md_http_response *r = a->r;
    r->header_names = xrealloc(r->header_names, (r->n_headers + 1) * sizeof(char *));
    r->header_values = xrealloc(r->header_values, (r->n_headers + 1) * sizeof(char *));
    char *name = xmalloc(nl + 1);
    for (size_t i = 0; i < nl; i++) name[i] = (char)tolower((unsigned char)p[i]);
    name[nl] = '\0';
    char *val = xmalloc((size_t)(end - v) + 1);
    memcpy(val, v, (size_t)(end - v));
    val[end - v] = '\0';
    r->header_names[r->n_headers] = name;
    r->header_values[r->n_headers] = val;
    r->n_headers++;
    return n;
}

static inline void fh_http_free(md_http_response *r)
{
    if (!r) return;
    fh_http_clear_headers(r);
    free(r->body);
    free(r->error);
    free(r);
}

static inline int fh_http(md_ctx *ctx, const md_http_request *req,
                          md_http_response **out)
{
    fh_ctx *c = fh_of(ctx);
    c->n_http++;
    free(c->last_url);
    c->last_url = fh_strdup(req->url);
    md_http_response *r = xcalloc(1, sizeof *r);
    r->body = xcalloc(1, 1);
    *out = r;
    fh_http_acc acc = { r, req->max_response_bytes ? req->max_response_bytes
                                                   : 4u * 1024 * 1024, 1, 0 };
    long long left = fh_remaining_ms(ctx);
    long tmo = req->timeout_ms > 0 && req->timeout_ms < left ? req->timeout_ms
                                                            : (long)left;
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (const char *const *hp = req->headers; hp && *hp; hp++)
        hl = curl_slist_append(hl, *hp);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    if (req->method && strcmp(req->method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tmo > 0 ? tmo : 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fh_http_body_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &acc);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, fh_http_header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &acc);
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK) {
        r->status = 0;
        r->error = xstrdup(acc.over ? "response too large" : curl_easy_strerror(rc));
        r->error_class = acc.over ? MD_ERR_BAD_DATA
                       : rc == CURLE_OPERATION_TIMEDOUT ? MD_ERR_TIMEOUT
                       : MD_ERR_NETWORK;
        ret = -1;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return ret;
}

static inline const char *fh_http_header(const md_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->header_names[i], name) == 0) return r->header_values[i];
    return NULL;
}

static inline int fh_parse_time(const char *text, md_time *out)
{
    double e;
    if (!text || rfc3339_parse(text, &e) != 0) return -1;
    *out = MD_TIME(e);
    return 0;
}

static inline int fh_parse_number(const char *text, double *out)
{
    if (!text) return -1;
    char *end;
    double v = strtod(text, &end);
    if (end == text) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end || !isfinite(v)) return -1;
    /* strtod accepts "nan"/"inf" and hex; the SDK promises decimal only. */
    for (const char *p = text; *p; p++)
        if (isalpha((unsigned char)*p) && *p != 'e' && *p != 'E') return -1;
    *out = v;
    return 0;
}

static inline int fh_parse_timestamp(md_ctx *ctx, const char *text,
                                     md_ts_dialect d, md_time *out)
{
    double e;
    (void)ctx;
    if (timestamp_parse(text, (ts_dialect)d, time_now(), &e) != 0) return -1;
    *out = MD_TIME(e);
    return 0;
}

static inline int fh_emit_rate_limits(md_ctx *ctx, const char *const *names,
                                      const char *const *values, size_t n,
                                      const char *prefix, double *retry_after)
{
    rl_metric *rl = NULL;
    size_t count = ratelimit_parse(names, values, n, time_now(), prefix, &rl,
                                   retry_after);
    for (size_t i = 0; i < count; i++)
        fh_emit_metric(ctx, &rl[i].m, sizeof rl[i].m);
    free(rl);
    return (int)count;
}

/* The fake host does not model meter sets: tests of plugins that declare
 * expected meters run through the real host (t/plugtest.h). */
static inline void fh_expect_metric(md_ctx *ctx, const md_metric *m,
                                    size_t size, const char *note)
{
    (void)ctx; (void)size; (void)note;
    printf("# fakehost: expect_metric(%s) is not modelled; use t/plugtest.h\n",
           m && m->id ? m->id : "?");
    abort();
}

/* Per-turn usage is not modelled either (t/plugtest.h runs the real
 * host for plugins that report it). */
static inline int fh_put_usage(md_ctx *ctx, const md_usage_cell *cells,
                               size_t n, size_t size, double since,
                               unsigned long long generation)
{
    (void)ctx; (void)cells; (void)n; (void)size; (void)since; (void)generation;
    printf("# fakehost: put_usage is not modelled; use t/plugtest.h\n");
    abort();
}

static inline unsigned long long fh_usage_generation(md_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static inline const md_host *fh_host(void)
{
    static const md_host h = {
        MD_ABI_MAJOR, MD_ABI_MINOR, (uint32_t)sizeof(md_host),
        fh_log, fh_instance, fh_opt_str, fh_opt_int, fh_opt_number,
        fh_opt_bool, fh_opt_duration_ms, fh_opt_list, fh_opt_map,
        fh_remaining_ms, fh_now, fh_state_dir, fh_emit_metric, fh_note,
        fh_set_raw, fh_fail, fh_retry_after, fh_add_secret, fh_http,
        fh_http_free, fh_http_header, fh_parse_time, fh_parse_number,
        fh_parse_timestamp, fh_emit_rate_limits, fh_expect_metric,
        fh_put_usage, fh_usage_generation,
    };
    return &h;
}

/* ---- loading and running a plugin like the core does ---- */

/* Load plugins/NAME.so, or $METERD_PLUGIN_DIR/NAME.so.  Returns 0 or -1
 * (with a TAP diagnostic). */
static inline int fh_load(fh_plugin *p, const char *name)
{
    const char *dir = getenv("METERD_PLUGIN_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.so", dir && *dir ? dir : "plugins", name);
    memset(p, 0, sizeof *p);
    p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->handle) {
        printf("# dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    md_plugin_entry_fn entry;
    *(void **)&entry = dlsym(p->handle, MD_PLUGIN_ENTRY_NAME);
    if (!entry) {
        printf("# %s: no %s\n", path, MD_PLUGIN_ENTRY_NAME);
        dlclose(p->handle);
        p->handle = NULL;
        return -1;
    }
    p->desc = entry();
    return p->desc ? 0 : -1;
}

static inline void fh_unload(fh_plugin *p)
{
    if (p->handle) dlclose(p->handle);
    memset(p, 0, sizeof *p);
}

/* Run the plugin's check() alone; returns its result (0 when absent). */
static inline int fh_check(const fh_plugin *p, fh_ctx *c)
{
    return p->desc->check ? p->desc->check(fh_host(), fh_md(c)) : 0;
}

/* One collection: init, collect, fini.  Returns collect()'s result. */
static inline int fh_run(const fh_plugin *p, fh_ctx *c)
{
    void *state = NULL;
    const md_host *h = fh_host();
    if (p->desc->init && p->desc->init(h, fh_md(c), &state) != 0) return -1;
    int rc = p->desc->collect(h, fh_md(c), state);
    if (p->desc->fini) p->desc->fini(h, fh_md(c), state);
    return rc;
}

#endif
