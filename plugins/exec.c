/*
 * plugins/exec.c - run an operator's command and read its metrics as JSON.
 *
 * This is how an operator adds a provider without writing C: any program
 * that prints one JSON object on stdout can feed meterd.
 *
 * Options
 *   command     LIST, required  argv of the program (no shell); argv[0] is
 *                               searched in the child's PATH unless it
 *                               contains a '/'
 *   env         MAP             extra environment variables
 *   cwd         STRING          working directory of the command
 *   max_output  INT             stdout cap in bytes (default 1048576)
 *
 * Execution
 *   posix_spawn (safe from a threaded process), in a new process group,
 *   stdin /dev/null, stdout and stderr on pipes, signal mask and
 *   dispositions reset, every other descriptor closed.  The environment is
 *   minimal: PATH=/usr/local/bin:/usr/bin:/bin, HOME and LANG when the
 *   daemon has them, then the entries of `env` (which may override those).
 *   The command gets host->remaining_ms() minus 100 ms; at that deadline
 *   its whole process group is killed with SIGKILL and the collection
 *   fails with "timeout".  Writing more than max_output bytes on stdout
 *   kills it too ("bad_data").  When the command exits, anything it left
 *   running in its process group is killed as well.
 *
 * Contract of stdout (exactly one JSON object; unknown keys are ignored):
 *   {"status": "ok",
 *    "metrics": [{"id": "monthly_budget",          required [A-Za-z0-9_.-]{1,64}
 *                 "kind": "budget",                required
 *                 "label": "Team budget",          string|null
 *                 "unit": "usd",                   string|null
 *                 "used": 12.5, "limit": "100",    number, numeric string,
 *                 "remaining": null,               null (unknown) or "n/a"
 *                 "utilization": null,             (not applicable); the
 *                 "window_seconds": "n/a",         same for all five numbers
 *                 "resets_at": "2026-04-01T00:00:00Z",  RFC 3339|null|"n/a"
 *                 "expires_at": "2026-06-30T00:00:00Z", RFC 3339|null|"n/a":
 *                                  when what is left lapses (credits)
 *                 "confidence": "exact",           "exact"|"estimated"|null
 *                 "source": "exec",                string|null (optional)
 *                 "collected_at": "2026-03-10T14:00:00Z"}],  RFC 3339|null
 *    "notes": ["free text", ...],
 *    "retry_after": 30,                            optional, seconds
 *    "raw": {...}}                                 optional, kept for
 *                                                  include_raw (redacted)
 *   A missing field and null both mean unknown, never 0.
 *   Errors: {"status": "error",
 *            "error": {"class": "auth", "message": "token expired"},
 *            "retry_after": 60}
 *   class is one of timeout, crashed, auth, rate_limited, http, bad_data,
 *   config, network, internal (anything else becomes internal).
 *
 * Failure mapping
 *   stdout not JSON / not an object / a field of the wrong type -> bad_data
 *   (message names the field, e.g. metrics[2].used); a metric with an
 *   invalid id or kind is skipped with a note and the others are kept.
 *   Control characters (C0, DEL, C1): a kind holding one skips the metric,
 *   a unit or source holding one is dropped, each with a note; labels and
 *   notes are escaped by the host (\xNN), never passed through raw.
 *   Exit status != 0 -> internal, death by a signal -> crashed, both with
 *   the last 512 bytes of stderr; but a status "error" object on stdout
 *   wins over the exit status, so scripts may exit 1 after reporting.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "mdu_unconst.h"

#define EXEC_MARGIN_MS 100          /* left for reaping and reporting     */
#define EXEC_ERR_TAIL 512           /* stderr bytes quoted in errors      */
#define EXEC_MAX_OUTPUT_CAP (64LL * 1024 * 1024)
#define EXEC_EXIT_GRACE_MS 200      /* drain time after the leader exits  */
#define EXEC_POLL_SLICE_MS 50       /* how often we look for the exit     */
#define EXEC_MSG 512                /* bounded error messages             */
#define EXEC_BASE_PATH "/usr/local/bin:/usr/bin:/bin"

static const md_option exec_options[] = {
    {"command", MD_OPT_LIST, 1, NULL,
     "argv of the command to run (no shell); it prints exec-contract JSON"},
    {"env", MD_OPT_MAP, 0, NULL, "extra environment variables for the command"},
    {"cwd", MD_OPT_STRING, 0, NULL, "working directory of the command"},
    {"max_output", MD_OPT_INT, 0, "1048576", "maximum bytes read from stdout"},
    {0}
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static long long mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Environment variable names: [A-Za-z_][A-Za-z0-9_]*. */
static int valid_env_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return 0;
    return 1;
}

/* Copy text into dst (size dstlen) for quoting in a message: control
 * characters become spaces, runs of blanks collapse, ends are trimmed, and
 * a leading partial UTF-8 sequence (from cutting a tail) is skipped. */
static void sanitize(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t i = 0, o = 0;
    while (i < n && ((unsigned char)src[i] & 0xC0) == 0x80) i++;
    int space = 1;
    for (; i < n && o + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch < 0x20 || ch == 0x7f || ch == ' ') {
            if (!space) dst[o++] = ' ';
            space = 1;
        } else {
            dst[o++] = (char)ch;
            space = 0;
        }
    }
    while (o > 0 && dst[o - 1] == ' ') o--;
    dst[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* check()                                                             */
/* ------------------------------------------------------------------ */

static int exec_check(const md_host *host, md_ctx *ctx)
{
    size_t n = 0;
    const char *const *argv = host->opt_list(ctx, "command", &n);
    if (!argv || n == 0 || !argv[0] || !argv[0][0]) {
        host->fail(ctx, MD_ERR_CONFIG, "command: must be a non-empty list (argv)");
        return -1;
    }
    const char *const *keys, *const *vals;
    size_t ne = 0;
    if (host->opt_map(ctx, "env", &keys, &vals, &ne) == 0)
        for (size_t i = 0; i < ne; i++)
            if (!valid_env_name(keys[i])) {
                host->fail(ctx, MD_ERR_CONFIG,
                           "env: '%.64s' is not a valid variable name", keys[i]);
                return -1;
            }
    long long max = 0;
    if (host->opt_int(ctx, "max_output", &max) == 0 &&
        (max < 1 || max > EXEC_MAX_OUTPUT_CAP)) {
        host->fail(ctx, MD_ERR_CONFIG, "max_output: must be 1..%lld bytes",
                   EXEC_MAX_OUTPUT_CAP);
        return -1;
    }
    const char *cwd = host->opt_str(ctx, "cwd");
    if (cwd && !*cwd) {
        host->fail(ctx, MD_ERR_CONFIG, "cwd: must not be empty");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Environment and program lookup                                      */
/* ------------------------------------------------------------------ */

/* A NULL-terminated array of malloc'd "K=V" strings; owned by the struct. */
typedef struct envv {
    char **v;
    size_t n;
} envv;

static int env_put(envv *e, const char *key, const char *value)
{
    size_t kl = strlen(key);
    char *kv = malloc(kl + strlen(value) + 2);
    if (!kv) return -1;
    sprintf(kv, "%s=%s", key, value);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], key, kl) == 0 && e->v[i][kl] == '=') {
            free(e->v[i]);
            e->v[i] = kv;
            return 0;
        }
    char **nv = realloc(e->v, (e->n + 2) * sizeof *nv);
    if (!nv) { free(kv); return -1; }
    e->v = nv;
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
    return 0;
}

static void env_free(envv *e)
{
    for (size_t i = 0; i < e->n; i++) free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

static int env_build(const md_host *host, md_ctx *ctx, envv *e)
{
    const char *keep[] = {"HOME", "LANG"};
    if (env_put(e, "PATH", EXEC_BASE_PATH) != 0) return -1;
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
        const char *v = getenv(keep[i]);
        if (v && env_put(e, keep[i], v) != 0) return -1;
    }
    const char *const *keys, *const *vals;
    size_t n = 0;
    if (host->opt_map(ctx, "env", &keys, &vals, &n) == 0)
        for (size_t i = 0; i < n; i++)
            if (env_put(e, keys[i], vals[i] ? vals[i] : "") != 0) return -1;
    return 0;
}

static const char *env_get(const envv *e, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], key, kl) == 0 && e->v[i][kl] == '=')
            return e->v[i] + kl + 1;
    return NULL;
}

/* Find prog in the child's PATH (posix_spawnp would use ours).  Returns a
 * malloc'd path, or NULL when not found.  A name with '/' is used as is
 * (relative to cwd, which the child enters before exec). */
static char *find_program(const char *prog, const char *path)
{
    if (strchr(prog, '/')) return strdup(prog);
    if (!path) return NULL;
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        if (dl > 0) {
            char *full = malloc(dl + strlen(prog) + 2);
            if (!full) return NULL;
            sprintf(full, "%.*s/%s", (int)dl, p, prog);
            if (access(full, X_OK) == 0) return full;
            free(full);
        }
        if (!colon) break;
        p = colon + 1;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Running the command                                                 */
/* ------------------------------------------------------------------ */

typedef struct run_result {
    char *out;              /* stdout bytes, NUL-terminated (owned)       */
    size_t out_len, out_cap;
    char err[EXEC_ERR_TAIL];/* last bytes of stderr                       */
    size_t err_len;
    int status;             /* wait status, valid when reaped            */
    int reaped;             /* we collected the exit status              */
    int timed_out;
    int too_big;
} run_result;

static void err_append(run_result *r, const char *buf, size_t n)
{
    if (n >= EXEC_ERR_TAIL) {
        memcpy(r->err, buf + n - EXEC_ERR_TAIL, EXEC_ERR_TAIL);
        r->err_len = EXEC_ERR_TAIL;
        return;
    }
    if (r->err_len + n > EXEC_ERR_TAIL) {
        size_t drop = r->err_len + n - EXEC_ERR_TAIL;
        memmove(r->err, r->err + drop, r->err_len - drop);
        r->err_len -= drop;
    }
    memcpy(r->err + r->err_len, buf, n);
    r->err_len += n;
}

/* Append to stdout; sets too_big instead of growing past max. */
static int out_append(run_result *r, const char *buf, size_t n, size_t max)
{
    if (r->out_len + n > max) { r->too_big = 1; return 0; }
    if (r->out_len + n + 1 > r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap : 4096;
        while (cap < r->out_len + n + 1) cap *= 2;
        char *p = realloc(r->out, cap);
        if (!p) return -1;
        r->out = p;
        r->out_cap = cap;
    }
    memcpy(r->out + r->out_len, buf, n);
    r->out_len += n;
    r->out[r->out_len] = '\0';
    return 0;
}

/* Read once from a readable fd.  Returns 1 while open, 0 on EOF. */
static int drain_once(int fd, run_result *r, int is_out, size_t max)
{
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return (errno == EINTR || errno == EAGAIN) ? 1 : 0;
    if (n == 0) return 0;
    if (is_out) {
        if (out_append(r, buf, (size_t)n, max) != 0) r->too_big = 1;
    } else {
        err_append(r, buf, (size_t)n);
    }
    return 1;
}

/* Has the group leader exited?  Peeks with WNOWAIT so the zombie keeps the
 * process group id reserved until we have killed the group.  Returns 1
 * when it exited (or was reaped behind our back), else 0. */
static int leader_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD;   /* someone else reaped it */
    return si.si_pid == pid;
}

/* Pump both pipes until the command is done, the deadline passes or
 * stdout grows too large; then kill the group and reap the leader. */
static void supervise(pid_t pid, int out_fd, int err_fd, long long budget_ms,
                      size_t max, run_result *r)
{
    long long deadline = mono_now_ms() + budget_ms, grace_end = 0;
    int open_out = 1, open_err = 1, exited = 0;
    for (;;) {
        if (!exited && leader_exited(pid)) {
            exited = 1;
            grace_end = mono_now_ms() + EXEC_EXIT_GRACE_MS;
        }
        if (exited && !open_out && !open_err) break;
        long long now = mono_now_ms();
        if (now >= deadline) { r->timed_out = 1; break; }
        /* A leftover background process may hold the pipes open. */
        if (exited && now >= grace_end) break;
        long long wait = deadline - now;
        if (wait > EXEC_POLL_SLICE_MS) wait = EXEC_POLL_SLICE_MS;
        struct pollfd pf[2];
        nfds_t np = 0;
        if (open_out) pf[np++] = (struct pollfd){out_fd, POLLIN, 0};
        if (open_err) pf[np++] = (struct pollfd){err_fd, POLLIN, 0};
        int pr = poll(pf, np, (int)wait);
        if (pr < 0 && errno != EINTR) break;
        for (nfds_t i = 0; pr > 0 && i < np; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
                continue;
            int is_out = pf[i].fd == out_fd;
            int still = drain_once(pf[i].fd, r, is_out, max);
            if (is_out) open_out = still; else open_err = still;
        }
        if (r->too_big) break;
    }
    /* The leader is running or a zombie, so -pid still names our group. */
    kill(-pid, SIGKILL);
    int st = 0;
    pid_t w;
    do w = waitpid(pid, &st, 0); while (w < 0 && errno == EINTR);
    if (w == pid) { r->status = st; r->reaped = 1; }
}

/* Spawn argv with envp; fills *pid, *out_fd, *err_fd.  Returns 0 or an
 * errno value. */
static int spawn_child(const char *prog, char *const argv[], char *const envp[],
                       const char *cwd, pid_t *pid, int *out_fd, int *err_fd)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (pipe2(po, O_CLOEXEC) != 0) return errno;
    if (pipe2(pe, O_CLOEXEC) != 0) {
        int e = errno;
        close(po[0]); close(po[1]);
        return e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    /* Do not leak the daemon's descriptors (worker pipe, sockets). */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(pid, prog, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        close(po[0]);
        close(pe[0]);
        return rc;
    }
    *out_fd = po[0];
    *err_fd = pe[0];
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing the JSON contract                                           */
/* ------------------------------------------------------------------ */

/* Parse errors carry a bounded message; the first error wins. */
typedef struct perr {
    char msg[EXEC_MSG];
    int set;
} perr;

static void perr_set(perr *pe, const char *fmt, ...) MD_PRINTF(2, 3);
static void perr_set(perr *pe, const char *fmt, ...)
{
    if (pe->set) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pe->msg, sizeof pe->msg, fmt, ap);
    va_end(ap);
    pe->set = 1;
}

static int is_na(const json_t *v)
{
    return json_is_string(v) && strcmp(json_string_value(v), "n/a") == 0;
}

/* number | numeric string | null/absent (unknown) | "n/a". */
static int get_num(const md_host *host, const json_t *obj, const char *key,
                   md_num *out, const char *where, perr *pe)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (is_na(v)) { *out = MD_NUM_NA; return 0; }
    double d;
    if (json_is_number(v)) { *out = MD_NUM(json_number_value(v)); return 0; }
    if (json_is_string(v) && host->parse_number(json_string_value(v), &d) == 0) {
        *out = MD_NUM(d);
        return 0;
    }
    perr_set(pe, "%s.%s: expected number, null or \"n/a\"", where, key);
    return -1;
}

static int get_time(const md_host *host, const json_t *obj, const char *key,
                    int allow_na, md_time *out, const char *where, perr *pe)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (allow_na && is_na(v)) { *out = MD_TIME_NA; return 0; }
    if (json_is_string(v) && host->parse_time(json_string_value(v), out) == 0)
        return 0;
    perr_set(pe, "%s.%s: expected RFC 3339 time%s", where, key,
             allow_na ? ", null or \"n/a\"" : " or null");
    return -1;
}

/* string | null/absent (NULL).  The string stays owned by the JSON. */
static int get_str(const json_t *obj, const char *key, const char **out,
                   const char *where, perr *pe)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        perr_set(pe, "%s.%s: expected a string or null", where, key);
        return -1;
    }
    *out = json_string_value(v);
    if (!**out) *out = NULL;
    return 0;
}

/* Does s hold a C0 control, DEL or a UTF-8-encoded C1 control?  Such a
 * byte in an identifier (kind, unit, source) could forge a log line or
 * drive a terminal wherever the value is shown, so it is refused here;
 * free text (label, notes) is escaped by the host instead. */
static int has_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return 1;
    return 0;
}

static int valid_metric_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i])) return 0;
    return 1;
}

/* Fill *m from one metrics[] element.  Returns 1 when it is usable, 0 when
 * it must be skipped (reason noted), -1 on a type error (pe set). */
static int parse_metric(const md_host *host, md_ctx *ctx, const json_t *o,
                        size_t idx, md_metric *m, perr *pe)
{
    char where[32];
    snprintf(where, sizeof where, "metrics[%zu]", idx);
    if (!json_is_object(o)) {
        perr_set(pe, "%s: expected an object", where);
        return -1;
    }
    const json_t *id = json_object_get(o, "id"), *kind = json_object_get(o, "kind");
    if (!json_is_string(id) || !valid_metric_id(json_string_value(id))) {
        char q[72];
        sanitize(q, sizeof q, json_is_string(id) ? json_string_value(id) : "",
                 json_is_string(id) ? strlen(json_string_value(id)) : 0);
        host->note(ctx, "%s skipped: invalid or missing id \"%s\"", where, q);
        return 0;
    }
    if (!json_is_string(kind) || !json_string_value(kind)[0] ||
        strlen(json_string_value(kind)) > 64) {
        host->note(ctx, "%s (%s) skipped: invalid or missing kind", where,
                   json_string_value(id));
        return 0;
    }
    if (has_controls(json_string_value(kind))) {
        host->note(ctx, "%s (%s) skipped: control characters in kind", where,
                   json_string_value(id));
        return 0;
    }
    memset(m, 0, sizeof *m);
    m->id = json_string_value(id);
    m->kind = json_string_value(kind);
    const char *conf = NULL;
    if (get_str(o, "label", &m->label, where, pe) || get_str(o, "unit", &m->unit, where, pe) ||
        get_str(o, "source", &m->source, where, pe) ||
        get_str(o, "confidence", &conf, where, pe) ||
        get_num(host, o, "used", &m->used, where, pe) ||
        get_num(host, o, "limit", &m->limit, where, pe) ||
        get_num(host, o, "remaining", &m->remaining, where, pe) ||
        get_num(host, o, "utilization", &m->utilization, where, pe) ||
        get_num(host, o, "window_seconds", &m->window_seconds, where, pe) ||
        get_time(host, o, "resets_at", 1, &m->resets_at, where, pe) ||
        get_time(host, o, "expires_at", 1, &m->expires_at, where, pe) ||
        get_time(host, o, "collected_at", 0, &m->collected_at, where, pe))
        return -1;
    if (has_controls(m->unit)) {
        host->note(ctx, "%s.unit rejected: control characters", where);
        m->unit = NULL;
    }
    if (has_controls(m->source)) {
        host->note(ctx, "%s.source rejected: control characters", where);
        m->source = NULL;
    }
    if (!conf || strcmp(conf, "exact") == 0) {
        m->confidence = MD_EXACT;
    } else if (strcmp(conf, "estimated") == 0) {
        m->confidence = MD_ESTIMATED;
    } else {
        perr_set(pe, "%s.confidence: expected \"exact\" or \"estimated\"", where);
        return -1;
    }
    return 1;
}

static int parse_retry_after(const md_host *host, const json_t *doc, double *out,
                             perr *pe)
{
    const json_t *v = json_object_get(doc, "retry_after");
    *out = -1;
    if (!v || json_is_null(v)) return 0;
    double d = -1;
    if (json_is_number(v)) d = json_number_value(v);
    else if (json_is_string(v) && host->parse_number(json_string_value(v), &d) != 0)
        d = -1;
    if (d < 0) {
        perr_set(pe, "retry_after: expected a non-negative number of seconds");
        return -1;
    }
    *out = d;
    return 0;
}

static md_error class_from_name(const char *name)
{
    static const struct { const char *name; md_error cls; } map[] = {
        {"timeout", MD_ERR_TIMEOUT},   {"crashed", MD_ERR_CRASHED},
        {"auth", MD_ERR_AUTH},         {"rate_limited", MD_ERR_RATE_LIMITED},
        {"http", MD_ERR_HTTP},         {"bad_data", MD_ERR_BAD_DATA},
        {"config", MD_ERR_CONFIG},     {"network", MD_ERR_NETWORK},
        {"internal", MD_ERR_INTERNAL},
    };
    for (size_t i = 0; name && i < sizeof map / sizeof *map; i++)
        if (strcmp(name, map[i].name) == 0) return map[i].cls;
    return MD_ERR_INTERNAL;   /* "abi" is the core's, unknown -> internal */
}

/* {"status": "error", ...}: always ends in host->fail(); returns -1. */
static int report_error_doc(const md_host *host, md_ctx *ctx, const json_t *doc)
{
    perr pe = {{0}, 0};
    double ra;
    if (parse_retry_after(host, doc, &ra, &pe) != 0) {
        host->fail(ctx, MD_ERR_BAD_DATA, "command output: %s", pe.msg);
        return -1;
    }
    const json_t *err = json_object_get(doc, "error");
    const json_t *cls = json_object_get(err, "class");
    const json_t *msg = json_object_get(err, "message");
    char text[EXEC_MSG];
    const char *m = json_string_value(msg);
    if (m) sanitize(text, sizeof text, m, strlen(m));
    if (ra >= 0) host->retry_after(ctx, ra);
    host->fail(ctx, class_from_name(json_string_value(cls)), "%s",
               m && text[0] ? text : "command reported an error without a message");
    return -1;
}

static int emit_notes(const md_host *host, md_ctx *ctx, const json_t *doc, perr *pe)
{
    const json_t *notes = json_object_get(doc, "notes");
    if (!notes || json_is_null(notes)) return 0;
    if (!json_is_array(notes)) {
        perr_set(pe, "notes: expected an array of strings");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(notes); i++)
        if (!json_is_string(json_array_get(notes, i))) {
            perr_set(pe, "notes[%zu]: expected a string", i);
            return -1;
        }
    for (size_t i = 0; i < json_array_size(notes); i++)
        host->note(ctx, "%s", json_string_value(json_array_get(notes, i)));
    return 0;
}

/* {"status": "ok", ...}: validate everything first so a type error emits
 * nothing, then emit.  Returns 0 or -1 (after host->fail). */
static int report_ok_doc(const md_host *host, md_ctx *ctx, const json_t *doc)
{
    perr pe = {{0}, 0};
    const json_t *metrics = json_object_get(doc, "metrics");
    size_t n = json_is_array(metrics) ? json_array_size(metrics) : 0;
    double ra;
    if (metrics && !json_is_null(metrics) && !json_is_array(metrics))
        perr_set(&pe, "metrics: expected an array");
    md_metric *ms = calloc(n ? n : 1, sizeof *ms);
    if (!ms) {
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    char *keep = calloc(n ? n : 1, 1);   /* 1: usable metric */
    if (!keep) {
        free(ms);
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n && !pe.set; i++) {
        int r = parse_metric(host, ctx, json_array_get(metrics, i), i, &ms[i], &pe);
        keep[i] = r == 1;
    }
    if (!pe.set) parse_retry_after(host, doc, &ra, &pe);
    if (!pe.set) emit_notes(host, ctx, doc, &pe);
    if (pe.set) {
        free(ms);
        free(keep);
        host->fail(ctx, MD_ERR_BAD_DATA, "command output: %s", pe.msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (keep[i]) MD_EMIT(host, ctx, &ms[i]);
    free(ms);
    free(keep);
    if (ra >= 0) host->retry_after(ctx, ra);
    const json_t *raw = json_object_get(doc, "raw");
    if (raw && !json_is_null(raw)) {
        char *text = json_dumps(raw, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text) {
            host->set_raw(ctx, text, strlen(text));
            free(text);
        }
    }
    return 0;
}

/* Interpret what the finished command left us.  Returns 0 or -1. */
static int evaluate(const md_host *host, md_ctx *ctx, const run_result *r,
                    long long budget, size_t max)
{
    char tail[EXEC_ERR_TAIL + 1];
    sanitize(tail, sizeof tail, r->err, r->err_len);
    if (r->timed_out) {
        host->fail(ctx, MD_ERR_TIMEOUT, "command did not finish within %lld ms", budget);
        return -1;
    }
    if (r->too_big) {
        host->fail(ctx, MD_ERR_BAD_DATA,
                   "command wrote more than %zu bytes on stdout (max_output)", max);
        return -1;
    }
    if (!r->reaped) {
        host->fail(ctx, MD_ERR_INTERNAL, "lost track of the command's exit status");
        return -1;
    }
    if (WIFSIGNALED(r->status)) {
        int sig = WTERMSIG(r->status);
        host->fail(ctx, MD_ERR_CRASHED, "command killed by signal %d (%s)%s%s", sig,
                   strsignal(sig), tail[0] ? ": " : "", tail);
        return -1;
    }
    json_error_t je;
    json_t *doc = r->out_len ? json_loadb(r->out, r->out_len, JSON_REJECT_DUPLICATES, &je)
                             : NULL;
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (status && strcmp(status, "error") == 0) {   /* wins over exit status */
        int rc = report_error_doc(host, ctx, doc);
        json_decref(doc);
        return rc;
    }
    int code = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
    int rc = -1;
    if (code == 127 && r->out_len == 0)   /* exec failed late, or sh: not found */
        host->fail(ctx, MD_ERR_CONFIG, "command could not be run (exit status 127)%s%s",
                   tail[0] ? ": " : "", tail);
    else if (code != 0)
        host->fail(ctx, MD_ERR_INTERNAL, "command exited with status %d: %s", code,
                   tail[0] ? tail : "(no output on stderr)");
    else if (r->out_len == 0)
        host->fail(ctx, MD_ERR_BAD_DATA, "command printed nothing on stdout%s%s",
                   tail[0] ? "; stderr: " : "", tail);
    else if (!doc)
        host->fail(ctx, MD_ERR_BAD_DATA, "stdout is not valid JSON: %.200s (line %d, column %d)",
                   je.text, je.line, je.column);
    else if (!json_is_object(doc))
        host->fail(ctx, MD_ERR_BAD_DATA, "stdout must be one JSON object");
    else if (!status || strcmp(status, "ok") != 0)
        host->fail(ctx, MD_ERR_BAD_DATA, "status: expected \"ok\" or \"error\"");
    else
        rc = report_ok_doc(host, ctx, doc);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* collect()                                                           */
/* ------------------------------------------------------------------ */

static int exec_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (exec_check(host, ctx) != 0) return -1;
    size_t argc = 0;
    const char *const *args = host->opt_list(ctx, "command", &argc);
    long long max_ll = 1048576;
    host->opt_int(ctx, "max_output", &max_ll);
    size_t max = (size_t)max_ll;
    const char *cwd = host->opt_str(ctx, "cwd");

    envv env = {NULL, 0};
    char **argv = calloc(argc + 1, sizeof *argv);
    if (!argv || env_build(host, ctx, &env) != 0) {
        free(argv);
        env_free(&env);
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    /* posix_spawn takes char *const[] but never writes through it. */
    for (size_t i = 0; i < argc; i++) argv[i] = mdu_spawn_arg(args[i]);

    int rc = -1;
    char *prog = find_program(args[0], env_get(&env, "PATH"));
    long long budget = host->remaining_ms(ctx) - EXEC_MARGIN_MS;
    pid_t pid;
    int out_fd = -1, err_fd = -1, e;
    if (!prog) {
        host->fail(ctx, MD_ERR_CONFIG, "command '%.200s' not found in PATH %s", args[0],
                   env_get(&env, "PATH"));
    } else if (budget <= 0) {
        host->fail(ctx, MD_ERR_TIMEOUT, "command did not finish within 0 ms");
    } else if ((e = spawn_child(prog, argv, env.v, cwd, &pid, &out_fd, &err_fd)) != 0) {
        host->fail(ctx, MD_ERR_CONFIG, "cannot run '%.200s'%s%.200s: %s", args[0],
                   cwd ? " in " : "", cwd ? cwd : "", strerror(e));
    } else {
        run_result r;
        memset(&r, 0, sizeof r);
        supervise(pid, out_fd, err_fd, budget, max, &r);
        close(out_fd);
        close(err_fd);
        rc = evaluate(host, ctx, &r, budget, max);
        free(r.out);
    }
    free(prog);
    free(argv);
    env_free(&env);
    return rc;
}

static const md_plugin exec_plugin = {
    MD_PLUGIN_HEADER,
    .name = "exec",
    .version = "0.1.0",
    .description = "run a command that prints metrics as JSON (no C needed)",
    .default_source = "exec",
    .options = exec_options,
    .check = exec_check,
    .collect = exec_collect,
};

MD_PLUGIN_DEFINE(exec_plugin)
