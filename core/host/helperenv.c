/*
 * helperenv.c - see helperenv.h.
 */
#include "helperenv.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

/* Is "NAME=value" entry e one of the variables every helper gets? */
static int always_kept(const char *e)
{
    static const char *const names[] = {"PATH", "HOME", "LANG", "TZ",
#if defined(__SANITIZE_ADDRESS__)
                                        "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                        "LSAN_OPTIONS",
#endif
                                        NULL};
    if (strncmp(e, "LC_", 3) == 0)
        return 1;
    for (const char *const *n = names; *n; n++) {
        size_t l = strlen(*n);
        if (strncmp(e, *n, l) == 0 && e[l] == '=')
            return 1;
    }
    return 0;
}

static int named(const char *e, const json_t *names)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        const char *n = json_string_value(v);
        size_t l = n ? strlen(n) : 0;
        if (l && strncmp(e, n, l) == 0 && e[l] == '=')
            return 1;
    }
    return 0;
}

char **helper_env_new(const json_t *names)
{
    size_t n = 0, k = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **out = xcalloc(n + 1, sizeof *out);
    for (char **e = environ; e && *e; e++)
        if (always_kept(*e) || (json_is_array(names) && named(*e, names)))
            out[k++] = xstrdup(*e);
    out[k] = NULL;
    return out;
}

void helper_env_free(char **env)
{
    if (!env)
        return;
    for (char **e = env; *e; e++)
        free(*e);
    free(env);
}

void helper_env_adopt(const json_t *names)
{
    char **env = helper_env_new(names);
    char **old = environ;
    environ = env;
    for (char **e = old; e && *e; e++)
        memset(*e, 0, strlen(*e));
}

int helper_env_await(int fd)
{
    size_t cap = 4096, n = 0;
    char *text = xmalloc(cap);
    for (;;) {
        if (n == cap)
            text = xrealloc(text, cap *= 2);
        ssize_t r = read(fd, text + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n == 0) {
        free(text);
        return -1;
    }
    json_t *names = json_loadb(text, n, JSON_DECODE_ANY, NULL);
    free(text);
    helper_env_adopt(names);
    json_decref(names);
    return 0;
}

pid_t helper_spare_fork(int in_fd, int result_fd, int out_fd, int ctl_fd,
                        void (*child_main)(int ctl_fd, pid_t parent))
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            setpgid(pid, pid);
        return pid;
    }
    /* the caller dies while we wait: so do we */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    setpgid(0, 0);
    static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    dup2(in_fd, STDIN_FILENO);
    dup2(result_fd, 3);
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
    } else {
        dup2(STDERR_FILENO, STDOUT_FILENO);
    }
    dup2(ctl_fd, 4);
    close_range(5, ~0U, 0);
    child_main(4, parent);
    _exit(1);   /* child_main does not return */
}
