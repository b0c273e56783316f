/* t/unit/metric.c - validation, derivation and JSON of metric records. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metric.h"
#include "tap.h"

#define NOW 1773151200.0 /* 2026-03-10T14:00:00Z */

static void free_rejections(char **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i]);
    free(r);
}

static int has_str(const json_t *arr, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
            return 1;
    return 0;
}

static void test_zero_init_is_unknown(void)
{
    md_metric in = {0};
    in.id = "credits";
    in.kind = "credits";
    metric m;
    char **rej = NULL;
    size_t nrej = 0;
    int r = metric_from_sdk(&m, &in, sizeof in, "deepseek", "api", NOW, &rej,
                            &nrej);
    is_int(r, 0, "zero-initialised metric: nothing rejected");
    is_int(nrej, 0, "no rejection messages");
    ok(m.used.state == MD_UNKNOWN && m.limit.state == MD_UNKNOWN &&
           m.remaining.state == MD_UNKNOWN &&
           m.utilization.state == MD_UNKNOWN &&
           m.window_seconds.state == MD_UNKNOWN &&
           m.resets_at.state == MD_UNKNOWN,
       "zero-initialised fields are unknown");
    is_int(m.derived, 0, "nothing derived from unknowns");
    ok(!metric_is_quota_bearing(&m), "all-unknown metric is not quota-bearing");
    is_str(m.label, "credits", "NULL label becomes id");
    is_str(m.source, "api", "NULL source becomes default_source");
    is_str(m.provider, "deepseek", "provider set");
    ok(m.unit == NULL, "NULL unit stays NULL");
    ok(m.collected_at.state == MD_KNOWN && m.collected_at.epoch == NOW,
       "unknown collected_at becomes now");
    metric_release(&m);
    free_rejections(rej, nrej);
}

static void test_validation(void)
{
    md_metric in = {0};
    in.id = "w";
    in.kind = "quota_window";
    in.used = MD_NUM(NAN);
    in.limit = MD_NUM(INFINITY);
    in.remaining = MD_NUM(-1);
    in.utilization = MD_NUM(1e6);
    in.window_seconds = MD_NUM(18000);
    in.resets_at = MD_TIME(-5);
    in.collected_at = MD_TIME(1e300);
    in.source = "headers";
    metric m;
    char **rej = NULL;
    size_t nrej = 0;
    int r = metric_from_sdk(&m, &in, sizeof in, "p", "api", NOW, &rej, &nrej);
    is_int(r, 6, "NaN, inf, negative, 1e6 %, bad times: 6 rejections");
    is_int(nrej, 6, "each rejection described");
    ok(m.used.state == MD_UNKNOWN, "NaN used -> unknown");
    ok(m.limit.state == MD_UNKNOWN, "inf limit -> unknown");
    ok(m.remaining.state == MD_UNKNOWN, "negative remaining -> unknown");
    ok(m.utilization.state == MD_UNKNOWN, "utilization 1e6 % -> unknown");
    ok(m.resets_at.state == MD_UNKNOWN, "negative resets_at -> unknown");
    ok(m.window_seconds.state == MD_KNOWN && m.window_seconds.value == 18000,
       "valid field kept");
    is_str(m.source, "headers", "explicit source kept");
    ok(m.collected_at.state == MD_KNOWN && m.collected_at.epoch == NOW,
       "year-10000 collected_at rejected and replaced by now");
    int found = 0;
    for (size_t i = 0; i < nrej; i++)
        if (strstr(rej[i], "utilization") && strstr(rej[i], "10000"))
            found = 1;
    ok(found, "utilization rejection names field and rule");
    metric_release(&m);
    free_rejections(rej, nrej);

    /* edge values that are valid */
    md_metric e = {0};
    e.id = "e";
    e.kind = "usage";
    e.used = MD_NUM(0);
    e.utilization = MD_NUM(100);
    e.limit = MD_NUM_NA;
    rej = NULL;
    nrej = 0;
    r = metric_from_sdk(&m, &e, sizeof e, "p", NULL, NOW, &rej, &nrej);
    is_int(r, 0, "0 used and 100% utilization accepted");
    ok(m.used.state == MD_KNOWN && m.used.value == 0, "known 0 stays known 0");
    ok(m.limit.state == MD_NOT_APPLICABLE, "not applicable kept");
    ok(m.source == NULL, "no source and no default -> NULL");
    metric_release(&m);
    free_rejections(rej, nrej);

    /* invalid identity */
    md_metric bad = {0};
    bad.id = "has space";
    bad.kind = "usage";
    rej = NULL;
    nrej = 0;
    is_int(metric_from_sdk(&m, &bad, sizeof bad, "p", NULL, NOW, &rej, &nrej),
           -1, "id with space dropped");
    bad.id = "ok";
    bad.kind = NULL;
    is_int(metric_from_sdk(&m, &bad, sizeof bad, "p", NULL, NOW, &rej, &nrej),
           -1, "missing kind dropped");
    bad.kind = "usage";
    bad.id = NULL;
    is_int(metric_from_sdk(&m, &bad, sizeof bad, "p", NULL, NOW, &rej, &nrej),
           -1, "missing id dropped");
    char longid[80];
    memset(longid, 'a', 65);
    longid[65] = 0;
    bad.id = longid;
    is_int(metric_from_sdk(&m, &bad, sizeof bad, "p", NULL, NOW, &rej, &nrej),
           -1, "65-char id dropped");
    is_int(nrej, 0, "dropped metrics append no rejections");
    free_rejections(rej, nrej);

    /* short struct from an older plugin: fields past size are unknown */
    md_metric sh = {0};
    sh.id = "s";
    sh.kind = "usage";
    sh.used = MD_NUM(3);
    sh.limit = MD_NUM(10);
    sh.remaining = MD_NUM(1); /* past the cut: must be ignored */
    rej = NULL;
    nrej = 0;
    r = metric_from_sdk(&m, &sh, offsetof(md_metric, remaining), "p", NULL,
                        NOW, &rej, &nrej);
    is_int(r, 0, "short struct accepted");
    ok(m.remaining.state == MD_KNOWN && m.remaining.value == 7 &&
           (m.derived & METRIC_DERIVED_REMAINING),
       "field past size ignored (remaining derived, not taken)");
    metric_release(&m);
    free_rejections(rej, nrej);
}

static metric mk(md_num used, md_num limit, md_num remaining, md_num util)
{
    metric m;
    memset(&m, 0, sizeof m);
    m.used = used;
    m.limit = limit;
    m.remaining = remaining;
    m.utilization = util;
    return m;
}

static const md_num UNK = {MD_UNKNOWN, 0};

static void test_derive(void)
{
    metric m = mk(MD_NUM(1), MD_NUM(5), UNK, UNK);
    metric_derive(&m);
    is_num(m.remaining.value, 4, "remaining = limit - used");
    is_num(m.utilization.value, 20, "utilization = 100*used/limit");
    is_int(m.derived, METRIC_DERIVED_REMAINING | METRIC_DERIVED_UTILIZATION,
           "both marked derived");

    m = mk(MD_NUM(6), MD_NUM(5), UNK, UNK);
    metric_derive(&m);
    is_num(m.remaining.value, 0, "remaining clamped at 0 when over limit");
    is_num(m.utilization.value, 120, "derived utilization not clamped");

    m = mk(MD_NUM(1), UNK, UNK, UNK);
    metric_derive(&m);
    ok(m.remaining.state == MD_UNKNOWN && m.utilization.state == MD_UNKNOWN &&
           m.derived == 0,
       "no derivation when limit unknown");

    m = mk(UNK, MD_NUM(5), UNK, UNK);
    metric_derive(&m);
    ok(m.remaining.state == MD_UNKNOWN && m.utilization.state == MD_UNKNOWN,
       "no derivation when used unknown");

    m = mk(MD_NUM(1), MD_NUM(0), UNK, UNK);
    metric_derive(&m);
    ok(m.remaining.state == MD_UNKNOWN && m.utilization.state == MD_UNKNOWN,
       "no derivation when limit is 0");

    m = mk(MD_NUM(1), MD_NUM(5), MD_NUM(3), MD_NUM_NA);
    metric_derive(&m);
    ok(m.remaining.value == 3 && !(m.derived & METRIC_DERIVED_REMAINING),
       "reported remaining not overwritten");
    ok(m.utilization.state == MD_NOT_APPLICABLE, "NA utilization not derived");
}

static void test_json(void)
{
    md_metric in = {0};
    in.id = "credits";
    in.kind = "credits";
    in.unit = "usd";
    in.remaining = MD_NUM(18.42);
    in.limit = MD_NUM_NA;
    in.used = MD_NUM(0);
    in.confidence = MD_ESTIMATED;
    in.collected_at = MD_TIME(NOW);
    metric m;
    is_int(metric_from_sdk(&m, &in, sizeof in, "deepseek", "api", NOW, NULL,
                           NULL),
           0, "metric accepted");
    json_t *j = metric_to_json(&m);
    static const char *keys[] = {
        "provider", "id", "label", "kind", "unit", "used", "limit",
        "remaining", "utilization", "window_seconds", "resets_at",
        "expires_at", "confidence", "source", "collected_at", "derived",
        "not_applicable"};
    int all = 1;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(j, keys[i]))
            all = 0;
    ok(all, "every key present");
    is_int(json_object_size(j), sizeof keys / sizeof keys[0], "no extra keys");
    ok(json_is_null(json_object_get(j, "utilization")), "unknown -> null");
    ok(json_is_null(json_object_get(j, "limit")), "NA -> null");
    ok(json_is_null(json_object_get(j, "resets_at")), "unknown time -> null");
    ok(json_is_number(json_object_get(j, "used")) &&
           json_number_value(json_object_get(j, "used")) == 0,
       "known 0 -> 0");
    ok(has_str(json_object_get(j, "not_applicable"), "limit") &&
           json_array_size(json_object_get(j, "not_applicable")) == 1,
       "not_applicable lists exactly limit");
    is_int(json_array_size(json_object_get(j, "derived")), 0,
           "nothing derived");
    is_str(json_string_value(json_object_get(j, "collected_at")),
           "2026-03-10T14:00:00Z", "collected_at RFC 3339");
    is_str(json_string_value(json_object_get(j, "confidence")), "estimated",
           "confidence name");

    metric back;
    char *err = NULL;
    is_int(metric_from_json(j, &back, &err), 0, "round trip parses");
    ok(back.used.state == MD_KNOWN && back.used.value == 0, "known 0 back");
    ok(back.limit.state == MD_NOT_APPLICABLE, "NA back as NA");
    ok(back.utilization.state == MD_UNKNOWN, "unknown back as unknown");
    is_num(back.remaining.value, 18.42, "value back");
    ok(back.confidence == MD_ESTIMATED, "confidence back");
    is_str(back.unit, "usd", "unit back");
    json_t *j2 = metric_to_json(&back);
    ok(json_equal(j, j2), "second rendering identical");
    json_decref(j2);
    metric_release(&back);
    json_decref(j);
    metric_release(&m);

    /* utilization > 100 survives reload, derived or reported */
    metric over = mk(MD_NUM(6), MD_NUM(5), UNK, UNK);
    over.id = "w";
    over.kind = "quota_window";
    metric_derive(&over);
    j = metric_to_json(&over);
    is_int(metric_from_json(j, &back, &err), 0, "over-limit metric parses");
    is_num(back.utilization.value, 120, "derived 120% kept on reload");
    metric_release(&back);
    json_array_clear(json_object_get(j, "derived"));
    is_int(metric_from_json(j, &back, &err), 0, "still parses");
    ok(back.utilization.state == MD_KNOWN && back.utilization.value == 120,
       "a reported 120% is kept on reload too (over quota is a state)");
    metric_release(&back);
    json_decref(j);

    /* malformed objects */
    j = json_pack("{s:s, s:s, s:s}", "id", "x", "kind", "usage", "used",
                  "five");
    err = NULL;
    is_int(metric_from_json(j, &back, &err), -1, "string number rejected");
    ok(err && strstr(err, "used"), "error names the field");
    free(err);
    json_decref(j);
    j = json_pack("{s:s}", "kind", "usage");
    err = NULL;
    is_int(metric_from_json(j, &back, &err), -1, "missing id rejected");
    free(err);
    json_decref(j);
    j = json_pack("{s:s, s:s, s:f}", "id", "x", "kind", "usage", "used", -3.0);
    err = NULL;
    is_int(metric_from_json(j, &back, &err), 0, "negative number parses");
    ok(back.used.state == MD_UNKNOWN, "negative number -> unknown");
    metric_release(&back);
    json_decref(j);
    j = json_pack("{s:s, s:s, s:s}", "id", "x", "kind", "usage", "resets_at",
                  "yesterday");
    err = NULL;
    is_int(metric_from_json(j, &back, &err), -1, "bad timestamp rejected");
    free(err);
    json_decref(j);
    is_int(metric_from_json(NULL, &back, NULL), -1, "NULL rejected");
}

/* Over quota is a real state: a utilization above 100 is kept, a derived
 * remaining is 0 (never negative), past the absurd bound the value is
 * unknown with a note, and "derived" never names an unknown field. */
static void test_over_quota_is_kept(void)
{
    md_metric in = {.id = "w", .kind = "quota_window",
                    .utilization = MD_NUM(100.4)};
    metric m;
    char **rej = NULL;
    size_t nrej = 0;
    is_int(metric_from_sdk(&m, &in, sizeof in, "p", "api", NOW, &rej, &nrej),
           0, "a reported 100.4 % is not a rejection");
    ok(m.utilization.state == MD_KNOWN && m.utilization.value == 100.4,
       "a reported 100.4 % is kept as 100.4");
    metric_release(&m);
    free_rejections(rej, nrej);

    md_metric over = {.id = "w", .kind = "quota_window", .used = MD_NUM(105),
                      .limit = MD_NUM(100)};
    rej = NULL;
    nrej = 0;
    is_int(metric_from_sdk(&m, &over, sizeof over, "p", "api", NOW, &rej,
                           &nrej), 0, "used above limit is not a rejection");
    ok(m.remaining.state == MD_KNOWN && m.remaining.value == 0,
       "used above limit: derived remaining is 0, not negative");
    is_num(m.utilization.value, 105, "used above limit: utilization 105");
    json_t *j = metric_to_json(&m);
    ok(has_str(json_object_get(j, "derived"), "remaining") &&
           has_str(json_object_get(j, "derived"), "utilization"),
       "both listed as derived");
    json_decref(j);
    metric_release(&m);
    free_rejections(rej, nrej);

    md_metric edge = {.id = "w", .kind = "quota_window",
                      .utilization = MD_NUM(METRIC_UTILIZATION_MAX)};
    is_int(metric_from_sdk(&m, &edge, sizeof edge, "p", "api", NOW, NULL,
                           NULL), 0, "utilization at the bound (10000 %) is kept");
    metric_release(&m);
    edge.utilization = MD_NUM(10000.5);
    rej = NULL;
    nrej = 0;
    is_int(metric_from_sdk(&m, &edge, sizeof edge, "p", "api", NOW, &rej,
                           &nrej), 1, "utilization past the bound is rejected");
    ok(m.utilization.state == MD_UNKNOWN && nrej == 1 &&
           strstr(rej[0], "10000"), "... unknown, with a note naming the bound");
    metric_release(&m);
    free_rejections(rej, nrej);

    md_metric absurd = {.id = "w", .kind = "quota_window", .used = MD_NUM(1e9),
                        .limit = MD_NUM(1)};
    rej = NULL;
    nrej = 0;
    is_int(metric_from_sdk(&m, &absurd, sizeof absurd, "p", "api", NOW, &rej,
                           &nrej), 1, "an absurd derived utilization is refused");
    ok(m.utilization.state == MD_UNKNOWN && nrej == 1 &&
           strstr(rej[0], "not derived"), "... unknown, with a note");
    j = metric_to_json(&m);
    ok(!has_str(json_object_get(j, "derived"), "utilization") &&
           has_str(json_object_get(j, "derived"), "remaining"),
       "derived names remaining but not the unknown utilization");
    json_decref(j);
    metric_release(&m);
    free_rejections(rej, nrej);

    /* a stored metric claiming a derived 20000 % */
    j = json_pack("{s:s, s:s, s:f, s:[s]}", "id", "x", "kind", "usage",
                  "utilization", 20000.0, "derived", "utilization");
    metric back;
    char *err = NULL;
    is_int(metric_from_json(j, &back, &err), 0, "derived 20000 % parses");
    ok(back.utilization.state == MD_UNKNOWN && !back.derived,
       "... as unknown, and no longer marked derived");
    json_t *j2 = metric_to_json(&back);
    is_int((int)json_array_size(json_object_get(j2, "derived")), 0,
           "derived list empty in its JSON");
    json_decref(j2);
    metric_release(&back);
    json_decref(j);
}

/* Control characters: kind refused, unit and source dropped, label escaped. */
static void test_control_characters(void)
{
    md_metric in = {.id = "w", .kind = "quota_window", .label = "Weekly\n\x1b[2Jlimit",
                    .unit = "usd\x1b[0m", .source = "api\r"};
    metric m;
    char **rej = NULL;
    size_t nrej = 0;
    is_int(metric_from_sdk(&m, &in, sizeof in, "p", "api", NOW, &rej, &nrej),
           2, "a unit and a source with control characters are 2 rejections");
    is_str(m.label, "Weekly\\x0a\\x1b[2Jlimit", "the label is escaped");
    ok(m.unit == NULL, "the unit is dropped");
    is_str(m.source, "api", "the source falls back to the default");
    ok(nrej == 2 && strstr(rej[0], "unit") && strstr(rej[0], "control"),
       "the note names the field and the reason");
    metric_release(&m);
    free_rejections(rej, nrej);

    in.kind = "quota\nwindow";
    rej = NULL;
    nrej = 0;
    is_int(metric_from_sdk(&m, &in, sizeof in, "p", "api", NOW, &rej, &nrej),
           -1, "a kind with a newline drops the metric");

    json_t *j = json_pack("{s:s, s:s, s:s}", "id", "x", "kind", "a\x1b" "b",
                          "label", "l");
    char *err = NULL;
    is_int(metric_from_json(j, &m, &err), -1, "... also when read back");
    free(err);
    json_decref(j);
}

int main(void)
{
    test_zero_init_is_unknown();
    test_over_quota_is_kept();
    test_control_characters();
    test_validation();
    test_derive();
    test_json();
    return done_testing();
}
