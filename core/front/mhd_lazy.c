/*
 * mhd_lazy.c - libmicrohttpd loaded when the HTTP server starts instead
 * of at start-up.
 *
 * The meterd binary is linked without -lmicrohttpd (Makefile: CORE_LIBS):
 * these definitions of the only libmicrohttpd functions the core calls
 * (httpd.c, listen.c, routes.c and the APIs they serve) load
 * libmicrohttpd.so.12 the first time one of them is called (dlopen, once,
 * thread-safe) and forward to it.  libmicrohttpd pulls in GnuTLS and the
 * eight libraries under it, whose mapping, relocation and initialisation
 * cost every start of the binary ~1.7 ms here: the report, each probe and
 * every command-line mode paid it without serving HTTP.  Only the daemon
 * (httpd_start) loads it now.
 *
 * Invariants:
 *   - behaviour is libmicrohttpd's own once it is loaded: each function
 *     is forwarded unchanged; MHD_start_daemon passes its option list on
 *     through MHD_start_daemon_va, MHD_get_connection_info asks with no
 *     extra argument (the info types the core asks for take none);
 *   - when libmicrohttpd cannot be loaded (not installed, another
 *     SONAME), the reason is logged once and MHD_start_daemon answers
 *     NULL, which httpd_start already reports as a server that cannot
 *     start; every other function is reached only through a daemon or a
 *     connection that one started;
 *   - a libmicrohttpd function the core starts to call without a
 *     definition here fails the link of meterd (no -lmicrohttpd), never
 *     at run time.
 * Ownership: the library handle is kept until exit.
 * Threads: any thread (pthread_once).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "log.h"

#define MHD_LAZY_SONAME "libmicrohttpd.so.12"

static struct {
    int ready;
    struct MHD_Daemon *(*start_daemon_va)(unsigned int, uint16_t,
                                          MHD_AcceptPolicyCallback, void *,
                                          MHD_AccessHandlerCallback, void *,
                                          va_list);
    void (*stop_daemon)(struct MHD_Daemon *);
    MHD_socket (*quiesce_daemon)(struct MHD_Daemon *);
    const char *(*lookup_connection_value)(struct MHD_Connection *,
                                           enum MHD_ValueKind, const char *);
    int (*get_connection_values)(struct MHD_Connection *, enum MHD_ValueKind,
                                 MHD_KeyValueIterator, void *);
    const union MHD_ConnectionInfo *(*get_connection_info)(
        struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int,
                                      struct MHD_Response *);
    void (*suspend_connection)(struct MHD_Connection *);
    void (*resume_connection)(struct MHD_Connection *);
    struct MHD_Response *(*create_response_from_buffer)(
        size_t, void *, enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *,
                                           const char *, const char *);
    void (*destroy_response)(struct MHD_Response *);
} g_mhd;

static pthread_once_t g_mhd_load = PTHREAD_ONCE_INIT;

/* POSIX: dlsym's void * converts to a function pointer. */
#define BIND(field, name)                                                 \
    do {                                                                  \
        *(void **)&g_mhd.field = dlsym(h, name);                          \
        ok = ok && g_mhd.field != NULL;                                   \
    } while (0)

static void mhd_load(void)
{
    void *h = dlopen(MHD_LAZY_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        /* the only place the reason is known: httpd_start says no more
         * than that the server cannot start */
        log_msg(MD_LOG_ERROR, NULL, "cannot load %s: %s", MHD_LAZY_SONAME,
                dlerror());
        return;
    }
    int ok = 1;
    BIND(start_daemon_va, "MHD_start_daemon_va");
    BIND(stop_daemon, "MHD_stop_daemon");
    BIND(quiesce_daemon, "MHD_quiesce_daemon");
    BIND(lookup_connection_value, "MHD_lookup_connection_value");
    BIND(get_connection_values, "MHD_get_connection_values");
    BIND(get_connection_info, "MHD_get_connection_info");
    BIND(queue_response, "MHD_queue_response");
    BIND(suspend_connection, "MHD_suspend_connection");
    BIND(resume_connection, "MHD_resume_connection");
    BIND(create_response_from_buffer, "MHD_create_response_from_buffer");
    BIND(add_response_header, "MHD_add_response_header");
    BIND(destroy_response, "MHD_destroy_response");
    g_mhd.ready = ok;
    if (!ok)
        log_msg(MD_LOG_ERROR, NULL, "%s lacks a function meterd calls: %s",
                MHD_LAZY_SONAME, dlerror());
}

static int loaded(void)
{
    pthread_once(&g_mhd_load, mhd_load);
    return g_mhd.ready;
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
                                    MHD_AcceptPolicyCallback apc,
                                    void *apc_cls,
                                    MHD_AccessHandlerCallback dh,
                                    void *dh_cls, ...)
{
    if (!loaded())
        return NULL;
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d =
        g_mhd.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

/* The rest is reached only through a daemon MHD_start_daemon returned,
 * so the library is loaded; loaded() is a pthread_once check. */

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
    if (loaded())
        g_mhd.stop_daemon(daemon);
}

MHD_socket MHD_quiesce_daemon(struct MHD_Daemon *daemon)
{
    return loaded() ? g_mhd.quiesce_daemon(daemon) : MHD_INVALID_SOCKET;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection,
                                        enum MHD_ValueKind kind,
                                        const char *key)
{
    return loaded() ? g_mhd.lookup_connection_value(connection, kind, key)
                    : NULL;
}

int MHD_get_connection_values(struct MHD_Connection *connection,
                              enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator,
                              void *iterator_cls)
{
    return loaded() ? g_mhd.get_connection_values(connection, kind, iterator,
                                                  iterator_cls)
                    : -1;
}

const union MHD_ConnectionInfo *
MHD_get_connection_info(struct MHD_Connection *connection,
                        enum MHD_ConnectionInfoType info_type, ...)
{
    return loaded() ? g_mhd.get_connection_info(connection, info_type)
                    : NULL;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection,
                                   unsigned int status_code,
                                   struct MHD_Response *response)
{
    return loaded() ? g_mhd.queue_response(connection, status_code, response)
                    : MHD_NO;
}

void MHD_suspend_connection(struct MHD_Connection *connection)
{
    if (loaded())
        g_mhd.suspend_connection(connection);
}

void MHD_resume_connection(struct MHD_Connection *connection)
{
    if (loaded())
        g_mhd.resume_connection(connection);
}

struct MHD_Response *MHD_create_response_from_buffer(
    size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
    return loaded() ? g_mhd.create_response_from_buffer(size, buffer, mode)
                    : NULL;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response,
                                        const char *header,
                                        const char *content)
{
    return loaded() ? g_mhd.add_response_header(response, header, content)
                    : MHD_NO;
}

void MHD_destroy_response(struct MHD_Response *response)
{
    if (loaded())
        g_mhd.destroy_response(response);
}
