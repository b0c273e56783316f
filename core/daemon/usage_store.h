/*
 * usage_store.h - per-turn usage history: 15-minute cells per provider and
 * model, persisted in the history database STATE_DIR/meterd.db
 * (history_db.h), and the daily report.  Implemented in parts sharing
 * usage_store_impl.h: usage_store.c (cells, put, add_event, retention,
 * the change journal), usage_store_file.c (images written as the database
 * rows they change), usage_store_read.c (loading, the report's reads),
 * usage_store_migrate.c (usage.json), usage_report.c (the daily report)
 * and usage_zone.c (the report materialised per time zone).  The store also owns the meter-sample recorder (history.h),
 * whose samples are written in the same transactions.
 *
 * Two kinds of cells live side by side for each provider:
 *   - plugin cells, handed over by host->put_usage (log plugins): a put
 *     REPLACES every plugin cell with slot_start >= since by the cells
 *     given and records the plugin's generation (host->usage_generation
 *     tells the plugin which generation we hold, so it re-sends everything
 *     after we missed an update);
 *   - ingest cells, built one normalised event at a time by
 *     usage_store_add_event (POST /api/telemetry).  A put never touches
 *     them, so a re-send cannot erase gateway data.
 * Summing (events into a cell, cells into a day): a bucket stays known
 * only while every addend reported it; an unknown addend makes the sum
 * unknown; not applicable adds nothing (two not-applicable addends stay
 * not applicable).  Unknown is never 0.
 *
 * Retention: cells whose slot ended more than retention before now are
 * dropped on every change, at load and before a save, so the store never
 * grows without bound (a year of 15-minute cells is 35040 slots per
 * model).
 *
 * Persistence: every change is journaled (usage_store_impl.h); an image
 * takes the journal and usage_store_write replays it on the database in
 * one transaction, so a collection or an ingest POST writes the rows it
 * changed, not the store.  The memory is the read path of the daemon;
 * `meterd report daily` loads only providers and generations
 * (usage_store_load_meta) and reads the report from the database
 * (usage_store_daily_db).
 *
 * Migration: the store was a JSON file before (STATE_DIR/usage.json,
 * below).  When one is found at load it becomes the database's usage rows
 * and is renamed usage.json.migrated, so the next start finds nothing to
 * migrate; one that does not validate is moved aside to
 * usage.json.corrupt-EPOCH as before:
 *   {"schema": "meterd.usage.v1", "saved_at": "...",
 *    "providers": [{"name": "claude", "generation": "42",
 *                   "models": ["claude-sonnet-4-5", ...],
 *                   "cells": [[slot_start, model_index|null, source (0
 *                     plugin, 1 ingest), tokens_input_uncached,
 *                     tokens_cache_read, tokens_cache_write, tokens_output,
 *                     tokens_reasoning, tokens_total, cost_usd, events],
 *                    ...]}]}
 *   where a bucket is a number, null (unknown) or "na" (not applicable).
 *
 * Invariants: unknown is never 0 (see summing above); every stored cell
 * passed usage_cell_rec_problem(); for a provider, no two cells share a
 * (slot, source, model).
 * Ownership: the store copies everything it is given (names, models,
 * cells); an image owns its deep copies and usage_store_write frees it;
 * the report's JSON is the caller's.
 *
 * Threads: a usage_store is NOT internally locked.  In the daemon every
 * call except usage_store_write and the "any thread" ones is made on
 * the owner thread; the write of a usage_image happens outside it (like the
 * snapshot) and images are written in the order they were taken.
 */
#ifndef METERD_USAGE_STORE_H
#define METERD_USAGE_STORE_H

#include <stddef.h>
#include <jansson.h>
#include "usage_cell.h"

struct history;
struct history_db;

#define USAGE_RETENTION_DEFAULT_MS (400LL * 86400 * 1000)
/* A known count or cost is held at 2^53 when a sum would pass it: past
 * that a double no longer counts by ones, and an infinity would be stored
 * as unknown for good. */
#define USAGE_COUNT_MAX 9007199254740992.0
/* Ingest cells of one provider use at most this many models per UTC day;
 * the events of further models are counted under USAGE_OTHER_MODELS. */
#define USAGE_MAX_MODELS_PER_DAY 256
#define USAGE_OTHER_MODELS "(other models)"
/* After a failed write, the next attempt comes at most this often
 * (usage_store_retry_due). */
#define USAGE_RETRY_S 2.0

typedef struct usage_store usage_store;
typedef struct usage_image usage_image;

/* An empty store for STATE_DIR (copied).  retention_ms > 0. */
usage_store *usage_store_new(const char *state_dir, long long retention_ms);
void usage_store_free(usage_store *s);
/* A reload may change retention (applied at the next change or save). */
void usage_store_set_retention(usage_store *s, long long retention_ms);

/* Open STATE_DIR/meterd.db, migrate STATE_DIR/usage.json into it when
 * present, and load every cell.  Returns 1 when there is nothing stored,
 * 0 when loaded, -1 when usage.json is corrupt (moved aside; *err says
 * so) or the database cannot be opened or read (*err; the store stays
 * empty). */
int usage_store_load(usage_store *s, double now, char **err);
/* The same without the cells: providers, generations and whether the
 * database holds plugin cells of each (for `meterd report daily`, which
 * reads the report with usage_store_daily_db). */
int usage_store_load_meta(usage_store *s, double now, char **err);

/* The generation of provider's plugin cells (0 when none was recorded). */
unsigned long long usage_store_generation(const usage_store *s,
                                          const char *provider);
/* Whether the store holds anything for provider / plugin cells of it. */
int usage_store_has_provider(const usage_store *s, const char *provider);
int usage_store_has_plugin_cells(const usage_store *s, const char *provider);
/* Number of cells (both kinds) of provider, or of every provider (NULL). */
size_t usage_store_count(const usage_store *s, const char *provider);
/* How many changes the store has journaled (cells put, events added or
 * undone, retention cuts, ingest ids): a report read from the database
 * before a save still holds after it when this did not move between the
 * read and the end of the save.  Owner thread. */
unsigned long usage_store_changes(const usage_store *s);
/* The first slot start the retention keeps at now: a save at now drops
 * every cell before it from the database. */
double usage_store_kept_from(const usage_store *s, double now);

/* Replace provider's plugin cells >= since by cells (copied; each must be
 * valid, see usage_cell_rec_problem, and >= since) and record generation.
 * Cells given twice for one (slot, model) are summed. */
void usage_store_put(usage_store *s, const char *provider,
                     const usage_cell_rec *cells, size_t n, double since,
                     unsigned long long generation, double now);

/* Add one normalised usage event at time at (epoch seconds) into
 * provider's ingest cell of its 15-minute slot and model (NULL: unknown).
 * b holds the UB_N buckets.  Returns 0, 1 when the event is older than
 * the retention (ignored), or -1 with *err (static text) when at, model
 * or a number is invalid (nothing added).  *note (static text; note may
 * be NULL) says when a count was held at USAGE_COUNT_MAX or the model
 * was folded into USAGE_OTHER_MODELS, else NULL. */
int usage_store_add_event(usage_store *s, const char *provider, double at,
                          const char *model, const md_num b[UB_N],
                          double now, const char **err, const char **note);

/* Events as one unit: after begin, every add_event is remembered so that
 * undo takes them all back (the write that should have made them durable
 * failed) or keep forgets them (it committed).  Owner thread; the
 * journal is not rewound: a failed write makes the next image full. */
void usage_store_begin_events(usage_store *s);
void usage_store_keep_events(usage_store *s);
void usage_store_undo_events(usage_store *s);

/* Journal a caller id of POST /api/telemetry, written in the same
 * transaction as the usage it carried; the database keeps the last keep
 * ids.  usage_store_ingest_ids reads the last max of them, oldest first
 * (*ids: malloc'd array of malloc'd strings).  0 or -1 with *err. */
void usage_store_add_ingest_id(usage_store *s, const char *id, size_t keep);
int usage_store_ingest_ids(usage_store *s, size_t max, char ***ids,
                           size_t *n, char **err);

/* Persistence.  usage_store_image takes the journal of changes since the
 * last image and the queued meter samples (or, after a failed write,
 * copies every cell) and returns NULL when there is nothing to write;
 * usage_store_write writes it in one transaction (outside any lock),
 * after every image taken before it, and frees it.  Returns 0 once
 * committed, or -1 with *err (also kept for usage_store_health).
 * usage_store_save does both (single-threaded use). */
usage_image *usage_store_image(usage_store *s, double now);
int usage_store_write(usage_image *img, char **err);
int usage_store_save(usage_store *s, double now, char **err);

/* The meter-sample recorder (history.h) and the database (NULL until the
 * first load or image opened it), both owned by the store. */
struct history *usage_store_history(usage_store *s);
struct history_db *usage_store_db(usage_store *s);
/* {"db_bytes": n|null, "last_error": text|null, "ingest_commits": n,
 *  "ingest_requests": n} (new reference; any thread).  db_bytes is the
 * size as of the last commit (history_db_size_cached): nothing here
 * takes the database's lock, so it never waits for a write. */
json_t *usage_store_health(usage_store *s);
/* Count one committed transaction of ingest POSTs carrying requests
 * requests (POST /api/telemetry group commit, ingest.h): what
 * usage_store_health reports as ingest_commits / ingest_requests.
 * Owner thread; NULL is a no-op. */
void usage_store_ingest_committed(usage_store *s, size_t requests);
/* Whether the last write failed (*since: when the failures began, *error:
 * malloc'd copy of the last one; either may be NULL).  Any thread. */
int usage_store_failing(usage_store *s, double *since, char **error);
/* Whether a write should be tried again now: the last one failed at
 * least USAGE_RETRY_S ago.  Any thread. */
int usage_store_retry_due(usage_store *s, double now);

/* How much a daily report says.  USAGE_DAILY_FULL: every day with its
 * "models" and (without a provider) "providers" lists, as documented at
 * usage_store_daily.  USAGE_DAILY_TOTALS: the same days with their totals
 * only (no "models", no "providers"): what the table and the cost by day
 * print, and building the lists is most of a long report's time. */
typedef enum usage_daily_detail {
    USAGE_DAILY_FULL,
    USAGE_DAILY_TOTALS,
} usage_daily_detail;

/* usage_store_daily read from the database: the per-day rollup when tz
 * is UTC, the zone's materialised days otherwise (usage_zone.h: built or
 * repaired first, so this may write), the cells of the range when those
 * cannot be written; no whole-store load. */
int usage_store_daily_db(usage_store *s, const char *provider,
                         const char *since, const char *until, const char *tz,
                         usage_daily_detail detail, json_t **out, char **err);

/* The daily report: cells grouped by the local date of their slot in tz
 * (tz.h), since/until inclusive "YYYY-MM-DD" local dates (NULL: open),
 * provider NULL for every provider.  *out (new reference):
 *   {"provider": NAME|null, "tz": TZ, "since": D|null, "until": D|null,
 *    "days": [{"date": "YYYY-MM-DD", "tokens_input_uncached": n|null,
 *              ..., "cost_usd": n|null, "events": n,
 *              "models": [{"model": NAME|null, <buckets>, "events": n}],
 *              "providers": [{"provider": NAME, <buckets>, "events": n}]
 *                                         (only without a provider)}]}
 * Days and models are sorted (the unknown model last); days without cells
 * are left out.  Returns 0, or -1 with *err (malloc'd) for a bad date, an
 * empty range or an unknown time zone. */
int usage_store_daily(const usage_store *s, const char *provider,
                      const char *since, const char *until, const char *tz,
                      json_t **out, char **err);

/* The same with a zone the caller loaded (tz_load; tz_name is what the
 * report echoes), so no file is read while the caller holds a lock. */
struct tz_zone;
int usage_store_daily_zone(const usage_store *s, const char *provider,
                           const char *since, const char *until,
                           const struct tz_zone *zone, const char *tz_name,
                           json_t **out, char **err);
/* The same with a detail (usage_store_daily_db). */
int usage_store_daily_detail(const usage_store *s, const char *provider,
                             const char *since, const char *until,
                             const struct tz_zone *zone, const char *tz_name,
                             usage_daily_detail detail, json_t **out,
                             char **err);

/* Running totals (usage_counter.h) read the cells through these: the
 * number of providers held, the name of the i-th (borrowed, valid until
 * the next change), and the sum of the KNOWN values of each bucket over
 * its cells (both kinds) with from <= slot_start < until; bit b of *known
 * is set when at least one of those cells reported bucket b.  Unknown and
 * not-applicable values add nothing here: the caller says what that
 * means. */
size_t usage_store_n_providers(const usage_store *s);
const char *usage_store_provider_name(const usage_store *s, size_t i);
void usage_store_sum_range(const usage_store *s, size_t i, double from,
                           double until, double sum[UB_N], unsigned *known);

/* The cost report from a daily report (usage_store_daily's document):
 * its days, models or providers (by "day", "model" or "provider"; NULL is
 * "day") summed over the range.  *out (new reference):
 *   {"by": BY, "provider": NAME|null, "tz": TZ, "since": D|null,
 *    "until": D|null,
 *    "rows": [{"date"|"model"|"provider": NAME|null, "cost_usd": n|null,
 *              "cost_note": why|null, "tokens_total": n|null,
 *              "events": n}],
 *    "total": {"cost_usd": n|null, "cost_note": why|null,
 *              "tokens_total": n|null, "events": n}}
 * Rows are sorted by name (the unknown model last).  A cost is known only
 * when every addend is; cost_note then says why (no price for a model, or
 * a token bucket unknown), never a 0.  Returns 0, or -1 with *err for an
 * unknown grouping. */
int usage_cost_report(const json_t *daily, const char *by, json_t **out,
                      char **err);

/* Call fn for every cell (both kinds) of provider whose slot start is in
 * [from, to): its slot, model (NULL unknown; borrowed for the call), the
 * UB_N buckets and events.  Nothing happens for an unknown provider. */
typedef void (*usage_cell_fn)(void *arg, double slot, const char *model,
                              const md_num *b, double events);
void usage_store_each(const usage_store *s, const char *provider,
                      double from, double to, usage_cell_fn fn, void *arg);
/* The same with each cell's cost parts (borrowed for the call; known 0
 * when the cell has none), for pricing a cell as the report does. */
typedef void (*usage_cell_parts_fn)(void *arg, const char *model,
                                    const md_num *b, double events,
                                    const usage_parts *parts);
void usage_store_each_parts(const usage_store *s, const char *provider,
                            double from, double to, usage_cell_parts_fn fn,
                            void *arg);

/* Parse a "YYYY-MM-DD" date (1970..9999) into days since 1970-01-01.
 * 0 or -1. */
int usage_parse_date(const char *text, long *days);

#endif
