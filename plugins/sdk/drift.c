/*
 * plugins/sdk/drift.c - make provider format drift visible, not silent
 * (meterd/util.h, "Format drift").
 *
 * A provider that renames a field, adds one, or changes a field's type
 * still gets its collection through with what the plugin could read; the
 * plugin then tells the user once a day per field:
 *
 *   unrecognised field data.level (format may have changed)
 *
 * Invariants:
 *   - "Once per field per day" is remembered in <state_dir>/drift.json:
 *     {"day": <days since the epoch, UTC>, "noted": [<field>, ...]}; a new
 *     day starts an empty list.  Without a state directory (check-only
 *     runs) every collection notes again: visible beats silent.
 *   - The file is read-mostly and tiny; a missing or unreadable file is an
 *     empty list, never an error.  It is replaced through mdu_statefile
 *     (core/lib/atomicfile.c), so a reader never sees half a file.
 *   - d->state is a jansson reference owned by d; mdu_drift_release frees
 *     it.  Field names are copied into it; nothing is borrowed past a call.
 */
#include "meterd/util.h"
#include "mdu_unconst.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIFT_FILE "drift.json"

/* The plugin's state directory, or NULL without one. */
static const char *drift_dir(const mdu_drift *d)
{
    const char *dir = d->h->state_dir ? d->h->state_dir(d->ctx) : NULL;
    return dir && *dir ? dir : NULL;
}

void mdu_drift_init(mdu_drift *d, const md_host *h, md_ctx *ctx)
{
    *d = (mdu_drift){.h = h, .ctx = ctx};
    d->day = (long long)floor(h->now(ctx) / 86400.0);
    const char *dir = drift_dir(d);
    char *path = NULL;
    if (dir && asprintf(&path, "%s/%s", dir, DRIFT_FILE) < 0)
        path = NULL;
    json_t *s = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    json_t *day = json_object_get(s, "day");
    if (!json_is_object(s) || !json_is_integer(day) ||
        json_integer_value(day) != d->day ||
        !json_is_array(json_object_get(s, "noted"))) {
        json_decref(s);
        s = json_pack("{s:I, s:[]}", "day", (json_int_t)d->day, "noted");
    }
    d->state = s; /* NULL only when out of memory: then note every time */
}

/* Whether field was already noted today. */
static int drift_seen(const mdu_drift *d, const char *field)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(d->state, "noted"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), field) == 0)
            return 1;
    return 0;
}

void mdu_drift_note(mdu_drift *d, const char *field)
{
    char f[MDU_DRIFT_MAX_FIELD + 1];
    snprintf(f, sizeof f, "%s", field);
    if (drift_seen(d, f))
        return;
    if (d->n_notes >= MDU_DRIFT_MAX_NOTES) {
        d->n_dropped++;
        return;
    }
    d->n_notes++;
    d->h->note(d->ctx, "unrecognised field %s (format may have changed)", f);
    if (json_array_append_new(json_object_get(d->state, "noted"),
                              json_string(f)) == 0)
        d->dirty = 1;
}

/* "prefix.key", or "key" when prefix is NULL or empty, cut to fit. */
static void drift_join(char *out, size_t len, const char *prefix,
                       const char *key)
{
    if (prefix && *prefix)
        snprintf(out, len, "%s.%s", prefix, key);
    else
        snprintf(out, len, "%s", key);
}

int mdu_drift_keys(mdu_drift *d, const json_t *obj, const char *prefix,
                   const char *const *known)
{
    const char *key;
    json_t *v;
    int n = 0;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach(mdu_json_unconst(obj), key, v) {
        size_t i;
        for (i = 0; known[i]; i++)
            if (strcmp(known[i], key) == 0)
                break;
        if (known[i])
            continue;
        char f[MDU_DRIFT_MAX_FIELD + 1];
        drift_join(f, sizeof f, prefix, key);
        mdu_drift_note(d, f);
        n++;
    }
    return n;
}

int mdu_drift_type(mdu_drift *d, const json_t *obj, const char *prefix,
                   const char *member, int accepted)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, member) : NULL;
    if (!v || json_is_null(v))
        return 0;
    /* a numeric string counts as a number: providers mix the two */
    if (((accepted & MDU_DRIFT_NUM) &&
         mdu_num_value(d->h, v, 1).state == MD_KNOWN) ||
        ((accepted & MDU_DRIFT_STR) && json_is_string(v)) ||
        ((accepted & MDU_DRIFT_BOOL) && json_is_boolean(v)) ||
        ((accepted & MDU_DRIFT_OBJ) && json_is_object(v)) ||
        ((accepted & MDU_DRIFT_ARR) && json_is_array(v)))
        return 0;
    char f[MDU_DRIFT_MAX_FIELD + 1];
    drift_join(f, sizeof f, prefix, member);
    mdu_drift_note(d, f);
    return 1;
}

/* Replace <state_dir>/drift.json with d->state.  0, or -1 with errno. */
static int drift_save(const mdu_drift *d)
{
    char *text = json_dumps(d->state, JSON_COMPACT);
    mdu_statefile sf;
    int rc = -1;
    if (text && mdu_statefile_begin(&sf, drift_dir(d), DRIFT_FILE) == 0) {
        if (mdu_write_all(sf.fd, text, strlen(text)) != 0)
            mdu_statefile_abort(&sf);
        else
            rc = mdu_statefile_commit(&sf);
    }
    free(text);
    return rc;
}

void mdu_drift_release(mdu_drift *d, int remember)
{
    if (d->n_dropped > 0)
        d->h->note(d->ctx, "%d more unrecognised fields (format may have "
                   "changed; see include_raw)", d->n_dropped);
    /* A failed write only means today's fields are noted once more by
     * the next collection: nothing worth failing or reporting. */
    if (remember && d->dirty && d->state && drift_dir(d))
        (void)drift_save(d);
    json_decref(d->state);
    *d = (mdu_drift){0};
}
