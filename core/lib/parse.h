/*
 * parse.h - the one parser of each scalar value type written in text
 * (configuration values, plugin options, numbers inside payloads).
 *
 * Every parser takes the whole text: leading and trailing white space is
 * allowed, anything else after the value is an error.  On success it
 * returns 0 and stores the value; on failure it returns -1 and leaves
 * *out untouched.  Nothing here allocates.
 */
#ifndef METERD_PARSE_H
#define METERD_PARSE_H

/* A decimal integer that fits a long long. */
int parse_int(const char *text, long long *out);
/* A finite number as strtod() reads it ("1e-400" underflows to 0). */
int parse_number(const char *text, double *out);
/* true/yes/on/1 or false/no/off/0, any case. */
int parse_bool(const char *text, int *out);

#endif
