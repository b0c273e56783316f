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

/* One JSON document, one provider per line: the header line, then each
 * entry on its own line (compact JSON never holds a raw newline), then
 * the closing line.  Any JSON reader takes it whole; snapshot_load can
 * also take it line by line, so one entry the parser cannot read (too
 * deep, say) costs only that provider. */
static char *snapshot_text(const provider_view *v, size_t n)
{
    json_t *head = json_pack("{s:s, s:o}", "schema", SNAPSHOT_SCHEMA,
                             "saved_at", epoch_or_null(time_now()));
    char *h = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(head);
    if (!h)
        return NULL;
    size_t len = strlen(h), cap = len + 64;
    char *text = xmalloc(cap);
    /* {"schema":..,"saved_at":..} -> {"schema":..,"saved_at":..,"providers":[ */
    memcpy(text, h, len - 1);
    len--;
    free(h);
    static const char open_list[] = ",\"providers\":[\n";
    memcpy(text + len, open_list, sizeof open_list - 1);
    len += sizeof open_list - 1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = entry_to_json(&v[i]);
        char *line = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(e);
        if (!line) {
            free(text);
            return NULL;
        }
        size_t l = strlen(line);
        if (len + l + 8 > cap) {
            cap = 2 * (len + l + 8);
            text = xrealloc(text, cap);
        }
        memcpy(text + len, line, l);
        len += l;
        if (i + 1 < n)
            text[len++] = ',';
        text[len++] = '\n';
        free(line);
    }
    if (len + 4 > cap)
        text = xrealloc(text, len + 4);
    memcpy(text + len, "]}\n", 4);
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

static void snapshot_entries_free_one(snapshot_entry *e)
{
    free(e->name);
    free(e->plugin);
    free(e->err_msg);
    collect_result_clear(&e->data);
}

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

/* Entries kept so far and why others were left out. */
typedef struct loader {
    snapshot_entry *e;
    size_t n, cap;
    char *skipped;          /* malloc'd "; "-joined reasons, or NULL */
} loader;

static void skip(loader *l, char *why)
{
    char *joined = l->skipped ? xasprintf("%s; %s", l->skipped, why)
                              : xstrdup(why);
    free(l->skipped);
    free(why);
    l->skipped = joined;
}

/* Validate one entry; a bad one is skipped (noted), never fatal. */
static void take_entry(loader *l, const json_t *j, size_t index)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->e = xrealloc(l->e, l->cap * sizeof *l->e);
    }
    snapshot_entry *e = &l->e[l->n];
    memset(e, 0, sizeof *e);
    collect_result_init(&e->data);
    char *why = entry_from_json(j, e);
    if (!why) {
        l->n++;
        return;
    }
    skip(l, xasprintf("providers[%zu]: %s", index, why));
    free(why);
    snapshot_entries_free_one(e);
}

static char *check_schema(const json_t *doc)
{
    json_t *schema = json_object_get(doc, "schema");
    if (!json_is_object(doc) || !json_is_string(schema) ||
        strcmp(json_string_value(schema), SNAPSHOT_SCHEMA) != 0)
        return xstrdup("not a " SNAPSHOT_SCHEMA " document");
    return NULL;
}

/* The whole document parsed: every valid entry is taken. */
static char *doc_from_json(const json_t *doc, loader *l)
{
    char *why = check_schema(doc);
    if (why)
        return why;
    json_t *provs = json_object_get(doc, "providers");
    if (!json_is_array(provs))
        return xstrdup("\"providers\" is not an array");
    for (size_t i = 0; i < json_array_size(provs); i++)
        take_entry(l, json_array_get(provs, i), i);
    return NULL;
}

/* The document does not parse as a whole: read it as snapshot_text
 * wrote it, line by line.  The header line and the closing line must be
 * there (else the file is corrupt); an entry line that does not parse is
 * skipped. */
static char *lines_from_text(char *text, loader *l, const char *whole_error)
{
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    static const char tail[] = ",\"providers\":[";
    size_t hl = line ? strlen(line) : 0;
    if (!line || hl < sizeof tail ||
        strcmp(line + hl - (sizeof tail - 1), tail) != 0)
        return xstrdup(whole_error);
    line[hl - (sizeof tail - 1)] = '}';
    line[hl - (sizeof tail - 1) + 1] = '\0';
    json_t *head = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
    char *why = head ? check_schema(head) : xstrdup(whole_error);
    json_decref(head);
    if (why)
        return why;
    size_t index = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (strcmp(line, "]}") == 0)
            return NULL;
        size_t len = strlen(line);
        if (len && line[len - 1] == ',')
            line[--len] = '\0';
        json_error_t je;
        json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &je);
        if (j)
            take_entry(l, j, index);
        else
            skip(l, xasprintf("providers[%zu]: not readable JSON (%s)", index,
                              je.text));
        json_decref(j);
        index++;
    }
    return xstrdup(whole_error);   /* cut short: no closing line */
}

/* Read dir/SNAPSHOT_FILE whole (not following a symbolic link).  1 when
 * missing, 0 with *text, -1 with *err. */
static int read_text(const char *dir, char **text, char **err)
{
    char *path = xasprintf("%s/" SNAPSHOT_FILE, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        int rc = e == ENOENT ? 1
                             : fail(err, xasprintf("cannot read %s: %s", path,
                                                   strerror(e)));
        free(path);
        return rc;
    }
    size_t len = 0, cap = 65536;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            int rc = fail(err, xasprintf("cannot read %s: %s", path,
                                         strerror(e)));
            free(path);
            return rc;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    free(path);
    buf[len] = '\0';
    *text = buf;
    return 0;
}

int snapshot_load(const char *state_dir, snapshot_entry **out, size_t *n,
                  char **err)
{
    *out = NULL;
    *n = 0;
    char *text = NULL;
    int rc = read_text(state_dir, &text, err);
    if (rc != 0)
        return rc;
    loader l = {.e = NULL, .n = 0, .cap = 0, .skipped = NULL};
    json_error_t je;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    char *why;
    if (doc) {
        why = doc_from_json(doc, &l);
        json_decref(doc);
    } else {
        char *whole = xasprintf("invalid JSON at line %d column %d: %s",
                                je.line, je.column, je.text);
        why = lines_from_text(text, &l, whole);
        free(whole);
    }
    free(text);
    if (why) {
        snapshot_entries_free(l.e, l.n);
        free(l.skipped);
        rc = fail(err, statefile_move_aside(state_dir, SNAPSHOT_FILE, why));
        free(why);
        return rc;
    }
    *out = l.e;
    *n = l.n;
    if (l.skipped && err)
        *err = xasprintf("%s: left out %s", SNAPSHOT_FILE, l.skipped);
    free(l.skipped);
    return 0;
}

void snapshot_entries_free(snapshot_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        snapshot_entries_free_one(&e[i]);
    free(e);
}
