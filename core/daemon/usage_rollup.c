/* usage_rollup.c - the usage store's UTC day rollup (usage_day): the
 * usage_rollup SQL aggregate and the one-pass rollups the writer
 * (usage_store_file.c) runs at the end of each write for the days it
 * changed.  Shared writer and invariants: usage_rollup.h.
 */
#include "usage_rollup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "usage_zone.h"

/* The day rollup as one aggregate: usage_rollup(b0..b7, na, events,
 * c0..c10) over a day's cells of one model gives a blob that
 * usage_rollup_col(blob, i) takes apart into the usage_day columns (i:
 * bucket 0..UB_N-1, then na, events, the parts).  The rule of each column
 * is the SQL it replaced, value for value:
 *   bucket k: NULL when a cell has it unknown (NULL and not flagged not
 *     applicable) or every cell has it not applicable, else total(bk);
 *   na: bit k when no cell has it unknown and every cell not applicable;
 *   events: sum(events);
 *   part k: NULL unless every cell has parts (c0 not NULL), else
 *     total(ck).
 * total() is SQLite's running double sum (in the order the GROUP BY hands
 * the rows over, which the aggregate does not change); one C call per
 * cell instead of ~40 SQL aggregates made the rollup about 4 times
 * cheaper.  The writer no longer runs the GROUP BY: its sort of every
 * cell was then most of the rollup's cost.  It adds the same values in
 * the same order through the same acc_add, from one pass over the cells
 * in key order (rollup_days) or, when the transaction wrote all of a
 * provider's cells, from those cells (rollup_fresh); the SQL form stays
 * for the test that holds the three to the same rows
 * (usage_store_rollup_sql). */

typedef struct rollup_acc {
    long long rows;
    unsigned unknown;        /* buckets some cell has unknown */
    unsigned all_na;         /* buckets every cell has not applicable */
    int parts_missing;       /* some cell has no parts */
    double b[UB_N], events, c[USAGE_PARTS_N];
} rollup_acc;

/* What usage_rollup returns: the column values, NULL where null bit i. */
typedef struct rollup_row {
    double v[ROLLUP_COLS];
    uint32_t null;
} rollup_row;
_Static_assert(ROLLUP_COLS <= 32, "null bits fit");

/* One cell into a, from its column values in usage_rollup's argument
 * order (null[i]: column i is NULL; v[UB_N]: na).  The only place the
 * rollup adds: the SQL aggregate and the scan (rollup_days) both call it,
 * so their sums are the same operations in the same order. */
static void acc_add(rollup_acc *a, const int *null, const double *v)
{
    long long na = (long long)v[UB_N];
    if (a->rows++ == 0)
        a->all_na = ~0u;
    a->all_na &= (unsigned)na;
    for (int k = 0; k < UB_N; k++) {
        if (!null[k])
            a->b[k] += v[k];
        else if (!(na & (1 << k)))
            a->unknown |= 1u << k;
    }
    a->events += v[UB_N + 1];
    const int c0 = UB_N + 2;
    if (null[c0])
        a->parts_missing = 1;
    for (int k = 0; k < USAGE_PARTS_N; k++)
        if (!null[c0 + k])
            a->c[k] += v[c0 + k];
}

/* The usage_day values of a group of a->rows > 0 cells. */
static void acc_row(const rollup_acc *a, rollup_row *r)
{
    memset(r, 0, sizeof *r);
    long long na = 0;
    for (int k = 0; k < UB_N; k++) {
        unsigned bit = 1u << k;
        if ((a->unknown & bit) || (a->all_na & bit))
            r->null |= 1u << k;
        else
            r->v[k] = a->b[k];
        if (!(a->unknown & bit) && (a->all_na & bit))
            na |= bit;
    }
    r->v[UB_N] = (double)na;
    r->v[UB_N + 1] = a->events;
    for (int k = 0; k < USAGE_PARTS_N; k++) {
        if (a->parts_missing)
            r->null |= 1u << (UB_N + 2 + k);
        else
            r->v[UB_N + 2 + k] = a->c[k];
    }
}

static void rollup_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    rollup_acc *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (!a || argc != ROLLUP_ARGS)
        return;
    int null[ROLLUP_ARGS];
    double v[ROLLUP_ARGS];
    for (int i = 0; i < ROLLUP_ARGS; i++) {
        null[i] = sqlite3_value_type(argv[i]) == SQLITE_NULL;
        v[i] = i == UB_N ? (double)sqlite3_value_int64(argv[i])
                         : sqlite3_value_double(argv[i]);
    }
    acc_add(a, null, v);
}

static void rollup_final(sqlite3_context *ctx)
{
    rollup_acc *a = sqlite3_aggregate_context(ctx, 0);
    if (!a || a->rows == 0) {
        sqlite3_result_null(ctx);
        return;
    }
    rollup_row r;
    acc_row(a, &r);
    sqlite3_result_blob(ctx, &r, sizeof r, SQLITE_TRANSIENT);
}

static void rollup_col(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    rollup_row r;
    int i = argc == 2 ? sqlite3_value_int(argv[1]) : -1;
    if (sqlite3_value_bytes(argv[0]) != (int)sizeof r || i < 0 ||
        i >= ROLLUP_COLS) {
        sqlite3_result_error(ctx, "usage_rollup_col: bad arguments", -1);
        return;
    }
    memcpy(&r, sqlite3_value_blob(argv[0]), sizeof r);
    if (r.null & (1u << i))
        sqlite3_result_null(ctx);
    else if (i == UB_N)
        sqlite3_result_int64(ctx, (sqlite3_int64)r.v[i]);
    else
        sqlite3_result_double(ctx, r.v[i]);
}

/* Once per connection, before the first write (usage_store_open_db). */
int rollup_register(history_db *db, char **err)
{
    sqlite3 *h = history_db_handle(db);
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    if (sqlite3_create_function_v2(h, "usage_rollup", ROLLUP_ARGS, flags,
                                   NULL, NULL, rollup_step, rollup_final,
                                   NULL) != SQLITE_OK ||
        sqlite3_create_function_v2(h, "usage_rollup_col", 2, flags, NULL,
                                   rollup_col, NULL, NULL,
                                   NULL) != SQLITE_OK)
        return history_db_error(db, "registering the day rollup", err);
    return 0;
}

/* The rollup of cells into usage_day, for provider ?1 and days ?2..?3
 * (one statement text, built once). */
const char *rollup_sql(void)
{
    static char sql[4096];
    if (sql[0])
        return sql;
    size_t o = 0;
    o += (size_t)snprintf(sql + o, sizeof sql - o,
                          "INSERT INTO usage_day(provider, day, model, "
                          BUCKET_COLS ", na, events, " PARTS_COLS
                          ") SELECT provider, d, model");
    for (int i = 0; i < ROLLUP_COLS; i++)
        o += (size_t)snprintf(sql + o, sizeof sql - o,
                              ", usage_rollup_col(r, %d)", i);
    snprintf(sql + o, sizeof sql - o,
             " FROM (SELECT provider, slot / %d AS d, model,"
             " usage_rollup(" BUCKET_COLS ", na, events, " PARTS_COLS
             ") AS r FROM usage_cell WHERE provider = ?1 AND"
             " slot >= ?2 * %d AND slot < (?3 + 1) * %d GROUP BY d, model)",
             DAY_S, DAY_S, DAY_S);
    return sql;
}

/* One model's group of the day being rolled up. */
typedef struct day_group {
    char *model;         /* owned */
    rollup_acc a;
} day_group;

/* The groups of the day being rolled up: cells arrive in key order
 * (slot, src, model), so a day's cells are consecutive and only one
 * day's groups are held; within a group they come in (slot, src) order,
 * the order in which the GROUP BY's sorter (stable for equal keys) handed
 * them to the aggregate. */
typedef struct day_acc {
    day_group *g;
    size_t n, cap;
    long long day;
} day_acc;

static int group_cmp(const void *pa, const void *pb)
{
    /* BINARY collation: the order of GROUP BY's output */
    return strcmp(((const day_group *)pa)->model,
                  ((const day_group *)pb)->model);
}

/* Insert the rows of the held day's groups (in model order, as the
 * GROUP BY gave them) and empty the groups. */
static int day_flush(writer *w, const char *provider, day_acc *da, int rc,
                     char **err)
{
    qsort(da->g, da->n, sizeof *da->g, group_cmp);
    for (size_t i = 0; i < da->n; i++) {
        sqlite3_stmt *st = writer_stmt(w, ST_DAY_PUT);
        if (rc == 0 && st) {
            rollup_row r;
            acc_row(&da->g[i].a, &r);
            sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, da->day);
            sqlite3_bind_text(st, 3, da->g[i].model, -1, SQLITE_STATIC);
            for (int k = 0; k < ROLLUP_COLS; k++) {
                if (r.null & (1u << k))
                    sqlite3_bind_null(st, 4 + k);
                else if (k == UB_N)
                    sqlite3_bind_int64(st, 4 + k, (sqlite3_int64)r.v[k]);
                else
                    sqlite3_bind_double(st, 4 + k, r.v[k]);
            }
            rc = writer_run(w, st, "rebuilding the day rollup", err);
        } else if (rc == 0) {
            rc = err_set(err, "%s", w->prep_err);
        }
        free(da->g[i].model);
    }
    da->n = 0;
    return rc;
}

/* One cell of day d (its usage_cell values, as usage_rollup takes them). */
static int day_add(writer *w, const char *provider, day_acc *da, long long d,
                   const char *model, const int *null, const double *v,
                   char **err)
{
    int rc = 0;
    if (da->n && d != da->day)
        rc = day_flush(w, provider, da, 0, err);
    da->day = d;
    size_t i = 0;
    while (i < da->n && strcmp(da->g[i].model, model) != 0)
        i++;
    if (i == da->n) {
        if (da->n == da->cap) {
            da->cap = da->cap ? 2 * da->cap : 16;
            da->g = xrealloc(da->g, da->cap * sizeof *da->g);
        }
        da->g[da->n++] = (day_group){.model = xstrdup(model)};
    }
    acc_add(&da->g[i].a, null, v);
    return rc;
}

/* The last day's rows (when rc is 0); frees da. */
static int day_end(writer *w, const char *provider, day_acc *da, int rc,
                   char **err)
{
    rc = day_flush(w, provider, da, rc, err);
    free(da->g);
    return rc;
}

/* The day rollup of provider's days lo..hi from one pass over its cells
 * in the database in key order: the rows usage_store_rollup_sql()
 * inserts, sum for sum, without the sort of every cell that its GROUP BY
 * needed (most of the rollup's cost). */
static int rollup_days(writer *w, const char *provider, long long lo,
                       long long hi, char **err)
{
    sqlite3_stmt *st = writer_stmt(w, ST_DAY_SCAN);
    if (!st)
        return err_set(err, "%s", w->prep_err);
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    day_acc da = {0};
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(st, 1);
        int null[ROLLUP_ARGS];
        double v[ROLLUP_ARGS];
        for (int k = 0; k < ROLLUP_ARGS; k++) {
            null[k] = sqlite3_column_type(st, 2 + k) == SQLITE_NULL;
            v[k] = k == UB_N ? (double)sqlite3_column_int64(st, 2 + k)
                             : sqlite3_column_double(st, 2 + k);
        }
        rc = day_add(w, provider, &da,
                     (long long)sqlite3_column_int64(st, 0) / DAY_S,
                     model ? model : "", null, v, err);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = history_db_error(w->db, "reading cells for the day rollup", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return day_end(w, provider, &da, rc, err);
}

/* A cell's column values as put_cell stores them and a read gives them
 * back (SQLite stores a NaN bound as a double as NULL). */
static void cell_values(const uop *o, int *null, double *v)
{
    int na = 0;
    for (int k = 0; k < UB_N; k++) {
        null[k] = o->b[k].state != MD_KNOWN || isnan(o->b[k].value);
        v[k] = null[k] ? 0 : o->b[k].value;
        if (o->b[k].state == MD_NOT_APPLICABLE)
            na |= 1 << k;
    }
    null[UB_N] = 0;
    v[UB_N] = na;
    null[UB_N + 1] = isnan(o->events);
    v[UB_N + 1] = null[UB_N + 1] ? 0 : o->events;
    double pv[USAGE_PARTS_N];
    usage_parts_flatten(&o->parts, pv);
    for (int k = 0; k < USAGE_PARTS_N; k++) {
        int n = !o->parts.known || isnan(pv[k]);
        null[UB_N + 2 + k] = n;
        v[UB_N + 2 + k] = n ? 0 : pv[k];
    }
}

/* The day rollup of provider's days lo..hi from the cells this
 * transaction wrote, when they are all it has (writer.fresh): the same
 * rows as rollup_days, without reading the cells back. */
static int rollup_fresh(writer *w, const struct fresh *f, long long lo,
                        long long hi, char **err)
{
    day_acc da = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        const uop *o = f->cells[i];
        long long d = (long long)(sqlite3_int64)o->slot / DAY_S;
        if (d < lo || d > hi)
            continue;
        int null[ROLLUP_ARGS];
        double v[ROLLUP_ARGS];
        cell_values(o, null, v);
        rc = day_add(w, f->provider, &da, d, o->model ? o->model : "",
                     null, v, err);
    }
    return day_end(w, f->provider, &da, rc, err);
}

int rebuild_days(writer *w, char **err)
{
    for (size_t i = 0; i < w->n_d; i++) {
        sqlite3_stmt *st = writer_stmt(w, ST_DAY_DEL);
        sqlite3_bind_text(st, 1, w->d[i].provider, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, w->d[i].lo);
        sqlite3_bind_int64(st, 3, w->d[i].hi);
        if (writer_run(w, st, "rebuilding the day rollup", err) != 0)
            return -1;
        const struct fresh *f = fresh_find(w, w->d[i].provider);
        if ((f && f->ok ? rollup_fresh(w, f, w->d[i].lo, w->d[i].hi, err)
                        : rollup_days(w, w->d[i].provider, w->d[i].lo,
                                      w->d[i].hi, err)) != 0)
            return -1;
    }
    for (size_t i = 0; i < w->n_z; i++)
        if (usage_zone_invalidate(w->db, w->z[i].lo, w->z[i].hi, err) != 0)
            return -1;
    return 0;
}

int usage_store_rollup_sql(history_db *db, const char *provider,
                           long long lo, long long hi, char **err)
{
    writer w;
    writer_init(&w, db);
    sqlite3_stmt *st = writer_stmt(&w, ST_ROLLUP);
    int rc;
    if (!st) {
        rc = err_set(err, "%s", w.prep_err);
    } else {
        sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, lo);
        sqlite3_bind_int64(st, 3, hi);
        rc = writer_run(&w, st, "rolling up by SQL", err);
    }
    writer_release(&w);
    return rc;
}
