/*
 * usage_store_impl.h - the in-memory layout of a usage_store, shared by
 * its three parts and nothing else: usage_store.c (cells, put, add_event,
 * retention), usage_store_file.c (STATE_DIR/usage.json) and
 * usage_report.c (the daily report).  The contract is usage_store.h.
 *
 * Invariants:
 *   - usage_store.p is sorted by provider name, names unique;
 *   - each uprov's cells are sorted by ucell_cmp (slot, source, model
 *     index) with no two equal keys; a cell's model is NO_MODEL or an
 *     index below n_models; n <= cap;
 *   - seq counts changes; imaged_seq is the seq of the last image taken
 *     (nothing to save while they are equal); written_seq, guarded by io,
 *     is the seq of the newest image on disk.
 * Ownership: a usage_store owns its state_dir, providers, their names,
 * model names and cell arrays; uprov_release() frees what one provider
 * owns.
 * Threads: as usage_store.h: the caller serialises every access except
 * the write of an image, which takes io.
 */
#ifndef METERD_USAGE_STORE_IMPL_H
#define METERD_USAGE_STORE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
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
} ucell;

typedef struct uprov {
    char *name;
    unsigned long long generation;
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
    pthread_mutex_t io;             /* serialises writers */
    unsigned long written_seq;      /* guarded by io */
};

/* acc[i] += b[i] for every bucket: unknown wins, not applicable is
 * neutral (see usage_store.h). */
void usage_buckets_add(md_num *acc, const md_num *b);
/* The cell order (qsort comparator on ucell). */
int ucell_cmp(const void *pa, const void *pb);

/* The provider called name, or NULL (then *pos, when given, is where it
 * would go). */
uprov *uprov_find(const usage_store *s, const char *name, size_t *pos);
/* The provider called name, added empty when missing. */
uprov *uprov_get(usage_store *s, const char *name);
/* A cell's model name (borrowed), NULL for NO_MODEL. */
const char *uprov_model_name(const uprov *p, uint32_t idx);
/* Room for n cells. */
void uprov_reserve(uprov *p, size_t n);
void uprov_release(uprov *p);

/* Drop cells past the retention (a change: seq moves). */
void usage_store_prune(usage_store *s, double now);

#endif
