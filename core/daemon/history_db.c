/* history_db.c - STATE_DIR/meterd.db: open, pragmas, schema migrations
 * (contract and schema: history_db.h). */
#include "history_db.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conventions.h"
#include "log.h"

struct history_db {
    sqlite3 *h;
    pthread_mutex_t mu;
    /* The checkpointer: its own connection and thread (see
     * history_db.h "Checkpoints"); ck_mu guards the three flags. */
    sqlite3 *ck;
    pthread_t ck_thread;
    int ck_started;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_due;          /* a commit left the WAL over the threshold */
    int ck_stop;         /* history_db_free: end the thread */
    unsigned long ck_runs;   /* checkpoints run (tests) */
    /* history_db_prepared: statements kept for reuse, under mu */
    struct kept { const char *sql; sqlite3_stmt *st; } *kept;
    size_t n_kept;
    /* page_count * page_size after the last commit, -1 unknown: read
     * without mu (history_db_size_cached), so a health check never waits
     * for a commit */
    _Atomic long long size_cache;
    /* history_db_reader: a read-only connection of its own (its own mu,
     * no checkpointer, no reader), NULL when it could not be opened */
    history_db *reader;
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
    /* 3 -> 4: the alert state of every meter (alerts.h), so a restart
     * keeps the announced class and a pending leave's start.  Its own
     * step: other steps may be numbered before it. */
    "CREATE TABLE alert_state(provider TEXT NOT NULL, meter TEXT NOT NULL,"
    " class TEXT NOT NULL, since REAL NOT NULL, out_since REAL,"
    " PRIMARY KEY(provider, meter)) WITHOUT ROWID;",
    /* 4 -> 5: a cell's cost parts (usage_cell.h usage_parts: own costs,
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
    /* 5 -> 6: the daily report materialised per time zone (usage_zone.h),
     * built by the first report in a zone: nothing to convert. */
    "CREATE TABLE usage_zone(zone TEXT PRIMARY KEY, used_at REAL NOT NULL,"
    " built_at REAL NOT NULL, format INTEGER NOT NULL,"
    " rules INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE usage_zday(zone TEXT NOT NULL, kind INTEGER NOT NULL,"
    " day INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,"
    " b0 REAL, b1 REAL, b2 REAL, b3 REAL, b4 REAL, b5 REAL, b6 REAL,"
    " b7 REAL, na INTEGER NOT NULL, events REAL NOT NULL,"
    " unpriced INTEGER NOT NULL,"
    " PRIMARY KEY(zone, kind, day, provider, model)) WITHOUT ROWID;"
    "CREATE TABLE usage_zdirty(zone TEXT NOT NULL, lo INTEGER NOT NULL,"
    " hi INTEGER NOT NULL, PRIMARY KEY(zone, lo, hi)) WITHOUT ROWID;"
    "CREATE TABLE usage_zprice(model TEXT PRIMARY KEY, price BLOB NOT NULL)"
    " WITHOUT ROWID;",
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

static int pragma_int(history_db *db, const char *sql, long long *out);

/* Lock held: refresh the cached size (history_db_size_cached). */
static void refresh_size(history_db *db)
{
    long long pages = -1, size = -1;
    if ((pragma_int(db, "PRAGMA page_count", &pages) |
         pragma_int(db, "PRAGMA page_size", &size)) == 0)
        atomic_store(&db->size_cache, pages * size);
}

int history_db_commit(history_db *db, char **err)
{
    if (history_db_exec(db, "COMMIT", err) != 0)
        return -1;
    refresh_size(db);
    return 0;
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

/* Bring the file to HISTORY_SCHEMA_VERSION: every step it lacks in one
 * transaction (a new file: one commit, one WAL fsync, instead of one per
 * step), so a failed step leaves the file at its old version. */
static int migrate(history_db *db, char **err)
{
    long long v;
    if (pragma_int(db, "PRAGMA user_version", &v) != 0)
        return history_db_error(db, "reading the schema version", err);
    if (v > HISTORY_SCHEMA_VERSION)
        return err_set(err, "%s has schema version %lld, newer than this "
                            "meterd's %d", HISTORY_DB_FILE, v,
                       HISTORY_SCHEMA_VERSION);
    if (v == HISTORY_SCHEMA_VERSION)
        return 0;
    if (history_db_begin(db, err) != 0)
        return -1;
    for (; v < HISTORY_SCHEMA_VERSION; v++) {
        if (history_db_exec(db, steps[v], err) != 0) {
            history_db_rollback(db);
            return -1;
        }
    }
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version = %d",
             HISTORY_SCHEMA_VERSION);
    if (history_db_exec(db, set, err) != 0) {
        history_db_rollback(db);
        return -1;
    }
    return history_db_commit(db, err);
}

/* After every commit on the main connection (SQLite's WAL hook, called
 * with the WAL's size in pages): past the threshold, wake the
 * checkpointer and return at once, so the commit that crossed it is not
 * the one that pays for copying the WAL into the database. */
static int wal_hook(void *arg, sqlite3 *h, const char *name, int pages)
{
    history_db *db = arg;
    if (pages >= HISTORY_WAL_MAX_PAGES) {
        /* Commits come faster than the checkpointer finishes: a
         * checkpoint that runs alongside commits never catches up with
         * the last frame, and only a complete one lets the WAL start
         * over.  Here no commit runs (this one holds the connection), so
         * the rest is copied now - what SQLite would do by default - and
         * the WAL stays bounded. */
        int logged = 0, done = 0;
        sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, &logged,
                                  &done);
    } else if (pages >= HISTORY_CHECKPOINT_PAGES) {
        pthread_mutex_lock(&db->ck_mu);
        db->ck_due = 1;
        pthread_cond_signal(&db->ck_cv);
        pthread_mutex_unlock(&db->ck_mu);
    }
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    history_db *db = arg;
    pthread_mutex_lock(&db->ck_mu);
    for (;;) {
        while (!db->ck_due && !db->ck_stop)
            pthread_cond_wait(&db->ck_cv, &db->ck_mu);
        if (db->ck_stop)
            break;
        db->ck_due = 0;
        pthread_mutex_unlock(&db->ck_mu);
        /* PASSIVE: copies what no reader still needs, never waits for a
         * lock and never blocks a writer; a failure (disk full) is left
         * for the next crossing, the WAL keeps the data meanwhile. */
        int logged = 0, done = 0;
        sqlite3_wal_checkpoint_v2(db->ck, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                  &logged, &done);
        pthread_mutex_lock(&db->ck_mu);
        db->ck_runs++;
    }
    pthread_mutex_unlock(&db->ck_mu);
    return NULL;
}

/* Page cache of the reader's connection, KiB (SQLite's default: 2 MiB). */
#define AUX_CACHE_KIB "256"

/* The checkpointer's connection and thread; without them the main
 * connection checkpoints inline as SQLite does by default. */
static void start_checkpointer(history_db *db, const char *path)
{
    if (sqlite3_open_v2(path, &db->ck,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sqlite3_close(db->ck);
        db->ck = NULL;
        return;
    }
    sqlite3_busy_timeout(db->ck, HISTORY_BUSY_TIMEOUT_MS);
    /* A connection learns that the file is in WAL mode, and opens the
     * WAL, only when it first reads; until then sqlite3_wal_checkpoint_v2
     * on it returns SQLITE_OK having copied nothing.  One read here, so
     * that the checkpointer's checkpoints are real. */
    if (sqlite3_exec(db->ck, "PRAGMA schema_version", NULL, NULL, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db->ck);
        db->ck = NULL;
        return;
    }
    /* Signals stay with the threads that wait for them: the thread
     * starts with every signal blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&db->ck_thread, NULL, checkpointer, db);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sqlite3_close(db->ck);
        db->ck = NULL;
        return;
    }
    db->ck_started = 1;
    sqlite3_wal_autocheckpoint(db->h, 0);
    sqlite3_wal_hook(db->h, wal_hook, db);
}

/* The read-only sibling (history_db_reader).  WAL lets it read the last
 * committed state while the main connection writes, so a query on it
 * never waits for a commit; without it, reads share the main one. */
static void open_reader(history_db *db, const char *path)
{
    history_db *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->ck_mu, NULL);
    pthread_cond_init(&r->ck_cv, NULL);
    atomic_store(&r->size_cache, -1);
    if (sqlite3_open_v2(path, &r->h,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        history_db_free(r);
        return;
    }
    sqlite3_busy_timeout(r->h, HISTORY_BUSY_TIMEOUT_MS);
    /* History queries read a range of one meter's samples once: a small
     * cache is enough (the main connection keeps the default). */
    sqlite3_exec(r->h, "PRAGMA cache_size=-" AUX_CACHE_KIB, NULL, NULL, NULL);
    db->reader = r;
}

unsigned long history_db_checkpoints(history_db *db)
{
    pthread_mutex_lock(&db->ck_mu);
    unsigned long n = db->ck_runs;
    pthread_mutex_unlock(&db->ck_mu);
    return n;
}

/* SQLite's memory statistics take a process-wide mutex in every one of
 * its allocations, and nothing here reads them (sqlite3_status): off,
 * before SQLite initialises (sqlite3_config's rule; a later call is
 * refused and changes nothing). */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int history_db_open(const char *state_dir, history_db **out, char **err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    *out = NULL;
    history_db *db = xcalloc(1, sizeof *db);
    atomic_store(&db->size_cache, -1);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->ck_mu, NULL);
    pthread_cond_init(&db->ck_cv, NULL);
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
    sqlite3_busy_timeout(db->h, HISTORY_BUSY_TIMEOUT_MS);
    /* journal_size_limit: once the WAL starts over, its file is cut back
     * to this size (else it keeps the size of the largest transaction
     * ever written, e.g. the migration of a usage.json). */
    if (history_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            " PRAGMA journal_size_limit="
                            HISTORY_WAL_LIMIT_TEXT ";",
                        err) != 0 ||
        migrate(db, err) != 0) {
        free(path);
        history_db_free(db);
        return -1;
    }
    start_checkpointer(db, path);
    open_reader(db, path);
    refresh_size(db);
    free(path);
    *out = db;
    return 0;
}

sqlite3_stmt *history_db_prepared(history_db *db, const char *sql,
                                  char **err)
{
    for (size_t i = 0; i < db->n_kept; i++)
        if (db->kept[i].sql == sql || strcmp(db->kept[i].sql, sql) == 0)
            return db->kept[i].st;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        history_db_error(db, "preparing a statement", err);
        return NULL;
    }
    db->kept = xrealloc(db->kept, (db->n_kept + 1) * sizeof *db->kept);
    db->kept[db->n_kept++] = (struct kept){sql, st};
    return st;
}

void history_db_keep_wal_on_close(history_db *db)
{
    /* The next process to open the file alone reads the whole WAL back
     * (SQLite rebuilds its index): past HISTORY_KEEP_WAL_BYTES that costs
     * more than the checkpoint saves, so a larger WAL is copied on close
     * as before. */
    if (!db)
        return;
    const char *path = sqlite3_db_filename(db->h, "main");
    char *wal = path && *path ? xasprintf("%s-wal", path) : NULL;
    struct stat st;
    int small = wal && (stat(wal, &st) != 0 ||
                        st.st_size < HISTORY_KEEP_WAL_BYTES);
    free(wal);
    if (!small)
        return;
    history_db_keep_wal_on_close(db->reader);
    sqlite3 *conns[] = {db->h, db->ck};
    for (size_t i = 0; i < sizeof conns / sizeof *conns; i++)
        if (conns[i])
            sqlite3_db_config(conns[i], SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
                              NULL);
}

void history_db_copy_wal_soon(history_db *db)
{
    if (!db || !db->ck_started)
        return;
    const char *path = sqlite3_db_filename(db->h, "main");
    char *wal = path && *path ? xasprintf("%s-wal", path) : NULL;
    struct stat st;
    int large = wal && stat(wal, &st) == 0 &&
                st.st_size >= HISTORY_KEEP_WAL_BYTES;
    free(wal);
    if (!large)
        return;
    pthread_mutex_lock(&db->ck_mu);
    db->ck_due = 1;
    pthread_cond_signal(&db->ck_cv);
    pthread_mutex_unlock(&db->ck_mu);
}

void history_db_free(history_db *db)
{
    if (!db)
        return;
    history_db_free(db->reader);
    for (size_t i = 0; i < db->n_kept; i++)
        sqlite3_finalize(db->kept[i].st);
    free(db->kept);
    if (db->ck_started) {
        pthread_mutex_lock(&db->ck_mu);
        db->ck_stop = 1;
        pthread_cond_signal(&db->ck_cv);
        pthread_mutex_unlock(&db->ck_mu);
        pthread_join(db->ck_thread, NULL);
    }
    /* The checkpointer's connection goes first: closing the last one
     * checkpoints what is left (SQLite's own rule). */
    sqlite3_close(db->ck);
    sqlite3_close(db->h);
    pthread_cond_destroy(&db->ck_cv);
    pthread_mutex_destroy(&db->ck_mu);
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

long long history_db_size_cached(history_db *db)
{
    return db ? atomic_load(&db->size_cache) : -1;
}

history_db *history_db_reader(history_db *db)
{
    return db && db->reader ? db->reader : db;
}
