/* t/unit/rank.c - families, the governing meter and usage_remaining. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rank.h"
#include "tap.h"

#define NOW 1773151200.0

static const md_num U = {MD_UNKNOWN, 0};

/* A metric with the given values (U = unknown); derivation applied as the
 * core does on intake.  Strings are owned by the metric. */
static metric mk(const char *provider, const char *id, const char *kind,
                 const char *unit, md_num used, md_num limit, md_num remaining,
                 md_num util)
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
    m.utilization = util;
    metric_derive(&m);
    return m;
}

/* Test fixture: up to 8 views each with its own result. */
typedef struct fixture {
    provider_view v[8];
    collect_result r[8];
    size_t n;
} fixture;

static provider_view *add_view(fixture *f, const char *name,
                               const char *family, provider_status st)
{
    provider_view *v = &f->v[f->n];
    collect_result_init(&f->r[f->n]);
    memset(v, 0, sizeof *v);
    v->name = name;
    v->plugin = "mock";
    v->family = family;
    v->status = st;
    v->err = st == PSTAT_ERROR ? MD_ERR_HTTP : MD_ERR_NONE;
    f->n++;
    return v;
}

static void add_metric(fixture *f, provider_view *v, metric m)
{
    collect_result *r = &f->r[v - f->v];
    r->metrics = xrealloc(r->metrics, (r->n_metrics + 1) * sizeof *r->metrics);
    r->metrics[r->n_metrics++] = m;
    v->data = r;
    v->served = SERVED_LIVE;
    v->collected_at = NOW - 10;
}

static void fixture_free(fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        collect_result_clear(&f->r[i]);
    f->n = 0;
}

static family_summary *rank1(fixture *f, size_t *nf)
{
    family_summary *fs;
    *nf = rank_families(f->v, f->n, NOW, &fs);
    return fs;
}

static void test_seed(void)
{
    fixture f = {0};
    provider_view *v = add_view(&f, "codex", "openai", PSTAT_OK);
    add_metric(&f, v, mk("codex", "runtime", "usage", "tasks", MD_NUM(12), U,
                         U, U));
    add_metric(&f, v, mk("codex", "five_hour", "quota_window", "hours",
                         MD_NUM(1), MD_NUM(5), MD_NUM(4), U));
    size_t nf;
    family_summary *fs = rank1(&f, &nf);
    is_int(nf, 1, "seed: one family");
    is_str(fs[0].family, "openai", "family name");
    is_num(fs[0].actual_current_usage.value, 12, "actual_current_usage 12");
    is_str(fs[0].actual_current_usage_unit, "tasks", "unit tasks");
    ok(fs[0].usage_remaining.state == MD_KNOWN, "usage_remaining known");
    is_num(fs[0].usage_remaining.value, 4, "usage_remaining 4");
    is_str(fs[0].usage_remaining_unit, "hours", "unit hours");
    ok(fs[0].usage_remaining_reason == NULL, "no reason when known");
    is_str(fs[0].governing ? fs[0].governing->id : NULL, "five_hour",
           "governing is the 5h window");
    is_str(fs[0].governing_reason, "highest_utilization",
           "reason: utilization derived from used/limit");
    is_str(fs[0].status, "ok", "status ok");
    ok(!fs[0].exhausted && fs[0].available_again_at.state == MD_UNKNOWN,
       "not exhausted: no available_again_at");
    family_summaries_free(fs, nf);
    fixture_free(&f);
}

static void test_exhausted_weekly(void)
{
    fixture f = {0};
    provider_view *v = add_view(&f, "claude", NULL, PSTAT_OK);
    metric five = mk("claude", "five_hour", "quota_window", "percent", U, U, U,
                     MD_NUM(10));
    five.resets_at = MD_TIME(NOW + 3600);
    metric week = mk("claude", "weekly", "quota_window", "percent", U, U, U,
                     MD_NUM(100));
    week.resets_at = MD_TIME(NOW + 86400 * 3);
    add_metric(&f, v, five);
    add_metric(&f, v, week);
    size_t nf;
    family_summary *fs = rank1(&f, &nf);
    is_str(fs[0].family, "claude", "no family: own name");
    is_str(fs[0].governing->id, "weekly", "exhausted weekly beats healthy 5h");
    is_str(fs[0].governing_reason, "exhausted", "reason exhausted");
    ok(fs[0].exhausted, "exhausted flag");
    is_num(fs[0].usage_remaining.value, 0, "0 percent left");
    is_str(fs[0].usage_remaining_unit, "percent", "percent unit");
    ok(fs[0].available_again_at.state == MD_KNOWN &&
           fs[0].available_again_at.epoch == NOW + 86400 * 3,
       "available_again_at = weekly reset");
    is_num(fs[0].actual_current_usage.state, MD_UNKNOWN,
           "no used anywhere: actual usage unknown");
    family_summaries_free(fs, nf);
    fixture_free(&f);
}

/* Over quota is exhausted: a reported 100.4 % and use past a limit whose
 * remaining and utilization are not applicable both govern as exhausted,
 * ahead of a meter at 99 %, and usage_remaining is 0, never negative. */
static void test_over_quota_is_exhausted(void)
{
    fixture f = {0};
    provider_view *v = add_view(&f, "p", NULL, PSTAT_OK);
    add_metric(&f, v, mk("p", "a_near", "quota_window", "percent", U, U, U,
                         MD_NUM(99)));
    add_metric(&f, v, mk("p", "b_over", "quota_window", "percent", U, U, U,
                         MD_NUM(100.4)));
    size_t nf;
    family_summary *fs = rank1(&f, &nf);
    is_str(fs[0].governing->id, "b_over", "100.4 % governs over 99 %");
    is_str(fs[0].governing_reason, "exhausted", "... as exhausted");
    ok(fs[0].exhausted, "exhausted flag set for 100.4 %");
    is_num(fs[0].usage_remaining.value, 0, "0 percent left, not -0.4");
    is_num(fs[0].governing->utilization.value, 100.4, "utilization stays 100.4");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    metric na = mk("p", "spend", "budget", "usd", MD_NUM(105), MD_NUM(100),
                   MD_NUM_NA, MD_NUM_NA);
    metric near = mk("p", "near", "quota_window", "percent", U, U, U,
                     MD_NUM(99));
    ok(rank_compare(&na, &near, NOW) < 0,
       "used past the limit is exhausted even with no remaining/utilization");
    metric_release(&na);
    metric_release(&near);
    metric derived = mk("p", "d", "budget", "usd", MD_NUM(105), MD_NUM(100), U, U);
    is_num(derived.remaining.value, 0, "derived remaining of 105/100 is 0");
    near = mk("p", "near", "quota_window", "percent", U, U, U, MD_NUM(99));
    ok(rank_compare(&derived, &near, NOW) < 0, "105 of 100 ranks as exhausted");
    metric_release(&derived);
    metric_release(&near);
}

static void test_available_again(void)
{
    fixture f = {0};
    provider_view *a = add_view(&f, "a", "fam", PSTAT_OK);
    provider_view *b = add_view(&f, "b", "fam", PSTAT_OK);
    metric m1 = mk("a", "x", "quota_window", "requests", U, U, MD_NUM(0), U);
    m1.resets_at = MD_TIME(NOW + 60);
    metric m2 = mk("b", "y", "quota_window", "percent", U, U, U, MD_NUM(100));
    m2.resets_at = MD_TIME(NOW + 600);
    add_metric(&f, a, m1);
    add_metric(&f, b, m2);
    size_t nf;
    family_summary *fs = rank1(&f, &nf);
    is_str(fs[0].governing->id, "x", "exhausted: shorter reset governs");
    ok(fs[0].available_again_at.state == MD_KNOWN &&
           fs[0].available_again_at.epoch == NOW + 600,
       "available_again_at is the LATEST exhausted reset");
    family_summaries_free(fs, nf);

    /* one exhausted meter without a reset: no promise at all */
    add_metric(&f, b, mk("b", "z", "credits", "usd", U, U, MD_NUM(0), U));
    fs = rank1(&f, &nf);
    ok(fs[0].exhausted, "still exhausted");
    ok(fs[0].available_again_at.state == MD_UNKNOWN,
       "unknown when any exhausted meter has no reset");
    family_summaries_free(fs, nf);
    fixture_free(&f);
}

static void test_compare(void)
{
    metric hi = mk("p", "hi", "quota_window", "percent", U, U, U, MD_NUM(80));
    metric lo = mk("p", "lo", "quota_window", "percent", U, U, U, MD_NUM(30));
    metric rem = mk("p", "rem", "credits", "usd", U, U, MD_NUM(1), U);
    metric rem2 = mk("p", "rem2", "credits", "usd", U, U, MD_NUM(5), U);
    ok(rank_compare(&hi, &lo, NOW) < 0, "highest utilization wins");
    ok(rank_compare(&lo, &hi, NOW) > 0, "comparison antisymmetric");
    ok(rank_compare(&lo, &rem, NOW) < 0,
       "any utilization beats remaining-only");
    ok(rank_compare(&rem, &rem2, NOW) < 0, "lowest remaining first");

    metric ex = mk("p", "ex", "quota_window", "percent", U, U, U, MD_NUM(80));
    metric est = mk("p", "est", "quota_window", "percent", U, U, U, MD_NUM(80));
    est.confidence = MD_ESTIMATED;
    ok(rank_compare(&ex, &est, NOW) < 0, "exact beats estimated");
    ok(rank_compare(&est, &ex, NOW) > 0, "estimated after exact");
    /* a log-derived figure never outranks a provider-reported meter, not
     * even an exhausted one over a healthy one */
    metric est_full = mk("p", "a_est", "quota_window", "percent", U, U, U, MD_NUM(100));
    est_full.confidence = MD_ESTIMATED;
    metric healthy = mk("p", "z_api", "quota_window", "percent", U, U, U, MD_NUM(10));
    ok(rank_compare(&healthy, &est_full, NOW) < 0,
       "a healthy provider-reported meter beats an exhausted estimate");
    metric snap = mk("p", "a_snap", "quota_window", "percent", U, U, U, MD_NUM(90));
    free(snap.source);
    snap.source = xstrdup("local_log");
    ok(rank_compare(&healthy, &snap, NOW) < 0,
       "an exact local-log snapshot does not outrank the API either");
    ok(rank_compare(&est_full, &snap, NOW) < 0, "exhausted estimate first among log-derived");
    metric_release(&est_full);
    metric_release(&healthy);
    metric_release(&snap);

    metric r1 = mk("p", "r1", "quota_window", "percent", U, U, U, MD_NUM(50));
    metric r2 = mk("p", "r2", "quota_window", "percent", U, U, U, MD_NUM(50));
    metric r3 = mk("p", "r0", "quota_window", "percent", U, U, U, MD_NUM(50));
    r1.resets_at = MD_TIME(NOW + 100);
    r2.resets_at = MD_TIME(NOW + 50);
    ok(rank_compare(&r2, &r1, NOW) < 0, "tie: shorter reset first");
    ok(rank_compare(&r1, &r3, NOW) < 0, "tie: unknown reset last");

    metric pa = mk("alpha", "z", "quota_window", "percent", U, U, U, MD_NUM(50));
    metric pb = mk("beta", "a", "quota_window", "percent", U, U, U, MD_NUM(50));
    ok(rank_compare(&pa, &pb, NOW) < 0, "tie: provider name");
    metric ia = mk("alpha", "a", "quota_window", "percent", U, U, U, MD_NUM(50));
    ok(rank_compare(&ia, &pa, NOW) < 0, "tie: then metric id");
    is_int(rank_compare(&ia, &ia, NOW), 0, "equal to itself");

    metric over = mk("p", "over", "quota_window", "requests", MD_NUM(6),
                     MD_NUM(5), U, U);
    ok(rank_compare(&over, &hi, NOW) < 0, "used beyond limit is exhausted");

    metric *all[] = {&hi, &lo, &rem, &rem2, &ex, &est, &r1, &r2, &r3,
                     &pa, &pb, &ia, &over};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        metric_release(all[i]);
}

/* The same candidates in any member order pick the same governor. */
static void test_deterministic(void)
{
    const char *order[2][2] = {{"a", "b"}, {"b", "a"}};
    const char *got[2];
    for (int k = 0; k < 2; k++) {
        fixture f = {0};
        for (int i = 0; i < 2; i++) {
            provider_view *v = add_view(&f, order[k][i], "fam", PSTAT_OK);
            add_metric(&f, v, mk(order[k][i], "w", "quota_window", "percent",
                                 U, U, U, MD_NUM(40)));
        }
        size_t nf;
        family_summary *fs = rank1(&f, &nf);
        got[k] = fs[0].governing_member->name;
        is_str(fs[0].members[0]->name, "a", "members in name order");
        family_summaries_free(fs, nf);
        fixture_free(&f);
    }
    ok(strcmp(got[0], got[1]) == 0 && strcmp(got[0], "a") == 0,
       "tie broken by provider name regardless of input order");
}

static void test_reasons(void)
{
    size_t nf;
    family_summary *fs;
    fixture f = {0};

    add_view(&f, "p", NULL, PSTAT_PENDING);
    fs = rank1(&f, &nf);
    is_str(fs[0].usage_remaining_reason, "pending", "pending");
    ok(fs[0].usage_remaining.state == MD_UNKNOWN, "remaining unknown");
    is_str(fs[0].status, "unavailable", "pending member: unavailable");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    add_view(&f, "p", "fam", PSTAT_PENDING);
    add_view(&f, "q", "fam", PSTAT_ERROR);
    fs = rank1(&f, &nf);
    is_str(fs[0].usage_remaining_reason, "collection_failed",
           "no data and a failure: collection_failed");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    provider_view *v = add_view(&f, "local", NULL, PSTAT_OK);
    add_metric(&f, v, mk("local", "runtime", "usage", "tasks", MD_NUM(3),
                         MD_NUM_NA, MD_NUM_NA, MD_NUM_NA));
    fs = rank1(&f, &nf);
    is_str(fs[0].usage_remaining_reason, "not_applicable",
           "all quota fields NA: not_applicable");
    is_num(fs[0].actual_current_usage.value, 3, "runtime usage still shown");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    v = add_view(&f, "x", NULL, PSTAT_OK);
    add_metric(&f, v, mk("x", "spend", "usage", "usd", MD_NUM(3), U, U, U));
    fs = rank1(&f, &nf);
    is_str(fs[0].usage_remaining_reason, "no_quota_metric",
           "data but no quota metric: no_quota_metric");
    ok(fs[0].governing == NULL && fs[0].governing_reason == NULL,
       "no governing meter");
    ok(fs[0].actual_current_usage.state == MD_UNKNOWN,
       "usd is not a runtime unit and no governor: unknown");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    v = add_view(&f, "y", NULL, PSTAT_OK);
    add_metric(&f, v, mk("y", "rpm", "rate_limit", "requests", U, U, U, U));
    fs = rank1(&f, &nf);
    is_str(fs[0].usage_remaining_reason, "not_reported",
           "quota-kind metric with unknown values: not_reported");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    /* stale data of a failed member still counts */
    v = add_view(&f, "z", NULL, PSTAT_ERROR);
    add_metric(&f, v, mk("z", "c", "credits", "usd", U, U, MD_NUM(7), U));
    v->stale = 1;
    fs = rank1(&f, &nf);
    is_num(fs[0].usage_remaining.value, 7, "stale data still governs");
    is_str(fs[0].usage_remaining_unit, "usd", "unit of governing meter");
    is_str(fs[0].governing_reason, "lowest_remaining", "remaining-only reason");
    is_str(fs[0].status, "unavailable", "failed member: unavailable");
    family_summaries_free(fs, nf);
    fixture_free(&f);
}

static void test_status_and_families(void)
{
    fixture f = {0};
    provider_view *a = add_view(&f, "openai-api", "openai", PSTAT_OK);
    add_metric(&f, a, mk("openai-api", "tpm", "rate_limit", "tokens",
                         MD_NUM(100), MD_NUM(1000), U, U));
    add_view(&f, "codex", "openai", PSTAT_ERROR);
    add_view(&f, "old", "openai", PSTAT_DISABLED);
    provider_view *d = add_view(&f, "deepseek", "deepseek", PSTAT_OK);
    add_metric(&f, d, mk("deepseek", "credits", "credits", "usd", U, U,
                         MD_NUM(18.42), U));
    provider_view *g = add_view(&f, "gem", "gemini", PSTAT_OK);
    add_view(&f, "gem2", "gemini", PSTAT_DISABLED);
    add_metric(&f, g, mk("gem", "rpd", "rate_limit", "requests", MD_NUM(5),
                         MD_NUM(50), U, U));
    size_t nf;
    family_summary *fs = rank1(&f, &nf);
    is_int(nf, 3, "three families");
    is_str(fs[0].family, "deepseek", "families sorted: deepseek");
    is_str(fs[1].family, "gemini", "gemini");
    is_str(fs[2].family, "openai", "openai");
    is_int(fs[2].n_members, 3, "openai has three members");
    is_str(fs[2].members[0]->name, "codex", "members in name order");
    is_str(fs[2].status, "degraded", "ok + error: degraded");
    is_str(fs[1].status, "ok", "disabled member ignored for status");
    is_str(fs[0].status, "ok", "single ok member");
    is_num(fs[2].actual_current_usage.value, 100, "tokens runtime usage");
    is_str(fs[2].actual_current_usage_unit, "tokens", "unit tokens");
    is_num(fs[2].usage_remaining.value, 900, "derived remaining 900");
    is_num(fs[0].usage_remaining.value, 18.42, "deepseek credits");
    ok(fs[0].actual_current_usage.state == MD_UNKNOWN,
       "credits without used: actual usage unknown, not 0");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    /* unit priority across members: requests before tokens */
    a = add_view(&f, "a", "fam", PSTAT_OK);
    add_metric(&f, a, mk("a", "tok", "usage", "tokens", MD_NUM(9), U, U, U));
    provider_view *b = add_view(&f, "b", "fam", PSTAT_OK);
    add_metric(&f, b, mk("b", "req", "usage", "requests", MD_NUM(4), U, U, U));
    fs = rank1(&f, &nf);
    is_num(fs[0].actual_current_usage.value, 4, "requests preferred to tokens");
    is_str(fs[0].actual_current_usage_unit, "requests", "unit requests");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    add_view(&f, "x", NULL, PSTAT_ERROR);
    fs = rank1(&f, &nf);
    is_str(fs[0].status, "unavailable", "only failed: unavailable");
    family_summaries_free(fs, nf);
    fixture_free(&f);

    is_int(rank_families(NULL, 0, NOW, &fs), 0, "no views: no families");
    ok(fs == NULL, "no allocation");
}

int main(void)
{
    test_seed();
    test_exhausted_weekly();
    test_over_quota_is_exhausted();
    test_available_again();
    test_compare();
    test_deterministic();
    test_reasons();
    test_status_and_families();
    return done_testing();
}
