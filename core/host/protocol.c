/* protocol.c - the daemon <-> helper wire format: the job and the result
 * as JSON, and the result's framing (see protocol.h). */
#include "protocol.h"

#include <stddef.h>
#include "plugin_host.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "timeutil.h"
#include "unconst.h"

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

json_t *protocol_job_to_json(const provider_conf *pc, const char *state_dir,
                             long long remaining_ms,
                             unsigned long long usage_generation)
{
    json_t *job = json_object();
    json_t *secrets = json_array();
    json_object_set_new(job, "instance", json_string(pc->name));
    json_object_set_new(job, "plugin_path", json_string(pc->plugin_path));
    json_object_set_new(job, "options", pc->options
                                            ? json_deep_copy(pc->options)
                                            : json_object());
    json_object_set_new(job, "secret_options",
                        json_is_array(pc->secret_options)
                            ? json_deep_copy(pc->secret_options)
                            : json_array());
    size_t i;
    json_t *name;
    json_array_foreach(pc->secret_options, i, name) {
        json_t *v = json_object_get(pc->options, json_string_value(name));
        if (json_is_string(v))
            json_array_append(secrets, v);
    }
    json_object_set_new(job, "secrets", secrets);
    json_object_set_new(job, "state_dir",
                        state_dir ? json_string(state_dir) : json_null());
    json_object_set_new(job, "timeout_ms", json_integer(remaining_ms));
    json_object_set_new(job, "deadline_epoch",
                        json_real(time_now() + (double)remaining_ms / 1000.0));
    /* The helper logs at the daemon's level. */
    json_object_set_new(job, "log_level", json_integer(log_get_level()));
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", usage_generation);
    json_object_set_new(job, "usage_generation", json_string(gen));
    if (pc->memory_limit > 0)
        json_object_set_new(job, "memory_limit",
                            json_integer(pc->memory_limit));
    return job;
}

static const char *job_fields(const json_t *job, protocol_job *js)
{
    js->instance = json_string_value(json_object_get(job, "instance"));
    js->plugin_path = json_string_value(json_object_get(job, "plugin_path"));
    js->state_dir = json_string_value(json_object_get(job, "state_dir"));
    js->options = json_object_get(job, "options");
    js->secret_options = json_object_get(job, "secret_options");
    js->secrets = json_object_get(job, "secrets");
    if (!js->instance || !js->plugin_path)
        return "job lacks instance or plugin_path";
    if (js->options && !json_is_object(js->options))
        return "job options are not an object";
    json_t *ug = json_object_get(job, "usage_generation");
    if (ug && usage_generation_from_json(ug, &js->usage_generation) != 0)
        return "job has a bad usage_generation";
    json_t *ml = json_object_get(job, "memory_limit");
    if (ml && (!json_is_integer(ml) || json_integer_value(ml) <= 0))
        return "job has a bad memory_limit";
    js->memory_limit = ml ? json_integer_value(ml) : 0;
    json_t *lv = json_object_get(job, "log_level");
    if (json_is_integer(lv) && json_integer_value(lv) >= MD_LOG_ERROR &&
        json_integer_value(lv) <= MD_LOG_DEBUG)
        js->log_level = (int)json_integer_value(lv);
    return NULL;
}

int protocol_job_from_json(const json_t *job, protocol_job *out, char **err)
{
    *out = (protocol_job){.log_level = -1};
    if (!json_is_object(job))
        return err_set(err, "job is not an object");
    const char *bad = job_fields(job, out);
    json_t *t = json_object_get(job, "timeout_ms");
    if (!bad && !json_is_integer(t))
        bad = "job lacks timeout_ms";
    if (bad) {
        *out = (protocol_job){.log_level = -1};
        return err_set(err, "%s", bad);
    }
    out->budget_ms = json_integer_value(t);
    json_t *de = json_object_get(job, "deadline_epoch");
    if (json_is_number(de)) {
        /* The wall-clock deadline also counts the time the job spent in
         * transit; the smaller budget wins. */
        double left = (json_number_value(de) - time_now()) * 1000.0;
        if (isfinite(left) && left < (double)out->budget_ms)
            out->budget_ms = (long long)left;
    }
    if (out->budget_ms < 0)
        out->budget_ms = 0;
    return 0;
}

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

static json_t *usage_to_json(const collect_result *r)
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
static json_t *usage_to_packed(const collect_result *r, unsigned char **blob,
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

/* The cells of a "packed" object from blob (the bytes the frame carried
 * ahead of the JSON), as usage_from_json reads them from "cells". */
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
        out->n_usage++;   /* even a bad one: its model is freed with it */
        if (why)
            return err_set(err, "usage.cells[%zu]: %s", i, why);
        if (out->usage[i].slot_start < out->usage_since)
            return err_set(err, "usage.cells[%zu]: slot_start before since",
                           i);
    }
    if (p != end)
        return err_set(err, "collect result: bytes after the packed cells");
    return 0;
}

static int usage_from_json(const json_t *u, const unsigned char *blob,
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
        out->n_usage++;   /* even a bad one: its model is freed with it */
        if (why)
            return err_set(err, "usage.cells[%zu]: %s", i, why);
        if (out->usage[i].slot_start < out->usage_since)
            return err_set(err, "usage.cells[%zu]: slot_start before since",
                           i);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The result                                                          */
/* ------------------------------------------------------------------ */

static json_t *epoch_to_json(double t)
{
    return t > 0 ? time_to_json(MD_TIME(t)) : json_null();
}

/* The raw payload as a JSON value: parsed when it is JSON, else kept as a
 * string so nothing the provider said is lost. */
static json_t *raw_to_json(const char *raw)
{
    if (!raw)
        return json_null();
    json_t *v = json_loads(raw, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(raw);
}

/* The result as JSON; "usage" only when with_usage. */
static json_t *result_to_json(const collect_result *r, int with_usage)
{
    json_t *o = json_object();
    if (r->err == MD_ERR_NONE) {
        json_object_set_new(o, "error", json_null());
    } else {
        json_t *e = json_object();
        json_object_set_new(e, "class", json_string(md_error_name(r->err)));
        json_object_set_new(e, "message", str_or_null(r->err_msg));
        json_object_set_new(o, "error", e);
    }
    json_object_set_new(o, "retry_after",
                        r->retry_after >= 0 && isfinite(r->retry_after)
                            ? json_real(r->retry_after)
                            : json_null());
    json_t *ms = json_array(), *ns = json_array();
    for (size_t i = 0; i < r->n_metrics; i++)
        json_array_append_new(ms, metric_to_json(&r->metrics[i]));
    for (size_t i = 0; i < r->n_notes; i++)
        json_array_append_new(ns, str_or_null(r->notes[i]));
    json_object_set_new(o, "metrics", ms);
    json_object_set_new(o, "notes", ns);
    json_object_set_new(o, "raw", raw_to_json(r->raw_json));
    json_object_set_new(o, "started_at", epoch_to_json(r->started_at));
    json_object_set_new(o, "finished_at", epoch_to_json(r->finished_at));
    if (r->has_usage && with_usage)
        json_object_set_new(o, "usage", usage_to_json(r));
    return o;
}

json_t *protocol_result_to_json(const collect_result *r)
{
    return result_to_json(r, 1);
}

static int error_from_json(const json_t *e, collect_result *out)
{
    if (!e || json_is_null(e))
        return 0;
    json_t *cls = json_object_get(e, "class");
    json_t *msg = json_object_get(e, "message");
    if (!json_is_object(e) || !json_is_string(cls) ||
        (msg && !json_is_null(msg) && !json_is_string(msg)))
        return -1;
    out->err = md_error_from_name(json_string_value(cls));
    out->err_msg = msg && json_is_string(msg)
                       ? xstrdup(json_string_value(msg))
                       : NULL;
    return 0;
}

static int metrics_from_json(const json_t *arr, collect_result *out,
                             char **err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return err_set(err, "\"metrics\" is not an array");
    size_t n = json_array_size(arr);
    out->metrics = n ? xcalloc(n, sizeof *out->metrics) : NULL;
    for (size_t i = 0; i < n; i++) {
        char *why = NULL;
        if (metric_from_json(json_array_get(arr, i), &out->metrics[i],
                             &why) != 0) {
            int rc = err_set(err, "metrics[%zu]: %s", i, why);
            free(why);
            return rc;
        }
        out->n_metrics++;
    }
    return 0;
}

static int notes_from_json(const json_t *arr, collect_result *out)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return -1;
    size_t n = json_array_size(arr);
    out->notes = n ? xcalloc(n, sizeof *out->notes) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return -1;
        out->notes[out->n_notes++] = xstrdup(json_string_value(s));
    }
    return 0;
}

/* Epoch member: null/absent -> 0, RFC 3339 or number -> seconds. */
static int get_epoch(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    md_time t;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (time_from_json(v, &t) != 0 || !isfinite(t.epoch) || t.epoch < 0)
        return -1;
    *out = t.epoch;
    return 0;
}

static const char *scalars_from_json(const json_t *obj, collect_result *out)
{
    if (error_from_json(json_object_get(obj, "error"), out) != 0)
        return "bad \"error\"";
    json_t *ra = json_object_get(obj, "retry_after");
    if (ra && !json_is_null(ra)) {
        if (!json_is_number(ra) || !isfinite(json_number_value(ra)) ||
            json_number_value(ra) < 0)
            return "bad \"retry_after\"";
        out->retry_after = json_number_value(ra);
    }
    if (notes_from_json(json_object_get(obj, "notes"), out) != 0)
        return "bad \"notes\"";
    json_t *raw = json_object_get(obj, "raw");
    if (raw && !json_is_null(raw))
        /* Dumping any value (a string too) reproduces the same JSON on
         * the next protocol_result_to_json. */
        out->raw_json = json_dumps(raw, JSON_COMPACT | JSON_ENCODE_ANY);
    if (get_epoch(obj, "started_at", &out->started_at) != 0)
        return "bad \"started_at\"";
    if (get_epoch(obj, "finished_at", &out->finished_at) != 0)
        return "bad \"finished_at\"";
    return NULL;
}

/* protocol_result_from_json with the packed bytes a frame carried (blob
 * NULL: none, and "packed" cells are an error). */
static int result_from_json(const json_t *obj, const unsigned char *blob,
                            size_t blob_len, collect_result *out, char **err)
{
    collect_result_init(out);
    if (!json_is_object(obj))
        return err_set(err, "collect result is not an object");
    const char *bad = scalars_from_json(obj, out);
    if (bad) {
        collect_result_clear(out);
        return err_set(err, "collect result: %s", bad);
    }
    if (metrics_from_json(json_object_get(obj, "metrics"), out, err) != 0 ||
        usage_from_json(json_object_get(obj, "usage"), blob, blob_len, out,
                        err) != 0) {
        collect_result_clear(out);
        return -1;
    }
    return 0;
}

int protocol_result_from_json(const json_t *obj, collect_result *out,
                              char **err)
{
    return result_from_json(obj, NULL, 0, out, err);
}

/* ------------------------------------------------------------------ */
/* Framing                                                             */
/* ------------------------------------------------------------------ */

/* "P<bytes>\n": the header of a frame with packed cells; at most this
 * long with its newline. */
#define PACK_HEAD_MAX 24

char *protocol_result_encode(const collect_result *r, size_t *len)
{
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    json_t *packed = r->has_usage && r->n_usage
                         ? usage_to_packed(r, &blob, &blob_len)
                         : NULL;
    json_t *j = result_to_json(r, packed == NULL);
    if (packed)
        json_object_set_new(j, "usage", packed);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    *len = 0;
    if (!text) {
        free(blob);
        return NULL;
    }
    char head[PACK_HEAD_MAX] = "";
    if (blob)
        snprintf(head, sizeof head, "P%zu\n", blob_len);
    size_t h = strlen(head), n = strlen(text);
    char *framed = xmalloc(h + blob_len + n + 2);
    memcpy(framed, head, h);
    if (blob_len)
        memcpy(framed + h, blob, blob_len);
    memcpy(framed + h + blob_len, text, n);
    framed[h + blob_len + n] = '\n';
    framed[h + blob_len + n + 1] = '\0';
    free(text);
    free(blob);
    *len = h + blob_len + n + 1;
    return framed;
}

/* The packed header of buf: 1 with *head (its length with the newline)
 * and *bytes, 0 when buf has none, -1 when it is malformed, -2 when it
 * is not complete yet. */
static int pack_head(const char *buf, size_t len, size_t *head,
                     size_t *bytes)
{
    if (len == 0 || buf[0] != 'P')
        return 0;
    size_t v = 0, i = 1;
    for (; i < len && i < PACK_HEAD_MAX && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (size_t)(buf[i] - '0');
    if (i == len && i < PACK_HEAD_MAX)
        return -2;
    if (i == 1 || i >= PACK_HEAD_MAX || buf[i] != '\n' ||
        v > PROTOCOL_RESULT_MAX)
        return -1;
    *head = i + 1;
    *bytes = v;
    return 1;
}

int protocol_result_complete(const char *buf, size_t len)
{
    size_t head = 0, bytes = 0;
    int rc = pack_head(buf, len, &head, &bytes);
    if (rc == -2 || (rc == 1 && len <= head + bytes))
        return 0;
    return len > 0 && buf[len - 1] == '\n';
}

int protocol_result_decode(const char *buf, size_t len, collect_result *out,
                           char **err)
{
    collect_result_init(out);
    if (len == 0)
        return err_set(err, "no output");
    if (len > PROTOCOL_RESULT_MAX)
        return err_set(err, "result larger than %zu bytes",
                       PROTOCOL_RESULT_MAX);
    size_t head = 0, bytes = 0;
    int packed = pack_head(buf, len, &head, &bytes);
    if (packed < 0)
        return err_set(err, "malformed packed-cells header");
    if (packed && bytes > len - head)
        return err_set(err, "packed cells are truncated");
    const unsigned char *blob =
        packed ? (const unsigned char *)buf + head : NULL;
    size_t skip = packed ? head + bytes : 0;
    json_error_t jerr;
    json_t *j = json_loadb(buf + skip, len - skip, 0, &jerr);
    if (!j)
        return err_set(err, "%s", jerr.text);
    int rc = result_from_json(j, blob, bytes, out, err);
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The probe: descriptor facts                                         */
/* ------------------------------------------------------------------ */

json_t *protocol_facts_to_json(const md_plugin *d)
{
    json_t *opts = json_array();
    for (const md_option *o = d->options; o && o->name; o++)
        json_array_append_new(opts, json_pack(
            "{s:s, s:i, s:b, s:o, s:o}", "name", o->name, "type", (int)o->type,
            "required", o->required != 0, "default",
            str_or_null(o->default_value), "help", str_or_null(o->help)));
    int has_intervals = d->struct_size >= offsetof(md_plugin, min_interval_ms) +
                                              sizeof d->min_interval_ms;
    json_t *env = json_array();
    if (d->struct_size >= offsetof(md_plugin, env) + sizeof d->env)
        for (const char *const *e = d->env; e && *e; e++)
            json_array_append_new(env, json_string(*e));
    return json_pack("{s:o, s:o, s:o, s:i, s:i, s:o, s:I, s:I, s:I, s:b}",
                     "env", env,
                     "name", str_or_null(d->name),
                     "version", str_or_null(d->version),
                     "abi_major", (int)d->abi_major,
                     "abi_minor", (int)d->abi_minor, "options", opts,
                     "default_interval_ms",
                     (json_int_t)(has_intervals ? d->default_interval_ms : 0),
                     "min_interval_ms",
                     (json_int_t)(has_intervals ? d->min_interval_ms : 0),
                     "produces", (json_int_t)plugin_produces(d),
                     "has_check", d->check != NULL);
}

static char *dup_or_null(const json_t *v)
{
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

void probe_facts_release(probe_facts *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_options; i++) {
        free_owned_str(f->options[i].name);
        free_owned_str(f->options[i].default_value);
        free_owned_str(f->options[i].help);
    }
    free(f->options);
    json_decref(f->env);
    free(f->name);
    free(f->version);
    memset(f, 0, sizeof *f);
}

int protocol_facts_from_json(const json_t *j, probe_facts *out, char **err)
{
    memset(out, 0, sizeof *out);
    json_t *opts = json_object_get(j, "options");
    if (!json_is_object(j) || !json_is_array(opts))
        return err_set(err, "descriptor facts are not an object with options");
    out->name = dup_or_null(json_object_get(j, "name"));
    out->version = dup_or_null(json_object_get(j, "version"));
    out->abi_major = (unsigned)json_integer_value(json_object_get(j, "abi_major"));
    out->abi_minor = (unsigned)json_integer_value(json_object_get(j, "abi_minor"));
    out->default_interval_ms =
        json_integer_value(json_object_get(j, "default_interval_ms"));
    out->min_interval_ms =
        json_integer_value(json_object_get(j, "min_interval_ms"));
    out->produces = (unsigned)json_integer_value(json_object_get(j, "produces"));
    out->has_check = json_is_true(json_object_get(j, "has_check"));
    json_t *env = json_object_get(j, "env");
    out->env = json_is_array(env) ? json_incref(env) : json_array();
    out->options = xcalloc(json_array_size(opts) + 1, sizeof *out->options);
    size_t i;
    json_t *o;
    json_array_foreach(opts, i, o) {
        json_t *name = json_object_get(o, "name");
        json_t *type = json_object_get(o, "type");
        if (!json_is_string(name) || !json_is_integer(type)) {
            probe_facts_release(out);
            return err_set(err, "descriptor option %zu has no name or type", i);
        }
        md_option *m = &out->options[out->n_options++];
        m->name = xstrdup(json_string_value(name));
        m->type = (md_opt_type)json_integer_value(type);
        m->required = json_is_true(json_object_get(o, "required"));
        m->default_value = dup_or_null(json_object_get(o, "default"));
        m->help = dup_or_null(json_object_get(o, "help"));
    }
    return 0;
}

md_plugin probe_facts_descriptor(const probe_facts *f)
{
    return (md_plugin){
        .abi_major = (uint16_t)f->abi_major,
        .abi_minor = (uint16_t)f->abi_minor,
        .struct_size = sizeof(md_plugin),
        .name = f->name,
        .version = f->version,
        .options = f->options,
        .default_interval_ms = f->default_interval_ms,
        .min_interval_ms = f->min_interval_ms,
        .produces = f->produces,
    };
}
