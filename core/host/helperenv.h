/*
 * helperenv.h - the scrubbed environment of a helper process (a
 * collection's helper or a probe).
 *
 * A helper gets from the daemon's environment only PATH, HOME, LANG,
 * LC_*, TZ (and, in a sanitizer build, the sanitizers' *SAN_OPTIONS),
 * plus the variables named in `names` - the plugin's md_plugin.env (ABI
 * 1.6) - when the daemon has them.  Nothing else: one provider's helper
 * can never read another provider's credentials in /proc/PID/environ.
 *
 * Ownership: helper_env_new returns a NULL-terminated array of malloc'd
 * "NAME=value" strings; helper_env_free frees it (NULL is a no-op).
 */
#ifndef METERD_HELPERENV_H
#define METERD_HELPERENV_H

#include <jansson.h>

/* names: array of variable names, or NULL. */
char **helper_env_new(const json_t *names);
void helper_env_free(char **env);

#endif
