/* snapshot.c - crash-safe persistence of every provider's last state.
 *
 * The snapshot is what lets a restarted daemon answer at once with the
 * last good records (served_from "snapshot") instead of nothing.  It is
 * written atomically (temp file + fsync + rename + directory fsync) so a
 * crash or power cut leaves either the old or the new file, never half of
 * one.  A file that does not validate is moved aside rather than deleted,
 * so an operator can still look at it. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "statefile.h"
#include "timeutil.h"

#define SNAPSHOT_SCHEMA "meterd.snapshot.v1"
#define SNAPSHOT_FILE "snapshot.json"

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

static json_t *epoch_or_null(double t)
{
    return t > 0 ? time_to_json(MD_TIME(t)) : json_null();
}

/* ------------------------------------------------------------------ */
/* Save                                                                */
/* ------------------------------------------------------------------ */

static json_t *entry_to_json(const provider_view *v)
{
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(v->name ? v->name : ""));
    json_object_set_new(e, "plugin", json_string(v->plugin ? v->plugin : ""));
    json_object_set_new(e, "status",
                        json_string(provider_status_name(v->status)));
    if (v->err == MD_ERR_NONE)
        json_object_set_new(e, "error", json_null());
    else
        json_object_set_new(
            e, "error",
            json_pack("{s:s, s:o}", "class", md_error_name(v->err), "message",
                      v->err_msg ? json_string(v->err_msg) : json_null()));
    json_object_set_new(e, "last_attempt_at", epoch_or_null(v->last_attempt_at));
    json_object_set_new(e, "data", v->data ? protocol_result_to_json(v->data)
                                           : json_null());
    return e;
}

static char *snapshot_text(const provider_view *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, entry_to_json(&v[i]));
    json_t *doc = json_pack("{s:s, s:o, s:o}", "schema", SNAPSHOT_SCHEMA,
                            "saved_at", epoch_or_null(time_now()),
                            "providers", arr);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(doc);
    return text;   /* NULL only on out-of-memory inside jansson */
}

int snapshot_save(const char *state_dir, const provider_view *v, size_t n,
                  char **err)
{
    char *text = snapshot_text(v, n);
    if (!text)
        return fail(err, xstrdup("cannot encode snapshot"));
    int rc = statefile_write(state_dir, SNAPSHOT_FILE, text, err);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Load                                                                */
/* ------------------------------------------------------------------ */

static int status_from_name(const char *s, provider_status *out)
{
    static const provider_status all[] = {PSTAT_PENDING, PSTAT_OK,
                                          PSTAT_ERROR, PSTAT_DISABLED};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, provider_status_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

static int entry_error_from_json(const json_t *e, snapshot_entry *out)
{
    if (!e || json_is_null(e))
        return 0;
    json_t *cls = json_object_get(e, "class"), *msg = json_object_get(e, "message");
    if (!json_is_string(cls) || (msg && !json_is_null(msg) && !json_is_string(msg)))
        return -1;
    out->err = md_error_from_name(json_string_value(cls));
    out->err_msg = json_is_string(msg) ? xstrdup(json_string_value(msg)) : NULL;
    return 0;
}

static int attempt_from_json(const json_t *t, double *out)
{
    *out = 0;
    if (!t || json_is_null(t))
        return 0;
    if (json_is_number(t)) {
        *out = json_number_value(t);
        return isfinite(*out) && *out >= 0 ? 0 : -1;
    }
    return json_is_string(t) ? rfc3339_parse(json_string_value(t), out) : -1;
}

/* Fill *out from one providers[] element; returns NULL or a malloc'd
 * reason.  *out is always safe to free with snapshot_entries_free. */
static char *entry_from_json(const json_t *j, snapshot_entry *out)
{
    json_t *name = json_object_get(j, "name"), *plugin = json_object_get(j, "plugin");
    if (!json_is_object(j) || !json_is_string(name) ||
        !*json_string_value(name) || !json_is_string(plugin))
        return xstrdup("entry without name or plugin");
    out->name = xstrdup(json_string_value(name));
    out->plugin = xstrdup(json_string_value(plugin));
    json_t *st = json_object_get(j, "status");
    if (!json_is_string(st) ||
        status_from_name(json_string_value(st), &out->status) != 0)
        return xasprintf("%s: bad status", out->name);
    if (entry_error_from_json(json_object_get(j, "error"), out) != 0)
        return xasprintf("%s: bad error", out->name);
    if (attempt_from_json(json_object_get(j, "last_attempt_at"),
                          &out->last_attempt_at) != 0)
        return xasprintf("%s: bad last_attempt_at", out->name);
    json_t *data = json_object_get(j, "data");
    if (!data || json_is_null(data))
        return NULL;
    char *why = NULL;
    if (protocol_result_from_json(data, &out->data, &why) != 0) {
        char *msg = xasprintf("%s: %s", out->name, why ? why : "bad data");
        free(why);
        return msg;
    }
    out->has_data = 1;
    return NULL;
}

static char *doc_from_json(const json_t *doc, snapshot_entry **out, size_t *n)
{
    json_t *schema = json_object_get(doc, "schema");
    if (!json_is_object(doc) || !json_is_string(schema) ||
        strcmp(json_string_value(schema), SNAPSHOT_SCHEMA) != 0)
        return xstrdup("not a " SNAPSHOT_SCHEMA " document");
    json_t *provs = json_object_get(doc, "providers");
    if (!json_is_array(provs))
        return xstrdup("\"providers\" is not an array");
    size_t count = json_array_size(provs);
    snapshot_entry *e = xcalloc(count ? count : 1, sizeof *e);
    for (size_t i = 0; i < count; i++) {
        collect_result_init(&e[i].data);
        char *why = entry_from_json(json_array_get(provs, i), &e[i]);
        if (why) {
            char *msg = xasprintf("providers[%zu]: %s", i, why);
            free(why);
            snapshot_entries_free(e, i + 1);
            return msg;
        }
    }
    *out = e;
    *n = count;
    return NULL;
}

int snapshot_load(const char *state_dir, snapshot_entry **out, size_t *n,
                  char **err)
{
    *out = NULL;
    *n = 0;
    json_t *doc;
    int rc = statefile_read(state_dir, SNAPSHOT_FILE, &doc, err);
    if (rc != 0)
        return rc;
    char *why = doc_from_json(doc, out, n);
    json_decref(doc);
    if (why) {
        rc = fail(err, statefile_move_aside(state_dir, SNAPSHOT_FILE, why));
        free(why);
    }
    return rc;
}

void snapshot_entries_free(snapshot_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].plugin);
        free(e[i].err_msg);
        collect_result_clear(&e[i].data);
    }
    free(e);
}
