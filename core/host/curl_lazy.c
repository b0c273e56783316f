/*
 * curl_lazy.c - libcurl loaded on first use instead of at start-up.
 *
 * The meterd binary is linked without -lcurl (Makefile: CORE_LIBS): these
 * definitions of the only libcurl functions the core calls (http_client.c,
 * cli_source.c) load libcurl.so.4 the first time one of them is called
 * (dlopen, once, thread-safe) and forward to it.  libcurl and the
 * libraries it pulls in (TLS, Kerberos, LDAP, SSH, HTTP/2, ...: about
 * twenty) are then mapped and relocated only by the processes that do
 * HTTP - a collection that calls host->http, `meterd source` - and no
 * longer by every start of the binary (the report, the daemon, each
 * helper and probe).
 *
 * Invariants:
 *   - behaviour is libcurl's own once it is loaded: each function is
 *     forwarded unchanged; curl_easy_setopt passes its one argument on
 *     with the type libcurl reads for the option's range (long, object
 *     pointer, function pointer, curl_off_t, blob), as libcurl itself
 *     reads it;
 *   - when libcurl cannot be loaded (not installed), curl_global_init
 *     answers CURLE_FAILED_INIT and curl_easy_init NULL, which every
 *     caller already treats as "cannot initialise libcurl"; nothing else
 *     is reached without an easy handle;
 *   - a libcurl function the core starts to call without a definition
 *     here fails the link of meterd (no -lcurl), never at run time.
 * Ownership: the library handle is kept until exit.
 * Threads: any thread (pthread_once).
 */
#define CURL_DISABLE_TYPECHECK   /* plain prototypes: we define them */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#define CURL_LAZY_SONAME "libcurl.so.4"

static struct {
    int ready;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} g_curl;

static pthread_once_t g_curl_load = PTHREAD_ONCE_INIT;

/* POSIX: dlsym's void * converts to a function pointer. */
#define BIND(field, name)                                                 \
    do {                                                                  \
        *(void **)&g_curl.field = dlsym(h, name);                         \
        ok = ok && g_curl.field != NULL;                                  \
    } while (0)

static void curl_load(void)
{
    void *h = dlopen(CURL_LAZY_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    int ok = 1;
    BIND(global_init, "curl_global_init");
    BIND(easy_init, "curl_easy_init");
    BIND(easy_setopt, "curl_easy_setopt");
    BIND(easy_perform, "curl_easy_perform");
    BIND(easy_getinfo, "curl_easy_getinfo");
    BIND(easy_cleanup, "curl_easy_cleanup");
    BIND(easy_strerror, "curl_easy_strerror");
    BIND(slist_append, "curl_slist_append");
    BIND(slist_free_all, "curl_slist_free_all");
    g_curl.ready = ok;
}

static int loaded(void)
{
    pthread_once(&g_curl_load, curl_load);
    return g_curl.ready;
}

CURLcode curl_global_init(long flags)
{
    return loaded() ? g_curl.global_init(flags) : CURLE_FAILED_INIT;
}

CURL *curl_easy_init(void)
{
    return loaded() ? g_curl.easy_init() : NULL;
}

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
    if (!loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = g_curl.easy_setopt(c, opt, va_arg(ap, long));
    else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
        rc = g_curl.easy_setopt(c, opt, va_arg(ap, void *));
    else if (opt < CURLOPTTYPE_OFF_T)
        rc = g_curl.easy_setopt(c, opt, va_arg(ap, void (*)(void)));
    else if (opt < CURLOPTTYPE_BLOB)
        rc = g_curl.easy_setopt(c, opt, va_arg(ap, curl_off_t));
    else
        rc = g_curl.easy_setopt(c, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_perform(CURL *c)
{
    return loaded() ? g_curl.easy_perform(c) : CURLE_FAILED_INIT;
}

/* Every CURLINFO_* takes one pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
    if (!loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = g_curl.easy_getinfo(c, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

void curl_easy_cleanup(CURL *c)
{
    if (loaded())
        g_curl.easy_cleanup(c);
}

const char *curl_easy_strerror(CURLcode rc)
{
    return loaded() ? g_curl.easy_strerror(rc)
                    : "libcurl (" CURL_LAZY_SONAME ") cannot be loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    return loaded() ? g_curl.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (loaded())
        g_curl.slist_free_all(list);
}
