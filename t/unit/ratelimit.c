/* ratelimit.c - every rate-limit header dialect, from the
 * recorded response heads in t/fixtures/headers (now = 1773151200). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"
#include "tap.h"
#include "timeutil.h"

#define NOW 1773151200.0

typedef struct head {
    char *names[64], *values[64];
    size_t n;
} head;

/* Read a raw HTTP/1.1 head: status line, then "name: value" lines. */
static void load(const char *file, head *h)
{
    char path[256], line[1024];
    snprintf(path, sizeof path, "t/fixtures/headers/%s", file);
    FILE *f = fopen(path, "r");
    h->n = 0;
    if (!f)
        return;
    int first = 1;
    while (fgets(line, sizeof line, f) && h->n < 64) {
        line[strcspn(line, "\r\n")] = '\0';
        char *colon = strchr(line, ':');
        if (first || !colon) {
            first = 0;
            continue;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        h->names[h->n] = xstrdup(line);
        h->values[h->n++] = xstrdup(v);
    }
    fclose(f);
}

static void unload(head *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->names[i]);
        free(h->values[i]);
    }
    h->n = 0;
}

static const md_metric *find(rl_metric *m, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].m.id, id) == 0)
            return &m[i].m;
    return NULL;
}

static size_t parse(const char *file, rl_metric **out, double *ra)
{
    head h;
    load(file, &h);
    ok(h.n > 0, file);
    size_t n = ratelimit_parse((const char *const *)h.names,
                               (const char *const *)h.values, h.n, NOW, NULL,
                               out, ra);
    unload(&h);
    return n;
}

static void test_openai(void)
{
    rl_metric *m;
    double ra;
    size_t n = parse("openai_ratelimit.headers", &m, &ra);
    is_int(n, 2, "openai: requests and tokens");
    const md_metric *r = find(m, n, "ratelimit_requests");
    ok(r && r->limit.state == MD_KNOWN && r->limit.value == 5000, "limit 5000");
    ok(r && r->remaining.value == 4999, "remaining 4999");
    ok(r && r->resets_at.state == MD_KNOWN && fabs(r->resets_at.epoch - (NOW + 0.012)) < 1e-6,
       "reset 12ms is a Go duration from now");
    is_str(r ? r->kind : NULL, "rate_limit", "kind rate_limit");
    is_str(r ? r->unit : NULL, "requests", "unit requests");
    is_str(r ? r->source : NULL, "headers", "source headers");
    ok(r && r->used.state == MD_UNKNOWN && r->utilization.state == MD_UNKNOWN,
       "used / utilization not reported: unknown");
    is_num(ra, -1, "no retry-after");
    free(m);
    n = parse("openai_ratelimit_429.headers", &m, &ra);
    r = find(m, n, "ratelimit_tokens");
    ok(r && fabs(r->resets_at.epoch - (NOW + 360)) < 1e-6, "6m0s = 360 s");
    r = find(m, n, "ratelimit_requests");
    ok(r && r->remaining.state == MD_KNOWN && r->remaining.value == 0,
       "remaining 0 is a known 0 (exhausted)");
    is_num(ra, 20, "retry-after 20 s");
    free(m);
}

static void test_anthropic(void)
{
    rl_metric *m;
    double ra;
    size_t n = parse("anthropic_ratelimit.headers", &m, &ra);
    is_int(n, 4, "anthropic: four families");
    const md_metric *r = find(m, n, "ratelimit_input_tokens");
    ok(r && r->limit.value == 80000 && r->remaining.value == 79000, "input tokens");
    ok(r && r->resets_at.epoch == NOW + 1, "RFC 3339 reset");
    is_str(r ? r->unit : NULL, "tokens", "unit tokens");
    free(m);
    n = parse("anthropic_ratelimit_429.headers", &m, &ra);
    is_num(ra, 12, "retry-after 12");
    r = find(m, n, "ratelimit_tokens");
    ok(r && r->remaining.state == MD_KNOWN && r->remaining.value == 0, "tokens exhausted");
    free(m);
}

static void test_unified(void)
{
    rl_metric *m;
    double ra;
    size_t n = parse("anthropic_unified_ratelimit.headers", &m, &ra);
    is_int(n, 2, "unified: 5h and 7d (overage is not a window)");
    const md_metric *r = find(m, n, "five_hour");
    ok(r && fabs(r->utilization.value - 37.0) < 1e-9, "0.37 fraction -> 37 %");
    ok(r && r->resets_at.epoch == 1773162000, "epoch seconds reset");
    ok(r && r->window_seconds.value == 18000, "5 h window");
    is_str(r ? r->kind : NULL, "quota_window", "quota_window");
    r = find(m, n, "seven_day");
    ok(r && fabs(r->utilization.value - 62.0) < 1e-9, "7d 62 %");
    ok(r && r->window_seconds.value == 604800, "7 d window");
    free(m);

    /* extra windows, prefix, retry-after as HTTP-date */
    const char *names[] = {"Anthropic-Ratelimit-Unified-7d-Sonnet-Utilization",
                           "anthropic-ratelimit-unified-7d-sonnet-reset", "Retry-After"};
    const char *values[] = {"1", "1773432000", "Tue, 10 Mar 2026 14:01:00 GMT"};
    n = ratelimit_parse(names, values, 3, NOW, "hdr_", &m, &ra);
    r = find(m, n, "hdr_seven_day_sonnet");
    ok(r && r->utilization.value == 100, "case-insensitive, prefixed, 7d-sonnet exhausted");
    is_num(ra, 60, "HTTP-date retry-after");
    free(m);
}

static void test_codex(void)
{
    rl_metric *m;
    double ra;
    size_t n = parse("codex_ratelimit.headers", &m, &ra);
    is_int(n, 2, "codex: primary and secondary");
    const md_metric *r = find(m, n, "five_hour");
    ok(r && r->utilization.value == 23, "primary 23 % -> five_hour");
    ok(r && r->resets_at.epoch == 1773160200, "reset-at preferred");
    ok(r && r->window_seconds.value == 18000, "300 min");
    r = find(m, n, "seven_day");
    ok(r && r->utilization.value == 41, "secondary 41 % -> seven_day");
    free(m);
    const char *names[] = {"x-codex-bengalfox-primary-used-percent",
                           "x-codex-bengalfox-primary-window-minutes",
                           "x-codex-bengalfox-primary-reset-after-seconds",
                           "x-codex-secondary-used-percent",
                           "x-codex-secondary-reset-at"};
    const char *values[] = {"5", "60", "30", "7", "1773432000000"};
    n = ratelimit_parse(names, values, 5, NOW, NULL, &m, NULL);
    r = find(m, n, "bengalfox_window_60m");
    ok(r && r->utilization.value == 5 && r->resets_at.epoch == NOW + 30,
       "per-limit family, other window length, relative reset");
    r = find(m, n, "secondary_window");
    ok(r && r->resets_at.epoch == 1773432000, "reset-at in ms normalised; unknown length named by slot");
    free(m);
}

static void test_openrouter_and_edges(void)
{
    rl_metric *m;
    double ra;
    const char *names[] = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"};
    const char *values[] = {"20", "0", "1773151260000"};
    size_t n = ratelimit_parse(names, values, 3, NOW, NULL, &m, &ra);
    const md_metric *r = find(m, n, "ratelimit_requests");
    ok(r && r->limit.value == 20 && r->remaining.value == 0 && r->resets_at.epoch == NOW + 60,
       "openrouter: epoch ms reset");
    is_num(ra, -1, "no retry-after");
    free(m);
    const char *an[] = {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                        "x-ratelimit-reset-requests", "content-type"};
    const char *av[] = {"-1", "abc", "soon", "text/plain"};
    n = ratelimit_parse(an, av, 4, NOW, NULL, &m, &ra);
    is_int(n, 0, "Azure -1, garbage: nothing known, no metric");
    free(m);
    n = ratelimit_parse(NULL, NULL, 0, NOW, NULL, &m, &ra);
    ok(n == 0 && m == NULL, "no headers, no metrics");
}

static void test_dialects(void)
{
    double t;
    ok(timestamp_parse("2026-03-10T14:00:00.282668+00:00", TS_AUTO, NOW, &t) == 0 &&
           fabs(t - (NOW + 0.282668)) < 1e-6, "auto: RFC 3339 with microseconds");
    ok(timestamp_parse("Tue, 10 Mar 2026 14:00:00 GMT", TS_AUTO, NOW, &t) == 0 && t == NOW,
       "auto: HTTP-date");
    ok(timestamp_parse("1773151200000", TS_AUTO, 0, &t) == 0 && t == NOW, "auto: epoch ms");
    ok(timestamp_parse("1773151200", TS_AUTO, 0, &t) == 0 && t == NOW, "auto: epoch s");
    ok(timestamp_parse("30", TS_AUTO, NOW, &t) == 0 && t == NOW + 30, "auto: small = relative");
    ok(timestamp_parse("1773151200", TS_EPOCH_S_OR_MS, 0, &t) == 0 && t == NOW, "s_or_ms: s");
    ok(timestamp_parse("1773151200500", TS_EPOCH_S_OR_MS, 0, &t) == 0 && t == NOW + 0.5,
       "s_or_ms: ms");
    ok(timestamp_parse("1h2m3.5s", TS_GO_DURATION, NOW, &t) == 0 && t == NOW + 3723.5,
       "go duration with fraction");
    ok(timestamp_parse("500\xC2\xB5s", TS_GO_DURATION, NOW, &t) == 0 && fabs(t - NOW - 0.0005) < 1e-5,
       "go duration in microseconds (µs)");
    ok(timestamp_parse("8.64", TS_GO_DURATION, NOW, &t) == 0 && fabs(t - NOW - 8.64) < 1e-5,
       "go duration: bare number is seconds");
    ok(timestamp_parse("6m0x", TS_GO_DURATION, NOW, &t) != 0, "bad unit rejected");
    ok(timestamp_parse("-5", TS_RELATIVE_S, NOW, &t) != 0, "negative relative rejected");
    ok(timestamp_parse("Tuesday", TS_HTTP_DATE, NOW, &t) != 0, "garbage HTTP-date rejected");
    ok(timestamp_parse("Tuesday, 10-Mar-26 14:00:00 GMT", TS_HTTP_DATE, NOW, &t) == 0 && t == NOW,
       "RFC 850 date");
    ok(timestamp_parse("", TS_AUTO, NOW, &t) != 0, "empty rejected");
}

int main(void)
{
    test_openai();
    test_anthropic();
    test_unified();
    test_codex();
    test_openrouter_and_edges();
    test_dialects();
    return done_testing();
}
