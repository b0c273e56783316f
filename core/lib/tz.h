/*
 * tz.h - UTC offsets of time zones, for reports grouped by local date.
 *
 * A zone is "UTC" (also "Z"), a fixed offset "+05:30" / "-08:00" / "+0530"
 * / "+05" (minutes a multiple of 15, at most 14 hours: usage cells are 15
 * minutes long, so any other offset would split a cell between two
 * dates), or an IANA name ("Europe/Berlin") read from the TZif file under
 * /usr/share/zoneinfo (or $TZDIR).  The file is parsed here rather than
 * through setenv("TZ") + localtime_r: changing the environment of a
 * threaded daemon races with posix_spawn and getenv in other threads.
 * Instants after the file's last transition follow its POSIX TZ footer
 * (e.g. "CET-1CEST,M3.5.0,M10.5.0/3"), as localtime does.
 *
 * A tz_zone is immutable after tz_load, so threads may share it.  No
 * global state.
 */
#ifndef METERD_TZ_H
#define METERD_TZ_H

typedef struct tz_zone tz_zone;

/* Load a zone by name.  Returns it (free with tz_free), or NULL with *err
 * (malloc'd) for a malformed or unknown name or an unreadable file. */
tz_zone *tz_load(const char *name, char **err);
void tz_free(tz_zone *z);

/* Offset from UTC in seconds (east positive) at the instant t. */
long tz_offset(const tz_zone *z, double t);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
long tz_days_from_civil(long y, unsigned m, unsigned d);
void tz_civil_from_days(long days, long *y, unsigned *m, unsigned *d);

#endif
