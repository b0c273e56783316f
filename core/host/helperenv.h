/*
 * helperenv.h - the scrubbed environment of a helper process (a
 * collection's helper or a probe), and the fork of a spare one (a helper
 * forked without exec that waits for its environment).
 *
 * A helper gets from the daemon's environment only PATH, HOME, LANG,
 * LC_*, TZ (and, in a sanitizer build, the sanitizers' *SAN_OPTIONS),
 * plus the variables named in `names` - the plugin's md_plugin.env (ABI
 * 1.6) - when the daemon has them.  Nothing else: one provider's helper
 * can never read another provider's credentials in /proc/PID/environ.
 *
 * A helper forked without exec (runner_spare_fork, probe_spare_fork)
 * takes the same environment with helper_env_adopt, which also wipes the
 * one it had; helper_env_await reads the names it is to take first.
 *
 * Ownership: helper_env_new returns a NULL-terminated array of malloc'd
 * "NAME=value" strings; helper_env_free frees it (NULL is a no-op).
 */
#ifndef METERD_HELPERENV_H
#define METERD_HELPERENV_H

#include <jansson.h>
#include <sys/types.h>

/* names: array of variable names, or NULL. */
char **helper_env_new(const json_t *names);
void helper_env_free(char **env);

/* In a helper forked without exec (runner_spare_fork): make
 * helper_env_new(names) this process's environment and wipe the bytes
 * of every variable it had, so /proc/PID/environ (which shows the
 * environment the process was exec'd with) holds nothing of them.
 * Only before anything in this process called setenv or putenv: the
 * wiped strings must be the writable ones from exec.  The new array is
 * kept until exit (it is the environment). */
void helper_env_adopt(const json_t *names);

/* In a spare helper (runner_spare_fork, probe_spare_fork): read the
 * variable names (a JSON array or null) from the control pipe fd until
 * its end, close it, and helper_env_adopt them.  0 when adopted; -1 when
 * the pipe ended with nothing on it (the spare is not needed: it exits
 * quietly). */
int helper_env_await(int fd);

/* Fork a spare helper (runner_spare_fork, probe_spare_fork), set up as a
 * spawned helper is: it dies with the caller (PR_SET_PDEATHSIG, checked
 * against the caller's pid), leads its own process group (set on both
 * sides: a kill of the group may come before the child's own setpgid),
 * has default signals and an empty mask, in_fd on 0, result_fd on 3,
 * out_fd on 1 and 2 (out_fd < 0: stderr on 1), ctl_fd on 4 and no other
 * descriptor; then it runs child_main(4, caller's pid), which must not
 * return.  The descriptors given must not be 0 to 4.  Flushes stdio
 * first (nothing buffered is written twice).  Returns the child's pid,
 * or -1 with errno. */
pid_t helper_spare_fork(int in_fd, int result_fd, int out_fd, int ctl_fd,
                        void (*child_main)(int ctl_fd, pid_t parent));

#endif
