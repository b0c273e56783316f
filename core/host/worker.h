/*
 * worker.h - one collection in this process (run_job) and the helper
 * process's entry point (worker_main).
 *
 * The helper is two processes.  The supervisor (the process the daemon
 * spawned) is a child subreaper (PR_SET_CHILD_SUBREAPER) and runs no
 * plugin code: it forks the collection process, which loads the plugin
 * and runs the job under its limits, and waits.  When the collection
 * process exits, when the daemon sends SIGTERM (deadline, reload, stop)
 * or when the daemon dies (PR_SET_PDEATHSIG gives the supervisor
 * SIGTERM), the supervisor SIGKILLs every descendant - whatever process
 * group or session it moved to: orphans are reparented to the subreaper
 * - and reaps them until ECHILD (bounded by WORKER_KILL_MS), then exits.
 * The collection process has PR_SET_PDEATHSIG(SIGKILL) towards the
 * supervisor; both re-check getppid() after setting it.
 *
 * Limits of the collection process: RLIMIT_AS = the job's memory_limit
 * (WORKER_DEFAULT_MEMORY_LIMIT when absent), RLIMIT_CPU = the budget in
 * seconds + 2.  A collection process that dies by a signal or exits
 * without a result gets a "crashed" result written by the supervisor,
 * naming the signal or the exit status, and the limit when one was the
 * likely cause (SIGXCPU; a fatal signal with errno ENOMEM).
 *
 * Invariants:
 *   - run_job never fails: every problem (a bad job, a plugin that does
 *     not load, a plugin failure) is in out->err, with a message masked
 *     with the job's secrets and cut to HOSTCTX_MAX_MESSAGE bytes;
 *   - worker_main speaks protocol.h: job on fd 0, result on fd 3; the
 *     result channel is close-on-exec, so commands a plugin runs cannot
 *     hold it open; the plugin's stdout goes to stderr.
 * Ownership: the job is borrowed; out is initialised here and the caller
 * releases it.
 * Threads: run_job may run on any thread (inline mode runs it on a
 * detached thread of the daemon); worker_main owns its process.
 */
#ifndef METERD_WORKER_H
#define METERD_WORKER_H

#include <jansson.h>
#include "result.h"

#define WORKER_DEFAULT_MEMORY_LIMIT (1024LL * 1024 * 1024)
/* How long the supervisor tries to kill and reap all descendants. */
#define WORKER_KILL_MS 2000

/* Run a job (protocol_job_to_json) in this process (the helper and inline
 * mode share this): open the plugin, build the host table and context,
 * init/collect/fini, validate and collect what it emitted. */
void run_job(const json_t *job, collect_result *out);

/* Entry point of the helper process (argv[1] == "--worker", optionally
 * "--parent=PID": the daemon that spawned it, re-checked after
 * PR_SET_PDEATHSIG): reads the job from fd 0, runs it in a collection
 * process, writes the result to fd 3 (the collection process does; the
 * supervisor when it ended without one).  Returns the exit status: 0
 * once a result is written, 1 when it could not be, 128+SIGTERM when
 * stopped by a signal. */
int worker_main(int argc, char **argv);

#endif
