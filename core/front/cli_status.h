/*
 * cli_status.h - `meterd status`: one line per family for a person.
 *
 *   meterd status [-c FILE] [--url URL] [--json] [--no-color]
 *
 * Columns: family, status, remaining (with unit), governing meter
 * (member/metric), utilization, resets in, data age; under a family, one
 * line per member whose last collection failed (error class and message).
 * Unknown values print "unknown", never 0.  When the daemon does not
 * answer, the rows come from the snapshot (cli_source.h) and the first
 * line says so.  Colours only on a terminal, never with $NO_COLOR set
 * (non-empty) or --no-color.  --json prints the document as received (the
 * snapshot notice then goes to standard error).
 *
 * Exit status: 0 shown (daemon or snapshot), 2 usage error, 3 neither the
 * daemon nor a snapshot could be read.
 *
 * Invariants: writes only to stdout/stderr; owns nothing past the call.
 */
#ifndef METERD_CLI_STATUS_H
#define METERD_CLI_STATUS_H

#include <stdio.h>
#include <jansson.h>

#include "cli_source.h"

/* argv[0] is "status". */
int cli_status_main(int argc, char **argv, const char *default_config);

/* The table of doc (and the snapshot notice of s) to out; colour adds
 * ANSI colours.  Exposed for tests. */
void cli_status_print(FILE *out, const cli_source *s, int colour, double now);

#endif
