/*
 * history_db.h - the one SQLite database under STATE_DIR (meterd.db):
 * opening it, its pragmas, its schema and the migrations between schema
 * versions.  The usage store (usage_store_file.c: usage cells, their
 * provider generations, the per-day rollup) and the meter samples
 * (history.c) keep their rows here.
 *
 * Why SQLite: a change (one collection, one ingest POST) is written as
 * the rows it changed in one transaction, instead of rewriting a file
 * whose size grows with the history; a crash mid-write leaves the last
 * committed state; range queries (a day, a meter over a week) read only
 * that range.
 *
 * Durability: WAL journal with synchronous=FULL.  In WAL mode NORMAL only
 * syncs the WAL at checkpoints, so a commit survives a killed process but
 * not a power loss; FULL fsyncs the WAL at every commit, so once a commit
 * returned (and only then does POST /api/telemetry answer 200) the event
 * survives both.  The price is one fsync per commit.
 *
 * Schema (PRAGMA user_version = HISTORY_SCHEMA_VERSION; history_db_open
 * migrates older versions forward, one step per version, all the steps
 * a file lacks in one transaction):
 *   usage_provider(name PK, generation)            generation as the bit
 *                                                  pattern of a uint64
 *   usage_cell(provider, slot, src, model, b0..b6, na, events, b7,
 *              c0..c10)
 *     PK (provider, slot, src, model); model '' = unknown model (a real
 *     model name is 1..128 printable bytes, never empty); a bucket column
 *     bK is NULL when the bucket is not known: unknown when bit K of na
 *     is clear, not applicable when it is set.  Unknown is never 0.  bK
 *     holds usage_bucket K; b7 (schema 3) was appended by ALTER TABLE,
 *     hence after events: statements name their columns.  c0..c10
 *     (schema 5, after b7) are the cell's cost parts (usage_cell.h
 *     usage_parts, flattened), all NULL when it has none.
 *   usage_day(provider, day, model, b0..b6, na, events, b7, c0..c10)
 *     the cells summed per UTC day (day = slot / 86400), with the
 *     store's summing rule (unknown wins, not applicable is neutral;
 *     parts only when every cell of the day has them);
 *     kept in step with usage_cell by every write (usage_store_file.c).
 *   usage_zone, usage_zday, usage_zdirty, usage_zprice  (version 6)
 *     the daily report in other zones than UTC, materialised per zone
 *     (at most USAGE_ZONES_KEPT zones) and invalidated by every write of
 *     cells: usage_zone.h.
 *   sample(provider, meter, at, used, lim, remaining, utilization,
 *          resets_at)  PK (provider, meter, at); NULL = unknown.
 *   meta(key PK, value)   e.g. the thinning watermark.
 *   ingest_id(id UNIQUE)  caller ids of POST /api/telemetry (version 2),
 *     inserted in the transaction of the usage they carried, so an id is
 *     recorded exactly when its usage is; rowid is the arrival order and
 *     only the last INGEST_MAX_IDS are kept.
 *   alert_state(provider, meter, class, since, out_since)  (version 4)
 *     PK (provider, meter): the flapping guard of each meter (alerts.h);
 *     class by name, out_since NULL when no leave is pending.
 *
 * Checkpoints: SQLite by default copies the WAL back into the database
 * (a checkpoint: many page writes and an fsync of the database file)
 * inside the commit that took the WAL past 1000 pages, so one commit in a
 * few hundred - one ingest POST - paid for it.  Here the main connection
 * never checkpoints; its WAL hook wakes a checkpointer thread with its
 * own connection once the WAL holds HISTORY_CHECKPOINT_PAGES, which runs
 * a PASSIVE checkpoint (never blocks a writer, never waits for a reader)
 * while commits go on.  The next write after a complete checkpoint starts
 * the WAL over, so the WAL file stays near the threshold; a checkpoint
 * that could not finish (a reader, a full disk) is tried again at the
 * next commit past it.  Under a stream of commits a checkpoint running
 * beside them never reaches the last frame; past HISTORY_WAL_MAX_PAGES
 * the commit then finishes the copy itself (inline, as SQLite would), so
 * the WAL is bounded whatever the load.  When the WAL starts over its
 * file is cut back to HISTORY_WAL_LIMIT_BYTES (journal_size_limit): a
 * large transaction (a migration) does not leave a large file behind.  Durability is unchanged: a commit is on disk
 * once its WAL fsync returned, whatever the checkpoints do.
 *
 * Invariants: a history_db's handle is only used with its mutex held
 * (history_db_lock); every write is one transaction.
 * Ownership: history_db_open returns an object the caller frees with
 * history_db_free (finalizes the kept statements, closes the handle).
 * Threads: any thread, serialised by history_db_lock/unlock; the
 * checkpointer thread uses only its own connection; the reader
 * (history_db_reader) is a history_db of its own, with its own lock.
 */
#ifndef METERD_HISTORY_DB_H
#define METERD_HISTORY_DB_H

#include <sqlite3.h>

#define HISTORY_DB_FILE "meterd.db"
#define HISTORY_SCHEMA_VERSION 6
/* How long a statement waits for another connection's lock (a running
 * daemon and `meterd report daily` share the file). */
#define HISTORY_BUSY_TIMEOUT_MS 5000
/* WAL size (pages) that wakes the checkpointer: SQLite's own default;
 * past HISTORY_WAL_MAX_PAGES the committing connection checkpoints
 * itself (see "Checkpoints"). */
#define HISTORY_CHECKPOINT_PAGES 1000
#define HISTORY_WAL_MAX_PAGES (4 * HISTORY_CHECKPOINT_PAGES)
/* Bytes the WAL file is cut back to when the WAL starts over (PRAGMA
 * journal_size_limit): 1000 pages of 4 KiB and their frame headers. */
#define HISTORY_WAL_LIMIT_BYTES 4120000
#define HISTORY_WAL_LIMIT_TEXT "4120000"
/* history_db_keep_wal_on_close: the largest WAL left behind, 64 pages of
 * 4 KiB and their frame headers (reading it back at the next open costs
 * less than the two fsyncs of a checkpoint). */
#define HISTORY_KEEP_WAL_BYTES (64 * (4096 + 24) + 32)

typedef struct history_db history_db;

/* Open (create) STATE_DIR/meterd.db and bring its schema to the current
 * version.  0 with *out, or -1 with *err. */
int history_db_open(const char *state_dir, history_db **out, char **err);
void history_db_free(history_db *db);
/* Let history_db_free close db without the checkpoint SQLite runs when
 * the last connection to a file closes (and without deleting the WAL
 * file): for a one-shot process (`meterd report`), whose commits are
 * durable in the WAL already; the checkpoint is then left to the next
 * process past HISTORY_CHECKPOINT_PAGES (the WAL stays bounded), and the
 * next commit appends to the WAL instead of starting a new file (no
 * header and directory fsync).  A WAL of HISTORY_KEEP_WAL_BYTES or more
 * is still copied on close: the next process that opens the file alone
 * reads all of the WAL back.  Call it after the process's last commit.
 * NULL: nothing. */
void history_db_keep_wal_on_close(history_db *db);
/* A WAL of HISTORY_KEEP_WAL_BYTES or more: wake the checkpointer to copy
 * it now, so that the copy a one-shot process's close would make runs
 * while the process does its remaining work (the close then finds the
 * frames copied).  Nothing for a smaller WAL or without a checkpointer.
 * NULL: nothing. */
void history_db_copy_wal_soon(history_db *db);

/* The raw handle; use it only between lock and unlock. */
sqlite3 *history_db_handle(history_db *db);
void history_db_lock(history_db *db);
void history_db_unlock(history_db *db);

/* A prepared statement for sql on db's handle, prepared at the first
 * call and kept until history_db_free, so that a write (one ingest POST)
 * does not parse its statements again.  sql must live as long as db (a
 * literal or a static buffer); the caller holds the lock, resets the
 * statement after use and never finalizes it.  NULL with *err. */
sqlite3_stmt *history_db_prepared(history_db *db, const char *sql,
                                  char **err);

/* Run sql (no rows expected); 0 or -1 with *err naming what. */
int history_db_exec(history_db *db, const char *sql, char **err);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (lock held). */
int history_db_begin(history_db *db, char **err);
int history_db_commit(history_db *db, char **err);
void history_db_rollback(history_db *db);

/* Checkpoints the checkpointer has run so far (any thread). */
unsigned long history_db_checkpoints(history_db *db);

/* page_count * page_size in bytes (takes the lock), -1 on error. */
long long history_db_size(history_db *db);
/* The same as of the last commit on db (refreshed by every commit and at
 * open), without the lock: what /healthz shows, so it never waits for
 * a writer.  -1 when unknown or db is NULL.  Any thread. */
long long history_db_size_cached(history_db *db);
/* A read-only connection to the same file, with its own lock (WAL: it
 * reads the last committed state while db writes), for queries that
 * must not wait for a commit (GET /api/history).  Use it like db (lock,
 * handle, unlock) but never write through it; it lives as long as db.
 * db itself when the second connection could not be opened. */
history_db *history_db_reader(history_db *db);
/* The schema version of the file (for tests and healthz). */
int history_db_version(history_db *db);

/* *err for the current SQLite error of db, prefixed by what. -1. */
int history_db_error(history_db *db, const char *what, char **err);

#endif
