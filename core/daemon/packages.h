/*
 * packages.h - declared packages: quota the operator declares where no
 * provider API reports it (a consumer plan, a prepaid credit pack, a free
 * daily quota), counted by meterd from the usage it already holds (the
 * usage store's 15-minute cells of log plugins and gateway ingest).
 *
 * A package counts the cells of its `count` providers over its period:
 *   rolling_window  the cells whose slot starts in [now - window, now]:
 *                   the window slides in steps of one cell (15 minutes),
 *                   so a cell counts fully until its whole slot left it;
 *   daily           since the last `reset` time of day in its zone;
 *   monthly         since the reset time on the first of the month;
 *   credits         from `since` (default: the package's first appearance,
 *                   persisted in STATE_DIR/packages.json) until
 *                   expires_at (then the remaining credit is 0).
 * The amount of a cell is, by unit: messages / requests its events,
 * tokens its tokens_total, usd its cost (the provider's figure, else its
 * tokens priced as pricing.h does); times the weight of the first
 * `weights` glob matching its model (1 when none matches; the unknown
 * model is matched as "").  A cell whose amount is unknown makes the
 * package's used unknown, never 0.
 *
 * A package becomes one meter (kind quota_window or credits, source
 * "declared", confidence estimated) of its family, or of its own row when
 * it names none.  Ranking keeps it below every provider-reported meter
 * (rank.c).
 *
 * Invariants: a package from config_packages.c has a name, >= 1 counted
 * provider, limit >= 0, window > 0 for rolling_window, reset minutes in
 * 0..1439 and a loaded zone.
 * Ownership: a package owns its strings, weights and zone; package_release
 * frees them.  package_measure fills a metric the caller releases.
 * Threads: no shared state; the state owner calls package_measure.
 */
#ifndef METERD_PACKAGES_H
#define METERD_PACKAGES_H

#include <stddef.h>
#include "metric.h"
#include "tz.h"

struct usage_store;

typedef enum { PKG_ROLLING = 0, PKG_DAILY, PKG_MONTHLY, PKG_CREDITS,
               PKG_N_KINDS } package_kind;
typedef enum { PKG_MESSAGES = 0, PKG_REQUESTS, PKG_TOKENS, PKG_USD,
               PKG_N_UNITS } package_unit;

extern const char *const package_kind_names[PKG_N_KINDS];
extern const char *const package_unit_names[PKG_N_UNITS];

/* Where a part of a package was written (in its file). */
typedef struct package_at {
    int line, col;
} package_at;

typedef struct package_weight {
    char *glob;                /* owned, fnmatch(3) */
    double weight;             /* >= 0 */
    package_at at;
} package_weight;

typedef struct package {
    char *name;                /* owned; the meter id and its provider */
    char *family;              /* owned; NULL: a row of its own */
    char **count;              /* owned provider names */
    package_at *count_at;      /* owned, n_count entries */
    size_t n_count;
    package_at family_at;
    package_kind kind;
    package_unit unit;
    double window_s;           /* rolling_window */
    double limit;
    package_weight *weights;
    size_t n_weights;
    char *reset_tz;            /* owned zone name ("UTC" by default) */
    tz_zone *zone;             /* owned */
    int reset_min;             /* minutes after local midnight */
    double since;              /* credits: epoch, < 0 unset */
    double expires_at;         /* credits: epoch, < 0 none */
    const char *file;          /* where it was declared (borrowed) */
    int line, col;
} package;

void package_release(package *p);
void packages_free(package *p, size_t n);

/* The start of p's current period at now (epoch seconds); a rolling
 * window's lower edge. */
double package_period_start(const package *p, double now);

/* p measured at now over store s into *out (a fresh metric the caller
 * releases). */
void package_measure(const package *p, const struct usage_store *s,
                     double now, metric *out);

/* Fill every credits package's unset since from STATE_DIR/packages.json,
 * recording now as the first appearance of a new one.  0, or -1 with *err
 * when the file cannot be read or written (since then stays now). */
int packages_first_seen(package *p, size_t n, const char *state_dir,
                        double now, char **err);

/* meterd -t: what in packages p[0..n) is most likely a mistake, as
 * warnings "FILE:LINE:COL: packages: NAME: ..." (*out, malloc'd lines the
 * caller frees with the array; returns their number):
 *   - a counted provider that is not one of providers[0..n_providers);
 *   - a family that is no family of aliases and no configured provider's
 *     own row;
 *   - a weight glob that matches no model of the usage recorded for the
 *     counted providers in us; when none is recorded yet (or us is NULL)
 *     it is judged against the model names of the built-in pricing table
 *     instead, and the warning says so.
 * None of these stops the daemon: the package then counts nothing from
 * that provider, gets a row of its own, or weighs nothing with that
 * glob. */
struct alias_map;
size_t packages_lint(const package *p, size_t n,
                     const char *const *providers, size_t n_providers,
                     const struct alias_map *aliases,
                     const struct usage_store *us, char ***out);

#endif
