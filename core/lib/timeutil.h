/*
 * timeutil.h - clocks, durations and timestamps.
 *
 * Durations in config are "250ms", "5s", "2m", "1h" (also combinations
 * such as "1m30s").  Timestamps are RFC 3339 (0-9 fraction digits, "Z" or
 * "+hh:mm"/"-hh:mm", "T" or "t" or " " separator), always rendered in UTC
 * with "Z" and no more than millisecond precision.
 */
#ifndef METERD_TIMEUTIL_H
#define METERD_TIMEUTIL_H

#include <stddef.h>

/* Wall clock, seconds since the epoch (fractional). */
double time_now(void);
/* Monotonic clock in milliseconds (for deadlines and intervals). */
long long mono_ms(void);

/* Parse a config duration. Returns 0 and *ms, or -1 on bad syntax,
 * negative, or overflow.  A bare number without unit is an error. */
int duration_parse(const char *text, long long *ms);
/* Format ms as the shortest exact form ("1h", "90s", "250ms") into buf. */
void duration_format(long long ms, char *buf, size_t len);
/* The same grammar with days as the largest unit ("400d", "1d12h"), for
 * the few settings measured in days.  Kept apart so that "1d" is not
 * silently accepted where a poll interval is meant. */
int duration_parse_days(const char *text, long long *ms);
/* "400d" for a positive whole number of days, else as duration_format. */
void duration_format_days(long long ms, char *buf, size_t len);

/* The times RFC 3339 can express (four-digit years, 0000-01-01T00:00:00Z
 * to 9999-12-31T23:59:59.999Z), as epoch seconds t with
 * RFC3339_MIN_EPOCH <= t < RFC3339_END_EPOCH.  rfc3339_parse returns only
 * such times; rfc3339_format writes "invalid" for any other. */
#define RFC3339_MIN_EPOCH (-62167219200.0)
#define RFC3339_END_EPOCH 253402300800.0

/* Parse RFC 3339 into epoch seconds. Returns 0, or -1 on malformed text,
 * out-of-range fields or trailing garbage. */
int rfc3339_parse(const char *text, double *epoch);
/* Format epoch seconds as "2026-03-10T14:00:00Z" (or with ".123" when the
 * value has a millisecond part) into buf (at least 32 bytes). */
void rfc3339_format(double epoch, char *buf, size_t len);

/* A Go-style duration ("6m0s", "12ms", "1h2m3.5s", "500us", "500µs",
 * "0"; a bare number counts as seconds) in seconds.  Returns 0 or -1. */
int go_duration_parse(const char *text, double *seconds);

/* An HTTP-date (RFC 9110 IMF-fixdate "Tue, 10 Mar 2026 14:00:00 GMT"; the
 * obsolete RFC 850 and asctime forms too).  Returns 0 or -1. */
int http_date_parse(const char *text, double *epoch);

/* Timestamp dialects (same values as md_ts_dialect in meterd/plugin.h). */
typedef enum {
    TS_AUTO = 0, TS_RFC3339, TS_EPOCH_S, TS_EPOCH_MS, TS_EPOCH_S_OR_MS,
    TS_RELATIVE_S, TS_GO_DURATION, TS_HTTP_DATE
} ts_dialect;

/* Parse text in a dialect into epoch seconds; relative dialects count from
 * now.  AUTO tries RFC 3339, then HTTP-date, then a plain number: >= 1e12
 * epoch ms, >= 1e9 epoch s, else relative seconds.  Negative relative
 * values and negative epochs are rejected.  Returns 0 or -1. */
int timestamp_parse(const char *text, ts_dialect dialect, double now,
                    double *epoch);

#endif
