/* t/unit/snapshot.c - atomic save, validated load, corrupt files moved
 * aside, unknown surviving a round trip, one provider's bad section not
 * costing the others theirs, and raw payloads cut to a depth and size
 * the snapshot can hold. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostctx.h"
#include "log.h"
#include "protocol.h"
#include "snapshot.h"
#include "tap.h"

#define NOW 1773151200.0

static const md_num U = {MD_UNKNOWN, 0};

static char *g_dir;

static void write_file(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(p);
}

static int file_exists(const char *name)
{
    char *p = xasprintf("%s/%s", g_dir, name);
    struct stat st;
    int r = stat(p, &st) == 0;
    free(p);
    return r;
}

/* Count directory entries starting with prefix; removes them when
 * remove is set. */
static int count_prefix(const char *prefix, int remove)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            n++;
            if (remove) {
                char *p = xasprintf("%s/%s", g_dir, de->d_name);
                unlink(p);
                free(p);
            }
        }
    closedir(d);
    return n;
}

static metric mk(const char *id, md_num used, md_num limit, md_num remaining,
                 md_num util)
{
    metric m;
    memset(&m, 0, sizeof m);
    m.provider = xstrdup("p1");
    m.id = xstrdup(id);
    m.label = xstrdup("Label");
    m.kind = xstrdup("quota_window");
    m.used = used;
    m.limit = limit;
    m.remaining = remaining;
    m.utilization = util;
    m.collected_at = MD_TIME(NOW - 5.25);
    return m;
}

static void test_missing(void)
{
    snapshot_entry *e = (snapshot_entry *)1;
    size_t n = 99;
    char *err = NULL;
    is_int(snapshot_load(g_dir, &e, &n, &err), 1, "missing file: 1");
    is_int(n, 0, "no entries");
    ok(e == NULL && err == NULL, "nothing allocated");
}

static void test_round_trip(void)
{
    collect_result r;
    collect_result_init(&r);
    r.n_metrics = 3;
    r.metrics = xcalloc(3, sizeof *r.metrics);
    /* unknown stays unknown, NA stays NA, known 0 stays known 0 */
    r.metrics[0] = mk("mixed", MD_NUM(0), MD_NUM_NA, U, U);
    r.metrics[0].unit = xstrdup("requests");
    r.metrics[0].resets_at = MD_TIME_NA;
    r.metrics[1] = mk("derived", MD_NUM(1), MD_NUM(3), U, U);
    metric_derive(&r.metrics[1]);
    r.metrics[2] = mk("precise", U, U, MD_NUM(0.1 + 0.2), U);
    r.metrics[2].confidence = MD_ESTIMATED;
    r.metrics[2].resets_at = MD_TIME(NOW + 7200);
    r.n_notes = 1;
    r.notes = xcalloc(1, sizeof *r.notes);
    r.notes[0] = xstrdup("a note");
    r.raw_json = xstrdup("{\"k\":1}");
    r.started_at = NOW - 6;
    r.finished_at = NOW - 5;

    provider_view v[2];
    memset(v, 0, sizeof v);
    v[0] = (provider_view){.name = "p1", .plugin = "mock", .status = PSTAT_OK,
                           .data = &r, .last_attempt_at = NOW - 6};
    v[1] = (provider_view){.name = "p2", .plugin = "mock",
                           .status = PSTAT_ERROR, .err = MD_ERR_TIMEOUT,
                           .err_msg = "deadline passed"};
    char *err = NULL;
    is_int(snapshot_save(g_dir, v, 2, &err), 0, "save");
    free(err);
    ok(file_exists("snapshot.json"), "file written");
    is_int(count_prefix(".snapshot.json.", 0), 0, "no temp file left");
    char *p = xasprintf("%s/snapshot.json", g_dir);
    struct stat st;
    ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
    free(p);

    snapshot_entry *e = NULL;
    size_t n = 0;
    err = NULL;
    is_int(snapshot_load(g_dir, &e, &n, &err), 0, "load");
    is_int(n, 2, "two entries");
    is_str(e[0].name, "p1", "name");
    is_str(e[0].plugin, "mock", "plugin");
    ok(e[0].status == PSTAT_OK && e[0].has_data, "status ok with data");
    is_num(e[0].last_attempt_at, NOW - 6, "last_attempt_at");
    ok(e[1].status == PSTAT_ERROR && e[1].err == MD_ERR_TIMEOUT &&
           !e[1].has_data,
       "error entry without data");
    is_str(e[1].err_msg, "deadline passed", "error message");

    const metric *m = e[0].data.metrics;
    is_int(e[0].data.n_metrics, 3, "three metrics");
    ok(m[0].used.state == MD_KNOWN && m[0].used.value == 0,
       "known 0 stays known 0");
    ok(m[0].limit.state == MD_NOT_APPLICABLE, "NA stays NA");
    ok(m[0].remaining.state == MD_UNKNOWN && m[0].utilization.state ==
                                                 MD_UNKNOWN &&
           m[0].window_seconds.state == MD_UNKNOWN,
       "unknown stays unknown");
    ok(m[0].resets_at.state == MD_NOT_APPLICABLE, "NA time stays NA");
    ok(m[1].derived ==
               (METRIC_DERIVED_REMAINING | METRIC_DERIVED_UTILIZATION) &&
           m[1].remaining.value == 2,
       "derived values and flags survive");
    ok(m[2].remaining.value == 0.1 + 0.2, "doubles survive bit-exact");
    ok(m[2].confidence == MD_ESTIMATED, "confidence survives");
    is_num(m[2].resets_at.epoch, NOW + 7200, "resets_at survives");
    is_num(m[0].collected_at.epoch, NOW - 5.25, "ms-precision time survives");
    is_str(e[0].data.notes[0], "a note", "note survives");
    is_str(e[0].data.raw_json, "{\"k\":1}", "raw survives");
    is_num(e[0].data.finished_at, NOW - 5, "finished_at survives");

    /* The whole result re-renders identically. */
    json_t *a = protocol_result_to_json(&r), *b = protocol_result_to_json(&e[0].data);
    ok(json_equal(a, b), "collect result JSON identical after round trip");
    json_decref(a);
    json_decref(b);
    snapshot_entries_free(e, n);

    /* saving again replaces atomically */
    v[0].status = PSTAT_DISABLED;
    is_int(snapshot_save(g_dir, v, 1, &err), 0, "second save");
    is_int(snapshot_load(g_dir, &e, &n, &err), 0, "reload");
    ok(n == 1 && e[0].status == PSTAT_DISABLED, "new content replaced old");
    snapshot_entries_free(e, n);
    collect_result_clear(&r);
}

static void expect_corrupt(const char *text, const char *what)
{
    write_file("snapshot.json", text);
    snapshot_entry *e = NULL;
    size_t n = 5;
    char *err = NULL;
    char name[128];
    int rc = snapshot_load(g_dir, &e, &n, &err);
    snprintf(name, sizeof name, "%s: -1", what);
    is_int(rc, -1, name);
    snprintf(name, sizeof name, "%s: no entries", what);
    ok(e == NULL && n == 0, name);
    snprintf(name, sizeof name, "%s: error says moved aside", what);
    ok(err && strstr(err, "moved aside"), name);
    snprintf(name, sizeof name, "%s: original gone", what);
    ok(!file_exists("snapshot.json"), name);
    snprintf(name, sizeof name, "%s: corrupt copy kept", what);
    is_int(count_prefix("snapshot.json.corrupt-", 1), 1, name);
    free(err);
}

static void test_corrupt(void)
{
    expect_corrupt("{not json", "bad JSON");
    expect_corrupt("{\"schema\":\"other.v1\",\"providers\":[]}", "wrong schema");
    expect_corrupt("{\"schema\":\"meterd.snapshot.v1\",\"providers\":{}}",
                   "providers not array");
    expect_corrupt("{\"schema\":\"meterd.snapshot.v1\",\"providers\":[\n"
                   "{\"name\":\"a\",\"plugin\":\"m\",\"status\":\"ok\"}\n",
                   "cut short");
    expect_corrupt("", "empty file");

    /* a valid empty snapshot is not corrupt */
    write_file("snapshot.json",
               "{\"schema\":\"meterd.snapshot.v1\",\"providers\":[]}");
    snapshot_entry *e = NULL;
    size_t n = 3;
    char *err = NULL;
    is_int(snapshot_load(g_dir, &e, &n, &err), 0, "empty snapshot loads");
    is_int(n, 0, "zero entries");
    snapshot_entries_free(e, n);
}

/* One entry in a document that parses is bad: the others load. */
static void test_bad_entry_spares_the_rest(void)
{
    write_file("snapshot.json",
               "{\"schema\":\"meterd.snapshot.v1\",\"providers\":["
               "{\"name\":\"a\",\"plugin\":\"m\",\"status\":\"bogus\"},"
               "{\"name\":\"b\",\"plugin\":\"m\",\"status\":\"ok\","
               "\"data\":{\"metrics\":[{\"id\":\"x\",\"kind\":\"usage\","
               "\"used\":\"12\"}]}},"
               "{\"name\":\"c\",\"plugin\":\"m\",\"status\":\"error\"}]}");
    snapshot_entry *e = NULL;
    size_t n = 0;
    char *err = NULL;
    is_int(snapshot_load(g_dir, &e, &n, &err), 0,
           "bad status and bad metric: still loads");
    ok(n == 1 && strcmp(e[0].name, "c") == 0, "the valid provider is kept");
    ok(err && strstr(err, "providers[0]") && strstr(err, "providers[1]"),
       "the left-out sections are named");
    ok(file_exists("snapshot.json"), "the file is not moved aside");
    free(err);
    snapshot_entries_free(e, n);
}

/* A raw payload nested `depth` levels deep in one provider's section (an
 * old daemon stored such payloads): at 2045 the whole document is past
 * the parser's depth limit (2048) but each line is not, so all three
 * providers are recovered; at 2100 the line itself is unreadable and
 * only that provider is left out. */
static void deep_entry_spares_the_rest(int depth)
{
    collect_result r;
    collect_result_init(&r);
    r.started_at = NOW - 6;
    r.finished_at = NOW - 5;
    provider_view v[3] = {
        {.name = "p1", .plugin = "mock", .status = PSTAT_OK, .data = &r},
        {.name = "deep", .plugin = "mock", .status = PSTAT_OK, .data = &r},
        {.name = "p3", .plugin = "mock", .status = PSTAT_ERROR,
         .err = MD_ERR_TIMEOUT, .err_msg = "late"},
    };
    char *err = NULL;
    is_int(snapshot_save(g_dir, v, 3, &err), 0, "save three providers");
    /* Nest the middle line's data 2045 levels deep, as the old daemon
     * stored such a raw payload. */
    char *p = xasprintf("%s/snapshot.json", g_dir);
    FILE *f = fopen(p, "r");
    char *text = xcalloc(1, 1 << 20);
    size_t len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    text[len] = '\0';
    /* header, p1, deep, p3, closing line */
    char *line2 = strchr(strchr(text, '\n') + 1, '\n') + 1;
    char *line3 = strchr(line2, '\n') + 1;
    char *deep = xcalloc(1, 3 * (size_t)depth + 128);
    size_t k = 0;
    k += (size_t)sprintf(deep, "{\"name\":\"deep\",\"plugin\":\"mock\","
                                  "\"status\":\"ok\",\"data\":{\"raw\":");
    for (int i = 0; i < depth; i++)
        deep[k++] = '[';
    for (int i = 0; i < depth; i++)
        deep[k++] = ']';
    strcpy(deep + k, "}},\n");
    *line2 = '\0';
    f = fopen(p, "w");
    fputs(text, f);
    fputs(deep, f);
    fputs(line3, f);
    fclose(f);
    free(deep);
    free(text);
    free(p);

    snapshot_entry *e = NULL;
    size_t n = 0;
    char name[160];
    err = NULL;
    snprintf(name, sizeof name, "raw nested %d deep: the snapshot loads",
             depth);
    is_int(snapshot_load(g_dir, &e, &n, &err), 0, name);
    size_t want = depth < 2048 - 2 ? 3 : 2;
    snprintf(name, sizeof name, "raw nested %d deep: %zu providers kept",
             depth, want);
    ok(n == want && strcmp(e[0].name, "p1") == 0 &&
           strcmp(e[n - 1].name, "p3") == 0, name);
    ok(n == want && e[0].has_data && e[n - 1].err == MD_ERR_TIMEOUT,
       "with their data and errors");
    if (want == 2)
        ok(err && strstr(err, "providers[1]"), "the left-out section is named");
    else
        ok(err == NULL, "nothing left out");
    is_int(count_prefix("snapshot.json.corrupt-", 1), 0, "nothing moved aside");
    free(err);
    snapshot_entries_free(e, n);
    collect_result_clear(&r);
}

/* The host keeps a raw payload only within 64 levels and 256 KiB, with a
 * note otherwise, so the snapshot never holds one it cannot read back. */
static void test_raw_payload_bounded(void)
{
    hostctx_params hp = {.instance = "inst"};
    const md_host *h = hostctx_host();
    struct { const char *what; size_t depth, pad; int kept; } cases[] = {
        {"depth 64: kept", 63, 0, 1},
        {"depth 2045: dropped", 2045, 0, 0},
        {"300 KiB: dropped", 1, 300 * 1024, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        md_ctx *ctx = hostctx_new(&hp);
        size_t d = cases[c].depth, pad = cases[c].pad;
        char *text = xcalloc(1, 2 * d + pad + 16);
        size_t k = 0;
        for (size_t i = 0; i < d; i++)
            text[k++] = '[';
        text[k++] = '"';
        memset(text + k, 'x', pad);
        k += pad;
        text[k++] = '"';
        for (size_t i = 0; i < d; i++)
            text[k++] = ']';
        h->set_raw(ctx, text, k);
        collect_result r;
        hostctx_take_result(ctx, &r);
        ok((r.raw_json != NULL) == cases[c].kept, cases[c].what);
        if (!cases[c].kept)
            ok(r.n_notes == 1 && (strstr(r.notes[0], "deeper than 64") ||
                                  strstr(r.notes[0], "256 KiB")),
               "... with a note saying why");
        collect_result_clear(&r);
        hostctx_free(ctx);
        free(text);
    }
}

static void test_save_error(void)
{
    provider_view v = {.name = "p", .plugin = "m"};
    char *err = NULL;
    char *missing = xasprintf("%s/no/such/dir", g_dir);
    is_int(snapshot_save(missing, &v, 1, &err), -1, "save to missing dir fails");
    ok(err != NULL, "with an error message");
    free(err);
    free(missing);
}

int main(void)
{
    char tmpl[] = "/tmp/meterd-snap-XXXXXX";
    g_dir = mkdtemp(tmpl);
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    test_missing();
    test_round_trip();
    test_corrupt();
    test_bad_entry_spares_the_rest();
    deep_entry_spares_the_rest(2045);
    deep_entry_spares_the_rest(2100);
    test_raw_payload_bounded();
    test_save_error();
    count_prefix("snapshot.json", 1);
    rmdir(g_dir);
    return done_testing();
}
