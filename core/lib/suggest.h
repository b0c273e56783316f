/*
 * suggest.h - "did you mean" for misspelt names (configuration keys,
 * plugin options): one edit distance, one way to pick the candidate.
 *
 * Names are compared case-insensitively: "Interval" is a typo of
 * "interval", not a different word.  Nothing here allocates.
 */
#ifndef METERD_SUGGEST_H
#define METERD_SUGGEST_H

#include <stddef.h>

/* Longest name compared; longer ones get no suggestion (keys are short,
 * and a hint for a 100-byte string is not worth a quadratic cost). */
#define SUGGEST_MAX_LEN 63

/* Case-insensitive Levenshtein distance between a and b (insertions,
 * deletions and substitutions cost 1), or SIZE_MAX when either is longer
 * than SUGGEST_MAX_LEN. */
size_t edit_distance(const char *a, const char *b);

/* The first of the n candidates nearest to word, if its distance is at
 * most max_dist; else NULL.  Returns a pointer from cands. */
const char *suggest(const char *word, const char *const *cands, size_t n,
                    size_t max_dist);

#endif
