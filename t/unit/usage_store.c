/* t/unit/usage_store.c - the usage store (replace-from-since, generation,
 * ingest cells, retention, known/unknown sums, persistence, corrupt files),
 * the daily report (UTC, +05:30, a DST change in Europe/Berlin, filters,
 * bad parameters), the time zone code against libc, and the host side of
 * put_usage / usage_generation with the cells' JSON form. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostctx.h"
#include "log.h"
#include "protocol.h"
#include "usage_rollup.h"
#include "tap.h"
#include "tz.h"
#include "usage_store.h"
#include "usage_store_impl.h"

#define DAY 86400.0
/* 2026-03-10T00:00:00Z */
#define T0 1773100800.0
#define NOW (T0 + 5 * DAY)

static const md_num U = {MD_UNKNOWN, 0};
static char *g_dir;

static usage_cell_rec cell(double slot, char *model, double in,
                           double out, double events)
{
    usage_cell_rec c;
    memset(&c, 0, sizeof c);
    c.slot_start = slot;
    c.model = model;
    c.b[UB_INPUT_UNCACHED] = MD_NUM(in);
    c.b[UB_CACHE_READ] = MD_NUM(0);
    c.b[UB_CACHE_WRITE] = MD_NUM_NA;
    c.b[UB_OUTPUT] = MD_NUM(out);
    c.b[UB_REASONING] = U;
    c.b[UB_TOTAL] = MD_NUM(in + out);
    c.b[UB_COST] = MD_NUM(0.25);
    c.events = events;
    return c;
}

static json_t *daily(usage_store *s, const char *prov, const char *since,
                     const char *until, const char *tz)
{
    json_t *out = NULL;
    char *err = NULL;
    if (usage_store_daily(s, prov, since, until, tz, &out, &err) != 0) {
        printf("# daily failed: %s\n", err);
        free(err);
        return NULL;
    }
    return out;
}

static json_t *day_at(json_t *doc, size_t i)
{
    return json_array_get(json_object_get(doc, "days"), i);
}

static const char *date_at(json_t *doc, size_t i)
{
    return json_string_value(json_object_get(day_at(doc, i), "date"));
}

static double num_of(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static int is_null_key(json_t *o, const char *k)
{
    return json_is_null(json_object_get(o, k));
}

static size_t n_days(json_t *doc)
{
    return json_array_size(json_object_get(doc, "days"));
}

static int count_prefix(const char *prefix)
{
    DIR *dh = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (dh && (e = readdir(dh)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (dh)
        closedir(dh);
    return n;
}

static void test_put_and_since(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    usage_cell_rec c[3] = {cell(T0, "a", 10, 1, 1), cell(T0 + 900, "a", 20, 2, 1),
                           cell(T0 + DAY, "b", 30, 3, 2)};
    ok(usage_store_generation(s, "p") == 0, "generation 0 before any put");
    usage_store_put(s, "p", c, 3, 0, 7, NOW);
    ok(usage_store_generation(s, "p") == 7, "put records the generation");
    is_int(usage_store_count(s, "p"), 3, "three cells stored");
    ok(usage_store_has_plugin_cells(s, "p"), "plugin cells present");

    /* incremental: replace everything from T0+900 on */
    usage_cell_rec d[1] = {cell(T0 + 900, "a", 5, 5, 1)};
    usage_store_put(s, "p", d, 1, T0 + 900, 8, NOW);
    is_int(usage_store_count(s, "p"), 2, "cells >= since replaced (day 2 gone)");
    json_t *doc = daily(s, "p", NULL, NULL, "UTC");
    is_int(n_days(doc), 1, "one day left");
    is_num(num_of(day_at(doc, 0), "tokens_input_uncached"), 15, "10 + 5");
    is_num(num_of(day_at(doc, 0), "tokens_total"), 21, "11 + 10");
    is_num(num_of(day_at(doc, 0), "events"), 2, "events summed");
    json_decref(doc);

    /* duplicates within one put are summed */
    usage_cell_rec e[2] = {cell(T0 + DAY, "z", 1, 1, 1), cell(T0 + DAY, "z", 2, 2, 1)};
    usage_store_put(s, "p", e, 2, T0 + DAY, 9, NOW);
    is_int(usage_store_count(s, "p"), 3, "duplicate (slot, model) merged");
    doc = daily(s, "p", "2026-03-11", "2026-03-11", NULL);
    is_num(num_of(day_at(doc, 0), "tokens_input_uncached"), 3, "duplicates summed");
    json_decref(doc);

    /* a full re-send with since 0 replaces everything */
    usage_store_put(s, "p", c, 1, 0, 10, NOW);
    is_int(usage_store_count(s, "p"), 1, "since 0 replaces all plugin cells");
    usage_store_free(s);
}

static void test_ingest(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    md_num b[UB_N] = {MD_NUM(100), MD_NUM(50), MD_NUM_NA, MD_NUM(10), MD_NUM(4),
                      MD_NUM(160), U};
    const char *err = NULL;
    is_int(usage_store_add_event(s, "gw", T0 + 100, "gpt", b, NOW, &err, NULL), 0,
           "ingest event added");
    is_int(usage_store_add_event(s, "gw", T0 + 800, "gpt", b, NOW, &err, NULL), 0,
           "second event, same slot");
    is_int(usage_store_count(s, "gw"), 1, "both in one 15-minute cell");
    md_num bad[UB_N] = {MD_NUM(-1)};
    is_int(usage_store_add_event(s, "gw", T0, "gpt", bad, NOW, &err, NULL), -1,
           "negative bucket refused");
    is_int(usage_store_add_event(s, "gw", NAN, "gpt", b, NOW, &err, NULL), -1,
           "NaN time refused");
    is_int(usage_store_add_event(s, "gw", T0, "bad\nmodel", b, NOW, &err, NULL), -1,
           "control byte in model refused");
    is_int(usage_store_add_event(s, "gw", NOW - 401 * DAY, "gpt", b, NOW, &err, NULL), 1,
           "event older than retention ignored");
    /* a plugin put for the same provider keeps ingest cells */
    usage_cell_rec c[1] = {cell(T0, "gpt", 1, 1, 1)};
    usage_store_put(s, "gw", c, 1, 0, 1, NOW);
    is_int(usage_store_count(s, "gw"), 2, "put keeps the ingest cell");
    json_t *doc = daily(s, "gw", NULL, NULL, NULL);
    json_t *d0 = day_at(doc, 0);
    is_num(num_of(d0, "tokens_input_uncached"), 201, "ingest + plugin summed");
    ok(is_null_key(d0, "cost_usd"), "unknown cost in one addend: day cost null");
    ok(is_null_key(d0, "tokens_reasoning"),
       "reasoning unknown in the plugin cell: null, not 8");
    is_num(num_of(d0, "tokens_cache_write"), -1, "n/a + n/a renders null");
    json_decref(doc);
    usage_store_free(s);
}

static void test_retention(void)
{
    usage_store *s = usage_store_new(g_dir, 10LL * 86400 * 1000);
    usage_cell_rec c[2] = {cell(NOW - 20 * DAY, "old", 1, 1, 1),
                           cell(NOW - DAY, "new", 2, 2, 1)};
    usage_store_put(s, "p", c, 2, 0, 1, NOW);
    is_int(usage_store_count(s, "p"), 1, "a put drops cells past retention");
    usage_cell_rec k[1] = {cell(NOW - 9 * DAY, "mid", 1, 1, 1)};
    usage_store_put(s, "q", k, 1, 0, 1, NOW);
    char *err = NULL;
    ok(usage_store_save(s, NOW + 2 * DAY, &err) == 0, "saved");
    is_int(usage_store_count(s, "q"), 0, "saving later prunes what aged out");
    is_int(usage_store_generation(s, "q"), 1, "generation survives pruning");
    usage_store_free(s);
}

static void test_persistence(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    usage_cell_rec c[3] = {cell(T0, "m1", 10, 1, 1), cell(T0 + 900, NULL, 20, 2, 1),
                           cell(T0 + DAY, "m2", 30, 3, 2)};
    c[2].b[UB_COST] = U;
    usage_store_put(s, "p", c, 3, 0, 18446744073709551615ULL, NOW);
    md_num b[UB_N] = {MD_NUM(1), MD_NUM(1), MD_NUM(1), MD_NUM(1), MD_NUM(0),
                      MD_NUM(4), MD_NUM(0.125)};
    const char *e = NULL;
    usage_store_add_event(s, "gw", T0 + 50, "x", b, NOW, &e, NULL);
    char *err = NULL;
    ok(usage_store_save(s, NOW, &err) == 0, "save");
    ok(usage_store_save(s, NOW, &err) == 0, "a save without changes is a no-op");
    json_t *before = daily(s, NULL, NULL, NULL, "Europe/Berlin");
    usage_store_free(s);

    s = usage_store_new(g_dir, 0);
    is_int(usage_store_load(s, NOW, &err), 0, "load");
    ok(usage_store_generation(s, "p") == 18446744073709551615ULL,
       "64-bit generation round trip");
    json_t *after = daily(s, NULL, NULL, NULL, "Europe/Berlin");
    ok(before && after && json_equal(before, after), "same report after reload");
    usage_store_free(s);
    json_decref(before);
    json_decref(after);

    /* corrupt usage.json (an upgrade from the file store) -> moved aside,
     * empty store */
    static const char *const db_files[] = {"meterd.db", "meterd.db-wal",
                                           "meterd.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *dbp = xasprintf("%s/%s", g_dir, db_files[i]);
        unlink(dbp);
        free(dbp);
    }
    char *path = xasprintf("%s/usage.json", g_dir);
    FILE *f = fopen(path, "w");
    fputs("{\"schema\":\"meterd.usage.v1\",\"providers\":[{\"name\":\"p\","
          "\"generation\":\"1\",\"models\":[],\"cells\":[[1,null,0,1,1,1,1,1,"
          "1,1,1]]}]}", f);
    fclose(f);
    s = usage_store_new(g_dir, 0);
    is_int(usage_store_load(s, NOW, &err), -1, "slot not a multiple of 900: corrupt");
    ok(err && strstr(err, "moved aside"), "the error says it was moved aside");
    free(err);
    err = NULL;
    is_int(count_prefix("usage.json.corrupt-"), 1, "corrupt file kept aside");
    is_int(usage_store_count(s, NULL), 0, "store empty after a corrupt file");
    is_int(usage_store_load(s, NOW, &err), 1, "no file: 1");
    usage_store_free(s);
    f = fopen(path, "w");
    fputs("{\"schema\":\"meterd.usage.v1\",\"providers\":[", f);
    fclose(f);
    s = usage_store_new(g_dir, 0);
    is_int(usage_store_load(s, NOW, &err), -1, "truncated JSON: corrupt");
    free(err);
    usage_store_free(s);
    free(path);
}

static void test_daily_zones(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    /* 2026-03-09T18:30Z is 2026-03-10 00:00 in +05:30; 18:15Z is still 03-09 */
    usage_cell_rec c[2] = {cell(T0 - 5.5 * 3600, "m", 1, 0, 1),
                           cell(T0 - 5.75 * 3600, "m", 2, 0, 1)};
    usage_store_put(s, "p", c, 2, 0, 1, NOW);
    json_t *doc = daily(s, "p", NULL, NULL, "UTC");
    is_int(n_days(doc), 1, "UTC: both on one day");
    is_str(date_at(doc, 0), "2026-03-09", "UTC date");
    json_decref(doc);
    doc = daily(s, "p", NULL, NULL, "+05:30");
    is_int(n_days(doc), 2, "+05:30: split over two days");
    is_str(date_at(doc, 1), "2026-03-10", "the 18:30Z slot is local 03-10");
    is_num(num_of(day_at(doc, 1), "tokens_input_uncached"), 1, "its tokens");
    json_decref(doc);
    doc = daily(s, "p", NULL, NULL, "Asia/Kolkata");
    is_int(n_days(doc), 2, "Asia/Kolkata (TZif) agrees with +05:30");
    json_decref(doc);
    usage_store_free(s);

    /* Europe/Berlin, 2026-03-29: CET -> CEST at 01:00Z.  22:45Z on 03-28 is
     * 23:45 CET (03-28); 22:00Z on 03-29 is 00:00 CEST (03-30). */
    double dst = 1774746000.0;   /* 2026-03-29T01:00:00Z */
    s = usage_store_new(g_dir, 0);
    usage_cell_rec b[3] = {cell(dst - 2 * 3600 - 900 - 22 * 3600 + 22 * 3600, "m", 1, 0, 1),
                           cell(dst + 21 * 3600 - 900, "m", 10, 0, 1),
                           cell(dst + 21 * 3600, "m", 100, 0, 1)};
    usage_store_put(s, "p", b, 3, 0, 1, dst + 5 * DAY);
    doc = daily(s, "p", NULL, NULL, "Europe/Berlin");
    is_int(n_days(doc), 3, "Berlin: three local dates");
    is_str(date_at(doc, 0), "2026-03-28", "22:45Z Mar 28 is 23:45 CET, Mar 28");
    is_str(date_at(doc, 1), "2026-03-29", "21:45Z Mar 29 is 23:45 CEST, Mar 29");
    is_str(date_at(doc, 2), "2026-03-30", "22:00Z Mar 29 is 00:00 CEST, Mar 30");
    json_decref(doc);
    doc = daily(s, "p", "2026-03-29", "2026-03-29", "Europe/Berlin");
    is_int(n_days(doc), 1, "since/until select one local day");
    is_num(num_of(day_at(doc, 0), "tokens_input_uncached"), 10, "that day's cell");
    json_decref(doc);

    char *err = NULL;
    json_t *out = NULL;
    ok(usage_store_daily(s, NULL, NULL, NULL, "Nowhere/City", &out, &err) == -1 &&
           err && strstr(err, "unknown time zone"), "unknown zone refused");
    free(err);
    err = NULL;
    ok(usage_store_daily(s, NULL, NULL, NULL, "../../etc/passwd", &out, &err) == -1,
       "path tricks refused");
    free(err);
    err = NULL;
    ok(usage_store_daily(s, NULL, NULL, NULL, "+05:10", &out, &err) == -1,
       "offset not in 15-minute steps refused");
    free(err);
    err = NULL;
    ok(usage_store_daily(s, NULL, "2026-13-01", NULL, NULL, &out, &err) == -1,
       "bad month refused");
    free(err);
    err = NULL;
    ok(usage_store_daily(s, NULL, "2026-03-30", "2026-03-29", NULL, &out, &err) == -1,
       "since after until refused");
    free(err);
    err = NULL;
    ok(usage_store_daily(s, NULL, "2026-3-1", NULL, NULL, &out, &err) == -1,
       "short date refused");
    free(err);
    usage_store_free(s);
}

static void test_models_and_providers(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    usage_cell_rec a[2] = {cell(T0, "zeta", 1, 1, 1), cell(T0 + 900, NULL, 2, 2, 1)};
    usage_cell_rec b[1] = {cell(T0 + 1800, "alpha", 4, 4, 1)};
    usage_store_put(s, "p1", a, 2, 0, 1, NOW);
    usage_store_put(s, "p2", b, 1, 0, 1, NOW);
    json_t *doc = daily(s, NULL, NULL, NULL, NULL);
    json_t *models = json_object_get(day_at(doc, 0), "models");
    is_int(json_array_size(models), 3, "three models");
    is_str(json_string_value(json_object_get(json_array_get(models, 0), "model")),
           "alpha", "models sorted");
    ok(json_is_null(json_object_get(json_array_get(models, 2), "model")),
       "unknown model last, as null");
    json_t *provs = json_object_get(day_at(doc, 0), "providers");
    is_int(json_array_size(provs), 2, "providers listed without a filter");
    is_num(num_of(day_at(doc, 0), "tokens_total"), 14, "all providers summed");
    json_decref(doc);
    doc = daily(s, "p2", NULL, NULL, NULL);
    ok(!json_object_get(day_at(doc, 0), "providers"), "no providers list with a filter");
    is_num(num_of(day_at(doc, 0), "tokens_total"), 8, "only p2");
    json_decref(doc);
    usage_store_free(s);
}

static void test_tz_vs_libc(void)
{
    static const char *const zones[] = {"Europe/Berlin", "America/New_York",
                                        "Australia/Lord_Howe", "Asia/Kathmandu"};
    long bad = 0;
    for (size_t i = 0; i < 4; i++) {
        char *err = NULL;
        tz_zone *z = tz_load(zones[i], &err);
        if (!z) {
            free(err);
            bad++;
            continue;
        }
        setenv("TZ", zones[i], 1);   /* single-threaded test: safe here */
        tzset();
        for (double t = 0; t < 4.2e9; t += 86400 * 7.3 + 900) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            bad += tz_offset(z, t) != tm.tm_gmtoff;
        }
        tz_free(z);
    }
    is_int(bad, 0, "offsets equal libc's from 1970 to 2103 in four zones");
    long y;
    unsigned m, d;
    tz_civil_from_days(tz_days_from_civil(2024, 2, 29), &y, &m, &d);
    ok(y == 2024 && m == 2 && d == 29, "civil date round trip");
}

static void test_host_put_usage(void)
{
    hostctx_params hp = {.instance = "inst", .usage_generation = 42};
    md_ctx *ctx = hostctx_new(&hp);
    const md_host *h = hostctx_host();
    ok(h->usage_generation(ctx) == 42, "usage_generation from the job");
    md_usage_cell c[2];
    memset(c, 0, sizeof c);
    c[0].slot_start = T0;
    c[0].model = "m";
    c[0].tokens_output = MD_NUM(5);
    c[0].events = 1;
    c[1] = c[0];
    c[1].slot_start = T0 + 900;
    c[1].tokens_input_uncached = MD_NUM(NAN);
    is_int(h->put_usage(ctx, c, 2, sizeof c[0], 0, 5), -1, "NaN bucket: whole call refused");
    is_int(h->put_usage(ctx, c, 1, sizeof c[0], 0, 5), -1, "only one call per collection");
    collect_result r;
    collect_result_init(&r);
    hostctx_take_result(ctx, &r);
    ok(!r.has_usage && r.n_notes >= 2, "refusals noted, nothing kept");
    collect_result_clear(&r);
    hostctx_free(ctx);

    ctx = hostctx_new(&hp);
    c[1].tokens_input_uncached = MD_NUM_NA;
    c[1].slot_start = T0 + 901;
    is_int(h->put_usage(ctx, c, 2, sizeof c[0], 0, 5), -1, "slot not on 900 s refused");
    hostctx_free(ctx);

    ctx = hostctx_new(&hp);
    c[1].slot_start = T0 + 900;
    c[1].model = NULL;
    is_int(h->put_usage(ctx, c, 2, sizeof c[0], T0 + 900, 5), -1,
           "a cell before since refused");
    hostctx_free(ctx);

    ctx = hostctx_new(&hp);
    is_int(h->put_usage(ctx, c, 2, sizeof c[0], 0, 5), 0, "valid cells accepted");
    collect_result_init(&r);
    hostctx_take_result(ctx, &r);
    ok(r.has_usage && r.n_usage == 2 && r.usage_generation == 5, "cells in the result");
    /* wire round trip */
    json_t *j = protocol_result_to_json(&r);
    collect_result back;
    char *err = NULL;
    ok(protocol_result_from_json(j, &back, &err) == 0, "result with usage parses back");
    ok(back.has_usage && back.n_usage == 2 && back.usage[1].model == NULL &&
           back.usage[1].b[UB_INPUT_UNCACHED].state == MD_NOT_APPLICABLE &&
           back.usage[0].b[UB_OUTPUT].value == 5 &&
           back.usage[0].b[UB_INPUT_UNCACHED].state == MD_UNKNOWN,
       "cells survive the pipe (known, unknown, n/a, NULL model)");
    collect_result copy;
    collect_result_copy(&copy, &back);
    is_str(copy.usage[0].model, "m", "copy deep-copies models");
    collect_result_clear(&copy);
    collect_result_clear(&back);
    json_array_set_new(json_array_get(json_object_get(json_object_get(j, "usage"),
                                                      "cells"), 0),
                       0, json_integer(1));
    ok(protocol_result_from_json(j, &back, &err) == -1, "a bad cell in the pipe is an error");
    free(err);
    json_decref(j);
    collect_result_clear(&r);
    hostctx_free(ctx);

    /* a failed collection carries no cells */
    ctx = hostctx_new(&hp);
    h->put_usage(ctx, c, 2, sizeof c[0], 0, 5);
    hostctx_fail(ctx, MD_ERR_HTTP, "boom");
    collect_result_init(&r);
    hostctx_take_result(ctx, &r);
    ok(!r.has_usage && r.n_usage == 0, "failed collection: no cells");
    collect_result_clear(&r);
    hostctx_free(ctx);
}

/* Two counts whose sum passes 2^53 (or a double's range) are held at
 * USAGE_COUNT_MAX, known, with a note; never an infinity stored as
 * unknown. */
static void test_large_counts_saturate(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    md_num b[UB_N] = {MD_NUM(1e308), MD_NUM(0), MD_NUM(0), MD_NUM(6e15),
                      MD_NUM(0), MD_NUM(0), MD_NUM(0)};
    const char *err = NULL, *note = NULL;
    is_int(usage_store_add_event(s, "gw", T0, "m", b, NOW, &err, &note), 0,
           "a huge count is accepted");
    ok(note && strstr(note, "2^53"), "with a note that it is held at 2^53");
    is_int(usage_store_add_event(s, "gw", T0 + 1, "m", b, NOW, &err, &note), 0,
           "a second huge count");
    ok(note && strstr(note, "2^53"), "the sum is held too, noted");
    json_t *doc = daily(s, "gw", NULL, NULL, NULL);
    json_t *d0 = day_at(doc, 0);
    is_num(num_of(d0, "tokens_input_uncached"), USAGE_COUNT_MAX,
           "1e308 + 1e308 is 2^53, known, not unknown");
    is_num(num_of(d0, "tokens_output"), USAGE_COUNT_MAX,
           "6e15 + 6e15 is held at 2^53");
    json_decref(doc);
    usage_store_free(s);
}

/* More than USAGE_MAX_MODELS_PER_DAY models on one day: the rest are
 * counted under "(other models)"; the next day starts afresh. */
static void test_models_per_day_bounded(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    md_num b[UB_N] = {MD_NUM(1), MD_NUM(0), MD_NUM(0), MD_NUM(1), MD_NUM(0),
                      MD_NUM(2), MD_NUM(0)};
    const char *err = NULL, *note = NULL;
    int notes = 0;
    for (int i = 0; i < 300; i++) {
        char model[32];
        snprintf(model, sizeof model, "model-%03d", i);
        usage_store_add_event(s, "gw", T0 + i, model, b, NOW, &err, &note);
        notes += note && strstr(note, USAGE_OTHER_MODELS) != NULL;
    }
    is_int(notes, 300 - USAGE_MAX_MODELS_PER_DAY, "each folded event is noted");
    usage_store_add_event(s, "gw", T0 + 400, "model-000", b, NOW, &err, &note);
    ok(note == NULL, "a model already counted that day still counts as itself");
    usage_store_add_event(s, "gw", T0 + DAY, "model-299", b, NOW, &err, &note);
    ok(note == NULL, "the next day has room again");
    json_t *doc = daily(s, "gw", NULL, NULL, NULL);
    json_t *models = json_object_get(day_at(doc, 0), "models");
    is_int(json_array_size(models), USAGE_MAX_MODELS_PER_DAY + 1,
           "256 models and the overflow bucket on the first day");
    json_t *other = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
        if (strcmp(json_string_value(json_object_get(m, "model")),
                   USAGE_OTHER_MODELS) == 0)
            other = m;
    ok(other && json_integer_value(json_object_get(other, "events")) == 44,
       "\"(other models)\" holds the 44 folded events");
    json_decref(doc);
    usage_store_free(s);
}

/* begin/undo takes back every event added since begin, including a new
 * provider and a new cell; keep forgets the undo log. */
static void test_undo_events(void)
{
    usage_store *s = usage_store_new(g_dir, 0);
    md_num b[UB_N] = {MD_NUM(5), MD_NUM(0), MD_NUM(0), MD_NUM(1), MD_NUM(0),
                      MD_NUM(6), MD_NUM(0)};
    const char *err = NULL;
    usage_store_add_event(s, "gw", T0, "m", b, NOW, &err, NULL);
    usage_store_begin_events(s);
    usage_store_add_event(s, "gw", T0, "m", b, NOW, &err, NULL);
    usage_store_add_event(s, "gw", T0 + DAY, "m2", b, NOW, &err, NULL);
    usage_store_add_event(s, "new", T0, "m", b, NOW, &err, NULL);
    usage_store_undo_events(s);
    ok(!usage_store_has_provider(s, "new"), "a provider added since begin is gone");
    is_int(usage_store_count(s, "gw"), 1, "a cell added since begin is gone");
    json_t *doc = daily(s, "gw", NULL, NULL, NULL);
    is_num(num_of(day_at(doc, 0), "tokens_input_uncached"), 5,
           "a changed cell holds its old sum again");
    json_decref(doc);
    usage_store_begin_events(s);
    usage_store_add_event(s, "gw", T0, "m", b, NOW, &err, NULL);
    usage_store_keep_events(s);
    usage_store_undo_events(s);   /* nothing remembered any more */
    doc = daily(s, "gw", NULL, NULL, NULL);
    is_num(num_of(day_at(doc, 0), "tokens_input_uncached"), 10,
           "kept events stay");
    json_decref(doc);
    usage_store_free(s);
}


/* ---- the writer's day rollup against the SQL GROUP BY it replaced ---- */

static unsigned long long g_lcg = 12345;

static double rnd(void)
{
    g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_lcg >> 11) / 9007199254740992.0;
}

/* Every usage_day row, values exact (%a), in key order. */
static char *day_rows(history_db *db)
{
    static const char sql[] =
        "SELECT provider, day, model, " BUCKET_COLS ", na, events, "
        PARTS_COLS " FROM usage_day ORDER BY provider, day, model";
    history_db_lock(db);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(history_db_handle(db), sql, -1, &st, NULL);
    size_t cap = 1 << 16, len = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            char v[64];
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                snprintf(v, sizeof v, "N");
                break;
            case SQLITE_INTEGER:
                snprintf(v, sizeof v, "%lld",
                         (long long)sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT:
                snprintf(v, sizeof v, "%a", sqlite3_column_double(st, i));
                break;
            default:
                snprintf(v, sizeof v, "%.40s",
                         (const char *)sqlite3_column_text(st, i));
            }
            if (len + strlen(v) + 2 >= cap)
                out = xrealloc(out, cap *= 2);
            len += (size_t)sprintf(out + len, "%s%c", v,
                                   i + 1 < sqlite3_column_count(st) ? ','
                                                                   : '\n');
        }
    }
    sqlite3_finalize(st);
    history_db_unlock(db);
    return out;
}

/* How many usage_cell rows provider has. */
static long long cell_rows(history_db *db, const char *provider)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    history_db_lock(db);
    sqlite3_prepare_v2(history_db_handle(db),
                       "SELECT count(*) FROM usage_cell WHERE provider = ?1",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    history_db_unlock(db);
    return n;
}

/* The rows the save wrote, and those the SQL aggregate gives for the same
 * cells: equal value for value (sums in the same order). */
static void rollups_agree(usage_store *s, const char *what)
{
    history_db *db = usage_store_db(s);
    char *mine = day_rows(db), *err = NULL;
    history_db_lock(db);
    int rc = history_db_exec(db, "DELETE FROM usage_day", &err);
    const char *provs[] = {"fresh", "gw"};
    for (size_t i = 0; rc == 0 && i < 2; i++)
        rc = usage_store_rollup_sql(db, provs[i], 0, DAY_MAX, &err);
    history_db_unlock(db);
    char name[160];
    if (err)
        diag_line(err);
    snprintf(name, sizeof name, "%s: the SQL rollup ran", what);
    ok(rc == 0, name);
    free(err);
    char *sql = day_rows(db);
    size_t lines = 0;
    for (const char *p = mine; *p; p++)
        lines += *p == '\n';
    snprintf(name, sizeof name, "%s: %zu day rows to compare", what, lines);
    ok(lines >= 20, name);
    snprintf(name, sizeof name, "%s: the save's day rows are the SQL "
             "aggregate's, value for value", what);
    ok(strcmp(mine, sql) == 0, name);
    free(mine);
    free(sql);
}

static usage_cell_rec rnd_cell(double slot, char *model)
{
    usage_cell_rec c = cell(slot, model, floor(rnd() * 5000),
                            floor(rnd() * 900), 1 + floor(rnd() * 3));
    c.b[UB_COST] = rnd() < 0.1 ? U : MD_NUM(rnd() * pow(10, rnd() * 6 - 3));
    c.b[UB_REASONING] = rnd() < 0.5 ? MD_NUM_NA : MD_NUM(floor(rnd() * 50));
    c.b[UB_CACHE_WRITE] = rnd() < 0.8 ? MD_NUM_NA : U;
    c.parts.known = rnd() < 0.9;
    if (c.parts.known) {
        c.parts.own_usd = rnd() * 0.37;
        for (int k = 0; k < MD_PRICED_N; k++) {
            c.parts.tokens[k] = floor(rnd() * 1000);
            c.parts.above[k] = rnd() < 0.5 ? 0 : floor(rnd() * 100);
        }
    }
    return c;
}

static void test_rollup_matches_sql(void)
{
    char *dir = xasprintf("%s/rollup", g_dir);
    mkdir(dir, 0700);
    usage_store *s = usage_store_new(dir, 0);
    static char *models[] = {"gpt-5", "gpt-5-codex", "o3", NULL, "a"};
    enum { N = 600 };
    usage_cell_rec *c = xcalloc(N, sizeof *c);
    for (size_t i = 0; i < N; i++)
        c[i] = rnd_cell(T0 - 4 * DAY + floor(rnd() * 6 * 96) * 900,
                        models[(size_t)(rnd() * 5)]);
    usage_store_put(s, "fresh", c, N, 0, 1, NOW);
    /* ingest cells: the same key written twice in one save */
    md_num b[UB_N] = {MD_NUM(1), MD_NUM(2), MD_NUM_NA, MD_NUM(3), U,
                      MD_NUM(6), MD_NUM(0.1), MD_NUM_NA};
    const char *e = NULL;
    for (int i = 0; i < 40; i++) {
        b[UB_COST] = MD_NUM(rnd());
        usage_store_add_event(s, "gw", T0 - 2 * DAY + floor(rnd() * 8) * 3600,
                              i % 3 ? "x" : "y", b, NOW, &e, NULL);
    }
    char *err = NULL;
    ok(usage_store_save(s, NOW, &err) == 0, "cold save");
    /* more cells than one multi-row insert takes, and not a multiple of
     * it: full batches and the rest one by one */
    size_t n = usage_store_count(s, "fresh");
    ok(n > WRITER_BATCH && n % WRITER_BATCH != 0,
       "the cold save writes full batches of cells and a rest");
    ok(cell_rows(usage_store_db(s), "fresh") == (long long)n,
       "every one of them is a usage_cell row");
    rollups_agree(s, "cold save");
    /* a replacement from a slot on: cells already in the database */
    for (size_t i = 0; i < N / 2; i++)
        c[i] = rnd_cell(T0 - DAY + floor(rnd() * 3 * 96) * 900,
                        models[(size_t)(rnd() * 5)]);
    usage_store_put(s, "fresh", c, N / 2, T0 - DAY, 2, NOW);
    ok(usage_store_save(s, NOW, &err) == 0, "incremental save");
    ok(cell_rows(usage_store_db(s), "fresh") ==
           (long long)usage_store_count(s, "fresh"),
       "the rows are the store's cells after a replacement too");
    rollups_agree(s, "incremental save");
    free(c);
    usage_store_free(s);
    free(dir);
}

/* Every usage_cell row of provider, values exact (%a), in key order. */
static char *cell_dump(history_db *db, const char *provider)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    history_db_lock(db);
    sqlite3_prepare_v2(history_db_handle(db),
                       "SELECT * FROM usage_cell WHERE provider = ?1"
                       " ORDER BY provider, slot, src, model", -1, &st, NULL);
    sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            char v[64];
            if (sqlite3_column_type(st, i) == SQLITE_FLOAT)
                snprintf(v, sizeof v, "%a", sqlite3_column_double(st, i));
            else
                snprintf(v, sizeof v, "%.40s",
                         (const char *)sqlite3_column_text(st, i));
            if (len + strlen(v) + 2 >= cap)
                out = xrealloc(out, cap *= 2);
            len += (size_t)sprintf(out + len, "%s,", v);
        }
        out[len - 1] = '\n';
    }
    sqlite3_finalize(st);
    history_db_unlock(db);
    return out;
}

/* A plugin's cells in slot order, each slot's models in the plugin's own
 * order (not the store's numbering), duplicates among them: the store
 * orders and merges them in place; the rows it writes are those of the
 * same cells handed over shuffled (sorted whole). */
static void test_put_in_slot_order(void)
{
    static char *models[] = {"m-c", "m-b", "m-a", "m-d"};
    enum { SLOTS = 200, N = SLOTS * 4 + 20 };
    usage_cell_rec *c = xcalloc(N, sizeof *c), *shuffled = xcalloc(N, sizeof *c);
    size_t n = 0;
    for (int sl = 0; sl < SLOTS; sl++) {
        /* the first slot numbers the models m-a, m-b, ...; later slots
         * hand them over in the other order */
        int per = 1 + sl % 4;
        for (int m = 0; m < per; m++) {
            char *name = sl == 0 ? models[3 - m % 4] : models[m % 4];
            c[n++] = rnd_cell(T0 - 3 * DAY + sl * 900.0, name);
        }
        if (sl % 17 == 5 && per > 1)   /* the slot's first key again, last */
            c[n++] = rnd_cell(T0 - 3 * DAY + sl * 900.0, models[0]);
    }
    memcpy(shuffled, c, n * sizeof *c);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rnd() * (double)(i + 1));
        usage_cell_rec t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }
    char *err = NULL, *dir_a = xasprintf("%s/slot-a", g_dir),
         *dir_b = xasprintf("%s/slot-b", g_dir);
    mkdir(dir_a, 0700);
    mkdir(dir_b, 0700);
    usage_store *a = usage_store_new(dir_a, 0), *b = usage_store_new(dir_b, 0);
    usage_store_put(a, "p", c, n, 0, 1, NOW);
    usage_store_put(b, "p", shuffled, n, 0, 1, NOW);
    ok(usage_store_save(a, NOW, &err) == 0 && usage_store_save(b, NOW, &err) == 0,
       "both saved");
    char *da = cell_dump(usage_store_db(a), "p"), *db = cell_dump(usage_store_db(b), "p");
    size_t rows = 0;
    for (const char *q = da; *q; q++)
        rows += *q == '\n';
    ok(rows > 400 && rows < n, "the duplicates merged");
    ok(strcmp(da, db) == 0, "cells in slot order are stored as the same cells "
                            "shuffled: key for key, value for value");
    ok(usage_store_count(a, "p") == rows, "and held in memory one for one");
    free(da);
    free(db);
    usage_store_free(a);
    usage_store_free(b);
    free(dir_a);
    free(dir_b);
    free(c);
    free(shuffled);
}

int main(void)
{
    char tmpl[] = "/tmp/meterd-usage-XXXXXX";
    g_dir = mkdtemp(tmpl);
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(MD_LOG_ERROR);
    test_put_and_since();
    test_ingest();
    test_retention();
    test_persistence();
    test_daily_zones();
    test_models_and_providers();
    test_tz_vs_libc();
    test_host_put_usage();
    test_large_counts_saturate();
    test_models_per_day_bounded();
    test_undo_events();
    test_rollup_matches_sql();
    test_put_in_slot_order();
    char *cmd = xasprintf("rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        diag_line("could not remove the scratch directory");
    free(cmd);
    return done_testing();
}
