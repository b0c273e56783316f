/*
 * usage_cell.h - per-turn usage aggregated into 15-minute cells (the SDK's
 * md_usage_cell, ABI 1.2; its 1-hour cache-write bucket, ABI 1.5) as the core carries them from a plugin's
 * put_usage through the helper pipe to the usage store, and the compact
 * JSON form of one bucket value.
 *
 * Invariants:
 *   - a usage_cell_rec that passed usage_cell_rec_problem() (or was made by
 *     usage_cell_from_sdk() from a cell usage_cell_problem() accepted) has
 *     slot_start a multiple of 900 seconds between 1970 and 9999, model
 *     NULL or 1..128 printable ASCII bytes, every bucket in a valid state
 *     and finite and >= 0 when known (value 0 when not known), and events
 *     finite and >= 0;
 *   - unknown is not zero: a bucket the plugin did not report stays
 *     MD_UNKNOWN, never 0;
 *   - parts.known is 0 unless the plugin set them (ABI 1.7); known parts
 *     are finite and >= 0, each excess at most its bucket's tokens.
 * Ownership: a usage_cell_rec owns its model string; an array of them is
 * freed with usage_cell_rec_array_free().  Every other function here
 * allocates nothing the caller keeps, except the JSON values returned as
 * new references.
 * Threads: no state; every function is safe from any thread.
 */
#ifndef METERD_USAGE_CELL_H
#define METERD_USAGE_CELL_H

#include <stddef.h>
#include <jansson.h>
#include "meterd/plugin.h"

/* The buckets of a cell, indexed by usage_bucket. */
typedef enum usage_bucket {
    UB_INPUT_UNCACHED = 0, UB_CACHE_READ, UB_CACHE_WRITE, UB_OUTPUT,
    UB_REASONING, UB_TOTAL, UB_COST, UB_CACHE_WRITE_1H, UB_N
} usage_bucket;
/* UB_CACHE_WRITE_1H (SDK ABI 1.5) is a subset of UB_CACHE_WRITE, like
 * reasoning of output: the writes made with the one-hour TTL, priced
 * higher.  It comes last so the stored indices of the others never move;
 * data written before it existed reads as unknown there. */

/* "tokens_input_uncached", ..., "cost_usd" (JSON keys of the reports). */
extern const char *const usage_bucket_names[UB_N];

/* The parts of a cell's cost when its events are priced one by one (SDK
 * ABI 1.7, md_usage_cell.cost_usd_own): the sum of the costs the events
 * carried themselves, and the tokens of the other events per priced bucket
 * (MD_PRICED_* order, the first four in the order of pricing.h's PR_IN..
 * PR_CR) with their per-event excess over MD_USAGE_TIER_TOKENS.  Every
 * part is a sum over events, so parts add: two cells' parts sum to those
 * of the union of their events.  known 0: none (the cell is priced whole
 * from its buckets); then every value is 0. */
typedef struct usage_parts {
    int known;
    double own_usd;
    double tokens[MD_PRICED_N];
    double above[MD_PRICED_N];
} usage_parts;

/* own_usd, tokens[], above[] as one array (storage and wire order). */
#define USAGE_PARTS_N (1 + 2 * MD_PRICED_N)

typedef struct usage_cell_rec {
    double slot_start;     /* epoch seconds, a multiple of 900 */
    char *model;           /* owned; NULL: unknown model */
    md_num b[UB_N];        /* known / unknown / not applicable */
    double events;         /* usage events summed into the cell, >= 0 */
    usage_parts parts;     /* cost parts (ABI 1.7), or none */
} usage_cell_rec;

/* Why an SDK cell cannot be stored, or NULL when it is valid (see the
 * invariants above).  Static string. */
const char *usage_cell_problem(const md_usage_cell *c);
/* Deep copy of a valid SDK cell (the caller checked it). */
void usage_cell_from_sdk(usage_cell_rec *out, const md_usage_cell *c);
/* Same check for a core cell (JSON input): NULL or a static reason. */
const char *usage_cell_rec_problem(const usage_cell_rec *c);
/* The same check on a cell's fields given one by one (a cell about to be
 * made from a borrowed model string): NULL or a static reason. */
const char *usage_cell_fields_problem(double slot_start, const char *model,
                                      const md_num b[UB_N], double events);
/* Why a cell's parts are not valid (a value not finite or < 0, or an
 * excess above its bucket's tokens), or NULL. */
const char *usage_parts_problem(const usage_parts *p);
/* *acc += *add: known only when both are. */
void usage_parts_add(usage_parts *acc, const usage_parts *add);
/* The parts as USAGE_PARTS_N values in storage order, and back (known). */
void usage_parts_flatten(const usage_parts *p, double v[USAGE_PARTS_N]);
void usage_parts_unflatten(usage_parts *p, const double v[USAGE_PARTS_N]);

/* Free the n cells' models and the array itself; NULL is a no-op. */
void usage_cell_rec_array_free(usage_cell_rec *cells, size_t n);

/* One bucket as JSON: known -> integer when integral (else real), unknown
 * -> null, not applicable -> "na" (the compact wire/storage form).  New
 * reference. */
json_t *usage_num_to_json(md_num v);
/* The reverse: number (finite, >= 0), null or "na".  0 or -1. */
int usage_num_from_json(const json_t *j, md_num *out);
/* A generation as JSON: a decimal string (or a non-negative integer).
 * 0 or -1. */
int usage_generation_from_json(const json_t *j, unsigned long long *out);
/* A known integral value as an integer, else a real; null otherwise (the
 * report form, where not applicable is null too).  New reference. */
json_t *usage_num_to_report(md_num v);

#endif
