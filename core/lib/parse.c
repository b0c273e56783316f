/* parse.c - see parse.h. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <strings.h>

int parse_int(const char *text, long long *out)
{
    if (!text)
        return -1;
    while (isspace((unsigned char)*text))
        text++;
    if (!*text)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int parse_number(const char *text, double *out)
{
    if (!text)
        return -1;
    while (isspace((unsigned char)*text))
        text++;
    if (!*text)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    while (isspace((unsigned char)*end))
        end++;
    /* ERANGE on underflow ("1e-400") still gives a finite, usable 0. */
    if (*end || !isfinite(v) || end == text)
        return -1;
    *out = v;
    return 0;
}

int parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!text)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(text, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

