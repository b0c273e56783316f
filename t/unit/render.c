/* t/unit/render.c - the usage document, members, redaction, errors. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "render.h"
#include "tap.h"

#define NOW 1773151200.0 /* 2026-03-10T14:00:00Z */

static const md_num U = {MD_UNKNOWN, 0};

static metric mk(const char *provider, const char *id, const char *kind,
                 const char *unit, md_num used, md_num limit, md_num remaining)
{
    metric m;
    memset(&m, 0, sizeof m);
    m.provider = xstrdup(provider);
    m.id = xstrdup(id);
    m.label = xstrdup(id);
    m.kind = xstrdup(kind);
    m.unit = xstrdup(unit);
    m.used = used;
    m.limit = limit;
    m.remaining = remaining;
    m.collected_at = MD_TIME(NOW - 30);
    metric_derive(&m);
    return m;
}

static void push_metric(collect_result *r, metric m)
{
    r->metrics = xrealloc(r->metrics, (r->n_metrics + 1) * sizeof *r->metrics);
    r->metrics[r->n_metrics++] = m;
}

static void push_note(collect_result *r, const char *note)
{
    r->notes = xrealloc(r->notes, (r->n_notes + 1) * sizeof *r->notes);
    r->notes[r->n_notes++] = xstrdup(note);
}

static int has_keys(const json_t *o, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(o, keys[i])) {
            printf("# missing key %s\n", keys[i]);
            return 0;
        }
    return 1;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Three members: codex (live, runtime + 5h window), openai-api (snapshot,
 * stale, failed), and deepseek alone with nothing yet. */
typedef struct world {
    provider_view v[3];
    collect_result r[2];
} world;

static void world_init(world *w)
{
    memset(w, 0, sizeof *w);
    collect_result_init(&w->r[0]);
    collect_result_init(&w->r[1]);
    push_metric(&w->r[0], mk("codex", "runtime", "usage", "tasks", MD_NUM(12),
                             U, U));
    metric five = mk("codex", "five_hour", "quota_window", "hours", MD_NUM(1),
                     MD_NUM(5), MD_NUM(4));
    five.resets_at = MD_TIME(NOW + 3600);
    push_metric(&w->r[0], five);
    push_note(&w->r[0], "plan: pro");
    w->r[0].raw_json = xstrdup(
        "{\"plan\":\"pro\",\"Access_Token\":\"abc\",\"nested\":[{\"email\":"
        "\"a@b.c\",\"used\":1}],\"account\":{\"accountId\":\"42\","
        "\"x-api-key\":\"k\",\"apikey\":\"k2\"}}");
    w->r[0].finished_at = NOW - 30;
    push_metric(&w->r[1], mk("openai-api", "credits", "credits", "usd", U, U,
                             MD_NUM(7)));
    w->r[1].finished_at = NOW - 3600;

    w->v[0] = (provider_view){.name = "codex", .plugin = "codex",
                              .family = "openai", .status = PSTAT_OK,
                              .data = &w->r[0], .collected_at = NOW - 30,
                              .served = SERVED_LIVE,
                              .last_attempt_at = NOW - 31,
                              .next_attempt_at = NOW + 60, .runs = 3};
    w->v[1] = (provider_view){.name = "openai-api", .plugin = "openai",
                              .family = "openai", .status = PSTAT_ERROR,
                              .err = MD_ERR_AUTH, .err_msg = "401 from API",
                              .data = &w->r[1], .collected_at = NOW - 3600,
                              .served = SERVED_LIVE, .stale = 1,
                              .last_attempt_at = NOW - 5, .runs = 4,
                              .failures = 2, .skips = 1};
    w->v[2] = (provider_view){.name = "deepseek", .plugin = "deepseek",
                              .family = NULL, .status = PSTAT_PENDING};
}

static void world_free(world *w)
{
    collect_result_clear(&w->r[0]);
    collect_result_clear(&w->r[1]);
}

static const char *const ROW_KEYS[] = {
    "provider", "status", "actual_current_usage", "actual_current_usage_unit",
    "usage_remaining", "usage_remaining_unit", "usage_remaining_reason",
    "governing_metric", "available_again_at", "served_from", "age_seconds",
    "members", "metrics", "notes", "alert", "exhausts_at"};
static const char *const COMPACT_KEYS[] = {
    "provider", "status", "actual_current_usage", "actual_current_usage_unit",
    "usage_remaining", "usage_remaining_unit", "usage_remaining_reason",
    "governing_metric", "served_from", "age_seconds"};
static const char *const MEMBER_KEYS[] = {
    "name", "plugin", "status", "error", "collected_at", "served_from",
    "age_seconds", "stale", "next_attempt_at", "last_attempt_at", "runs",
    "failures", "skips"};
#define NKEYS(a) (sizeof a / sizeof a[0])

static void test_full(void)
{
    world w;
    world_init(&w);
    render_opts o = {0, 0};
    json_t *d = render_usage(w.v, 3, o, NULL, NOW);
    is_str(jstr(d, "schema"), "meterd.usage.v1", "schema");
    is_str(jstr(d, "generated_at"), "2026-03-10T14:00:00Z", "generated_at");
    is_int(json_integer_value(json_object_get(d, "tracked_providers")), 2,
           "two rows");
    json_t *un = json_object_get(d, "unavailable_providers");
    ok(json_array_size(un) == 1 &&
           strcmp(json_string_value(json_array_get(un, 0)), "deepseek") == 0,
       "deepseek unavailable");
    json_t *meta = json_object_get(d, "meta");
    is_str(jstr(meta, "data_source"), "live_or_cache", "default data_source");
    ok(json_is_null(json_object_get(meta, "fallback_reason")),
       "no fallback_reason: null");
    ok(json_array_size(json_object_get(meta, "fallbacks_used")) == 0 &&
           json_is_array(json_object_get(meta, "fallback_providers")),
       "empty fallback arrays present");

    json_t *rows = json_object_get(d, "providers");
    json_t *ds = json_array_get(rows, 0), *oa = json_array_get(rows, 1);
    is_str(jstr(ds, "provider"), "deepseek", "rows ordered by family");
    ok(has_keys(ds, ROW_KEYS, NKEYS(ROW_KEYS)), "empty row has every key");
    is_int(json_object_size(ds), NKEYS(ROW_KEYS), "and nothing else");
    ok(json_is_null(json_object_get(ds, "usage_remaining")) &&
           json_is_null(json_object_get(ds, "actual_current_usage")) &&
           json_is_null(json_object_get(ds, "governing_metric")) &&
           json_is_null(json_object_get(ds, "age_seconds")) &&
           json_is_null(json_object_get(ds, "available_again_at")),
       "unknowns are null, not 0");
    is_str(jstr(ds, "usage_remaining_reason"), "pending", "reason pending");
    is_str(jstr(ds, "served_from"), "none", "no data: served_from none");

    is_str(jstr(oa, "status"), "degraded", "openai degraded");
    is_num(json_number_value(json_object_get(oa, "actual_current_usage")), 12,
           "actual usage 12 tasks");
    is_str(jstr(oa, "actual_current_usage_unit"), "tasks", "tasks");
    is_num(json_number_value(json_object_get(oa, "usage_remaining")), 4,
           "remaining 4 hours: 5h window (20%) outranks remaining-only credits");
    is_str(jstr(oa, "usage_remaining_unit"), "hours", "hours");
    json_t *g = json_object_get(oa, "governing_metric");
    static const char *const GKEYS[] = {"provider", "id", "utilization",
                                        "remaining", "limit", "unit",
                                        "resets_at", "reason"};
    ok(has_keys(g, GKEYS, NKEYS(GKEYS)), "governing_metric keys");
    is_str(jstr(g, "provider"), "codex", "governing provider");
    is_str(jstr(g, "id"), "five_hour", "governing id");
    is_num(json_number_value(json_object_get(g, "utilization")), 20,
           "governing utilization");
    is_str(jstr(g, "resets_at"), "2026-03-10T15:00:00Z", "resets_at RFC 3339");
    is_str(jstr(oa, "served_from"), "live", "all live: live");
    is_int(json_integer_value(json_object_get(oa, "age_seconds")), 3600,
           "row age = oldest data");

    json_t *mem = json_object_get(oa, "members");
    is_int(json_array_size(mem), 2, "two members");
    json_t *m0 = json_array_get(mem, 0), *m1 = json_array_get(mem, 1);
    is_str(jstr(m0, "name"), "codex", "member order by name");
    ok(has_keys(m0, MEMBER_KEYS, NKEYS(MEMBER_KEYS)), "member keys");
    ok(!json_object_get(m0, "raw"), "no raw without include_raw");
    ok(json_is_null(json_object_get(m0, "error")), "ok member: error null");
    json_t *e1 = json_object_get(m1, "error");
    is_str(jstr(e1, "class"), "auth", "error class");
    is_str(jstr(e1, "message"), "401 from API", "error message");
    ok(json_is_true(json_object_get(m1, "stale")), "stale member flagged");
    is_int(json_integer_value(json_object_get(m1, "failures")), 2, "failures");
    is_str(jstr(m1, "collected_at"), "2026-03-10T13:00:00Z", "collected_at");
    ok(json_is_null(json_object_get(m1, "next_attempt_at")),
       "unscheduled next attempt: null");

    json_t *ms = json_object_get(oa, "metrics");
    is_int(json_array_size(ms), 3, "metrics merged across members");
    json_t *credits = json_array_get(ms, 2);
    is_str(jstr(credits, "provider"), "openai-api", "metric carries provider");
    ok(json_is_true(json_object_get(credits, "stale")), "stale metric flagged");
    ok(json_is_false(json_object_get(json_array_get(ms, 0), "stale")),
       "live metric not stale");
    ok(json_is_null(json_object_get(credits, "used")), "unknown used: null");
    json_t *notes = json_object_get(oa, "notes");
    ok(json_array_size(notes) == 1 &&
           strcmp(jstr(json_array_get(notes, 0), "provider"), "codex") == 0 &&
           strcmp(jstr(json_array_get(notes, 0), "note"), "plan: pro") == 0,
       "notes carry their provider");
    json_decref(d);
    world_free(&w);
}

static void test_compact_and_fallback(void)
{
    world w;
    world_init(&w);
    const char *fb[] = {"codex"};
    usage_meta meta = {.data_source = "live_refresh", .fallback_reason = "timeout",
                      .fallback_providers = fb, .n_fallback_providers = 1};
    render_opts o = {1, 0};
    json_t *d = render_usage(w.v, 3, o, &meta, NOW);
    json_t *oa = json_array_get(json_object_get(d, "providers"), 1);
    ok(has_keys(oa, COMPACT_KEYS, NKEYS(COMPACT_KEYS)), "compact keys present");
    is_int(json_object_size(oa), NKEYS(COMPACT_KEYS), "compact: only those");
    is_str(jstr(oa, "served_from"), "snapshot",
           "forced fallback member makes the row snapshot");
    json_t *m = json_object_get(d, "meta");
    is_str(jstr(m, "data_source"), "live_refresh", "data_source");
    is_str(jstr(m, "fallback_reason"), "timeout", "fallback_reason");
    ok(json_array_size(json_object_get(m, "fallbacks_used")) == 1,
       "fallbacks_used [timeout]");
    is_str(json_string_value(
               json_array_get(json_object_get(m, "fallback_providers"), 0)),
           "codex", "fallback_providers");
    json_decref(d);

    o.compact = 0;
    d = render_usage(w.v, 3, o, &meta, NOW);
    oa = json_array_get(json_object_get(d, "providers"), 1);
    json_t *mem = json_object_get(oa, "members");
    is_str(jstr(json_array_get(mem, 0), "served_from"), "snapshot",
           "fallback member served_from snapshot");
    is_str(jstr(json_array_get(mem, 1), "served_from"), "live",
           "other member stays live");
    json_decref(d);

    /* a member loaded from the snapshot */
    w.v[1].served = SERVED_SNAPSHOT;
    d = render_usage(w.v, 3, o, NULL, NOW);
    oa = json_array_get(json_object_get(d, "providers"), 1);
    is_str(jstr(oa, "served_from"), "snapshot", "snapshot member: snapshot row");
    json_decref(d);
    world_free(&w);
}

static void test_raw(void)
{
    world w;
    world_init(&w);
    json_t *p = render_provider(&w.v[0], 1, NOW);
    json_t *raw = json_object_get(p, "raw");
    ok(json_is_object(raw), "raw present as JSON");
    is_str(jstr(raw, "plan"), "pro", "ordinary key kept");
    is_str(jstr(raw, "Access_Token"), "[REDACTED]", "token key redacted (case)");
    json_t *n0 = json_array_get(json_object_get(raw, "nested"), 0);
    is_str(jstr(n0, "email"), "[REDACTED]", "nested email redacted");
    is_int(json_integer_value(json_object_get(n0, "used")), 1,
           "nested ordinary value kept");
    json_t *acc = json_object_get(raw, "account");
    is_str(jstr(acc, "accountId"), "[REDACTED]", "accountId redacted");
    is_str(jstr(acc, "x-api-key"), "[REDACTED]", "api-key redacted");
    is_str(jstr(acc, "apikey"), "[REDACTED]", "apikey redacted");
    ok(json_array_size(json_object_get(p, "metrics")) == 2 &&
           json_array_size(json_object_get(p, "notes")) == 1,
       "single provider has metrics and notes");
    is_str(jstr(p, "family"), "openai", "single provider names its family");
    json_decref(p);

    p = render_member(&w.v[2], 1, 0, NOW);
    ok(json_is_null(json_object_get(p, "raw")), "no data: raw null");
    ok(json_is_null(json_object_get(p, "collected_at")) &&
           json_is_null(json_object_get(p, "age_seconds")),
       "never collected: nulls");
    is_str(jstr(p, "status"), "pending", "pending status");
    json_decref(p);

    json_t *all = render_providers(w.v, 3, 0, NOW);
    is_int(json_array_size(json_object_get(all, "providers")), 3,
           "providers list");
    ok(json_is_string(json_object_get(all, "generated_at")), "generated_at");
    json_decref(all);
    world_free(&w);
}

static void test_error(void)
{
    json_t *e = render_error(404, "no such provider");
    json_t *in = json_object_get(e, "error");
    is_int(json_integer_value(json_object_get(in, "status")), 404, "status");
    is_str(jstr(in, "message"), "no such provider", "message");
    json_decref(e);
}

int main(void)
{
    test_full();
    test_compact_and_fallback();
    test_raw();
    test_error();
    return done_testing();
}
