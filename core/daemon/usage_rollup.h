/*
 * usage_rollup.h - the usage store's UTC day rollup (usage_day) and the
 * writer it shares with usage_store_file.c, private to those two files.
 * usage_store_file.c owns the writer: the statements, the cells it
 * writes, the days and providers it marks (dirty, struct fresh);
 * usage_rollup.c owns the rollup: the usage_rollup SQL aggregate and the
 * one-pass rollups that rebuild the marked days at the end of a write.
 *
 * Invariants:
 *   - the rows rebuild_days() inserts into usage_day are, byte for byte,
 *     the rows of the SQL aggregate form (usage_store_rollup_sql: a
 *     GROUP BY day, model over usage_cell): every sum adds the same
 *     values in the same order through the same acc_add(), so the
 *     floating-point results are identical, whether the cells are read
 *     back in key order (rollup_days) or taken from the journal when the
 *     transaction wrote all of a provider's cells (rollup_fresh);
 *   - rebuild_days() runs inside the writer's transaction, after every
 *     journal entry is applied, under the history database's lock; it
 *     deletes the usage_day rows of each dirty span before inserting
 *     theirs, and invalidates the zone rollups of the changed days
 *     (usage_zone.h);
 *   - rollup_register() has run on the connection before any statement
 *     that names usage_rollup is prepared (usage_store_open_db).
 * Ownership: a writer owns its dirty spans, provider names, struct fresh
 * lists (whose cells are borrowed from the image being written, which
 * outlives the writer) and prep_err; the statements belong to the
 * history database (history_db_prepared); writer_release() frees what
 * the writer owns.  The rollup allocates nothing that outlives a call.
 * Threads: a writer lives for one write on one thread.
 */
#ifndef METERD_USAGE_ROLLUP_H
#define METERD_USAGE_ROLLUP_H

#include <stdint.h>
#include "history_db.h"
#include "usage_store_impl.h"

/* usage_rollup's arguments (b0..b7, na, events, c0..c10) and the
 * usage_day columns usage_rollup_col gives back, in that same order. */
#define ROLLUP_ARGS (UB_N + 2 + USAGE_PARTS_N)
#define ROLLUP_COLS (UB_N + 2 + USAGE_PARTS_N)

/* The writer's statements (texts: writer_sql, usage_store_file.c). */
enum { ST_DEL_FROM, ST_DEL_BEFORE, ST_UPSERT, ST_UPSERT_N, ST_PROV, ST_GEN,
       ST_DAY_DEL, ST_DAY_CUT, ST_ID, ST_ID_CUT, ST_ROLLUP, ST_DAY_SCAN,
       ST_DAY_PUT, ST_ANY, ST_N };

/* Cells per ST_UPSERT_N statement (one INSERT of that many rows: a
 * statement's step, reset and halt cost about a quarter of a one-row
 * insert) and the parameters of one row. */
#define WRITER_BATCH 32
#define CELL_PARAMS 25

/* A cell put_cell accepted and ST_UPSERT_N has not written yet; its
 * pointers are borrowed from the image being written. */
struct wcell {
    const char *provider, *model;
    double slot, events;
    int src;
    const md_num *b;
    const usage_parts *parts;
};

/* What a statement's parameters for one row hold since the last step
 * (a step and a reset keep them): the provider pointer bound (valid
 * while the image lives) and the parameters bound to NULL, so that a
 * cell binds only what changed.  Unknown (valid 0) at first. */
struct wbound {
    int valid;
    const char *provider;
    uint32_t null;           /* bit i: the row's parameter i + 1 is NULL */
};

/* A provider's cells written by this transaction, while they are all the
 * cells it has (ok): it had none when the transaction began, they came
 * in strictly increasing key order (no cell replaced another) and no
 * delete took any of them but a retention cut, applied here too.  Its
 * day rollup is then computed from them (rollup_fresh) instead of read
 * back (rollup_days): a cold report's save. */
struct fresh {
    char *provider;      /* owned */
    int ok;
    const uop **cells;   /* borrowed from the image, in journal order */
    size_t n, cap;
};

typedef struct writer {
    history_db *db;
    sqlite3_stmt *st[ST_N];
    /* days whose rollup must be rebuilt, per provider */
    struct dirty { char *provider; long long lo, hi; } *d;
    size_t n_d;
    /* UTC days whose cells changed, for the zone rollups (usage_zone.h):
     * disjoint spans, so that a retention cut and today's cell do not
     * invalidate every day between them */
    struct zspan { long long lo, hi; } *z;
    size_t n_z;
    int no_zones;        /* a full write dropped them: nothing to mark */
    /* the provider whose usage_provider row the last cell ensured (owned):
     * the journal lists a provider's cells together, so its row is
     * inserted once per run of cells, not once per cell */
    char *prov_ensured;
    char *prep_err;      /* why a statement could not be prepared */
    struct fresh *f;     /* per provider, from its first journal entry */
    size_t n_f;
    int no_fresh;        /* a full write: no provider's cells are fresh */
    /* Cells waiting for a full ST_UPSERT_N (writer_flush writes them,
     * with ST_UPSERT when fewer): every other statement of the write
     * runs after a flush, so it sees the rows in journal order. */
    struct wcell batch[WRITER_BATCH];
    size_t n_batch;
    struct wbound one;                   /* ST_UPSERT's row */
    struct wbound many[WRITER_BATCH];    /* ST_UPSERT_N's rows */
} writer;

/* usage_store_file.c: */
/* An empty writer on db (nothing prepared yet). */
void writer_init(writer *w, history_db *db);
/* Statement i (ST_*), prepared at its first use; NULL with w->prep_err. */
sqlite3_stmt *writer_stmt(writer *w, int i);
void writer_release(writer *w);
/* Step st once with its bindings, then reset it; 0 or -1 with *err. */
int writer_run(writer *w, sqlite3_stmt *st, const char *what, char **err);
/* Write the cells put_cell holds back; 0 or -1 with *err. */
int writer_flush(writer *w, char **err);
/* provider's struct fresh, NULL when the write has not seen it. */
struct fresh *fresh_find(writer *w, const char *provider);

/* usage_rollup.c: */
/* Register usage_rollup and usage_rollup_col on db's connection (once
 * per connection).  0 or -1 with *err. */
int rollup_register(history_db *db, char **err);
/* ST_ROLLUP's text: the SQL aggregate form of the rollup. */
const char *rollup_sql(void);
/* Rebuild the usage_day rows of w's dirty spans and invalidate the zone
 * rollups of its changed days.  0 or -1 with *err. */
int rebuild_days(writer *w, char **err);

#endif
