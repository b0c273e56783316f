/*
 * plugin_check.h - checking a loaded configuration against the plugins it
 * names: each provider's options against its plugin's option table, the
 * secret options and *_file secrets, the plugin's own check().
 */
#ifndef METERD_PLUGIN_CHECK_H
#define METERD_PLUGIN_CHECK_H

#include <stddef.h>
#include "config.h"
#include "log.h"

/* For every enabled provider: learn its plugin's descriptor from a probe
 * process (probe.h: this process never loads a plugin; instances of one
 * plugin share one probe), check its options against
 * the table (unknown keys with a "did you mean" hint, required keys,
 * types, durations, booleans), record MD_OPT_SECRET options in
 * secret_options (and their values in c->secrets), record what the plugin
 * produces in pc->produces, run the plugin's check() in a probe.  A probe
 * that crashes, exits or does not answer within PROBE_TIMEOUT_MS is a
 * problem at the provider's place naming the plugin file and the signal
 * or exit status, never a warning.  Problems go to diags with the option's location.
 * Returns the number of problems added.
 * A plugin that cannot be loaded at all (missing file, wrong ABI, no entry
 * symbol) is reported to load_errors instead when that is not NULL: the
 * daemon logs those and keeps running the other providers (the collection
 * then fails with class "abi" or "config"), while `meterd -t` treats them
 * like any other problem. */
size_t plugin_check_config(config *c, diag_list *diags,
                          diag_list *load_errors);

/* The same, but each descriptor comes from the cache in c->state_dir
 * when its key still matches (probe_describe_cached): `meterd report`,
 * which runs often and only needs to know what each plugin produces.
 * check() still runs in a probe for a plugin that has one.  The daemon's
 * start, its reloads and `meterd -t` use plugin_check_config: they probe
 * every plugin, so what they report is always what the file says now. */
size_t plugin_check_config_cached(config *c, diag_list *diags,
                                  diag_list *load_errors);

#endif
