/*
 * timeutil.c - clocks, config durations and RFC 3339 timestamps.
 *
 * Everything here is pure (no allocation, no global state) so it can be
 * used from any thread, including the isolated collection helpers.
 */
#include "timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "meterd/util.h"

double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long mono_ms(void)
{
    /* CLOCK_MONOTONIC: deadlines must not jump when an operator or NTP
     * sets the wall clock. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

/* ---------------------------------------------------------------- */
/* durations                                                         */
/* ---------------------------------------------------------------- */

/* Units in the only order they may appear ("1h30m", never "30m1h"):
 * a fixed order makes typos such as "1s1s" an error instead of 2s. */
static const struct {
    const char *name;
    long long ms;
} units[] = {
    {"d", 86400000LL}, {"h", 3600000LL}, {"m", 60000LL}, {"s", 1000LL},
    {"ms", 1LL},
};
enum { N_UNITS = sizeof units / sizeof units[0] };

/* Match the unit at *p (longest first, so "ms" is not read as "m"
 * followed by garbage).  Returns its index or -1. */
static int match_unit(const char **p)
{
    if (strncmp(*p, "ms", 2) == 0) {
        *p += 2;
        return N_UNITS - 1;
    }
    for (int i = 0; i < N_UNITS - 1; i++)
        if (**p == units[i].name[0]) {
            (*p)++;
            return i;
        }
    return -1;
}

/* Parse "DIGITS[.DIGITS]" times mult into *out.  The fraction must be
 * exact in milliseconds ("1.5s" ok, "0.0001s" not). */
static int parse_component(const char **p, long long *whole, long long *frac,
                           long long *frac_div)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -1;
    *whole = 0;
    while (isdigit((unsigned char)*s)) {
        int d = *s++ - '0';
        if (*whole > (LLONG_MAX - d) / 10)
            return -1;
        *whole = *whole * 10 + d;
    }
    *frac = 0;
    *frac_div = 1;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s)) {
            if (*frac_div >= 1000000000LL) /* more than 9 digits */
                return -1;
            *frac = *frac * 10 + (*s++ - '0');
            *frac_div *= 10;
        }
    }
    *p = s;
    return 0;
}

/* The duration grammar; first_unit is the largest unit allowed (0: days,
 * 1: hours). */
static int parse_duration_from(const char *text, int first_unit,
                               long long *ms)
{
    if (!text || !*text)
        return -1;
    const char *p = text;
    long long total = 0;
    int last = -1;
    while (*p) {
        long long whole, frac, div;
        if (parse_component(&p, &whole, &frac, &div) < 0)
            return -1;
        int u = match_unit(&p);
        /* no unit, unknown unit, a unit not allowed here, or out of order */
        if (u < first_unit || u <= last)
            return -1;
        last = u;
        long long mult = units[u].ms;
        if (whole > LLONG_MAX / mult)
            return -1;
        long long v = whole * mult;
        if (frac) {
            long long f = frac * mult; /* frac < 1e9, mult <= 3.6e6: fits */
            if (f % div)
                return -1;
            if (v > LLONG_MAX - f / div)
                return -1;
            v += f / div;
        }
        if (total > LLONG_MAX - v)
            return -1;
        total += v;
    }
    *ms = total;
    return 0;
}

int duration_parse(const char *text, long long *ms)
{
    return parse_duration_from(text, 1, ms);
}

int duration_parse_days(const char *text, long long *ms)
{
    return parse_duration_from(text, 0, ms);
}

void duration_format_days(long long ms, char *buf, size_t len)
{
    if (ms > 0 && ms % units[0].ms == 0) {
        if (buf && len)
            snprintf(buf, len, "%lldd", ms / units[0].ms);
        return;
    }
    duration_format(ms, buf, len);
}

void duration_format(long long ms, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    const char *sign = "";
    unsigned long long v;
    if (ms < 0) {
        sign = "-";
        v = 0ULL - (unsigned long long)ms;
    } else {
        v = (unsigned long long)ms;
    }
    if (v == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    /* The largest unit that divides exactly: 90000 -> "90s", which is
     * both exact and shorter than "1m30s". */
    for (int i = 1; i < N_UNITS; i++) /* from hours: see duration_parse */
        if (v % (unsigned long long)units[i].ms == 0) {
            snprintf(buf, len, "%s%llu%s", sign,
                     v / (unsigned long long)units[i].ms, units[i].name);
            return;
        }
}

/* ---------------------------------------------------------------- */
/* RFC 3339                                                          */
/* ---------------------------------------------------------------- */

/* Read exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

/* "YYYY-MM-DD" */
static int parse_date(const char **p, struct tm *tm)
{
    int y, mo, d;
    if (digits(p, 4, &y) || expect(p, '-') || digits(p, 2, &mo) ||
        expect(p, '-') || digits(p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > (int)mdu_days_in_month(y, (unsigned)mo))
        return -1;
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    return 0;
}

/* "HH:MM:SS[.fraction]"; fraction 1-9 digits added to *frac. */
static int parse_time(const char **p, struct tm *tm, double *frac)
{
    int h, mi, s;
    if (digits(p, 2, &h) || expect(p, ':') || digits(p, 2, &mi) ||
        expect(p, ':') || digits(p, 2, &s))
        return -1;
    /* 60 is a leap second; timegm folds it into the next minute. */
    if (h > 23 || mi > 59 || s > 60)
        return -1;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = s;
    *frac = 0;
    if (**p == '.') {
        (*p)++;
        /* integer digits then one division: fewer rounding steps */
        long long num = 0, den = 1;
        int n = 0;
        while (**p >= '0' && **p <= '9') {
            if (++n > 9)
                return -1;
            num = num * 10 + (**p - '0');
            den *= 10;
            (*p)++;
        }
        if (n == 0)
            return -1;
        *frac = (double)num / (double)den;
    }
    return 0;
}

/* "Z", "z", "+hh:mm" or "-hh:mm" -> offset east of UTC in seconds. */
static int parse_offset(const char **p, long *off)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *off = 0;
        return 0;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    if (!sign)
        return -1;
    (*p)++;
    int h, m;
    if (digits(p, 2, &h) || expect(p, ':') || digits(p, 2, &m))
        return -1;
    if (h > 23 || m > 59)
        return -1;
    *off = sign * (h * 3600L + m * 60L);
    return 0;
}

int rfc3339_parse(const char *text, double *epoch)
{
    if (!text)
        return -1;
    const char *p = text;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    double frac;
    long off;
    if (parse_date(&p, &tm))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (parse_time(&p, &tm, &frac) || parse_offset(&p, &off) || *p)
        return -1;
    /* Every field was range-checked and years 0000-9999 fit a 64-bit
     * time_t, so timegm cannot fail here. */
    time_t t = timegm(&tm);
    double e = (double)t - (double)off + frac;
    /* A leap second or an offset can carry a time past the four-digit
     * years ("9999-12-31T23:59:60Z", "0000-01-01T00:00:00+01:00"):
     * refused, so every time read here can be written back. */
    if (e < RFC3339_MIN_EPOCH || e >= RFC3339_END_EPOCH)
        return -1;
    *epoch = e;
    return 0;
}

void rfc3339_format(double epoch, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    if (!isfinite(epoch) || epoch < RFC3339_MIN_EPOCH || epoch >= RFC3339_END_EPOCH) {
        snprintf(buf, len, "invalid");
        return;
    }
    long long total_ms = llround(epoch * 1000.0);
    /* rounding must not carry the last millisecond into year 10000 */
    if (total_ms >= (long long)(RFC3339_END_EPOCH * 1000.0))
        total_ms = (long long)(RFC3339_END_EPOCH * 1000.0) - 1;
    /* floor division, so times before 1970 keep a positive ms part */
    long long secs = total_ms / 1000, ms = total_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "invalid");
        return;
    }
    /* not strftime's %Y: it writes year 999 as "999", not "0999"
     * (sized for any int fields, though they are in range here) */
    char base[80];
    snprintf(base, sizeof base, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (ms)
        snprintf(buf, len, "%s.%03lldZ", base, ms);
    else
        snprintf(buf, len, "%sZ", base);
}

/* ---- more dialects: Go durations, HTTP-dates, numbers ---- */

/* A plain decimal number filling the whole text (blanks around allowed). */
static int plain_number(const char *text, double *out)
{
    char *end;
    while (isspace((unsigned char)*text))
        text++;
    if (!*text || (!isdigit((unsigned char)*text) && *text != '.' && *text != '-'))
        return -1;
    errno = 0;
    double v = strtod(text, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int go_duration_parse(const char *text, double *seconds)
{
    static const struct { const char *unit; double scale; } go_units[] = {
        /* longest first: "ms" before "m", "µs"/"us"/"ns" before "s" */
        {"ms", 1e-3}, {"us", 1e-6}, {"\xC2\xB5s", 1e-6}, {"\xCE\xBCs", 1e-6},
        {"ns", 1e-9}, {"h", 3600}, {"m", 60}, {"s", 1}};
    if (!text)
        return -1;
    if (plain_number(text, seconds) == 0)
        return *seconds >= 0 ? 0 : -1; /* lenient: bare seconds */
    const char *p = text;
    double total = 0;
    int parts = 0;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        p = end;
        size_t i;
        for (i = 0; i < sizeof go_units / sizeof go_units[0]; i++) {
            size_t n = strlen(go_units[i].unit);
            if (strncmp(p, go_units[i].unit, n) == 0) {
                total += v * go_units[i].scale;
                p += n;
                break;
            }
        }
        if (i == sizeof go_units / sizeof go_units[0])
            return -1;
        parts++;
    }
    if (!parts || !isfinite(total))
        return -1;
    *seconds = total;
    return 0;
}

int http_date_parse(const char *text, double *epoch)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y"};     /* asctime */
    if (!text)
        return -1;
    while (isspace((unsigned char)*text))
        text++;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        /* strptime's %a/%b are locale-dependent; the daemon never calls
         * setlocale, so they stay the C locale's English names. */
        const char *end = strptime(text, formats[i], &tm);
        if (!end)
            continue;
        while (isspace((unsigned char)*end))
            end++;
        if (*end)
            continue;
        time_t t = timegm(&tm);
        if (t == (time_t)-1)
            continue;
        *epoch = (double)t;
        return 0;
    }
    return -1;
}

int timestamp_parse(const char *text, ts_dialect dialect, double now,
                    double *epoch)
{
    double v;
    if (!text)
        return -1;
    switch (dialect) {
    case TS_RFC3339:
        return rfc3339_parse(text, epoch);
    case TS_HTTP_DATE:
        return http_date_parse(text, epoch);
    case TS_GO_DURATION:
        if (go_duration_parse(text, &v) != 0)
            return -1;
        *epoch = now + v;
        return 0;
    case TS_EPOCH_S:
    case TS_EPOCH_MS:
    case TS_EPOCH_S_OR_MS:
    case TS_RELATIVE_S:
        if (plain_number(text, &v) != 0 || v < 0)
            return -1;
        if (dialect == TS_RELATIVE_S)
            v += now;
        else if (dialect == TS_EPOCH_MS || (dialect == TS_EPOCH_S_OR_MS && v >= 1e10))
            v /= 1000.0;
        *epoch = v;
        return 0;
    case TS_AUTO:
        if (rfc3339_parse(text, epoch) == 0 || http_date_parse(text, epoch) == 0)
            return 0;
        if (plain_number(text, &v) != 0 || v < 0)
            return -1;
        *epoch = v >= 1e12 ? v / 1000.0 : v >= 1e9 ? v : now + v;
        return 0;
    }
    return -1;
}
