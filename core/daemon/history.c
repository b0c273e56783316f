/* history.c - meter samples: change detection, the queue, writing,
 * retention and thinning, range queries (contract: history.h). */
#include "history.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "timeutil.h"

/* The sampled values of a meter, in column order. */
enum { SV_USED, SV_LIMIT, SV_REMAINING, SV_UTIL, SV_RESETS, SV_N };

typedef struct sample {
    char *provider, *meter;     /* owned */
    double at;
    md_num v[SV_N];             /* resets_at as an md_num of its epoch */
} sample;

typedef struct last_seen {
    char *provider, *meter;     /* owned */
    double at;                  /* when the last sample was queued */
    md_num v[SV_N];
} last_seen;

struct history {
    pthread_mutex_t mu;
    long long every_ms, retention_ms;
    last_seen *seen;
    size_t n_seen;
    sample *q;
    size_t n_q;
};

struct history_batch {
    sample *s;
    size_t n;
};

history *history_new(void)
{
    history *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    h->every_ms = HISTORY_SAMPLE_EVERY_DEFAULT_MS;
    h->retention_ms = HISTORY_RETENTION_DEFAULT_MS;
    return h;
}

static void samples_free(sample *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].provider);
        free(s[i].meter);
    }
    free(s);
}

void history_free(history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_seen; i++) {
        free(h->seen[i].provider);
        free(h->seen[i].meter);
    }
    free(h->seen);
    samples_free(h->q, h->n_q);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void history_set_policy(history *h, long long sample_every_ms,
                        long long retention_ms)
{
    pthread_mutex_lock(&h->mu);
    if (sample_every_ms > 0)
        h->every_ms = sample_every_ms;
    if (retention_ms > 0)
        h->retention_ms = retention_ms;
    pthread_mutex_unlock(&h->mu);
}

long long history_retention_ms(const history *h)
{
    return h->retention_ms;
}

/* Unknown and not applicable both become "no value" (stored NULL). */
static md_num norm(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value) ? v
                                                    : (md_num){MD_UNKNOWN, 0};
}

static void values_of(const metric *m, md_num v[SV_N])
{
    v[SV_USED] = norm(m->used);
    v[SV_LIMIT] = norm(m->limit);
    v[SV_REMAINING] = norm(m->remaining);
    v[SV_UTIL] = norm(m->utilization);
    v[SV_RESETS] = norm((md_num){m->resets_at.state, m->resets_at.epoch});
}

static int same_values(const md_num *a, const md_num *b)
{
    for (int i = 0; i < SV_N; i++)
        if (a[i].state != b[i].state ||
            (a[i].state == MD_KNOWN && a[i].value != b[i].value))
            return 0;
    return 1;
}

static last_seen *seen_get(history *h, const char *provider,
                           const char *meter, int *fresh)
{
    for (size_t i = 0; i < h->n_seen; i++)
        if (strcmp(h->seen[i].meter, meter) == 0 &&
            strcmp(h->seen[i].provider, provider) == 0)
            return *fresh = 0, &h->seen[i];
    h->seen = xrealloc(h->seen, (h->n_seen + 1) * sizeof *h->seen);
    last_seen *s = &h->seen[h->n_seen++];
    *s = (last_seen){.provider = xstrdup(provider), .meter = xstrdup(meter)};
    *fresh = 1;
    return s;
}

size_t history_record(history *h, const char *provider, const metric *m,
                      size_t n, double now)
{
    if (!h || !provider)
        return 0;
    size_t queued = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        if (!m[i].id)
            continue;
        md_num v[SV_N];
        values_of(&m[i], v);
        int fresh;
        last_seen *s = seen_get(h, provider, m[i].id, &fresh);
        if (!fresh && same_values(s->v, v) &&
            (now - s->at) * 1000.0 < (double)h->every_ms)
            continue;
        s->at = now;
        memcpy(s->v, v, sizeof s->v);
        h->q = xrealloc(h->q, (h->n_q + 1) * sizeof *h->q);
        sample *q = &h->q[h->n_q++];
        *q = (sample){.provider = xstrdup(provider),
                      .meter = xstrdup(m[i].id), .at = now};
        memcpy(q->v, v, sizeof q->v);
        queued++;
    }
    pthread_mutex_unlock(&h->mu);
    return queued;
}

history_batch *history_take(history *h)
{
    if (!h)
        return NULL;
    pthread_mutex_lock(&h->mu);
    history_batch *b = NULL;
    if (h->n_q) {
        b = xmalloc(sizeof *b);
        *b = (history_batch){.s = h->q, .n = h->n_q};
        h->q = NULL;
        h->n_q = 0;
    }
    pthread_mutex_unlock(&h->mu);
    return b;
}

size_t history_batch_count(const history_batch *b)
{
    return b ? b->n : 0;
}

void history_batch_free(history_batch *b)
{
    if (!b)
        return;
    samples_free(b->s, b->n);
    free(b);
}

static void bind_num(sqlite3_stmt *st, int col, md_num v)
{
    if (v.state == MD_KNOWN)
        sqlite3_bind_double(st, col, v.value);
    else
        sqlite3_bind_null(st, col);
}

int history_batch_write(history_db *db, const history_batch *b, char **err)
{
    if (!b || !b->n)
        return 0;
    /* OR REPLACE: two samples of a meter within one clock tick keep the
     * later values.  Kept by db: samples come with most writes. */
    sqlite3_stmt *st = history_db_prepared(db,
                                           "INSERT OR REPLACE INTO sample"
                                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                                           " ?7, ?8)",
                                           err);
    if (!st)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const sample *s = &b->s[i];
        sqlite3_bind_text(st, 1, s->provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, s->meter, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, s->at);
        for (int k = 0; k < SV_N; k++)
            bind_num(st, 4 + k, s->v[k]);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = history_db_error(db, "writing a sample", err);
        sqlite3_reset(st);
    }
    sqlite3_clear_bindings(st);
    return rc;
}

/* ---------------------------------------------------------------- */
/* maintenance                                                       */
/* ---------------------------------------------------------------- */

/* Per call, at most this many rows go by retention and this many days
 * are thinned, so one write never stalls on a backlog. */
#define RETENTION_BATCH_TEXT "20000"
#define THIN_DAYS_PER_RUN 14

static int run_bound(history_db *db, const char *sql, double a, double b,
                     long long *changes, char **err)
{
    sqlite3 *h = history_db_handle(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        return history_db_error(db, "preparing maintenance", err);
    sqlite3_bind_double(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_double(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return history_db_error(db, "sample maintenance", err);
    *changes += sqlite3_changes(h);
    return 0;
}

static double query_double(history_db *db, const char *sql, double dflt)
{
    sqlite3_stmt *st = NULL;
    double v = dflt;
    if (sqlite3_prepare_v2(history_db_handle(db), sql, -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

long long history_maintain(history_db *db, long long retention_ms,
                           double now, char **err)
{
    long long gone = 0, ignored = 0;
    double cutoff = now - (double)retention_ms / 1000.0;
    if (run_bound(db,
                  "DELETE FROM sample WHERE (provider, meter, at) IN"
                  " (SELECT provider, meter, at FROM sample WHERE at < ?1"
                  "  LIMIT " RETENTION_BATCH_TEXT ")",
                  cutoff, 0, &gone, err) != 0)
        return -1;
    /* Thin whole hours from the watermark (or the oldest sample) up to a
     * week ago: delete a sample when a later one of its meter falls in
     * the same hour. */
    double week = floor((now - HISTORY_THIN_AFTER_S) / HISTORY_THIN_STEP_S) *
                  HISTORY_THIN_STEP_S;
    double from = query_double(db, "SELECT value FROM meta WHERE key ="
                                   " 'thinned_until'", -1);
    if (from < 0)
        from = query_double(db, "SELECT min(at) FROM sample", week);
    from = floor(from / HISTORY_THIN_STEP_S) * HISTORY_THIN_STEP_S;
    double to = from + THIN_DAYS_PER_RUN * 86400.0;
    if (to > week)
        to = week;
    if (from >= to)
        return gone;
    if (run_bound(db,
                  "DELETE FROM sample WHERE at >= ?1 AND at < ?2 AND EXISTS"
                  " (SELECT 1 FROM sample s2 WHERE s2.provider ="
                  "  sample.provider AND s2.meter = sample.meter AND"
                  "  s2.at > sample.at AND s2.at < (CAST(sample.at / 3600"
                  "  AS INTEGER) + 1) * 3600.0)",
                  from, to, &gone, err) != 0 ||
        run_bound(db,
                  "INSERT OR REPLACE INTO meta VALUES ('thinned_until', ?1)",
                  to, 0, &ignored, err) != 0)
        return -1;
    return gone;
}

/* ---------------------------------------------------------------- */
/* queries                                                           */
/* ---------------------------------------------------------------- */

int history_has_provider(history_db *db, const char *provider)
{
    if (!db)
        return 0;
    history_db_lock(db);
    sqlite3_stmt *st = NULL;
    int yes = 0;
    if (sqlite3_prepare_v2(history_db_handle(db),
                           "SELECT 1 FROM sample WHERE provider = ?1 LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    history_db_unlock(db);
    return yes;
}

static json_t *time_json(double t)
{
    char buf[48];
    rfc3339_format(t, buf, sizeof buf);
    return json_string(buf);
}

/* An integral value as an integer, else a real. */
static json_t *col_json(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *col_num(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    return col_json(sqlite3_column_double(st, col));
}

static json_t *sample_json(sqlite3_stmt *st, double bucket)
{
    static const char *const keys[] = {"used", "limit", "remaining",
                                       "utilization"};
    json_t *o = json_object();
    json_object_set_new(o, "at", time_json(bucket));
    json_object_set_new(o, "sampled_at",
                        time_json(sqlite3_column_double(st, 1)));
    for (int k = 0; k < 4; k++)
        json_object_set_new(o, keys[k], col_num(st, 2 + k));
    json_object_set_new(o, "resets_at",
                        sqlite3_column_type(st, 6) == SQLITE_NULL
                            ? json_null()
                            : time_json(sqlite3_column_double(st, 6)));
    return o;
}

int history_query(history_db *db, const char *provider, const char *meter,
                  double since, double until, double step, json_t **out,
                  char **err)
{
    *out = NULL;
    if (!db)
        return err_set(err, "no history database");
    history_db_lock(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(history_db_handle(db),
                           "SELECT meter, at, used, lim, remaining,"
                           " utilization, resets_at FROM sample"
                           " WHERE provider = ?1 AND (?2 IS NULL OR meter = ?2)"
                           " AND at >= ?3 AND at < ?4 ORDER BY meter, at",
                           -1, &st, NULL) != SQLITE_OK) {
        int rc = history_db_error(db, "preparing the history query", err);
        history_db_unlock(db);
        return rc;
    }
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    if (meter)
        sqlite3_bind_text(st, 2, meter, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, since);
    sqlite3_bind_double(st, 4, until);
    json_t *meters = json_array(), *cur = NULL, *pending = NULL;
    char *cur_id = NULL;
    double pending_bucket = -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        double at = sqlite3_column_double(st, 1);
        double bucket = step > 0 ? floor(at / step) * step : at;
        if (!cur_id || strcmp(cur_id, id) != 0) {
            if (pending)
                json_array_append_new(cur, pending);
            pending = NULL;
            free(cur_id);
            cur_id = xstrdup(id);
            cur = json_array();
            json_array_append_new(meters, json_pack("{s:s, s:o}", "meter", id,
                                                    "samples", cur));
        }
        /* The last value of a bucket wins: a later row replaces it. */
        if (pending && (step <= 0 || bucket != pending_bucket)) {
            json_array_append_new(cur, pending);
            pending = NULL;
        }
        json_decref(pending);
        pending = sample_json(st, bucket);
        pending_bucket = bucket;
    }
    if (pending)
        json_array_append_new(cur, pending);
    free(cur_id);
    if (rc != SQLITE_DONE) {
        rc = history_db_error(db, "reading samples", err);
        json_decref(meters);
    } else {
        rc = 0;
        *out = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "provider",
                         provider, "meter",
                         meter ? json_string(meter) : json_null(), "since",
                         time_json(since), "until", time_json(until),
                         "step_seconds",
                         step > 0 ? col_json(step) : json_null(), "meters",
                         meters);
    }
    sqlite3_finalize(st);
    history_db_unlock(db);
    return rc;
}
