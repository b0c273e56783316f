/*
 * usage_store_impl.h - the in-memory layout of a usage_store, shared by
 * its four parts and nothing else: usage_store.c (cells, put, add_event,
 * retention), usage_store_file.c (the cells in the history database,
 * history_db.h), usage_store_migrate.c (the import of STATE_DIR/usage.json)
 * and usage_report.c (the daily report).  The contract is usage_store.h.
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
