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
    json_object_set_new(e, "data", v->data ? collect_result_to_json(v->data)
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

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory so the rename itself is durable. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

/* Write text to a fresh temp file in dir; returns its malloc'd path. */
static char *write_temp(const char *dir, const char *text, char **err)
{
    char *tmp = xasprintf("%s/." SNAPSHOT_FILE ".XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fail(err, xasprintf("cannot create %s: %s", tmp, strerror(errno)));
        free(tmp);
        return NULL;
    }
    /* Records may name accounts; keep them private like the state dir. */
    int bad = fchmod(fd, 0600) != 0 || write_all(fd, text, strlen(text)) != 0 ||
              fsync(fd) != 0;
    int saved = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        fail(err, xasprintf("cannot write %s: %s", tmp, strerror(saved)));
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

int snapshot_save(const char *state_dir, const provider_view *v, size_t n,
                  char **err)
{
    char *text = snapshot_text(v, n);
    if (!text)
        return fail(err, xstrdup("cannot encode snapshot"));
    char *tmp = write_temp(state_dir, text, err);
    free(text);
    if (!tmp)
        return -1;
    char *path = xasprintf("%s/" SNAPSHOT_FILE, state_dir);
    int rc = 0;
    if (rename(tmp, path) != 0) {
        rc = fail(err, xasprintf("cannot rename %s to %s: %s", tmp, path,
                                 strerror(errno)));
        unlink(tmp);
    } else if (fsync_dir(state_dir) != 0) {
        rc = fail(err, xasprintf("cannot fsync %s: %s", state_dir,
                                 strerror(errno)));
    }
    free(tmp);
    free(path);
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
    if (collect_result_from_json(data, &out->data, &why) != 0) {
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

/* Move a corrupt file aside and build the error message. */
static char *move_aside(const char *path, const char *why)
{
    char *aside = xasprintf("%s.corrupt-%lld", path, (long long)time(NULL));
    char *msg;
    if (rename(path, aside) == 0)
        msg = xasprintf("%s is corrupt (%s); moved aside to %s", path, why,
                        aside);
    else
        msg = xasprintf("%s is corrupt (%s); could not move it aside: %s",
                        path, why, strerror(errno));
    free(aside);
    return msg;
}

int snapshot_load(const char *state_dir, snapshot_entry **out, size_t *n,
                  char **err)
{
    *out = NULL;
    *n = 0;
    char *path = xasprintf("%s/" SNAPSHOT_FILE, state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        int rc = e == ENOENT ? 1
                             : fail(err, xasprintf("cannot open %s: %s", path,
                                                   strerror(e)));
        free(path);
        return rc;
    }
    json_error_t jerr;
    json_t *doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    close(fd);
    char *why = doc ? doc_from_json(doc, out, n)
                    : xasprintf("line %d: %s", jerr.line, jerr.text);
    json_decref(doc);
    int rc = 0;
    if (why) {
        rc = fail(err, move_aside(path, why));
        free(why);
    }
    free(path);
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
        collect_result_free(&e[i].data);
    }
    free(e);
}
