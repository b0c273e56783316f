/* http_client.c - libcurl easy requests for plugins (see http_client.h). */
#include "http_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define MAX_HEADERS 256
#define MAX_CONNECT_MS 10000L

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void http_global_init(void) { pthread_once(&g_curl_once, curl_init_once); }

/* State of one transfer, filled by the curl callbacks. */
typedef struct transfer {
    md_http_response *resp;   /* being built; owned by the caller */
    size_t cap_bytes;         /* hard limit on the body */
    size_t body_cap;          /* allocated size of resp->body */
    int too_big;              /* the body hit cap_bytes: transfer aborted */
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    md_http_response *r = t->resp;
    size_t n = size * nmemb;
    if (n > t->cap_bytes - r->body_len) {
        t->too_big = 1;
        return 0;   /* anything but n aborts the transfer */
    }
    if (r->body_len + n + 1 > t->body_cap) {
        size_t want = t->body_cap < 4096 ? 4096 : t->body_cap;
        while (want < r->body_len + n + 1)
            want *= 2;
        r->body = xrealloc(r->body, want);
        t->body_cap = want;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static void clear_headers(md_http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
    free(r->header_names);
    free(r->header_values);
    r->header_names = r->header_values = NULL;
    r->n_headers = 0;
}

static void add_header(md_http_response *r, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line || r->n_headers >= MAX_HEADERS)
        return;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    char *name = xmalloc(nl + 1);
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)tolower((unsigned char)line[i]);
    name[nl] = '\0';
    char *value = xmalloc((size_t)(end - v) + 1);
    memcpy(value, v, (size_t)(end - v));
    value[end - v] = '\0';
    size_t n = r->n_headers + 1;
    r->header_names = xrealloc(r->header_names, n * sizeof(char *));
    r->header_values = xrealloc(r->header_values, n * sizeof(char *));
    r->header_names[n - 1] = name;
    r->header_values[n - 1] = value;
    r->n_headers = n;
}

/* curl hands us every header line of every response (redirects, 100
 * Continue); a new status line starts a new response, so only the headers
 * of the final one survive. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncasecmp(data, "HTTP/", 5) == 0)
        clear_headers(t->resp);
    else
        add_header(t->resp, data, n);
    return n;
}

static md_http_response *response_new(void)
{
    md_http_response *r = xcalloc(1, sizeof *r);
    r->body = xstrdup("");
    return r;
}

/* Turn r into a transport failure: no status, no body, masked error. */
static int fail_response(md_http_response *r, md_error cls, const char *msg,
                         const char *const *secrets, size_t n_secrets)
{
    r->status = 0;
    r->body[0] = '\0';
    r->body_len = 0;
    clear_headers(r);
    free(r->error);
    r->error = mask_secrets(msg, secrets, n_secrets);
    r->error_class = cls;
    return -1;
}

static struct curl_slist *build_headers(const md_http_request *req)
{
    struct curl_slist *list = NULL;
    /* No "Expect: 100-continue" round trip for bodies: it only costs time. */
    list = curl_slist_append(list, "Expect:");
    for (const char *const *h = req->headers; h && *h; h++)
        list = curl_slist_append(list, *h);
    return list;
}

static void set_method(CURL *c, const md_http_request *req)
{
    const char *m = req->method ? req->method : "GET";
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    }
    if (strcasecmp(m, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcasecmp(m, "GET") != 0 || req->body)
        if (!(req->body && strcasecmp(m, "POST") == 0))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
}

static void set_options(CURL *c, const md_http_request *req, long timeout_ms,
                        transfer *t, char *errbuf, struct curl_slist *hdrs)
{
    /* NOSIGNAL: the daemon is threaded; no SIGALRM-based DNS timeouts. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < MAX_CONNECT_MS ? timeout_ms : MAX_CONNECT_MS);
    /* Known Content-Length beyond the cap fails before the body flows. */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->cap_bytes);
    /* Decoded bytes count against the cap, so compression cannot bomb us. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "meterd");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    set_method(c, req);
}

static long clamp_timeout(const md_http_request *req, long long remaining_ms)
{
    long long t = remaining_ms;
    if (req->timeout_ms > 0 && req->timeout_ms < t)
        t = req->timeout_ms;
    return t > 0x7fffffffLL ? 0x7fffffffL : (long)t;
}

/* Map a finished transfer's curl code onto the response. */
static int finish(CURL *c, CURLcode rc, transfer *t, const char *errbuf,
                  const char *const *secrets, size_t n_secrets)
{
    md_http_response *r = t->resp;
    if (t->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        char msg[96];
        snprintf(msg, sizeof msg, "response larger than %zu bytes",
                 t->cap_bytes);
        return fail_response(r, MD_ERR_BAD_DATA, msg, secrets, n_secrets);
    }
    if (rc != CURLE_OK) {
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        md_error cls = rc == CURLE_OPERATION_TIMEDOUT ? MD_ERR_TIMEOUT
                                                      : MD_ERR_NETWORK;
        return fail_response(r, cls, why, secrets, n_secrets);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    r->error_class = MD_ERR_NONE;
    return 0;
}

int http_perform(const md_http_request *req, long long remaining_ms,
                 const char *const *secrets, size_t n_secrets,
                 md_http_response **out)
{
    md_http_response *r = response_new();
    *out = r;
    if (!req || !req->url)
        return fail_response(r, MD_ERR_INTERNAL, "request without a URL",
                             secrets, n_secrets);
    long timeout_ms = clamp_timeout(req, remaining_ms);
    if (timeout_ms <= 0)
        return fail_response(r, MD_ERR_TIMEOUT,
                             "no time left before the collection deadline",
                             secrets, n_secrets);
    http_global_init();
    CURL *c = curl_easy_init();
    if (!c)
        return fail_response(r, MD_ERR_INTERNAL, "curl_easy_init failed",
                             secrets, n_secrets);
    transfer t = {r,
                  req->max_response_bytes ? req->max_response_bytes
                                          : HTTP_DEFAULT_MAX_RESPONSE,
                  1, 0};
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    struct curl_slist *hdrs = build_headers(req);
    set_options(c, req, timeout_ms, &t, errbuf, hdrs);
    CURLcode rc = curl_easy_perform(c);
    int ret = finish(c, rc, &t, errbuf, secrets, n_secrets);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return ret;
}

void http_response_free(md_http_response *resp)
{
    if (!resp)
        return;
    clear_headers(resp);
    free(resp->body);
    free(resp->error);
    free(resp);
}

const char *http_response_header(const md_http_response *resp,
                                 const char *name)
{
    if (!resp || !name)
        return NULL;
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->header_names[i], name) == 0)
            return resp->header_values[i];
    return NULL;
}
