/* cli_format.c - values of the usage document as text for people; see
 * cli_format.h. */
#include "cli_format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

char *cli_fmt_number(double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        return xasprintf("%.0f", x);
    char *s = xasprintf("%.2f", x);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '0')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '.')
        s[--n] = '\0';
    if (strcmp(s, "0") == 0 || strcmp(s, "-0") == 0) {
        /* a small non-zero value must not print as 0 */
        free(s);
        return xasprintf("%.2g", x);
    }
    return s;
}

char *cli_fmt_amount(const json_t *v, const char *unit)
{
    if (!json_is_number(v))
        return xstrdup("unknown");
    char *num = cli_fmt_number(json_number_value(v));
    char *s = !unit                        ? xstrdup(num)
              : strcmp(unit, "percent") == 0 ? xasprintf("%s%%", num)
                                             : xasprintf("%s %s", num, unit);
    free(num);
    return s;
}

char *cli_fmt_duration(double seconds)
{
    long long s = seconds >= 1 ? (long long)seconds : 0;
    long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d > 0)
        return h ? xasprintf("%lldd%lldh", d, h) : xasprintf("%lldd", d);
    if (h > 0)
        return m ? xasprintf("%lldh%lldm", h, m) : xasprintf("%lldh", h);
    if (m > 0)
        return xasprintf("%lldm", m);
    return xasprintf("%llds", s);
}

char *cli_fmt_until(const json_t *v, double now)
{
    double t;
    const char *text = json_string_value(v);
    if (!text || rfc3339_parse(text, &t) != 0)
        return xstrdup("unknown");
    if (t <= now)
        return xstrdup("now");
    return cli_fmt_duration(t - now);
}

char *cli_fmt_age(const json_t *v)
{
    if (!json_is_number(v))
        return xstrdup("unknown");
    return cli_fmt_duration(json_number_value(v));
}
