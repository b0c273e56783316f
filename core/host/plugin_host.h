/*
 * plugin_host.h - loading plugins (dlopen), checking their ABI, and
 * validating a provider's options against the plugin's option table.
 */
#ifndef METERD_PLUGIN_HOST_H
#define METERD_PLUGIN_HOST_H

#include "meterd/plugin.h"

typedef struct loaded_plugin {
    void *handle;              /* dlopen handle */
    const md_plugin *desc;     /* borrowed from the plugin image */
    char *path;                /* owned */
} loaded_plugin;

/* dlopen(path, RTLD_NOW | RTLD_LOCAL), find MD_PLUGIN_ENTRY_NAME, call it,
 * check abi_major == MD_ABI_MAJOR ("plugin 'x' built for ABI 2, meterd
 * provides 1"), struct_size and the required fields.  Returns 0, or -1
 * with *cls and *err (malloc'd) set: MD_ERR_CONFIG for a file that cannot
 * be loaded, MD_ERR_ABI for a descriptor problem and for a plugin that
 * needs a symbol nothing provides (the daemon exports none; the message
 * names the symbol and says plugins may use only the SDK header and
 * libmeterd-plugin.a). */
int plugin_open(const char *path, const char *instance, loaded_plugin *out,
                md_error *cls, char **err);
void plugin_close(loaded_plugin *p);

/* What a loaded descriptor produces (MD_PRODUCES_* bits): its produces
 * field when its struct_size reaches it (ABI 1.3) and it is not 0, else
 * MD_PRODUCES_METERS - what every plugin before 1.3 does. */
uint32_t plugin_produces(const md_plugin *d);

#endif
