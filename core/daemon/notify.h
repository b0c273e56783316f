/*
 * notify.h - the operator's notify command: one process per alert
 * transition, started with posix_spawn (no shell), given one JSON object
 * on stdin, and never waited for.  The scheduler calls notifier_tick()
 * from its loop: it reaps exited commands with a non-blocking waitpid
 * per pid (never "any child": the runner's helpers are not ours), kills
 * the process group of a command past its timeout, and returns the next
 * deadline.  A command that cannot start, exits non-zero, dies by a
 * signal or times out is logged as a warning; nothing is retried.
 *
 * Invariants: every pid in a notifier is a child this module spawned and
 * has not reaped yet; it leads its own process group.  The payload is
 * written in one go before the stdin pipe is closed (it is far smaller
 * than a pipe's buffer, and the write end is non-blocking, so a command
 * that never reads cannot stall the daemon).
 * Ownership: a notifier owns its pid list; notifier_free() kills and
 * reaps what is still running (bounded wait).
 * Threads: the owner thread only.
 */
#ifndef METERD_NOTIFY_H
#define METERD_NOTIFY_H

#include <stddef.h>

/* At most this many commands run at once; a transition beyond is logged
 * and not notified (an alert storm must not fork-bomb the host). */
#define NOTIFY_MAX_RUNNING 32

typedef struct notifier notifier;

notifier *notifier_new(void);
void notifier_free(notifier *n);

/* Start argv[0] (a path, or a name looked up in PATH) with payload on its
 * stdin, to be killed at now_ms + timeout_ms.  0, or -1 with *err. */
int notifier_spawn(notifier *n, char *const *argv, const char *payload,
                   long long now_ms, long long timeout_ms, char **err);

/* Reap, kill overdue commands; returns the earliest deadline of what is
 * still running (mono ms), or -1 when nothing runs. */
long long notifier_tick(notifier *n, long long now_ms);
size_t notifier_running(const notifier *n);
/* Transitions notified so far, and failed commands. */
unsigned long notifier_started(const notifier *n);
unsigned long notifier_failed(const notifier *n);

#endif
