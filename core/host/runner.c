/*
 * runner.c - one collection, isolated (see runner.h).
 *
 * Process isolation: posix_spawn (vfork-like, safe in a threaded daemon,
 * unlike fork) of the daemon binary with "--worker", in its own process
 * group with a clean signal mask and default dispositions.  The job goes
 * over a socketpair (so a helper that dies early gives us EPIPE from
 * send(MSG_NOSIGNAL), never a SIGPIPE, whatever the daemon's signal
 * setup), the result comes back over a pipe on the helper's fd 3.  Every
 * descriptor we create is close-on-exec so it does not leak into helpers
 * of other providers started concurrently.
 *
 * Inline mode: a detached thread runs run_job() on its own deep copy of
 * the job and sends the result JSON over a socketpair.  A thread cannot be
 * killed safely, so at the deadline we only stop listening: runner_kill
 * closes our end and marks the run timed out.  The thread owns all of its
 * data (job copy, its socket end) and never touches the run_handle, so it
 * can finish whenever it likes; its late send() fails with EPIPE (again
 * MSG_NOSIGNAL) and it frees what it owns.
 *
 * A one-shot command's first collection may go to its spare helper
 * instead (runner_spare.c), a child forked before any thread existed.
 */
#include "runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helperenv.h"
#include "log.h"
#include "protocol.h"
#include "statefile.h"
#include "timeutil.h"
#include "unconst.h"
#include "worker.h"

/* ------------------------------------------------------------------ */
/* Descriptor helpers                                                  */
/* ------------------------------------------------------------------ */

/* Keep our descriptors off 0..3: the helper's file actions dup2 onto
 * those numbers, and a source that is also a target would be clobbered
 * (possible when the daemon runs with stdin/stdout closed). */
int move_high(int fd)
{
    if (fd < 0 || fd > RESULT_FD)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, RESULT_FD + 1);
    close(fd);
    return nfd;
}

void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Send all of buf on a socket, giving up at deadline_ms.  A dead peer is
 * EPIPE (MSG_NOSIGNAL), which the helper then reports by its exit. */
int send_all(int fd, const char *buf, size_t len, long long deadline_ms)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            buf += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            long long left = deadline_ms - mono_ms();
            if (left <= 0)
                return -1;
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, left > 1000 ? 1000 : (int)left);
            continue;
        }
        return -1;
    }
    return 0;
}

static char *job_text(const provider_conf *pc, const char *state_root,
                      long long budget_ms, unsigned long long usage_gen)
{
    char *dir = state_root ? xasprintf("%s/plugins/%s", state_root, pc->name)
                           : NULL;
    json_t *job = protocol_job_to_json(pc, dir, budget_ms, usage_gen);
    char *text = json_dumps(job, JSON_COMPACT);
    json_decref(job);
    free(dir);
    return text;
}

/* The caller sets deadline_ms and budget_ms. */
run_handle *handle_new(int inline_mode)
{
    run_handle *h = xcalloc(1, sizeof *h);
    h->inline_mode = inline_mode;
    h->fd = -1;
    h->out_fd = -1;
    h->started_at = time_now();
    return h;
}

/* ------------------------------------------------------------------ */
/* Process isolation                                                   */
/* ------------------------------------------------------------------ */

static int spawn_attrs(posix_spawnattr_t *attr)
{
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&defaults, sigs[i]);
    int rc = posix_spawnattr_init(attr);
    if (rc)
        return rc;
    /* pgid 0: the helper leads a new group, so the deadline kill also
     * reaches whatever it spawned. */
    if ((rc = posix_spawnattr_setpgroup(attr, 0)) ||
        (rc = posix_spawnattr_setsigmask(attr, &empty)) ||
        (rc = posix_spawnattr_setsigdefault(attr, &defaults)) ||
        (rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
                                                 POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF)))
        posix_spawnattr_destroy(attr);
    return rc;
}

static int spawn_actions(posix_spawn_file_actions_t *fa, int job_fd,
                         int result_fd, int out_fd)
{
    int rc = posix_spawn_file_actions_init(fa);
    if (rc)
        return rc;
    /* dup2 clears close-on-exec on the targets; the sources stay
     * close-on-exec and vanish at exec. */
    if ((rc = posix_spawn_file_actions_adddup2(fa, job_fd, STDIN_FILENO)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, result_fd, RESULT_FD)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, out_fd, STDOUT_FILENO)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, out_fd, STDERR_FILENO)))
        posix_spawn_file_actions_destroy(fa);
    return rc;
}

/* Spawn the helper with its ends of the channels; returns pid or -1. */
static pid_t spawn_worker(const char *self_exe, const json_t *env_names,
                          int job_fd, int result_fd, int out_fd, char **err)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    int rc = spawn_attrs(&attr);
    if (rc == 0 && (rc = spawn_actions(&fa, job_fd, result_fd, out_fd)) != 0)
        posix_spawnattr_destroy(&attr);
    if (rc) {
        *err = xasprintf("cannot prepare helper process: %s", strerror(rc));
        return -1;
    }
    char parent[40];
    snprintf(parent, sizeof parent, "--parent=%ld", (long)getpid());
    char *argv[] = {spawn_arg(self_exe), "--worker", parent, NULL};
    pid_t pid;
    char **env = helper_env_new(env_names);
    rc = posix_spawn(&pid, self_exe, &fa, &attr, argv, env);
    helper_env_free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc) {
        *err = xasprintf("cannot start helper %s: %s", self_exe, strerror(rc));
        errno = rc;
        return -1;
    }
    return pid;
}

/* Two channels: job (socketpair: [0] ours, [1] helper's stdin) and
 * result (pipe: [0] ours, [1] helper's fd 3). */
int make_channels(int job[2], int res[2], char **err)
{
    job[0] = job[1] = res[0] = res[1] = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, job) != 0 ||
        pipe2(res, O_CLOEXEC) != 0) {
        int e = errno;
        *err = xasprintf("cannot create helper channels: %s", strerror(e));
        for (int i = 0; i < 2; i++)
            if (job[i] >= 0)
                close(job[i]);
        errno = e;
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        job[i] = move_high(job[i]);
        res[i] = move_high(res[i]);
    }
    if (job[0] < 0 || job[1] < 0 || res[0] < 0 || res[1] < 0 ||
        set_nonblock(res[0]) != 0) {
        *err = xasprintf("cannot set up helper channels: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static run_handle *start_process(const char *text, const char *self_exe,
                                 const json_t *env_names, long long budget_ms,
                                 char **err)
{
    int job[2], res[2], out[2] = {-1, -1};
    run_handle *h = NULL;
    if (make_channels(job, res, err) == 0) {
        if (pipe2(out, O_CLOEXEC) != 0 || (out[0] = move_high(out[0])) < 0 ||
            (out[1] = move_high(out[1])) < 0 || set_nonblock(out[0]) != 0) {
            *err = xasprintf("cannot create the helper's output pipe: %s",
                             strerror(errno));
        } else {
            pid_t pid = spawn_worker(self_exe, env_names, job[1], res[1],
                                     out[1], err);
            if (pid > 0) {
                h = handle_new(0);
                h->pid = pid;
                h->fd = res[0];
                res[0] = -1;
                h->out_fd = out[0];
                out[0] = -1;
            }
        }
    }
    int e = errno;
    close_fd(&job[1]);
    close_fd(&res[1]);
    close_fd(&res[0]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    errno = e;
    if (h) {
        /* A short or failed send leaves the helper with a truncated job,
         * which it reports as an error result; nothing to do here. */
        send_all(job[0], text, strlen(text), mono_ms() + budget_ms);
        shutdown(job[0], SHUT_WR);
    }
    close_fd(&job[0]);
    if (!h)
        errno = e;
    return h;
}

/* ------------------------------------------------------------------ */
/* Inline mode                                                         */
/* ------------------------------------------------------------------ */

/* Everything the inline thread owns; it frees it itself. */
typedef struct inline_job {
    json_t *job;
    int fd;
} inline_job;

static void *inline_thread(void *arg)
{
    inline_job *ij = arg;
    collect_result res;
    run_job(ij->job, &res);
    json_t *out = protocol_result_to_json(&res);
    char *text = json_dumps(out, JSON_COMPACT);
    if (text) {
        /* blocking socket: waits for the scheduler to read; fails with
         * EPIPE once runner_kill/finish closed the other end */
        const char *p = text;
        size_t left = strlen(text);
        while (left > 0) {
            ssize_t w = send(ij->fd, p, left, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
    free(text);
    json_decref(out);
    collect_result_clear(&res);
    close(ij->fd);
    json_decref(ij->job);
    free(ij);
    return NULL;
}

static run_handle *start_inline(const provider_conf *pc,
                                const char *state_root, long long budget_ms,
                                unsigned long long usage_gen, char **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        *err = xasprintf("cannot create result channel: %s", strerror(errno));
        return NULL;
    }
    set_nonblock(sv[0]);
    char *dir = state_root ? xasprintf("%s/plugins/%s", state_root, pc->name)
                           : NULL;
    inline_job *ij = xcalloc(1, sizeof *ij);
    ij->job = protocol_job_to_json(pc, dir, budget_ms, usage_gen); /* private */
    ij->fd = sv[1];
    free(dir);
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, inline_thread, ij);
    pthread_attr_destroy(&attr);
    if (rc) {
        *err = xasprintf("cannot start collection thread: %s", strerror(rc));
        json_decref(ij->job);
        free(ij);
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    run_handle *h = handle_new(1);
    h->fd = sv[0];
    return h;
}

/* ------------------------------------------------------------------ */
/* Public interface                                                    */
/* ------------------------------------------------------------------ */

run_handle *runner_start(const provider_conf *pc, const char *self_exe,
                         const char *state_root, long long deadline_ms,
                         unsigned long long usage_generation, char **err)
{
    *err = NULL;
    long long budget = deadline_ms - mono_ms();
    if (budget <= 0) {
        *err = xstrdup("the collection deadline passed before it started");
        return NULL;
    }
    /* The operator's configured timeout is what a timeout message names
     * (the scheduler sets deadline = start + timeout_ms); the budget left
     * by now is a few ms less. */
    long long shown = pc->timeout_ms > 0 ? pc->timeout_ms : budget;
    run_handle *h;
    if (pc->isolation == ISOLATION_INLINE) {
        h = start_inline(pc, state_root, budget, usage_generation, err);
    } else if (!self_exe) {
        *err = xstrdup("no helper executable");
        return NULL;
    } else {
        char *text = job_text(pc, state_root, budget, usage_generation);
        h = runner_spare_start(text, pc->env_names, budget);
        if (!h)
            h = start_process(text, self_exe, pc->env_names, budget, err);
        free(text);
    }
    if (h) {
        h->deadline_ms = deadline_ms;
        h->budget_ms = shown;
    }
    return h;
}

int runner_fd(const run_handle *h) { return h->fd; }

long long runner_deadline(const run_handle *h) { return h->deadline_ms; }

/* The stream is over: stop polling it.  A stray child of the plugin that
 * still holds the pipe gets EPIPE, which is its business. */
static int stream_ended(run_handle *h)
{
    h->eof = 1;
    close_fd(&h->fd);
    return 1;
}

int runner_read(run_handle *h)
{
    char chunk[65536];
    while (h->fd >= 0) {
        ssize_t r = read(h->fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0)
            return stream_ended(h); /* end of stream, or an error */
        size_t n = (size_t)r;
        if (h->len + n > RESULT_CAP) {
            h->overflow = 1;   /* keep draining so the helper can exit */
            continue;
        }
        if (h->len + n > h->cap) {
            h->cap = h->cap ? h->cap : 65536;
            while (h->cap < h->len + n)
                h->cap *= 2;
            h->buf = xrealloc(h->buf, h->cap);
        }
        memcpy(h->buf + h->len, chunk, n);
        h->len += n;
        /* The result ends with the newline after its JSON (protocol.h):
         * done, even if a stray child of the plugin still holds the pipe. */
        if (h->buf[h->len - 1] == '\n' &&
            protocol_result_complete(h->buf, h->len))
            return stream_ended(h);
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* The helper's output                                                 */
/* ------------------------------------------------------------------ */

int runner_out_fd(const run_handle *h) { return h->out_fd; }

static void push_line(run_handle *h)
{
    h->partial[h->partial_len] = '\0';
    h->lines = xrealloc(h->lines, (h->n_lines + 1) * sizeof *h->lines);
    h->lines[h->n_lines++] = xstrdup(h->partial);
    h->partial_len = 0;
}

/* Take byte c of the output: kept while the collection's budget of
 * RUNNER_OUTPUT_CAP bytes lasts, counted after. */
static void output_byte(run_handle *h, char c)
{
    if (h->out_kept >= RUNNER_OUTPUT_CAP) {
        h->out_dropped++;
        return;
    }
    h->out_kept++;
    if (c == '\n')
        push_line(h);
    else
        h->partial[h->partial_len++] = c;
}

int runner_read_output(run_handle *h)
{
    char chunk[16384];
    while (h->out_fd >= 0) {
        ssize_t r = read(h->out_fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0) {
            close_fd(&h->out_fd);
            break;
        }
        for (ssize_t i = 0; i < r; i++)
            output_byte(h, chunk[i]);
    }
    if (h->partial_len)
        push_line(h);   /* the last line had no newline */
    return 1;
}

char **runner_take_output(run_handle *h, size_t *n)
{
    char **lines = h->lines;
    *n = h->n_lines;
    h->lines = NULL;
    h->n_lines = 0;
    return lines;
}

size_t runner_output_dropped(const run_handle *h) { return h->out_dropped; }

void runner_kill(run_handle *h)
{
    /* After a complete result the helper merely failed to exit: its
     * result still counts (see process_outcome). */
    if (h->timed_out || h->lingered)
        ;   /* killed before: only the signal again */
    else if (h->eof && h->len > 0)
        h->lingered = 1;
    else
        h->timed_out = 1;
    if (h->inline_mode) {
        close_fd(&h->fd);   /* the thread's late send() fails; see top */
        return;
    }
    if (h->pid <= 0 || h->reaped)
        return;
    /* SIGTERM to the supervisor, which runs no plugin code: it kills and
     * reaps everything below it, whatever group or session that moved
     * to (worker.h).  Only if it has not exited after RUNNER_KILL_GRACE_MS
     * does the whole group get SIGKILL. */
    long long now = mono_ms();
    if (!h->killed_at_ms) {
        h->killed_at_ms = now;
        kill(h->pid, SIGTERM);
    } else if (now - h->killed_at_ms >= RUNNER_KILL_GRACE_MS) {
        kill(-h->pid, SIGKILL);
    }
}

pid_t runner_pid(const run_handle *h)
{
    return h->inline_mode || h->reaped ? 0 : h->pid;
}

int runner_reap(run_handle *h)
{
    if (h->inline_mode || h->reaped)
        return 1;
    /* WNOWAIT leaves the helper a zombie, so its pid, and thus its process
     * group id, cannot be reused while we kill stray members of the
     * group; then the real wait collects the zombie at once. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc;
    while ((rc = waitid(P_PID, (id_t)h->pid, &si,
                        WEXITED | WNOWAIT | WNOHANG)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {          /* ECHILD: not ours to wait for any more */
        h->reaped = 1;
        h->status = 0;
        return 1;
    }
    if (si.si_pid != h->pid)
        return 0;           /* still running */
    /* grandchildren that stayed in the group die with the collection */
    kill(-h->pid, SIGKILL);
    while (waitpid(h->pid, &h->status, 0) < 0 && errno == EINTR)
        ;
    h->reaped = 1;
    return 1;
}

int runner_done(const run_handle *h)
{
    int stream_over = h->eof || h->timed_out || h->lingered;
    return stream_over && (h->inline_mode || h->reaped);
}

static void set_failure(collect_result *out, md_error cls, char *msg)
{
    out->err = cls;
    out->err_msg = msg;
}

static const char *signal_name(int sig, char *buf, size_t len)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

/* Parse the helper's output into out; a failure is "crashed". */
static void parse_output(run_handle *h, collect_result *out, const char *who)
{
    if (h->overflow) {
        set_failure(out, MD_ERR_CRASHED,
                    xasprintf("%s sent a result larger than %zu bytes", who,
                              RESULT_CAP));
        return;
    }
    char *why = NULL;
    if (protocol_result_decode(h->buf, h->len, out, &why) == 0)
        return;
    char *msg = xasprintf("%s returned no valid result: %s", who, why);
    if (strlen(msg) > MAX_CRASH_MSG)
        msg[MAX_CRASH_MSG] = '\0';
    collect_result_init(out);
    set_failure(out, MD_ERR_CRASHED, msg);
    free(why);
}

static void process_outcome(run_handle *h, int status, collect_result *out)
{
    char sig[32];
    if (h->lingered) {
        /* A complete result counts even if the helper then hung on its
         * way out; without one, the run simply took too long. */
        parse_output(h, out, "helper process");
        if (out->err != MD_ERR_CRASHED)
            return;
        collect_result_clear(out);
        h->timed_out = 1;
    }
    if (h->timed_out)
        set_failure(out, MD_ERR_TIMEOUT,
                    xasprintf("collection exceeded its timeout of %lld ms",
                              h->budget_ms));
    else if (WIFSIGNALED(status))
        set_failure(out, MD_ERR_CRASHED,
                    xasprintf("helper process died of %s",
                              signal_name(WTERMSIG(status), sig, sizeof sig)));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        set_failure(out, MD_ERR_CRASHED,
                    xasprintf("helper process exited with status %d",
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1));
    else
        parse_output(h, out, "helper process");
}

void runner_finish(run_handle *h, collect_result *out)
{
    collect_result_init(out);
    if (h->inline_mode) {
        if (h->timed_out)
            set_failure(out, MD_ERR_TIMEOUT,
                        xasprintf("collection exceeded its timeout of %lld ms",
                                  h->budget_ms));
        else
            parse_output(h, out, "inline collection");
    } else {
        process_outcome(h, h->status, out);
    }
    if (out->err == MD_ERR_TIMEOUT || out->err == MD_ERR_CRASHED) {
        out->started_at = h->started_at;
        out->finished_at = time_now();
    }
    close_fd(&h->fd);
    close_fd(&h->out_fd);
    for (size_t i = 0; i < h->n_lines; i++)
        free(h->lines[i]);
    free(h->lines);
    free(h->buf);
    free(h);
}
