/* protocol_usage.c - the usage cells of a collect result on the wire:
 * as JSON (one array per cell) or packed (binary records ahead of the
 * result's JSON); see protocol.h "Packed cells" and protocol_int.h. */
#include "protocol_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "unconst.h"

/* ------------------------------------------------------------------ */
/* The result: usage cells                                             */
/* ------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A known, finite number as the cells print it (integral: no ".0"). */
static json_t *plain_number(double v)
{
    return usage_num_to_json(MD_NUM(v));
}

json_t *proto_usage_to_json(const collect_result *r)
{
    json_t *cells = json_array();
    for (size_t i = 0; i < r->n_usage; i++) {
        const usage_cell_rec *c = &r->usage[i];
        json_t *a = json_array();
        json_array_append_new(a, plain_number(c->slot_start));
        json_array_append_new(a, str_or_null(c->model));
        for (int k = 0; k < UB_N; k++)
            json_array_append_new(a, usage_num_to_json(c->b[k]));
        json_array_append_new(a, plain_number(c->events));
        if (c->parts.known) {
            double pv[USAGE_PARTS_N];
            json_t *parts = json_array();
            usage_parts_flatten(&c->parts, pv);
            for (int k = 0; k < USAGE_PARTS_N; k++)
                json_array_append_new(parts, plain_number(pv[k]));
            json_array_append_new(a, parts);
        }
        json_array_append_new(cells, a);
    }
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", r->usage_generation);
    return json_pack("{s:o, s:s, s:o}", "since", plain_number(r->usage_since),
                     "generation", gen, "cells", cells);
}

/* The [own, tokens x5, above x5] parts array that may end a cell. */
static const char *parts_from_json(const json_t *a, usage_parts *out)
{
    double pv[USAGE_PARTS_N];
    if (json_array_size(a) != USAGE_PARTS_N)
        return "a cell's parts are not 11 numbers";
    for (size_t k = 0; k < USAGE_PARTS_N; k++) {
        const json_t *v = json_array_get(a, k);
        if (!json_is_number(v))
            return "a cell's part is not a number";
        pv[k] = json_number_value(v);
    }
    usage_parts_unflatten(out, pv);
    return NULL;
}

/* One [slot, model, 8 buckets, events(, parts)] array into *out (model
 * owned); parts, an array, only when the cell has them (ABI 1.7).  The
 * array of a helper from before the 1-hour cache-write bucket (7 buckets)
 * is read too, that bucket unknown. */
static const char *cell_from_json(const json_t *a, usage_cell_rec *out)
{
    memset(out, 0, sizeof *out);
    size_t len = json_is_array(a) ? json_array_size(a) : 0;
    const json_t *parts = len ? json_array_get(a, len - 1) : NULL;
    if (json_is_array(parts))
        len--;
    size_t nb = len >= 3 ? len - 3 : 0;
    if (!json_is_array(a) || (nb != UB_N && nb != UB_CACHE_WRITE_1H))
        return "a cell is not an array of 10 or 11 values";
    if (json_is_array(parts)) {
        const char *why = parts_from_json(parts, &out->parts);
        if (why)
            return why;
    }
    json_t *slot = json_array_get(a, 0), *model = json_array_get(a, 1);
    json_t *ev = json_array_get(a, 2 + nb);
    if (!json_is_number(slot) || !json_is_number(ev) ||
        (!json_is_null(model) && !json_is_string(model)))
        return "a cell has a value of the wrong type";
    out->slot_start = json_number_value(slot);
    out->events = json_number_value(ev);
    for (size_t k = 0; k < nb; k++)
        if (usage_num_from_json(json_array_get(a, 2 + k), &out->b[k]) != 0)
            return "a cell bucket is not a number, null or \"na\"";
    out->model = xstrdup(json_string_value(model));
    return usage_cell_rec_problem(out);
}

/* ------------------------------------------------------------------ */
/* The result: packed usage cells (the wire only)                      */
/* ------------------------------------------------------------------ */

/* A packed cell: flags (1 byte: PACK_MODEL, PACK_PARTS), the UB_N bucket
 * states (2 bits each, bucket k at bits 2k, 16 bits), slot_start, the
 * model's index in "models" (uint32, with PACK_MODEL), the value of each
 * known bucket in bucket order, events, and the USAGE_PARTS_N parts (with
 * PACK_PARTS); numbers are doubles; every field is copied with memcpy in
 * the host's byte order (helper and reader are the same binary). */
#define PACK_MODEL 1u
#define PACK_PARTS 2u
#define PACK_MAX_CELL (1 + 2 + 8 + 4 + 8 * UB_N + 8 + 8 * USAGE_PARTS_N)
/* Past this many distinct models the cells travel as JSON (the index is
 * a linear search). */
#define PACK_MAX_MODELS 256
_Static_assert(UB_N <= 8, "bucket states fit 16 bits");

/* A number as the JSON form reads back (usage_num_to_json): an integral
 * value goes through an integer, so -0 arrives as 0. */
static double wire_value(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return (double)(json_int_t)v;
    return v;
}

static unsigned char *put_double(unsigned char *p, double v)
{
    v = wire_value(v);
    memcpy(p, &v, sizeof v);
    return p + sizeof v;
}

/* The cells of r packed (*blob, *blob_len, owned by the caller) and the
 * "usage" object that announces them; NULL when they go as JSON. */
json_t *proto_usage_to_packed(const collect_result *r, unsigned char **blob,
                              size_t *blob_len)
{
    const char *models[PACK_MAX_MODELS];
    size_t n_models = 0, last = 0;
    unsigned char *out = xmalloc(r->n_usage * PACK_MAX_CELL + 1), *p = out;
    for (size_t i = 0; i < r->n_usage; i++) {
        const usage_cell_rec *c = &r->usage[i];
        unsigned flags = (c->model ? PACK_MODEL : 0) |
                         (c->parts.known ? PACK_PARTS : 0);
        unsigned states = 0;
        for (int k = 0; k < UB_N; k++) {
            unsigned st = c->b[k].state == MD_NOT_APPLICABLE ? MD_NOT_APPLICABLE
                          : c->b[k].state == MD_KNOWN && isfinite(c->b[k].value)
                              ? MD_KNOWN
                              : MD_UNKNOWN;
            states |= st << (2 * k);
        }
        *p++ = (unsigned char)flags;
        *p++ = (unsigned char)(states & 0xff);
        *p++ = (unsigned char)(states >> 8);
        p = put_double(p, c->slot_start);
        if (c->model) {
            if (last >= n_models || strcmp(models[last], c->model) != 0) {
                for (last = 0; last < n_models; last++)
                    if (strcmp(models[last], c->model) == 0)
                        break;
                if (last == n_models) {
                    if (n_models == PACK_MAX_MODELS) {
                        free(out);
                        return NULL;
                    }
                    models[n_models++] = c->model;
                }
            }
            uint32_t idx = (uint32_t)last;
            memcpy(p, &idx, sizeof idx);
            p += sizeof idx;
        }
        for (int k = 0; k < UB_N; k++)
            if (((states >> (2 * k)) & 3u) == MD_KNOWN)
                p = put_double(p, c->b[k].value);
        p = put_double(p, c->events);
        if (c->parts.known) {
            double pv[USAGE_PARTS_N];
            usage_parts_flatten(&c->parts, pv);
            for (int k = 0; k < USAGE_PARTS_N; k++)
                p = put_double(p, pv[k]);
        }
    }
    json_t *names = json_array();
    for (size_t i = 0; i < n_models; i++)
        json_array_append_new(names, json_string(models[i]));
    if (json_array_size(names) != n_models) {   /* not UTF-8 */
        json_decref(names);
        free(out);
        return NULL;
    }
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", r->usage_generation);
    *blob = out;
    *blob_len = (size_t)(p - out);
    return json_pack("{s:o, s:s, s:[], s:{s:o, s:I, s:I}}", "since",
                     plain_number(r->usage_since), "generation", gen, "cells",
                     "packed", "models", names, "count",
                     (json_int_t)r->n_usage, "bytes", (json_int_t)*blob_len);
}

/* Reads n bytes at *p from a blob ending at end. */
static int take(const unsigned char **p, const unsigned char *end, void *dst,
                size_t n)
{
    if ((size_t)(end - *p) < n)
        return -1;
    memcpy(dst, *p, n);
    *p += n;
    return 0;
}

static int take_double(const unsigned char **p, const unsigned char *end,
                       double *v)
{
    return take(p, end, v, sizeof *v) != 0 || !isfinite(*v) ? -1 : 0;
}

/* One packed cell at *p into *out (model owned). */
static const char *cell_from_packed(const unsigned char **p,
                                    const unsigned char *end,
                                    const json_t *models, usage_cell_rec *out)
{
    unsigned char head[3];
    memset(out, 0, sizeof *out);
    if (take(p, end, head, sizeof head) != 0)
        return "packed cells are truncated";
    unsigned flags = head[0], states = head[1] | (unsigned)head[2] << 8;
    if (flags & ~(PACK_MODEL | PACK_PARTS) || states >> (2 * UB_N))
        return "a packed cell has unknown flags";
    if (take_double(p, end, &out->slot_start) != 0)
        return "a packed cell has a bad slot";
    if (flags & PACK_MODEL) {
        uint32_t idx;
        if (take(p, end, &idx, sizeof idx) != 0 ||
            idx >= json_array_size(models))
            return "a packed cell has a bad model";
        out->model = xstrdup(json_string_value(json_array_get(models, idx)));
    }
    for (int k = 0; k < UB_N; k++) {
        unsigned st = (states >> (2 * k)) & 3u;
        if (st == MD_KNOWN) {
            double v;
            if (take_double(p, end, &v) != 0 || v < 0)
                return "a packed cell bucket is not a number";
            out->b[k] = MD_NUM(v);
        } else if (st == MD_NOT_APPLICABLE) {
            out->b[k] = MD_NUM_NA;
        } else if (st != MD_UNKNOWN) {
            return "a packed cell has a bad bucket state";
        }
    }
    if (take_double(p, end, &out->events) != 0)
        return "a packed cell has bad events";
    if (flags & PACK_PARTS) {
        double pv[USAGE_PARTS_N];
        for (int k = 0; k < USAGE_PARTS_N; k++)
            if (take_double(p, end, &pv[k]) != 0)
                return "a packed cell's part is not a number";
        usage_parts_unflatten(&out->parts, pv);
    }
    return usage_cell_rec_problem(out);
}

/* Cell i of out, just read (why: its problem, or NULL), counts as taken
 * even when bad, so that its model is freed with out; then the checks
 * every cell passes whatever its form.  0, or -1 with *err. */
static int cell_taken(collect_result *out, size_t i, const char *why,
                      char **err)
{
    out->n_usage++;
    if (why)
        return err_set(err, "usage.cells[%zu]: %s", i, why);
    if (out->usage[i].slot_start < out->usage_since)
        return err_set(err, "usage.cells[%zu]: slot_start before since", i);
    return 0;
}

/* The cells of a "packed" object from blob (the bytes the frame carried
 * ahead of the JSON), as proto_usage_from_json reads them from "cells". */
static int usage_from_packed(const json_t *pk, const unsigned char *blob,
                             size_t blob_len, collect_result *out,
                             char **err)
{
    json_t *models = json_object_get(pk, "models");
    json_t *count = json_object_get(pk, "count");
    json_t *bytes = json_object_get(pk, "bytes");
    if (!blob || !json_is_array(models) || !json_is_integer(count) ||
        !json_is_integer(bytes) ||
        json_integer_value(bytes) != (json_int_t)blob_len ||
        json_integer_value(count) < 0 ||
        /* every cell takes at least its flags, states, slot and events */
        (uint64_t)json_integer_value(count) > blob_len / 19)
        return err_set(err, "collect result: bad packed cells");
    for (size_t i = 0; i < json_array_size(models); i++)
        if (!json_is_string(json_array_get(models, i)))
            return err_set(err, "collect result: a packed model is not a "
                                "string");
    size_t n = (size_t)json_integer_value(count);
    const unsigned char *p = blob, *end = blob + blob_len;
    out->usage = n ? xcalloc(n, sizeof *out->usage) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *why = cell_from_packed(&p, end, models, &out->usage[i]);
        if (cell_taken(out, i, why, err) != 0)
            return -1;
    }
    if (p != end)
        return err_set(err, "collect result: bytes after the packed cells");
    return 0;
}

int proto_usage_from_json(const json_t *u, const unsigned char *blob,
                          size_t blob_len, collect_result *out, char **err)
{
    if (!u || json_is_null(u))
        return 0;
    json_t *since = json_object_get(u, "since");
    json_t *cells = json_object_get(u, "cells");
    if (!json_is_object(u) || !json_is_number(since) ||
        !isfinite(json_number_value(since)) || json_number_value(since) < 0 ||
        !json_is_array(cells) ||
        usage_generation_from_json(json_object_get(u, "generation"),
                                   &out->usage_generation) != 0)
        return err_set(err, "collect result: bad \"usage\"");
    out->has_usage = 1;
    out->usage_since = json_number_value(since);
    json_t *packed = json_object_get(u, "packed");
    if (packed) {
        if (json_array_size(cells) != 0)
            return err_set(err, "collect result: cells both packed and not");
        return usage_from_packed(packed, blob, blob_len, out, err);
    }
    if (blob)
        return err_set(err, "collect result: packed bytes without cells");
    size_t n = json_array_size(cells);
    out->usage = n ? xcalloc(n, sizeof *out->usage) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *why = cell_from_json(json_array_get(cells, i),
                                         &out->usage[i]);
        if (cell_taken(out, i, why, err) != 0)
            return -1;
    }
    return 0;
}
