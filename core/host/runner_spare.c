/*
 * runner_spare.c - the spare helper of a one-shot command (see runner.h,
 * runner_spare_fork): a child forked, without exec, before the command
 * reads its configuration or starts a thread, which then becomes what
 * `meterd --worker` is for the command's first collection.  It saves the
 * exec and the second dynamic linking of an exec'd helper; the isolation
 * is the same (own process group, default signals, descriptors 0-3 only,
 * the scrubbed environment, the same result protocol and timeout kill).
 */
#include "runner_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helperenv.h"
#include "log.h"
#include "statefile.h"
#include "timeutil.h"
#include "worker.h"

/* The one spare of this process (runner_spare_fork); pid 0: none. */
static struct {
    pid_t pid;
    int job_fd, res_fd, out_fd, ctl_fd;   /* our ends; -1 when none */
} g_spare = {0, -1, -1, -1, -1};

/* The spare's side: wait on the control pipe for the environment names
 * (a JSON array or null; EOF without them: not needed, exit quietly),
 * take the scrubbed environment, then be what `meterd --worker` is.
 * Never returns. */
static void spare_main(int ctl_fd, pid_t parent)
{
    if (helper_env_await(ctl_fd) != 0)
        _exit(0);
    char arg[40];
    snprintf(arg, sizeof arg, "--parent=%ld", (long)parent);
    char *argv[] = {"meterd", "--worker", arg, NULL};
    int rc = worker_main(3, argv);
    fflush(NULL);
    _exit(rc);
}

int runner_spare_fork(char **err)
{
    *err = NULL;
    if (g_spare.pid > 0)
        return 0;
    int job[2], res[2], out[2] = {-1, -1}, ctl[2] = {-1, -1};
    if (make_channels(job, res, err) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0 || (out[0] = move_high(out[0])) < 0 ||
        (out[1] = move_high(out[1])) < 0 || set_nonblock(out[0]) != 0 ||
        pipe2(ctl, O_CLOEXEC) != 0 || (ctl[0] = move_high(ctl[0])) < 0 ||
        (ctl[1] = move_high(ctl[1])) < 0) {
        *err = xasprintf("cannot create the spare helper's pipes: %s",
                         strerror(errno));
    } else {
        _Static_assert(RESULT_FD == 3, "helper_spare_fork's result fd");
        pid_t pid = helper_spare_fork(job[1], res[1], out[1], ctl[0],
                                      spare_main);
        if (pid < 0) {
            *err = xasprintf("cannot fork the spare helper: %s",
                             strerror(errno));
        } else {
            g_spare.pid = pid;
            g_spare.job_fd = job[0];
            g_spare.res_fd = res[0];
            g_spare.out_fd = out[0];
            g_spare.ctl_fd = ctl[1];
            job[0] = res[0] = out[0] = ctl[1] = -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        close_fd(&job[i]);
        close_fd(&res[i]);
        close_fd(&out[i]);
        close_fd(&ctl[i]);
    }
    return g_spare.pid > 0 ? 0 : -1;
}

void runner_spare_release(void)
{
    if (g_spare.pid <= 0)
        return;
    /* EOF on its control pipe: the spare exits at once. */
    close_fd(&g_spare.ctl_fd);
    close_fd(&g_spare.job_fd);
    close_fd(&g_spare.res_fd);
    close_fd(&g_spare.out_fd);
    while (waitpid(g_spare.pid, NULL, 0) < 0 && errno == EINTR)
        ;
    g_spare.pid = 0;
}

/* Hand the job to the spare instead of spawning a helper: the spare
 * takes its environment, then reads the job as an exec'd helper does.
 * NULL (spare gone) lets the caller spawn one. */
run_handle *runner_spare_start(const char *text, const json_t *env_names,
                               long long budget_ms)
{
    if (g_spare.pid <= 0)
        return NULL;
    char *names = json_dumps(env_names ? env_names : json_null(),
                             JSON_COMPACT | JSON_ENCODE_ANY);
    int ok = names && write_all(g_spare.ctl_fd, names, strlen(names)) == 0;
    free(names);
    close_fd(&g_spare.ctl_fd);
    if (!ok) {
        runner_spare_release();
        return NULL;
    }
    run_handle *h = handle_new(0);
    h->pid = g_spare.pid;
    h->fd = g_spare.res_fd;
    h->out_fd = g_spare.out_fd;
    g_spare.pid = 0;
    g_spare.res_fd = g_spare.out_fd = -1;
    int job_fd = g_spare.job_fd;
    g_spare.job_fd = -1;
    send_all(job_fd, text, strlen(text), mono_ms() + budget_ms);
    shutdown(job_fd, SHUT_WR);
    close(job_fd);
    return h;
}
