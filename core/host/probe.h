/*
 * probe.h - learning what a plugin is, and running its check(), without
 * loading it into the calling process.
 *
 * The daemon, `meterd -t` and `meterd report` never dlopen a plugin: a
 * plugin's constructor or check() may exit(), crash or hang, and none of
 * that may stop or stall them.  probe_run() re-executes the daemon binary
 * with "--probe" (posix_spawn, a new process group, like a collection's
 * helper), sends it a request and reads one reply (the wire format is in
 * protocol.h): the descriptor's facts (name, ABI, option table, default
 * and minimum interval, produces, whether it has check()) and, when asked,
 * the verdict of check() on the given options.
 *
 * Invariants:
 *   - probe_run never takes longer than timeout_ms: past it the probe's
 *     process group is SIGKILLed and reaped (a SIGKILLed process is
 *     reaped at once);
 *   - it waits for its own pid only, never for "any child";
 *   - the probe's environment is the one a collection of the same
 *     provider gets (helperenv.h with rq->env_names): check() sees the
 *     variables collect() will see, and no other provider's;
 *   - the probe process has PR_SET_PDEATHSIG(SIGKILL) (re-checked against
 *     --parent=PID), RLIMIT_AS of WORKER_DEFAULT_MEMORY_LIMIT and an
 *     RLIMIT_CPU of a few seconds; its stdout goes to its stderr.
 * Errors: probe_run returns -1 with *err (malloc'd) when the probe gave no
 * valid reply: it died of a signal ("died of SIGSEGV"), exited ("exited
 * with status 0 without answering"), did not answer in time, or could not
 * be started.  A plugin that merely fails to load (missing file, wrong
 * ABI, no entry symbol) is a valid reply with loaded = 0.
 * Ownership: probe_reply owns everything in it; probe_reply_release frees.
 * Threads: probe_run blocks its caller (configuration loading); any
 * thread may call it; probe_set_helper is for start-up.
 */
#ifndef METERD_PROBE_H
#define METERD_PROBE_H

#include <jansson.h>
#include "protocol.h"

/* Bound of one probe (loading a plugin and its check() together). */
#define PROBE_TIMEOUT_MS 5000

typedef struct probe_request {
    const char *plugin_path;
    const char *instance;
    int check;                   /* also run check() with options */
    const json_t *options;       /* borrowed; NULL: none */
    char *const *secrets;        /* masked in check()'s message */
    size_t n_secrets;
    const json_t *env_names;     /* borrowed; the variables the provider's
                                    collections get besides the base set
                                    (provider_conf.env_names); NULL: none */
} probe_request;

typedef struct probe_reply {
    int loaded;                  /* the plugin loaded and passed the ABI */
    md_error cls;                /* !loaded: MD_ERR_CONFIG or MD_ERR_ABI */
    char *message;               /* !loaded: why (owned) */
    probe_facts facts;           /* loaded: the descriptor's facts */
    int checked;                 /* check() ran */
    char *check_error;           /* check() refused: why (owned); NULL: ok */
} probe_reply;

/* The executable to run with --probe; NULL (the default) is this process's
 * own binary (/proc/self/exe).  Test programs that are not the daemon set
 * the daemon binary here. */
void probe_set_helper(const char *path);

/* A spare probe process for a one-shot command (`meterd report`): forked
 * now, without exec, while the process has no thread, no SQLite handle
 * and no secret (runner_spare_fork's rule); the first probe_run of the
 * process takes it (the environment of that probe's provider, then what
 * `meterd --probe` does) instead of spawning the binary, which saves that
 * probe the exec and the dynamic linking.  probe_spare_release lets an
 * unused spare exit (EOF on its control pipe) and reaps it.  probe_spare_
 * fork returns 0, or -1 with *err (malloc'd): the probes are spawned as
 * usual. */
int probe_spare_fork(char **err);
/* No more probes will take it: let it exit now, in parallel (it is still
 * reaped by probe_spare_release). */
void probe_spare_dismiss(void);
void probe_spare_release(void);

/* Run one probe.  0 with *out filled, or -1 with *err (see above). */
int probe_run(const probe_request *rq, long long timeout_ms,
              probe_reply *out, char **err);
void probe_reply_release(probe_reply *r);

/* The descriptor cache, a state file in state_dir (statefile.h: written
 * whole by rename, mode 0600, read with O_NOFOLLOW; one that does not
 * parse is moved aside).  An entry holds one probe's reply (a descriptor,
 * or why the plugin does not load) under a key: the plugin's path and
 * instance, the plugin file's identity (st_dev, st_ino, size, mtime in
 * nanoseconds), this meterd binary's identity and the ABI it provides.
 * A reply is reused only when the whole key is equal; anything else - no
 * file, another schema, a damaged entry - probes again and rewrites the
 * entry.  The cache only saves the probe process: the helper that runs a
 * collection loads the plugin itself and refuses a wrong ABI
 * (plugin_host.h), so a stale entry never runs other code. */
#define PROBE_CACHE_FILE "probe-cache.json"
#define PROBE_CACHE_SCHEMA "meterd.probe-cache.v1"

/* probe_run through the cache of state_dir (see above) when rq asks for
 * the descriptor only (!rq->check) and state_dir is not NULL; otherwise
 * exactly probe_run.  A cache that cannot be written costs nothing but
 * the next probe. */
int probe_describe_cached(const char *state_dir, const probe_request *rq,
                          long long timeout_ms, probe_reply *out, char **err);

/* Entry point of the probe process (argv[1] == "--probe"). */
int probe_main(int argc, char **argv);

#endif
