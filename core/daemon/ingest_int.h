/* ingest_int.h - what ingest.c and ingest_parse.c share (private).
 *
 * Invariants:
 *   - an item belongs to its batch; its strings point into the batch's
 *     JSON document (batch->doc), which the batch owns, so an item lives
 *     exactly as long as its batch (ingest_batch_free);
 *   - item_release frees what the item owns itself (its usage record's
 *     contents and the header arrays), never the strings it points to.
 */
#ifndef METERD_INGEST_INT_H
#define METERD_INGEST_INT_H

#include <jansson.h>
#include <stddef.h>

#include "ingest.h"
#include "usage.h"

/* One validated item, ready to apply. */
typedef struct item {
    const char *provider, *id;
    usage_record rec;
    int has_usage;
    const char **hnames, **hvalues;
    size_t n_headers;
} item;

/* A parsed request (ingest.h): its items point into doc. */
struct ingest_batch {
    item *items;
    size_t n;
    json_t *doc;        /* the array of items (owned) */
};

void item_release(item *it);

#endif
