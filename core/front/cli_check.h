/*
 * cli_check.h - `meterd check`: a guard for scripts ("run this batch only
 * if codex has 20 % left").
 *
 *   meterd check FAMILY [--min-remaining N | N%] [--quiet] [-c FILE]
 *                [--url URL]
 *
 * The verdict is on the family's governing meter (the row of
 * /api/automation/usage, from the daemon or the snapshot: cli_source.h):
 *   N   its remaining, in its own unit, must be at least N;
 *   N%  its remaining percentage (100 - utilization, or remaining/limit
 *       when only those are known) must be at least N;
 *   no threshold: usable when not exhausted.
 *
 * Exit status (CHECK_*):
 *   0  usable and at or above the threshold; also a family to which no
 *      quota applies (usage_remaining_reason "not_applicable");
 *   1  below the threshold, or exhausted (prints when it is available
 *      again, if known);
 *   2  unknown: no such family, no data, the compared value is unknown,
 *      every member of the family failing, or an exhaustion whose reset
 *      time has passed without newer data;
 *   3  usage error, or neither the daemon nor a snapshot could be read.
 * One line on standard output says why, unless --quiet.
 *
 * Invariants: writes only to stdout/stderr; owns nothing past the call.
 */
#ifndef METERD_CLI_CHECK_H
#define METERD_CLI_CHECK_H

#include <jansson.h>

enum {
    CHECK_OK = 0,
    CHECK_BELOW = 1,
    CHECK_UNKNOWN = 2,
    CHECK_ERROR = 3
};

typedef struct check_threshold {
    int set;         /* --min-remaining given */
    int percent;     /* N% rather than N */
    double value;
} check_threshold;

/* argv[0] is "check". */
int cli_check_main(int argc, char **argv, const char *default_config);

/* Parse "N" or "N%" (N >= 0, finite; at most 100 with %).  Returns 0, or
 * -1 with *err. */
int check_threshold_parse(const char *text, check_threshold *th, char **err);

/* The verdict on FAMILY in the usage document doc; *why (caller frees)
 * is the line to show. */
int check_evaluate(const json_t *doc, const char *family,
                   const check_threshold *th, double now, char **why);

#endif
