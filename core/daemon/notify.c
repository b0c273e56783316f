/* notify.c - running the operator's notify command (contract: notify.h). */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conventions.h"
#include "log.h"
#include "timeutil.h"

extern char **environ;

#define FREE_REAP_MS 500

typedef struct job {
    pid_t pid;
    long long deadline_ms;
    int killed;
    char *name;             /* owned: argv[0], for the log */
} job;

struct notifier {
    job jobs[NOTIFY_MAX_RUNNING];
    size_t n;
    unsigned long started, failed;
};

notifier *notifier_new(void)
{
    return xcalloc(1, sizeof(notifier));
}

size_t notifier_running(const notifier *n)
{
    return n ? n->n : 0;
}

unsigned long notifier_started(const notifier *n)
{
    return n ? n->started : 0;
}

unsigned long notifier_failed(const notifier *n)
{
    return n ? n->failed : 0;
}

int notifier_spawn(notifier *n, char *const *argv, const char *payload,
                   long long now_ms, long long timeout_ms, char **err)
{
    if (!argv || !argv[0])
        return err_set(err, "no notify command");
    if (n->n == NOTIFY_MAX_RUNNING)
        return err_set(err, "%d notify commands still running",
                       NOTIFY_MAX_RUNNING);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return err_set(err, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    /* Its own group (killed as a whole at the timeout), the default
     * dispositions of what the daemon ignores or catches, no mask. */
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGCHLD);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(pfd[0]);
    if (rc != 0) {
        close(pfd[1]);
        n->failed++;
        return err_set(err, "cannot start %s: %s", argv[0], strerror(rc));
    }
    n->started++;
    n->jobs[n->n++] = (job){.pid = pid, .deadline_ms = now_ms + timeout_ms,
                            .killed = 0, .name = xstrdup(argv[0])};
    fcntl(pfd[1], F_SETFL, O_NONBLOCK);
    size_t len = strlen(payload), off = 0;
    while (off < len) {
        ssize_t w = write(pfd[1], payload + off, len - off);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            break; /* it closed stdin or does not read: its business */
    }
    close(pfd[1]);
    return 0;
}

static void job_done(notifier *n, size_t i, int status)
{
    job *j = &n->jobs[i];
    if (j->killed) {
        n->failed++;
        log_msg(MD_LOG_WARN, NULL, "notify command %s killed after its "
                "timeout", j->name);
    } else if (WIFSIGNALED(status)) {
        n->failed++;
        log_msg(MD_LOG_WARN, NULL, "notify command %s died of signal %d",
                j->name, WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        n->failed++;
        log_msg(MD_LOG_WARN, NULL, "notify command %s exited with status %d",
                j->name, WEXITSTATUS(status));
    }
    free(j->name);
    n->jobs[i] = n->jobs[--n->n];
}

long long notifier_tick(notifier *n, long long now_ms)
{
    if (!n)
        return -1;
    long long next = -1;
    for (size_t i = 0; i < n->n;) {
        job *j = &n->jobs[i];
        int st = 0;
        pid_t r = waitpid(j->pid, &st, WNOHANG);
        if (r == j->pid || (r < 0 && errno == ECHILD)) {
            job_done(n, i, r == j->pid ? st : 0);
            continue; /* i now holds the last job */
        }
        if (!j->killed && now_ms >= j->deadline_ms) {
            kill(-j->pid, SIGKILL);
            j->killed = 1;
        }
        if (next < 0 || j->deadline_ms < next)
            next = j->deadline_ms;
        i++;
    }
    return next;
}

void notifier_free(notifier *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        kill(-n->jobs[i].pid, SIGKILL);
        n->jobs[i].killed = 1;
    }
    long long end = mono_ms() + FREE_REAP_MS;
    while (n->n && mono_ms() < end) {
        notifier_tick(n, mono_ms());
        if (n->n)
            poll(NULL, 0, 5);
    }
    for (size_t i = 0; i < n->n; i++)
        free(n->jobs[i].name); /* left to init */
    free(n);
}
