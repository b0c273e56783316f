/*
 * plugin_host.h - loading plugins (dlopen), checking their ABI, and
 * validating a provider's options against the plugin's option table.
 */
#ifndef METERD_PLUGIN_HOST_H
#define METERD_PLUGIN_HOST_H

#include "meterd/plugin.h"
#include "config.h"

typedef struct loaded_plugin {
    void *handle;              /* dlopen handle */
    const md_plugin *desc;     /* borrowed from the plugin image */
    char *path;                /* owned */
} loaded_plugin;

/* dlopen(path, RTLD_NOW | RTLD_LOCAL), find MD_PLUGIN_ENTRY_NAME, call it,
 * check abi_major == MD_ABI_MAJOR ("plugin 'x' built for ABI 2, meterd
 * provides 1"), struct_size and the required fields.  Returns 0, or -1
 * with *cls (MD_ERR_ABI / MD_ERR_CONFIG for a missing file) and *err
 * (malloc'd) set. */
int plugin_open(const char *path, const char *instance, loaded_plugin *out,
                md_error *cls, char **err);
void plugin_close(loaded_plugin *p);

/* For every enabled provider: open its plugin, check its options against
 * the table (unknown keys with a "did you mean" hint, required keys,
 * types, durations, booleans), record MD_OPT_SECRET options in
 * secret_options (and their values in c->secrets), run the plugin's
 * check(), close it.  Problems go to diags with the option's location.
 * Returns the number of problems added.
 * A plugin that cannot be loaded at all (missing file, wrong ABI, no entry
 * symbol) is reported to load_errors instead when that is not NULL: the
 * daemon logs those and keeps running the other providers (the collection
 * then fails with class "abi" or "config"), while `meterd -t` treats them
 * like any other problem. */
size_t plugin_host_validate(config *c, diag_list *diags,
                            diag_list *load_errors);

#endif
