/* options.c - a plugin's view of its options (see options.h). */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "parse.h"
#include "timeutil.h"
#include "unconst.h"

/* Arrays handed to the plugin by list/map, cached per option so a plugin
 * asking twice does not make us allocate twice. */
struct opt_cache {
    char *name;
    const char **keys;      /* list items, or map keys; NULL-terminated */
    const char **values;    /* map values; NULL for lists */
    size_t count;
};

void plugin_options_init(plugin_options *o, const md_plugin *desc,
                         const json_t *values)
{
    *o = (plugin_options){.desc = desc, .values = values};
}

void plugin_options_release(plugin_options *o)
{
    for (size_t i = 0; i < o->n_cache; i++) {
        free(o->cache[i].name);
        free(o->cache[i].keys);
        free(o->cache[i].values);
    }
    free(o->cache);
}

static const md_option *find_option(const md_plugin *desc, const char *name)
{
    for (const md_option *opt = desc ? desc->options : NULL; opt && opt->name;
         opt++)
        if (strcmp(opt->name, name) == 0)
            return opt;
    return NULL;
}

const char *plugin_options_str(const plugin_options *o, const char *name)
{
    if (!name)
        return NULL;
    const json_t *v = json_object_get(o->values, name);
    if (v)
        return json_is_string(v) ? json_string_value(v) : NULL;
    const md_option *opt = find_option(o->desc, name);
    return opt ? opt->default_value : NULL;
}

int plugin_options_int(const plugin_options *o, const char *name,
                       long long *out)
{
    return parse_int(plugin_options_str(o, name), out);
}

int plugin_options_number(const plugin_options *o, const char *name,
                          double *out)
{
    return parse_number(plugin_options_str(o, name), out);
}

int plugin_options_bool(const plugin_options *o, const char *name, int *out)
{
    return parse_bool(plugin_options_str(o, name), out);
}

int plugin_options_duration_ms(const plugin_options *o, const char *name,
                               long long *out)
{
    const char *s = plugin_options_str(o, name);
    return s ? duration_parse(s, out) : -1;
}

static struct opt_cache *cache_get(plugin_options *o, const char *name)
{
    for (size_t i = 0; i < o->n_cache; i++)
        if (strcmp(o->cache[i].name, name) == 0)
            return &o->cache[i];
    return NULL;
}

static struct opt_cache *cache_add(plugin_options *o, const char *name,
                                   size_t count)
{
    o->cache = xrealloc(o->cache, (o->n_cache + 1) * sizeof *o->cache);
    struct opt_cache *c = &o->cache[o->n_cache++];
    *c = (struct opt_cache){
        .name = xstrdup(name),
        .keys = xcalloc(count + 1, sizeof *c->keys),
        .values = NULL,
        .count = count,
    };
    return c;
}

const char *const *plugin_options_list(plugin_options *o, const char *name,
                                       size_t *count)
{
    *count = 0;
    const json_t *v = name ? json_object_get(o->values, name) : NULL;
    if (!json_is_array(v))
        return NULL;
    struct opt_cache *c = cache_get(o, name);
    if (!c) {
        c = cache_add(o, name, 0);
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (!s)
                continue;   /* validated configs hold strings only */
            c->keys = xrealloc(c->keys, (c->count + 2) * sizeof *c->keys);
            c->keys[c->count++] = s;
            c->keys[c->count] = NULL;
        }
    }
    *count = c->count;
    return c->keys;
}

int plugin_options_map(plugin_options *o, const char *name,
                       const char *const **keys, const char *const **values,
                       size_t *count)
{
    *count = 0;
    *keys = *values = NULL;
    const json_t *v = name ? json_object_get(o->values, name) : NULL;
    if (!json_is_object(v))
        return -1;
    struct opt_cache *c = cache_get(o, name);
    if (!c) {
        c = cache_add(o, name, json_object_size(v));
        c->values = xcalloc(c->count + 1, sizeof *c->values);
        size_t i = 0;
        const char *k;
        json_t *val;
        json_object_foreach(json_unconst(v), k, val) {
            c->keys[i] = k;
            c->values[i++] = json_is_string(val) ? json_string_value(val) : "";
        }
    }
    *keys = c->keys;
    *values = c->values;
    *count = c->count;
    return 0;
}
