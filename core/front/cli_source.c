/* cli_source.c - the usage document for the command line: from the
 * daemon over HTTP (libcurl), else rendered from its snapshot.  See
 * cli_source.h. */
#include "cli_source.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conventions.h"
#include "daemon.h"
#include "log.h"
#include "render.h"
#include "timeutil.h"

#ifndef METERD_PLUGINDIR
#define METERD_PLUGINDIR "/usr/local/lib/meterd"
#endif
#ifndef METERD_STATEDIR
#define METERD_STATEDIR "/usr/local/var/lib/meterd"
#endif

#define USAGE_PATH "/api/automation/usage"
#define USAGE_SCHEMA "meterd.usage.v1"
/* A usage document is a few KiB per family; anything far larger is not
 * our daemon. */
#define MAX_BODY ((size_t)16 * 1024 * 1024)

void cli_source_init(cli_source *s)
{
    memset(s, 0, sizeof *s);
}

void cli_source_release(cli_source *s)
{
    json_decref(s->doc);
    free(s->daemon);
    free(s->daemon_error);
    free(s->snapshot_path);
    cli_source_init(s);
}

/* ---- the daemon's address ---- */

typedef struct endpoint {
    char *url;         /* owned: the full request URL */
    char *unix_path;   /* owned or NULL: connect through this socket */
    char *display;     /* owned: how to name it to a person */
} endpoint;

static void endpoint_release(endpoint *e)
{
    free(e->url);
    free(e->unix_path);
    free(e->display);
    memset(e, 0, sizeof *e);
}

int cli_url_valid(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 ||
           strncmp(url, "unix:/", 6) == 0;
}

static int endpoint_from_url(endpoint *e, const char *url, char **err)
{
    if (!cli_url_valid(url))
        return err_set(err, "--url: expected http://HOST:PORT or unix:/PATH, got '%s'",
                       url);
    if (strncmp(url, "unix:", 5) == 0) {
        e->unix_path = xstrdup(url + 5);
        e->url = xstrdup("http://localhost" USAGE_PATH);
        e->display = xstrdup(url);
        return 0;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    size_t k = strlen(USAGE_PATH);
    int has_path = n >= k && strncmp(url + n - k, USAGE_PATH, k) == 0;
    e->display = xasprintf("%.*s", (int)(has_path ? n - k : n), url);
    e->url = has_path ? xasprintf("%.*s", (int)n, url)
                      : xasprintf("%.*s" USAGE_PATH, (int)n, url);
    return 0;
}

/* listen "host:port", "[v6]:port", "unix:/path": where a local client
 * reaches it (a wildcard host is reached on loopback). */
static int endpoint_from_listen(endpoint *e, const char *listen, char **err)
{
    if (strncmp(listen, "unix:", 5) == 0)
        return endpoint_from_url(e, listen, err);
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1])
        return err_set(err, "listen: expected host:port, got '%s'", listen);
    char *host = xasprintf("%.*s", (int)(colon - listen), listen);
    const char *port = colon + 1;
    if (strcmp(port, "0") == 0) {
        free(host);
        return err_set(err, "listen %s: the port is chosen at start; pass --url",
                       listen);
    }
    size_t hl = strlen(host);
    int bracketed = hl >= 2 && host[0] == '[' && host[hl - 1] == ']';
    const char *inner_start = bracketed ? host + 1 : host;
    char *inner = xasprintf("%.*s", (int)(bracketed ? hl - 2 : hl), inner_start);
    const char *reach = inner;
    if (strcmp(inner, "0.0.0.0") == 0 || !*inner)
        reach = "127.0.0.1";
    else if (strcmp(inner, "::") == 0)
        reach = "::1";
    int v6 = strchr(reach, ':') != NULL;
    e->display = xasprintf(v6 ? "http://[%s]:%s" : "http://%s:%s", reach, port);
    e->url = xasprintf("%s" USAGE_PATH, e->display);
    free(inner);
    free(host);
    return 0;
}

/* ---- one HTTP request ---- */

typedef struct body {
    char *data;
    size_t len;
} body;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > MAX_BODY)
        return 0;   /* curl fails the transfer with a write error */
    b->data = xrealloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* A usage document, or NULL with *err. */
static json_t *usage_doc_check(json_t *doc, char **err)
{
    json_t *schema = json_object_get(doc, "schema");
    if (json_is_object(doc) && json_is_string(schema) &&
        strcmp(json_string_value(schema), USAGE_SCHEMA) == 0 &&
        json_is_array(json_object_get(doc, "providers")))
        return doc;
    json_decref(doc);
    err_set(err, "the answer is not a " USAGE_SCHEMA " document");
    return NULL;
}

static int http_get_usage(const endpoint *e, json_t **out, char **err)
{
    static int curl_ready;
    if (!curl_ready++)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    if (!c)
        return err_set(err, "cannot initialise libcurl");
    char errbuf[CURL_ERROR_SIZE] = "";
    body b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, e->url);
    if (e->unix_path)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->unix_path);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* The daemon is local: an http_proxy in the environment must not
     * carry the request elsewhere. */
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CLI_HTTP_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CLI_HTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "meterd-cli");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int ret = 0;
    if (rc != CURLE_OK) {
        ret = err_set(err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (status != 200) {
        ret = err_set(err, "HTTP status %ld", status);
    } else {
        json_error_t jerr;
        json_t *doc = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
        if (!doc)
            ret = err_set(err, "the answer is not JSON: %s", jerr.text);
        else if (!(*out = usage_doc_check(doc, err)))
            ret = -1;
    }
    free(b.data);
    return ret;
}

/* ---- the snapshot ---- */

static config *load_cli_config(const char *path, char **err)
{
    diag_list diags = {0};
    config *cfg = config_load(path, METERD_PLUGINDIR, METERD_STATEDIR, &diags);
    if (!cfg) {
        char *first = diags.n ? diag_format(&diags.items[0]) : NULL;
        err_set(err, "cannot load %s: %s", path, first ? first : "invalid");
        free(first);
    }
    diag_clear(&diags);
    return cfg;
}

/* saved_at of the snapshot file; -1 with *err when it is missing or does
 * not parse.  Read here (not through snapshot_load) so that looking at a
 * broken snapshot never moves it aside under a running daemon. */
static int snapshot_peek(const char *path, double *saved_at, char **err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (access(path, F_OK) != 0)
            return err_set(err, "no snapshot at %s: %s", path, strerror(errno));
        return err_set(err, "snapshot %s unreadable: %s", path, jerr.text);
    }
    const char *t = json_string_value(json_object_get(doc, "saved_at"));
    *saved_at = 0;
    if (t && rfc3339_parse(t, saved_at) != 0)
        *saved_at = 0;
    json_decref(doc);
    return 0;
}

/* Render the usage document from cfg's snapshot, the way a daemon that
 * just started on it would (takes ownership of cfg). */
static int render_snapshot(cli_source *s, config *cfg, char **err)
{
    s->snapshot_path = xasprintf("%s/snapshot.json", cfg->state_dir);
    if (snapshot_peek(s->snapshot_path, &s->snapshot_saved_at, err) != 0) {
        config_free(cfg);
        return -1;
    }
    daemon_t d;
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&d.lock, NULL);
    state_init(&d, cfg);
    state_load_snapshot(&d);
    view_set *vs = view_set_acquire(&d);
    double now = time_now();
    provider_view *v = view_set_views_at(vs, now);
    usage_meta meta = {.data_source = "snapshot_fallback"};
    render_opts o = {0, 0};
    s->doc = render_usage(v, vs->n, o, &meta, now);
    free(v);
    view_set_release(vs);
    state_release(&d);
    pthread_mutex_destroy(&d.lock);
    s->from_snapshot = 1;
    return 0;
}

int cli_source_load(cli_source *s, const cli_target *t, char **err)
{
    endpoint e = {NULL, NULL, NULL};
    config *cfg = NULL;
    char *why = NULL, *cfg_err = NULL;
    if (t->url) {
        if (endpoint_from_url(&e, t->url, err) != 0)
            return -1;
    } else {
        cfg = load_cli_config(t->config_path, &cfg_err);
        if (!cfg) {
            /* Only listen and state_dir are needed: say how to do without
             * the file (a ${VAR} unset in this shell is typical). */
            err_set(err, "%s (pass --url to ask the daemon directly)", cfg_err);
            free(cfg_err);
            return -1;
        }
        if (endpoint_from_listen(&e, cfg->listen, &why) != 0) {
            s->daemon_error = why;
            why = NULL;
        }
    }
    if (e.url) {
        s->daemon = xstrdup(e.display);
        if (http_get_usage(&e, &s->doc, &why) == 0) {
            endpoint_release(&e);
            config_free(cfg);
            return 0;
        }
        s->daemon_error = why;
    }
    endpoint_release(&e);
    if (!cfg)
        cfg = load_cli_config(t->config_path, &cfg_err);
    if (!cfg) {
        err_set(err, "daemon not reachable at %s (%s); no snapshot: %s",
                s->daemon, s->daemon_error, cfg_err);
        free(cfg_err);
        return -1;
    }
    char *snap_err = NULL;
    if (render_snapshot(s, cfg, &snap_err) != 0) {
        err_set(err, "daemon not reachable at %s (%s); %s",
                s->daemon ? s->daemon : "(no address)",
                s->daemon_error ? s->daemon_error : "unknown", snap_err);
        free(snap_err);
        return -1;
    }
    return 0;
}
