/* t/unit/metrics.c - the /metrics exposition: label escaping (backslash,
 * quote, newline, invalid UTF-8), no sample for unknown or not-applicable
 * values, ratios above 1 when over quota, HELP/TYPE once per family with
 * contiguous samples, the duration histogram; alert classes as a state
 * set (1 for the current class, 0 for the others, none when unknown) and
 * forecasts in base units with no sample when unknown; and the running usage
 * totals: they never go down when cells are pruned or a range is re-sent
 * with less, do not count a recovered range twice, and survive a
 * save/load; the cost per model: priced models have a series with the
 * report's cost, unpriced ones none (not 0), the models past the cap add
 * to one overflow series, and the rows survive a save/load. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pricing.h"
#include "tap.h"
#include "usage_counter.h"
#include "usage_store.h"

#define DAY 86400.0
#define T0 1773100800.0   /* 2026-03-10T00:00:00Z */

static char *escaped(const char *s)
{
    buf b;
    buf_init(&b, 1024);
    metrics_escape_label(&b, s);
    return buf_take(&b);
}

static void test_escape(void)
{
    char *e = escaped("a\\b\"c\nd");
    is_str(e, "a\\\\b\\\"c\\nd", "backslash, quote and newline escaped");
    free(e);
    e = escaped("caf\xC3\xA9 \xE2\x82\xAC");
    is_str(e, "caf\xC3\xA9 \xE2\x82\xAC", "valid UTF-8 kept as it is");
    free(e);
    e = escaped("x\xFFy\xC3");
    is_str(e, "x\xEF\xBF\xBDy\xEF\xBF\xBD", "invalid bytes become U+FFFD");
    free(e);
    e = escaped("\xED\xA0\x80"); /* a UTF-16 surrogate, not UTF-8 */
    is_str(e, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "surrogates are invalid");
    free(e);
    e = escaped("\t");
    is_str(e, "\t", "a tab needs no escape");
    free(e);
}

/* Lines of text starting with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, pl) == 0;
    return n;
}

static int has_line(const char *text, const char *line)
{
    size_t l = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, l) == 0 && (p[l] == '\n' || p[l] == '\0'))
            return 1;
    return 0;
}

/* Every sample's family appears in one run, after its # TYPE line. */
static int families_contiguous(const char *text)
{
    char seen[64][96];
    size_t n_seen = 0;
    char cur[96] = "";
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "# TYPE ", 7) == 0) {
            size_t l = strcspn(p + 7, " ");
            if (l >= sizeof cur || n_seen == 64)
                return 0;
            memcpy(cur, p + 7, l);
            cur[l] = '\0';
            for (size_t i = 0; i < n_seen; i++)
                if (strcmp(seen[i], cur) == 0)
                    return 0; /* a family twice */
            strcpy(seen[n_seen++], cur);
            continue;
        }
        if (*p == '#')
            continue;
        if (!*cur || strncmp(p, cur, strlen(cur)) != 0)
            return 0; /* a sample of another family */
    }
    return 1;
}

static metric meter(char *id, char *unit)
{
    metric m;
    memset(&m, 0, sizeof m);
    m.provider = (char *)"p";
    m.id = id;
    m.label = id;
    m.kind = (char *)"quota_window";
    m.unit = unit;
    m.source = (char *)"api";
    return m;
}

static void test_render(void)
{
    metric ms[4];
    ms[0] = meter("unknown_all", "percent");          /* nothing known */
    ms[1] = meter("na_limit", "requests");             /* used known only */
    ms[1].used = MD_NUM(3);
    ms[1].limit = MD_NUM_NA;
    ms[1].remaining = MD_NUM_NA;
    ms[1].utilization = MD_NUM_NA;
    ms[1].resets_at = MD_TIME_NA;
    ms[2] = meter("over", "requests");                 /* over quota */
    ms[2].used = MD_NUM(120);
    ms[2].limit = MD_NUM(100);
    ms[2].remaining = MD_NUM(0);
    ms[2].utilization = MD_NUM(120);
    ms[2].resets_at = MD_TIME(T0 + 3600);
    ms[3] = meter("over", "requests");                 /* same id again */
    ms[3].used = MD_NUM(1);
    collect_result r;
    collect_result_init(&r);
    r.metrics = ms;
    r.n_metrics = 4;
    provider_view v[2];
    memset(v, 0, sizeof v);
    v[0] = (provider_view){.name = "we\"ird\\p", .plugin = "exec", .family = "fam",
                           .status = PSTAT_OK, .data = &r, .collected_at = T0 - 10};
    v[0].stats.by_result[MD_ERR_NONE] = 2;
    v[0].stats.by_result[MD_ERR_AUTH] = 1;
    v[0].stats.duration_in[0] = 1;               /* <= 0.05 s */
    v[0].stats.duration_in[VIEW_DURATION_BUCKETS] = 1; /* > 60 s */
    v[0].stats.duration_sum = 61.02;
    v[0].stats.duration_count = 2;
    v[0].stats.last_success_at = T0 - 10;
    v[1] = (provider_view){.name = "pending", .plugin = "exec", .family = "other",
                           .status = PSTAT_PENDING};
    usage_total t[1] = {{.provider = "p", .has = 1u << UB_OUTPUT}};
    t[0].total[UB_OUTPUT] = 42;
    size_t len = 0;
    char *text = metrics_render(v, 2, t, 1, NULL, T0, &len);
    ok(text && strlen(text) == len, "rendered, length right");
    ok(families_contiguous(text), "each family once, its samples contiguous");
    is_int(count_lines(text, "# HELP "), count_lines(text, "# TYPE "),
           "a HELP line for every TYPE line");
    ok(has_line(text, "meterd_up{provider=\"we\\\"ird\\\\p\",plugin=\"exec\"} 1"),
       "provider name escaped in a label");
    ok(!strstr(text, "meterd_up{provider=\"pending\""), "pending: no up sample (unknown)");
    ok(has_line(text, "meterd_provider_info{provider=\"pending\",plugin=\"exec\",family=\"other\"} 1"),
       "pending provider has its info");
    ok(!strstr(text, "meter=\"unknown_all\""), "a meter with nothing known has no sample");
    ok(has_line(text, "meterd_meter_used{provider=\"we\\\"ird\\\\p\",family=\"fam\","
                      "meter=\"na_limit\",kind=\"quota_window\",unit=\"requests\"} 3"),
       "the known used of a meter is there");
    ok(!strstr(text, "meterd_meter_limit{provider=\"we\\\"ird\\\\p\",family=\"fam\",meter=\"na_limit\""),
       "a not-applicable limit has no sample");
    ok(!strstr(text, "meterd_meter_reset_timestamp_seconds{provider=\"we\\\"ird\\\\p\",family=\"fam\",meter=\"na_limit\""),
       "a not-applicable reset has no sample");
    ok(has_line(text, "meterd_meter_utilization_ratio{provider=\"we\\\"ird\\\\p\",family=\"fam\","
                      "meter=\"over\",kind=\"quota_window\",unit=\"requests\"} 1.2"),
       "over quota: ratio above 1");
    is_int(count_lines(text, "meterd_meter_used{provider=\"we\\\"ird\\\\p\",family=\"fam\",meter=\"over\""), 1,
           "a meter id reported twice is shown once");
    ok(has_line(text, "meterd_meter_used{provider=\"we\\\"ird\\\\p\",family=\"fam\","
                      "meter=\"over\",kind=\"quota_window\",unit=\"requests\"} 120"),
       "the first of the two wins");
    ok(has_line(text, "meterd_family_utilization_ratio{family=\"fam\"} 1.2"), "family ratio 1.2");
    ok(has_line(text, "meterd_family_usage_remaining{family=\"fam\",unit=\"requests\"} 0"),
       "family remaining 0 (exhausted, known)");
    ok(has_line(text, "meterd_family_available_again_timestamp_seconds{family=\"fam\"} 1773104400"),
       "available again at the reset");
    ok(has_line(text, "meterd_family_status{family=\"other\",status=\"unavailable\"} 1"),
       "pending family unavailable");
    is_int(count_lines(text, "meterd_family_status{family=\"fam\""), 1, "one status sample per family");
    ok(!strstr(text, "meterd_family_usage_remaining{family=\"other\""),
       "family without data: no remaining sample");
    ok(has_line(text, "meterd_collections_total{provider=\"we\\\"ird\\\\p\",result=\"auth\"} 1"),
       "failures counted by class");
    ok(has_line(text, "meterd_collections_total{provider=\"we\\\"ird\\\\p\",result=\"ok\"} 2"), "ok counted");
    ok(has_line(text, "meterd_collection_duration_seconds_bucket{provider=\"we\\\"ird\\\\p\",le=\"0.05\"} 1"),
       "histogram: first bucket");
    ok(has_line(text, "meterd_collection_duration_seconds_bucket{provider=\"we\\\"ird\\\\p\",le=\"60\"} 1"),
       "histogram: buckets are cumulative");
    ok(has_line(text, "meterd_collection_duration_seconds_bucket{provider=\"we\\\"ird\\\\p\",le=\"+Inf\"} 2"),
       "histogram: +Inf has every run");
    ok(has_line(text, "meterd_collection_duration_seconds_count{provider=\"we\\\"ird\\\\p\"} 2"), "count");
    ok(has_line(text, "meterd_data_age_seconds{provider=\"we\\\"ird\\\\p\"} 10"), "data age");
    ok(!strstr(text, "meterd_data_age_seconds{provider=\"pending\""), "no data: no age");
    ok(!strstr(text, "meterd_last_success_timestamp_seconds{provider=\"pending\""),
       "never succeeded: no last success");
    ok(has_line(text, "meterd_usage_tokens_total{provider=\"p\",bucket=\"output\"} 42"), "known bucket total");
    ok(!strstr(text, "bucket=\"input_uncached\""), "a bucket never known has no sample");
    ok(!strstr(text, "meterd_usage_cost_usd_total{"), "cost never known: no sample");
    ok(!strstr(text, "NaN"), "no NaN anywhere");
    ok(!strstr(text, "meterd_meter_alert{"), "no quota set: no alert sample");
    is_int(count_lines(text, "meterd_alert_transitions_total"), 0,
           "no quota set: no transition count");
    free(text);
}

static quota_entry qentry(char *meter, alert_class a)
{
    md_num unk = {MD_UNKNOWN, 0};
    return (quota_entry){
        .family = (char *)"fam", .provider = (char *)"p", .meter = meter,
        .kind = (char *)"quota_window", .unit = (char *)"tokens",
        .alert = a,
        .fc = {.burn_per_hour = unk, .burn_per_day = unk, .remaining = unk,
               .projected_at_reset = unk, .projected_utilization_at_reset = unk,
               .exhausts_at = {MD_UNKNOWN, 0}, .runway_seconds = unk,
               .projected_use_by_expiry = unk, .reason = "too_few_samples"}};
}

static void test_render_quotas(void)
{
    metric ms[4];
    ms[0] = meter("burning", "tokens");
    ms[0].used = MD_NUM(60);
    ms[0].limit = MD_NUM(100);
    ms[1] = meter("young", "tokens");              /* no forecast yet */
    ms[1].used = MD_NUM(1);
    ms[2] = meter("pct", "percent");               /* utilization basis */
    ms[2].utilization = MD_NUM(40);
    ms[3] = meter("fresh", "tokens");              /* never evaluated */
    ms[3].used = MD_NUM(2);
    collect_result r;
    collect_result_init(&r);
    r.metrics = ms;
    r.n_metrics = 4;
    metric off_m = meter("burning", "tokens");
    collect_result off_r;
    collect_result_init(&off_r);
    off_r.metrics = &off_m;
    off_r.n_metrics = 1;
    provider_view v[2];
    memset(v, 0, sizeof v);
    v[0] = (provider_view){.name = "p", .plugin = "exec", .family = "fam",
                           .status = PSTAT_OK, .data = &r, .collected_at = T0};
    v[1] = (provider_view){.name = "off", .plugin = "exec", .family = "offf",
                           .status = PSTAT_DISABLED, .data = &off_r,
                           .collected_at = T0};

    quota_entry e[5];
    e[0] = qentry("burning", ALERT_TOPUP);
    e[0].fc.basis = FC_BASIS_USED;
    e[0].fc.burn_per_hour = MD_NUM(3600);          /* 1 token/s */
    e[0].fc.runway_seconds = MD_NUM(40);
    e[0].fc.exhausts_at = MD_TIME(T0 + 40);
    e[0].fc.projected_utilization_at_reset = MD_NUM(150);
    e[0].fc.reason = "";
    e[1] = qentry("young", ALERT_OK);
    e[1].fc.basis = FC_BASIS_USED;
    e[2] = qentry("pct", ALERT_WATCH);
    e[2].fc.basis = FC_BASIS_UTILIZATION;
    e[2].fc.burn_per_hour = MD_NUM(36);            /* 36 points/h */
    e[3] = qentry("fresh", ALERT_UNKNOWN);
    e[4] = qentry("burning", ALERT_EXHAUSTED);     /* the disabled one's */
    e[4].provider = (char *)"off";
    e[4].family = (char *)"offf";
    quota_family fam[2] = {
        {.family = (char *)"fam", .alert = ALERT_TOPUP, .exhausts_at = MD_TIME(T0 + 40)},
        {.family = (char *)"quiet", .alert = ALERT_UNKNOWN, .exhausts_at = {MD_UNKNOWN, 0}},
    };
    quota_set q = {.generated_at = T0, .e = e, .n = 5, .fam = fam, .n_fam = 2,
                   .transitions = 3, .notify_started = 2, .notify_failed = 1};
    size_t len = 0;
    char *text = metrics_render(v, 2, NULL, 0, &q, T0, &len);
    ok(families_contiguous(text), "with alerts: each family once, contiguous");
    is_int(count_lines(text, "# HELP "), count_lines(text, "# TYPE "),
           "with alerts: a HELP line for every TYPE line");
    ok(has_line(text, "meterd_meter_alert{provider=\"p\",family=\"fam\",meter=\"burning\",alert=\"topup\"} 1"),
       "the current class is 1");
    ok(has_line(text, "meterd_meter_alert{provider=\"p\",family=\"fam\",meter=\"burning\",alert=\"exhausted\"} 0"),
       "a more urgent class is 0");
    ok(has_line(text, "meterd_meter_alert{provider=\"p\",family=\"fam\",meter=\"burning\",alert=\"ok\"} 0"),
       "ok is 0");
    is_int(count_lines(text, "meterd_meter_alert{provider=\"p\",family=\"fam\",meter=\"burning\","), 5,
           "one sample per known class (unknown is no class of the set)");
    ok(has_line(text, "meterd_meter_alert{provider=\"p\",family=\"fam\",meter=\"young\",alert=\"ok\"} 1"),
       "ok meter: ok is 1");
    ok(!strstr(text, "meter=\"fresh\",alert="), "unknown class: no alert sample at all");
    ok(!strstr(text, "meterd_meter_alert{provider=\"off\"") &&
       !strstr(text, "meterd_meter_runway_seconds{provider=\"off\""),
       "disabled provider: no alert or forecast sample");
    ok(has_line(text, "meterd_meter_runway_seconds{provider=\"p\",family=\"fam\",meter=\"burning\","
                      "kind=\"quota_window\",unit=\"tokens\"} 40"), "runway in seconds");
    ok(has_line(text, "meterd_meter_exhausts_at_timestamp_seconds{provider=\"p\",family=\"fam\","
                      "meter=\"burning\",kind=\"quota_window\",unit=\"tokens\"} 1773100840"),
       "exhausts_at as Unix time");
    ok(has_line(text, "meterd_meter_burn_per_second{provider=\"p\",family=\"fam\",meter=\"burning\","
                      "kind=\"quota_window\",unit=\"tokens\",basis=\"used\"} 1"),
       "burn per second in the meter's unit, with its basis");
    ok(has_line(text, "meterd_meter_burn_per_second{provider=\"p\",family=\"fam\",meter=\"pct\","
                      "kind=\"quota_window\",unit=\"percent\",basis=\"utilization\"} 0.0001"),
       "utilization basis: ratio per second");
    ok(has_line(text, "meterd_meter_projected_utilization_at_reset_ratio{provider=\"p\",family=\"fam\","
                      "meter=\"burning\",kind=\"quota_window\",unit=\"tokens\"} 1.5"),
       "projection at the reset as a ratio");
    ok(!strstr(text, "meterd_meter_runway_seconds{provider=\"p\",family=\"fam\",meter=\"young\""),
       "unknown runway: no sample");
    ok(!strstr(text, "meterd_meter_burn_per_second{provider=\"p\",family=\"fam\",meter=\"young\""),
       "unknown burn: no sample");
    ok(!strstr(text, "meterd_meter_exhausts_at_timestamp_seconds{provider=\"p\",family=\"fam\",meter=\"pct\""),
       "unknown exhausts_at: no sample");
    ok(has_line(text, "meterd_family_alert{family=\"fam\",alert=\"topup\"} 1"), "family class 1");
    ok(has_line(text, "meterd_family_alert{family=\"fam\",alert=\"watch\"} 0"), "family other class 0");
    ok(!strstr(text, "meterd_family_alert{family=\"quiet\""), "unknown family class: no sample");
    ok(has_line(text, "meterd_family_exhausts_at_timestamp_seconds{family=\"fam\"} 1773100840"),
       "family exhausts_at");
    ok(!strstr(text, "meterd_family_exhausts_at_timestamp_seconds{family=\"quiet\""),
       "family without one: no sample");
    ok(has_line(text, "meterd_alert_transitions_total 3"), "transitions counted");
    ok(has_line(text, "meterd_alert_notify_started_total 2"), "notify commands started");
    ok(has_line(text, "meterd_alert_notify_failed_total 1"), "notify commands failed");
    ok(!strstr(text, "NaN"), "with alerts: no NaN");
    free(text);
}

/* ---- running usage totals ---- */

static usage_cell_rec ucell(double slot, double out, md_num total)
{
    usage_cell_rec c;
    memset(&c, 0, sizeof c);
    c.slot_start = slot;
    c.model = (char *)"m";
    for (int b = 0; b < UB_N; b++)
        c.b[b] = (md_num){MD_UNKNOWN, 0};
    c.b[UB_OUTPUT] = MD_NUM(out);
    c.b[UB_TOTAL] = total;
    c.events = 1;
    return c;
}

static double total_of(const usage_counters *uc, const char *p, int b)
{
    for (size_t i = 0; i < uc->n; i++)
        if (strcmp(uc->rows[i].provider, p) == 0)
            return uc->rows[i].total[b];
    return -1;
}

static unsigned has_of(const usage_counters *uc, const char *p)
{
    for (size_t i = 0; i < uc->n; i++)
        if (strcmp(uc->rows[i].provider, p) == 0)
            return uc->rows[i].has;
    return 0;
}

static void test_counters(const char *dir)
{
    /* Retention 3 days, window 1 day. */
    usage_store *s = usage_store_new(dir, (long long)(3 * DAY * 1000));
    usage_counters uc;
    usage_counters_init(&uc);
    double now = T0;
    usage_cell_rec c1[2] = {ucell(T0 - 2 * DAY, 100, MD_NUM(100)),
                            ucell(T0 - 900, 10, (md_num){MD_UNKNOWN, 0})};
    usage_store_put(s, "p", c1, 2, 0, 1, now);
    usage_counters_observe(&uc, s, now, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 110, "first observation counts every cell");
    is_num(total_of(&uc, "p", UB_TOTAL), 100, "only known values add to a bucket");
    ok(has_of(&uc, "p") == ((1u << UB_OUTPUT) | (1u << UB_TOTAL)), "buckets ever known");
    ok(!(has_of(&uc, "p") & (1u << UB_INPUT_UNCACHED)), "an always-unknown bucket has no total");

    /* A re-send of the last slot with more: only the growth counts. */
    usage_cell_rec c2[1] = {ucell(T0 - 900, 25, MD_NUM(25))};
    usage_store_put(s, "p", c2, 1, T0 - 900, 2, now);
    usage_counters_observe(&uc, s, now, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 125, "growth of a re-sent slot added");

    /* A re-send with less (a transcript deleted): the total stays... */
    usage_cell_rec c3[1] = {ucell(T0 - 900, 5, MD_NUM(5))};
    usage_store_put(s, "p", c3, 1, T0 - 900, 3, now);
    usage_counters_observe(&uc, s, now, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 125, "a smaller re-send does not lower the total");
    /* ...and coming back to where it was is not counted twice. */
    usage_store_put(s, "p", c2, 1, T0 - 900, 4, now);
    usage_counters_observe(&uc, s, now, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 125, "recovering to the old level adds nothing");
    usage_cell_rec c4[1] = {ucell(T0, 7, MD_NUM(7))};
    usage_store_put(s, "p", c4, 1, T0, 5, now);
    usage_counters_observe(&uc, s, now + 60, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 132, "new usage adds");

    /* Time passes: the window moves on (no change yet)... */
    now = T0 + 1.2 * DAY;
    usage_counters_observe(&uc, s, now, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 132, "nothing new, nothing added");
    /* ...then a put prunes the cell of T0 - 2 days (retention) and adds
     * one in the same change. */
    now = T0 + 1.5 * DAY;
    usage_cell_rec c5[1] = {ucell(T0 + DAY, 3, MD_NUM(3))};
    usage_store_put(s, "p", c5, 1, T0 + DAY, 6, now);
    is_int(usage_store_count(s, "p"), 3, "the old cell was pruned");
    usage_counters_observe(&uc, s, now, DAY);
    is_num(total_of(&uc, "p", UB_OUTPUT), 135,
           "pruning does not lower the total, and what came with it adds");

    /* Save and load: same totals, and the store is not counted again. */
    char *err = NULL;
    ok(usage_counters_save(&uc, dir, now, 30, 1, &err) == 0, "saved");
    free(err);
    struct stat st;
    ok(stat(dir, &st) == 0, "state dir there");
    usage_counters uc2;
    usage_counters_init(&uc2);
    ok(usage_counters_load(&uc2, dir, &err) == 0, "loaded");
    free(err);
    usage_counters_observe(&uc2, s, now + 10, DAY);
    is_num(total_of(&uc2, "p", UB_OUTPUT), 135, "after a restart the store is not counted twice");
    ok(has_of(&uc2, "p") == has_of(&uc, "p"), "known buckets survive a restart");

    /* An ingest event counts too. */
    md_num b[UB_N];
    for (int k = 0; k < UB_N; k++)
        b[k] = (md_num){MD_UNKNOWN, 0};
    b[UB_OUTPUT] = MD_NUM(4);
    b[UB_COST] = MD_NUM(0.5);
    const char *why = NULL;
    const char *note = NULL;
    ok(usage_store_add_event(s, "p", now - 60, "m", b, now, &why, &note) == 0, "event added");
    usage_counters_observe(&uc2, s, now, DAY);
    is_num(total_of(&uc2, "p", UB_OUTPUT), 139, "an ingest event adds");
    is_num(total_of(&uc2, "p", UB_COST), 0.5, "cost counted");
    usage_counters_release(&uc2);

    /* A corrupt file is moved aside, and counting starts from the store. */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, USAGE_COUNTERS_FILE);
    FILE *f = fopen(path, "w");
    fputs("{\"schema\":\"meterd.usage-counters.v1\",\"providers\":[{\"name\":\"p\"}]}", f);
    fclose(f);
    usage_counters_init(&uc2);
    ok(usage_counters_load(&uc2, dir, &err) == -1 && err, "an invalid file is refused");
    free(err);
    ok(access(path, F_OK) != 0, "and moved aside");
    usage_counters_release(&uc2);
    usage_counters_release(&uc);
    usage_store_free(s);
}

/* ---- cost per model ---- */

/* A cell of model with in uncached input and out output tokens (no cache
 * traffic), so its cost is known exactly when the model has a price. */
static usage_cell_rec pcell(double slot, char *model, double in, double out)
{
    usage_cell_rec c;
    memset(&c, 0, sizeof c);
    c.slot_start = slot;
    c.model = model;
    for (int b = 0; b < UB_N; b++)
        c.b[b] = (md_num){MD_UNKNOWN, 0};
    c.b[UB_INPUT_UNCACHED] = MD_NUM(in);
    c.b[UB_CACHE_READ] = MD_NUM(0);
    c.b[UB_CACHE_WRITE] = MD_NUM(0);
    c.b[UB_OUTPUT] = MD_NUM(out);
    c.events = 1;
    return c;
}

static const usage_total *total_row(const usage_total *t, size_t n, const char *p)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].provider, p) == 0)
            return &t[i];
    return NULL;
}

/* The model's cost total in a copy, or -1 when it has no row. */
static double model_cost(const usage_total *t, size_t n, const char *p, const char *m)
{
    const usage_total *r = total_row(t, n, p);
    for (size_t k = 0; r && k < r->n_models; k++)
        if (strcmp(r->models[k].model, m) == 0)
            return r->models[k].cost;
    return -1;
}

static pricing_row *price_rows(const char *glob, double in, double out)
{
    pricing_row *o = calloc(1, sizeof *o);
    o[0].model = strdup(glob);
    o[0].p[PR_IN] = in;
    o[0].p[PR_OUT] = out;
    for (int k = PR_IN_HI; k < PR_N; k++)
        o[0].p[k] = PRICING_NO_TIER;
    return o;
}

static void test_model_costs(const char *dir)
{
    usage_store *s = usage_store_new(dir, (long long)(3 * DAY * 1000));
    usage_counters uc;
    usage_counters_init(&uc);
    double now = T0;
    /* o3 at the table's $2 / $8 per million: 0.002 + 0.004; glm-4.6 at
     * $0.60 / $2.20: 0.6 + 0.22; mystery-x has no price; mystery-zero
     * paid for nothing (cost 0 under any price, still no evidence of a
     * price). */
    usage_cell_rec c[5] = {pcell(T0 - 1800, "o3", 1000, 500),
                           pcell(T0 - 900, "o3", 0, 0),
                           pcell(T0 - 900, "glm-4.6", 1e6, 1e5),
                           pcell(T0 - 900, "mystery-x", 1000, 10),
                           pcell(T0 - 900, "mystery-zero", 0, 0)};
    usage_store_put(s, "q", c, 5, 0, 1, now);
    usage_counters_observe(&uc, s, now, DAY);
    size_t nt = 0;
    usage_total *t = usage_counters_copy(&uc, &nt);
    is_num(model_cost(t, nt, "q", "o3"), 0.006, "o3: its cost at the table's price");
    is_num(model_cost(t, nt, "q", "glm-4.6"), 0.82, "glm-4.6: its cost at the table's price");
    ok(model_cost(t, nt, "q", "mystery-x") < 0, "an unpriced model has no row");
    ok(model_cost(t, nt, "q", "mystery-zero") < 0,
       "nor has an unpriced model whose cells paid for nothing");
    size_t len = 0;
    char *text = metrics_render(NULL, 0, t, nt, NULL, now, &len);
    ok(has_line(text, "meterd_usage_model_cost_usd_total{provider=\"q\",model=\"o3\"} 0.006"),
       "the priced model's series in the exposition");
    ok(!strstr(text, "model=\"mystery-x\""), "no series for the unpriced model (not 0)");
    ok(strstr(text, "# TYPE meterd_usage_model_cost_usd_total counter\n") != NULL,
       "declared a counter");
    ok(families_contiguous(text), "its samples contiguous");
    free(text);
    usage_totals_free(t, nt);

    /* Less in a re-send (the glm-4.6 cell gone): the total stays. */
    usage_store_put(s, "q", c, 2, T0 - 1800, 2, now);
    usage_counters_observe(&uc, s, now, DAY);
    t = usage_counters_copy(&uc, &nt);
    is_num(model_cost(t, nt, "q", "glm-4.6"), 0.82, "a model's total never goes down");
    usage_totals_free(t, nt);

    /* A price configured later: the model gets its series then. */
    pricing_set_overrides(price_rows("mystery-*", 0.5, 0.25), 1);
    usage_counters_observe(&uc, s, now, DAY);
    t = usage_counters_copy(&uc, &nt);
    ok(model_cost(t, nt, "q", "mystery-x") < 0, "(the re-send dropped mystery-x)");
    usage_totals_free(t, nt);
    usage_cell_rec m[1] = {pcell(T0, "mystery-x", 2, 4)};
    usage_store_put(s, "q", m, 1, T0, 3, now);
    usage_counters_observe(&uc, s, now + 60, DAY);
    t = usage_counters_copy(&uc, &nt);
    is_num(model_cost(t, nt, "q", "mystery-x"), 2, "priced by the configured glob: 2 x 0.5 + 4 x 0.25");
    usage_totals_free(t, nt);

    /* More models than the cap: the first USAGE_COUNTER_MODELS_MAX by
     * name have their own series, the rest add to the overflow. */
    enum { NM = USAGE_COUNTER_MODELS_MAX + 3 };
    usage_cell_rec many[NM];
    char names[NM][16];
    for (int k = 0; k < NM; k++) {
        snprintf(names[k], sizeof names[k], "mystery-%02d", k);
        many[k] = pcell(T0 - 900, names[k], 2, 0);   /* $1 each */
    }
    usage_store_put(s, "r", many, NM, 0, 1, now);
    usage_counters_observe(&uc, s, now + 60, DAY);
    t = usage_counters_copy(&uc, &nt);
    const usage_total *r = total_row(t, nt, "r");
    is_int(r ? r->n_models : 0, USAGE_COUNTER_MODELS_MAX + 1,
           "the cap's models and one overflow row");
    is_num(model_cost(t, nt, "r", "mystery-00"), 1, "a model within the cap has its own");
    ok(model_cost(t, nt, "r", "mystery-34") < 0, "a model past the cap has none");
    is_num(model_cost(t, nt, "r", USAGE_COUNTER_OTHER), 3, "the three past the cap, summed");
    text = metrics_render(NULL, 0, t, nt, NULL, now, &len);
    is_int(count_lines(text, "meterd_usage_model_cost_usd_total{provider=\"r\""),
           USAGE_COUNTER_MODELS_MAX + 1, "bounded: the cap plus one series");
    ok(has_line(text, "meterd_usage_model_cost_usd_total{provider=\"r\",model=\"(other)\"} 3"),
       "the overflow series");
    free(text);
    usage_totals_free(t, nt);

    /* Save and load: the rows, totals and overflow come back, and the
     * store is not counted again. */
    char *err = NULL;
    ok(usage_counters_save(&uc, dir, now, 30, 1, &err) == 0, "saved with model rows");
    free(err);
    usage_counters uc2;
    usage_counters_init(&uc2);
    ok(usage_counters_load(&uc2, dir, &err) == 0, "loaded");
    free(err);
    usage_counters_observe(&uc2, s, now + 120, DAY);
    t = usage_counters_copy(&uc2, &nt);
    is_num(model_cost(t, nt, "q", "glm-4.6"), 0.82, "a model's total survives a restart");
    is_num(model_cost(t, nt, "q", "mystery-x"), 2, "not counted twice");
    is_num(model_cost(t, nt, "r", USAGE_COUNTER_OTHER), 3, "the overflow survives too");
    r = total_row(t, nt, "r");
    is_int(r ? r->n_models : 0, USAGE_COUNTER_MODELS_MAX + 1, "and so does the cap");
    usage_totals_free(t, nt);
    usage_counters_release(&uc2);
    pricing_set_overrides(NULL, 0);

    /* A model row without a name is refused like any bad row. */
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, USAGE_COUNTERS_FILE);
    FILE *f = fopen(path, "w");
    fputs("{\"schema\":\"meterd.usage-counters.v1\",\"providers\":[{\"name\":\"p\","
          "\"from\":0,\"has\":0,\"total\":[0,0,0,0,0,0,0,0],\"seen\":[0,0,0,0,0,0,0,0],"
          "\"deficit\":[0,0,0,0,0,0,0,0],\"models\":[{\"cost\":[0,0,1]}]}]}", f);
    fclose(f);
    usage_counters_init(&uc2);
    ok(usage_counters_load(&uc2, dir, &err) == -1 && err, "a nameless model row is refused");
    free(err);
    usage_counters_release(&uc2);
    usage_counters_release(&uc);
    usage_store_free(s);
}

int main(void)
{
    log_set_level(MD_LOG_ERROR);
    char tmpl[] = "/tmp/meterd-metrics-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        return 1;
    test_escape();
    test_render();
    test_render_quotas();
    test_counters(dir);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/models", dir);
    if (mkdir(sub, 0700) != 0)
        return 1;
    test_model_costs(sub);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag_line("could not remove the temporary directory");
    return done_testing();
}
