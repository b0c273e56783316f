/* history_db.c - STATE_DIR/meterd.db: open, pragmas, schema migrations
 * (contract and schema: history_db.h). */
#include "history_db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "conventions.h"
#include "log.h"

struct history_db {
    sqlite3 *h;
    pthread_mutex_t mu;
};

/* One entry per schema version: steps[v] takes a file from version v to
 * v + 1.  Appending a step (and raising HISTORY_SCHEMA_VERSION) is how the
 * schema changes; a step never edits an earlier one. */
static const char *const steps[HISTORY_SCHEMA_VERSION] = {
    /* 0 -> 1: usage cells, their generations and day rollup; samples. */
    "CREATE TABLE usage_provider(name TEXT PRIMARY KEY,"
    " generation INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE usage_cell(provider TEXT NOT NULL, slot INTEGER NOT NULL,"
    " src INTEGER NOT NULL, model TEXT NOT NULL, b0 REAL, b1 REAL, b2 REAL,"
    " b3 REAL, b4 REAL, b5 REAL, b6 REAL, na INTEGER NOT NULL,"
    " events REAL NOT NULL,"
    " PRIMARY KEY(provider, slot, src, model)) WITHOUT ROWID;"
    "CREATE TABLE usage_day(provider TEXT NOT NULL, day INTEGER NOT NULL,"
    " model TEXT NOT NULL, b0 REAL, b1 REAL, b2 REAL, b3 REAL, b4 REAL,"
    " b5 REAL, b6 REAL, na INTEGER NOT NULL, events REAL NOT NULL,"
    " PRIMARY KEY(provider, day, model)) WITHOUT ROWID;"
    "CREATE TABLE sample(provider TEXT NOT NULL, meter TEXT NOT NULL,"
    " at REAL NOT NULL, used REAL, lim REAL, remaining REAL,"
    " utilization REAL, resets_at REAL,"
    " PRIMARY KEY(provider, meter, at)) WITHOUT ROWID;"
    "CREATE INDEX sample_at ON sample(at);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;",
    /* 1 -> 2: caller ids of POST /api/telemetry, written in the
     * transaction of the usage they carried (rowid = arrival order). */
    "CREATE TABLE ingest_id(id TEXT NOT NULL UNIQUE);",
    /* 2 -> 3: the 1-hour cache-write bucket (usage_cell.h
     * UB_CACHE_WRITE_1H); old rows read it as unknown.  Generations drop
     * to 0 so every log plugin re-sends its cells, now with the bucket. */
    "ALTER TABLE usage_cell ADD COLUMN b7 REAL;"
    "ALTER TABLE usage_day ADD COLUMN b7 REAL;"
    "UPDATE usage_provider SET generation = 0;",
    /* 3 -> 4: a cell's cost parts (usage_cell.h usage_parts: own costs,
     * tokens to price and their per-event excess over the long-context
     * threshold), NULL when it has none.  Generations drop to 0 so every
     * log plugin re-sends its cells, now with their parts. */
    "ALTER TABLE usage_cell ADD COLUMN c0 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c1 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c2 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c3 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c4 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c5 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c6 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c7 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c8 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c9 REAL;"
    "ALTER TABLE usage_cell ADD COLUMN c10 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c0 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c1 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c2 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c3 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c4 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c5 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c6 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c7 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c8 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c9 REAL;"
    "ALTER TABLE usage_day ADD COLUMN c10 REAL;"
    "UPDATE usage_provider SET generation = 0;",
};

int history_db_error(history_db *db, const char *what, char **err)
{
    return err_set(err, "%s: %s", what, db && db->h ? sqlite3_errmsg(db->h)
                                                    : "no database");
}

int history_db_exec(history_db *db, const char *sql, char **err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    int rc = err_set(err, "sqlite: %s", msg ? msg : sqlite3_errmsg(db->h));
    sqlite3_free(msg);
    return rc;
}

int history_db_begin(history_db *db, char **err)
{
    return history_db_exec(db, "BEGIN IMMEDIATE", err);
}

int history_db_commit(history_db *db, char **err)
{
    return history_db_exec(db, "COMMIT", err);
}

void history_db_rollback(history_db *db)
{
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

static int pragma_int(history_db *db, const char *sql, long long *out)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int history_db_version(history_db *db)
{
    long long v = -1;
    history_db_lock(db);
    pragma_int(db, "PRAGMA user_version", &v);
    history_db_unlock(db);
    return (int)v;
}

/* Bring the file to HISTORY_SCHEMA_VERSION, one step per transaction. */
static int migrate(history_db *db, char **err)
{
    long long v;
    if (pragma_int(db, "PRAGMA user_version", &v) != 0)
        return history_db_error(db, "reading the schema version", err);
    if (v > HISTORY_SCHEMA_VERSION)
        return err_set(err, "%s has schema version %lld, newer than this "
                            "meterd's %d", HISTORY_DB_FILE, v,
                       HISTORY_SCHEMA_VERSION);
    for (; v < HISTORY_SCHEMA_VERSION; v++) {
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %lld", v + 1);
        if (history_db_begin(db, err) != 0)
            return -1;
        if (history_db_exec(db, steps[v], err) != 0 ||
            history_db_exec(db, set, err) != 0) {
            history_db_rollback(db);
            return -1;
        }
        if (history_db_commit(db, err) != 0)
            return -1;
    }
    return 0;
}

int history_db_open(const char *state_dir, history_db **out, char **err)
{
    *out = NULL;
    history_db *db = xcalloc(1, sizeof *db);
    pthread_mutex_init(&db->mu, NULL);
    char *path = xasprintf("%s/%s", state_dir, HISTORY_DB_FILE);
    /* NOMUTEX: db->mu serialises every use, transactions included. */
    int rc = sqlite3_open_v2(path, &db->h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        err_set(err, "cannot open %s: %s", path,
                db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        free(path);
        history_db_free(db);
        return -1;
    }
    free(path);
    sqlite3_busy_timeout(db->h, HISTORY_BUSY_TIMEOUT_MS);
    if (history_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                        err) != 0 ||
        migrate(db, err) != 0) {
        history_db_free(db);
        return -1;
    }
    *out = db;
    return 0;
}

void history_db_free(history_db *db)
{
    if (!db)
        return;
    sqlite3_close(db->h);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

sqlite3 *history_db_handle(history_db *db)
{
    return db->h;
}

void history_db_lock(history_db *db)
{
    pthread_mutex_lock(&db->mu);
}

void history_db_unlock(history_db *db)
{
    pthread_mutex_unlock(&db->mu);
}

long long history_db_size(history_db *db)
{
    long long pages = -1, size = -1;
    history_db_lock(db);
    int rc = pragma_int(db, "PRAGMA page_count", &pages) |
             pragma_int(db, "PRAGMA page_size", &size);
    history_db_unlock(db);
    return rc == 0 ? pages * size : -1;
}
