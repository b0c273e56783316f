/*
 * cli_format.h - how the command line shows the usage document's values
 * to a person: amounts with their unit, durations ("2h14m"), timestamps.
 *
 * Invariants: a value the document does not know (JSON null, a missing
 * key, a non-number) is shown as "unknown", never as 0.  Every function
 * returns a new string the caller frees.
 */
#ifndef METERD_CLI_FORMAT_H
#define METERD_CLI_FORMAT_H

#include <jansson.h>

/* A number without needless decimals: "12", "87.5", "0.01". */
char *cli_fmt_number(double x);

/* An amount with its unit: "87.5%" for unit "percent", "12.34 USD",
 * "1200 requests", the bare number when unit is NULL; "unknown" when v is
 * not a number. */
char *cli_fmt_amount(const json_t *v, const char *unit);

/* A span of seconds as its two largest units: "3d4h", "2h14m", "14m",
 * "45s"; "0s" for anything below a second (negative too). */
char *cli_fmt_duration(double seconds);

/* Time from now until the RFC 3339 timestamp v ("2h14m", "now" when it
 * has passed), or "unknown". */
char *cli_fmt_until(const json_t *v, double now);

/* Seconds v (a number) as a duration, or "unknown". */
char *cli_fmt_age(const json_t *v);

#endif
