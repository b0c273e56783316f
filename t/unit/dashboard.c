/* t/unit/dashboard.c - which path serves which embedded file, that the
 * embedded bytes are the files of core/front/dashboard/ exactly, and that
 * the page's own references and security headers hold. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"
#include "log.h"
#include "tap.h"

#define ASSET_DIR "core/front/dashboard"

static const char *type_of(const char *url)
{
    const dashboard_file *f = dashboard_find(url);
    return f ? f->content_type : NULL;
}

/* The file at path, or NULL; *len set.  Caller frees. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 4096 > cap)
            buf = xrealloc(buf, cap = 2 * cap + 4096);
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
    } while (got > 0);
    fclose(fp);
    *len = n;
    return buf;
}

static const char *header(const char *name)
{
    for (const dashboard_header *h = dashboard_headers; h->name; h++)
        if (strcmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

/* Every src="/..." and href="/dashboard..." of the page resolves. */
static void page_references(void)
{
    const dashboard_file *page = dashboard_find("/");
    const char *s = (const char *)page->data;
    int refs = 0, bad = 0;
    for (const char *p = s; (p = strstr(p, "=\"/dashboard")) != NULL; p++) {
        const char *start = p + 2, *end = strchr(start, '"');
        char url[256];
        if (!end || (size_t)(end - start) >= sizeof url)
            continue;
        memcpy(url, start, (size_t)(end - start));
        url[end - start] = '\0';
        refs++;
        if (!dashboard_find(url)) {
            bad++;
            printf("# unresolved reference %s\n", url);
        }
    }
    ok(refs >= 3, "the page references its script, style and icon");
    is_int(bad, 0, "every /dashboard reference of the page resolves");
    ok(!strstr(s, "<script>") && !strstr(s, " style=\"") && !strstr(s, "<style"),
       "no inline script or style (the CSP forbids them)");
    ok(!strstr(s, "http://") && !strstr(s, "https://"),
       "the page loads nothing from elsewhere");
}

int main(void)
{
    is_str(type_of("/"), "text/html; charset=utf-8", "/ is the page");
    is_str(type_of("/dashboard"), "text/html; charset=utf-8", "/dashboard is the page");
    is_str(type_of("/dashboard/"), "text/html; charset=utf-8", "/dashboard/ is the page");
    ok(dashboard_find("/") == dashboard_find("/dashboard"), "the same page");
    is_str(dashboard_find("/")->name, "index.html", "the page is index.html");
    is_str(type_of("/dashboard/app.js"), "text/javascript; charset=utf-8", "app.js");
    is_str(type_of("/dashboard/style.css"), "text/css; charset=utf-8", "style.css");
    is_str(type_of("/dashboard/icon.svg"), "image/svg+xml", "icon.svg");

    static const char *const not_ours[] = {
        "/dashboard/nope.js", "/dashboard/../index.html", "/dashboard//app.js",
        "/dashboard/app.js/", "/dashboard/.", "/dashboardx", "/index.html",
        "/app.js", "", "/api/automation/usage", "/DASHBOARD", NULL};
    for (size_t i = 0; not_ours[i]; i++) {
        char name[96];
        snprintf(name, sizeof name, "'%s' is not the dashboard's", not_ours[i]);
        ok(dashboard_find(not_ours[i]) == NULL, name);
    }
    ok(dashboard_find(NULL) == NULL, "NULL is nobody's");

    /* The embedder is faithful: every file of the directory, byte for
     * byte, and nothing else. */
    size_t on_disk = 0;
    int same = 1;
    DIR *dir = opendir(ASSET_DIR);
    ok(dir != NULL, "asset directory readable (tests run from the root)");
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        on_disk++;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", ASSET_DIR, e->d_name);
        size_t len = 0;
        char *want = slurp(path, &len);
        char url[300];
        snprintf(url, sizeof url, "/dashboard/%s", e->d_name);
        const dashboard_file *f = dashboard_find(url);
        if (!want || !f || f->len != len || memcmp(f->data, want, len) != 0 ||
            f->data[len] != '\0') {
            printf("# %s differs from its embedded copy\n", path);
            same = 0;
        }
        free(want);
    }
    if (dir)
        closedir(dir);
    ok(same, "every asset is embedded byte for byte (and NUL-terminated)");
    is_int(dashboard_n_files, on_disk, "nothing embedded that is not in the directory");

    page_references();

    const char *csp = header("Content-Security-Policy");
    ok(csp && strstr(csp, "default-src 'none'"), "CSP denies by default");
    ok(csp && strstr(csp, "script-src 'self'") && strstr(csp, "style-src 'self'") &&
           strstr(csp, "connect-src 'self'"),
       "CSP allows the daemon's own scripts, styles and fetches");
    ok(csp && !strstr(csp, "unsafe-inline") && !strstr(csp, "unsafe-eval") &&
           !strstr(csp, "*"),
       "CSP allows no inline code, no eval, no wildcard");
    is_str(header("X-Content-Type-Options"), "nosniff", "nosniff");
    is_str(header("Referrer-Policy"), "no-referrer", "no referrer");
    ok(header("Cache-Control") != NULL, "a Cache-Control");
    return done_testing();
}
