/*
 * runner.h - running one collection, isolated.
 *
 * ISOLATION_PROCESS: the daemon binary re-executes itself with the hidden
 * flag "--worker" through posix_spawn (never fork from the threaded
 * daemon), in a new process group.  The job (provider config, secrets,
 * deadline) goes to the helper over a pipe, the result (collect_result
 * JSON) comes back over another; at the deadline the whole process group
 * is SIGKILLed and reaped.  A helper that dies by a signal is "crashed".
 * ISOLATION_INLINE: a thread of the daemon runs the plugin (for
 * debugging); its deadline can only be observed, not enforced: a late
 * result is discarded.
 * The scheduler polls runner_fd() and calls runner_read() when readable.
 */
#ifndef METERD_RUNNER_H
#define METERD_RUNNER_H

#include <jansson.h>
#include <sys/types.h>
#include "provider_conf.h"
#include "result.h"

typedef struct run_handle run_handle;

/* Start a collection of pc.  self_exe is the daemon binary (from
 * /proc/self/exe), state_root the daemon's state_dir (the plugin gets
 * state_root/plugins/<instance>, created 0700), deadline_ms a mono_ms()
 * value.  Returns NULL with *err (malloc'd) when it could not start. */
run_handle *runner_start(const provider_conf *pc, const char *self_exe,
                         const char *state_root, long long deadline_ms,
                         char **err);

/* The same, telling the plugin (host->usage_generation) which generation
 * of its usage cells the daemon's usage store holds (0: none). */
run_handle *runner_start_ex(const provider_conf *pc, const char *self_exe,
                            const char *state_root, long long deadline_ms,
                            unsigned long long usage_generation, char **err);

/* File descriptor to poll for POLLIN (result pipe). */
int runner_fd(const run_handle *h);
/* Read what is available. Returns 1 at end of stream, 0 for more to come.
 * Output beyond the result size cap (16 MiB) is an error at finish. */
int runner_read(run_handle *h);
/* Kill at the deadline: SIGKILL to the process group; finish will report
 * MD_ERR_TIMEOUT. */
void runner_kill(run_handle *h);
long long runner_deadline(const run_handle *h);
/* Reap (blocking waitpid; call after EOF or kill) and produce the result:
 * parsed collect_result on a clean exit; MD_ERR_TIMEOUT when killed for
 * the deadline; MD_ERR_CRASHED with the signal name when it died by a
 * signal or exited without a valid result.  Frees h. */
void runner_finish(run_handle *h, collect_result *out);

#endif
