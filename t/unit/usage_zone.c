/* t/unit/usage_zone.c - the daily report in a zone other than UTC read
 * from its materialised rows (usage_zone.h): byte for byte the report the
 * cells give (table and --json forms, with and without a provider, ranges
 * that cut days) in Europe/Berlin at both DST changes (23- and 25-hour
 * days), Asia/Kathmandu (+05:45), America/Los_Angeles and +05:30; unknown
 * stays unknown; every kind of write (a plugin's put, an ingest event, a
 * retention cut) invalidates the days it touched; a price change rebuilds;
 * at most USAGE_ZONES_KEPT zones; a schema-5 database migrates to 6 and
 * loses nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "history_db.h"
#include "log.h"
#include "pricing.h"
#include "tap.h"
#include "tz.h"
#include "usage_store_impl.h"
#include "usage_zone.h"

#define DAY 86400.0
/* 2026-03-28T00:00:00Z: Berlin springs forward on 03-29 at 01:00 UTC */
#define SPRING 1774656000.0
/* 2026-10-24T00:00:00Z: Berlin falls back on 10-25 at 01:00 UTC */
#define AUTUMN 1792800000.0
#define NOW (AUTUMN + 10 * DAY)

static char *g_dir;
static int g_need_days = 1;   /* a report must have days (before the cut) */
static const md_num U = {MD_UNKNOWN, 0};

static long long count(usage_store *s, const char *sql)
{
    history_db *db = usage_store_db(s);
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

static void exec(usage_store *s, const char *sql)
{
    char *err = NULL;
    history_db *db = usage_store_db(s);
    history_db_lock(db);
    if (history_db_exec(db, sql, &err) != 0) {
        printf("# %s: %s\n", sql, err);
        free(err);
    }
    history_db_unlock(db);
}

/* Four days of cells from t0, every slot: two providers, a priced model
 * with fractional costs computed per cell, one without a price, the
 * unknown model; some buckets unknown or not applicable. */
static void fill(usage_store *s, double t0)
{
    static char *models[] = {"claude-sonnet-4-5", "no-price-model", NULL};
    usage_cell_rec c[4 * 96 * 3];
    for (int p = 0; p < 2; p++) {
        size_t n = 0;
        for (int i = 0; i < 4 * 96; i++)
            for (int m = 0; m < 3; m++) {
                usage_cell_rec *r = &c[n++];
                memset(r, 0, sizeof *r);
                r->slot_start = t0 + 900.0 * i;
                r->model = models[m];
                double in = 1000 + (i * 7 + m * 13 + p) % 997;
                r->b[UB_INPUT_UNCACHED] = (i + m) % 53 == 0 ? U : MD_NUM(in);
                r->b[UB_CACHE_READ] = MD_NUM(in * 3);
                r->b[UB_CACHE_WRITE] = MD_NUM_NA;
                r->b[UB_CACHE_WRITE_1H] = MD_NUM(p ? 0 : in / 10);
                r->b[UB_OUTPUT] = MD_NUM(in / 4);
                r->b[UB_REASONING] = p ? MD_NUM_NA : U;
                r->b[UB_TOTAL] = MD_NUM(in * 5);
                /* a provider's own figure for some cells, priced else */
                r->b[UB_COST] = (i % 3 == 0) ? MD_NUM(in / 7e4) : U;
                r->events = 1 + i % 3;
            }
        usage_store_put(s, p ? "b" : "a", c, n, t0, 1, NOW);
    }
}

static char *dump(json_t *doc)
{
    char *t = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII)
                  : xstrdup("(none)");
    json_decref(doc);
    return t;
}

/* The report from the database and from the cells in memory (mem holds
 * the same cells), as the command prints them. */
static int same(usage_store *db, usage_store *mem, const char *prov,
                const char *since, const char *until, const char *tz,
                usage_daily_detail detail)
{
    json_t *a = NULL, *b = NULL;
    char *err = NULL;
    tz_zone *z = tz_load(tz, &err);
    int rc = usage_store_daily_db(db, prov, since, until, tz, detail, &a, &err);
    if (rc != 0) {
        printf("# daily_db: %s\n", err);
        free(err);
    }
    usage_store_daily_detail(mem, prov, since, until, z, tz, detail, &b, &err);
    tz_free(z);
    char *ta = dump(a), *tb = dump(b);
    int eq = rc == 0 && strcmp(ta, tb) == 0 &&
             (!g_need_days || strstr(ta, "\"date\"") != NULL);
    if (!eq)
        printf("# %s %s %s..%s differ or empty\n", tz, prov ? prov : "-",
               since ? since : "", until ? until : "");
    free(ta);
    free(tb);
    return eq;
}

static const char *const zones[] = {"Europe/Berlin", "Asia/Kathmandu",
                                    "America/Los_Angeles", "+05:30"};

/* Every form in every zone: 0 when all equal. */
static int all_same(usage_store *db, usage_store *mem)
{
    static const char *const ranges[][2] = {
        {NULL, NULL}, {"2026-03-29", "2026-03-29"},
        {"2026-10-25", "2026-10-26"}, {"2026-03-30", NULL}};
    int bad = 0;
    for (size_t z = 0; z < sizeof zones / sizeof *zones; z++)
        for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++)
            for (int p = 0; p < 2; p++)
                for (int d = 0; d < 2; d++)
                    bad += !same(db, mem, p ? "a" : NULL, ranges[r][0],
                                 ranges[r][1], zones[z],
                                 d ? USAGE_DAILY_FULL : USAGE_DAILY_TOTALS);
    return bad;
}

static json_t *day_of(usage_store *s, const char *tz, const char *date)
{
    json_t *doc = NULL;
    char *err = NULL;
    usage_store_daily_db(s, "a", date, date, tz, USAGE_DAILY_FULL, &doc, &err);
    free(err);
    json_t *day = json_incref(json_array_get(json_object_get(doc, "days"), 0));
    json_decref(doc);
    return day;
}

static double events_of(usage_store *s, const char *tz, const char *date)
{
    json_t *day = day_of(s, tz, date);
    double e = json_number_value(json_object_get(day, "events"));
    json_decref(day);
    return e;
}

/* The events of every slot of local day date in tz, as the cells say. */
static double slots_events(usage_store *s, const char *tz, const char *date)
{
    json_t *doc = NULL;
    char *err = NULL;
    usage_store_daily(s, "a", date, date, tz, &doc, &err);
    free(err);
    double e = json_number_value(json_object_get(
        json_array_get(json_object_get(doc, "days"), 0), "events"));
    json_decref(doc);
    return e;
}

int main(void)
{
    char tmpl[] = "/tmp/meterd-zone-XXXXXX";
    g_dir = mkdtemp(tmpl);
    if (!g_dir)
        return 1;
    log_set_level(MD_LOG_ERROR);
    char *err = NULL;

    usage_store *s = usage_store_new(g_dir, 0);
    usage_store_load(s, NOW, &err);
    fill(s, SPRING);
    fill(s, AUTUMN);
    is_int(usage_store_save(s, NOW, &err), 0, "cells written");
    usage_store *mem = usage_store_new(g_dir, 0);
    usage_store_load(mem, NOW, &err);

    is_int(all_same(s, mem), 0,
           "first reports (build): every zone, form and range byte-identical "
           "to the report from the cells");
    is_int(count(s, "SELECT count(*) FROM usage_zone"), 4,
           "four zones materialised");
    ok(count(s, "SELECT count(*) FROM usage_zday WHERE zone = 'Europe/Berlin'"
                " AND kind = 3") >= 8,
       "Berlin: one day row per local day");
    is_int(all_same(s, mem), 0, "warm reports: the same, from the rows");
    exec(s, "UPDATE usage_zday SET events = events + 1 WHERE zone ="
            " 'Europe/Berlin'");
    ok(!same(s, mem, NULL, NULL, NULL, "Europe/Berlin", USAGE_DAILY_FULL),
       "the warm report is read from the rows (a changed row shows)");
    exec(s, "DELETE FROM usage_zone WHERE zone = 'Europe/Berlin'");
    ok(same(s, mem, NULL, NULL, NULL, "Europe/Berlin", USAGE_DAILY_FULL),
       "a zone without its usage_zone row is rebuilt, not read");

    /* DST: the spring day is 23 hours, the autumn day 25 (the cells fill
     * every slot of those days; events per slot follow slot % 3). */
    double spring = events_of(s, "Europe/Berlin", "2026-03-29");
    double autumn = events_of(s, "Europe/Berlin", "2026-10-25");
    ok(spring > 0 && spring == slots_events(mem, "Europe/Berlin", "2026-03-29"),
       "Berlin 2026-03-29 (23 hours) as the cells say");
    ok(autumn > 0 && autumn == slots_events(mem, "Europe/Berlin", "2026-10-25"),
       "Berlin 2026-10-25 (25 hours) as the cells say");
    /* 3 models x (1 + i % 3) events: 23 h = 92 slots, 25 h = 100 */
    ok(spring < 3 * 2 * 96 && spring > 3 * 2 * 88, "spring day has 92 slots' events (fewer than 96)");
    ok(autumn > 3 * 2 * 96, "autumn day has 100 slots' events (more than 96)");
    ok(events_of(s, "Asia/Kathmandu", "2026-03-29") ==
           slots_events(mem, "Asia/Kathmandu", "2026-03-29"),
       "Kathmandu (+05:45, days from 18:15 UTC) as the cells say");
    json_t *day = day_of(s, "Europe/Berlin", "2026-03-29");
    ok(day && json_is_null(json_object_get(day, "tokens_input_uncached")),
       "an unknown bucket in one cell leaves the day's unknown");
    ok(day && json_is_null(json_object_get(day, "tokens_reasoning")),
       "reasoning unknown (provider a never reports it)");
    json_decref(day);

    /* an ingest event on the spring day */
    const md_num ev[UB_N] = {MD_NUM(5), MD_NUM(0), MD_NUM_NA, MD_NUM(1),
                             U, MD_NUM(6), MD_NUM(0.5), MD_NUM(0)};
    usage_store_add_event(s, "a", SPRING + DAY + 3600 + 60, "claude-sonnet-4-5",
                          ev, NOW, NULL, NULL);
    usage_store_add_event(mem, "a", SPRING + DAY + 3600 + 60,
                          "claude-sonnet-4-5", ev, NOW, NULL, NULL);
    is_int(usage_store_save(s, NOW, &err), 0, "ingest event written");
    ok(count(s, "SELECT count(*) FROM usage_zdirty") >= 4,
       "the write marked the days dirty in every zone");
    is_int(count(s, "SELECT count(*) FROM usage_zday WHERE zone ="
                    " 'Europe/Berlin' AND day = 20541"), 0,
           "and deleted the rows of the local day that holds the event");
    is_int(all_same(s, mem), 0, "after an ingest event: all the same");
    is_int(count(s, "SELECT count(*) FROM usage_zdirty"), 0,
           "the reports rebuilt the dirty days");

    /* a zone being built (its placeholder row, format 0) is marked by
     * writes and never read */
    exec(s, "DELETE FROM usage_zday WHERE zone = 'Europe/Berlin';"
            " UPDATE usage_zone SET format = 0 WHERE zone = 'Europe/Berlin'");
    usage_store_add_event(s, "a", AUTUMN + 7200, "claude-sonnet-4-5", ev, NOW,
                          NULL, NULL);
    usage_store_add_event(mem, "a", AUTUMN + 7200, "claude-sonnet-4-5", ev,
                          NOW, NULL, NULL);
    is_int(usage_store_save(s, NOW, &err), 0, "event written during a build");
    ok(count(s, "SELECT count(*) FROM usage_zdirty WHERE zone ="
                " 'Europe/Berlin'") >= 1,
       "a write marks the days of a zone being built");
    ok(same(s, mem, NULL, NULL, NULL, "Europe/Berlin", USAGE_DAILY_FULL),
       "a zone left half-built is built again, not read");
    is_int(count(s, "SELECT format FROM usage_zone WHERE zone ="
                    " 'Europe/Berlin'"), USAGE_ZONE_FORMAT,
           "and then marked built");

    /* a plugin re-sends its cells from the autumn day on, changed */
    usage_cell_rec c[2];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 2; i++) {
        c[i].slot_start = AUTUMN + DAY + 900.0 * (4 + i);
        c[i].model = "claude-sonnet-4-5";
        for (int k = 0; k < UB_N; k++)
            c[i].b[k] = MD_NUM(100 + i);
        c[i].b[UB_COST] = U;
        c[i].events = 1;
    }
    usage_store_put(s, "b", c, 2, AUTUMN + DAY, 2, NOW);
    usage_store_put(mem, "b", c, 2, AUTUMN + DAY, 2, NOW);
    is_int(usage_store_save(s, NOW, &err), 0, "a put from since written");
    is_int(all_same(s, mem), 0, "after a put that replaced cells: all the same");

    /* a price changes: every zone is rebuilt at that price */
    pricing_row *rows = xcalloc(1, sizeof *rows);
    rows[0].model = xstrdup("no-price-model");
    for (int k = 0; k < PR_N; k++)
        rows[0].p[k] = k == PR_CW_1H || k >= PR_IN_HI ? PRICING_NO_TIER
                                                      : 1e-6 * (k + 1);
    pricing_set_overrides(rows, 1);
    is_int(all_same(s, mem), 0, "after a price change: all the same (rebuilt)");
    pricing_set_overrides(NULL, 0);

    /* retention cuts the spring cells */
    usage_store_set_retention(s, (long long)(NOW - AUTUMN) * 1000);
    usage_store_set_retention(mem, (long long)(NOW - AUTUMN) * 1000);
    is_int(usage_store_save(s, NOW, &err), 0, "retention cut written");
    usage_store_prune(mem, NOW);
    g_need_days = 0;
    is_int(all_same(s, mem), 0, "after a retention cut: all the same");
    json_t *gone = NULL;
    usage_store_daily_db(s, NULL, "2026-03-29", "2026-03-29", "Europe/Berlin",
                         USAGE_DAILY_FULL, &gone, &err);
    is_int(json_array_size(json_object_get(gone, "days")), 0,
           "the cut days are gone from the zone's report");
    json_decref(gone);

    /* at most USAGE_ZONES_KEPT zones: the least recently used goes */
    const char *more[] = {"Asia/Tokyo", "Australia/Adelaide"};
    for (int i = 0; i < 2; i++) {
        json_t *doc = NULL;
        usage_store_daily_db(s, NULL, NULL, NULL, more[i], USAGE_DAILY_TOTALS,
                             &doc, &err);
        json_decref(doc);
    }
    is_int(count(s, "SELECT count(*) FROM usage_zone"), USAGE_ZONES_KEPT,
           "six zones reported, four kept");
    is_int(count(s, "SELECT count(DISTINCT zone) FROM usage_zday"),
           USAGE_ZONES_KEPT, "the rows of the dropped zones are gone");
    is_int(count(s, "SELECT count(*) FROM usage_zone WHERE zone IN"
                    " ('Asia/Tokyo', 'Australia/Adelaide')"), 2,
           "the most recent ones are kept");

    /* a schema-5 database (this one without the zone tables) */
    long long cells = count(s, "SELECT count(*) FROM usage_cell");
    long long days = count(s, "SELECT count(*) FROM usage_day");
    exec(s, "DROP TABLE usage_zone; DROP TABLE usage_zday;"
            " DROP TABLE usage_zdirty; DROP TABLE usage_zprice;"
            " PRAGMA user_version = 5");
    usage_store_free(s);
    s = usage_store_new(g_dir, (long long)(NOW - AUTUMN) * 1000);
    usage_store_load_meta(s, NOW, &err);
    is_int(count(s, "PRAGMA user_version"), 6, "schema 5 migrated to 6");
    is_int(count(s, "SELECT count(*) FROM usage_cell"), cells,
           "the migration keeps every cell");
    is_int(count(s, "SELECT count(*) FROM usage_day"), days,
           "and every UTC day row");
    is_int(all_same(s, mem), 0, "reports after the migration: all the same");

    usage_store_free(s);
    usage_store_free(mem);
    char *cmd = xasprintf("rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        diag_line("cannot remove the temp dir");
    free(cmd);
    return done_testing();
}
