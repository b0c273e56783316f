/* t/unit/timeutil.c - durations, RFC 3339 parsing/formatting, clocks. */
#include "tap.h"
#include "timeutil.h"

#include <stdio.h>
#include <time.h>

static void dur_ok(const char *text, long long want)
{
    long long ms = -12345;
    char name[128];
    snprintf(name, sizeof name, "duration '%s' = %lld ms", text, want);
    int rc = duration_parse(text, &ms);
    ok(rc == 0 && ms == want, name);
    if (rc != 0 || ms != want)
        printf("#   rc %d ms %lld\n", rc, ms);
}

static void dur_bad(const char *text)
{
    long long ms = 777;
    char name[128];
    snprintf(name, sizeof name, "duration '%s' rejected", text ? text : "(null)");
    ok(duration_parse(text, &ms) == -1 && ms == 777, name);
}

static void fmt_is(long long ms, const char *want)
{
    char buf[64], name[96];
    duration_format(ms, buf, sizeof buf);
    snprintf(name, sizeof name, "format %lld ms", ms);
    is_str(buf, want, name);
}

static void ts_ok(const char *text, double want)
{
    double e = -1;
    char name[160];
    snprintf(name, sizeof name, "rfc3339 '%s'", text);
    int rc = rfc3339_parse(text, &e);
    ok(rc == 0 && fabs(e - want) < 1e-6, name);
    if (rc != 0 || fabs(e - want) >= 1e-6)
        printf("#   rc %d got %.9f want %.9f\n", rc, e, want);
}

static void ts_bad(const char *text)
{
    double e = 42;
    char name[160];
    snprintf(name, sizeof name, "rfc3339 '%s' rejected", text ? text : "(null)");
    ok(rfc3339_parse(text, &e) == -1 && e == 42, name);
}

static void ts_fmt(double epoch, const char *want)
{
    char buf[48], name[96];
    rfc3339_format(epoch, buf, sizeof buf);
    snprintf(name, sizeof name, "format epoch %.4f", epoch);
    is_str(buf, want, name);
}

int main(void)
{
    /* durations */
    dur_ok("250ms", 250);
    dur_ok("5s", 5000);
    dur_ok("2m", 120000);
    dur_ok("1h", 3600000);
    dur_ok("1m30s", 90000);
    dur_ok("1h2m3s4ms", 3723004);
    dur_ok("0s", 0);
    dur_ok("1.5s", 1500);
    dur_ok("0.25m", 15000);
    dur_ok("10000h", 36000000000LL);
    dur_bad("");
    dur_bad(NULL);
    dur_bad("5");           /* bare number */
    dur_bad("-5s");         /* negative */
    dur_bad("5 s");
    dur_bad(" 5s");
    dur_bad("5s ");
    dur_bad("5x");
    dur_bad("s");
    dur_bad("5sec");
    dur_bad("30s1m");       /* out of order */
    dur_bad("1s1s");        /* repeated */
    dur_bad("1.s");
    dur_bad(".5s");
    dur_bad("0.0001s");     /* below millisecond resolution */
    dur_bad("99999999999999999999s");
    dur_bad("9223372036854775807h"); /* overflow on multiply */

    fmt_is(0, "0s");
    fmt_is(250, "250ms");
    fmt_is(1000, "1s");
    fmt_is(90000, "90s");
    fmt_is(120000, "2m");
    fmt_is(3600000, "1h");
    fmt_is(5400000, "90m");
    fmt_is(1001, "1001ms");
    fmt_is(-2000, "-2s");
    {
        /* format then parse is the identity */
        long long vals[] = {1, 999, 60000, 7200000, 61000, 3601000};
        int all = 1;
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            char b[32];
            long long back = -1;
            duration_format(vals[i], b, sizeof b);
            if (duration_parse(b, &back) || back != vals[i])
                all = 0;
        }
        ok(all, "duration_format output parses back to the same value");
    }
    {
        char tiny[3];
        duration_format(3600000, tiny, sizeof tiny);
        is_str(tiny, "1h", "small buffer ok");
        duration_format(250, tiny, sizeof tiny);
        ok(strlen(tiny) == 2, "truncated, still terminated");
    }

    /* RFC 3339 */
    ts_ok("1970-01-01T00:00:00Z", 0);
    ts_ok("2026-03-10T14:00:00Z", 1773151200);
    ts_ok("2026-03-10t14:00:00z", 1773151200);
    ts_ok("2026-03-10 14:00:00Z", 1773151200);
    ts_ok("2026-03-10T15:30:00+01:30", 1773151200);
    ts_ok("2026-03-10T09:00:00-05:00", 1773151200);
    ts_ok("2026-03-10T14:00:00.5Z", 1773151200.5);
    ts_ok("2026-03-10T14:00:00.123456789Z", 1773151200.123456789);
    ts_ok("2024-02-29T00:00:00Z", 1709164800);         /* leap year */
    ts_ok("2000-02-29T12:00:00Z", 951825600);          /* 400-year leap */
    ts_ok("1969-12-31T23:59:59Z", -1);
    ts_ok("2016-12-31T23:59:60Z", 1483228800);         /* leap second */
    ts_ok("2026-03-10T00:30:00+01:00", 1773099000);    /* crosses midnight */
    ts_bad("");
    ts_bad(NULL);
    ts_bad("2026-03-10");
    ts_bad("2026-03-10T14:00:00");      /* no offset */
    ts_bad("2026-03-10T14:00Z");        /* no seconds */
    ts_bad("2026-03-10T14:00:00.Z");    /* empty fraction */
    ts_bad("2026-03-10T14:00:00.1234567890Z"); /* 10 digits */
    ts_bad("2026-03-10T14:00:00Zjunk");
    ts_bad("2026-03-10T14:00:00+0100");
    ts_bad("2026-03-10T14:00:00+24:00");
    ts_bad("2026-03-10T14:00:00+01:60");
    ts_bad("2026-13-10T14:00:00Z");
    ts_bad("2026-00-10T14:00:00Z");
    ts_bad("2026-04-31T14:00:00Z");     /* April has 30 days */
    ts_bad("2023-02-29T00:00:00Z");     /* not a leap year */
    ts_bad("1900-02-29T00:00:00Z");     /* century, not leap */
    ts_bad("2026-03-00T14:00:00Z");
    ts_bad("2026-03-10T24:00:00Z");
    ts_bad("2026-03-10T23:60:00Z");
    ts_bad("2026-03-10T23:59:61Z");
    ts_bad("2026-3-10T14:00:00Z");
    ts_bad("2026-03-10X14:00:00Z");
    ts_bad("+2026-03-10T14:00:00Z");

    ts_fmt(0, "1970-01-01T00:00:00Z");
    ts_fmt(1773151200, "2026-03-10T14:00:00Z");
    ts_fmt(1773151200.123, "2026-03-10T14:00:00.123Z");
    ts_fmt(1773151200.5, "2026-03-10T14:00:00.500Z");
    ts_fmt(1773151200.0001, "2026-03-10T14:00:00Z");   /* below ms */
    ts_fmt(1773151200.9996, "2026-03-10T14:00:01Z");   /* rounds up */
    ts_fmt(-0.5, "1969-12-31T23:59:59.500Z");
    {
        double e = 0;
        char buf[48];
        rfc3339_parse("2026-03-10T15:30:00.250+01:30", &e);
        rfc3339_format(e, buf, sizeof buf);
        is_str(buf, "2026-03-10T14:00:00.250Z", "parse + format normalises to UTC");
    }

    /* clocks: only generous sanity bounds */
    double now = time_now();
    ok(now > 1.6e9 && now < 1e11, "time_now is a plausible epoch");
    long long m1 = mono_ms();
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    long long m2 = mono_ms();
    ok(m2 - m1 >= 19 && m2 - m1 < 60000, "mono_ms advances across a sleep");

    return done_testing();
}
