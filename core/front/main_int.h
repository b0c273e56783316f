/*
 * main_int.h - what main.c shares with the command-line modes that run
 * inside it, and nothing else: cli_report.c (`meterd report`) and
 * cli_test.c (`meterd -t`) load the configuration, open the usage store
 * and set up a daemon_t exactly as the daemon does.
 *
 * Invariants:
 *   - a config returned by load_config is the caller's (config_free);
 *   - daemon_setup takes the config and the usage store given to it;
 *     daemon_teardown frees what a successful daemon_setup set up;
 *   - install_signals makes d the one daemon the signal handlers act on
 *     until daemon_teardown.
 */
#ifndef METERD_MAIN_INT_H
#define METERD_MAIN_INT_H

#include "config.h"
#include "daemon.h"
#include "usage_store.h"

#ifndef METERD_CONFDIR
#define METERD_CONFDIR "/usr/local/etc/meterd"
#endif
#ifndef METERD_PLUGINDIR
#define METERD_PLUGINDIR "/usr/local/lib/meterd"
#endif
#ifndef METERD_STATEDIR
#define METERD_STATEDIR "/usr/local/var/lib/meterd"
#endif

/* Load the configuration at path and check its plugins, logging every
 * problem; NULL on failure (*first_error, when given, the first one).
 * strict (-t): a plugin that cannot be loaded is an error, not a
 * warning.  allow_inline: `meterd --once`. */
config *load_config(const char *path, int strict, int allow_inline,
                    char **first_error);
/* load_config as `meterd report` needs it: not strict, no inline, the
 * plugins' descriptors from the probe cache in state_dir when they still
 * match (plugin_check_config_cached). */
config *load_config_report(const char *path);
/* The usage store of cfg's state_dir, loaded; meta_only: without the
 * cells (the report reads them from the database). */
usage_store *open_usage_store(const config *cfg, int meta_only);
/* The report's store, opened on a thread while load_config_report()
 * checks the plugins (a probe is a process to wait for; a new database
 * is a schema to write): load_config_report_opening() starts it once
 * the file has parsed (nothing when it does not), usage_store_opened()
 * waits for it and returns the store (NULL when it never started).  The
 * thread works from copies of cfg's values: cfg may be freed meanwhile
 * (a plugin problem fails the load).  A run whose plugin check fails may
 * so have opened the store (created meterd.db, migrated a usage.json, set
 * a corrupt file aside): what the next run would do first anyway. */
typedef struct store_opening store_opening;
config *load_config_report_opening(const char *path, store_opening **op);
usage_store *usage_store_opened(store_opening *op);
/* 0 when dir takes new files, else -1 with *err. */
int state_dir_writable(const char *dir, char **err);
/* Set up d for cfg (owned by d from now on); usage: the store to use
 * (owned by d), or NULL to open it.  0, or -1 after logging why. */
int daemon_setup(daemon_t *d, config *cfg, usage_store *usage);
/* daemon_setup for `meterd report`: no snapshot, no forecast samples, no
 * alert states (the report serves no view and announces no alert: cfg's
 * notify command is dropped, so the daemon's alert states stay its own). */
int daemon_setup_report(daemon_t *d, config *cfg, usage_store *usage);
void daemon_teardown(daemon_t *d);
/* Install the signal handlers, acting on d.  0, or -1 (errno). */
int install_signals(daemon_t *d);

/* `meterd report ...` (argv[0] is "report"); the exit status. */
int cli_report_main(int argc, char **argv);
/* `meterd -t [-v]` on the configuration at path; the exit status. */
int cli_test_main(const char *path, int verbose);

#endif
