/*
 * t/logtest.h - helpers for the log plugin tests (claude_logs, codex_logs):
 * build trees in a temp dir, run the plugin through the real host
 * (run_job) on a state directory the test keeps across runs, read token
 * metrics.  Header only; test binaries link every core object.
 */
#ifndef METERD_LOGTEST_H
#define METERD_LOGTEST_H

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "plugtest.h"

/* mkdir -p */
static inline void lt_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700);
            *p = '/';
        }
    mkdir(buf, 0700);
}

/* Write (mode "w") or append ("a") text to dir/rel, creating parents. */
static inline void lt_write(const char *dir, const char *rel, const char *mode,
                            const char *text, size_t len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    lt_mkdirs(p);
    *slash = '/';
    FILE *f = fopen(p, mode);
    if (!f) {
        printf("# cannot write %s: %s\n", p, strerror(errno));
        return;
    }
    fwrite(text, 1, len, f);
    fclose(f);
}

static inline void lt_puts(const char *dir, const char *rel, const char *mode,
                           const char *text)
{
    lt_write(dir, rel, mode, text, strlen(text));
}

/* Copy a fixture file into dir/rel. */
static inline void lt_copy(const char *src, const char *dir, const char *rel)
{
    FILE *f = fopen(src, "rb");
    if (!f) {
        printf("# missing fixture %s\n", src);
        return;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    lt_write(dir, rel, "w", buf ? buf : "", len);
    free(buf);
}

static inline char *lt_tmpdir(void)
{
    char tmpl[] = "/tmp/meterd-lt-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? xasprintf("%s", d) : NULL;
}

/* Remove a directory made by lt_tmpdir and free its name (LT_KEEP=1
 * keeps the directory for inspection). */
static inline void lt_rmrf(char *dir)
{
    if (!getenv("LT_KEEP")) {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
        free(cmd);
    }
    free(dir);
}

/* Run plugins/<plugin>.so once on state_dir (kept) with options JSON and a
 * time budget. */
static inline void lt_run(const char *plugin, const char *state_dir,
                          long long budget_ms, collect_result *out,
                          const char *options_fmt, ...)
{
    va_list ap;
    va_start(ap, options_fmt);
    char *opts;
    if (vasprintf(&opts, options_fmt, ap) < 0)
        opts = NULL;
    va_end(ap);
    const char *dir = getenv("METERD_PLUGIN_DIR");
    provider_conf pc;
    memset(&pc, 0, sizeof pc);
    pc.name = xstrdup(plugin);
    pc.plugin = xstrdup(plugin);
    pc.plugin_path = xasprintf("%s/%s.so", dir && *dir ? dir : "plugins", plugin);
    json_error_t e;
    pc.options = opts ? json_loads(opts, 0, &e) : NULL;
    if (!pc.options) {
        printf("# lt_run: bad options JSON: %s\n", opts ? e.text : "(alloc)");
        pc.options = json_object();
    }
    pc.secret_options = json_array();
    json_t *job = protocol_job_to_json(&pc, state_dir, budget_ms, 0);
    collect_result_init(out);
    run_job(job, out);
    json_decref(job);
    json_decref(pc.options);
    json_decref(pc.secret_options);
    free(pc.name);
    free(pc.plugin);
    free(pc.plugin_path);
    free(opts);
}

/* Value of a token metric tokens_<bucket>_<period>: -1 unknown, -2 not
 * applicable, -3 missing. */
static inline double lt_tok(const collect_result *r, const char *bucket,
                            const char *period)
{
    char id[96];
    snprintf(id, sizeof id, "tokens_%s_%s", bucket, period);
    const metric *m = pt_metric(r, id);
    if (!m)
        return -3;
    if (m->used.state == MD_UNKNOWN)
        return -1;
    if (m->used.state == MD_NOT_APPLICABLE)
        return -2;
    return m->used.value;
}

static inline void lt_dump_notes(const collect_result *r)
{
    for (size_t i = 0; i < r->n_notes; i++)
        printf("#   note: %s\n", r->notes[i]);
    if (r->err_msg)
        printf("#   error: %s\n", r->err_msg);
}

#endif
