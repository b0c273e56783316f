/*
 * runner.h - running one collection, isolated.
 *
 * ISOLATION_PROCESS: the daemon binary re-executes itself with the hidden
 * flag "--worker" through posix_spawn (never fork from the threaded
 * daemon), in a new process group, with a scrubbed environment
 * (helperenv.h: PATH, HOME, LANG, LC_*, TZ and pc->env_names only).  The job (provider config, secrets,
 * deadline) goes to the helper over a pipe, the result (collect_result
 * JSON) comes back over another.  A helper that dies by a signal is
 * "crashed".
 * The spare helper (one-shot commands only: meterd report): forked,
 * not exec'd, from a process that has no thread, no SQLite handle, no
 * configuration and no secret yet, it waits for one job; runner_start
 * then hands it that job instead of spawning a helper, which saves the
 * exec and the dynamic linking of a second binary.  It is set up as a
 * spawned helper is (own process group, default signals, empty mask,
 * the same descriptors 0-3 and no other, helperenv.h's environment,
 * the old one wiped) and then runs worker_main: the same supervisor,
 * limits, deadline kill and result protocol.  The daemon never forks
 * one: it has threads.
 * ISOLATION_INLINE: a thread of the daemon runs the plugin (for
 * debugging); its deadline can only be observed, not enforced: a late
 * result is discarded.
 *
 * Invariants (the runner_* functions):
 * - No runner_* function ever blocks: the caller polls runner_fd() and
 *   calls runner_read() when readable; at the deadline runner_kill() sends
 *   SIGTERM to the helper's supervisor (which kills and reaps everything
 *   the collection started, worker.h) and returns; called again after
 *   RUNNER_KILL_GRACE_MS it SIGKILLs the process group; runner_reap() collects the
 *   helper only if it has already exited (waitpid WNOHANG semantics).
 * - A run is done (runner_done) when its result stream ended, or it was
 *   killed, AND its helper was reaped.  Only then may runner_finish() turn
 *   it into a result; runner_finish() frees the handle.
 * - runner_reap() waits for this handle's pid only, never for any child,
 *   so other children of the process (inline runs, the report CLI's
 *   callers, test harnesses) are left alone.
 * - A handle belongs to one thread at a time; the runner has no locks.
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
 * value, usage_generation which generation of the plugin's usage cells
 * the daemon's usage store holds (host->usage_generation; 0: none).
 * Returns NULL with *err (malloc'd) when it could not start; errno then
 * says why (EMFILE, ENFILE, EAGAIN: out of descriptors or processes,
 * worth retrying soon). */
run_handle *runner_start(const provider_conf *pc, const char *self_exe,
                         const char *state_root, long long deadline_ms,
                         unsigned long long usage_generation, char **err);

/* Fork the spare helper (see the top).  Only while the process is
 * single-threaded and before it read any secret (configuration,
 * environment use aside).  The next runner_start in process mode takes
 * it; a later one spawns as usual.  0, or -1 with *err (then every run
 * spawns). */
int runner_spare_fork(char **err);
/* Stop and reap the spare if no run took it (its control pipe closes:
 * it exits at once).  Safe to call when there is none. */
void runner_spare_release(void);

/* The helper's stdout and stderr go to a pipe of their own (never to the
 * daemon's log directly): at most RUNNER_OUTPUT_CAP bytes of it per
 * collection are kept, as lines for the caller to log (labelled with the
 * instance; log_msg escapes control characters); the rest is read and
 * counted, so a helper never blocks on a full pipe. */
#define RUNNER_OUTPUT_CAP ((size_t)8 * 1024)
/* Descriptor to poll for the output (POLLIN); -1 when none or at EOF. */
int runner_out_fd(const run_handle *h);
/* Read what output is available (never blocks); 1 at EOF, else 0. */
int runner_read_output(run_handle *h);
/* The complete lines read so far (caller frees each and the array; NULL
 * with *n 0 when none); a last line without newline is taken at EOF. */
char **runner_take_output(run_handle *h, size_t *n);
/* Bytes of output past RUNNER_OUTPUT_CAP (read and dropped). */
size_t runner_output_dropped(const run_handle *h);

/* File descriptor to poll for POLLIN (result stream); -1 once it ended. */
int runner_fd(const run_handle *h);
/* Read what is available. Returns 1 when the stream ended (EOF or the
 * result's final newline; the descriptor is then closed), 0 for more to
 * come.  Output beyond the result size cap (16 MiB) is an error at finish. */
int runner_read(run_handle *h);
/* Kill at the deadline: SIGTERM to the supervisor, never a wait; a later
 * call past the grace period SIGKILLs the helper's process group.
 * finish then reports MD_ERR_TIMEOUT, unless the complete result had
 * already arrived (a helper lingering on its way out). */
void runner_kill(run_handle *h);
long long runner_deadline(const run_handle *h);
/* The helper pid still to be reaped, or 0 (reaped, or inline mode). */
pid_t runner_pid(const run_handle *h);
/* Reap the helper if it has exited (non-blocking).  Returns 1 when there
 * is nothing left to reap, 0 while it still runs.  Stray members of its
 * process group are killed before the pid is released. */
int runner_reap(run_handle *h);
/* Whether the run is over: stream ended or killed, and helper reaped. */
int runner_done(const run_handle *h);
/* Produce the result of a done run (never blocks): the parsed
 * collect_result on a clean exit; MD_ERR_TIMEOUT when killed for the
 * deadline; MD_ERR_CRASHED with the signal name when it died by a signal
 * or exited without a valid result.  Frees h. */
void runner_finish(run_handle *h, collect_result *out);

#endif
