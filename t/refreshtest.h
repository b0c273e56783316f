/*
 * t/refreshtest.h - the OAuth refresh cases every refreshing plugin must
 * pass (mdu_oauth_refresh, plugins/sdk/oauth.c), run through the real host
 * against the mock server.  Header only; include after plugtest.h and tap.h.
 *
 * Each case copies an expired credentials fixture into a fresh temp
 * directory (mode 0640, so keeping the mode is visible), points token_url
 * at the mock, and checks the request, the file and the result:
 *   rt_refresh     expired -> one refresh POST with the right grant,
 *                  client id and refresh token; the rotated tokens are in
 *                  the file, every other key and the key order kept, the
 *                  mode kept; the usage call used the new token; a second
 *                  run sends no refresh.
 *   rt_concurrent  the "CLI" holds the lock and writes a fresh token while
 *                  the plugin waits: the plugin uses it, sends no refresh.
 *   rt_read_only   a file meterd cannot write back: no request at all, auth
 *                  with the lifetime and the fixes.
 *   rt_rejected    400 invalid_grant: auth saying to log in again, no usage
 *                  call, the file byte for byte unchanged.
 *   rt_off         refresh: off: the old read-only behaviour.
 *
 * Ownership: rt_case strings are borrowed (static in the test).
 */
#ifndef METERD_REFRESHTEST_H
#define METERD_REFRESHTEST_H

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

typedef struct rt_case {
    const char *plugin;
    const char *fixdir;       /* absolute fixtures directory            */
    const char *expired;      /* fixture: expired token, refresh token  */
    const char *fresh;        /* fixture: what the "CLI" writes         */
    const char *fresh_auth;   /* mock's mask of fresh's bearer token    */
    const char *file_name;    /* name of the copy (the CLI's name)      */
    const char *lock_name;    /* lock file name in the same directory   */
    const char *base_path;    /* appended to the mock URL for base_url  */
    const char *usage_routes; /* routes for a successful collection,
                                 without the surrounding [ ]            */
    const char *token_path;   /* e.g. "/v1/oauth/token"                 */
    const char *token_reply;  /* JSON body of a successful refresh      */
    const char *new_access;   /* access token in token_reply            */
    const char *new_auth;     /* mock's mask of new_access              */
    const char *const *body_has;  /* substrings of the refresh request  */
    const char *content_type; /* of the refresh request                 */
    const char *kept_key;     /* a non-token key whose text must stay   */
    const char *extra_opts;   /* more options (", \"k\": \"v\"")        */
    const char *lifetime;     /* in the read-only message               */
    const char *renew;        /* in the rejection message               */
} rt_case;

static char rt_dir[64];

/* A fresh temp dir with the fixture copied in as file_name (mode 0640).
 * Returns the copy's path (static). */
static const char *rt_setup(const rt_case *c, const char *fixture)
{
    static char path[PATH_MAX];
    snprintf(rt_dir, sizeof rt_dir, "/tmp/meterd-rt-XXXXXX");
    if (!mkdtemp(rt_dir))
        return NULL;
    chmod(rt_dir, 0755);
    snprintf(path, sizeof path, "%s/%s", rt_dir, c->file_name);
    char *cmd = xasprintf("cp '%s/%s' '%s' && chmod 0640 '%s'", c->fixdir,
                          fixture, path, path);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? path : NULL;
}

static void rt_teardown(void)
{
    char *cmd = xasprintf("rm -rf '%s'", rt_dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", rt_dir);
    free(cmd);
}

static char *rt_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);
    if (f && buf && fread(buf, 1, 65535, f) == 0)
        buf[0] = '\0';
    if (f)
        fclose(f);
    return buf;
}

/* Routes: the usage ones plus the token endpoint (status, body). */
static void rt_routes(int port, const rt_case *c, int status, const char *body)
{
    char *r = xasprintf("[{\"path\": \"%s\", \"method\": \"POST\", \"status\": "
                        "%d, \"body\": %s}, %s]", c->token_path, status, body,
                        c->usage_routes);
    pt_mock_use(port, r);
    free(r);
}

static void rt_run(int port, const rt_case *c, const char *path,
                   const char *extra, collect_result *r)
{
    pt_run_ms(c->plugin, 10000, r,
              "{\"base_url\": \"http://127.0.0.1:%d%s\", \"token_url\": "
              "\"http://127.0.0.1:%d%s\", \"credentials_file\": \"%s\"%s%s}",
              port, c->base_path, port, c->token_path, path,
              c->extra_opts ? c->extra_opts : "", extra);
}

/* Requests to path in the mock's log, and the first one (borrowed from
 * *log, which the caller releases). */
static size_t rt_count(json_t *log, const char *path, json_t **first)
{
    size_t i, n = 0;
    json_t *e;
    if (first)
        *first = NULL;
    json_array_foreach(log, i, e) {
        const char *p = json_string_value(json_object_get(e, "path"));
        if (p && strcmp(p, path) == 0) {
            if (first && !*first)
                *first = e;
            n++;
        }
    }
    return n;
}

/* The keys of the top-level object, in file order, joined by ','. */
static char *rt_key_order(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    char *out = xstrdup("");
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        char *n = xasprintf("%s%s,", out, k);
        free(out);
        out = n;
    }
    json_decref(j);
    return out;
}

static void rt_refresh(int port, const rt_case *c)
{
    char name[200];
    const char *path = rt_setup(c, c->expired);
    ok(path != NULL, "refresh: expired credentials copied");
    if (!path)
        return;
    char *before = rt_slurp(path);
    rt_routes(port, c, 200, c->token_reply);
    collect_result r;
    rt_run(port, c, path, "", &r);
    snprintf(name, sizeof name, "%s refresh: success", c->plugin);
    is_int(r.err, MD_ERR_NONE, name);
    if (r.err_msg)
        printf("# err_msg: %s\n", r.err_msg);
    json_t *log = pt_mock_requests(port), *tok = NULL;
    is_int(rt_count(log, c->token_path, &tok), 1, "refresh: one token request");
    const char *body = json_string_value(json_object_get(tok, "body"));
    for (size_t i = 0; c->body_has[i]; i++) {
        snprintf(name, sizeof name, "refresh request has %.120s", c->body_has[i]);
        ok(body && strstr(body, c->body_has[i]), name);
    }
    is_str(json_string_value(json_object_get(tok, "content_type")),
           c->content_type, "refresh request content type");
    json_t *use = NULL;
    for (size_t i = 0; i < json_array_size(log); i++) {
        json_t *e = json_array_get(log, i);
        const char *p = json_string_value(json_object_get(e, "path"));
        if (p && strcmp(p, c->token_path) != 0 && !use)
            use = e;
    }
    is_str(json_string_value(json_object_get(use, "authorization")),
           c->new_auth, "the usage call used the refreshed token");
    json_decref(log);
    char *after = rt_slurp(path);
    ok(after && strstr(after, c->new_access), "new access token written back");
    ok(after && (!strstr(c->token_reply, "ROTATED-refresh") ||
                 strstr(after, "ROTATED-refresh")),
       "a rotated refresh token is written back");
    ok(after && strstr(after, c->kept_key), "other keys untouched");
    char *k1 = rt_key_order(before), *k2 = rt_key_order(after);
    is_str(k2, k1, "key order kept");
    ok(after && (strstr(before, "\n ") != NULL) == (strstr(after, "\n ") != NULL)
           && (strstr(before, "\": ") != NULL) == (strstr(after, "\": ") != NULL),
       "layout kept (indentation and separators)");
    free(k1);
    free(k2);
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640,
       "mode 0640 kept");
    /* Whatever the temporary file's name: only the file and a lock. */
    DIR *d = opendir(rt_dir);
    struct dirent *de;
    int stray = 0;
    while (d && (de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        if (strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
            strcmp(n, c->file_name) != 0 && strcmp(n, c->lock_name) != 0 &&
            !(len > 5 && strcmp(n + len - 5, ".lock") == 0)) {
            printf("# stray file %s\n", n);
            stray++;
        }
    }
    if (d)
        closedir(d);
    is_int(stray, 0, "no temp file left behind");
    ok(pt_no_secret(&r, c->new_access) && pt_no_secret(&r, "ROTATED-refresh"),
       "new tokens never shown");
    ok(pt_has_note(&r, "access token refreshed"), "refresh noted");
    collect_result_clear(&r);
    /* the written expiry is honoured: no second refresh */
    rt_routes(port, c, 200, c->token_reply);
    rt_run(port, c, path, "", &r);
    log = pt_mock_requests(port);
    ok(r.err == MD_ERR_NONE && rt_count(log, c->token_path, NULL) == 0,
       "second run: the fresh token is used, no refresh");
    json_decref(log);
    collect_result_clear(&r);
    free(before);
    free(after);
    rt_teardown();
}

static double rt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void rt_concurrent(int port, const rt_case *c)
{
    const char *path = rt_setup(c, c->expired);
    ok(path != NULL, "concurrent: expired credentials copied");
    if (!path)
        return;
    char *lock = xasprintf("%s/%s", rt_dir, c->lock_name);
    int fd = open(lock, O_RDWR | O_CREAT, 0600);
    ok(fd >= 0 && flock(fd, LOCK_EX) == 0, "the \"CLI\" holds the lock");
    pid_t pid = fork();
    if (pid == 0) {
        /* the CLI renews the token while it holds the lock, then lets go */
        struct timespec ts = {0, 400 * 1000 * 1000};
        nanosleep(&ts, NULL);
        char *cmd = xasprintf("cp '%s/%s' '%s.new' && mv '%s.new' '%s'",
                              c->fixdir, c->fresh, path, path, path);
        int rc = system(cmd);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fd); /* the child's copy keeps the lock */
    rt_routes(port, c, 200, c->token_reply);
    collect_result r;
    double t0 = rt_now();
    rt_run(port, c, path, "", &r);
    double waited = rt_now() - t0;
    int status = 0;
    waitpid(pid, &status, 0);
    is_int(r.err, MD_ERR_NONE, "concurrent: success");
    if (r.err_msg)
        printf("# err_msg: %s\n", r.err_msg);
    ok(waited >= 0.3, "concurrent: the plugin waited for the CLI's lock");
    json_t *log = pt_mock_requests(port), *use = NULL;
    is_int(rt_count(log, c->token_path, NULL), 0,
           "concurrent: no refresh request (the CLI's token is used)");
    for (size_t i = 0; i < json_array_size(log) && !use; i++)
        use = json_array_get(log, i);
    is_str(json_string_value(json_object_get(use, "authorization")),
           c->fresh_auth, "concurrent: the CLI's fresh token was used");
    json_decref(log);
    char *after = rt_slurp(path), *fresh = NULL;
    char *fp = xasprintf("%s/%s", c->fixdir, c->fresh);
    fresh = rt_slurp(fp);
    is_str(after, fresh, "concurrent: the CLI's write is not lost");
    free(fp);
    free(fresh);
    free(after);
    free(lock);
    collect_result_clear(&r);
    rt_teardown();
}

static void rt_read_only(int port, const rt_case *c)
{
    const char *path = rt_setup(c, c->expired);
    ok(path != NULL, "read-only: expired credentials copied");
    if (!path)
        return;
    char *before = rt_slurp(path);
    rt_routes(port, c, 200, c->token_reply);
    int pfd[2];
    if (pipe(pfd) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* root writes anything: drop to nobody, for whom the root-owned
         * 0640 file (readable once made 0644) is not writable */
        close(pfd[0]);
        if (geteuid() == 0) {
            chmod(path, 0644);
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
        } else {
            chmod(path, 0444);
        }
        collect_result r;
        rt_run(port, c, path, "", &r);
        char *msg = xasprintf("%d\n%s", (int)r.err, r.err_msg ? r.err_msg : "");
        if (write(pfd[1], msg, strlen(msg)) < 0)
            _exit(3);
        _exit(0);
    }
    close(pfd[1]);
    char buf[2048] = "";
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "read-only: child ran");
    is_int(atoi(buf), MD_ERR_AUTH, "read-only: auth");
    const char *msg = strchr(buf, '\n') ? strchr(buf, '\n') + 1 : "";
    ok(strstr(msg, c->lifetime) && strstr(msg, "writable") &&
           strstr(msg, "refresh: off") && strstr(msg, c->renew),
       "read-only: says how long the token lasts and how to fix it");
    if (!strstr(msg, c->lifetime))
        printf("# err_msg: %s\n", msg);
    json_t *log = pt_mock_requests(port);
    is_int(json_array_size(log), 0, "read-only: no request at all");
    json_decref(log);
    char *after = rt_slurp(path);
    is_str(after, before, "read-only: file untouched");
    free(after);
    free(before);
    rt_teardown();
}

static void rt_rejected(int port, const rt_case *c)
{
    const char *path = rt_setup(c, c->expired);
    ok(path != NULL, "rejected: expired credentials copied");
    if (!path)
        return;
    char *before = rt_slurp(path);
    rt_routes(port, c, 400, "{\"error\": \"invalid_grant\", "
              "\"error_description\": \"refresh token already used\"}");
    collect_result r;
    rt_run(port, c, path, "", &r);
    is_int(r.err, MD_ERR_AUTH, "invalid_grant: auth");
    ok(r.err_msg && strstr(r.err_msg, "invalid_grant") &&
           strstr(r.err_msg, "log in again") && strstr(r.err_msg, c->renew),
       "invalid_grant: says to log in again with the CLI");
    if (r.err_msg)
        printf("# err_msg: %s\n", r.err_msg);
    json_t *log = pt_mock_requests(port);
    is_int(json_array_size(log), 1, "invalid_grant: only the refresh request");
    json_decref(log);
    char *after = rt_slurp(path);
    is_str(after, before, "invalid_grant: file byte for byte unchanged");
    free(after);
    free(before);
    collect_result_clear(&r);
    rt_teardown();
}

static void rt_off(int port, const rt_case *c)
{
    const char *path = rt_setup(c, c->expired);
    ok(path != NULL, "off: expired credentials copied");
    if (!path)
        return;
    char *before = rt_slurp(path);
    rt_routes(port, c, 200, c->token_reply);
    collect_result r;
    rt_run(port, c, path, ", \"refresh\": \"off\"", &r);
    is_int(r.err, MD_ERR_AUTH, "refresh: off: auth, as before");
    ok(r.err_msg && strstr(r.err_msg, "expired"), "refresh: off: says expired");
    json_t *log = pt_mock_requests(port);
    is_int(json_array_size(log), 0, "refresh: off: no request");
    json_decref(log);
    char *after = rt_slurp(path);
    is_str(after, before, "refresh: off: file untouched");
    struct stat st;
    char *lock = xasprintf("%s/%s", rt_dir, c->lock_name);
    ok(stat(lock, &st) != 0, "refresh: off: no lock file created");
    free(lock);
    free(after);
    free(before);
    collect_result_clear(&r);
    rt_teardown();
}

/* Every case, in order. */
static void rt_all(int port, const rt_case *c)
{
    rt_refresh(port, c);
    rt_concurrent(port, c);
    rt_read_only(port, c);
    rt_rejected(port, c);
    rt_off(port, c);
}

#endif
