/*
 * runner_int.h - what runner.c and runner_spare.c share; not for other
 * modules (they use runner.h).
 *
 * Invariants:
 *   - A run_handle is owned by the caller of runner_start /
 *     runner_spare_start until runner_finish frees it; its buf and lines
 *     are owned by the handle.
 *   - Every descriptor these helpers create is close-on-exec and above
 *     RESULT_FD (move_high), so a helper's dup2 onto 0..3 never clobbers
 *     one of ours.
 */
#ifndef METERD_RUNNER_INT_H
#define METERD_RUNNER_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "runner.h"

#define RESULT_CAP ((size_t)16 * 1024 * 1024)
#define RESULT_FD 3
#define MAX_CRASH_MSG 512
/* A supervisor that has not exited this long after SIGTERM is SIGKILLed
 * with its group (it should take milliseconds). */
#define RUNNER_KILL_GRACE_MS (WORKER_KILL_MS + 1000)

struct run_handle {
    int inline_mode;
    pid_t pid;               /* helper (and its process group); 0 inline */
    int fd;                  /* our read end of the result channel; -1 */
    char *buf;               /* result bytes so far (owned) */
    size_t len, cap;
    int overflow;            /* the helper sent more than RESULT_CAP */
    int eof;                 /* the result stream ended (fd closed) */
    int timed_out;           /* killed at the deadline before its result */
    int lingered;            /* killed at the deadline after its result */
    int reaped;              /* helper waited for; status is valid */
    long long killed_at_ms;  /* first runner_kill (SIGTERM), 0: none */
    int status;              /* waitpid status once reaped */
    long long deadline_ms;
    long long budget_ms;     /* the timeout reported on a kill */
    /* The helper's stdout and stderr (process mode): read by
     * runner_read_output, cut into lines for the log. */
    int out_fd;              /* our read end; -1 when none or at EOF */
    char partial[RUNNER_OUTPUT_CAP + 1]; /* the line being read */
    size_t partial_len;
    char **lines;            /* complete lines not yet taken (owned) */
    size_t n_lines;
    size_t out_kept;         /* bytes accepted for the log so far */
    size_t out_dropped;      /* bytes past RUNNER_OUTPUT_CAP */
    double started_at;
};

/* Descriptors: a copy above RESULT_FD (the original closed); close and
 * set -1; O_NONBLOCK. */
int move_high(int fd);
void close_fd(int *fd);
int set_nonblock(int fd);
/* Send all of buf on a socket, giving up at deadline_ms (monotonic). */
int send_all(int fd, const char *buf, size_t len, long long deadline_ms);
/* A new handle; the caller sets deadline_ms and budget_ms. */
run_handle *handle_new(int inline_mode);
/* The job socketpair ([0] ours, [1] the helper's stdin) and the result
 * pipe ([0] ours, non-blocking; [1] the helper's fd 3). */
int make_channels(int job[2], int res[2], char **err);

/* Hand a job to this process's spare helper (runner_spare_fork) instead
 * of spawning one: NULL when there is no spare (or it is gone), and the
 * caller spawns a helper. */
run_handle *runner_spare_start(const char *text, const json_t *env_names,
                               long long budget_ms);

#endif
