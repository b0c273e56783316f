/*
 * plugins/sdk/oauth.c - renew an expired OAuth access token that a
 * provider's own CLI keeps in a JSON credentials file, the way that CLI
 * does, without ever breaking the CLI's login (meterd/util.h, "OAuth
 * refresh of a CLI's credentials file").
 *
 * The policy, in one place for every plugin that refreshes:
 *   - Decide: refresh only when the file's access token has less than
 *     OA_MARGIN_S left (or is past its expiry) and a refresh token is
 *     there.  An unknown expiry is never refreshed.
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
 *   - Write back atomically through mdu_statefile_begin_keep (temp file
 *     with the original mode and owner, fsync, rename, fsync of the
 *     directory): only the token fields change in the document that was
 *     re-read under the lock (every other key, and key order, is kept),
 *     dumped with the indentation the file had.  A symlinked credentials
 *     file is resolved first, so the link survives.
 *
 * Invariants: every token read or received is registered with
 * host->add_secret before it can reach any message; buffers that held
 * tokens are zeroed before they are freed.
 */
#include "meterd/util.h"
#include "mdu_unconst.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OA_MARGIN_S 300.0             /* refresh when less than 5 min left  */
#define OA_MAX_FILE (1024 * 1024)     /* credentials files are small        */
#define OA_LOCK_WAIT_MS 5000LL        /* at most; a third of what is left   */
#define OA_MAX_HEADERS 8

/* A credentials file as read under the lock, with its layout. */
typedef struct oa_file {
    json_t *doc;        /* the parsed object (owned)                      */
    size_t dump_flags;  /* jansson flags reproducing the indentation      */
    int trailing_nl;    /* the file ended with a newline                  */
} oa_file;

static void oa_file_release(oa_file *f)
{
    json_decref(f->doc);
    f->doc = NULL;
}

static char *oa_printf(const char *fmt, ...) MD_PRINTF(1, 2);
static char *oa_printf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

/* The object under cli->obj (the root when obj is NULL or ""), or NULL. */
static json_t *oa_tokens(const mdu_oauth_cli *cli, const json_t *doc)
{
    json_t *o = cli->obj && *cli->obj ? mdu_path(doc, cli->obj)
                                      : mdu_json_unconst(doc);
    return json_is_object(o) ? o : NULL;
}

/* The access token's expiry (epoch s) in doc, < 0 when unknown. */
static double oa_expiry(const md_host *h, md_ctx *ctx,
                        const mdu_oauth_cli *cli, const json_t *doc)
{
    if (cli->expiry)
        return cli->expiry(h, ctx, doc);
    if (!cli->expiry_key)
        return -1;
    md_time t = mdu_time(h, ctx, oa_tokens(cli, doc), cli->expiry_key,
                         MD_TS_EPOCH_S_OR_MS);
    return t.state == MD_KNOWN ? t.epoch : -1;
}

/* Whether the document's access token needs renewing now: 0 no (fresh,
 * or unknown expiry), 1 yes. */
static int oa_due(const md_host *h, md_ctx *ctx, const mdu_oauth_cli *cli,
                  const json_t *doc)
{
    double exp = oa_expiry(h, ctx, cli, doc);
    return exp >= 0 && exp - h->now(ctx) < OA_MARGIN_S;
}

/* The indentation a file uses: JSON_INDENT(n) after "{\n<n spaces>",
 * compact when there is no blank after a colon, else jansson's default
 * (", " and ": " on one line, as Python's json.dumps writes). */
static size_t oa_layout(const char *buf, size_t n)
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

/* Read and parse path (bounded) with its layout.  0, or -1 with *err
 * (malloc'd). */
static int oa_read(const char *path, oa_file *out, char **err)
{
    *out = (oa_file){0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = oa_printf("cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(OA_MAX_FILE + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (buf && n <= OA_MAX_FILE &&
           (r = read(fd, buf + n, OA_MAX_FILE + 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    json_error_t je;
    je.text[0] = '\0';
    if (buf && r >= 0 && n <= OA_MAX_FILE)
        out->doc = json_loadb(buf, n, 0, &je);
    if (json_is_object(out->doc)) {
        out->dump_flags = oa_layout(buf, n);
        out->trailing_nl = n > 0 && buf[n - 1] == '\n';
    } else {
        *err = oa_printf("%s is not a JSON object (%s)", path,
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
static int oa_in_group(gid_t g)
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

/* Split a resolved, absolute path into its directory and base name
 * (both malloc'd).  0, or -1 when out of memory. */
static int oa_split(const char *path, char **dir, char **name)
{
    const char *slash = strrchr(path, '/');
    *dir = slash == path ? strdup("/")
         : slash        ? strndup(path, (size_t)(slash - path))
                        : strdup(".");
    *name = strdup(slash ? slash + 1 : path);
    if (*dir && *name)
        return 0;
    free(*dir);
    free(*name);
    *dir = *name = NULL;
    return -1;
}

/* Whether path (a resolved, real path) can be replaced by a file with the
 * same mode and owner.  0, or -1 with *why (malloc'd, for the message; NULL
 * when out of memory). */
static int oa_can_write(const char *path, char **why)
{
    char *dir, *name;
    struct stat st;
    int rc = -1;
    *why = NULL;
    if (stat(path, &st) != 0)
        return -1;
    if (oa_split(path, &dir, &name) != 0)
        return -1;
    if (access(path, W_OK) != 0)
        *why = oa_printf("%s is not writable (%s)", path, strerror(errno));
    else if (access(dir, W_OK | X_OK) != 0)
        *why = oa_printf("its directory %s is not writable (%s)", dir,
                         strerror(errno));
    else if (geteuid() != 0 && st.st_uid != geteuid())
        *why = oa_printf("%s belongs to another user (uid %ld), so a "
                         "replacement could not keep its owner", path,
                         (long)st.st_uid);
    else if (geteuid() != 0 && !oa_in_group(st.st_gid))
        *why = oa_printf("%s has a group (gid %ld) this process is not in, "
                         "so a replacement could not keep it", path,
                         (long)st.st_gid);
    else
        rc = 0;
    free(dir);
    free(name);
    return rc;
}

/* Replace path (resolved) with f's document, keeping its mode and owner.
 * 0, or -1 with *err (the original file is then untouched). */
static int oa_write(const char *path, const oa_file *f, char **err)
{
    char *text = json_dumps(f->doc, f->dump_flags);
    char *dir = NULL, *name = NULL;
    mdu_statefile sf;
    int rc = -1;
    if (!text || oa_split(path, &dir, &name) != 0) {
        *err = oa_printf("out of memory");
    } else if (mdu_statefile_begin_keep(&sf, dir, name) != 0) {
        *err = oa_printf("cannot create a temporary file next to %s with "
                         "its mode and owner: %s", path, strerror(errno));
    } else if (mdu_write_all(sf.fd, text, strlen(text)) != 0 ||
               (f->trailing_nl && mdu_write_all(sf.fd, "\n", 1) != 0)) {
        *err = oa_printf("cannot write %s: %s", sf.tmp, strerror(errno));
        mdu_statefile_abort(&sf);
    } else if (mdu_statefile_commit(&sf) == 0 ||
               strcmp(sf.failed_step, "fsync") == 0) {
        /* A directory that cannot be fsync'd still holds the renamed file:
         * the new tokens are in place, which is what matters here. */
        rc = 0;
    } else {
        *err = oa_printf("cannot %s %s: %s", strcmp(sf.failed_step, "rename")
                         == 0 ? "rename over" : "write", path,
                         strerror(errno));
    }
    if (text)
        mdu_free_secret(text);
    free(dir);
    free(name);
    return rc;
}

/* Take an exclusive flock on lock_path, waiting at most wait_ms.  Returns
 * the descriptor (close it to unlock), or -1 with *err. */
static int oa_lock(const char *lock_path, long long wait_ms, char **err)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = oa_printf("cannot open the lock file %s: %s", lock_path,
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
    *err = oa_printf("cannot lock %s (%s); another process is renewing the "
                     "token, try again later", lock_path,
                     errno == ETIMEDOUT ? "still held after waiting"
                                        : strerror(errno));
    close(fd);
    return -1;
}

/* Append "name=value" (RFC 3986 unreserved characters kept, the rest
 * percent-encoded) to a form body.  0, or -1 when out of memory (*body is
 * then unchanged). */
static int oa_form_add(char **body, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t old = *body ? strlen(*body) : 0;
    size_t n = old + strlen(name) + 3 * strlen(value) + 3;
    char *b = realloc(*body, n);
    if (!b)
        return -1;
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
    return 0;
}

/* The refresh-token grant body (malloc'd; release with mdu_free_secret),
 * or NULL when out of memory. */
static char *oa_body(const mdu_oauth_cli *cli, const char *refresh)
{
    if (cli->json_body) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "grant_type", "refresh_token",
                              "refresh_token", refresh, "client_id",
                              cli->client_id);
        if (j && cli->client_secret)
            json_object_set_new(j, "client_secret",
                                json_string(cli->client_secret));
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        return s;
    }
    char *body = NULL;
    if (oa_form_add(&body, "grant_type", "refresh_token") != 0 ||
        oa_form_add(&body, "refresh_token", refresh) != 0 ||
        oa_form_add(&body, "client_id", cli->client_id) != 0 ||
        (cli->client_secret &&
         oa_form_add(&body, "client_secret", cli->client_secret) != 0)) {
        mdu_free_secret(body);
        return NULL;
    }
    return body;
}

/* Put the token response into f->doc: access, refresh (when rotated), id
 * token (when the file keeps one), expiry, expires_in, last_refresh.  No
 * other key is touched.  0, or -1 with *err. */
static int oa_apply(const md_host *h, md_ctx *ctx, const mdu_oauth_cli *cli,
                    oa_file *f, const json_t *resp, char **err)
{
    json_t *t = oa_tokens(cli, f->doc);
    const char *acc = mdu_str(resp, "access_token");
    if (!t || !acc || !*acc) {
        *err = oa_printf("the token endpoint answered without an "
                         "access_token");
        return -1;
    }
    double now = h->now(ctx);
    md_num in = mdu_num(h, resp, "expires_in");
    double life = in.state == MD_KNOWN ? in.value : cli->default_lifetime_s;
    json_object_set_new(t, cli->access_key, json_string(acc));
    const char *rt = mdu_str(resp, "refresh_token");
    if (rt && *rt)
        json_object_set_new(t, cli->refresh_key, json_string(rt));
    const char *id = mdu_str(resp, "id_token");
    if (id && *id && cli->id_token_key)
        json_object_set_new(t, cli->id_token_key, json_string(id));
    if (cli->expiry_kind == MDU_OAUTH_EXPIRY_EPOCH_MS)
        json_object_set_new(t, cli->expiry_key,
                            json_integer((json_int_t)((now + life) * 1000)));
    else if (cli->expiry_kind == MDU_OAUTH_EXPIRY_EPOCH_S)
        json_object_set_new(t, cli->expiry_key, json_real(now + life));
    if (cli->expires_in_key && json_object_get(t, cli->expires_in_key))
        json_object_set_new(t, cli->expires_in_key, json_real(life));
    if (cli->last_refresh_key) {
        /* RFC 3339 with microseconds, as the Codex CLI writes it */
        char when[48];
        time_t s = (time_t)now;
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + k, sizeof when - k, ".%06ldZ",
                 (long)((now - (double)s) * 1e6));
        json_object_set_new(f->doc, cli->last_refresh_key, json_string(when));
    }
    return 0;
}

void mdu_oauth_add_secrets(const md_host *h, md_ctx *ctx,
                           const mdu_oauth_cli *cli, const json_t *doc)
{
    const json_t *t = oa_tokens(cli, doc);
    const char *keys[] = {cli->access_key, cli->refresh_key,
                          cli->id_token_key};
    for (size_t i = 0; i < 3; i++) {
        const char *s = keys[i] ? mdu_str(t, keys[i]) : NULL;
        if (s && *s)
            h->add_secret(ctx, s);
    }
}

/* POST the refresh-token grant to url.  0 with *resp (a JSON object, new
 * reference); 1 after host->fail() for a rejection (auth) or an error
 * answer; -1 after host->fail() for a transport failure. */
static int oa_post(const md_host *h, md_ctx *ctx, const mdu_oauth_cli *cli,
                   const char *url, const char *refresh, json_t **resp)
{
    const char *hdrs[OA_MAX_HEADERS + 3];
    size_t nh = 0;
    hdrs[nh++] = cli->json_body
                     ? "Content-Type: application/json"
                     : "Content-Type: application/x-www-form-urlencoded";
    hdrs[nh++] = "Accept: application/json";
    for (size_t i = 0; cli->headers && cli->headers[i] && nh < OA_MAX_HEADERS;
         i++)
        hdrs[nh++] = cli->headers[i];
    hdrs[nh] = NULL;
    *resp = NULL;
    char *body = oa_body(cli, refresh);
    if (!body) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    md_http_request req = {
        .method = "POST",
        .url = url,
        .headers = hdrs,
        .body = body,
        .body_len = strlen(body),
    };
    md_http_response *r = NULL;
    int rc = -1;
    if (h->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        h->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                "refreshing the %s token at %s: %s", cli->cli, url,
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
                    "unchanged", cli->cli);
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
                "again (the credentials file is unchanged)", cli->cli,
                r->status, code ? ", " : "", code ? code : "",
                desc ? ": " : "", desc ? desc : "", cli->renew);
        json_decref(j);
        rc = 1;
    } else {
        mdu_fail_status(h, ctx, r, cli->renew);
        rc = 1;
    }
    h->http_free(r);
    mdu_free_secret(body);
    return rc;
}

int mdu_oauth_enabled(const md_host *h, md_ctx *ctx)
{
    const char *r = h->opt_str(ctx, "refresh");
    return !r || strcmp(r, "off") != 0;
}

int mdu_oauth_check_options(const md_host *h, md_ctx *ctx)
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

/* Replace *doc with f's document (the caller's copy of the file). */
static void oa_adopt(json_t **doc, oa_file *f)
{
    json_decref(*doc);
    *doc = f->doc;
    f->doc = NULL;
}

int mdu_oauth_refresh(const md_host *h, md_ctx *ctx,
                      const mdu_oauth_cli *cli, const char *path,
                      json_t **doc)
{
    if (!mdu_oauth_enabled(h, ctx))
        return 1;
    if (!oa_due(h, ctx, cli, *doc))
        return 0;
    const char *rt0 = mdu_str(oa_tokens(cli, *doc), cli->refresh_key);
    if (!rt0 || !*rt0)
        return 1;
    const char *url = h->opt_str(ctx, "token_url");
    if (!url || !*url)
        url = cli->token_url;
    double left = oa_expiry(h, ctx, cli, *doc) - h->now(ctx);
    char real[PATH_MAX];
    char *err = NULL, *lock = NULL, *rt = NULL;
    int lfd = -1, rc = -1;
    oa_file f = {0};
    json_t *resp = NULL;
    if (!realpath(path, real)) {
        h->fail(ctx, MD_ERR_AUTH, "cannot resolve %s: %s; %s", path,
                strerror(errno), cli->renew);
        return -1;
    }
    if (oa_can_write(real, &err) != 0) {
        h->fail(ctx, MD_ERR_AUTH, "the %s access token in %s %s (it lasts %s)"
                "; meterd renews it only when it can write the new tokens "
                "back, and %s: %s, make the file and its directory writable "
                "by meterd's user, or set `refresh: off` to stop trying",
                cli->cli, path, left > 0 ? "expires in less than 5 minutes"
                                         : "has expired", cli->lifetime,
                err ? err : "the file cannot be checked", cli->renew);
        goto out;
    }
    lock = cli->lock_path ? strdup(cli->lock_path)
                          : oa_printf("%s.meterd.lock", real);
    long long wait = h->remaining_ms(ctx) / 3;
    if (wait > OA_LOCK_WAIT_MS)
        wait = OA_LOCK_WAIT_MS;
    if (!lock || (lfd = oa_lock(lock, wait, &err)) < 0) {
        h->fail(ctx, MD_ERR_AUTH, "the %s access token has expired and %s",
                cli->cli, err ? err : "out of memory");
        goto out;
    }
    /* The CLI may have renewed the token since the plugin read the file. */
    if (oa_read(real, &f, &err) != 0) {
        h->fail(ctx, MD_ERR_AUTH, "%s; %s", err ? err : "out of memory",
                cli->renew);
        goto out;
    }
    mdu_oauth_add_secrets(h, ctx, cli, f.doc);
    if (!oa_due(h, ctx, cli, f.doc)) {
        h->note(ctx, "the %s CLI renewed its token meanwhile; no refresh "
                "needed", cli->cli);
        oa_adopt(doc, &f);
        rc = 0;
        goto out;
    }
    /* Still due: refresh with the refresh token the file holds NOW (the
     * CLI may have rotated it since the plugin's read). */
    const char *cur = mdu_str(oa_tokens(cli, f.doc), cli->refresh_key);
    if (!cur || !*cur) {
        h->fail(ctx, MD_ERR_AUTH, "%s holds no refresh token any more; %s",
                path, cli->renew);
        goto out;
    }
    rt = strdup(cur);
    if (!rt) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (oa_post(h, ctx, cli, url, rt, &resp) != 0)
        goto out;
    static const char *const keys[] = {"access_token", "refresh_token",
                                       "id_token"};
    for (size_t i = 0; i < 3; i++) {
        const char *s = mdu_str(resp, keys[i]);
        if (s && *s)
            h->add_secret(ctx, s);
    }
    if (oa_apply(h, ctx, cli, &f, resp, &err) != 0) {
        h->fail(ctx, MD_ERR_BAD_DATA, "%s; the credentials file is unchanged",
                err ? err : "out of memory");
        goto out;
    }
    if (oa_write(real, &f, &err) != 0) {
        /* The grant was spent: the CLI's refresh token may be dead now. */
        h->fail(ctx, MD_ERR_INTERNAL, "the %s token was refreshed but writing "
                "it back failed (%s); %s if the CLI reports a logout",
                cli->cli, err ? err : "out of memory", cli->renew);
        goto out;
    }
    h->log(ctx, MD_LOG_INFO, "refreshed the %s access token and wrote it "
           "back to %s", cli->cli, path);
    h->note(ctx, "access token refreshed (%s tokens last %s)", cli->cli,
            cli->lifetime);
    oa_adopt(doc, &f);
    rc = 0;
out:
    if (lfd >= 0)
        close(lfd); /* releases the flock */
    json_decref(resp);
    oa_file_release(&f);
    mdu_free_secret(rt);
    free(lock);
    free(err);
    return rc;
}
