/*
 * plugins/oauth_refresh.h - renew an expired OAuth access token that a
 * provider's own CLI keeps in a JSON credentials file, the way that CLI
 * does, without ever breaking the CLI's login.  Header-only (static
 * functions); it uses only the public SDK (plugin.h, util.h) and jansson.
 *
 * The policy, in one place for every plugin that refreshes:
 *   - Decide: refresh only when the file's access token has less than
 *     margin_s left (or is past its expiry) and a refresh token is there.
 *     An unknown expiry is never refreshed.
 *   - Never refresh what cannot be written back: providers rotate refresh
 *     tokens, so a refresh whose new tokens are not saved logs the CLI out.
 *     The file and its directory must be writable, and its owner and group
 *     must be ones this process can give the replacement file; otherwise
 *     the collection fails with auth, saying how long the token lasts and
 *     how to fix it.
 *   - Lock: hold an exclusive flock on the lock file the CLI itself uses
 *     (or a sibling "<file>.meterd.lock" of our own when the CLI uses none)
 *     from the re-read to the write-back; waiting for it is bounded.
 *   - Re-read under the lock: when the CLI renewed the token meanwhile
 *     (fresh expiry, or another refresh token), use its token and send no
 *     refresh request.
 *   - Refresh with the refresh-token grant through host->http (so tests can
 *     point token_url at the mock server).  A 400/401/403 (invalid_grant:
 *     the refresh token was used or revoked) is auth telling the operator
 *     to log in again with the CLI; the file is left untouched.
 *   - Write back atomically: only the token fields change in the document
 *     that was re-read under the lock (every other key, and key order, is
 *     kept), dumped with the indentation the file had; a temp file in the
 *     same directory gets the original mode and owner (fchmod/fchown), is
 *     fsync'd and renamed over the file, and the directory is fsync'd.  A
 *     symlinked credentials file is resolved first, so the link survives.
 *
 * Ownership: or_refresh() may replace *doc; the old document is released
 * and the new one belongs to the caller.  Strings in or_provider are
 * borrowed and must outlive the call.  Every token read or received is
 * registered with host->add_secret before it can reach any message.
 */
#ifndef METERD_OAUTH_REFRESH_H
#define METERD_OAUTH_REFRESH_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"

/* Header-only until it moves into the SDK library: unused helpers are not
 * an error in a plugin that does not need them. */
#define OR_UNUSED __attribute__((unused))
#define OR_MARGIN_S 300.0             /* refresh when less than 5 min left  */
#define OR_MAX_FILE (1024 * 1024)     /* credentials files are small        */
#define OR_LOCK_WAIT_MS 5000LL        /* at most; a third of what is left   */
#define OR_MAX_HEADERS 8

/* How a file stores the access token's expiry. */
typedef enum or_expiry_kind {
    OR_EXP_NONE = 0,   /* not stored (a JWT carries it): nothing to write */
    OR_EXP_EPOCH_MS,   /* integer epoch milliseconds                      */
    OR_EXP_EPOCH_S     /* fractional epoch seconds                        */
} or_expiry_kind;

/* One CLI's credentials file and token endpoint. */
typedef struct or_provider {
    const char *cli;          /* "Claude Code", for messages              */
    const char *renew;        /* "run `claude`", for messages             */
    const char *lifetime;     /* "about 8-12 hours", for messages         */
    const char *token_url;    /* the token_url option                     */
    const char *lock_path;    /* the CLI's lock file; NULL: our sibling   */
    const char *client_id;
    const char *client_secret;/* NULL when the client has none            */
    int json_body;            /* 1: JSON body, 0: form-urlencoded         */
    const char *const *headers; /* extra "Name: value" lines, or NULL     */
    /* where the tokens live: obj is a dotted path ("" = the root object) */
    const char *obj;
    const char *access_key, *refresh_key, *id_token_key; /* id: optional */
    const char *expiry_key;   /* under obj; NULL with OR_EXP_NONE         */
    or_expiry_kind expiry_kind;
    const char *expires_in_key; /* also stored by the CLI (kimi); or NULL */
    const char *last_refresh_key; /* at the root, RFC 3339 (codex); NULL  */
    double default_lifetime_s;/* when the response has no expires_in      */
    /* The access token's expiry (epoch s) from a document, < 0: unknown. */
    double (*expiry)(const md_host *h, md_ctx *ctx, const json_t *doc);
} or_provider;

/* A credentials file as read under the lock, with its layout. */
typedef struct or_file {
    json_t *doc;        /* the parsed object (owned)                      */
    struct stat st;     /* mode and owner to keep                         */
    size_t dump_flags;  /* jansson flags reproducing the indentation      */
    int trailing_nl;    /* the file ended with a newline                  */
} or_file;

static OR_UNUSED void or_file_release(or_file *f)
{
    json_decref(f->doc);
    f->doc = NULL;
}

static OR_UNUSED char *or_strdup_printf(const char *fmt, ...) MD_PRINTF(1, 2);
static OR_UNUSED char *or_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

/* The object under p->obj (the root when obj is ""), or NULL. */
static OR_UNUSED json_t *or_tokens(const or_provider *p, const json_t *doc)
{
    json_t *o = p->obj && *p->obj ? mdu_path(doc, p->obj) : (json_t *)doc;
    return json_is_object(o) ? o : NULL;
}

/* Whether the document's access token needs renewing now.  0: no (fresh,
 * or unknown expiry), 1: yes. */
static OR_UNUSED int or_due(const md_host *h, md_ctx *ctx,
                            const or_provider *p, const json_t *doc)
{
    double exp = p->expiry(h, ctx, doc);
    return exp >= 0 && exp - h->now(ctx) < OR_MARGIN_S;
}

/* The indentation a file uses: JSON_INDENT(n) after "{\n<n spaces>",
 * compact when there is no blank after a colon, else jansson's default
 * (", " and ": " on one line, as Python's json.dumps writes). */
static OR_UNUSED size_t or_layout(const char *buf, size_t n)
{
    const char *nl = memchr(buf, '\n', n);
    if (nl && (size_t)(nl - buf) + 1 < n) {
        size_t ind = 0;
        for (const char *c = nl + 1; c < buf + n && *c == ' ' && ind < 31; c++)
            ind++;
        if (ind > 0 && nl + 1 + ind < buf + n && nl[1 + ind] != '}')
            return JSON_INDENT(ind) | JSON_PRESERVE_ORDER;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (buf[i] == ':' && buf[i + 1] == ' ')
            return JSON_PRESERVE_ORDER;
    return JSON_COMPACT | JSON_PRESERVE_ORDER;
}

/* Read and parse path (bounded) with its stat and layout.  0, or -1 with
 * *err (malloc'd). */
static OR_UNUSED int or_read(const char *path, or_file *out, char **err)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &out->st) != 0) {
        *err = or_strdup_printf("cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char *buf = malloc(OR_MAX_FILE + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (buf && n <= OR_MAX_FILE &&
           (r = read(fd, buf + n, OR_MAX_FILE + 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    json_error_t je;
    je.text[0] = '\0';
    if (buf && r >= 0 && n <= OR_MAX_FILE)
        out->doc = json_loadb(buf, n, 0, &je);
    if (json_is_object(out->doc)) {
        out->dump_flags = or_layout(buf, n);
        out->trailing_nl = n > 0 && buf[n - 1] == '\n';
    } else {
        *err = or_strdup_printf("%s is not a JSON object (%s)", path,
                                out->doc ? "wrong type" : je.text);
        json_decref(out->doc);
        out->doc = NULL;
    }
    if (buf)
        memset(buf, 0, n); /* held the tokens */
    free(buf);
    return out->doc ? 0 : -1;
}

/* Whether this process may be in a group (supplementary groups too). */
static OR_UNUSED int or_in_group(gid_t g)
{
    gid_t list[256];
    int n = getgroups(256, list);
    if (g == getegid())
        return 1;
    for (int i = 0; i < n; i++)
        if (list[i] == g)
            return 1;
    return 0;
}

/* Whether path (a resolved, real path) can be replaced by a file with the
 * same mode and owner.  0, or -1 with *why (malloc'd, for the message). */
static OR_UNUSED int or_can_write(const char *path, const struct stat *st,
                                  char **why)
{
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int rc = -1;
    if (!dir) {
        *why = NULL;
        return -1;
    }
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    if (access(path, W_OK) != 0)
        *why = or_strdup_printf("%s is not writable (%s)", path,
                                strerror(errno));
    else if (access(dir, W_OK | X_OK) != 0)
        *why = or_strdup_printf("its directory %s is not writable (%s)", dir,
                                strerror(errno));
    else if (geteuid() != 0 && st->st_uid != geteuid())
        *why = or_strdup_printf("%s belongs to another user (uid %ld), so a "
                                "replacement could not keep its owner", path,
                                (long)st->st_uid);
    else if (geteuid() != 0 && !or_in_group(st->st_gid))
        *why = or_strdup_printf("%s has a group (gid %ld) this process is not "
                                "in, so a replacement could not keep it", path,
                                (long)st->st_gid);
    else
        rc = 0;
    free(dir);
    return rc;
}

/* Replace path with doc: temp file in the same directory with st's mode
 * and owner, fsync, rename, fsync the directory.  0, or -1 with *err (the
 * original file is then untouched). */
static OR_UNUSED int or_write(const char *path, const or_file *f, char **err)
{
    char *text = json_dumps(f->doc, f->dump_flags);
    char *tmp = or_strdup_printf("%s.meterd-XXXXXX", path);
    char *dir = strdup(path);
    int fd = -1, rc = -1;
    if (!text || !tmp || !dir) {
        *err = or_strdup_printf("out of memory");
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    fd = mkstemp(tmp);
    if (fd < 0) {
        *err = or_strdup_printf("cannot create a temporary file next to %s: "
                                "%s", path, strerror(errno));
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off < len || (f->trailing_nl && write(fd, "\n", 1) != 1) ||
        fchmod(fd, f->st.st_mode & 07777) != 0 ||
        fchown(fd, f->st.st_uid, f->st.st_gid) != 0 || fsync(fd) != 0 ||
        close(fd) != 0) {
        *err = or_strdup_printf("cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
        unlink(tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        *err = or_strdup_printf("cannot rename over %s: %s", path,
                                strerror(errno));
        unlink(tmp);
        goto out;
    }
    /* the rename is durable only once the directory is */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    free(tmp);
    free(dir);
    return rc;
}

/* Take an exclusive flock on lock_path, waiting at most wait_ms.  Returns
 * the descriptor (close it to unlock), or -1 with *err. */
static OR_UNUSED int or_lock(const char *lock_path, long long wait_ms,
                             char **err)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = or_strdup_printf("cannot open the lock file %s: %s", lock_path,
                                strerror(errno));
        return -1;
    }
    struct timespec step = {0, 20 * 1000 * 1000};
    for (long long waited = 0;; waited += 20) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        if (waited >= wait_ms) {
            errno = ETIMEDOUT;
            break;
        }
        nanosleep(&step, NULL);
    }
    *err = or_strdup_printf("cannot lock %s (%s); another process is "
                            "renewing the token, try again later", lock_path,
                            errno == ETIMEDOUT ? "still held after waiting"
                                               : strerror(errno));
    close(fd);
    return -1;
}

/* "a=b&c=d" form encoding of one value (RFC 3986 unreserved kept). */
static OR_UNUSED void or_form_add(char **body, const char *name,
                                  const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t old = *body ? strlen(*body) : 0;
    size_t n = old + strlen(name) + 3 * strlen(value) + 3;
    char *b = realloc(*body, n);
    if (!b)
        return;
    char *o = b + old;
    if (old)
        *o++ = '&';
    o += sprintf(o, "%s=", name);
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
            (*c >= '0' && *c <= '9') || strchr("-._~", *c)) {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    *body = b;
}

/* The refresh-token grant body for p (malloc'd; zero it after use). */
static OR_UNUSED char *or_body(const or_provider *p, const char *refresh)
{
    if (p->json_body) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "grant_type", "refresh_token",
                              "refresh_token", refresh, "client_id",
                              p->client_id);
        if (j && p->client_secret)
            json_object_set_new(j, "client_secret",
                                json_string(p->client_secret));
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        return s;
    }
    char *body = NULL;
    or_form_add(&body, "grant_type", "refresh_token");
    or_form_add(&body, "refresh_token", refresh);
    or_form_add(&body, "client_id", p->client_id);
    if (p->client_secret)
        or_form_add(&body, "client_secret", p->client_secret);
    return body;
}

/* Put the token response into f->doc: access, refresh (when rotated), id
 * token (when the file keeps one), expiry, expires_in, last_refresh.  No
 * other key is touched.  0, or -1 with *err. */
static OR_UNUSED int or_apply(const md_host *h, md_ctx *ctx,
                              const or_provider *p, or_file *f,
                              const json_t *resp, char **err)
{
    json_t *t = or_tokens(p, f->doc);
    const char *acc = mdu_str(resp, "access_token");
    if (!t || !acc || !*acc) {
        *err = or_strdup_printf("the token endpoint answered without an "
                                "access_token");
        return -1;
    }
    double now = h->now(ctx);
    md_num in = mdu_num(h, resp, "expires_in");
    double life = in.state == MD_KNOWN ? in.value : p->default_lifetime_s;
    json_object_set_new(t, p->access_key, json_string(acc));
    const char *rt = mdu_str(resp, "refresh_token");
    if (rt && *rt)
        json_object_set_new(t, p->refresh_key, json_string(rt));
    const char *id = mdu_str(resp, "id_token");
    if (id && *id && p->id_token_key)
        json_object_set_new(t, p->id_token_key, json_string(id));
    if (p->expiry_kind == OR_EXP_EPOCH_MS)
        json_object_set_new(t, p->expiry_key,
                            json_integer((json_int_t)((now + life) * 1000)));
    else if (p->expiry_kind == OR_EXP_EPOCH_S)
        json_object_set_new(t, p->expiry_key, json_real(now + life));
    if (p->expires_in_key && json_object_get(t, p->expires_in_key))
        json_object_set_new(t, p->expires_in_key, json_real(life));
    if (p->last_refresh_key) {
        char when[48];
        time_t s = (time_t)now;
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + k, sizeof when - k, ".%06ldZ",
                 (long)((now - (double)s) * 1e6));
        json_object_set_new(f->doc, p->last_refresh_key, json_string(when));
    }
    return 0;
}

/* The lock file: the CLI's own, else "<path>.meterd.lock".  Caller frees. */
static OR_UNUSED char *or_lock_path(const or_provider *p, const char *path)
{
    return p->lock_path ? strdup(p->lock_path)
                        : or_strdup_printf("%s.meterd.lock", path);
}

/* Register every token of a credentials document as a secret. */
static OR_UNUSED void or_secrets(const md_host *h, md_ctx *ctx,
                                 const or_provider *p, const json_t *doc)
{
    const json_t *t = or_tokens(p, doc);
    const char *keys[] = {p->access_key, p->refresh_key, p->id_token_key};
    for (size_t i = 0; i < 3; i++) {
        const char *s = keys[i] ? mdu_str(t, keys[i]) : NULL;
        if (s && *s)
            h->add_secret(ctx, s);
    }
}

/* POST the refresh-token grant.  0 with *resp (a JSON object, new
 * reference); 1 after host->fail() for a rejection (auth) or an error
 * answer; -1 after host->fail() for a transport failure. */
static OR_UNUSED int or_post(const md_host *h, md_ctx *ctx,
                             const or_provider *p, const char *refresh,
                             json_t **resp)
{
    const char *hdrs[OR_MAX_HEADERS + 3];
    size_t nh = 0;
    hdrs[nh++] = p->json_body ? "Content-Type: application/json"
                              : "Content-Type: application/x-www-form-urlencoded";
    hdrs[nh++] = "Accept: application/json";
    for (size_t i = 0; p->headers && p->headers[i] && nh < OR_MAX_HEADERS; i++)
        hdrs[nh++] = p->headers[i];
    hdrs[nh] = NULL;
    char *body = or_body(p, refresh);
    md_http_request req = {0};
    req.method = "POST";
    req.url = p->token_url;
    req.headers = hdrs;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    md_http_response *r = NULL;
    *resp = NULL;
    int rc = -1;
    if (!body) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    if (h->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        h->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                "refreshing the %s token at %s: %s", p->cli, p->token_url,
                r && r->error ? r->error : "request failed");
    } else if (r->status >= 200 && r->status <= 299) {
        json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
        if (json_is_object(j)) {
            *resp = j;
            rc = 0;
        } else {
            json_decref(j);
            h->fail(ctx, MD_ERR_BAD_DATA, "the %s token endpoint did not "
                    "answer a JSON object; the credentials file is "
                    "unchanged", p->cli);
            rc = 1;
        }
    } else if (r->status == 400 || r->status == 401 || r->status == 403) {
        json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
        const char *code = mdu_str(j, "error");
        const char *desc = mdu_str(j, "error_description");
        if (!code)
            code = mdu_str(j, "error.type");
        if (!desc)
            desc = mdu_str(j, "error.message");
        h->fail(ctx, MD_ERR_AUTH, "the %s refresh token was rejected (HTTP "
                "%ld%s%.40s%s%.120s): the login has ended; %s to log in "
                "again (the credentials file is unchanged)", p->cli,
                r->status, code ? ", " : "", code ? code : "",
                desc ? ": " : "", desc ? desc : "", p->renew);
        json_decref(j);
        rc = 1;
    } else {
        mdu_fail_status(h, ctx, r, p->renew);
        rc = 1;
    }
    h->http_free(r);
    mdu_free_secret(body);
    return rc;
}

/* Make *doc (the plugin's copy of the credentials file at path) hold a
 * usable access token, refreshing it as the CLI would (see the top of this
 * file).  Returns 0 (nothing was due, the CLI renewed it meanwhile, or it
 * was refreshed and written back: *doc may be a new document), 1 when the
 * document cannot be refreshed (no expiry, no refresh token: the caller
 * applies its own expiry check), or -1 after host->fail(). */
static OR_UNUSED int or_refresh(const md_host *h, md_ctx *ctx,
                                const or_provider *p, const char *path,
                                json_t **doc)
{
    if (!or_due(h, ctx, p, *doc))
        return 0;
    const char *rt0 = mdu_str(or_tokens(p, *doc), p->refresh_key);
    if (!rt0 || !*rt0)
        return 1;
    double left = p->expiry(h, ctx, *doc) - h->now(ctx);
    char real[PATH_MAX];
    char *err = NULL, *lock = NULL, *rt = NULL;
    int lfd = -1, rc = -1;
    or_file f = {0};
    json_t *resp = NULL;
    if (!realpath(path, real)) {
        h->fail(ctx, MD_ERR_AUTH, "cannot resolve %s: %s; %s", path,
                strerror(errno), p->renew);
        return -1;
    }
    struct stat st;
    if (stat(real, &st) != 0 || or_can_write(real, &st, &err) != 0) {
        h->fail(ctx, MD_ERR_AUTH, "the %s access token in %s %s (it lasts %s)"
                "; meterd renews it only when it can write the new tokens "
                "back, and %s: %s, make the file and its directory writable "
                "by meterd's user, or set `refresh: off` to stop trying",
                p->cli, path, left > 0 ? "expires in less than 5 minutes"
                                       : "has expired", p->lifetime,
                err ? err : "the file cannot be checked", p->renew);
        goto out;
    }
    lock = or_lock_path(p, real);
    long long wait = h->remaining_ms(ctx) / 3;
    if (wait > OR_LOCK_WAIT_MS)
        wait = OR_LOCK_WAIT_MS;
    if (!lock || (lfd = or_lock(lock, wait, &err)) < 0) {
        h->fail(ctx, MD_ERR_AUTH, "the %s access token has expired and %s",
                p->cli, err ? err : "out of memory");
        goto out;
    }
    /* The CLI may have renewed the token since the plugin read the file. */
    if (or_read(real, &f, &err) != 0) {
        h->fail(ctx, MD_ERR_AUTH, "%s; %s", err, p->renew);
        goto out;
    }
    or_secrets(h, ctx, p, f.doc);
    if (!or_due(h, ctx, p, f.doc)) {
        h->note(ctx, "the %s CLI renewed its token meanwhile; no refresh "
                "needed", p->cli);
        json_decref(*doc);
        *doc = f.doc;
        f.doc = NULL;
        rc = 0;
        goto out;
    }
    /* Still due: refresh with the refresh token the file holds NOW (the
     * CLI may have rotated it since the plugin's read). */
    const char *cur = mdu_str(or_tokens(p, f.doc), p->refresh_key);
    if (!cur || !*cur) {
        h->fail(ctx, MD_ERR_AUTH, "%s holds no refresh token any more; %s",
                path, p->renew);
        goto out;
    }
    rt = strdup(cur);
    int pr = rt ? or_post(h, ctx, p, rt, &resp) : -1;
    if (pr != 0)
        goto out;
    const char *keys[] = {"access_token", "refresh_token", "id_token"};
    for (size_t i = 0; i < 3; i++)
        if (mdu_str(resp, keys[i]) && *mdu_str(resp, keys[i]))
            h->add_secret(ctx, mdu_str(resp, keys[i]));
    if (or_apply(h, ctx, p, &f, resp, &err) != 0) {
        h->fail(ctx, MD_ERR_BAD_DATA, "%s; the credentials file is unchanged",
                err);
        goto out;
    }
    if (or_write(real, &f, &err) != 0) {
        /* The grant was spent: the CLI's refresh token may be dead now. */
        h->fail(ctx, MD_ERR_INTERNAL, "the %s token was refreshed but writing "
                "it back failed (%s); %s if the CLI reports a logout",
                p->cli, err, p->renew);
        goto out;
    }
    h->log(ctx, MD_LOG_INFO, "refreshed the %s access token and wrote it "
           "back to %s", p->cli, path);
    h->note(ctx, "access token refreshed (%s tokens last %s)", p->cli,
            p->lifetime);
    json_decref(*doc);
    *doc = f.doc;
    f.doc = NULL;
    rc = 0;
out:
    if (lfd >= 0)
        close(lfd); /* releases the flock */
    json_decref(resp);
    or_file_release(&f);
    mdu_free_secret(rt);
    free(lock);
    free(err);
    return rc;
}

/* check(): refresh must be auto or off, token_url http(s). */
static OR_UNUSED int or_check_options(const md_host *h, md_ctx *ctx)
{
    const char *r = h->opt_str(ctx, "refresh");
    const char *u = h->opt_str(ctx, "token_url");
    if (r && strcmp(r, "auto") != 0 && strcmp(r, "off") != 0) {
        h->fail(ctx, MD_ERR_CONFIG, "refresh: expected auto or off, got '%s'",
                r);
        return -1;
    }
    if (u && strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        h->fail(ctx, MD_ERR_CONFIG, "token_url must start with http:// or "
                "https://, got '%s'", u);
        return -1;
    }
    return 0;
}

/* Whether the refresh option is auto (the default). */
static OR_UNUSED int or_enabled(const md_host *h, md_ctx *ctx)
{
    const char *r = h->opt_str(ctx, "refresh");
    return !r || strcmp(r, "off") != 0;
}

#endif
