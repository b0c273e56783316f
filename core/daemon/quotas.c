/* quotas.c - meter samples, alerts, transitions and quota sets of the
 * running daemon (contract: quotas.h). */
#include "quotas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "log.h"
#include "notify.h"
#include "timeutil.h"

#define REASON_MAX 200
/* A collected_at further than this from the collection's end is not
 * believed (a cached or skewed provider clock). */
#define FEED_SKEW_MAX_S 600.0

typedef struct qmeter {
    char *provider, *meter;     /* owned */
    fc_series series;
    alert_track track;
    alert_track stored;         /* as last committed (has_stored) */
    int has_stored;
    int restored;               /* track came from the database and no
                                   live collection has confirmed it */
    int evaluated;              /* fc and alert below are set */
    fc_result fc;
    char reason[REASON_MAX];
} qmeter;

struct quotas {
    qmeter *m;                  /* owned; sorted by (provider, meter) */
    size_t n;
    unsigned long transitions;
    notifier *notify;           /* owned */
    struct history_db *db;      /* borrowed; NULL: alert states not kept */
};

quotas *quotas_new(void)
{
    quotas *q = xcalloc(1, sizeof *q);
    q->notify = notifier_new();
    return q;
}

static void qmeter_release(qmeter *m)
{
    free(m->provider);
    free(m->meter);
    fc_series_release(&m->series);
}

void quotas_free(quotas *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        qmeter_release(&q->m[i]);
    free(q->m);
    notifier_free(q->notify);
    free(q);
}

static int key_cmp(const char *p1, const char *m1, const char *p2,
                   const char *m2)
{
    int c = strcmp(p1, p2);
    return c ? c : strcmp(m1, m2);
}

/* Binary search: the index of (provider, meter), or where it belongs
 * (*found 0). */
static size_t find(const quotas *q, const char *provider, const char *meter,
                   int *found)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(q->m[mid].provider, q->m[mid].meter, provider, meter);
        if (c == 0)
            return *found = 1, mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static qmeter *get(quotas *q, const char *provider, const char *meter)
{
    int found;
    size_t i = find(q, provider, meter, &found);
    if (found)
        return &q->m[i];
    q->m = xrealloc(q->m, (q->n + 1) * sizeof *q->m);
    memmove(q->m + i + 1, q->m + i, (q->n - i) * sizeof *q->m);
    q->n++;
    qmeter *m = &q->m[i];
    memset(m, 0, sizeof *m);
    m->provider = xstrdup(provider);
    m->meter = xstrdup(meter);
    fc_series_init(&m->series);
    alert_track_init(&m->track);
    return m;
}

static const qmeter *cget(const quotas *q, const char *provider,
                          const char *meter)
{
    int found;
    size_t i = find(q, provider, meter, &found);
    return found ? &q->m[i] : NULL;
}

void quotas_feed(quotas *q, const char *provider, const metric *m, size_t n,
                 double now)
{
    for (size_t i = 0; i < n; i++) {
        if (!m[i].id)
            continue;
        /* When the value was measured, if the provider (or the helper)
         * said so believably: a collection's own latency then does not
         * bend the slope. */
        double at = now;
        if (m[i].collected_at.state == MD_KNOWN &&
            fabs(m[i].collected_at.epoch - now) < FEED_SKEW_MAX_S)
            at = m[i].collected_at.epoch;
        fc_sample s = fc_sample_of(&m[i], at);
        fc_series_add(&get(q, provider, m[i].id)->series, &s);
    }
}

static md_num json_num(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? MD_NUM(json_number_value(v))
                             : (md_num){MD_UNKNOWN, 0};
}

void quotas_load(quotas *q, struct history_db *db, const char *provider,
                 double since, double now)
{
    if (!db)
        return;
    json_t *doc = NULL;
    char *err = NULL;
    if (history_query(db, provider, NULL, since, now + 1, 0, &doc, &err) != 0) {
        log_msg(MD_LOG_WARN, provider, "cannot read meter samples: %s",
                err ? err : "unknown error");
        free(err);
        return;
    }
    size_t i, k, loaded = 0;
    json_t *mt, *s;
    json_array_foreach(json_object_get(doc, "meters"), i, mt) {
        const char *id = json_string_value(json_object_get(mt, "meter"));
        if (!id)
            continue;
        qmeter *qm = get(q, provider, id);
        fc_series fresh;
        fc_series_init(&fresh);
        json_array_foreach(json_object_get(mt, "samples"), k, s) {
            md_time at, resets = {MD_UNKNOWN, 0};
            if (time_from_json(json_object_get(s, "sampled_at"), &at) != 0)
                continue;
            time_from_json(json_object_get(s, "resets_at"), &resets);
            fc_sample smp = {.at = at.epoch, .used = json_num(s, "used"),
                             .limit = json_num(s, "limit"),
                             .remaining = json_num(s, "remaining"),
                             .utilization = json_num(s, "utilization"),
                             .resets_at = resets};
            fc_series_add(&fresh, &smp);
            loaded++;
        }
        /* What was already fed (newer) goes after the stored samples. */
        for (size_t j = 0; j < qm->series.n; j++)
            fc_series_add(&fresh, &qm->series.s[j]);
        fc_series_release(&qm->series);
        qm->series = fresh;
    }
    json_decref(doc);
    if (loaded)
        log_msg(MD_LOG_DEBUG, provider, "forecast: %zu stored samples loaded",
                loaded);
}

void quotas_restore(quotas *q, struct history_db *db,
                    const char *const *names, size_t n)
{
    q->db = db;
    if (!db)
        return;
    alert_saved *v;
    size_t nv;
    char *err = NULL;
    if (alert_state_read(db, &v, &nv, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot read alert states: %s", err);
        free(err);
        return;
    }
    size_t restored = 0;
    alert_row *gone = NULL;
    size_t n_gone = 0;
    for (size_t i = 0; i < nv; i++) {
        int configured = 0;
        for (size_t j = 0; j < n && !configured; j++)
            configured = strcmp(v[i].provider, names[j]) == 0;
        if (!configured) {
            gone = xrealloc(gone, (n_gone + 1) * sizeof *gone);
            gone[n_gone++] = (alert_row){.provider = v[i].provider,
                                         .meter = v[i].meter};
            continue;
        }
        qmeter *qm = get(q, v[i].provider, v[i].meter);
        qm->track = qm->stored = v[i].track;
        qm->has_stored = qm->restored = 1;
        restored++;
    }
    if (alert_state_write(db, gone, n_gone, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot drop alert states: %s", err);
        free(err);
    }
    free(gone);
    alert_saved_free(v, nv);
    if (restored)
        log_msg(MD_LOG_DEBUG, NULL, "alerts: %zu stored states restored",
                restored);
}

static int track_same(const alert_track *a, const alert_track *b)
{
    return a->cur == b->cur && a->out_since == b->out_since &&
           a->since == b->since;
}

static int meter_in(const char *id, const metric *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].id && strcmp(m[i].id, id) == 0)
            return 1;
    return 0;
}

/* Commit the tracks of provider that changed since their last commit;
 * on live data, forget the restored tracks of meters it no longer has. */
static void persist(quotas *q, const char *provider, const metric *m,
                    size_t n, int live)
{
    if (!q->db)
        return;
    int found;
    size_t lo = find(q, provider, "", &found);
    alert_row *rows = NULL;
    size_t k = 0;
    for (size_t i = lo; i < q->n && strcmp(q->m[i].provider, provider) == 0;
         i++) {
        qmeter *qm = &q->m[i];
        if (live && qm->restored && !meter_in(qm->meter, m, n)) {
            alert_track_init(&qm->track);
            qm->restored = 0;
            qm->evaluated = 0;
        }
        if (qm->track.seen && qm->has_stored &&
            track_same(&qm->track, &qm->stored))
            continue;
        if (!qm->track.seen && !qm->has_stored)
            continue;
        rows = xrealloc(rows, (k + 1) * sizeof *rows);
        rows[k++] = (alert_row){.provider = qm->provider, .meter = qm->meter,
                                .track = qm->track.seen ? &qm->track : NULL};
    }
    char *err = NULL;
    if (alert_state_write(q->db, rows, k, &err) != 0) {
        /* Kept unequal to stored: the next evaluation retries. */
        log_msg(MD_LOG_WARN, provider, "cannot save alert states: %s", err);
        free(err);
    } else {
        for (size_t i = 0; i < k; i++) {
            qmeter *qm = get(q, rows[i].provider, rows[i].meter);
            qm->stored = qm->track;
            qm->has_stored = qm->track.seen;
        }
    }
    free(rows);
}

static void notify_transition(quotas *q, const forecast_conf *fc,
                              const char *family, const qmeter *m,
                              alert_class from, double now, long long now_ms)
{
    q->transitions++;
    log_msg(MD_LOG_INFO, m->provider, "alert %s: %s -> %s (%s)", m->meter,
            alert_name(from), alert_name(m->track.cur), m->reason);
    if (!fc->notify_argv)
        return;
    char at[48];
    rfc3339_format(now, at, sizeof at);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "family",
                          family ? family : m->provider, "provider",
                          m->provider, "meter", m->meter, "from",
                          alert_name(from), "to", alert_name(m->track.cur),
                          "reason", m->reason, "at", at);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *line = xasprintf("%s\n", text);
    free(text);
    char *err = NULL;
    long long timeout = fc->notify_timeout_ms > 0 ? fc->notify_timeout_ms
                                                  : NOTIFY_TIMEOUT_DEFAULT_MS;
    if (notifier_spawn(q->notify, fc->notify_argv, line, now_ms, timeout,
                       &err) != 0) {
        log_msg(MD_LOG_WARN, m->provider, "alert %s: notify command: %s",
                m->meter, err ? err : "failed");
        free(err);
    }
    free(line);
}

long long quotas_evaluate(quotas *q, const forecast_conf *fc,
                          const char *provider, const char *family,
                          const metric *m, size_t n, long long interval_ms,
                          long long min_interval_ms, double now,
                          long long now_ms, int live)
{
    int urgent = 0;
    long long fast = 0;
    for (size_t i = 0; i < n; i++) {
        if (!m[i].id)
            continue;
        qmeter *qm = get(q, provider, m[i].id);
        fc_settings st = forecast_conf_resolve(fc, provider, m[i].id);
        fc_compute(&qm->series, &m[i], &st, now, &qm->fc);
        char why[REASON_MAX];
        alert_class seen = alert_classify(&m[i], &qm->fc, &st, why, sizeof why);
        alert_class from;
        int first = !qm->track.seen;
        if (qm->restored && !live) {
            /* Stored data older than the stored class is no news: the
             * class stays until a collection says otherwise. */
            if (seen == qm->track.cur)
                memcpy(qm->reason, why, sizeof why);
            else
                snprintf(qm->reason, sizeof qm->reason,
                         "as before the restart");
        } else if (alert_track_update(&qm->track, seen, now,
                                      st.alert_hold_ms, &from)) {
            memcpy(qm->reason, why, sizeof why);
            /* A meter first seen healthy is not news. */
            if (!(first && qm->track.cur == ALERT_OK))
                notify_transition(q, fc, family, qm, from, now, now_ms);
        } else if (seen == qm->track.cur) {
            memcpy(qm->reason, why, sizeof why);
        }
        if (live)
            qm->restored = 0;
        qm->evaluated = 1;
        alert_class a = qm->track.cur;
        if (a == ALERT_WATCH || a == ALERT_TOPUP || a == ALERT_USE_OR_LOSE ||
            qm->fc.expires_within_horizon) {
            urgent = 1;
            long long f = st.fast_lane_interval_ms > 0
                              ? st.fast_lane_interval_ms
                              : interval_ms / 4;
            if (!fast || f < fast)
                fast = f;
        }
    }
    persist(q, provider, m, n, live);
    if (!urgent)
        return 0;
    if (fast < min_interval_ms)
        fast = min_interval_ms;
    if (fast < 1)
        fast = 1;
    return fast;
}

void quotas_retain(quotas *q, const char *const *names, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++) {
        int keep = 0;
        for (size_t j = 0; j < n && !keep; j++)
            keep = strcmp(q->m[i].provider, names[j]) == 0;
        if (keep) {
            q->m[k++] = q->m[i];
            continue;
        }
        if (q->db && q->m[i].has_stored) {
            alert_row r = {.provider = q->m[i].provider,
                           .meter = q->m[i].meter};
            char *err = NULL;
            if (alert_state_write(q->db, &r, 1, &err) != 0) {
                log_msg(MD_LOG_WARN, q->m[i].provider,
                        "cannot drop alert state: %s", err);
                free(err);
            }
        }
        qmeter_release(&q->m[i]);
    }
    q->n = k;
}

alert_class quotas_alert(const quotas *q, const char *provider,
                         const char *meter)
{
    const qmeter *m = q ? cget(q, provider, meter) : NULL;
    return m && m->evaluated ? m->track.cur : ALERT_UNKNOWN;
}

long long quotas_tick(quotas *q, long long now_ms)
{
    return q ? notifier_tick(q->notify, now_ms) : -1;
}

size_t quotas_notify_running(const quotas *q)
{
    return q ? notifier_running(q->notify) : 0;
}

/* ---- quota sets ---- */

quota_set *quota_set_ref(quota_set *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void quota_set_release(quota_set *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->n; i++) {
        quota_entry *e = &s->e[i];
        free(e->family);
        free(e->provider);
        free(e->meter);
        free(e->kind);
        free(e->unit);
        free(e->source);
        free(e->alert_reason);
    }
    for (size_t i = 0; i < s->n_fam; i++)
        free(s->fam[i].family);
    free(s->e);
    free(s->fam);
    free(s);
}

const quota_family *quota_set_family(const quota_set *s, const char *f)
{
    for (size_t i = 0; s && f && i < s->n_fam; i++)
        if (strcmp(s->fam[i].family, f) == 0)
            return &s->fam[i];
    return NULL;
}

alert_class quota_set_alert(const quota_set *s, const char *provider,
                            const char *meter)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->e[i].provider, provider) == 0 &&
            strcmp(s->e[i].meter, meter) == 0)
            return s->e[i].alert;
    return ALERT_UNKNOWN;
}

static int cmp_entry(const void *a, const void *b)
{
    const quota_entry *x = a, *y = b;
    if (x->alert != y->alert)
        return x->alert < y->alert ? -1 : 1;
    int kx = x->utilization.state == MD_KNOWN,
        ky = y->utilization.state == MD_KNOWN;
    if (kx != ky)
        return kx ? -1 : 1;
    if (kx && x->utilization.value != y->utilization.value)
        return x->utilization.value > y->utilization.value ? -1 : 1;
    int c = strcmp(x->family, y->family);
    if (!c)
        c = strcmp(x->provider, y->provider);
    return c ? c : strcmp(x->meter, y->meter);
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp(((const quota_family *)a)->family,
                  ((const quota_family *)b)->family);
}

static void add_family(quota_set *s, const quota_entry *e)
{
    quota_family *f = NULL;
    for (size_t i = 0; i < s->n_fam && !f; i++)
        if (strcmp(s->fam[i].family, e->family) == 0)
            f = &s->fam[i];
    if (!f) {
        s->fam = xrealloc(s->fam, (s->n_fam + 1) * sizeof *s->fam);
        f = &s->fam[s->n_fam++];
        *f = (quota_family){.family = xstrdup(e->family),
                            .alert = ALERT_UNKNOWN,
                            .exhausts_at = {MD_UNKNOWN, 0}};
    }
    /* unknown only when no meter says anything */
    if (f->alert == ALERT_UNKNOWN || (e->alert != ALERT_UNKNOWN &&
                                      e->alert < f->alert))
        f->alert = e->alert;
    if (e->fc.exhausts_at.state == MD_KNOWN &&
        (f->exhausts_at.state != MD_KNOWN ||
         e->fc.exhausts_at.epoch < f->exhausts_at.epoch))
        f->exhausts_at = e->fc.exhausts_at;
}

quota_set *quotas_build(const quotas *q, const quotas_provider *p, size_t n,
                        double now)
{
    quota_set *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->generated_at = now;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += p[i].n;
    s->e = xcalloc(total ? total : 1, sizeof *s->e);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < p[i].n; k++) {
            const metric *m = &p[i].m[k];
            if (!m->id)
                continue;
            const qmeter *qm = cget(q, p[i].provider, m->id);
            quota_entry *e = &s->e[s->n++];
            *e = (quota_entry){
                .family = xstrdup(p[i].family ? p[i].family : p[i].provider),
                .provider = xstrdup(p[i].provider),
                .meter = xstrdup(m->id),
                .kind = xstrdup(m->kind),
                .unit = xstrdup(m->unit),
                .source = xstrdup(m->source),
                .used = m->used, .limit = m->limit,
                .remaining = m->remaining, .utilization = m->utilization,
                .resets_at = m->resets_at, .expires_at = m->expires_at,
                .confidence = m->confidence,
                .alert = ALERT_UNKNOWN,
                .alert_reason = NULL,
            };
            if (qm && qm->evaluated) {
                e->fc = qm->fc;
                e->alert = qm->track.cur;
                e->alert_reason = xstrdup(qm->reason);
            } else {
                md_num unk = {MD_UNKNOWN, 0};
                e->fc = (fc_result){.burn_per_hour = unk, .burn_per_day = unk,
                                    .remaining = unk,
                                    .projected_at_reset = unk,
                                    .projected_utilization_at_reset = unk,
                                    .exhausts_at = {MD_UNKNOWN, 0},
                                    .runway_seconds = unk,
                                    .projected_use_by_expiry = unk,
                                    .reason = FC_R_NO_DATA};
                e->alert_reason = xstrdup("not evaluated yet");
            }
            add_family(s, e);
        }
    }
    /* A provider without meters still has a family (unknown). */
    for (size_t i = 0; i < n; i++) {
        const char *f = p[i].family ? p[i].family : p[i].provider;
        if (!quota_set_family(s, f)) {
            s->fam = xrealloc(s->fam, (s->n_fam + 1) * sizeof *s->fam);
            s->fam[s->n_fam++] = (quota_family){
                .family = xstrdup(f), .alert = ALERT_UNKNOWN,
                .exhausts_at = {MD_UNKNOWN, 0}};
        }
    }
    qsort(s->e, s->n, sizeof *s->e, cmp_entry);
    qsort(s->fam, s->n_fam, sizeof *s->fam, cmp_family);
    s->transitions = q->transitions;
    s->notify_started = notifier_started(q->notify);
    s->notify_failed = notifier_failed(q->notify);
    return s;
}
