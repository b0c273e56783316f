/* t/unit/history.c - the history database: usage.json migrated cell by
 * cell and only once, a change written as the rows it touched, the day
 * rollup equal to the in-memory report, meter samples on change and at
 * most once per sample_every, unknown stored as NULL, retention and
 * thinning of samples. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "history_db.h"
#include "log.h"
#include "metric.h"
#include "tap.h"
#include "usage_store_impl.h"

#define DAY 86400.0
#define T0 1773100800.0          /* 2026-03-10T00:00:00Z */
#define NOW (T0 + 5 * DAY)

static char *g_dir;

static char *new_dir(const char *tag)
{
    char *d = xasprintf("%s/%s", g_dir, tag);
    mkdir(d, 0700);
    return d;
}

static int exists(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    int yes = stat(p, &st) == 0;
    free(p);
    return yes;
}

static long long count(history_db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    history_db_lock(db);
    if (sqlite3_prepare_v2(history_db_handle(db), sql, -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    history_db_unlock(db);
    return n;
}

/* A usage.json in the file store's format: two providers, 3 models, both
 * sources, unknown / not applicable / fractional buckets, a 64-bit
 * generation. */
static json_t *json_fixture(void)
{
    json_t *cells = json_array();
    for (int i = 0; i < 300; i++) {
        json_t *b = json_pack("[I, o, i]", (json_int_t)(T0 + 900.0 * i),
                              i % 4 == 3 ? json_null() : json_integer(i % 3),
                              i % 5 == 0);
        for (int k = 0; k < UB_N; k++)
            json_array_append_new(
                b, (i + k) % 7 == 0   ? json_null()
                   : (i + k) % 11 == 0 ? json_string("na")
                   : k == UB_COST      ? json_real(i * 0.125)
                                       : json_integer(i * 10 + k));
        json_array_append_new(b, json_integer(1 + i % 3));
        json_array_append_new(cells, b);
    }
    json_t *p1 = json_pack("{s:s, s:s, s:[s, s, s], s:o}", "name", "claude",
                           "generation", "18446744073709551615", "models",
                           "m-a", "m-b", "m-c", "cells", cells);
    json_t *p2 = json_pack("{s:s, s:s, s:[], s:[[I, n, i, i, n, s, i, i, i, f, i]]}",
                           "name", "gw", "generation", "0", "models", "cells",
                           (json_int_t)(T0 + DAY), 1, 5, "na", 7, 8, 9, 0.5, 2);
    return json_pack("{s:s, s:s, s:[o, o]}", "schema", "meterd.usage.v1",
                     "saved_at", "2026-03-15T00:00:00Z", "providers", p1, p2);
}

static int num_eq(md_num a, const json_t *j)
{
    if (json_is_null(j))
        return a.state == MD_UNKNOWN;
    if (json_is_string(j))
        return a.state == MD_NOT_APPLICABLE;
    return a.state == MD_KNOWN && a.value == json_number_value(j);
}

/* Every cell of the JSON document is in s, equal, and s has no other. */
static int same_as_json(const usage_store *s, const json_t *doc,
                        size_t *compared)
{
    size_t i, k;
    json_t *pj, *cj;
    *compared = 0;
    size_t n_p = 0;
    json_array_foreach(json_object_get(doc, "providers"), i, pj) {
        const uprov *p = uprov_find(s, json_string_value(json_object_get(pj, "name")), NULL);
        json_t *cells = json_object_get(pj, "cells");
        json_t *models = json_object_get(pj, "models");
        unsigned long long g = 0;
        usage_generation_from_json(json_object_get(pj, "generation"), &g);
        if (!p || p->n != json_array_size(cells) || p->generation != g)
            return 0;
        n_p++;
        json_array_foreach(cells, k, cj) {
            double slot = json_number_value(json_array_get(cj, 0));
            json_t *mj = json_array_get(cj, 1);
            const char *model = json_is_null(mj) ? NULL
                : json_string_value(json_array_get(models, (size_t)json_integer_value(mj)));
            int src = (int)json_integer_value(json_array_get(cj, 2));
            const ucell *hit = NULL;
            for (size_t c = 0; c < p->n && !hit; c++) {
                const char *pm = uprov_model_name(p, p->cells[c].model);
                if (p->cells[c].slot == slot && p->cells[c].src == src &&
                    ((!pm && !model) || (pm && model && strcmp(pm, model) == 0)))
                    hit = &p->cells[c];
            }
            if (!hit)
                return 0;
            /* 11 values: a cell from before the 1-hour cache-write
             * bucket, which then reads as unknown */
            size_t nb = json_array_size(cj) - 4;
            for (size_t b = 0; b < UB_N; b++)
                if (b < nb ? !num_eq(hit->b[b], json_array_get(cj, 3 + b))
                           : hit->b[b].state != MD_UNKNOWN)
                    return 0;
            if (hit->events != json_number_value(json_array_get(cj, 3 + nb)))
                return 0;
            (*compared)++;
        }
    }
    return n_p == s->n_p;
}

static void test_migration(void)
{
    char *dir = new_dir("migrate");
    json_t *doc = json_fixture();
    char *path = xasprintf("%s/usage.json", dir);
    json_dump_file(doc, path, 0);
    char *err = NULL;
    usage_store *s = usage_store_new(dir, 0);
    is_int(usage_store_load(s, NOW, &err), 0, "usage.json migrated and loaded");
    size_t n = 0;
    ok(same_as_json(s, doc, &n), "migration loses nothing: every cell equal");
    is_int(n, 301, "all 301 cells compared");
    ok(!exists(dir, "usage.json") && exists(dir, "usage.json.migrated"),
       "usage.json kept as usage.json.migrated");
    is_int(count(usage_store_db(s), "SELECT count(*) FROM usage_cell"), 301,
           "301 rows in the database");
    json_t *mem = NULL, *db = NULL;
    usage_store_daily(s, NULL, NULL, NULL, "UTC", &mem, &err);
    usage_store_daily_db(s, NULL, NULL, NULL, "UTC", USAGE_DAILY_FULL, &db, &err);
    ok(mem && db && json_equal(mem, db), "the day rollup gives the report "
                                         "the memory gives (UTC)");
    json_decref(db);
    json_decref(mem);
    usage_store_daily(s, NULL, NULL, NULL, "Asia/Kolkata", &mem, &err);
    usage_store_daily_db(s, NULL, "2026-03-09", "2026-03-20", "Asia/Kolkata",
                         USAGE_DAILY_FULL, &db, &err);
    json_t *mem2 = NULL;
    usage_store_daily(s, NULL, "2026-03-09", "2026-03-20", "Asia/Kolkata", &mem2, &err);
    ok(mem2 && db && json_equal(mem2, db), "the same from cells in another zone");
    json_decref(db);
    json_decref(mem);
    json_decref(mem2);
    usage_store_free(s);

    s = usage_store_new(dir, 0);
    is_int(usage_store_load(s, NOW, &err), 0, "second start loads");
    ok(same_as_json(s, doc, &n), "second start: still every cell, none doubled");
    is_int(count(usage_store_db(s), "SELECT count(*) FROM usage_cell"), 301,
           "second start does not migrate again (301 rows)");
    usage_store_free(s);
    json_decref(doc);
    free(path);
    free(dir);
}

static void test_incremental(void)
{
    char *dir = new_dir("incr");
    char *err = NULL;
    usage_store *s = usage_store_new(dir, 0);
    usage_store_load(s, NOW, &err);
    usage_cell_rec *c = xcalloc(2000, sizeof *c);
    for (int i = 0; i < 2000; i++) {
        c[i].slot_start = T0 - 4 * DAY + 900.0 * i;
        c[i].model = "m";
        for (int k = 0; k < UB_N; k++)
            c[i].b[k] = MD_NUM(i);
        c[i].events = 1;
    }
    usage_store_put(s, "claude", c, 2000, 0, 3, NOW);
    ok(usage_store_save(s, NOW, &err) == 0, "2000 cells saved");
    sqlite3 *h = history_db_handle(usage_store_db(s));
    int before = sqlite3_total_changes(h);
    md_num b[UB_N] = {MD_NUM(1), MD_NUM(2), MD_NUM_NA, MD_NUM(3),
                      {MD_UNKNOWN, 0}, MD_NUM(6), {MD_UNKNOWN, 0}};
    const char *why = NULL;
    usage_store_add_event(s, "gw", NOW - 60, "x", b, NOW, &why, NULL);
    ok(usage_store_save(s, NOW, &err) == 0, "one event saved");
    int changed = sqlite3_total_changes(h) - before;
    ok(changed > 0 && changed <= 5, "one event writes a handful of rows, not the store");
    printf("# rows changed by one event: %d\n", changed);
    history_db *db = usage_store_db(s);
    is_int(count(db, "SELECT count(*) FROM usage_cell WHERE provider = 'gw' AND"
                     " b4 IS NULL AND b6 IS NULL AND na = 4 AND b2 IS NULL"),
           1, "unknown buckets are NULL with no n/a bit, n/a is NULL with its bit");
    /* A put since a slot rewrites only from there. */
    before = sqlite3_total_changes(h);
    usage_store_put(s, "claude", c + 1990, 10, c[1990].slot_start, 4, NOW);
    ok(usage_store_save(s, NOW, &err) == 0, "a resend of the tail saved");
    changed = sqlite3_total_changes(h) - before;
    ok(changed < 100, "a tail resend writes the tail (+ its day rollup)");
    printf("# rows changed by a 10-cell resend: %d\n", changed);
    usage_store_free(s);
    s = usage_store_new(dir, 0);
    usage_store_load(s, NOW, &err);
    is_int(usage_store_count(s, "claude"), 2000, "cells back after reload");
    ok(usage_store_generation(s, "claude") == 4, "generation back after reload");
    is_int(usage_store_count(s, "gw"), 1, "the ingest cell back after reload");
    usage_store_free(s);
    free(c);
    free(dir);
}

static metric meter(char *id, md_num used, md_num limit)
{
    metric m;
    memset(&m, 0, sizeof m);
    m.id = id;
    m.used = used;
    m.limit = limit;
    m.remaining = (md_num){MD_UNKNOWN, 0};
    m.utilization = (md_num){MD_NOT_APPLICABLE, 0};
    m.resets_at = (md_time){MD_UNKNOWN, 0};
    return m;
}

static void test_samples(void)
{
    char *dir = new_dir("samples");
    char *err = NULL;
    usage_store *s = usage_store_new(dir, 0);
    usage_store_load(s, NOW, &err);
    history *h = usage_store_history(s);
    history_set_policy(h, 60 * 1000, 0);
    metric m[2] = {meter("five_hour", MD_NUM(10), MD_NUM(100)),
                   meter("weekly", (md_num){MD_UNKNOWN, 0}, MD_NUM(5))};
    is_int(history_record(h, "claude", m, 2, NOW), 2, "first sight: both sampled");
    is_int(history_record(h, "claude", m, 2, NOW + 10), 0,
           "unchanged within sample_every: nothing");
    m[0].used = MD_NUM(11);
    is_int(history_record(h, "claude", m, 2, NOW + 20), 1,
           "a changed value is sampled at once");
    is_int(history_record(h, "claude", m, 2, NOW + 59), 0,
           "unchanged again: nothing");
    is_int(history_record(h, "claude", m, 2, NOW + 61), 1,
           "the unchanged meter after sample_every (weekly, 61 s after)");
    is_int(history_record(h, "claude", m, 2, NOW + 81), 1,
           "and five_hour 60 s after its last sample");
    ok(usage_store_save(s, NOW + 90, &err) == 0, "samples written");
    history_db *db = usage_store_db(s);
    is_int(count(db, "SELECT count(*) FROM sample"), 5, "five samples stored");
    is_int(count(db, "SELECT count(*) FROM sample WHERE meter = 'weekly' AND"
                     " used IS NULL AND remaining IS NULL AND utilization"
                     " IS NULL AND resets_at IS NULL AND lim = 5"),
           2, "unknown and n/a values are NULL, never 0");
    json_t *q = NULL;
    ok(history_query(db, "claude", "five_hour", NOW - 1, NOW + 100, 0, &q, &err) == 0,
       "query");
    json_t *smp = json_object_get(json_array_get(json_object_get(q, "meters"), 0), "samples");
    is_int(json_array_size(smp), 3, "three five_hour samples");
    ok(json_is_null(json_object_get(json_array_get(smp, 0), "remaining")),
       "query: unknown is null");
    json_decref(q);
    ok(history_query(db, "claude", NULL, NOW - 1, NOW + 100, 3600, &q, &err) == 0,
       "query with a step");
    smp = json_object_get(json_array_get(json_object_get(q, "meters"), 0), "samples");
    is_int(json_array_size(smp), 1, "one sample per hour bucket");
    is_int(json_integer_value(json_object_get(json_array_get(smp, 0), "used")), 11,
           "the bucket's last value");
    json_decref(q);
    usage_store_free(s);
    free(dir);
}

static void test_maintenance(void)
{
    char *dir = new_dir("maint");
    history_db *db = NULL;
    char *err = NULL;
    ok(history_db_open(dir, &db, &err) == 0, "open");
    is_int(history_db_version(db), HISTORY_SCHEMA_VERSION, "schema version set");
    sqlite3 *h = history_db_handle(db);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(h, "INSERT INTO sample(provider, meter, at, used) VALUES"
                          " ('p', 'm', ?1, ?2)", -1, &st, NULL);
    /* every 5 minutes: 30 days ago to 20 days ago, and the last 3 days;
     * plus one sample 500 days old */
    double t;
    int n = 0;
    for (t = NOW - 30 * DAY; t < NOW - 20 * DAY; t += 300, n++) {
        sqlite3_bind_double(st, 1, t);
        sqlite3_bind_double(st, 2, n);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    int recent = 0;
    for (t = NOW - 3 * DAY; t < NOW; t += 300, n++, recent++) {
        sqlite3_bind_double(st, 1, t);
        sqlite3_bind_double(st, 2, n);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_bind_double(st, 1, NOW - 500 * DAY);
    sqlite3_step(st);
    sqlite3_finalize(st);
    long long retention = 400LL * 86400 * 1000;
    for (int run = 0; run < 10; run++) {   /* bounded runs catch up */
        history_db_lock(db);
        history_db_begin(db, &err);
        long long gone = history_maintain(db, retention, NOW, &err);
        history_db_commit(db, &err);
        history_db_unlock(db);
        if (gone < 0) {
            printf("# %s\n", err);
            break;
        }
    }
    is_int(count(db, "SELECT count(*) FROM sample WHERE at < "
                     "strftime('%s','now') - 0 AND at < 1773100800 - 400*86400"),
           0, "a sample older than history_retention is deleted");
    is_int(count(db, "SELECT count(*) FROM sample WHERE at >= 1773100800 + 5*86400 - 3*86400"),
           recent, "the last week keeps every sample");
    is_int(count(db, "SELECT count(*) FROM sample WHERE at < 1773100800 + 5*86400 - 7*86400"),
           240, "older ones thinned to one per hour (10 days x 24)");
    is_int(count(db, "SELECT count(*) FROM (SELECT CAST(at / 3600 AS INTEGER) h"
                     " FROM sample WHERE at < 1773100800 - 2*86400 GROUP BY h"
                     " HAVING max(at) % 3600 != 3300)"),
           0, "the one kept is the hour's last");
    history_db_free(db);
    free(dir);
}

static long long file_size(const char *dir, const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    long long n = stat(p, &st) == 0 ? (long long)st.st_size : -1;
    free(p);
    return n;
}

/* The checkpointer's checkpoints copy the WAL into the database file:
 * once it has run, the file has grown, long before the WAL reaches
 * HISTORY_WAL_MAX_PAGES (where the committing connection copies it
 * itself).  A checkpointer whose connection never read would "run"
 * without copying a page. */
static void test_checkpointer_copies(void)
{
    char *dir = new_dir("ckcopy");
    char *err = NULL;
    usage_store *s = usage_store_new(dir, 0);
    usage_store_load(s, NOW, &err);
    history_db *db = usage_store_db(s);
    md_num b[UB_N] = {MD_NUM(1), MD_NUM(2), MD_NUM(3), MD_NUM(4), MD_NUM(0),
                      MD_NUM(10), MD_NUM_NA, MD_NUM(0)};
    const char *why = NULL;
    long long db0 = file_size(dir, "meterd.db");
    for (int i = 0; i < 400 && history_db_checkpoints(db) == 0; i++) {
        for (int k = 0; k < 40; k++)
            usage_store_add_event(s, "gw", T0 - (k + 1) * DAY + 900.0 * (i % 90),
                                  i % 2 ? "m-a" : "m-b", b, NOW, &why, NULL);
        usage_store_save(s, NOW, &err);
        if (history_db_checkpoints(db) == 0)
            usleep(2000);
    }
    long long wal = file_size(dir, "meterd.db-wal");
    long long db1 = file_size(dir, "meterd.db");
    printf("# database file %lld -> %lld bytes, WAL %lld bytes\n", db0, db1,
           wal);
    ok(history_db_checkpoints(db) >= 1, "the checkpointer ran");
    ok(db1 > db0, "and copied the WAL into the database file");
    ok(wal < (long long)HISTORY_WAL_MAX_PAGES * 4096,
       "before the commits would have copied it themselves");
    usage_store_free(s);
    free(dir);
}

/* The checkpointer thread runs once the WAL passes
 * HISTORY_CHECKPOINT_PAGES, and the WAL file stays bounded by
 * HISTORY_WAL_MAX_PAGES while commits follow each other without a pause
 * (with SQLite's inline checkpoints off and nothing else, it would grow
 * by every commit: ~30 pages here). */
static void test_checkpoints(void)
{
    char *dir = new_dir("ckpt");
    char *err = NULL;
    usage_store *s = usage_store_new(dir, 0);
    usage_store_load(s, NOW, &err);
    md_num b[UB_N] = {MD_NUM(1), MD_NUM(2), MD_NUM(3), MD_NUM(4), MD_NUM(0),
                      MD_NUM(10), MD_NUM_NA, MD_NUM(0)};
    const char *why = NULL;
    long long max_wal = 0;
    int failed = 0;
    /* 40 new cells on 40 days per commit: ~12 pages each, 400 commits
     * write ~5 times the threshold. */
    for (int i = 0; i < 400; i++) {
        for (int k = 0; k < 40; k++)
            usage_store_add_event(s, "gw", T0 - (k + 1) * DAY + 900.0 * (i % 90),
                                  i % 2 ? "m-a" : "m-b", b, NOW, &why, NULL);
        failed += usage_store_save(s, NOW, &err) != 0;
        long long w = file_size(dir, "meterd.db-wal");
        if (w > max_wal)
            max_wal = w;
    }
    is_int(failed, 0, "400 commits");
    history_db *db = usage_store_db(s);
    ok(history_db_checkpoints(db) >= 1, "the checkpointer ran");
    printf("# checkpoints: %lu, largest WAL %lld bytes\n",
           history_db_checkpoints(db), max_wal);
    /* Each frame is a page plus its 24-byte header. */
    long long bound = (HISTORY_WAL_MAX_PAGES + 200LL) * (4096 + 24);
    ok(max_wal > 0 && max_wal <= bound,
       "the WAL stays within its bound (the largest commit past it)");
    is_int(count(db, "SELECT count(*) FROM usage_cell WHERE provider = 'gw'"),
           40 * 90, "every cell there");

    /* One large transaction (as a migration writes), then small ones: the
     * WAL file is cut back to its limit once the log starts over.  The
     * transaction alone must outgrow the limit: with the checkpointer
     * copying, the log may just have started over before it. */
    enum { BIG_TX_SLOTS = 20000, BIG_TX_MODELS = 4 };
    char *const big_models[BIG_TX_MODELS] = {"m", "m2", "m3", "m4"};
    size_t nbig = (size_t)BIG_TX_SLOTS * BIG_TX_MODELS;
    usage_cell_rec *c = xcalloc(nbig, sizeof *c);
    for (size_t i = 0; i < nbig; i++) {
        c[i].slot_start = T0 - 300 * DAY + 900.0 * (double)(i / BIG_TX_MODELS);
        c[i].model = big_models[i % BIG_TX_MODELS];
        for (int k = 0; k < UB_N; k++)
            c[i].b[k] = MD_NUM((double)i);
        c[i].events = 1;
    }
    usage_store_put(s, "big", c, nbig, 0, 1, NOW);
    free(c);
    ok(usage_store_save(s, NOW, &err) == 0, "a large transaction");
    long long big_wal = file_size(dir, "meterd.db-wal");
    /* The checkpointer copies it in the background, and the WAL can start
     * over (and be cut back) only once that copy is complete: small
     * commits follow until the file is cut back (bounded: 5 s). */
    long long small_wal = big_wal;
    for (int i = 0; i < 500 && small_wal > HISTORY_WAL_LIMIT_BYTES; i++) {
        usage_store_add_event(s, "gw", NOW - 60, "m-a", b, NOW, &why, NULL);
        usage_store_save(s, NOW, &err);
        small_wal = file_size(dir, "meterd.db-wal");
        if (small_wal > HISTORY_WAL_LIMIT_BYTES)
            usleep(10000);
    }
    printf("# WAL after the large transaction %lld bytes, then %lld\n",
           big_wal, small_wal);
    ok(big_wal > HISTORY_WAL_LIMIT_BYTES && small_wal >= 0 &&
           small_wal <= HISTORY_WAL_LIMIT_BYTES,
       "the WAL file is cut back to its limit after a large transaction");
    usage_store_free(s);
    free(dir);
}

int main(void)
{
    char tmpl[] = "/tmp/meterd-history-XXXXXX";
    g_dir = mkdtemp(tmpl);
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(MD_LOG_ERROR);
    test_migration();
    test_incremental();
    test_samples();
    test_maintenance();
    test_checkpointer_copies();
    test_checkpoints();
    char *cmd = xasprintf("rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        diag_line("cannot remove the temp dir");
    free(cmd);
    return done_testing();
}
