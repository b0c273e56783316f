/* admission.c - which HTTP requests the local API lets in; see
 * admission.h. */
#include "admission.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const char *const localhost_names[] = {"localhost", "127.0.0.1",
                                              "[::1]", NULL};

static void add_name(admission *a, const char *name, size_t len)
{
    if (!len)
        return;
    char *n = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        n[i] = (char)tolower((unsigned char)name[i]);
    n[len] = '\0';
    a->names = xrealloc(a->names, (a->n_names + 1) * sizeof *a->names);
    a->names[a->n_names++] = n;
}

/* Length of the name part of "name", "name:port", "[v6]" or "[v6]:port";
 * *port is where the port digits start (NULL: no port).  Returns 0 when
 * the text is not of that shape. */
static size_t split_host(const char *s, size_t len, const char **port)
{
    size_t name_len;
    *port = NULL;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return 0;
        name_len = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        name_len = colon ? (size_t)(colon - s) : len;
    }
    if (name_len == len)
        return name_len;
    if (s[name_len] != ':' || name_len + 1 == len)
        return 0;
    for (size_t i = name_len + 1; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    *port = s + name_len + 1;
    return name_len;
}

void admission_init(admission *a, const char *bound, const char *const *extra)
{
    *a = (admission){.names = NULL, .n_names = 0, .any_host = 0};
    a->any_host = bound && strncmp(bound, "unix:", 5) == 0;
    for (size_t i = 0; localhost_names[i]; i++)
        add_name(a, localhost_names[i], strlen(localhost_names[i]));
    if (bound && !a->any_host) {
        const char *port;
        size_t n = split_host(bound, strlen(bound), &port);
        add_name(a, bound, n);                  /* without the port */
        if (port)
            add_name(a, bound, strlen(bound));  /* and with it */
    }
    for (size_t i = 0; extra && extra[i]; i++)
        add_name(a, extra[i], strlen(extra[i]));
}

void admission_release(admission *a)
{
    for (size_t i = 0; i < a->n_names; i++)
        free(a->names[i]);
    free(a->names);
    *a = (admission){.names = NULL, .n_names = 0, .any_host = 0};
}

/* Whether host[0..len) is allowed (see admission.h for the port rule). */
static int name_ok(const admission *a, const char *host, size_t len)
{
    const char *port;
    size_t name_len = split_host(host, len, &port);
    if (!name_len)
        return 0;
    for (size_t i = 0; i < a->n_names; i++) {
        const char *e = a->names[i];
        size_t elen = strlen(e);
        const char *eport;
        size_t ename = split_host(e, elen, &eport);
        if (eport) { /* a name with its port: that port only */
            if (elen == len && strncasecmp(e, host, len) == 0)
                return 1;
        } else if (ename == name_len && strncasecmp(e, host, name_len) == 0) {
            return 1;
        }
    }
    return 0;
}

int admission_host_ok(const admission *a, const char *host)
{
    if (a->any_host || !host)
        return 1;
    return name_ok(a, host, strlen(host));
}

int admission_origin_ok(const admission *a, const char *origin)
{
    const char *rest;
    if (strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    else
        return 0; /* "null", other schemes */
    size_t len = strlen(rest);
    if (!len || strpbrk(rest, "/?#@"))
        return 0; /* an origin is scheme://host[:port], nothing more */
    return name_ok(a, rest, len);
}

target_verdict admission_check_target(const char *target, long *query_at)
{
    const char *q = strchr(target, '?');
    *query_at = q ? (long)(q - target) : -1;
    for (const char *p = target; (p = strchr(p, '%')) != NULL; p++)
        if (p[1] == '0' && p[2] == '0')
            return TARGET_NUL;
    if (!q)
        return TARGET_OK;
    /* MHD splits the query at '&' and stores every piece, even an empty
     * one: count them the same way. */
    size_t n = 1;
    for (const char *p = q + 1; *p; p++)
        if (*p == '&' && ++n > ADMISSION_MAX_PARAMS)
            return TARGET_TOO_MANY_PARAMS;
    return TARGET_OK;
}

int admission_is_json(const char *content_type)
{
    if (!content_type)
        return 0;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    static const char json[] = "application/json";
    if (strncasecmp(content_type, json, sizeof json - 1) != 0)
        return 0;
    const char *p = content_type + sizeof json - 1;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}
