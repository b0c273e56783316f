/*
 * usage_store_impl.h - the in-memory layout of a usage_store, shared by
 * its parts and nothing else: usage_store.c (cells, put, add_event,
 * retention), usage_store_file.c (the writer: images written as the
 * database rows they change, history_db.h; its UTC day rollup is
 * usage_rollup.c, usage_rollup.h), usage_store_read.c (loading
 * and the report's reads), usage_store_migrate.c (the import of
 * STATE_DIR/usage.json), usage_report.c (the daily report) and
 * usage_zone.c (the report materialised per time zone, usage_zone.h).
 * The contract is usage_store.h.
 *
 * Invariants:
 *   - usage_store.p is sorted by provider name, names unique;
 *   - each uprov's cells are sorted by ucell_cmp (slot, source, model
 *     index) with no two equal keys; a cell's model is NO_MODEL or an
 *     index below n_models; n <= cap;
 *   - every change to the cells is also appended to ops (the journal) in
 *     the order it was made; replaying ops on the database in that order
 *     turns the rows of the last image into the cells in memory; an image
 *     takes the journal, so each change is written once;
 *   - images are numbered by ticket in the order they are taken and
 *     written in that order (io_cv); a failed write sets resync, and the
 *     next image is then a full one (every cell) instead of a journal.
 * Ownership: a usage_store owns its state_dir, providers, their names,
 * model names, cell arrays, journal, history database and sample
 * recorder; uprov_release() frees what one provider owns, uop_release()
 * what one journal entry owns.
 * Threads: as usage_store.h: the caller serialises every access except
 * the write of an image, which takes io.
 */
#ifndef METERD_USAGE_STORE_IMPL_H
#define METERD_USAGE_STORE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "history.h"
#include "history_db.h"
#include "usage_store.h"

#define USAGE_SLOT_SECONDS 900.0
#define NO_MODEL UINT32_MAX
#define USAGE_MAX_EPOCH 253402300799.0   /* 9999-12-31T23:59:59Z */
#define DAY_S 86400
/* A day after any stored slot (9999-12-31 is day 2932896). */
#define DAY_MAX 3000000LL
/* The bucket columns in usage_bucket order (b7 was added by schema 3). */
#define BUCKET_COLS "b0, b1, b2, b3, b4, b5, b6, b7"
_Static_assert(UB_N == 8, "BUCKET_COLS names every bucket");
/* A cell's cost parts (usage_parts_flatten order; schema 5), all NULL when
 * the cell has none. */
#define PARTS_COLS "c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10"
_Static_assert(USAGE_PARTS_N == 11, "PARTS_COLS names every part");

enum { SRC_PLUGIN = 0, SRC_INGEST = 1 };

typedef struct ucell {
    double slot;
    uint32_t model;      /* index into uprov.models, NO_MODEL: unknown */
    uint8_t src;         /* SRC_PLUGIN / SRC_INGEST */
    md_num b[UB_N];
    double events;
    usage_parts parts;   /* plugin cells priced per event (ABI 1.7) */
} ucell;

/* One change of ingest cells made since usage_store_begin_events, as
 * usage_store_undo_events must take it back: the cell's key (the model by
 * name: a prune may renumber the table) and what it held before. */
typedef struct uundo {
    char *provider;      /* owned */
    char *model;         /* owned, NULL = unknown model */
    double slot;
    int had;             /* the cell existed: old is its value */
    int created;         /* the provider was added by this change */
    struct ucell_vals { md_num b[UB_N]; double events; } old;
} uundo;

/* One change, as the database must replay it. */
typedef enum uop_kind {
    UOP_DEL_FROM,    /* delete provider's plugin cells with slot >= slot */
    UOP_DEL_BEFORE,  /* delete provider's cells with slot < slot */
    UOP_UPSERT,      /* write one cell (replacing the one of its key) */
    UOP_GEN,         /* record provider's generation */
    UOP_INGEST_ID,   /* record a caller id (provider holds the id) and keep
                        the last `generation` ids */
} uop_kind;

typedef struct uop {
    uop_kind kind;
    char *provider;      /* owned */
    double slot;
    uint8_t src;         /* UPSERT */
    char *model;         /* UPSERT: owned, NULL = unknown model */
    md_num b[UB_N];      /* UPSERT */
    double events;       /* UPSERT */
    usage_parts parts;   /* UPSERT */
    unsigned long long generation;   /* GEN */
} uop;

void uop_release(uop *o);
/* Append a change to s's journal (strings copied). */
void usage_journal(usage_store *s, uop_kind kind, const char *provider,
                   double slot, unsigned long long generation);
void usage_journal_cell(usage_store *s, const char *provider,
                        const struct ucell *c, const char *model);

typedef struct uprov {
    char *name;
    unsigned long long generation;
    int db_plugin_cells; /* the database holds plugin cells not loaded
                            (usage_store_load_meta) */
    char **models;       /* owned; never shrinks while in memory */
    size_t n_models;
    ucell *cells;        /* sorted by ucell_cmp */
    size_t n, cap;
} uprov;

struct usage_store {
    char *state_dir;
    long long retention_ms;
    uprov *p;            /* sorted by name */
    size_t n_p;
    unsigned long seq, imaged_seq;  /* changes made / copied for saving */
    uop *ops;                       /* the journal since the last image */
    size_t n_ops, cap_ops;
    history_db *db;                 /* owned, NULL until loaded / if it
                                       cannot be opened */
    history *hist;                  /* owned sample recorder */
    double pruned_from;             /* the last retention cut journaled */
    double maintained_at;           /* last sample maintenance (epoch) */
    unsigned long tickets;          /* images taken */
    pthread_mutex_t io;             /* guards what follows */
    pthread_cond_t io_cv;           /* a write finished */
    unsigned long written;          /* images written (or failed) */
    int resync;                     /* the database missed a change */
    char *last_error;               /* owned: the last write's failure */
    int failing;                    /* the last write failed */
    double failing_since;           /* first failure of the current run */
    double last_try_at;             /* last write attempt (epoch) */
    double last_ok_at;              /* last committed write (epoch) */
    unsigned long ingest_commits;   /* usage_store_ingest_committed */
    unsigned long ingest_requests;
    /* owner's thread only (outside io): */
    uundo *undo;                    /* changes since begin_events */
    size_t n_undo, cap_undo;
    int undoing;                    /* begin_events is active */
};

/* acc[i] += b[i] for every bucket: unknown wins, not applicable is
 * neutral, a known sum is held at USAGE_COUNT_MAX (see usage_store.h).
 * Returns 1 when a sum was held there. */
int usage_buckets_add(md_num *acc, const md_num *b);
#define USAGE_HELD_NOTE "a count reached 2^53 (9007199254740992) and is " \
                        "held there"

/* One sum of the daily report (usage_report.c): the buckets with
 * cost_usd computed per cell and summed in the report's order, events,
 * whether a cell's cost was unknown for want of a price.  any: a cell was
 * added. */
typedef struct usage_acc {
    md_num b[UB_N];
    double events;
    int any;
    int unpriced;
} usage_acc;

/* The sums one report day is printed from (usage_report_groups). */
typedef enum usage_group_kind {
    UG_PROV_MODEL = 0,   /* one provider's one model: --provider's models */
    UG_MODEL = 1,        /* one model over every provider: "models" */
    UG_PROV = 2,         /* one provider: --provider's day, "providers" */
    UG_DAY = 3,          /* the day over every provider */
} usage_group_kind;
#define UG_N 4

typedef struct usage_group {
    const char *provider;   /* UG_PROV_MODEL, UG_PROV; else NULL */
    const char *model;      /* UG_PROV_MODEL, UG_MODEL; NULL: unknown */
    usage_acc acc;
} usage_group;

/* Called for every sum of every local day of usage_report_groups (the
 * names are borrowed for the call). */
typedef int (*usage_group_fn)(void *arg, long day, usage_group_kind kind,
                              const usage_group *g);
/* The sums of every local day from..to of s's cells (every provider) in
 * zone z, each exactly as the daily report computes it from the cells
 * (the same cells in the same order, hence the same floating-point
 * sums), so that a report printed from them with usage_report_day is
 * the report printed from the cells.  Stops at the first fn that returns
 * non-zero and returns that. */
int usage_report_groups(const usage_store *s, const struct tz_zone *z,
                        long from, long to, usage_group_fn fn, void *arg);
/* One day of the report from its sums: total, then (FULL) the models in
 * report order (name order, the unknown model last) and, when
 * with_providers, the providers in name order. */
json_t *usage_report_day(long day, const usage_acc *total,
                         const usage_group *models, size_t n_models,
                         const usage_group *providers, size_t n_providers,
                         int with_providers, usage_daily_detail detail);
/* The report document around its days (taken over). */
json_t *usage_report_doc(const char *provider, const char *tz,
                         const char *since, const char *until, json_t *days);
/* The report's model order: name order, the unknown model (NULL) last. */
int usage_model_cmp(const char *a, const char *b);

/* The cell order (qsort comparator on ucell). */
int ucell_cmp(const void *pa, const void *pb);

/* The provider called name, or NULL (then *pos, when given, is where it
 * would go). */
uprov *uprov_find(const usage_store *s, const char *name, size_t *pos);
/* The provider called name, added empty when missing. */
uprov *uprov_get(usage_store *s, const char *name);
/* The index of model (NULL: NO_MODEL), added to the table when new. */
uint32_t uprov_model_index(uprov *p, const char *model);
/* A cell's model name (borrowed), NULL for NO_MODEL. */
const char *uprov_model_name(const uprov *p, uint32_t idx);
/* Room for n cells. */
void uprov_reserve(uprov *p, size_t n);
void uprov_release(uprov *p);

/* Open s->db when it is not (a failure is kept as s->last_error). */
void usage_store_open_db(usage_store *s);
/* Drop s's journal (its changes are in the database already). */
void usage_store_journal_drop(usage_store *s);
/* The day rollup of provider's days lo..hi inserted by the SQL aggregate
 * (GROUP BY) that the writer's one-pass rollup replaced; kept so that a
 * test can check the two insert the same rows.  The days' usage_day rows
 * must be gone.  Lock held.  0 or -1 with *err. */
int usage_store_rollup_sql(history_db *db, const char *provider,
                           long long lo, long long hi, char **err);

/* Append the cells of usage_cell rows of provider (NULL: every one) with
 * slot_from <= slot < slot_to to the empty store tmp, in row order (NOT
 * sorted: only the report reads tmp).  Lock held.  0 or -1 with *err. */
int usage_store_read_cells(history_db *db, usage_store *tmp,
                           const char *provider, long long slot_from,
                           long long slot_to, char **err);

/* Drop cells past the retention (a change: seq moves). */
void usage_store_prune(usage_store *s, double now);

/* Write every cell of src into db as its usage rows, in one transaction
 * under db's lock; src's journal is dropped (the rows are the cells).
 * 0, or -1 with *err. */
int usage_store_write_full(usage_store *src, history_db *db, char **err);
/* STATE_DIR/usage.json, when present, becomes s's database rows, then
 * usage.json.migrated (*migrated set).  0 when there was nothing to
 * migrate or it was migrated, -1 with *err when the file is corrupt
 * (moved aside) or the rows cannot be written.  s->db is open. */
int usage_store_migrate_json(usage_store *s, double now, int *migrated,
                             char **err);

#endif
