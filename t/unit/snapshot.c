/* t/unit/snapshot.c - atomic save, validated load, corrupt files moved
 * aside, and unknown surviving a round trip. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    expect_corrupt("{\"schema\":\"meterd.snapshot.v1\",\"providers\":"
                   "[{\"name\":\"a\",\"plugin\":\"m\",\"status\":\"bogus\"}]}",
                   "bad status");
    expect_corrupt("{\"schema\":\"meterd.snapshot.v1\",\"providers\":"
                   "[{\"name\":\"a\",\"plugin\":\"m\",\"status\":\"ok\","
                   "\"data\":{\"metrics\":[{\"id\":\"x\",\"kind\":\"usage\","
                   "\"used\":\"12\"}]}}]}",
                   "bad metric");
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
    test_save_error();
    count_prefix("snapshot.json", 1);
    rmdir(g_dir);
    return done_testing();
}
