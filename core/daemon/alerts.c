/* alerts.c - alert classes and the flapping guard (contract: alerts.h). */
#include "alerts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"

static const char *const names[ALERT_N] = {
    [ALERT_EXHAUSTED] = "exhausted", [ALERT_TOPUP] = "topup",
    [ALERT_USE_OR_LOSE] = "use_or_lose", [ALERT_WATCH] = "watch",
    [ALERT_OK] = "ok", [ALERT_UNKNOWN] = "unknown",
};

const char *alert_name(alert_class a)
{
    return a >= 0 && a < ALERT_N ? names[a] : "unknown";
}

int alert_from_name(const char *s)
{
    for (int i = 0; i < ALERT_N; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int known(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value);
}

alert_class alert_classify(const metric *m, const fc_result *fc,
                           const fc_settings *st, char *why, size_t n)
{
    char t[48];
    if ((known(m->remaining) && m->remaining.value <= 0) ||
        (known(m->utilization) && m->utilization.value >= 100)) {
        if (known(m->utilization) && m->utilization.value >= 100)
            snprintf(why, n, "utilization %.1f %% >= 100 %%",
                     m->utilization.value);
        else
            snprintf(why, n, "nothing remaining");
        return ALERT_EXHAUSTED;
    }
    if (fc->exhausts_at.state == MD_KNOWN &&
        (m->expires_at.state != MD_KNOWN ||
         fc->exhausts_at.epoch < m->expires_at.epoch)) {
        rfc3339_format(fc->exhausts_at.epoch, t, sizeof t);
        snprintf(why, n, "runs out at %s, before %s", t,
                 m->resets_at.state == MD_KNOWN ? "its reset"
                 : m->expires_at.state == MD_KNOWN ? "its expiry"
                                                   : "any reset");
        return ALERT_TOPUP;
    }
    if (known(st->topup_below) && known(fc->remaining) &&
        fc->remaining.value < st->topup_below.value) {
        snprintf(why, n, "remaining %g under topup_below %g",
                 fc->remaining.value, st->topup_below.value);
        return ALERT_TOPUP;
    }
    if (fc->use_or_lose) {
        rfc3339_format(m->expires_at.epoch, t, sizeof t);
        snprintf(why, n, "%g of %g would lapse unused at %s",
                 fc->remaining.value - fc->projected_use_by_expiry.value,
                 fc->remaining.value, t);
        return ALERT_USE_OR_LOSE;
    }
    if (known(m->utilization) && m->utilization.value >= st->watch_at) {
        snprintf(why, n, "utilization %.1f %% >= watch_at %g %%",
                 m->utilization.value, st->watch_at);
        return ALERT_WATCH;
    }
    if (known(fc->projected_utilization_at_reset) &&
        fc->projected_utilization_at_reset.value > 100) {
        snprintf(why, n, "projected %.1f %% at the reset",
                 fc->projected_utilization_at_reset.value);
        return ALERT_WATCH;
    }
    if (known(m->used) || known(m->limit) || known(m->remaining) ||
        known(m->utilization)) {
        snprintf(why, n, "within limits");
        return ALERT_OK;
    }
    snprintf(why, n, "no data");
    return ALERT_UNKNOWN;
}

void alert_track_init(alert_track *t)
{
    *t = (alert_track){.cur = ALERT_UNKNOWN, .out_since = 0, .seen = 0};
}

int alert_track_update(alert_track *t, alert_class seen, double now,
                       long long hold_ms, alert_class *from)
{
    *from = t->cur;
    if (seen == t->cur) {
        t->out_since = 0;
        t->seen = 1;
        return 0;
    }
    if (seen > t->cur && t->seen) { /* less urgent: held */
        if (!(t->out_since > 0))
            t->out_since = now;
        if ((now - t->out_since) * 1000.0 < (double)hold_ms)
            return 0;
    }
    t->cur = seen;
    t->out_since = 0;
    t->seen = 1;
    return 1;
}
