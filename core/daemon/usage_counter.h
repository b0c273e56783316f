/*
 * usage_counter.h - running totals of the usage history (tokens per
 * bucket, cost, cost per model) that never go down, for the Prometheus
 * counters meterd_usage_tokens_total, meterd_usage_cost_usd_total and
 * meterd_usage_model_cost_usd_total, persisted in
 * STATE_DIR/usage-counters.json.
 *
 * Why not just the sum of the stored cells: that sum goes down when
 * retention prunes old cells and when a log plugin re-sends a range with
 * less in it (a transcript deleted), and a Prometheus counter that goes
 * down is read as a restart from zero.  So each provider keeps:
 *   - total[b]: the counter;
 *   - from, seen[b]: the sum of the known values of bucket b over the
 *     provider's cells with slot_start >= from, as of the last
 *     observation;
 *   - deficit[b]: how far that level has fallen below its high-water mark.
 * An observation sums the cells >= from again: growth first fills the
 * deficit, the rest is added to total; a drop only deepens the deficit.
 * Then from moves up to now - window (window is below the retention, so
 * the cells between the old and the new from are still there to be
 * subtracted from seen, and pruning never reaches the cells >= from).
 *
 * Semantics (doc/metrics.md): total counts every known token (and US
 * dollar) the store ever held for the provider; a cell changed after it
 * fell behind the window is not counted again; a re-sent range counts
 * only what exceeds the most it ever held; an unknown bucket adds nothing
 * (and a bucket no cell ever reported has no total: bit b of has is
 * clear).  A new provider's first observation counts all its cells.
 *
 * Cost per model: the same level / deficit / total per (provider, model),
 * where a cell's cost is the daily report's (pricing_stored_cell_cost: the
 * source's figure, else tokens x price) and a cell whose cost is unknown
 * (no price for its model) adds nothing.  A model gets its own row the
 * first time one of its cells has a known cost, while the provider has
 * fewer than USAGE_COUNTER_MODELS_MAX; later models add to the provider's
 * overflow row (USAGE_COUNTER_OTHER).  Rows are never dropped, so a
 * model's series never moves between labels; the cap bounds the series
 * at providers x (USAGE_COUNTER_MODELS_MAX + 1).  Cells of no known model
 * count under USAGE_COUNTER_NO_MODEL.  A model without a price has no row
 * (no series), never a 0.  Prices come from pricing_lookup() at each
 * observation: a changed price moves the level, and the counter takes
 * only the rise.
 *
 * Invariants: rows sorted by provider name, unique; every number finite
 * and >= 0; total[b] never decreases while the daemon runs, nor across
 * restarts while the file is intact (a corrupt file is moved aside and
 * counting starts again from the store, which Prometheus reads as a
 * counter reset).
 * model rows sorted by model name, unique, at most
 * USAGE_COUNTER_MODELS_MAX per provider.
 * Ownership: a usage_counters owns its rows, their model rows and all
 * their names; a usage_total array from usage_counters_copy() owns its
 * names and model arrays and is freed with usage_totals_free().
 * Threads: none; the daemon's state owner alone uses a usage_counters.
 */
#ifndef METERD_USAGE_COUNTER_H
#define METERD_USAGE_COUNTER_H

#include <stddef.h>
#include "usage_cell.h"

struct usage_store;

#define USAGE_COUNTERS_FILE "usage-counters.json"

/* Models with a cost series of their own per provider; the cap keeps the
 * exposition bounded when a gateway reports many model ids. */
#define USAGE_COUNTER_MODELS_MAX 32
/* The model label of the overflow row and of cells of no known model
 * (parenthesised: no provider's model id looks like that). */
#define USAGE_COUNTER_OTHER "(other)"
#define USAGE_COUNTER_NO_MODEL "(unknown)"

/* One level / deficit / total (see above) of a cost. */
typedef struct usage_level {
    double seen, deficit, total;
} usage_level;

typedef struct usage_model_row {
    char *model;                /* owned */
    usage_level cost;
} usage_model_row;

typedef struct usage_counter_row {
    char *provider;             /* owned */
    double from;                /* slot the seen sums start at */
    double seen[UB_N], deficit[UB_N], total[UB_N];
    unsigned has;               /* bit b: bucket b was ever known */
    usage_model_row *models;    /* sorted by model */
    size_t n_models;            /* <= USAGE_COUNTER_MODELS_MAX */
    usage_level other;          /* the models past the cap */
    int has_other;              /* other ever had a known cost */
} usage_counter_row;

typedef struct usage_counters {
    usage_counter_row *rows;    /* sorted by provider */
    size_t n;
    int dirty;                  /* changed since the last save */
    double saved_at;            /* epoch of the last save, 0 never */
} usage_counters;

/* One model's cost total (model USAGE_COUNTER_OTHER: the overflow). */
typedef struct usage_model_total {
    char *model;                /* owned */
    double cost;
} usage_model_total;

/* One provider's totals as the HTTP threads render them. */
typedef struct usage_total {
    char *provider;             /* owned */
    double total[UB_N];
    unsigned has;
    usage_model_total *models;  /* owned; by model name, the overflow last */
    size_t n_models;
} usage_total;

void usage_counters_init(usage_counters *uc);
void usage_counters_release(usage_counters *uc);

/* Read STATE_DIR/usage-counters.json into uc (emptied first).  Returns 0,
 * 1 when there is no file, or -1 with *err when it cannot be read or is
 * invalid (a file that does not validate is moved aside; uc stays
 * empty). */
int usage_counters_load(usage_counters *uc, const char *state_dir,
                        char **err);
/* Write it when it changed and (force or) min_interval seconds passed
 * since the last save.  0 (also when nothing was written), or -1 with
 * *err. */
int usage_counters_save(usage_counters *uc, const char *state_dir,
                        double now, double min_interval, int force,
                        char **err);

/* Sum the store's cells again and move the totals (see above); window in
 * seconds (> 0, below the store's retention).  Returns 1 when a total
 * changed, else 0. */
int usage_counters_observe(usage_counters *uc, const struct usage_store *s,
                           double now, double window);

/* The totals now (*n rows; NULL when none). */
usage_total *usage_counters_copy(const usage_counters *uc, size_t *n);
void usage_totals_free(usage_total *t, size_t n);

#endif
