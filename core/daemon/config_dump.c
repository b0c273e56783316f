/*
 * config_dump.c - the merged configuration as text: `meterd -t -v` for
 * the operator (secrets masked) and the fingerprint that tells a reload
 * whether a provider changed.  Both walk the key table, so a new key
 * shows up in both without an edit here.
 */
#include "config_int.h"

#include "alias.h"
#include "timeutil.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys of obj in byte order (caller frees the array, not the keys). */
static const char **sorted_keys(json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    const char **keys = xcalloc(*n ? *n : 1, sizeof *keys);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
        keys[i++] = k;
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

/* The value of table key k in target (a config or a provider_conf) as
 * JSON (new reference).  Durations are their text ("10s"), so that the
 * dump reads like the file; secrets are the real value. */
static json_t *key_json(const config_key *k, const void *target)
{
    const char *at = (const char *)target + k->off;
    char t[32];
    long long ms;
    int i;
    const char *s;
    switch (k->type) {
    case CK_DURATION:
    case CK_DAYS:
        memcpy(&ms, at, sizeof ms);
        if (k->type == CK_DAYS)
            duration_format_days(ms, t, sizeof t);
        else
            duration_format(ms, t, sizeof t);
        return json_string(t);
    case CK_BOOL:
        memcpy(&i, at, sizeof i);
        return json_boolean(i);
    case CK_BYTES:
    case CK_COUNT:
        memcpy(&ms, at, sizeof ms);
        return json_integer(ms);
    case CK_ENUM:
        memcpy(&i, at, sizeof i);
        return json_string(k->names[i]);
    case CK_STRING_LIST: {
        char **v;
        memcpy(&v, at, sizeof v);
        json_t *a = json_array();
        for (size_t n = 0; v && v[n]; n++)
            json_array_append_new(a, json_string(v[n]));
        return a;
    }
    default:
        memcpy(&s, at, sizeof s);
        return s ? json_string(s) : json_null();
    }
}

/* ---------------------------------------------------------------- */
/* fingerprint                                                       */
/* ---------------------------------------------------------------- */

char *provider_fingerprint(const provider_conf *pc)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(pc->name));
    for (size_t i = 0; i < n_config_keys; i++)
        if (config_keys[i].scope == CS_PROVIDER &&
            !(config_keys[i].flags & CKF_NO_FIELD))
            json_object_set_new(j, config_keys[i].name,
                                key_json(&config_keys[i], pc));
    json_object_set(j, "options", pc->options);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    char *out = xstrdup(s); /* xstrdup: callers free() with libc */
    free(s);
    return out;
}

/* ---------------------------------------------------------------- */
/* dump                                                              */
/* ---------------------------------------------------------------- */

/* JSON text is valid YAML flow syntax, and it quotes exactly what needs
 * quoting; durations and words are written bare, as in the file. */
static void dump_json(buf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    buf_addstr(b, s ? s : "null");
    free(s);
}

static void dump_str(buf *b, const char *key, const char *v, int indent)
{
    json_t *j = v ? json_string(v) : json_null();
    buf_printf(b, "%*s%s: ", indent, "", key);
    dump_json(b, j ? j : json_null());
    buf_addstr(b, "\n");
    json_decref(j);
}

static void dump_keys(buf *b, ckey_scope scope, const void *target,
                      int indent)
{
    for (size_t i = 0; i < n_config_keys; i++) {
        const config_key *k = &config_keys[i];
        if (k->scope != scope || k->type == CK_INCLUDE ||
            k->type == CK_PROVIDERS || k->type == CK_FAMILIES ||
            (k->flags & CKF_NO_FIELD) || k->type == CK_PRICING ||
            k->type == CK_PACKAGES)
            continue;
        json_t *v = key_json(k, target);
        if (k->type == CK_SECRET) {
            if (!json_is_null(v))
                dump_str(b, k->name, "[REDACTED]", indent);
        } else if (k->type == CK_DURATION || k->type == CK_DAYS ||
                   k->type == CK_ENUM) {
            buf_printf(b, "%*s%s: %s\n", indent, "", k->name,
                       json_string_value(v));
        } else {
            buf_printf(b, "%*s%s: ", indent, "", k->name);
            dump_json(b, v);
            buf_addstr(b, "\n");
        }
        json_decref(v);
    }
}

static int is_secret(const provider_conf *p, const char *opt)
{
    size_t i;
    json_t *v;
    json_array_foreach(p->secret_options, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), opt) == 0)
            return 1;
    return 0;
}

static void dump_provider(buf *b, const config *c, const provider_conf *p)
{
    buf_printf(b, "  %s:\n", p->name);
    buf_printf(b, "    # defined at %s:%d:%d\n", p->file ? p->file : "?",
               p->line, p->col);
    dump_str(b, "family", alias_family(c->aliases, p->name), 4);
    dump_keys(b, CS_PROVIDER, p, 4);
    size_t n;
    const char **keys = sorted_keys(p->options, &n);
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "    %s: ", keys[i]);
        if (is_secret(p, keys[i]))
            buf_addstr(b, "\"[REDACTED]\"");
        else
            dump_json(b, json_object_get(p->options, keys[i]));
        json_t *loc = json_object_get(p->option_locs, keys[i]);
        if (json_array_size(loc) == 3)
            buf_printf(b, "  # %s:%d:%d",
                       json_string_value(json_array_get(loc, 0)),
                       (int)json_integer_value(json_array_get(loc, 1)),
                       (int)json_integer_value(json_array_get(loc, 2)));
        buf_addstr(b, "\n");
    }
    free(keys);
}

/* ---------------------------------------------------------------- */
/* when_exists                                                       */
/* ---------------------------------------------------------------- */

/* One line per path found, naming every instance it enabled (instances
 * are in name order, so the line is stable); then one line per skipped
 * instance with what was looked for. */
static void detection_lines(buf *b, const config *c)
{
    size_t n_found = 0;
    for (size_t i = 0; i < c->n_detections; i++) {
        const config_detection *d = &c->detections[i];
        if (!d->found)
            continue;
        n_found++;
        int first = 1;
        for (size_t j = 0; j < i && first; j++)
            first = !c->detections[j].found ||
                    strcmp(c->detections[j].found, d->found) != 0;
        if (!first)
            continue; /* already named on an earlier path's line */
        buf_printf(b, "# detected: %s (", d->found);
        const char *sep = "";
        for (size_t j = i; j < c->n_detections; j++) {
            const config_detection *e = &c->detections[j];
            if (e->found && strcmp(e->found, d->found) == 0) {
                buf_printf(b, "%s%s [%s]", sep, e->provider, e->plugin);
                sep = ", ";
            }
        }
        buf_addstr(b, " enabled)\n");
    }
    if (!n_found)
        buf_addstr(b, "# detected: nothing\n");
    for (size_t i = 0; i < c->n_detections; i++) {
        const config_detection *d = &c->detections[i];
        if (d->found)
            continue;
        buf_addstr(b, "# not detected: ");
        for (size_t j = 0; j < d->n_paths; j++)
            buf_printf(b, "%s%s", j ? " or " : "", d->paths[j]);
        buf_printf(b, " (%s [%s] skipped)\n", d->provider, d->plugin);
    }
}

char *config_detection_text(const config *c)
{
    if (!c || !c->n_detections)
        return xstrdup("");
    buf b;
    buf_init(&b, CONFIG_DUMP_MAX);
    detection_lines(&b, c);
    return buf_take(&b);
}

char *config_dump(const config *c)
{
    if (!c)
        return xstrdup("");
    buf b;
    buf_init(&b, CONFIG_DUMP_MAX);
    buf_addstr(&b, "# meterd configuration, merged from:\n");
    for (size_t i = 0; i < c->n_files; i++)
        buf_printf(&b, "#   %s\n", c->files[i]);
    if (c->n_detections)
        detection_lines(&b, c);
    dump_keys(&b, CS_TOP, c, 0);
    buf_addstr(&b, c->n_providers ? "providers:\n" : "providers: {}\n");
    for (size_t i = 0; i < c->n_providers; i++)
        dump_provider(&b, c, &c->providers[i]);
    int truncated = buf_failed(&b);
    char *raw = buf_take(&b);
    if (truncated) {
        char *t = xasprintf("%s\n# (truncated at %d bytes)\n", raw,
                            CONFIG_DUMP_MAX);
        free(raw);
        raw = t;
    }
    /* belt and braces: a secret value that also appears in a non-secret
     * option or a path is masked too */
    char *out = mask_secrets(raw, (const char *const *)c->secrets,
                             c->n_secrets);
    free(raw);
    return out;
}
