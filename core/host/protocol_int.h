/*
 * protocol_int.h - what protocol.c (job, result, framing, facts) and
 * protocol_usage.c (the result's usage cells) share; other modules use
 * protocol.h.
 *
 * Invariants:
 *   - proto_usage_to_json and proto_usage_to_packed return a new "usage"
 *     object (the caller owns the reference); proto_usage_to_packed also
 *     hands over *blob (malloc'd, the caller frees it), or returns NULL
 *     when the cells must travel as JSON (too many models, a model name
 *     that is not UTF-8) and sets nothing.
 *   - proto_usage_from_json fills out->usage (owned by out, freed with
 *     collect_result_release) from "usage" and, when it announces packed
 *     cells, from blob; a bad cell is an error with a malloc'd *err and
 *     leaves every cell read so far in out to be released.
 */
#ifndef METERD_PROTOCOL_INT_H
#define METERD_PROTOCOL_INT_H

#include <jansson.h>
#include <stddef.h>

#include "protocol.h"

json_t *proto_usage_to_json(const collect_result *r);
json_t *proto_usage_to_packed(const collect_result *r, unsigned char **blob,
                              size_t *blob_len);
int proto_usage_from_json(const json_t *u, const unsigned char *blob,
                          size_t blob_len, collect_result *out, char **err);

#endif
