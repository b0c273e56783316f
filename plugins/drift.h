/*
 * plugins/drift.h - make provider format drift visible, not silent.
 * Header-only (static functions), built into each provider plugin; it uses
 * only the public SDK (meterd/plugin.h) and jansson.
 *
 * A provider that renames a field, adds one, or changes a field's type
 * still gets its collection through with what the plugin could read; the
 * plugin then tells the user once a day per field:
 *
 *   unrecognised field data.level (format may have changed)
 *
 * The plugin lists, for each object it maps, the member names it knows
 * (mapped or knowingly ignored); drift_keys() notes every other member.
 * drift_type() notes a known member whose JSON type the plugin does not
 * accept.  The raw payload stays available through include_raw (the
 * plugin calls host->set_raw as before).
 *
 *   drift d;
 *   drift_init(&d, h, ctx);
 *   drift_keys(&d, doc, "data", data_known);
 *   ...
 *   drift_release(&d, rc == 0);     remembers today's notes on success
 *
 * Invariants:
 *   - "Once per field per day" is remembered in <state_dir>/drift.json:
 *     {"day": <days since the epoch, UTC>, "noted": [<field>, ...]}; a new
 *     day starts an empty list.  Without a state directory (check-only
 *     runs) every collection notes again: visible beats silent.
 *   - The file is written only by drift_release(d, 1), i.e. when the
 *     collection succeeded: a failed collection's notes are discarded by
 *     the host, so they must be noted again next time.
 *   - The file is read-mostly and tiny; a missing or unreadable file is an
 *     empty list, never an error.  Writes go to a temporary file renamed
 *     into place, so a reader never sees half a file.
 *   - drift owns d->state (a jansson reference); drift_release frees it.
 *     Field names passed in are copied into the state; nothing is
 *     borrowed past the call.
 *   - Field names longer than DRIFT_MAX_FIELD are cut; at most
 *     DRIFT_MAX_NOTES notes per collection (a wholly new format does not
 *     flood the output), the rest summarised in one note.
 */
#ifndef METERD_DRIFT_H
#define METERD_DRIFT_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meterd/plugin.h"

#if defined(__GNUC__)
#define DRIFT_UNUSED __attribute__((unused))
#else
#define DRIFT_UNUSED
#endif

#define DRIFT_MAX_FIELD 120
#define DRIFT_MAX_NOTES 8
#define DRIFT_FILE "drift.json"

typedef struct drift {
    const md_host *h;
    md_ctx *ctx;
    json_t *state;     /* {"day": n, "noted": [...]}, owned              */
    long long day;     /* today, days since the epoch (UTC)             */
    int dirty;         /* state gained a field this collection          */
    int n_notes;       /* notes made this collection                    */
    int n_dropped;     /* notes over DRIFT_MAX_NOTES                    */
} drift;

/* <state_dir>/<name> as a new string, or NULL without a state dir. */
static DRIFT_UNUSED char *drift_path(const drift *d, const char *name)
{
    const char *dir = d->h->state_dir ? d->h->state_dir(d->ctx) : NULL;
    if (!dir || !*dir)
        return NULL;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static DRIFT_UNUSED void drift_init(drift *d, const md_host *h, md_ctx *ctx)
{
    memset(d, 0, sizeof *d);
    d->h = h;
    d->ctx = ctx;
    d->day = (long long)floor(h->now(ctx) / 86400.0);
    char *path = drift_path(d, DRIFT_FILE);
    json_t *s = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    json_t *day = json_object_get(s, "day");
    if (!json_is_object(s) || !json_is_integer(day) ||
        json_integer_value(day) != d->day ||
        !json_is_array(json_object_get(s, "noted"))) {
        json_decref(s);
        s = json_pack("{s:I, s:[]}", "day", (json_int_t)d->day, "noted");
    }
    d->state = s;   /* NULL only when out of memory: then note every time */
}

/* Whether field was already noted today. */
static DRIFT_UNUSED int drift_seen(const drift *d, const char *field)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(d->state, "noted"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), field) == 0)
            return 1;
    return 0;
}

/* Note one unrecognised field (a dotted path), once per day. */
static DRIFT_UNUSED void drift_note(drift *d, const char *field)
{
    char f[DRIFT_MAX_FIELD + 1];
    snprintf(f, sizeof f, "%s", field);
    if (drift_seen(d, f))
        return;
    if (d->n_notes >= DRIFT_MAX_NOTES) {
        d->n_dropped++;
        return;
    }
    d->n_notes++;
    d->h->note(d->ctx, "unrecognised field %s (format may have changed)", f);
    if (json_array_append_new(json_object_get(d->state, "noted"),
                              json_string(f)) == 0)
        d->dirty = 1;
}

/* "prefix.key", or "key" when prefix is NULL or empty. */
static DRIFT_UNUSED void drift_join(char *out, size_t len, const char *prefix,
                                    const char *key)
{
    if (prefix && *prefix)
        snprintf(out, len, "%s.%s", prefix, key);
    else
        snprintf(out, len, "%s", key);
}

/* Note every member of obj (when it is an object) whose name is not in
 * known (NULL-terminated); fields are named "prefix.member".  Returns the
 * number of unknown members. */
static DRIFT_UNUSED int drift_keys(drift *d, const json_t *obj,
                                   const char *prefix,
                                   const char *const *known)
{
    const char *key;
    json_t *v;
    int n = 0;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, key, v) {
        size_t i;
        for (i = 0; known[i]; i++)
            if (strcmp(known[i], key) == 0)
                break;
        if (known[i])
            continue;
        char f[DRIFT_MAX_FIELD + 1];
        drift_join(f, sizeof f, prefix, key);
        drift_note(d, f);
        n++;
    }
    return n;
}

/* JSON types a mapped member may have; null always passes (unknown). */
enum {
    DRIFT_T_NUM = 1,      /* number, or numeric string (providers mix)   */
    DRIFT_T_STR = 2,
    DRIFT_T_BOOL = 4,
    DRIFT_T_OBJ = 8,
    DRIFT_T_ARR = 16,
};

/* Note obj.member when it is present with a type outside accepted (a
 * DRIFT_T_* mask); a string passes DRIFT_T_NUM only when it parses as a
 * number.  Returns 1 when noted (or already noted today), else 0. */
static DRIFT_UNUSED int drift_type(drift *d, const json_t *obj,
                                   const char *prefix, const char *member,
                                   int accepted)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, member) : NULL;
    double num;
    if (!v || json_is_null(v))
        return 0;
    if (((accepted & DRIFT_T_NUM) && json_is_number(v)) ||
        ((accepted & DRIFT_T_NUM) && json_is_string(v) &&
         d->h->parse_number(json_string_value(v), &num) == 0) ||
        ((accepted & DRIFT_T_STR) && json_is_string(v)) ||
        ((accepted & DRIFT_T_BOOL) && json_is_boolean(v)) ||
        ((accepted & DRIFT_T_OBJ) && json_is_object(v)) ||
        ((accepted & DRIFT_T_ARR) && json_is_array(v)))
        return 0;
    char f[DRIFT_MAX_FIELD + 1];
    drift_join(f, sizeof f, prefix, member);
    drift_note(d, f);
    return 1;
}

/* Remember today's notes when the collection succeeded (ok != 0), then
 * free d's state.  A failure to write only costs a repeated note. */
static DRIFT_UNUSED void drift_release(drift *d, int ok)
{
    if (d->n_dropped > 0)
        d->h->note(d->ctx, "%d more unrecognised fields (format may have "
                   "changed; see include_raw)", d->n_dropped);
    char *path = ok && d->dirty ? drift_path(d, DRIFT_FILE) : NULL;
    char *tmp = path ? drift_path(d, DRIFT_FILE ".tmp") : NULL;
    if (path && tmp && json_dump_file(d->state, tmp, JSON_COMPACT) == 0 &&
        rename(tmp, path) != 0)
        unlink(tmp);
    free(tmp);
    free(path);
    json_decref(d->state);
    d->state = NULL;
}

#endif
