/* metrics.c - the Prometheus text exposition of GET /metrics (contract:
 * metrics.h; the series: doc/metrics.md).
 *
 * Every family is written by one loop over its inputs right after its
 * HELP and TYPE lines, which is what keeps its samples contiguous. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rank.h"

/* The exposition has no size limit of its own: what bounds it is the
 * number of providers and meters the config and the plugins give. */
#define METRICS_MAX_BYTES (64u * 1024 * 1024)

#define STR_(x) #x
#define STR(x) STR_(x)

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned min;
    unsigned cp;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2, min = 0x80, cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3, min = 0x800, cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void metrics_escape_label(buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        if (*p == '\\') {
            buf_add(b, "\\\\", 2);
        } else if (*p == '"') {
            buf_add(b, "\\\"", 2);
        } else if (*p == '\n') {
            buf_add(b, "\\n", 2);
        } else {
            size_t n = utf8_len(p);
            if (!n) {
                buf_add(b, "\xEF\xBF\xBD", 3);
                p++;
                continue;
            }
            buf_add(b, p, n);
            p += n;
            continue;
        }
        p++;
    }
}

/* A sample value: integral values without an exponent, others in the
 * fewest digits (15, else 17) that read back as the same double. */
static void add_value(buf *b, double v)
{
    if (isinf(v)) {
        buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        buf_printf(b, "%.0f", v);
    } else {
        char text[40];
        snprintf(text, sizeof text, "%.15g", v);
        if (strtod(text, NULL) != v)
            snprintf(text, sizeof text, "%.17g", v);
        buf_addstr(b, text);
    }
}

static void header(buf *b, const char *name, const char *type,
                   const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",...} value\n; labels is a NULL-terminated key, value list. */
static void sample(buf *b, const char *name, const char *const *labels,
                   double v)
{
    buf_addstr(b, name);
    if (labels[0]) {
        buf_add(b, "{", 1);
        for (size_t i = 0; labels[i]; i += 2) {
            if (i)
                buf_add(b, ",", 1);
            buf_printf(b, "%s=\"", labels[i]);
            metrics_escape_label(b, labels[i + 1]);
            buf_add(b, "\"", 1);
        }
        buf_add(b, "}", 1);
    }
    buf_add(b, " ", 1);
    add_value(b, v);
    buf_add(b, "\n", 1);
}

static int known(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value);
}

/* ---- providers ---- */

static void providers_part(buf *b, const provider_view *v, size_t n,
                           double now)
{
    header(b, "meterd_up", "gauge",
           "1 if the provider's last collection succeeded, 0 if it failed "
           "(no sample before the first collection or when disabled).");
    for (size_t i = 0; i < n; i++) {
        if (v[i].status != PSTAT_OK && v[i].status != PSTAT_ERROR)
            continue;
        const char *l[] = {"provider", v[i].name, "plugin", v[i].plugin, NULL};
        sample(b, "meterd_up", l, v[i].status == PSTAT_OK);
    }
    header(b, "meterd_provider_info", "gauge",
           "Always 1: the plugin and family of each configured provider.");
    for (size_t i = 0; i < n; i++) {
        const char *l[] = {"provider", v[i].name, "plugin", v[i].plugin,
                           "family", v[i].family, NULL};
        sample(b, "meterd_provider_info", l, 1);
    }
    header(b, "meterd_collections_total", "counter",
           "Finished collections since the daemon started, by result (ok or "
           "the error class).");
    for (size_t i = 0; i < n; i++)
        for (unsigned c = 0; c < VIEW_RESULT_CLASSES; c++) {
            const char *res = c == MD_ERR_NONE ? "ok" : md_error_name((md_error)c);
            const char *l[] = {"provider", v[i].name, "result", res, NULL};
            sample(b, "meterd_collections_total", l,
                   (double)v[i].stats.by_result[c]);
        }
    header(b, "meterd_collection_duration_seconds", "histogram",
           "How long collections took, from helper start to result.");
    static const double bounds[VIEW_DURATION_BUCKETS] = VIEW_DURATION_BOUNDS;
    for (size_t i = 0; i < n; i++) {
        const collection_stats *st = &v[i].stats;
        unsigned long cum = 0;
        for (size_t k = 0; k <= VIEW_DURATION_BUCKETS; k++) {
            char le[32];
            if (k < VIEW_DURATION_BUCKETS)
                snprintf(le, sizeof le, "%g", bounds[k]);
            else
                strcpy(le, "+Inf");
            cum += st->duration_in[k];
            const char *l[] = {"provider", v[i].name, "le", le, NULL};
            sample(b, "meterd_collection_duration_seconds_bucket", l, (double)cum);
        }
        const char *l[] = {"provider", v[i].name, NULL};
        sample(b, "meterd_collection_duration_seconds_sum", l, st->duration_sum);
        sample(b, "meterd_collection_duration_seconds_count", l,
               (double)st->duration_count);
    }
    header(b, "meterd_last_success_timestamp_seconds", "gauge",
           "When the provider's last successful collection finished (Unix "
           "time; no sample if it never succeeded).");
    for (size_t i = 0; i < n; i++) {
        if (v[i].stats.last_success_at <= 0)
            continue;
        const char *l[] = {"provider", v[i].name, NULL};
        sample(b, "meterd_last_success_timestamp_seconds", l,
               v[i].stats.last_success_at);
    }
    header(b, "meterd_data_age_seconds", "gauge",
           "Age of the data served for the provider (no sample without "
           "data).");
    for (size_t i = 0; i < n; i++) {
        if (!v[i].data || v[i].collected_at <= 0)
            continue;
        double age = now - v[i].collected_at;
        const char *l[] = {"provider", v[i].name, NULL};
        sample(b, "meterd_data_age_seconds", l, age > 0 ? age : 0);
    }
}

/* ---- meters ---- */

/* Whether metric k of view p is shown: only the first metric of an id. */
static int meter_shown(const provider_view *p, size_t k)
{
    const collect_result *r = p->data;
    for (size_t j = 0; j < k; j++)
        if (strcmp(r->metrics[j].id, r->metrics[k].id) == 0)
            return 0;
    return 1;
}

typedef enum { MV_USED, MV_LIMIT, MV_REMAINING, MV_UTIL, MV_WINDOW, MV_RESET } meter_value;

static const struct {
    const char *name, *help;
} meter_series[] = {
    [MV_USED] = {"meterd_meter_used", "What the meter has used, in its unit."},
    [MV_LIMIT] = {"meterd_meter_limit", "The meter's limit, in its unit."},
    [MV_REMAINING] = {"meterd_meter_remaining", "What is left of the meter, in its unit."},
    [MV_UTIL] = {"meterd_meter_utilization_ratio",
                 "Used share of the meter's limit, 0..1 (above 1 when over quota)."},
    [MV_WINDOW] = {"meterd_meter_window_seconds", "Length of the meter's window."},
    [MV_RESET] = {"meterd_meter_reset_timestamp_seconds",
                  "When the meter resets (Unix time)."},
};

static int meter_get(const metric *m, meter_value which, double *out)
{
    md_num v;
    switch (which) {
    case MV_USED: v = m->used; break;
    case MV_LIMIT: v = m->limit; break;
    case MV_REMAINING: v = m->remaining; break;
    case MV_UTIL: v = m->utilization; break;
    case MV_WINDOW: v = m->window_seconds; break;
    default:
        if (m->resets_at.state != MD_KNOWN || !isfinite(m->resets_at.epoch))
            return 0;
        *out = m->resets_at.epoch;
        return 1;
    }
    if (!known(v))
        return 0;
    *out = which == MV_UTIL ? v.value / 100.0 : v.value;
    return 1;
}

static void meters_part(buf *b, const provider_view *v, size_t n)
{
    for (meter_value which = MV_USED; which <= MV_RESET; which++) {
        header(b, meter_series[which].name, "gauge", meter_series[which].help);
        for (size_t i = 0; i < n; i++) {
            if (!v[i].data || v[i].status == PSTAT_DISABLED)
                continue;
            for (size_t k = 0; k < v[i].data->n_metrics; k++) {
                const metric *m = &v[i].data->metrics[k];
                double x;
                if (!meter_get(m, which, &x) || !meter_shown(&v[i], k))
                    continue;
                const char *l[] = {"provider", v[i].name, "family", v[i].family,
                                   "meter", m->id, "kind", m->kind,
                                   "unit", m->unit ? m->unit : "", NULL};
                sample(b, meter_series[which].name, l, x);
            }
        }
    }
}

/* ---- alerts and forecasts (quotas.h) ---- */

/* The alert classes of the state set.  Unknown is not one of them: a
 * meter whose class is unknown has no alert sample at all. */
static const alert_class alert_states[] = {
    ALERT_EXHAUSTED, ALERT_TOPUP, ALERT_USE_OR_LOSE, ALERT_WATCH, ALERT_OK};
#define N_ALERT_STATES (sizeof alert_states / sizeof alert_states[0])

/* What a burn rate is measured in (forecast.h, "consumption"). */
static const char *basis_name(fc_basis b)
{
    switch (b) {
    case FC_BASIS_USED: return "used";
    case FC_BASIS_LIMIT_MINUS_REMAINING: return "limit_minus_remaining";
    case FC_BASIS_UTILIZATION: return "utilization";
    case FC_BASIS_REMAINING_DECLINE: return "remaining_decline";
    default: return NULL;
    }
}

/* The quota entry of provider's meter: the first in q, as
 * quota_set_alert() finds it. */
static const quota_entry *entry_of(const quota_set *q, const char *provider,
                                   const char *meter)
{
    for (size_t i = 0; q && i < q->n; i++)
        if (strcmp(q->e[i].provider, provider) == 0 &&
            strcmp(q->e[i].meter, meter) == 0)
            return &q->e[i];
    return NULL;
}

/* One sample per known class, 1 for cur; none when cur is unknown. */
static void alert_state_set(buf *b, const char *name, const char **l,
                            size_t slot, alert_class cur)
{
    if (cur == ALERT_UNKNOWN)
        return;
    for (size_t k = 0; k < N_ALERT_STATES; k++) {
        l[slot] = alert_name(alert_states[k]);
        sample(b, name, l, alert_states[k] == cur);
    }
}

/* The quota entry of metric k of view p when it is shown, else NULL. */
static const quota_entry *shown_entry(const provider_view *p, size_t k,
                                      const quota_set *q)
{
    if (!p->data || p->status == PSTAT_DISABLED || !meter_shown(p, k))
        return NULL;
    return entry_of(q, p->name, p->data->metrics[k].id);
}

typedef enum { FV_RUNWAY, FV_EXHAUSTS, FV_BURN, FV_PROJ_UTIL } forecast_value;

static const struct {
    const char *name, *help;
} forecast_series[] = {
    [FV_RUNWAY] = {"meterd_meter_runway_seconds",
                   "How long what is left of the meter lasts at its burn rate "
                   "(no sample when unknown, e.g. no consumption)."},
    [FV_EXHAUSTS] = {"meterd_meter_exhausts_at_timestamp_seconds",
                     "When the meter runs out at its burn rate, if before its "
                     "reset (Unix time; no sample otherwise)."},
    [FV_BURN] = {"meterd_meter_burn_per_second",
                 "The meter's consumption per second over its current window, "
                 "in its unit; basis=\"utilization\": utilization ratio per "
                 "second."},
    [FV_PROJ_UTIL] = {"meterd_meter_projected_utilization_at_reset_ratio",
                      "Projected used share of the meter's limit at its "
                      "reset, 0..1 (above 1: it runs out first)."},
};

static int forecast_get(const fc_result *fc, forecast_value which,
                        double *out)
{
    switch (which) {
    case FV_RUNWAY:
        if (!known(fc->runway_seconds))
            return 0;
        *out = fc->runway_seconds.value;
        return 1;
    case FV_EXHAUSTS:
        if (fc->exhausts_at.state != MD_KNOWN || !isfinite(fc->exhausts_at.epoch))
            return 0;
        *out = fc->exhausts_at.epoch;
        return 1;
    case FV_BURN:
        if (!known(fc->burn_per_hour) || !basis_name(fc->basis))
            return 0;
        *out = fc->burn_per_hour.value / 3600.0 /
               (fc->basis == FC_BASIS_UTILIZATION ? 100.0 : 1.0);
        return 1;
    default:
        if (!known(fc->projected_utilization_at_reset))
            return 0;
        *out = fc->projected_utilization_at_reset.value / 100.0;
        return 1;
    }
}

static void quotas_part(buf *b, const provider_view *v, size_t n,
                        const quota_set *q)
{
    header(b, "meterd_meter_alert", "gauge",
           "The meter's alert class as a state set: 1 for the current "
           "class, 0 for the others (no sample while unknown).");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; v[i].data && k < v[i].data->n_metrics; k++) {
            const quota_entry *e = shown_entry(&v[i], k, q);
            if (!e)
                continue;
            const char *l[] = {"provider", v[i].name, "family", v[i].family,
                               "meter", e->meter, "alert", NULL, NULL};
            alert_state_set(b, "meterd_meter_alert", l, 7, e->alert);
        }
    for (forecast_value which = FV_RUNWAY; which <= FV_PROJ_UTIL; which++) {
        header(b, forecast_series[which].name, "gauge",
               forecast_series[which].help);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; v[i].data && k < v[i].data->n_metrics; k++) {
                const quota_entry *e = shown_entry(&v[i], k, q);
                double x;
                if (!e || !forecast_get(&e->fc, which, &x))
                    continue;
                const metric *m = &v[i].data->metrics[k];
                const char *l[] = {"provider", v[i].name, "family", v[i].family,
                                   "meter", m->id, "kind", m->kind,
                                   "unit", m->unit ? m->unit : "",
                                   which == FV_BURN ? "basis" : NULL,
                                   basis_name(e->fc.basis), NULL};
                sample(b, forecast_series[which].name, l, x);
            }
    }
    header(b, "meterd_family_alert", "gauge",
           "The family's alert class (its most urgent meter's) as a state "
           "set: 1 for the current class, 0 for the others (no sample "
           "while unknown).");
    for (size_t i = 0; q && i < q->n_fam; i++) {
        const char *l[] = {"family", q->fam[i].family, "alert", NULL, NULL};
        alert_state_set(b, "meterd_family_alert", l, 3, q->fam[i].alert);
    }
    header(b, "meterd_family_exhausts_at_timestamp_seconds", "gauge",
           "When the family's first meter runs out at its burn rate (Unix "
           "time; no sample when none is forecast to run out before its "
           "reset).");
    for (size_t i = 0; q && i < q->n_fam; i++) {
        const md_time *t = &q->fam[i].exhausts_at;
        if (t->state != MD_KNOWN || !isfinite(t->epoch))
            continue;
        const char *l[] = {"family", q->fam[i].family, NULL};
        sample(b, "meterd_family_exhausts_at_timestamp_seconds", l, t->epoch);
    }
    static const char *const none[] = {NULL};
    header(b, "meterd_alert_transitions_total", "counter",
           "Alert class changes of all meters since the daemon started (a "
           "meter's first class counts unless it is ok).");
    if (q)
        sample(b, "meterd_alert_transitions_total", none, (double)q->transitions);
    header(b, "meterd_alert_notify_started_total", "counter",
           "Notify commands started for alert transitions since the daemon "
           "started.");
    if (q)
        sample(b, "meterd_alert_notify_started_total", none,
               (double)q->notify_started);
    header(b, "meterd_alert_notify_failed_total", "counter",
           "Notify commands that could not start, exited non-zero, died of "
           "a signal or timed out since the daemon started.");
    if (q)
        sample(b, "meterd_alert_notify_failed_total", none,
               (double)q->notify_failed);
}

/* ---- families ---- */

static void families_part(buf *b, const provider_view *v, size_t n,
                          double now)
{
    family_summary *fs = NULL;
    size_t nf = rank_families(v, n, now, &fs);
    static const char *const statuses[] = {"ok", "degraded", "unavailable"};
    header(b, "meterd_family_status", "gauge",
           "1 for the family's current status (ok, degraded, unavailable).");
    for (size_t i = 0; i < nf; i++)
        for (size_t k = 0; k < 3; k++) {
            if (strcmp(fs[i].status, statuses[k]) != 0)
                continue;
            const char *l[] = {"family", fs[i].family, "status", statuses[k], NULL};
            sample(b, "meterd_family_status", l, 1);
        }
    header(b, "meterd_family_usage_remaining", "gauge",
           "What is left of the family's governing meter, in its unit (as "
           "usage_remaining in the usage API).");
    for (size_t i = 0; i < nf; i++) {
        if (!known(fs[i].usage_remaining) || !fs[i].usage_remaining_unit)
            continue;
        const char *l[] = {"family", fs[i].family, "unit",
                           fs[i].usage_remaining_unit, NULL};
        sample(b, "meterd_family_usage_remaining", l, fs[i].usage_remaining.value);
    }
    header(b, "meterd_family_utilization_ratio", "gauge",
           "Used share of the family's governing meter, 0..1 (above 1 when "
           "over quota).");
    for (size_t i = 0; i < nf; i++) {
        if (!fs[i].governing || !known(fs[i].governing->utilization))
            continue;
        const char *l[] = {"family", fs[i].family, NULL};
        sample(b, "meterd_family_utilization_ratio", l,
               fs[i].governing->utilization.value / 100.0);
    }
    header(b, "meterd_family_available_again_timestamp_seconds", "gauge",
           "When an exhausted family has capacity again (Unix time; no "
           "sample unless exhausted with a known reset).");
    for (size_t i = 0; i < nf; i++) {
        if (fs[i].available_again_at.state != MD_KNOWN)
            continue;
        const char *l[] = {"family", fs[i].family, NULL};
        sample(b, "meterd_family_available_again_timestamp_seconds", l,
               fs[i].available_again_at.epoch);
    }
    family_summaries_free(fs, nf);
}

/* ---- usage history ---- */

static void usage_part(buf *b, const usage_total *t, size_t nt)
{
    /* Bucket label: the report's key without "tokens_". */
    static const char *const buckets[UB_COST] = {
        [UB_INPUT_UNCACHED] = "input_uncached", [UB_CACHE_READ] = "cache_read",
        [UB_CACHE_WRITE] = "cache_write", [UB_OUTPUT] = "output",
        [UB_REASONING] = "reasoning", [UB_TOTAL] = "total"};
    header(b, "meterd_usage_tokens_total", "counter",
           "Tokens in the usage history, by bucket (never decreasing; "
           "bucket total is the sum the source reported: do not add it to "
           "the others).");
    for (size_t i = 0; i < nt; i++)
        for (int k = 0; k < UB_COST; k++) {
            if (!(t[i].has & (1u << k)))
                continue;
            const char *l[] = {"provider", t[i].provider, "bucket", buckets[k], NULL};
            sample(b, "meterd_usage_tokens_total", l, t[i].total[k]);
        }
    header(b, "meterd_usage_cost_usd_total", "counter",
           "Cost in US dollars as the source reported it with its usage "
           "(never decreasing; no table prices applied: the daily report's "
           "cost is meterd_usage_model_cost_usd_total).");
    for (size_t i = 0; i < nt; i++) {
        if (!(t[i].has & (1u << UB_COST)))
            continue;
        const char *l[] = {"provider", t[i].provider, NULL};
        sample(b, "meterd_usage_cost_usd_total", l, t[i].total[UB_COST]);
    }
    header(b, "meterd_usage_model_cost_usd_total", "counter",
           "Cost in US dollars in the usage history by model, as in the "
           "daily report (never decreasing; no sample for a model whose "
           "cost is unknown; at most " STR(USAGE_COUNTER_MODELS_MAX)
           " models per provider, later ones under model=\"" USAGE_COUNTER_OTHER "\").");
    for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < t[i].n_models; k++) {
            const char *l[] = {"provider", t[i].provider,
                               "model", t[i].models[k].model, NULL};
            sample(b, "meterd_usage_model_cost_usd_total", l, t[i].models[k].cost);
        }
}

char *metrics_render(const provider_view *v, size_t n, const usage_total *t,
                     size_t nt, const quota_set *q, double now, size_t *len)
{
    buf b;
    buf_init(&b, METRICS_MAX_BYTES);
    providers_part(&b, v, n, now);
    meters_part(&b, v, n);
    quotas_part(&b, v, n, q);
    families_part(&b, v, n, now);
    usage_part(&b, t, nt);
    *len = buf_len(&b);
    return buf_take(&b);
}
