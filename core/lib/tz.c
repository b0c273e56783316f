/* tz.c - UTC offsets from TZif files, POSIX TZ rules and fixed offsets
 * (see tz.h for why this does not use setenv("TZ") + localtime_r). */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meterd/util.h"

#define TZ_FILE_MAX (1024 * 1024)
#define MAX_OFFSET (14 * 3600)

/* A POSIX TZ rule: the footer of a TZif file. */
typedef struct tz_rule_date {
    char kind;          /* 'J' (1..365, no Feb 29), 'n' (0..365), 'M' */
    int m, w, d, n;
    long time;          /* seconds after local midnight (may be < 0) */
} tz_rule_date;

typedef struct tz_rule {
    int valid;
    long std_off, dst_off;   /* east positive */
    int has_dst;
    tz_rule_date start, end;
} tz_rule;

struct tz_zone {
    long fixed;              /* used when n_types == 0 */
    int64_t *times;          /* transitions, ascending */
    unsigned char *idx;      /* type of each transition */
    size_t n_times;
    long *utoff;             /* per type */
    size_t n_types;
    tz_rule rule;            /* for instants after the last transition */
};

/* ---------------------------------------------------------------- */
/* civil dates (the shared implementation is core/lib/civil.c)       */
/* ---------------------------------------------------------------- */

long tz_days_from_civil(long y, unsigned m, unsigned d)
{
    return (long)mdu_days_from_civil(y, m, d);
}

void tz_civil_from_days(long days, long *y, unsigned *m, unsigned *d)
{
    long long yy;
    mdu_civil_from_days(days, &yy, m, d);
    *y = (long)yy;
}

/* ---------------------------------------------------------------- */
/* POSIX TZ strings                                                  */
/* ---------------------------------------------------------------- */

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q > p + 1 ? q + 1 : NULL;
    }
    const char *s = p;
    while (isalpha((unsigned char)*p))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]h[h[h]][:mm[:ss]] into seconds. */
static const char *parse_hms(const char *p, long *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    long v = 0, part = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p) && digits++ < 3)
        part = part * 10 + (*p++ - '0');
    v = part * 3600;
    for (long mult = 60; *p == ':' && mult >= 1; mult /= 60) {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return NULL;
        v += ((p[0] - '0') * 10 + (p[1] - '0')) * mult;
        p += 2;
    }
    *out = sign * v;
    return p;
}

static const char *parse_rule_date(const char *p, tz_rule_date *r)
{
    char *end;
    r->time = 7200;   /* default 02:00 */
    if (*p == 'M') {
        r->kind = 'M';
        r->m = (int)strtol(p + 1, &end, 10);
        if (*end != '.')
            return NULL;
        r->w = (int)strtol(end + 1, &end, 10);
        if (*end != '.')
            return NULL;
        r->d = (int)strtol(end + 1, &end, 10);
        if (r->m < 1 || r->m > 12 || r->w < 1 || r->w > 5 || r->d < 0 ||
            r->d > 6)
            return NULL;
    } else {
        r->kind = *p == 'J' ? 'J' : 'n';
        if (*p == 'J')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        r->n = (int)strtol(p, &end, 10);
        if (r->n < 0 || r->n > 365 || (r->kind == 'J' && r->n < 1))
            return NULL;
    }
    p = end;
    if (*p == '/')
        p = parse_hms(p + 1, &r->time);
    return p;
}

/* Parse "STDoff[DST[off][,start[/time],end[/time]]]".  0 or -1. */
static int parse_posix_tz(const char *s, tz_rule *r)
{
    memset(r, 0, sizeof *r);
    const char *p = skip_name(s);
    long off;
    if (!p || !(p = parse_hms(p, &off)))
        return -1;
    r->std_off = -off;   /* POSIX counts west positive */
    if (!*p) {
        r->valid = 1;
        return 0;
    }
    if (!(p = skip_name(p)))
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &off)))
            return -1;
        r->dst_off = -off;
    }
    if (*p != ',')
        return -1;   /* DST without rules: the defaults are US-centric */
    if (!(p = parse_rule_date(p + 1, &r->start)) || *p != ',' ||
        !(p = parse_rule_date(p + 1, &r->end)) || *p)
        return -1;
    r->valid = 1;
    return 0;
}

/* Local seconds since the epoch (in the offset the rule was written in)
 * at which rule date rd happens in year y. */
static double rule_local(long y, const tz_rule_date *rd)
{
    long day;
    if (rd->kind == 'J') {
        day = tz_days_from_civil(y, 1, 1) + rd->n - 1;
        if (mdu_is_leap_year(y) && rd->n >= 60)
            day++;
    } else if (rd->kind == 'n') {
        day = tz_days_from_civil(y, 1, 1) + rd->n;
    } else {
        long first = tz_days_from_civil(y, (unsigned)rd->m, 1);
        int dow1 = (int)(((first % 7) + 7 + 4) % 7);   /* 1970-01-01: Thu */
        long dom = 1 + (rd->d - dow1 + 7) % 7 + (rd->w - 1) * 7;
        while (dom > (long)mdu_days_in_month(y, (unsigned)rd->m))
            dom -= 7;
        day = first + dom - 1;
    }
    return (double)day * 86400.0 + (double)rd->time;
}

static long rule_offset(const tz_rule *r, double t)
{
    if (!r->has_dst)
        return r->std_off;
    long y;
    unsigned m, d;
    tz_civil_from_days((long)floor((t + (double)r->std_off) / 86400.0), &y,
                       &m, &d);
    /* The start is given in standard time, the end in daylight time. */
    double start = rule_local(y, &r->start) - (double)r->std_off;
    double end = rule_local(y, &r->end) - (double)r->dst_off;
    int dst = start < end ? (t >= start && t < end) : (t >= start || t < end);
    return dst ? r->dst_off : r->std_off;
}

/* ---------------------------------------------------------------- */
/* TZif                                                              */
/* ---------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static int read_counts(const unsigned char *h, size_t left, tzif_counts *c)
{
    if (left < 44 || memcmp(h, "TZif", 4) != 0)
        return -1;
    c->isut = be32(h + 20);
    c->isstd = be32(h + 24);
    c->leap = be32(h + 28);
    c->time = be32(h + 32);
    c->type = be32(h + 36);
    c->chars = be32(h + 40);
    return c->type == 0 || c->type > 256 || c->time > 100000 ? -1 : 0;
}

static size_t block_size(const tzif_counts *c, size_t tsz)
{
    return c->time * tsz + c->time + c->type * 6 + c->chars +
           c->leap * (tsz + 4) + c->isstd + c->isut;
}

/* Parse the data block at p (tsz 4 or 8 bytes per time). */
static int parse_block(tz_zone *z, const unsigned char *p,
                       const tzif_counts *c, size_t tsz)
{
    z->n_times = c->time;
    z->times = xcalloc(c->time ? c->time : 1, sizeof *z->times);
    z->idx = xcalloc(c->time ? c->time : 1, 1);
    for (size_t i = 0; i < c->time; i++)
        z->times[i] = tsz == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
    p += c->time * tsz;
    memcpy(z->idx, p, c->time);
    p += c->time;
    z->n_types = c->type;
    z->utoff = xcalloc(c->type, sizeof *z->utoff);
    for (size_t i = 0; i < c->type; i++)
        z->utoff[i] = (int32_t)be32(p + i * 6);
    for (size_t i = 0; i < c->time; i++)
        if (z->idx[i] >= c->type || (i && z->times[i] <= z->times[i - 1]))
            return -1;
    return 0;
}

static int parse_tzif(tz_zone *z, const unsigned char *buf, size_t len)
{
    tzif_counts c;
    if (read_counts(buf, len, &c) != 0)
        return -1;
    size_t v1 = 44 + block_size(&c, 4);
    if (buf[4] < '2') {
        return v1 <= len ? parse_block(z, buf + 44, &c, 4) : -1;
    }
    if (v1 > len || read_counts(buf + v1, len - v1, &c) != 0)
        return -1;
    const unsigned char *data = buf + v1 + 44;
    size_t need = v1 + 44 + block_size(&c, 8);
    if (need > len || parse_block(z, data, &c, 8) != 0)
        return -1;
    /* Footer: "\n<POSIX TZ>\n" */
    const unsigned char *f = buf + need;
    size_t flen = len - need;
    if (flen >= 2 && f[0] == '\n') {
        const unsigned char *nl = memchr(f + 1, '\n', flen - 1);
        if (nl && nl - f - 1 < 128) {
            char tzs[128];
            memcpy(tzs, f + 1, (size_t)(nl - f - 1));
            tzs[nl - f - 1] = '\0';
            if (parse_posix_tz(tzs, &z->rule) != 0)
                z->rule.valid = 0;   /* keep the last transition's type */
        }
    }
    return 0;
}

static int name_ok(const char *name)
{
    if (!*name || name[0] == '/' || strlen(name) > 128 || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return 0;
    return 1;
}

static tz_zone *load_file(const char *name, char **err)
{
    const char *dir = getenv("TZDIR");
    char *path = xasprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo",
                           name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = xasprintf("unknown time zone '%s'", name);
        free(path);
        return NULL;
    }
    unsigned char *buf = xmalloc(TZ_FILE_MAX);
    size_t len = fread(buf, 1, TZ_FILE_MAX, f);
    fclose(f);
    tz_zone *z = xcalloc(1, sizeof *z);
    if (len == 0 || len >= TZ_FILE_MAX || parse_tzif(z, buf, len) != 0) {
        *err = xasprintf("time zone '%s': %s is not a valid TZif file", name,
                         path);
        tz_free(z);
        z = NULL;
    }
    free(buf);
    free(path);
    return z;
}

/* "+05:30", "-0800", "+05": NULL when s is not a fixed offset at all. */
static tz_zone *fixed_zone(const char *s, char **err, int *matched)
{
    *matched = 0;
    if (s[0] != '+' && s[0] != '-')
        return NULL;
    *matched = 1;
    int h = 0, m = 0;
    size_t n = strlen(s);
    int ok = 0;
    if (n == 3 || n == 5 || n == 6) {
        const char *p = s + 1;
        ok = isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]);
        h = (p[0] - '0') * 10 + (p[1] - '0');
        if (ok && n > 3) {
            p += n == 6 ? 3 : 2;
            ok = (n == 5 || s[3] == ':') && isdigit((unsigned char)p[0]) &&
                 isdigit((unsigned char)p[1]);
            m = (p[0] - '0') * 10 + (p[1] - '0');
        }
    }
    long off = (long)h * 3600 + (long)m * 60;
    if (!ok || m >= 60 || off > MAX_OFFSET || m % 15 != 0) {
        *err = xasprintf("time zone '%.32s': a fixed offset is +HH:MM or "
                         "-HH:MM, at most 14:00, in steps of 15 minutes", s);
        return NULL;
    }
    tz_zone *z = xcalloc(1, sizeof *z);
    z->fixed = s[0] == '-' ? -off : off;
    return z;
}

tz_zone *tz_load(const char *name, char **err)
{
    *err = NULL;
    if (!name || strcmp(name, "UTC") == 0 || strcmp(name, "Z") == 0 ||
        strcmp(name, "Etc/UTC") == 0)
        return xcalloc(1, sizeof(tz_zone));
    int matched;
    tz_zone *z = fixed_zone(name, err, &matched);
    if (matched)
        return z;
    if (!name_ok(name)) {
        *err = xasprintf("time zone '%.64s' is not a zone name (e.g. UTC, "
                         "Europe/Berlin, +05:30)", name);
        return NULL;
    }
    return load_file(name, err);
}

void tz_free(tz_zone *z)
{
    if (!z)
        return;
    free(z->times);
    free(z->idx);
    free(z->utoff);
    free(z);
}

long tz_offset(const tz_zone *z, double t)
{
    if (z->n_types == 0)
        return z->fixed;
    if (z->n_times == 0 || t < (double)z->times[0])
        return z->rule.valid && z->n_times == 0 ? rule_offset(&z->rule, t)
                                                : z->utoff[0];
    if (t >= (double)z->times[z->n_times - 1] && z->rule.valid)
        return rule_offset(&z->rule, t);
    size_t lo = 0, hi = z->n_times;   /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((double)z->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->idx[lo]];
}
