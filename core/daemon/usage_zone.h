/*
 * usage_zone.h - the daily report in a zone other than UTC, materialised
 * in the history database (meterd.db, schema 6), so that `meterd report
 * daily --tz Europe/Berlin` reads a few rows per day instead of every
 * cell of the range.
 *
 * Why not a finer UTC rollup: a local day never equals a UTC day, an
 * hourly rollup still reads 24 rows per day, provider and model, and
 * zones such as +05:30 or +05:45 do not fall on hours at all.  Why not
 * the UTC day totals minus or plus their edges: unknown must stay unknown
 * and cost_usd is a floating-point sum.  Why the report's own sums and
 * not the cells summed per local day: cost_usd is computed per cell and
 * summed in the report's order (usage_report.c); sums of sums would
 * round differently and print differently in --json.  So what is kept is
 * exactly what the report prints a day from (usage_store_impl.h
 * usage_group): per day, the sums per provider and model, per model, per
 * provider and for the day, each computed by usage_report_groups from the
 * same cells in the same order as the report from the cells would, with
 * cost_usd already priced.
 *
 * Tables (history_db.h):
 *   usage_zone(zone PK, used_at, built_at, format, rules, lo, hi)
 *     one row per materialised zone.  The build commits a placeholder
 *     (format 0) first, so that writes mark the zone's days from then
 *     on, computes the sums from a read snapshot (the daemon's commits do
 *     not wait for that pass), then writes them and sets format to
 *     USAGE_ZONE_FORMAT in one transaction: only a row of the current
 *     format is read, a half-built zone never.  rules fingerprints the
 *     zone's offsets over its days lo..hi (a tzdata update that moves
 *     them rebuilds the zone).
 *   usage_zday(zone, kind, day, provider, model, b0..b7, na, events,
 *              unpriced)  PK (zone, kind, day, provider, model)
 *     one usage_group of one local day; kind is usage_group_kind,
 *     provider '' for the kinds without one, model '' for the unknown
 *     model and the kinds without one; buckets as in usage_day (NULL and
 *     bit K of na clear: unknown; set: not applicable).
 *   usage_zdirty(zone, lo, hi)  local days lo..hi whose rows a write
 *     deleted and the next report in that zone rebuilds from the cells.
 *   usage_zprice(model PK, price)  the price (pricing_lookup) each model
 *     of the rows was priced at: when a price changes (the configuration's
 *     pricing:, a new built-in table) every zone is rebuilt.
 *
 * Invariants: for a zone with a usage_zone row, the usage_zday rows of
 * every local day not covered by a usage_zdirty row are the report's sums
 * of that day's cells as they are now.  The writer keeps this: every
 * write of cells (usage_store_file.c: a collection's put, an ingest
 * commit, retention) deletes, for every zone, the rows of the local days
 * that can hold the cells it touched (the UTC days +-1: an offset is at
 * most 14 hours) and records them in usage_zdirty, in its own
 * transaction.  A full rewrite of the cells drops every zone.  At most
 * USAGE_ZONES_KEPT zones are kept (the most recently used).
 * Threads: the caller holds the database's lock (history_db_lock).
 */
#ifndef METERD_USAGE_ZONE_H
#define METERD_USAGE_ZONE_H

#include <jansson.h>
#include "history_db.h"
#include "usage_store.h"

/* Zones kept materialised; the least recently used goes first. */
#define USAGE_ZONES_KEPT 4
/* Raised whenever the report's sums change (usage_report.c), so that rows
 * computed by an older meterd are rebuilt. */
#define USAGE_ZONE_FORMAT 1

struct tz_zone;

/* The daily report (usage_store_daily_db's document) of local days
 * from..to (since/until as the caller was given them, echoed) in zone z
 * named tz_name, from the zone's rows, building the zone (one pass over
 * the cells) or rebuilding the days writes left dirty first.  Returns 0
 * with *out, 1 when the rows cannot be used (the database cannot be
 * written: the caller reads the cells), or -1 with *err. */
int usage_zone_daily(history_db *db, const char *provider, const char *since,
                     const char *until, long from, long to,
                     const struct tz_zone *z, const char *tz_name,
                     usage_daily_detail detail, json_t **out, char **err);

/* Writer: cells of UTC days lo..hi changed (inside the writer's
 * transaction).  0 or -1 with *err. */
int usage_zone_invalidate(history_db *db, long long lo, long long hi,
                          char **err);
/* Writer: every cell was rewritten; forget every zone. */
int usage_zone_drop_all(history_db *db, char **err);

#endif
