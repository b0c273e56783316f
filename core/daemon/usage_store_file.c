/* usage_store_file.c - the usage store's writer into the history
 * database (history_db.h): images taken under the caller's lock and
 * written outside it, in one transaction each, as the cell rows they
 * change, with the UTC day rollup rebuilt (usage_rollup.c) and the
 * per-zone rollups invalidated for the days they touch (usage_zone.h);
 * the write's health.  Loading and the report's reads are
 * usage_store_read.c; the import of an old STATE_DIR/usage.json is
 * usage_store_migrate.c (contract and threading: usage_store.h; journal
 * and tickets: usage_store_impl.h; the writer shared with the rollup:
 * usage_rollup.h).
 */
#include "usage_store_impl.h"
#include "usage_rollup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "timeutil.h"
#include "usage_zone.h"

/* Samples are thinned and aged out at most this often. */
#define MAINTAIN_EVERY_S 3600.0

struct usage_image {
    usage_store *owner;
    unsigned long ticket;
    uop *ops;            /* the journal taken (owned) */
    size_t n_ops;
    int full;            /* write every cell of p instead of ops */
    uprov *p;            /* full: deep copies */
    size_t n_p;
    history_batch *samples;
    int maintain;
    long long sample_retention_ms;
    double now;
};

/* ---------------------------------------------------------------- */
/* images                                                            */
/* ---------------------------------------------------------------- */

static void prov_copy(uprov *dst, const uprov *src)
{
    memset(dst, 0, sizeof *dst);
    dst->name = xstrdup(src->name);
    dst->generation = src->generation;
    dst->n_models = src->n_models;
    dst->models = xcalloc(src->n_models ? src->n_models : 1,
                          sizeof *dst->models);
    for (size_t i = 0; i < src->n_models; i++)
        dst->models[i] = xstrdup(src->models[i]);
    dst->n = dst->cap = src->n;
    dst->cells = xmalloc((src->n ? src->n : 1) * sizeof *dst->cells);
    memcpy(dst->cells, src->cells, src->n * sizeof *dst->cells);
}

void usage_store_open_db(usage_store *s)
{
    if (s->db)
        return;
    char *err = NULL;
    if (history_db_open(s->state_dir, &s->db, &err) == 0 &&
        rollup_register(s->db, &err) != 0) {
        history_db_free(s->db);
        s->db = NULL;
    }
    if (!s->db) {
        pthread_mutex_lock(&s->io);
        free(s->last_error);
        s->last_error = err;
        pthread_mutex_unlock(&s->io);
    }
}

void usage_store_journal_drop(usage_store *s)
{
    for (size_t i = 0; i < s->n_ops; i++)
        uop_release(&s->ops[i]);
    s->n_ops = 0;
}

usage_image *usage_store_image(usage_store *s, double now)
{
    usage_store_open_db(s);
    usage_store_prune(s, now);
    pthread_mutex_lock(&s->io);
    int full = s->resync;
    s->resync = 0;
    pthread_mutex_unlock(&s->io);
    int maintain = s->db && now - s->maintained_at >= MAINTAIN_EVERY_S;
    history_batch *samples = history_take(s->hist);
    if (!full && !maintain && !samples && s->seq == s->imaged_seq &&
        !s->n_ops)
        return NULL;
    usage_image *img = xcalloc(1, sizeof *img);
    *img = (usage_image){
        .owner = s,
        .ticket = ++s->tickets,
        .full = full,
        .samples = samples,
        .maintain = maintain,
        .sample_retention_ms = history_retention_ms(s->hist),
        .now = now,
    };
    if (maintain)
        s->maintained_at = now;
    s->imaged_seq = s->seq;
    if (full) {
        /* Caller ids are not cells: the full write keeps them. */
        for (size_t i = 0; i < s->n_ops; i++) {
            if (s->ops[i].kind != UOP_INGEST_ID) {
                uop_release(&s->ops[i]);
                continue;
            }
            img->ops = xrealloc(img->ops, (img->n_ops + 1) * sizeof *img->ops);
            img->ops[img->n_ops++] = s->ops[i];
        }
        s->n_ops = 0;
        img->p = xcalloc(s->n_p ? s->n_p : 1, sizeof *img->p);
        for (size_t i = 0; i < s->n_p; i++)
            prov_copy(&img->p[img->n_p++], &s->p[i]);
    } else {
        img->ops = s->ops;
        img->n_ops = s->n_ops;
        s->ops = NULL;
        s->n_ops = s->cap_ops = 0;
    }
    return img;
}

static void image_free(usage_image *img)
{
    for (size_t i = 0; i < img->n_p; i++)
        uprov_release(&img->p[i]);
    free(img->p);
    for (size_t i = 0; i < img->n_ops; i++)
        uop_release(&img->ops[i]);
    free(img->ops);
    history_batch_free(img->samples);
    free(img);
}

/* ---------------------------------------------------------------- */
/* writing rows                                                      */
/* ---------------------------------------------------------------- */

/* ST_UPSERT_N's rows: WRITER_BATCH of CELL_PARAMS parameters each,
 * numbered in order (row r's parameter k is r * CELL_PARAMS + k). */
#define UPSERT_ROW "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
#define UPSERT_ROWS4 UPSERT_ROW "," UPSERT_ROW "," UPSERT_ROW "," UPSERT_ROW
#define UPSERT_ROWS16 UPSERT_ROWS4 "," UPSERT_ROWS4 "," UPSERT_ROWS4 "," \
                      UPSERT_ROWS4
#define UPSERT_ROWS32 UPSERT_ROWS16 "," UPSERT_ROWS16
_Static_assert(WRITER_BATCH == 32, "UPSERT_ROWS32 has WRITER_BATCH rows");
_Static_assert(CELL_PARAMS == 25 && 6 + UB_N + USAGE_PARTS_N == CELL_PARAMS,
               "UPSERT_ROW binds every column of a cell");

static const char *const writer_sql[ST_N] = {
    [ST_DEL_FROM] = "DELETE FROM usage_cell WHERE provider = ?1 AND"
                    " slot >= ?2 AND src = 0",
    [ST_DEL_BEFORE] = "DELETE FROM usage_cell WHERE provider = ?1 AND"
                      " slot < ?2",
    [ST_UPSERT] = "INSERT OR REPLACE INTO usage_cell(provider, slot, src,"
                  " model, " BUCKET_COLS ", na, events, " PARTS_COLS
                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                  " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
                  " ?21, ?22, ?23, ?24, ?25)",
    [ST_UPSERT_N] = "INSERT OR REPLACE INTO usage_cell(provider, slot, src,"
                    " model, " BUCKET_COLS ", na, events, " PARTS_COLS
                    ") VALUES " UPSERT_ROWS32,
    [ST_PROV] = "INSERT OR IGNORE INTO usage_provider(name) VALUES (?1)",
    [ST_GEN] = "INSERT INTO usage_provider VALUES (?1, ?2) ON CONFLICT"
               " (name) DO UPDATE SET generation = excluded.generation",
    [ST_DAY_DEL] = "DELETE FROM usage_day WHERE provider = ?1 AND"
                   " day >= ?2 AND day <= ?3",
    [ST_DAY_CUT] = "DELETE FROM usage_day WHERE provider = ?1 AND"
                   " day < ?2",
    [ST_ID] = "INSERT OR IGNORE INTO ingest_id(id) VALUES (?1)",
    /* rowids grow with every insert: the last ?1 ids stay */
    [ST_ID_CUT] = "DELETE FROM ingest_id WHERE rowid <= (SELECT"
                  " max(rowid) FROM ingest_id) - ?1",
    /* rollup_days: the cells of provider ?1 and days ?2..?3 in key
     * order (the primary key's: no sorter), columns in usage_rollup's
     * argument order after slot and model */
    [ST_DAY_SCAN] = "SELECT slot, model, " BUCKET_COLS ", na, events, "
                    PARTS_COLS " FROM usage_cell WHERE provider = ?1 AND"
                    " slot >= ?2 * 86400 AND slot < (?3 + 1) * 86400"
                    " ORDER BY provider, slot, src, model",
    [ST_ANY] = "SELECT 1 FROM usage_cell WHERE provider = ?1 LIMIT 1",
    [ST_DAY_PUT] = "INSERT INTO usage_day(provider, day, model, "
                   BUCKET_COLS ", na, events, " PARTS_COLS ") VALUES (?1,"
                   " ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                   " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23,"
                   " ?24)",
};
_Static_assert(DAY_S == 86400, "ST_DAY_SCAN's day");
_Static_assert(CELL_PARAMS <= 32, "bind_cell's null bits fit");
_Static_assert(3 + ROLLUP_COLS == 24, "ST_DAY_PUT binds every column");

void writer_init(writer *w, history_db *db)
{
    memset(w, 0, sizeof *w);
    w->db = db;
}

/* Statement i, prepared at its first use in this process and kept by db
 * from then on (every step resets it): a save that writes no cell (a
 * warm report's samples) prepares none of the cell statements.  NULL
 * with w->prep_err set. */
sqlite3_stmt *writer_stmt(writer *w, int i)
{
    if (!w->st[i] && !w->prep_err)
        w->st[i] = history_db_prepared(
            w->db, i == ST_ROLLUP ? rollup_sql() : writer_sql[i],
            &w->prep_err);
    return w->st[i];
}

void writer_release(writer *w)
{
    for (size_t i = 0; i < w->n_f; i++) {
        free(w->f[i].provider);
        free(w->f[i].cells);
    }
    free(w->f);
    for (size_t i = 0; i < w->n_d; i++)
        free(w->d[i].provider);
    free(w->d);
    free(w->z);
    free(w->prov_ensured);
    free(w->prep_err);
}

/* Cells of UTC days lo..hi changed: the zone rollups must forget them. */
static void zone_dirty(writer *w, long long lo, long long hi)
{
    if (w->no_zones)
        return;
    for (size_t i = 0; i < w->n_z; i++) {
        if (lo > w->z[i].hi + 1 || hi < w->z[i].lo - 1)
            continue;
        if (lo < w->z[i].lo)
            w->z[i].lo = lo;
        if (hi > w->z[i].hi)
            w->z[i].hi = hi;
        return;
    }
    w->z = xrealloc(w->z, (w->n_z + 1) * sizeof *w->z);
    w->z[w->n_z++] = (struct zspan){lo, hi};
}

static void dirty(writer *w, const char *provider, long long lo, long long hi)
{
    for (size_t i = 0; i < w->n_d; i++) {
        if (strcmp(w->d[i].provider, provider) != 0)
            continue;
        if (lo < w->d[i].lo)
            w->d[i].lo = lo;
        if (hi > w->d[i].hi)
            w->d[i].hi = hi;
        return;
    }
    w->d = xrealloc(w->d, (w->n_d + 1) * sizeof *w->d);
    w->d[w->n_d++] = (struct dirty){xstrdup(provider), lo, hi};
}

static long long day_of(double slot)
{
    return (long long)floor(slot / DAY_S);
}

/* Step st once with its bindings, then reset it. */
int writer_run(writer *w, sqlite3_stmt *st, const char *what, char **err)
{
    if (!st)
        return err_set(err, "%s", w->prep_err);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : history_db_error(w->db, what, err);
}

/* Bind cell c as the row at parameter base + 1 on of st, whose
 * parameters there hold what *bd says. */
static void bind_cell(sqlite3_stmt *st, int base, const struct wcell *c,
                      struct wbound *bd)
{
    int na = 0;
    if (!bd->valid || bd->provider != c->provider)
        sqlite3_bind_text(st, base + 1, c->provider, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 2, (sqlite3_int64)c->slot);
    sqlite3_bind_int(st, base + 3, c->src);
    sqlite3_bind_text(st, base + 4, c->model ? c->model : "", -1,
                      SQLITE_STATIC);
    uint32_t nulls = 0;
    for (int k = 0; k < UB_N; k++) {
        if (c->b[k].state == MD_KNOWN)
            sqlite3_bind_double(st, base + 5 + k, c->b[k].value);
        else
            nulls |= 1u << (4 + k);
        if (c->b[k].state == MD_NOT_APPLICABLE)
            na |= 1 << k;
    }
    sqlite3_bind_int(st, base + 5 + UB_N, na);
    sqlite3_bind_double(st, base + 6 + UB_N, c->events);
    double pv[USAGE_PARTS_N];
    usage_parts_flatten(c->parts, pv);
    for (int k = 0; k < USAGE_PARTS_N; k++) {
        if (c->parts->known)
            sqlite3_bind_double(st, base + 7 + UB_N + k, pv[k]);
        else
            nulls |= 1u << (6 + UB_N + k);
    }
    /* A NULL already bound stays (binding it again is most of a cell's
     * binding cost: the buckets a source never reports). */
    for (int i = 0; i < CELL_PARAMS; i++)
        if ((nulls >> i & 1) && !(bd->valid && (bd->null >> i & 1)))
            sqlite3_bind_null(st, base + i + 1);
    *bd = (struct wbound){1, c->provider, nulls};
}

int writer_flush(writer *w, char **err)
{
    size_t n = w->n_batch;
    w->n_batch = 0;
    if (!n)
        return 0;
    /* Every parameter is bound by bind_cell or still holds the NULL it
     * had: no clear_bindings (writer_run()). */
    sqlite3_stmt *st = writer_stmt(w, n == WRITER_BATCH ? ST_UPSERT_N
                                                        : ST_UPSERT);
    if (!st)
        return err_set(err, "%s", w->prep_err);
    if (n == WRITER_BATCH) {
        for (size_t r = 0; r < n; r++)
            bind_cell(st, (int)r * CELL_PARAMS, &w->batch[r], &w->many[r]);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_DONE
                   ? 0
                   : history_db_error(w->db, "writing usage cells", err);
    }
    for (size_t r = 0; r < n; r++) {
        bind_cell(st, 0, &w->batch[r], &w->one);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return history_db_error(w->db, "writing a usage cell", err);
    }
    return 0;
}

/* Write a cell (held back for a full ST_UPSERT_N: writer_flush); b,
 * parts and the strings are borrowed until then. */
static int put_cell(writer *w, const char *provider, double slot, int src,
                    const char *model, const md_num *b, double events,
                    const usage_parts *parts, char **err)
{
    w->batch[w->n_batch++] = (struct wcell){
        .provider = provider, .model = model, .slot = slot,
        .events = events, .src = src, .b = b, .parts = parts};
    if (w->n_batch == WRITER_BATCH && writer_flush(w, err) != 0)
        return -1;
    dirty(w, provider, day_of(slot), day_of(slot));
    zone_dirty(w, day_of(slot), day_of(slot));
    if (w->prov_ensured && strcmp(w->prov_ensured, provider) == 0)
        return 0;
    sqlite3_bind_text(writer_stmt(w, ST_PROV), 1, provider, -1, SQLITE_STATIC);
    if (writer_run(w, writer_stmt(w, ST_PROV), "writing a usage provider", err) != 0)
        return -1;
    free(w->prov_ensured);
    w->prov_ensured = xstrdup(provider);
    return 0;
}

static int put_gen(writer *w, const char *provider, unsigned long long g,
                   char **err)
{
    sqlite3_stmt *st = writer_stmt(w, ST_GEN);
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)g);   /* the bit pattern */
    return writer_run(w, st, "writing a generation", err);
}

struct fresh *fresh_find(writer *w, const char *provider)
{
    for (size_t i = 0; i < w->n_f; i++)
        if (strcmp(w->f[i].provider, provider) == 0)
            return &w->f[i];
    return NULL;
}

/* Whether provider has no usage_cell row: 1, 0, or -1 with *err. */
static int provider_empty(writer *w, const char *provider, char **err)
{
    if (writer_flush(w, err) != 0)
        return -1;
    sqlite3_stmt *st = writer_stmt(w, ST_ANY);
    if (!st)
        return err_set(err, "%s", w->prep_err);
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return history_db_error(w->db, "looking for usage cells", err);
    return rc == SQLITE_DONE;
}

static int key_cmp(const uop *a, const uop *b)
{
    sqlite3_int64 sa = (sqlite3_int64)a->slot, sb = (sqlite3_int64)b->slot;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    return 0;
}

/* Follow o (a cell entry about to be applied) in its provider's struct
 * fresh.  0, or -1 with *err. */
static int fresh_note(writer *w, const uop *o, char **err)
{
    struct fresh *f = fresh_find(w, o->provider);
    if (!f) {
        int empty = w->no_fresh ? 0 : provider_empty(w, o->provider, err);
        if (empty < 0)
            return -1;
        w->f = xrealloc(w->f, (w->n_f + 1) * sizeof *w->f);
        f = &w->f[w->n_f++];
        *f = (struct fresh){.provider = xstrdup(o->provider), .ok = empty};
    }
    if (!f->ok)
        return 0;
    size_t keep = 0;
    switch (o->kind) {
    case UOP_UPSERT:
        /* Increasing (slot, src); models of one (slot, src) distinct. */
        for (size_t i = f->n; i-- > 0;) {
            int c = key_cmp(f->cells[i], o);
            if (c < 0)
                break;
            if (c > 0 || strcmp(f->cells[i]->model ? f->cells[i]->model : "",
                                o->model ? o->model : "") == 0) {
                f->ok = 0;
                return 0;
            }
        }
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 1024;
            f->cells = xrealloc(f->cells, f->cap * sizeof *f->cells);
        }
        f->cells[f->n++] = o;
        break;
    case UOP_DEL_FROM:
        f->ok = f->n == 0;   /* it takes nothing before the first cell */
        break;
    case UOP_DEL_BEFORE:
        /* ST_DEL_BEFORE's comparison: the row's integer slot against
         * the bound double */
        for (size_t i = 0; i < f->n; i++)
            if (!((double)(sqlite3_int64)f->cells[i]->slot < o->slot))
                f->cells[keep++] = f->cells[i];
        f->n = keep;
        break;
    default:
        break;
    }
    return 0;
}

static int apply_op(writer *w, const uop *o, char **err)
{
    sqlite3_stmt *st;
    if (o->kind != UOP_UPSERT && writer_flush(w, err) != 0)
        return -1;
    if (o->kind != UOP_INGEST_ID && fresh_note(w, o, err) != 0)
        return -1;
    switch (o->kind) {
    case UOP_UPSERT:
        return put_cell(w, o->provider, o->slot, o->src, o->model, o->b,
                        o->events, &o->parts, err);
    case UOP_GEN:
        return put_gen(w, o->provider, o->generation, err);
    case UOP_INGEST_ID:
        sqlite3_bind_text(writer_stmt(w, ST_ID), 1, o->provider, -1,
                          SQLITE_STATIC);
        if (writer_run(w, writer_stmt(w, ST_ID), "recording an ingest id", err) != 0)
            return -1;
        sqlite3_bind_int64(writer_stmt(w, ST_ID_CUT), 1,
                           (sqlite3_int64)o->generation);
        return writer_run(w, writer_stmt(w, ST_ID_CUT), "bounding the ingest ids", err);
    case UOP_DEL_FROM:
        st = writer_stmt(w, ST_DEL_FROM);
        dirty(w, o->provider, o->slot < 0 ? 0 : day_of(o->slot), DAY_MAX);
        break;
    case UOP_DEL_BEFORE:
        st = writer_stmt(w, ST_DEL_BEFORE);
        /* whole days before the cut go; the cut's own day is rebuilt */
        sqlite3_bind_text(writer_stmt(w, ST_DAY_CUT), 1, o->provider, -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(writer_stmt(w, ST_DAY_CUT), 2, day_of(o->slot));
        if (writer_run(w, writer_stmt(w, ST_DAY_CUT), "cutting the day rollup", err) != 0)
            return -1;
        dirty(w, o->provider, day_of(o->slot), day_of(o->slot));
        break;
    default:
        return err_set(err, "unknown journal entry");
    }
    sqlite3_bind_text(st, 1, o->provider, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, o->slot);
    if (writer_run(w, st, "deleting usage cells", err) != 0)
        return -1;
    /* Only a delete that took cells changes a zone's days (every save
     * journals the retention cut, mostly taking nothing). */
    if (sqlite3_changes(history_db_handle(w->db)) > 0) {
        long long cut = o->slot < 0 ? 0 : day_of(o->slot);
        if (o->kind == UOP_DEL_FROM)
            zone_dirty(w, cut, DAY_MAX);
        else
            zone_dirty(w, 0, cut);
    }
    return 0;
}

/* Replace every usage row by the image's copies. */
static int write_full(writer *w, const uprov *p, size_t n_p, char **err)
{
    if (history_db_exec(w->db, "DELETE FROM usage_cell; DELETE FROM usage_day;"
                               " DELETE FROM usage_provider;", err) != 0 ||
        usage_zone_drop_all(w->db, err) != 0)
        return -1;
    w->no_zones = 1;
    w->no_fresh = 1;
    for (size_t i = 0; i < n_p; i++) {
        if (put_gen(w, p[i].name, p[i].generation, err) != 0)
            return -1;
        for (size_t k = 0; k < p[i].n; k++) {
            const ucell *c = &p[i].cells[k];
            if (put_cell(w, p[i].name, c->slot, c->src,
                         uprov_model_name(&p[i], c->model), c->b, c->events,
                         &c->parts, err) != 0)
                return -1;
        }
        dirty(w, p[i].name, 0, DAY_MAX);
    }
    return writer_flush(w, err);
}

/* One transaction: the cells (journal or full), the samples, maintenance. */
static int write_rows(usage_image *img, history_db *db, char **err)
{
    writer w;
    writer_init(&w, db);
    int rc = history_db_begin(db, err);
    if (rc == 0 && img->full)
        rc = write_full(&w, img->p, img->n_p, err);
    for (size_t i = 0; rc == 0 && i < img->n_ops; i++)
        rc = apply_op(&w, &img->ops[i], err);
    if (rc == 0)
        rc = writer_flush(&w, err);
    if (rc == 0)
        rc = rebuild_days(&w, err);
    if (rc == 0)
        rc = history_batch_write(db, img->samples, err);
    if (rc == 0 && img->maintain &&
        history_maintain(db, img->sample_retention_ms, img->now, err) < 0)
        rc = -1;
    writer_release(&w);
    if (rc == 0)
        rc = history_db_commit(db, err);
    if (rc != 0)
        history_db_rollback(db);
    return rc;
}

int usage_store_write_full(usage_store *src, history_db *db, char **err)
{
    /* The rows are to be every cell: the journal would only repeat them. */
    usage_store_journal_drop(src);
    usage_image img = {.owner = src, .full = 1, .p = src->p, .n_p = src->n_p};
    history_db_lock(db);
    int rc = write_rows(&img, db, err);
    history_db_unlock(db);
    return rc;
}

int usage_store_write(usage_image *img, char **err)
{
    if (!img)
        return 0;
    usage_store *s = img->owner;
    /* Images are written in the order they were taken: a journal only
     * makes sense on top of the ones before it. */
    pthread_mutex_lock(&s->io);
    while (s->written + 1 != img->ticket)
        pthread_cond_wait(&s->io_cv, &s->io);
    pthread_mutex_unlock(&s->io);
    char *why = NULL;
    int rc;
    if (!s->db) {
        rc = err_set(&why, "no history database (%s/%s)", s->state_dir,
                     HISTORY_DB_FILE);
    } else {
        history_db_lock(s->db);
        rc = write_rows(img, s->db, &why);
        history_db_unlock(s->db);
    }
    double now = time_now();
    pthread_mutex_lock(&s->io);
    s->written = img->ticket;
    s->last_try_at = now;
    if (rc != 0) {
        /* The database missed this change: the next image is full. */
        s->resync = 1;
        free(s->last_error);
        s->last_error = xstrdup(why);
        if (!s->failing)
            s->failing_since = now;
        s->failing = 1;
    } else {
        s->failing = 0;
        s->last_ok_at = now;
    }
    pthread_cond_broadcast(&s->io_cv);
    pthread_mutex_unlock(&s->io);
    image_free(img);
    if (rc != 0) {
        if (err)
            *err = why;
        else
            free(why);
    }
    return rc;
}

int usage_store_save(usage_store *s, double now, char **err)
{
    return usage_store_write(usage_store_image(s, now), err);
}

history *usage_store_history(usage_store *s)
{
    return s ? s->hist : NULL;
}

history_db *usage_store_db(usage_store *s)
{
    return s ? s->db : NULL;
}

json_t *usage_store_health(usage_store *s)
{
    /* The size as of the last commit: the database's lock is held for
     * the whole of a commit, and a health check must not wait for one. */
    long long size = s ? history_db_size_cached(s->db) : -1;
    json_t *o = json_object();
    json_object_set_new(o, "db_bytes",
                        size >= 0 ? json_integer(size) : json_null());
    char *last = NULL;
    unsigned long commits = 0, requests = 0;
    if (s) {
        pthread_mutex_lock(&s->io);
        last = s->last_error ? xstrdup(s->last_error) : NULL;
        commits = s->ingest_commits;
        requests = s->ingest_requests;
        pthread_mutex_unlock(&s->io);
    }
    json_object_set_new(o, "last_error", last ? json_string(last) : json_null());
    json_object_set_new(o, "ingest_commits", json_integer((json_int_t)commits));
    json_object_set_new(o, "ingest_requests",
                        json_integer((json_int_t)requests));
    free(last);
    return o;
}

void usage_store_ingest_committed(usage_store *s, size_t requests)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->io);
    s->ingest_commits++;
    s->ingest_requests += requests;
    pthread_mutex_unlock(&s->io);
}

int usage_store_failing(usage_store *s, double *since, char **error)
{
    if (since)
        *since = 0;
    if (error)
        *error = NULL;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->io);
    int failing = s->failing;
    if (failing && since)
        *since = s->failing_since;
    if (failing && error && s->last_error)
        *error = xstrdup(s->last_error);
    pthread_mutex_unlock(&s->io);
    return failing;
}

int usage_store_retry_due(usage_store *s, double now)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->io);
    int due = s->failing && now - s->last_try_at >= USAGE_RETRY_S;
    pthread_mutex_unlock(&s->io);
    return due;
}
