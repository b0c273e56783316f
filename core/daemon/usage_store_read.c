/* usage_store_read.c - the usage store read back from the history
 * database (history_db.h): loading (every cell, or only what `meterd
 * report daily` needs), the caller ids of POST /api/telemetry, and the
 * daily report read from the database: the UTC day rollup (usage_day),
 * the per-zone day rollup (usage_zone.h) for any other zone, or the
 * cells themselves when that cannot be used.  The writer is
 * usage_store_file.c (contract and threading: usage_store.h).
 */
#include "usage_store_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "tz.h"
#include "usage_zone.h"

int usage_store_ingest_ids(usage_store *s, size_t max, char ***ids,
                           size_t *n, char **err)
{
    *ids = NULL;
    *n = 0;
    usage_store_open_db(s);
    if (!s->db)
        return err_set(err, "no history database (%s/%s)", s->state_dir,
                       HISTORY_DB_FILE);
    sqlite3_stmt *st = NULL;
    history_db_lock(s->db);
    int rc = sqlite3_prepare_v2(history_db_handle(s->db),
                                "SELECT id FROM (SELECT rowid AS r, id FROM"
                                " ingest_id ORDER BY rowid DESC LIMIT ?1)"
                                " ORDER BY r", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = history_db_error(s->db, "reading ingest ids", err);
        history_db_unlock(s->db);
        return rc;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    char **out = xcalloc(max ? max : 1, sizeof *out);
    size_t k = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < max)
        out[k++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        rc = history_db_error(s->db, "reading ingest ids", err);
        history_db_unlock(s->db);
        for (size_t i = 0; i < k; i++)
            free(out[i]);
        free(out);
        return rc;
    }
    history_db_unlock(s->db);
    *ids = out;
    *n = k;
    return 0;
}

/* ---------------------------------------------------------------- */
/* loading                                                           */
/* ---------------------------------------------------------------- */

static void drop_providers(usage_store *s)
{
    for (size_t i = 0; i < s->n_p; i++)
        uprov_release(&s->p[i]);
    free(s->p);
    s->p = NULL;
    s->n_p = 0;
}

/* ---------------------------------------------------------------- */
/* reading rows                                                      */
/* ---------------------------------------------------------------- */

static md_num col_bucket(sqlite3_stmt *st, int col, int na, int k)
{
    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        return MD_NUM(sqlite3_column_double(st, col));
    return (na & (1 << k)) ? MD_NUM_NA : (md_num){MD_UNKNOWN, 0.0};
}

/* Append a cell read from a row (slot, src, model, b0..b7, na, events,
 * c0..c10 * from column first on) to p; sorted later. */
static void append_row(uprov *p, sqlite3_stmt *st, int first, double slot,
                       int src)
{
    const char *model = (const char *)sqlite3_column_text(st, first);
    int na = sqlite3_column_int(st, first + 1 + UB_N);
    uprov_reserve(p, p->n + 1);
    ucell *c = &p->cells[p->n++];
    c->slot = slot;
    c->src = (uint8_t)src;
    c->model = uprov_model_index(p, model && *model ? model : NULL);
    for (int k = 0; k < UB_N; k++)
        c->b[k] = col_bucket(st, first + 1 + k, na, k);
    c->events = sqlite3_column_double(st, first + 2 + UB_N);
    memset(&c->parts, 0, sizeof c->parts);
    if (sqlite3_column_type(st, first + 3 + UB_N) != SQLITE_NULL) {
        double pv[USAGE_PARTS_N];
        for (int k = 0; k < USAGE_PARTS_N; k++)
            pv[k] = sqlite3_column_double(st, first + 3 + UB_N + k);
        usage_parts_unflatten(&c->parts, pv);
    }
}

/* Sort every provider's cells (rows come in text order of the model, the
 * store sorts by model index). */
static void sort_all(usage_store *s)
{
    for (size_t i = 0; i < s->n_p; i++)
        qsort(s->p[i].cells, s->p[i].n, sizeof *s->p[i].cells, ucell_cmp);
}

static int load_providers(usage_store *s, int meta_only, char **err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *h = history_db_handle(s->db);
    const char *sql =
        meta_only ? "SELECT name, generation, EXISTS (SELECT 1 FROM usage_cell"
                    " WHERE provider = name AND src = 0) FROM usage_provider"
                  : "SELECT name, generation, 0 FROM usage_provider";
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        return history_db_error(s->db, "reading usage providers", err);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uprov *p = uprov_get(s, (const char *)sqlite3_column_text(st, 0));
        p->generation = (unsigned long long)sqlite3_column_int64(st, 1);
        p->db_plugin_cells = sqlite3_column_int(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0
                             : history_db_error(s->db, "reading usage providers",
                                                err);
}

static int load_cells(usage_store *s, char **err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(history_db_handle(s->db),
                           "SELECT provider, slot, src, model, " BUCKET_COLS
                           ", na, events, " PARTS_COLS " FROM usage_cell",
                           -1, &st, NULL) != SQLITE_OK)
        return history_db_error(s->db, "reading usage cells", err);
    int rc;
    uprov *p = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!p || strcmp(p->name, name) != 0)
            p = uprov_get(s, name);
        append_row(p, st, 3, (double)sqlite3_column_int64(st, 1),
                   sqlite3_column_int(st, 2));
    }
    sqlite3_finalize(st);
    sort_all(s);
    return rc == SQLITE_DONE ? 0
                             : history_db_error(s->db, "reading usage cells", err);
}


static int load(usage_store *s, double now, int meta_only, char **err)
{
    drop_providers(s);
    usage_store_open_db(s);
    if (!s->db) {
        pthread_mutex_lock(&s->io);
        int rc = err_set(err, "%s", s->last_error ? s->last_error
                                                  : "cannot open the database");
        pthread_mutex_unlock(&s->io);
        return rc;
    }
    int migrated = 0;
    int rc = usage_store_migrate_json(s, now, &migrated, err);
    char *err2 = NULL;
    history_db_lock(s->db);
    int rc2 = load_providers(s, meta_only, rc ? &err2 : err);
    if (rc2 == 0 && !meta_only)
        rc2 = load_cells(s, rc ? &err2 : err);
    history_db_unlock(s->db);
    free(err2);
    if (rc2 != 0) {
        drop_providers(s);
        rc = -1;
    }
    usage_store_prune(s, now);
    /* What was loaded is in the database already; the retention cut is
     * journaled again by the next image (a meta load holds no cells). */
    usage_store_journal_drop(s);
    s->pruned_from = 0;
    s->imaged_seq = s->seq;
    if (rc < 0)
        return -1;
    return s->n_p || migrated ? 0 : 1;
}

int usage_store_load(usage_store *s, double now, char **err)
{
    return load(s, now, 0, err);
}

int usage_store_load_meta(usage_store *s, double now, char **err)
{
    return load(s, now, 1, err);
}

/* ---------------------------------------------------------------- */
/* the daily report from the database                                */
/* ---------------------------------------------------------------- */

/* Whether z is UTC at every instant the store can hold (probed twice a
 * year from 1970 to 2200): the per-day rollup is kept in UTC days. */
static int zone_is_utc(const tz_zone *z)
{
    for (double t = 0; t < 7.3e9; t += 182.5 * DAY_S)
        if (tz_offset(z, t) != 0)
            return 0;
    return 1;
}

/* Rows of the usage_day / usage_cell reads below into tmp: column 0
 * provider, 1 day or slot, 2 src, 3 on model, buckets, na, events,
 * parts. */
static int read_rows(history_db *db, sqlite3_stmt *st, usage_store *tmp,
                     int days, const char *what, char **err)
{
    int rc;
    uprov *p = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!p || strcmp(p->name, name) != 0)
            p = uprov_get(tmp, name);
        double at = (double)sqlite3_column_int64(st, 1);
        append_row(p, st, 3, days ? at * DAY_S : at,
                   sqlite3_column_int(st, 2));
    }
    sqlite3_finalize(st);
    /* Left in row order: tmp is only read by the report, which sorts
     * what it collects (a long range is ~900 000 cells). */
    return rc == SQLITE_DONE ? 0 : history_db_error(db, what, err);
}

int usage_store_read_cells(history_db *db, usage_store *tmp,
                           const char *provider, long long slot_from,
                           long long slot_to, char **err)
{
    /* One provider at a time, so that the primary key (provider, slot,
     * src, model) seeks the range: a slot range alone reads every row. */
    sqlite3_stmt *names = NULL;
    if (!provider &&
        sqlite3_prepare_v2(history_db_handle(db),
                           "SELECT name FROM usage_provider", -1, &names,
                           NULL) != SQLITE_OK)
        return history_db_error(db, "reading usage providers", err);
    int rc = 0;
    while (rc == 0) {
        const char *name = provider;
        if (names) {
            int step = sqlite3_step(names);
            if (step == SQLITE_DONE)
                break;
            if (step != SQLITE_ROW) {
                rc = history_db_error(db, "reading usage providers", err);
                break;
            }
            name = (const char *)sqlite3_column_text(names, 0);
        }
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(history_db_handle(db),
                               "SELECT provider, slot, src, model, "
                               BUCKET_COLS ", na, events, " PARTS_COLS
                               " FROM usage_cell WHERE provider = ?3 AND"
                               " slot >= ?1 AND slot < ?2",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = history_db_error(db, "reading usage cells", err);
            break;
        }
        sqlite3_bind_int64(st, 1, slot_from);
        sqlite3_bind_int64(st, 2, slot_to);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
        rc = read_rows(db, st, tmp, 0, "reading usage cells", err);
        if (!names)
            break;
    }
    sqlite3_finalize(names);
    return rc;
}

/* The UTC day rollup of days from..to as one cell per (provider, day,
 * model) into the empty store tmp.  With a provider the statement names
 * it, so that the primary key (provider, day, model) seeks its rows
 * instead of every provider's being read and dropped. */
static int read_days(history_db *db, usage_store *tmp, const char *provider,
                     long from, long to, char **err)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        provider ? "SELECT provider, day, 0, model, " BUCKET_COLS ", na,"
                   " events, " PARTS_COLS " FROM usage_day WHERE"
                   " provider = ?3 AND day >= ?1 AND day <= ?2"
                 : "SELECT provider, day, 0, model, " BUCKET_COLS ", na,"
                   " events, " PARTS_COLS " FROM usage_day WHERE"
                   " day >= ?1 AND day <= ?2";
    if (sqlite3_prepare_v2(history_db_handle(db), sql, -1, &st, NULL) !=
        SQLITE_OK)
        return history_db_error(db, "reading the usage report", err);
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (provider)
        sqlite3_bind_text(st, 3, provider, -1, SQLITE_STATIC);
    return read_rows(db, st, tmp, 1, "reading the usage report", err);
}

int usage_store_daily_db(usage_store *s, const char *provider,
                         const char *since, const char *until, const char *tz,
                         usage_daily_detail detail, json_t **out, char **err)
{
    long from = 0, to = tz_days_from_civil(9999, 12, 31);
    *out = NULL;
    if ((since && usage_parse_date(since, &from) != 0) ||
        (until && usage_parse_date(until, &to) != 0) || from > to)
        return usage_store_daily(s, provider, since, until, tz, out, err);
    if (!s->db)
        return err_set(err, "no history database");
    const char *tz_name = tz ? tz : "UTC";
    tz_zone *z = tz_load(tz_name, err);
    if (!z)
        return -1;
    int utc = zone_is_utc(z), rc = 1;
    history_db_lock(s->db);
    if (!utc)
        rc = usage_zone_daily(s->db, provider, since, until, from, to, z,
                              tz_name, detail, out, err);
    usage_store *tmp = NULL;
    if (rc == 1) {
        /* UTC: its own rollup; another zone whose rollup cannot be used
         * (a read-only database): the cells of the range, a day's edges
         * shifted by up to 14 hours. */
        tmp = usage_store_new(s->state_dir, s->retention_ms);
        rc = utc ? read_days(s->db, tmp, provider, from, to, err)
                 : usage_store_read_cells(
                       s->db, tmp, provider,
                       (long long)from * DAY_S - 15 * 3600,
                       ((long long)to + 1) * DAY_S + 15 * 3600, err);
    }
    history_db_unlock(s->db);
    if (rc == 0 && tmp)
        rc = usage_store_daily_detail(tmp, provider, since, until, z,
                                      tz_name, detail, out, err);
    if (tmp)
        usage_store_free(tmp);
    tz_free(z);
    return rc;
}
