/*
 * civil.c - proleptic Gregorian dates <-> days since 1970-01-01, the one
 * implementation for the core (tz.c, timeutil.c, the usage store through
 * tz.h) and the plugin SDK (declared in meterd/util.h; libmeterd-plugin.a
 * is built from this file too).  libc and meterd/ headers only, no state, so the
 * same object works inside the daemon and, hidden, inside a plugin.
 *
 * The day arithmetic is H. Hinnant's days_from_civil / civil_from_days:
 * a year is shifted to start on March 1 so that the leap day is the last
 * day of the year, and eras of 400 years (146097 days) repeat exactly.
 */
#include "meterd/util.h"

long long mdu_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

void mdu_civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

int mdu_is_leap_year(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned mdu_days_in_month(long long y, unsigned m)
{
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && mdu_is_leap_year(y) ? 29 : dm[m - 1];
}
