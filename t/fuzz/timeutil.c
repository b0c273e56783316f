/*
 * t/fuzz/timeutil.c - every timestamp and duration entry point of
 * core/lib/timeutil.c over arbitrary text.
 *
 * The input (cut at its first NUL) goes to duration_parse,
 * duration_parse_days, rfc3339_parse, go_duration_parse, http_date_parse
 * and timestamp_parse in each of its dialects.  Besides the sanitizers,
 * what must hold:
 *   - an accepted duration formats back to text that parses to the same
 *     milliseconds (both grammars);
 *   - an accepted RFC 3339 time is finite and formats back to text that
 *     parses to within a millisecond of it;
 *   - an accepted Go duration is finite and not negative; every accepted
 *     timestamp is finite.
 */
#include <math.h>

#include "fuzz.h"

#include "timeutil.h"

#define NOW 1773151200.0

static void check_duration(const char *s,
                           int (*parse)(const char *, long long *),
                           void (*format)(long long, char *, size_t))
{
    long long ms, back;
    char buf[64];
    if (parse(s, &ms) != 0) return;
    if (ms < 0) abort();
    format(ms, buf, sizeof buf);
    if (parse(buf, &back) != 0 || back != ms) {
        fprintf(stderr, "duration %lld formats as '%s', which reads back as %lld\n",
                ms, buf, back);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    double t, back;
    char buf[64];

    check_duration(s, duration_parse, duration_format);
    check_duration(s, duration_parse_days, duration_format_days);

    if (rfc3339_parse(s, &t) == 0) {
        if (!isfinite(t)) abort();
        rfc3339_format(t, buf, sizeof buf);
        if (rfc3339_parse(buf, &back) != 0 || fabs(back - t) > 0.0011) {
            fprintf(stderr, "time %.6f formats as '%s', which reads back as %.6f\n",
                    t, buf, back);
            abort();
        }
    }
    if (go_duration_parse(s, &t) == 0 && !(isfinite(t) && t >= 0)) abort();
    if (http_date_parse(s, &t) == 0 && !isfinite(t)) abort();
    for (int d = TS_AUTO; d <= TS_HTTP_DATE; d++)
        if (timestamp_parse(s, (ts_dialect)d, NOW, &t) == 0 && !isfinite(t)) abort();
    free(s);
    return 0;
}
