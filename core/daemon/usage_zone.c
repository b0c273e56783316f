/* usage_zone.c - the per-zone day rollup: built from the cells on the
 * first report in a zone, repaired where writes left days dirty, read by
 * the report, invalidated by the writer (contract, tables and invariants:
 * usage_zone.h). */
#include "usage_zone.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "pricing.h"
#include "timeutil.h"
#include "tz.h"
#include "usage_store_impl.h"

/* used_at is refreshed at most this often: a report that finds nothing
 * to rebuild then writes nothing (no commit, no fsync). */
#define TOUCH_EVERY_S 3600.0
/* An offset is at most 14 hours: a local day's cells lie within this of
 * its UTC day. */
#define EDGE_S (15 * 3600)
#define ZDAY_COLS "zone, kind, day, provider, model, " BUCKET_COLS \
                  ", na, events, unpriced"
#define ZDAY_DEL "DELETE FROM usage_zday WHERE zone = ?1 AND" \
                 " kind IN (0, 1, 2, 3) AND day >= ?2 AND day <= ?3"
_Static_assert(UG_N == 4, "ZDAY_DEL names every kind");

/* ---------------------------------------------------------------- */
/* fingerprints                                                      */
/* ---------------------------------------------------------------- */

static uint64_t mix(uint64_t h, int64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint64_t)(v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;   /* FNV-1a */
    }
    return h;
}

/* The zone's offsets over local days lo..hi: the offset at the start and
 * every change, found at 15-minute precision (a cell's).  A change that
 * is undone within the same day is not seen. */
static sqlite3_int64 zone_rules(const tz_zone *z, long lo, long hi)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    double t = ((double)lo - 1) * DAY_S;
    long prev = tz_offset(z, t);
    h = mix(h, prev);
    for (long d = lo; d <= hi + 1; d++) {
        double b = (double)d * DAY_S, a = b - DAY_S;
        long off = tz_offset(z, b);
        if (off == prev)
            continue;
        while (b - a > 900) {   /* off(a) == prev, off(b) != prev */
            double m = a + (double)(long)((b - a) / 1800) * 900;
            if (tz_offset(z, m) == prev)
                a = m;
            else
                b = m;
        }
        h = mix(mix(h, (int64_t)b), off);
        prev = off;
    }
    return (sqlite3_int64)h;
}

/* What pricing_lookup says of model, as stored in usage_zprice. */
typedef struct zprice {
    double found;
    double p[PR_N];
} zprice;

static void price_of(const char *model, zprice *out)
{
    pricing_row row;
    memset(out, 0, sizeof *out);
    if (pricing_lookup(model, &row) < 0)
        return;
    out->found = 1;
    memcpy(out->p, row.p, sizeof out->p);
}

/* ---------------------------------------------------------------- */
/* statements                                                        */
/* ---------------------------------------------------------------- */

/* Step a statement that returns no rows, then finalize it. */
static int step_done(history_db *db, sqlite3_stmt *st, const char *what,
                     char **err)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : history_db_error(db, what, err);
}

static sqlite3_stmt *prep(history_db *db, const char *sql, char **err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(history_db_handle(db), sql, -1, &st, NULL) !=
        SQLITE_OK) {
        history_db_error(db, "the zone rollup", err);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Run sql with ?1 = zone (NULL: no binding). */
static int exec_zone(history_db *db, const char *sql, const char *zone,
                     char **err)
{
    sqlite3_stmt *st = prep(db, sql, err);
    if (!st)
        return -1;
    if (zone)
        sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    return step_done(db, st, "the zone rollup", err);
}

static int forget_zone(history_db *db, const char *zone, char **err)
{
    static const char *const sql[] = {
        "DELETE FROM usage_zday WHERE zone = ?1",
        "DELETE FROM usage_zdirty WHERE zone = ?1",
        "DELETE FROM usage_zone WHERE zone = ?1",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (exec_zone(db, sql[i], zone, err) != 0)
            return -1;
    return 0;
}

int usage_zone_drop_all(history_db *db, char **err)
{
    return history_db_exec(db, "DELETE FROM usage_zday;"
                               " DELETE FROM usage_zdirty;"
                               " DELETE FROM usage_zone;"
                               " DELETE FROM usage_zprice;", err);
}

int usage_zone_invalidate(history_db *db, long long lo, long long hi,
                          char **err)
{
    sqlite3_stmt *zones = history_db_prepared(db, "SELECT zone FROM usage_zone",
                                              err);
    sqlite3_stmt *del = history_db_prepared(db, ZDAY_DEL, err);
    sqlite3_stmt *mark = history_db_prepared(
        db, "INSERT OR IGNORE INTO usage_zdirty(zone, lo, hi)"
            " VALUES (?1, ?2, ?3)", err);
    if (!zones || !del || !mark)
        return -1;
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(zones)) == SQLITE_ROW) {
        const char *zone = (const char *)sqlite3_column_text(zones, 0);
        sqlite3_stmt *st[] = {del, mark};
        for (int k = 0; k < 2 && rc == 0; k++) {
            /* the local days of UTC days lo..hi: one either side */
            sqlite3_bind_text(st[k], 1, zone, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st[k], 2, lo - 1);
            sqlite3_bind_int64(st[k], 3, hi + 1);
            if (sqlite3_step(st[k]) != SQLITE_DONE)
                rc = history_db_error(db, "invalidating a zone rollup", err);
            sqlite3_reset(st[k]);
            sqlite3_clear_bindings(st[k]);
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = history_db_error(db, "reading the zone rollups", err);
    sqlite3_reset(zones);
    return rc;
}

/* ---------------------------------------------------------------- */
/* building                                                          */
/* ---------------------------------------------------------------- */

/* A day's sum kept in memory between computing and writing it. */
typedef struct zkept {
    long day;
    usage_group_kind kind;
    usage_group g;       /* names point into own */
    char *own[2];
} zkept;

typedef struct builder {
    history_db *db;
    const char *zone;
    sqlite3_stmt *ins, *price;
    char **err;
    zkept *kept;         /* keep_group's copies (owned) */
    size_t n_kept, cap_kept;
} builder;

static int builder_open(builder *b, char **err)
{
    b->ins = prep(b->db, "INSERT OR REPLACE INTO usage_zday(" ZDAY_COLS
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                         " ?10, ?11, ?12, ?13, ?14, ?15, ?16)", err);
    b->price = prep(b->db, "INSERT OR REPLACE INTO usage_zprice(model, price)"
                           " VALUES (?1, ?2)", err);
    return b->ins && b->price ? 0 : -1;
}

static void builder_release(builder *b)
{
    sqlite3_finalize(b->ins);
    sqlite3_finalize(b->price);
    b->ins = b->price = NULL;
    for (size_t i = 0; i < b->n_kept; i++) {
        free(b->kept[i].own[0]);
        free(b->kept[i].own[1]);
    }
    free(b->kept);
    b->kept = NULL;
    b->n_kept = b->cap_kept = 0;
}

static int keep_group(void *arg, long day, usage_group_kind kind,
                      const usage_group *g)
{
    builder *b = arg;
    if (b->n_kept == b->cap_kept) {
        b->cap_kept = b->cap_kept ? 2 * b->cap_kept : 1024;
        b->kept = xrealloc(b->kept, b->cap_kept * sizeof *b->kept);
    }
    zkept *k = &b->kept[b->n_kept++];
    k->day = day;
    k->kind = kind;
    k->g = *g;
    k->g.provider = k->own[0] = g->provider ? xstrdup(g->provider) : NULL;
    k->g.model = k->own[1] = g->model ? xstrdup(g->model) : NULL;
    return 0;
}

static int put_group(void *arg, long day, usage_group_kind kind,
                     const usage_group *g)
{
    builder *b = arg;
    sqlite3_stmt *st = b->ins;
    int na = 0;
    sqlite3_bind_text(st, 1, b->zone, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)kind);
    sqlite3_bind_int64(st, 3, day);
    sqlite3_bind_text(st, 4, g->provider ? g->provider : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 5, g->model ? g->model : "", -1, SQLITE_STATIC);
    for (int k = 0; k < UB_N; k++) {
        if (g->acc.b[k].state == MD_KNOWN)
            sqlite3_bind_double(st, 6 + k, g->acc.b[k].value);
        else
            sqlite3_bind_null(st, 6 + k);
        if (g->acc.b[k].state == MD_NOT_APPLICABLE)
            na |= 1 << k;
    }
    sqlite3_bind_int(st, 6 + UB_N, na);
    sqlite3_bind_double(st, 7 + UB_N, g->acc.events);
    sqlite3_bind_int(st, 8 + UB_N, g->acc.unpriced);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return history_db_error(b->db, "writing a zone rollup", b->err);
    if (kind != UG_MODEL || !g->model)
        return 0;
    /* the price this model's costs were computed at */
    zprice p;
    price_of(g->model, &p);
    sqlite3_bind_text(b->price, 1, g->model, -1, SQLITE_STATIC);
    sqlite3_bind_blob(b->price, 2, &p, sizeof p, SQLITE_STATIC);
    rc = sqlite3_step(b->price);
    sqlite3_reset(b->price);
    return rc == SQLITE_DONE ? 0
                             : history_db_error(b->db, "writing a zone rollup",
                                                b->err);
}

/* Hand the sums of local days lo..hi of the cells to fn (b). */
static int compute_days(builder *b, const tz_zone *z, long long lo,
                        long long hi, usage_group_fn fn)
{
    usage_store *tmp = usage_store_new("", USAGE_RETENTION_DEFAULT_MS);
    int rc = usage_store_read_cells(b->db, tmp, NULL, lo * DAY_S - EDGE_S,
                                    (hi + 1) * DAY_S + EDGE_S, b->err);
    if (rc == 0)
        rc = usage_report_groups(tmp, z, (long)lo, (long)hi, fn, b);
    usage_store_free(tmp);
    return rc ? -1 : 0;
}

/* The rows of local days lo..hi from the cells (their rows are gone). */
static int build_days(history_db *db, const char *zone, const tz_zone *z,
                      long long lo, long long hi, char **err)
{
    builder b = {.db = db, .zone = zone, .err = err};
    int rc = builder_open(&b, err);
    if (rc == 0)
        rc = compute_days(&b, z, lo, hi, put_group);
    builder_release(&b);
    return rc;
}

/* Set zone's row: its days' extent and their rules, used_at now. */
static int record_zone(history_db *db, const char *zone, const tz_zone *z,
                       double now, int built, char **err)
{
    sqlite3_stmt *st = prep(db, "SELECT min(day), max(day) FROM usage_zday"
                                " WHERE zone = ?1 AND kind = 3", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    long lo = 0, hi = -1;
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL) {
        lo = (long)sqlite3_column_int64(st, 0);
        hi = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = prep(db, built ? "INSERT OR REPLACE INTO usage_zone(zone, used_at,"
                          " built_at, format, rules, lo, hi) VALUES (?1, ?2,"
                          " ?2, ?3, ?4, ?5, ?6)"
                        : "UPDATE usage_zone SET used_at = ?2, format = ?3,"
                          " rules = ?4, lo = ?5, hi = ?6 WHERE zone = ?1",
              err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, now);
    sqlite3_bind_int(st, 3, USAGE_ZONE_FORMAT);
    sqlite3_bind_int64(st, 4, zone_rules(z, lo, hi));
    sqlite3_bind_int64(st, 5, lo);
    sqlite3_bind_int64(st, 6, hi);
    return step_done(db, st, "recording a zone rollup", err);
}

/* Drop the zones past the USAGE_ZONES_KEPT most recently used. */
static int evict(history_db *db, char **err)
{
    sqlite3_stmt *st = prep(db, "SELECT zone FROM usage_zone ORDER BY"
                                " used_at DESC LIMIT -1 OFFSET ?1", err);
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, USAGE_ZONES_KEPT);
    char **old = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        old = xrealloc(old, (n + 1) * sizeof *old);
        old[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? 0 : history_db_error(db, "zone rollups", err);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = forget_zone(db, old[i], err);
        free(old[i]);
    }
    free(old);
    return rc;
}

/* ---------------------------------------------------------------- */
/* the state of a zone                                               */
/* ---------------------------------------------------------------- */

enum { Z_BUILD = 1, Z_REPAIR = 2, Z_TOUCH = 4, Z_REPRICE = 8 };

/* What zone's rows need before they can be read (Z_* bits, 0: nothing),
 * or -1 with *err. */
static int zone_needs(history_db *db, const char *zone, const tz_zone *z,
                      double now, char **err)
{
    int need = 0;
    sqlite3_stmt *st = prep(db, "SELECT format, rules, lo, hi, used_at,"
                                " EXISTS (SELECT 1 FROM usage_zdirty WHERE"
                                " zone = ?1) FROM usage_zone WHERE zone = ?1",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        need = Z_BUILD;
    } else if (sqlite3_column_int(st, 0) != USAGE_ZONE_FORMAT ||
               sqlite3_column_int64(st, 1) !=
                   zone_rules(z, (long)sqlite3_column_int64(st, 2),
                              (long)sqlite3_column_int64(st, 3))) {
        need = Z_BUILD;
    } else {
        if (sqlite3_column_int(st, 5))
            need |= Z_REPAIR;
        if (now - sqlite3_column_double(st, 4) >= TOUCH_EVERY_S)
            need |= Z_TOUCH;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return history_db_error(db, "reading the zone rollups", err);
    if (!(st = prep(db, "SELECT model, price FROM usage_zprice", err)))
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        zprice now_p;
        price_of((const char *)sqlite3_column_text(st, 0), &now_p);
        if (sqlite3_column_bytes(st, 1) != (int)sizeof now_p ||
            memcmp(sqlite3_column_blob(st, 1), &now_p, sizeof now_p) != 0) {
            need |= Z_REPRICE | Z_BUILD;
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return history_db_error(db, "reading the zone rollups", err);
    return need;
}

/* Rebuild the days the writes left dirty (merged ranges) and forget
 * them. */
static int repair(history_db *db, const char *zone, const tz_zone *z,
                  char **err)
{
    sqlite3_stmt *st = prep(db, "SELECT lo, hi FROM usage_zdirty WHERE"
                                " zone = ?1 ORDER BY lo", err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    long long (*r)[2] = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long lo = sqlite3_column_int64(st, 0);
        long long hi = sqlite3_column_int64(st, 1);
        if (n && lo <= r[n - 1][1] + 1) {
            if (hi > r[n - 1][1])
                r[n - 1][1] = hi;
            continue;
        }
        r = xrealloc(r, (n + 1) * sizeof *r);
        r[n][0] = lo;
        r[n][1] = hi;
        n++;
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? 0 : history_db_error(db, "zone rollups", err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!(st = prep(db, ZDAY_DEL, err))) {
            rc = -1;
            break;
        }
        sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, r[i][0]);
        sqlite3_bind_int64(st, 3, r[i][1]);
        rc = step_done(db, st, "repairing a zone rollup", err);
        if (rc == 0)
            rc = build_days(db, zone, z, r[i][0], r[i][1], err);
    }
    free(r);
    if (rc == 0)
        rc = exec_zone(db, "DELETE FROM usage_zdirty WHERE zone = ?1", zone,
                       err);
    return rc;
}

/* Under the write lock: the days writes left dirty, used_at. */
static int bring_up(history_db *db, const char *zone, const tz_zone *z,
                    int need, double now, char **err)
{
    if ((need & Z_REPAIR) && repair(db, zone, z, err) != 0)
        return -1;
    return record_zone(db, zone, z, now, 0, err);
}

/* Whether zone's row is the placeholder built_at = token (format 0). */
static int still_mine(history_db *db, const char *zone, double token)
{
    sqlite3_stmt *st = prep(db, "SELECT format = 0 AND built_at = ?2 FROM"
                                " usage_zone WHERE zone = ?1", NULL);
    if (!st)
        return 0;
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, token);
    int mine = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return mine;
}

/* Build zone from the cells without holding the write lock for the pass
 * over them (a second on two dense years; a running daemon's commits
 * would wait for it): (1) a placeholder row (format 0) makes every write
 * from then on mark the days it touches dirty for this zone; (2) the
 * sums are computed from a read snapshot; (3) under the write lock they
 * are written and the days written since (1) rebuilt.  A second report
 * building the same zone at once replaces the placeholder; the one whose
 * placeholder is gone at (3) writes nothing. */
static int build(history_db *db, const char *zone, const tz_zone *z,
                 int reprice, double now, char **err)
{
    static const char place[] =
        "INSERT INTO usage_zone(zone, used_at, built_at, format, rules, lo,"
        " hi) VALUES (?1, ?2, ?2, 0, 0, 0, -1)";
    if (history_db_begin(db, err) != 0)
        return -1;
    int rc = reprice ? usage_zone_drop_all(db, err) : 0;
    if (rc == 0)
        rc = forget_zone(db, zone, err);
    sqlite3_stmt *st = rc == 0 ? prep(db, place, err) : NULL;
    if (st) {
        sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, now);
        rc = step_done(db, st, "announcing a zone rollup", err);
    } else {
        rc = -1;
    }
    if (rc == 0)
        rc = evict(db, err);
    if (rc == 0)
        rc = history_db_commit(db, err);
    if (rc != 0) {
        history_db_rollback(db);
        return -1;
    }
    builder b = {.db = db, .zone = zone, .err = err};
    rc = history_db_exec(db, "BEGIN", err);
    if (rc == 0) {
        rc = compute_days(&b, z, 0, DAY_MAX, keep_group);
        history_db_rollback(db);   /* a read: nothing to keep */
    }
    if (rc == 0)
        rc = history_db_begin(db, err);
    if (rc == 0 && still_mine(db, zone, now)) {
        rc = builder_open(&b, err);
        for (size_t i = 0; rc == 0 && i < b.n_kept; i++)
            rc = put_group(&b, b.kept[i].day, b.kept[i].kind, &b.kept[i].g);
        if (rc == 0)
            rc = repair(db, zone, z, err);
        if (rc == 0)
            rc = record_zone(db, zone, z, now, 1, err);
    }
    builder_release(&b);
    if (rc == 0)
        rc = history_db_commit(db, err);
    if (rc != 0)
        history_db_rollback(db);
    return rc;
}

/* ---------------------------------------------------------------- */
/* reading                                                           */
/* ---------------------------------------------------------------- */

typedef struct zrows {
    long *day;
    usage_group *g;      /* names point into own */
    char **own;          /* 2 per row: provider, model (NULL or owned) */
    size_t n;
} zrows;

static void zrows_release(zrows *r)
{
    for (size_t i = 0; i < 2 * r->n; i++)
        free(r->own[i]);
    free(r->own);
    free(r->day);
    free(r->g);
    memset(r, 0, sizeof *r);
}

static int group_cmp(const void *pa, const void *pb)
{
    const usage_group *a = pa, *b = pb;
    return usage_model_cmp(a->model, b->model);
}

/* The rows of kind of days from..to (provider: only its), in day order;
 * within a day the models in report order. */
static int read_kind(history_db *db, const char *zone, usage_group_kind kind,
                     const char *provider, long from, long to, zrows *out,
                     char **err)
{
    sqlite3_stmt *st = prep(db, "SELECT day, provider, model, " BUCKET_COLS
                                ", na, events, unpriced FROM usage_zday WHERE"
                                " zone = ?1 AND kind = ?2 AND day >= ?3 AND"
                                " day <= ?4 AND (?5 IS NULL OR provider = ?5)",
                            err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)kind);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    if (provider)
        sqlite3_bind_text(st, 5, provider, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            out->day = xrealloc(out->day, cap * sizeof *out->day);
            out->g = xrealloc(out->g, cap * sizeof *out->g);
            out->own = xrealloc(out->own, 2 * cap * sizeof *out->own);
        }
        usage_group *g = &out->g[out->n];
        memset(g, 0, sizeof *g);
        const char *p = (const char *)sqlite3_column_text(st, 1);
        const char *m = (const char *)sqlite3_column_text(st, 2);
        char **own = &out->own[2 * out->n];
        g->provider = own[0] = p && *p ? xstrdup(p) : NULL;
        g->model = own[1] = m && *m ? xstrdup(m) : NULL;
        out->day[out->n++] = (long)sqlite3_column_int64(st, 0);
        int na = sqlite3_column_int(st, 3 + UB_N);
        for (int k = 0; k < UB_N; k++)
            g->acc.b[k] =
                sqlite3_column_type(st, 3 + k) != SQLITE_NULL
                    ? MD_NUM(sqlite3_column_double(st, 3 + k))
                    : (na & (1 << k)) ? MD_NUM_NA : (md_num){MD_UNKNOWN, 0};
        g->acc.events = sqlite3_column_double(st, 4 + UB_N);
        g->acc.unpriced = sqlite3_column_int(st, 5 + UB_N);
        g->acc.any = 1;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return history_db_error(db, "reading a zone rollup", err);
    if (kind == UG_MODEL || kind == UG_PROV_MODEL)
        for (size_t i = 0; i < out->n;) {   /* '' (unknown) sorts last */
            size_t j = i;
            while (j < out->n && out->day[j] == out->day[i])
                j++;
            qsort(out->g + i, j - i, sizeof *out->g, group_cmp);
            i = j;
        }
    return 0;
}

/* The document from the rows: the days' totals, and (FULL) their models
 * and providers lists. */
static int read_report(history_db *db, const char *zone, const char *provider,
                       long from, long to, usage_daily_detail detail,
                       json_t **days, char **err)
{
    zrows tot = {0}, models = {0}, provs = {0};
    int full = detail == USAGE_DAILY_FULL;
    int rc = read_kind(db, zone, provider ? UG_PROV : UG_DAY, provider, from,
                       to, &tot, err);
    if (rc == 0 && full)
        rc = read_kind(db, zone, provider ? UG_PROV_MODEL : UG_MODEL,
                       provider, from, to, &models, err);
    if (rc == 0 && full && !provider)
        rc = read_kind(db, zone, UG_PROV, NULL, from, to, &provs, err);
    if (rc == 0) {
        *days = json_array();
        size_t m = 0, p = 0;
        for (size_t i = 0; i < tot.n; i++) {
            long day = tot.day[i];
            while (m < models.n && models.day[m] < day)
                m++;
            while (p < provs.n && provs.day[p] < day)
                p++;
            size_t m2 = m, p2 = p;
            while (m2 < models.n && models.day[m2] == day)
                m2++;
            while (p2 < provs.n && provs.day[p2] == day)
                p2++;
            json_array_append_new(
                *days, usage_report_day(day, &tot.g[i].acc, models.g + m,
                                        m2 - m, provs.g + p, p2 - p,
                                        provider == NULL, detail));
            m = m2;
            p = p2;
        }
    }
    zrows_release(&tot);
    zrows_release(&models);
    zrows_release(&provs);
    return rc;
}

int usage_zone_daily(history_db *db, const char *provider, const char *since,
                     const char *until, long from, long to, const tz_zone *z,
                     const char *tz_name, usage_daily_detail detail,
                     json_t **out, char **err)
{
    *out = NULL;
    double now = time_now();
    /* A warm zone is read in a read transaction: nothing written, no
     * commit to sync.  A zone to build is built (build), days to repair
     * are repaired under the write lock, then it is read again. */
    int builds = 0;
    for (int round = 0; round < 4; round++) {
        char *why = NULL;
        int write = round % 2 == 1;
        if (history_db_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN",
                            &why) != 0) {
            free(why);
            return 1;    /* read-only or locked: the caller reads cells */
        }
        int need = zone_needs(db, tz_name, z, now, err);
        if (need < 0) {
            history_db_rollback(db);
            return -1;
        }
        if (need & Z_BUILD) {
            history_db_rollback(db);
            if (++builds > 2 ||   /* another report keeps building it */
                build(db, tz_name, z, (need & Z_REPRICE) != 0, now, &why)) {
                free(why);   /* cannot write the rows: read the cells */
                return 1;
            }
            round = 1;       /* next: a read */
            continue;
        }
        if (need && !write) {
            history_db_rollback(db);
            continue;
        }
        if (need && bring_up(db, tz_name, z, need, now, &why) != 0) {
            history_db_rollback(db);
            free(why);
            return 1;
        }
        json_t *days = NULL;
        int rc = read_report(db, tz_name, provider, from, to, detail, &days,
                             err);
        if (rc == 0 && history_db_commit(db, err) != 0)
            rc = -1;
        if (rc != 0) {
            history_db_rollback(db);
            json_decref(days);
            return -1;
        }
        *out = usage_report_doc(provider, tz_name, since, until, days);
        return 0;
    }
    return 1;
}
