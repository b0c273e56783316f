/* alerts.c - alert classes and the flapping guard (contract: alerts.h). */
#include "alerts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "history_db.h"
#include "log.h"
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
    *t = (alert_track){.cur = ALERT_UNKNOWN, .out_since = 0, .seen = 0,
                       .since = 0};
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
    t->since = now;
    return 1;
}

/* ---- persistence ---- */

void alert_saved_free(alert_saved *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].provider);
        free(v[i].meter);
    }
    free(v);
}

int alert_state_read(struct history_db *db, alert_saved **out, size_t *n,
                     char **err)
{
    *out = NULL;
    *n = 0;
    history_db_lock(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(history_db_handle(db),
                           "SELECT provider, meter, class, since, out_since"
                           " FROM alert_state ORDER BY provider, meter",
                           -1, &st, NULL) != SQLITE_OK) {
        int rc = history_db_error(db, "reading alert states", err);
        history_db_unlock(db);
        return rc;
    }
    alert_saved *v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        const char *m = (const char *)sqlite3_column_text(st, 1);
        int c = alert_from_name((const char *)sqlite3_column_text(st, 2));
        if (!p || !m || c < 0)
            continue;
        v = xrealloc(v, (k + 1) * sizeof *v);
        v[k++] = (alert_saved){
            .provider = xstrdup(p), .meter = xstrdup(m),
            .track = {.cur = (alert_class)c, .seen = 1,
                      .since = sqlite3_column_double(st, 3),
                      .out_since = sqlite3_column_type(st, 4) == SQLITE_NULL
                                       ? 0 : sqlite3_column_double(st, 4)}};
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        rc = history_db_error(db, "reading alert states", err);
        history_db_unlock(db);
        alert_saved_free(v, k);
        return rc;
    }
    history_db_unlock(db);
    *out = v;
    *n = k;
    return 0;
}

static int write_row(history_db *db, sqlite3_stmt *put, sqlite3_stmt *del,
                     sqlite3_stmt *del_all, const alert_row *r, char **err)
{
    sqlite3_stmt *st = r->track ? put : r->meter ? del : del_all;
    sqlite3_bind_text(st, 1, r->provider, -1, SQLITE_STATIC);
    if (st != del_all)
        sqlite3_bind_text(st, 2, r->meter, -1, SQLITE_STATIC);
    if (r->track) {
        sqlite3_bind_text(st, 3, alert_name(r->track->cur), -1,
                          SQLITE_STATIC);
        sqlite3_bind_double(st, 4, r->track->since);
        if (r->track->out_since > 0)
            sqlite3_bind_double(st, 5, r->track->out_since);
        else
            sqlite3_bind_null(st, 5);
    }
    int rc = sqlite3_step(st) == SQLITE_DONE
                 ? 0 : history_db_error(db, "writing an alert state", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int alert_state_write(struct history_db *db, const alert_row *rows, size_t n,
                      char **err)
{
    if (!n)
        return 0;
    history_db_lock(db);
    sqlite3 *h = history_db_handle(db);
    sqlite3_stmt *put = NULL, *del = NULL, *del_all = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(h, "INSERT OR REPLACE INTO alert_state"
                              "(provider, meter, class, since, out_since)"
                              " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "DELETE FROM alert_state WHERE provider = ?1"
                              " AND meter = ?2", -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "DELETE FROM alert_state WHERE provider = ?1",
                           -1, &del_all, NULL) != SQLITE_OK) {
        history_db_error(db, "preparing the alert state writes", err);
        goto out;
    }
    if (history_db_begin(db, err) != 0)
        goto out;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = write_row(db, put, del, del_all, &rows[i], err);
    if (rc == 0)
        rc = history_db_commit(db, err);
    if (rc != 0)
        history_db_rollback(db);
out:
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    sqlite3_finalize(del_all);
    history_db_unlock(db);
    return rc;
}
