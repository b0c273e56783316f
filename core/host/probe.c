/*
 * probe.c - a plugin's descriptor and check() in a helper process (see
 * probe.h).  The caller's side spawns and supervises; probe_main is the
 * helper's side.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conventions.h"
#include "helperenv.h"
#include "hostctx.h"
#include "log.h"
#include "plugin_host.h"
#include "statefile.h"
#include "timeutil.h"
#include "unconst.h"
#include "worker.h"

/* check() must not block; it still gets a deadline for remaining_ms(). */
#define CHECK_BUDGET_MS 1000
#define PROBE_CPU_SECONDS 10
#define REQUEST_MAX ((size_t)8 * 1024 * 1024)
#define REPLY_MAX ((size_t)4 * 1024 * 1024)

static char *g_helper;

void probe_set_helper(const char *path)
{
    free(g_helper);
    g_helper = path ? xstrdup(path) : NULL;
}

/* ------------------------------------------------------------------ */
/* The caller's side                                                   */
/* ------------------------------------------------------------------ */

static json_t *request_json(const probe_request *rq)
{
    json_t *secrets = json_array();
    for (size_t i = 0; i < rq->n_secrets; i++)
        if (rq->secrets[i])
            json_array_append_new(secrets, json_string(rq->secrets[i]));
    return json_pack("{s:s, s:s, s:b, s:O, s:o, s:i}", "plugin_path",
                     rq->plugin_path ? rq->plugin_path : "", "instance",
                     rq->instance ? rq->instance : "", "check", rq->check != 0,
                     "options", rq->options ? rq->options : json_null(),
                     "secrets", secrets, "log_level", (int)log_get_level());
}

static int helper_path(char *buf, size_t len)
{
    if (g_helper)
        return snprintf(buf, len, "%s", g_helper) < (int)len ? 0 : -1;
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* Keep our ends off 0..3, the numbers the helper's dup2s target. */
static int move_high(int fd)
{
    if (fd < 0 || fd > 3)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 4);
    close(fd);
    return nfd;
}

static pid_t spawn_probe(const char *exe, const json_t *env_names, int req_fd,
                         int rep_fd, char **err)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&defaults, sigs[i]);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                        POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, req_fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, rep_fd, PROTOCOL_RESULT_FD);
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    char parent[40];
    snprintf(parent, sizeof parent, "--parent=%ld", (long)getpid());
    char *argv[] = {spawn_arg(exe), "--probe", parent, NULL};
    pid_t pid;
    /* A collection's environment: what check() validates is there. */
    char **env = helper_env_new(env_names);
    int rc = posix_spawn(&pid, exe, &fa, &attr, argv, env);
    helper_env_free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc) {
        err_set(err, "cannot start the plugin probe %s: %s", exe, strerror(rc));
        return -1;
    }
    return pid;
}

/* ------------------------------------------------------------------ */
/* The spare probe of a one-shot command                               */
/* ------------------------------------------------------------------ */

/* One probe process forked, without exec, at the start of `meterd
 * report` (probe_spare_fork), while the process has no thread, no
 * SQLite handle and no secret (runner_spare_fork's rule); the first probe
 * that process needs takes it instead of spawning (spare_take).  It saves
 * that probe the exec and the dynamic linking of the binary; everything
 * else is what spawn_probe sets up: its own process group, default
 * signals, the request on 0, the reply on PROTOCOL_RESULT_FD, stdout to
 * stderr, the provider's scrubbed environment, then probe_main. */
static struct {
    pid_t pid;
    int req_fd, rep_fd, ctl_fd;   /* our ends; -1 when none */
} g_spare = {0, -1, -1, -1};

/* The spare's side: the environment names on the control pipe (EOF
 * without them: not needed, exit quietly), then `meterd --probe`. */
static void spare_main(int ctl_fd, pid_t parent)
{
    if (helper_env_await(ctl_fd) != 0)
        _exit(0);
    char arg[40];
    snprintf(arg, sizeof arg, "--parent=%ld", (long)parent);
    char *argv[] = {"meterd", "--probe", arg, NULL};
    int rc = probe_main(3, argv);
    fflush(NULL);
    _exit(rc);
}

int probe_spare_fork(char **err)
{
    *err = NULL;
    if (g_spare.pid > 0)
        return 0;
    int req[2] = {-1, -1}, rep[2] = {-1, -1}, ctl[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, req) != 0 ||
        pipe2(rep, O_CLOEXEC) != 0 || pipe2(ctl, O_CLOEXEC) != 0) {
        *err = xasprintf("cannot create the spare probe's channels: %s",
                         strerror(errno));
    } else {
        for (int i = 0; i < 2; i++) {
            req[i] = move_high(req[i]);
            rep[i] = move_high(rep[i]);
            ctl[i] = move_high(ctl[i]);
        }
        _Static_assert(PROTOCOL_RESULT_FD == 3,
                       "helper_spare_fork's result descriptor");
        /* stdout to stderr, as spawn_probe does */
        pid_t pid = helper_spare_fork(req[1], rep[1], -1, ctl[0], spare_main);
        if (pid < 0) {
            *err = xasprintf("cannot fork the spare probe: %s",
                             strerror(errno));
        } else {
            g_spare.pid = pid;
            g_spare.req_fd = req[0];
            g_spare.rep_fd = rep[0];
            g_spare.ctl_fd = ctl[1];
            req[0] = rep[0] = ctl[1] = -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (req[i] >= 0)
            close(req[i]);
        if (rep[i] >= 0)
            close(rep[i]);
        if (ctl[i] >= 0)
            close(ctl[i]);
    }
    return g_spare.pid > 0 ? 0 : -1;
}

static void spare_close_fds(void)
{
    int *fds[] = {&g_spare.req_fd, &g_spare.rep_fd, &g_spare.ctl_fd};
    for (size_t i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

void probe_spare_dismiss(void)
{
    spare_close_fds();   /* EOF on its control pipe: it exits at once */
}

void probe_spare_release(void)
{
    if (g_spare.pid <= 0)
        return;
    spare_close_fds();
    while (waitpid(g_spare.pid, NULL, 0) < 0 && errno == EINTR)
        ;
    g_spare.pid = 0;
}

/* The spare for a probe of a provider with env_names: its pid (the
 * caller's to wait for) and our ends of its request and reply channels;
 * 0 when there is no spare (none forked, or taken already). */
static pid_t spare_take(const json_t *env_names, int *req_fd, int *rep_fd)
{
    if (g_spare.pid <= 0 || g_spare.ctl_fd < 0)
        return 0;   /* none, or dismissed */
    char *names = json_dumps(env_names ? env_names : json_null(),
                             JSON_COMPACT | JSON_ENCODE_ANY);
    int ok = names && write_all(g_spare.ctl_fd, names, strlen(names)) == 0;
    free(names);
    close(g_spare.ctl_fd);
    g_spare.ctl_fd = -1;
    if (!ok) {
        probe_spare_release();
        return 0;
    }
    pid_t pid = g_spare.pid;
    *req_fd = g_spare.req_fd;
    *rep_fd = g_spare.rep_fd;
    g_spare.pid = 0;
    g_spare.req_fd = g_spare.rep_fd = -1;
    return pid;
}

/* Send the request and collect the reply until EOF or the deadline.
 * Returns 0 at EOF, -1 at the deadline. */
static int exchange(int req_fd, int rep_fd, const char *req, size_t req_len,
                    long long deadline, char **reply, size_t *reply_len)
{
    size_t sent = 0, cap = 0;
    *reply = NULL;
    *reply_len = 0;
    for (;;) {
        struct pollfd p[2] = {{rep_fd, POLLIN, 0}, {req_fd, POLLOUT, 0}};
        nfds_t n = req_fd >= 0 ? 2 : 1;
        long long left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        int pr = poll(p, n, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue;
        if (n == 2 && p[1].revents) {
            ssize_t w = send(req_fd, req + sent, req_len - sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                sent = req_len;   /* the probe is gone: its exit says why */
            if (sent == req_len) {
                shutdown(req_fd, SHUT_WR);
                req_fd = -1;
            }
        }
        if (p[0].revents) {
            char chunk[16384];
            ssize_t r = read(rep_fd, chunk, sizeof chunk);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0)
                return 0;
            if (*reply_len + (size_t)r > REPLY_MAX)
                continue;   /* too much: drain, then refuse it */
            if (*reply_len + (size_t)r > cap) {
                cap = (*reply_len + (size_t)r) * 2;
                *reply = xrealloc(*reply, cap);
            }
            memcpy(*reply + *reply_len, chunk, (size_t)r);
            *reply_len += (size_t)r;
        }
    }
}

/* Wait for pid until the deadline; SIGKILL its group past it.  Returns
 * the wait status, or -1 when it had to be killed. */
static int wait_probe(pid_t pid, long long deadline)
{
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return 0;
        if (mono_ms() >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        usleep(2000);
    }
    kill(-pid, SIGKILL);   /* what the plugin started dies with the probe */
    return st;
}

/* Read a reply object (the wire's, or one kept in the cache). */
static int reply_from_json(const json_t *j, probe_reply *out, char **err)
{
    if (!json_is_object(j))
        return err_set(err, "gave no valid answer");
    out->loaded = json_is_true(json_object_get(j, "loaded"));
    if (!out->loaded) {
        const char *cls = json_string_value(json_object_get(j, "class"));
        out->cls = cls && strcmp(cls, "abi") == 0 ? MD_ERR_ABI : MD_ERR_CONFIG;
        const char *msg = json_string_value(json_object_get(j, "message"));
        out->message = xstrdup(msg ? msg : "cannot be loaded");
        return 0;
    }
    if (protocol_facts_from_json(json_object_get(j, "descriptor"),
                                 &out->facts, err) != 0)
        return -1;
    json_t *chk = json_object_get(j, "check");
    out->checked = json_is_object(chk);
    const char *e = json_string_value(json_object_get(chk, "error"));
    out->check_error = e ? xstrdup(e) : NULL;
    return 0;
}

static char *status_words(int st)
{
    if (WIFSIGNALED(st)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(st));
        return abbrev ? xasprintf("died of SIG%s", abbrev)
                      : xasprintf("died of signal %d", WTERMSIG(st));
    }
    return xasprintf("exited with status %d without answering",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Run one probe: 0 with *out (the reply object, new reference), or -1
 * with *err. */
static int probe_exchange(const probe_request *rq, long long timeout_ms,
                          json_t **out, char **err)
{
    *out = NULL;
    long long deadline = mono_ms() + timeout_ms;
    int req[2] = {-1, -1}, rep[2] = {-1, -1};
    pid_t pid = spare_take(rq->env_names, &req[0], &rep[0]);
    if (pid <= 0) {
        char exe[4096];
        if (helper_path(exe, sizeof exe) != 0)
            return err_set(err, "cannot find the meterd binary for the probe");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, req) != 0 ||
            pipe2(rep, O_CLOEXEC) != 0) {
            int e = errno;
            for (int i = 0; i < 2; i++) {
                if (req[i] >= 0)
                    close(req[i]);
            }
            return err_set(err, "cannot create the probe's channels: %s",
                           strerror(e));
        }
        for (int i = 0; i < 2; i++) {
            req[i] = move_high(req[i]);
            rep[i] = move_high(rep[i]);
        }
        pid = spawn_probe(exe, rq->env_names, req[1], rep[1], err);
        close(req[1]);
        close(rep[1]);
        if (pid < 0) {
            close(req[0]);
            close(rep[0]);
            return -1;
        }
    }
    json_t *rj = request_json(rq);
    char *text = json_dumps(rj, JSON_COMPACT);
    json_decref(rj);
    char *reply;
    size_t reply_len;
    int in_time = exchange(req[0], rep[0], text, strlen(text), deadline,
                           &reply, &reply_len) == 0;
    free(text);
    close(req[0]);
    close(rep[0]);
    int st = wait_probe(pid, in_time ? deadline : mono_ms());
    int rc = 0;
    if (!in_time || st < 0) {
        rc = err_set(err, "did not answer within %lld s", timeout_ms / 1000);
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || reply_len == 0) {
        char *why = status_words(st);
        rc = err_set(err, "%s", why);
        free(why);
    } else {
        /* (json_is_object evaluates its argument twice) */
        *out = json_loadb(reply, reply_len, 0, NULL);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            rc = err_set(err, "gave no valid answer");
        }
    }
    free(reply);
    return rc;
}

int probe_run(const probe_request *rq, long long timeout_ms,
              probe_reply *out, char **err)
{
    memset(out, 0, sizeof *out);
    json_t *j;
    if (probe_exchange(rq, timeout_ms, &j, err) != 0)
        return -1;
    int rc = reply_from_json(j, out, err);
    json_decref(j);
    if (rc != 0)
        probe_reply_release(out);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The descriptor cache                                                */
/* ------------------------------------------------------------------ */

/* A file's identity as the cache keys it, or NULL when it cannot be
 * stat()ed (the path is followed, as dlopen follows it). */
static json_t *file_identity(const char *path)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return NULL;
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "dev", (json_int_t)st.st_dev,
                     "ino", (json_int_t)st.st_ino, "size",
                     (json_int_t)st.st_size, "mtime_s",
                     (json_int_t)st.st_mtim.tv_sec, "mtime_ns",
                     (json_int_t)st.st_mtim.tv_nsec);
}

/* The key of rq's descriptor: the plugin file, this meterd binary and
 * the ABI it provides; NULL when a file cannot be stat()ed. */
static json_t *cache_key(const probe_request *rq)
{
    char exe[4096];
    json_t *plugin = file_identity(rq->plugin_path);
    json_t *self = helper_path(exe, sizeof exe) == 0 ? file_identity(exe) : NULL;
    if (!plugin || !self) {
        json_decref(plugin);
        json_decref(self);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:i, s:i}", "plugin_path",
                     rq->plugin_path, "instance",
                     rq->instance ? rq->instance : "", "plugin", plugin,
                     "meterd", self, "abi_major", MD_ABI_MAJOR, "abi_minor",
                     MD_ABI_MINOR);
}

/* The cache's entries (borrowed from doc), or NULL when doc is not a
 * cache of this schema. */
static json_t *cache_entries(const json_t *doc)
{
    const char *schema = json_string_value(json_object_get(doc, "schema"));
    json_t *e = json_object_get(doc, "entries");
    return schema && strcmp(schema, PROBE_CACHE_SCHEMA) == 0 &&
                   json_is_array(e)
               ? e
               : NULL;
}

/* Whether e is the entry of key's plugin and instance (whatever its
 * identity): the one a new probe replaces. */
static int same_plugin(const json_t *e, const json_t *key)
{
    const json_t *k = json_object_get(e, "key");
    return json_equal(json_object_get(k, "plugin_path"),
                      json_object_get(key, "plugin_path")) &&
           json_equal(json_object_get(k, "instance"),
                      json_object_get(key, "instance"));
}

/* Keep reply under key in dir's cache (doc: what was read, or NULL).
 * Entries of other plugins stay; failure only costs a probe next time. */
static void cache_store(const char *dir, json_t *doc, json_t *key,
                        json_t *reply)
{
    json_t *fresh = json_array(), *old = cache_entries(doc), *e;
    size_t i;
    json_array_foreach(old, i, e)
        if (json_is_object(e) && !same_plugin(e, key))
            json_array_append(fresh, e);
    json_array_append_new(fresh, json_pack("{s:O, s:O}", "key", key, "reply",
                                           reply));
    json_t *out = json_pack("{s:s, s:o}", "schema", PROBE_CACHE_SCHEMA,
                            "entries", fresh);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    char *err = NULL;
    if (text && statefile_write(dir, PROBE_CACHE_FILE, text, &err) != 0) {
        log_msg(MD_LOG_DEBUG, NULL, "probe cache: %s", err);
        free(err);
    }
    free(text);
}

int probe_describe_cached(const char *state_dir, const probe_request *rq,
                          long long timeout_ms, probe_reply *out, char **err)
{
    memset(out, 0, sizeof *out);
    json_t *key = state_dir && !rq->check ? cache_key(rq) : NULL;
    if (!key)
        return probe_run(rq, timeout_ms, out, err);
    json_t *doc = NULL, *e;
    char *rerr = NULL;
    if (statefile_read(state_dir, PROBE_CACHE_FILE, &doc, &rerr) < 0) {
        /* unreadable or corrupt (then moved aside): probe again */
        log_msg(MD_LOG_DEBUG, NULL, "probe cache: %s", rerr);
        free(rerr);
        doc = NULL;
    }
    size_t i;
    json_array_foreach(cache_entries(doc), i, e) {
        if (!json_equal(json_object_get(e, "key"), key))
            continue;
        if (reply_from_json(json_object_get(e, "reply"), out, NULL) == 0) {
            json_decref(doc);
            json_decref(key);
            return 0;
        }
        probe_reply_release(out);   /* a damaged entry: probe again */
        break;
    }
    json_t *reply;
    int rc = probe_exchange(rq, timeout_ms, &reply, err);
    if (rc == 0) {
        rc = reply_from_json(reply, out, err);
        if (rc == 0)
            cache_store(state_dir, doc, key, reply);
        else
            probe_reply_release(out);
        json_decref(reply);
    }
    json_decref(doc);
    json_decref(key);
    return rc;
}

void probe_reply_release(probe_reply *r)
{
    if (!r)
        return;
    free(r->message);
    free(r->check_error);
    probe_facts_release(&r->facts);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ */
/* The probe process                                                   */
/* ------------------------------------------------------------------ */

static void probe_limits(void)
{
    struct rlimit cpu = {PROBE_CPU_SECONDS, PROBE_CPU_SECONDS + 1};
    setrlimit(RLIMIT_CPU, &cpu);
#ifndef __SANITIZE_ADDRESS__
    /* (a sanitizer build's shadow memory needs terabytes; worker.h) */
    struct rlimit as = {WORKER_DEFAULT_MEMORY_LIMIT,
                        WORKER_DEFAULT_MEMORY_LIMIT};
    setrlimit(RLIMIT_AS, &as);
#endif
}

static json_t *read_request(void)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= REQUEST_MAX)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(PROTOCOL_JOB_FD, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    json_t *j = json_loadb(buf, n, 0, NULL);
    free(buf);
    return j;
}

/* check() on the request's options, with the request's secrets masked. */
static json_t *run_check(const json_t *rq, const loaded_plugin *lp)
{
    const char *instance = json_string_value(json_object_get(rq, "instance"));
    json_t *options = json_object_get(rq, "options");
    json_t *empty = json_object();
    hostctx_params hp = {
        .instance = instance,
        .desc = lp->desc,
        .options = json_is_object(options) ? options : empty,
        .state_dir = NULL,
        .deadline_ms = mono_ms() + CHECK_BUDGET_MS,
        .check_only = 1,
        .usage_generation = 0,
    };
    md_ctx *ctx = hostctx_new(&hp);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rq, "secrets"), i, v)
        hostctx_add_secret(ctx, json_string_value(v));
    int rc = lp->desc->check(hostctx_host(), ctx);
    const char *msg = NULL;
    char *why = NULL;
    if (hostctx_error(ctx, &msg) != MD_ERR_NONE)
        why = xstrdup(msg);
    else if (rc != 0)
        why = xasprintf("plugin '%s' rejected the options without a reason",
                        lp->desc->name ? lp->desc->name : "?");
    json_t *verdict = json_pack("{s:o}", "error",
                                why ? json_string(why) : json_null());
    free(why);
    hostctx_free(ctx);
    json_decref(empty);
    return verdict;
}

static json_t *answer(const json_t *rq)
{
    const char *path = json_string_value(json_object_get(rq, "plugin_path"));
    const char *instance = json_string_value(json_object_get(rq, "instance"));
    loaded_plugin lp;
    md_error cls;
    char *err = NULL;
    if (plugin_open(path, instance && *instance ? instance : NULL, &lp, &cls,
                    &err) != 0) {
        json_t *no = json_pack("{s:b, s:s, s:s}", "loaded", 0, "class",
                               cls == MD_ERR_ABI ? "abi" : "config",
                               "message", err ? err : "cannot be loaded");
        free(err);
        return no;
    }
    json_t *check = json_null();
    if (json_is_true(json_object_get(rq, "check")) && lp.desc->check)
        check = run_check(rq, &lp);
    json_t *yes = json_pack("{s:b, s:o, s:o}", "loaded", 1, "descriptor",
                            protocol_facts_to_json(lp.desc), "check", check);
    plugin_close(&lp);
    return yes;
}

int probe_main(int argc, char **argv)
{
    pid_t parent = 0;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--parent=", 9) == 0)
            parent = (pid_t)atol(argv[i] + 9);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (parent > 0 && getppid() != parent)
        _exit(1);
    signal(SIGPIPE, SIG_DFL);
    fcntl(PROTOCOL_RESULT_FD, F_SETFD, FD_CLOEXEC);
    probe_limits();
    json_t *rq = read_request();
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, PROTOCOL_JOB_FD);
        close(null_fd);
    }
    if (!json_is_object(rq)) {
        json_decref(rq);
        return 1;
    }
    json_t *lv = json_object_get(rq, "log_level");
    if (json_is_integer(lv))
        log_set_level((md_log_level)json_integer_value(lv));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rq, "secrets"), i, v)
        log_add_secret(json_string_value(v));
    json_t *reply = answer(rq);
    json_decref(rq);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    int rc = 1;
    if (text) {
        size_t len = strlen(text);
        text = xrealloc(text, len + 2);
        text[len] = '\n';
        text[len + 1] = '\0';
        rc = write_all(PROTOCOL_RESULT_FD, text, len + 1) == 0 ? 0 : 1;
    }
    free(text);
    close(PROTOCOL_RESULT_FD);
    log_clear_secrets();
    return rc;
}
