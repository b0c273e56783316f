/* dashboard.c - which embedded file answers which URL path, and with
 * which headers (see dashboard.h). */
#include "dashboard.h"

#include <string.h>

#define PAGE "index.html"
#define PREFIX "/dashboard/"

/* default-src 'none' denies everything not listed; nothing is inline, so
 * neither scripts nor styles need 'unsafe-inline'.  Style attributes set
 * from script through the CSSOM (element.style.width) are not inline
 * style in the CSP sense and stay allowed. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
            "img-src 'self'; connect-src 'self'; base-uri 'none'; "     \
            "form-action 'none'; frame-ancestors 'none'"

const dashboard_header dashboard_headers[] = {
    {"Content-Security-Policy", CSP},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cache-Control", "no-cache"},
    {NULL, NULL},
};

static const dashboard_file *by_name(const char *name)
{
    for (size_t i = 0; i < dashboard_n_files; i++)
        if (strcmp(dashboard_files[i].name, name) == 0)
            return &dashboard_files[i];
    return NULL;
}

const dashboard_file *dashboard_find(const char *url)
{
    if (!url)
        return NULL;
    if (strcmp(url, "/") == 0 || strcmp(url, "/dashboard") == 0 ||
        strcmp(url, PREFIX) == 0)
        return by_name(PAGE);
    if (strncmp(url, PREFIX, strlen(PREFIX)) != 0)
        return NULL;
    /* Names are flat ([A-Za-z0-9._-], checked by the embedder), so a
     * name with a '/' or a leading dot can never match. */
    return by_name(url + strlen(PREFIX));
}
