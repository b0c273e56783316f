/* protocol.c - the daemon <-> helper wire format: the job and the result
 * as JSON, and the result's framing (see protocol.h).  The usage cells
 * of a result, JSON or packed, are protocol_usage.c. */
#include "protocol_int.h"

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
/* The result                                                          */
/* ------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

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
        json_object_set_new(o, "usage", proto_usage_to_json(r));
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
        proto_usage_from_json(json_object_get(obj, "usage"), blob, blob_len, out,
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
                         ? proto_usage_to_packed(r, &blob, &blob_len)
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
