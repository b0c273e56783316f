/* advice.c - GET /api/advice: ranking candidate families for use now
 * (contract: quotas_api.h). */
#include "quotas_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quotas.h"
#include "render.h"
#include "timeutil.h"

#define ADVICE_SCHEMA "meterd.advice.v1"
#define CANDIDATE_MAX_LEN 128

enum { V_USE_OR_LOSE, V_AVAILABLE, V_BLOCKED, V_UNKNOWN };

typedef struct cand {
    const char *family;         /* borrowed from the request */
    int tier;                   /* V_* */
    const char *verdict;
    alert_class alert;
    const quota_entry *gov;     /* governing meter, or NULL */
    double headroom;            /* valid when gov */
    int runway_known, runway_endless;
    double runway;
    double again_at;            /* 0 none */
    double expires_at;          /* use_or_lose: soonest expiry, 0 none */
    const quota_entry *lapsing; /* the use_or_lose meter */
    char reason[240];
} cand;

static int known(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value);
}

/* Remaining fraction 0..1 of e into *h: 1, or 0 when it cannot be told. */
static int headroom_of(const quota_entry *e, double *h)
{
    if (known(e->remaining) && known(e->limit) && e->limit.value > 0)
        *h = e->remaining.value / e->limit.value;
    else if (known(e->utilization))
        *h = 1.0 - e->utilization.value / 100.0;
    else
        return 0;
    *h = *h > 1 ? 1 : *h < 0 ? 0 : *h;
    return 1;
}

static void fmt_time(double t, char *b, size_t n)
{
    rfc3339_format(t, b, n);
}

static void assess(cand *c, const view_set *vs, const provider_view *v,
                   size_t n)
{
    const quota_set *q = vs->quotas;
    const quota_family *qf = quota_set_family(q, c->family);
    int members = 0, with_data = 0;
    double next = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].family || strcmp(v[i].family, c->family) != 0)
            continue;
        members++;
        if (v[i].status == PSTAT_DISABLED)
            continue;
        if (v[i].data)
            with_data++;
        if (v[i].next_attempt_at > 0 &&
            (!next || v[i].next_attempt_at < next))
            next = v[i].next_attempt_at;
    }
    c->alert = qf ? qf->alert : ALERT_UNKNOWN;
    if (!members && !qf) {
        c->tier = V_UNKNOWN;
        c->verdict = "unknown";
        snprintf(c->reason, sizeof c->reason, "no configured family '%.64s'",
                 c->family);
        return;
    }
    double hmin = 2;
    for (size_t i = 0; q && i < q->n; i++) {
        const quota_entry *e = &q->e[i];
        if (strcmp(e->family, c->family) != 0)
            continue;
        double h;
        if (headroom_of(e, &h) && (h < hmin || (h == hmin && c->gov &&
                                    (strcmp(e->provider, c->gov->provider) < 0 ||
                                     (strcmp(e->provider, c->gov->provider) == 0 &&
                                      strcmp(e->meter, c->gov->meter) < 0))))) {
            hmin = h;
            c->gov = e;
        }
        if (e->alert == ALERT_EXHAUSTED && e->resets_at.state == MD_KNOWN &&
            e->resets_at.epoch > c->again_at)
            c->again_at = e->resets_at.epoch; /* the last one to reset */
        if (e->alert == ALERT_USE_OR_LOSE && e->expires_at.state == MD_KNOWN &&
            (!c->lapsing || e->expires_at.epoch < c->expires_at)) {
            c->lapsing = e;
            c->expires_at = e->expires_at.epoch;
        }
    }
    if (c->gov) {
        c->headroom = hmin;
        if (known(c->gov->fc.runway_seconds)) {
            c->runway_known = 1;
            c->runway = c->gov->fc.runway_seconds.value;
        } else if (c->gov->fc.reason &&
                   strcmp(c->gov->fc.reason, FC_R_NO_CONSUMPTION) == 0) {
            c->runway_endless = 1;
        }
    }
    char t[48];
    if (!with_data) {
        c->tier = V_BLOCKED;
        c->verdict = "unavailable";
        c->again_at = next;
        if (next > 0) {
            fmt_time(next, t, sizeof t);
            snprintf(c->reason, sizeof c->reason, "no data from its providers;"
                     " next attempt at %s", t);
        } else {
            snprintf(c->reason, sizeof c->reason, "no data from its providers");
        }
        return;
    }
    if (c->alert == ALERT_EXHAUSTED) {
        c->tier = V_BLOCKED;
        c->verdict = "exhausted";
        if (c->again_at > 0) {
            fmt_time(c->again_at, t, sizeof t);
            snprintf(c->reason, sizeof c->reason, "exhausted; available again "
                     "at %s", t);
        } else {
            snprintf(c->reason, sizeof c->reason, "exhausted; no reset known");
        }
        return;
    }
    c->again_at = 0;
    if (c->lapsing) {
        c->tier = V_USE_OR_LOSE;
        c->verdict = "use_or_lose";
        fmt_time(c->expires_at, t, sizeof t);
        snprintf(c->reason, sizeof c->reason, "%s/%s: %s; use it first",
                 c->lapsing->provider, c->lapsing->meter,
                 c->lapsing->alert_reason ? c->lapsing->alert_reason : t);
        return;
    }
    c->tier = V_AVAILABLE;
    c->verdict = "available";
    if (!c->gov) {
        snprintf(c->reason, sizeof c->reason, "available; headroom unknown");
    } else if (c->runway_known) {
        snprintf(c->reason, sizeof c->reason, "headroom %.0f %% on %s/%s, "
                 "runway %.1f h", 100.0 * c->headroom, c->gov->provider,
                 c->gov->meter, c->runway / 3600.0);
    } else {
        snprintf(c->reason, sizeof c->reason, "headroom %.0f %% on %s/%s",
                 100.0 * c->headroom, c->gov->provider, c->gov->meter);
    }
}

static int cmp3(double a, double b)
{
    return (a > b) - (a < b);
}

static int cmp_cand(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->tier != b->tier)
        return a->tier < b->tier ? -1 : 1;
    int c = 0;
    if (a->tier == V_USE_OR_LOSE) {
        c = cmp3(a->expires_at, b->expires_at);
    } else if (a->tier == V_AVAILABLE) {
        int ka = a->gov != NULL, kb = b->gov != NULL;
        if (ka != kb)
            return ka ? -1 : 1;
        if (ka)
            c = -cmp3(a->headroom, b->headroom);
        if (!c) {
            /* endless > known (longer first) > unknown */
            double ra = a->runway_endless ? INFINITY
                        : a->runway_known ? a->runway : -1;
            double rb = b->runway_endless ? INFINITY
                        : b->runway_known ? b->runway : -1;
            c = -cmp3(ra, rb);
        }
    } else if (a->tier == V_BLOCKED) {
        double ta = a->again_at > 0 ? a->again_at : INFINITY;
        double tb = b->again_at > 0 ? b->again_at : INFINITY;
        c = cmp3(ta, tb);
    }
    return c ? c : strcmp(a->family, b->family);
}

static json_t *cand_json(const cand *c, size_t rank)
{
    json_t *o = json_object();
    json_object_set_new(o, "rank", json_integer((json_int_t)rank));
    json_object_set_new(o, "family", json_string(c->family));
    json_object_set_new(o, "verdict", json_string(c->verdict));
    json_object_set_new(o, "alert", json_string(alert_name(c->alert)));
    json_object_set_new(o, "headroom",
                        c->gov ? json_real(c->headroom) : json_null());
    json_object_set_new(o, "runway_seconds",
                        c->runway_known ? json_real(c->runway) : json_null());
    json_object_set_new(o, "governing",
                        c->gov ? json_pack("{s:s, s:s}", "provider",
                                           c->gov->provider, "meter",
                                           c->gov->meter)
                               : json_null());
    json_object_set_new(o, "expires_at",
                        c->expires_at > 0 ? time_to_json(MD_TIME(c->expires_at))
                                          : json_null());
    json_object_set_new(o, "available_again_at",
                        c->again_at > 0 ? time_to_json(MD_TIME(c->again_at))
                                        : json_null());
    json_object_set_new(o, "reason", json_string(c->reason));
    return o;
}

json_t *advice_render(const view_set *vs, const char *const *candidates,
                      size_t n, double now)
{
    provider_view *v = view_set_views_at(vs, now);
    cand *c = xcalloc(n ? n : 1, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c[i].family = candidates[i];
        assess(&c[i], vs, v, vs->n);
    }
    qsort(c, n, sizeof *c, cmp_cand);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, cand_json(&c[i], i + 1));
    free(c);
    free(v);
    json_t *doc = json_object();
    json_object_set_new(doc, "schema", json_string(ADVICE_SCHEMA));
    json_object_set_new(doc, "generated_at", time_to_json(MD_TIME(now)));
    json_object_set_new(doc, "candidates", arr);
    return doc;
}

typedef struct args {
    const char *candidates;     /* MHD-owned */
    char *error;                /* owned */
} args;

static enum MHD_Result take_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
    args *a = cls;
    (void)kind;
    if (a->error)
        return MHD_YES;
    if (strcmp(key, "candidates") != 0)
        a->error = xasprintf("unknown query parameter '%.64s' (known: "
                             "candidates)", key);
    else if (a->candidates)
        a->error = xstrdup("query parameter 'candidates' given twice");
    else if (!value || !*value)
        a->error = xstrdup("query parameter 'candidates' must not be empty");
    else
        a->candidates = value;
    return MHD_YES;
}

static unsigned fail(json_t **doc, char *msg)
{
    *doc = render_error(MHD_HTTP_BAD_REQUEST, msg);
    free(msg);
    return MHD_HTTP_BAD_REQUEST;
}

unsigned advice_api_get(const view_set *vs, struct MHD_Connection *c,
                        json_t **doc)
{
    args a = {.candidates = NULL, .error = NULL};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, take_arg, &a);
    if (a.error)
        return fail(doc, a.error);
    if (!a.candidates)
        return fail(doc, xstrdup("query parameter 'candidates' is required "
                                 "(FAMILY,FAMILY,...)"));
    char *list = xstrdup(a.candidates);
    const char *names[ADVICE_MAX_CANDIDATES];
    size_t n = 0;
    char *msg = NULL;
    for (char *s = list, *comma; s && !msg; s = comma ? comma + 1 : NULL) {
        comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        if (!*s)
            msg = xstrdup("candidates: empty family name");
        else if (strlen(s) > CANDIDATE_MAX_LEN)
            msg = xasprintf("candidates: a family name is longer than %d "
                            "bytes", CANDIDATE_MAX_LEN);
        else if (n == ADVICE_MAX_CANDIDATES)
            msg = xasprintf("candidates: more than %d families",
                            ADVICE_MAX_CANDIDATES);
        for (size_t i = 0; i < n && !msg; i++)
            if (strcmp(names[i], s) == 0)
                msg = xasprintf("candidates: '%.64s' given twice", s);
        if (!msg)
            names[n++] = s;
    }
    if (msg) {
        free(list);
        return fail(doc, msg);
    }
    *doc = advice_render(vs, names, n, time_now());
    free(list);
    return MHD_HTTP_OK;
}
