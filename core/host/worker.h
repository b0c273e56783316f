/*
 * worker.h - one collection in this process (run_job) and the helper
 * process's entry point (worker_main).
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

/* Run a job (protocol_job_to_json) in this process (the helper and inline
 * mode share this): open the plugin, build the host table and context,
 * init/collect/fini, validate and collect what it emitted. */
void run_job(const json_t *job, collect_result *out);

/* Entry point of the helper process (argv[1] == "--worker"): reads the
 * job from fd 0, runs it, writes the result to fd 3.  Returns the exit
 * status: 0 once the result is written, 1 when it could not be. */
int worker_main(int argc, char **argv);

#endif
