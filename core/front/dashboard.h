/*
 * dashboard.h - the operator dashboard: a static web page (HTML, CSS,
 * JavaScript) compiled into the binary and served by httpd.c.  The page
 * itself polls the JSON API; the daemon only hands out the files.
 *
 * Invariants:
 *   - The assets live as real files in core/front/dashboard/; make runs
 *     tools/embed-assets over them into core/front/dashboard_assets.c
 *     (generated, not in git), which defines dashboard_files[].
 *   - Every byte returned is static, read-only and lives as long as the
 *     process: nothing here is allocated, nothing is to be freed, and every
 *     function is safe to call from any thread.
 *   - URL paths: "/", "/dashboard" and "/dashboard/" are the page
 *     (index.html); "/dashboard/NAME" is the asset called NAME.  Nothing
 *     else belongs to the dashboard (an unknown "/dashboard/x" is NULL,
 *     so httpd answers its usual JSON 404).
 *   - Every dashboard response carries dashboard_headers: a strict
 *     Content-Security-Policy (scripts, styles, images and fetches from the
 *     daemon itself only; no inline code, so no 'unsafe-inline'), nosniff,
 *     no referrer, no framing, and a Cache-Control that makes a browser
 *     revalidate (an upgraded daemon serves new assets at the same paths).
 */
#ifndef METERD_DASHBOARD_H
#define METERD_DASHBOARD_H

#include <stddef.h>

/* One embedded file. */
typedef struct dashboard_file {
    const char *name;                /* base name, e.g. "app.js" */
    const char *content_type;        /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;       /* len bytes, then a NUL */
    size_t len;
} dashboard_file;

/* Defined by the generated dashboard_assets.c. */
extern const dashboard_file dashboard_files[];
extern const size_t dashboard_n_files;

/* A response header. */
typedef struct dashboard_header {
    const char *name, *value;
} dashboard_header;

/* The headers of every dashboard response, ending with {NULL, NULL}. */
extern const dashboard_header dashboard_headers[];

/* The file served at URL path url (no query string), or NULL when the
 * path is not the dashboard's. */
const dashboard_file *dashboard_find(const char *url);

#endif
