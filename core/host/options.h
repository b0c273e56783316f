/*
 * options.h - a plugin's view of its options (md_host opt_str ...
 * opt_map): the provider's configured values, falling back to the
 * defaults the plugin declares.
 *
 * Invariants:
 *   - configured values are JSON strings (scalars exactly as written),
 *     arrays of strings (lists) or objects of strings (maps), as the
 *     configuration loader validated them; anything else reads as absent;
 *   - a default (md_option.default_value) applies to opt_str and the
 *     scalar readers only, never to lists or maps;
 *   - the arrays plugin_options_list/_map hand out are cached per option
 *     name: a plugin asking twice gets the same pointers, and they stay
 *     valid until plugin_options_release().
 * Ownership: desc and values are borrowed and must outlive the struct;
 * the strings handed out are borrowed from them; the cached arrays are
 * owned by the struct.
 * Threads: one collection's context, one thread.
 */
#ifndef METERD_OPTIONS_H
#define METERD_OPTIONS_H

#include <stddef.h>
#include <jansson.h>
#include "meterd/plugin.h"

typedef struct plugin_options {
    const md_plugin *desc;     /* borrowed; NULL: no declared defaults */
    const json_t *values;      /* borrowed; NULL: nothing configured */
    struct opt_cache *cache;   /* owned */
    size_t n_cache;
} plugin_options;

void plugin_options_init(plugin_options *o, const md_plugin *desc,
                         const json_t *values);
void plugin_options_release(plugin_options *o);

/* The option as text: the configured string, else the declared default,
 * else NULL (also for a list or map). */
const char *plugin_options_str(const plugin_options *o, const char *name);
/* The scalar readers: 0, or -1 when absent or unparseable (parse.h,
 * duration_parse). */
int plugin_options_int(const plugin_options *o, const char *name,
                       long long *out);
int plugin_options_number(const plugin_options *o, const char *name,
                          double *out);
int plugin_options_bool(const plugin_options *o, const char *name, int *out);
int plugin_options_duration_ms(const plugin_options *o, const char *name,
                               long long *out);
/* A list option: NULL-terminated array of its strings and *count, or NULL
 * and 0 when the option is not a list. */
const char *const *plugin_options_list(plugin_options *o, const char *name,
                                       size_t *count);
/* A map option: parallel keys/values arrays (a non-string value reads as
 * ""); 0, or -1 with everything NULL/0 when the option is not a map. */
int plugin_options_map(plugin_options *o, const char *name,
                       const char *const **keys, const char *const **values,
                       size_t *count);

#endif
