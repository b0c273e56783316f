/*
 * t/plugtest.h - unit-test helpers for provider plugins (header only):
 * run a plugin through the REAL host (run_job, as the helper process does)
 * against the mock provider server on 127.0.0.1, then inspect the
 * collect_result.  Test binaries link every core object, so run_job and
 * the JSON helpers are available.
 *
 *   int port = pt_mock_start("t/fixtures/openrouter", &mock);
 *   pt_mock_routes(port, "[{\"path\": \"/api/v1/key\", \"body_file\": \"key.json\"}]");
 *   collect_result r; pt_run("openrouter", &r, "{\"base_url\": \"http://127.0.0.1:%d\"}", port);
 *   const metric *m = pt_metric(&r, "key_limit");
 *   collect_result_clear(&r); pt_mock_stop(&mock);
 *
 * pt_run_ms is pt_run with another collection timeout; pt_validate checks
 * options through plugin_check_config (table, then the plugin's check());
 * pt_plugin_open loads a plugin to look at its descriptor.
 *
 * Most plugin tests run one plugin against one mock server with the same
 * base options every time; pt_start / pt_go / pt_finish say that once:
 *
 *   static const pt_suite suite = {
 *       .plugin = "zai", .fixtures = "t/fixtures/zai",
 *       .options = ", \"api_key\": \"" KEY "\"",
 *   };
 *   int main(void) {
 *       if (!pt_start(&suite))
 *           return 0;                        (the TAP skip is printed)
 *       pt_mock_use(pt_port, ROUTE("quota.json"));
 *       collect_result r; pt_go(&r, ", \"plan\": \"max\""); ...
 *       return pt_finish();
 *   }
 *
 * One suite per test binary (its state is static).
 */
#ifndef METERD_PLUGTEST_H
#define METERD_PLUGTEST_H

#include <curl/curl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metric.h"
#include "plugin_check.h"
#include "plugin_host.h"
#include "probe.h"
#include "protocol.h"
#include "runner.h"
#include "worker.h"
#include "tap.h"

typedef struct pt_mock {
    pid_t pid;
    int port;
} pt_mock;

/* Start t/mock/mockprov (METERD_MOCKPROV overrides the path) serving
 * fixtures_dir on an ephemeral 127.0.0.1 port; returns the port (0 on
 * failure). */
static inline int pt_mock_start(const char *fixtures_dir, pt_mock *m)
{
    const char *bin = getenv("METERD_MOCKPROV");
    if (!bin || !*bin)
        bin = "t/mock/mockprov";
    int fds[2];
    m->pid = -1;
    m->port = 0;
    if (pipe(fds) != 0)
        return 0;
    pid_t pid = fork(); /* test process: single-threaded here */
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(bin, bin, "--port", "0", "--fixtures", fixtures_dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[32] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    m->pid = pid;
    m->port = n > 0 ? atoi(buf) : 0;
    return m->port;
}

static inline void pt_mock_stop(pt_mock *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGTERM);
        waitpid(m->pid, NULL, 0);
    }
    m->pid = -1;
}

static size_t pt_discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* POST a JSON body to the mock's control API path; returns the status. */
static inline long pt_mock_post(int port, const char *path, const char *json)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json ? json : "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, pt_discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* Replace the mock's routes (a JSON array, see t/mock/mockprov.c). */
static inline long pt_mock_routes(int port, const char *routes_json)
{
    return pt_mock_post(port, "/_mock/routes", routes_json);
}

/* Clear the mock's request log. */
static inline long pt_mock_reset(int port)
{
    return pt_mock_post(port, "/_mock/reset", "");
}

/* Open plugins/<plugin>.so (METERD_PLUGIN_DIR overrides the directory)
 * with the host's loader, to look at its descriptor; 0, or -1 with a TAP
 * diagnostic.  plugin_close() it. */
static inline int pt_plugin_open(const char *plugin, loaded_plugin *lp)
{
    const char *dir = getenv("METERD_PLUGIN_DIR");
    char *path = xasprintf("%s/%s.so", dir && *dir ? dir : "plugins", plugin);
    md_error cls = MD_ERR_NONE;
    char *err = NULL;
    int rc = plugin_open(path, plugin, lp, &cls, &err);
    if (rc != 0)
        printf("# pt_plugin_open: %s\n", err ? err : path);
    free(err);
    free(path);
    return rc;
}

/* pt_run with a va_list and a collection timeout (ms). */
static inline void pt_vrun_ms(const char *plugin, long long timeout_ms,
                              collect_result *out, const char *options_fmt,
                              va_list ap)
{
    char *opts;
    if (vasprintf(&opts, options_fmt, ap) < 0)
        opts = NULL;
    const char *dir = getenv("METERD_PLUGIN_DIR");
    provider_conf pc;
    memset(&pc, 0, sizeof pc);
    pc.name = xstrdup(plugin);
    pc.plugin = xstrdup(plugin);
    pc.plugin_path = xasprintf("%s/%s.so", dir && *dir ? dir : "plugins", plugin);
    json_error_t e;
    pc.options = opts ? json_loads(opts, 0, &e) : NULL;
    if (!pc.options) {
        printf("# pt_run: bad options JSON: %s\n", opts ? e.text : "(alloc)");
        pc.options = json_object();
    }
    pc.secret_options = json_array();
    char tmpl[] = "/tmp/meterd-pt-XXXXXX";
    char *state = mkdtemp(tmpl);
    json_t *job = protocol_job_to_json(&pc, state, timeout_ms, 0);
    collect_result_init(out);
    run_job(job, out);
    json_decref(job);
    json_decref(pc.options);
    json_decref(pc.secret_options);
    free(pc.name);
    free(pc.plugin);
    free(pc.plugin_path);
    free(opts);
    if (state) {
        char *cmd = xasprintf("rm -rf '%s'", state);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", state);
        free(cmd);
    }
}

/* Run plugins/<plugin>.so (METERD_PLUGIN_DIR overrides the directory) once
 * through run_job with the options given as a printf-style JSON object
 * text.  Option values must be strings/arrays/objects, as config gives
 * them.  Secret-typed options are not marked (run_job still masks the
 * values of options the plugin declares MD_OPT_SECRET).  timeout 5 s. */
static inline void pt_run(const char *plugin, collect_result *out,
                          const char *options_fmt, ...)
{
    va_list ap;
    va_start(ap, options_fmt);
    pt_vrun_ms(plugin, 5000, out, options_fmt, ap);
    va_end(ap);
}

/* pt_run with the collection timeout (the plugin's deadline) in ms. */
static inline void pt_run_ms(const char *plugin, long long timeout_ms,
                             collect_result *out, const char *options_fmt, ...)
{
    va_list ap;
    va_start(ap, options_fmt);
    pt_vrun_ms(plugin, timeout_ms, out, options_fmt, ap);
    va_end(ap);
}

/* Validate options for plugins/<plugin>.so the way `meterd -t` and the
 * daemon do: plugin_check_config on a one-provider config named after the
 * plugin (option table, types, required options, then the plugin's
 * check()).  Returns the number of problems; *diags (when not NULL) gets
 * them formatted, one a line (caller frees; "" when none). */
static inline size_t pt_validate(const char *plugin, char **diags,
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
    pc.enabled = 1;
    pc.interval_ms = 60000;
    pc.timeout_ms = 10000;
    json_error_t e;
    pc.options = opts ? json_loads(opts, 0, &e) : NULL;
    if (!pc.options) {
        printf("# pt_validate: bad options JSON: %s\n", opts ? e.text : "(alloc)");
        pc.options = json_object();
    }
    pc.option_locs = json_object();
    pc.secret_options = json_array();
    pc.file = (char *)"meterd.yaml";
    pc.line = 1;
    pc.col = 3;
    config c;
    memset(&c, 0, sizeof c);
    c.providers = &pc;
    c.n_providers = 1;
    diag_list dl;
    memset(&dl, 0, sizeof dl);
    /* Plugins are probed by the daemon binary (probe.h), not by this
     * test program. */
    probe_set_helper(getenv("METERD_BIN") ? getenv("METERD_BIN") : "./meterd");
    size_t n = plugin_check_config(&c, &dl, NULL);
    if (diags) {
        char *all = xstrdup("");
        for (size_t i = 0; i < dl.n; i++) {
            char *line = diag_format(&dl.items[i]);
            char *next = xasprintf("%s%s\n", all, line);
            free(all);
            free(line);
            all = next;
        }
        *diags = all;
    }
    diag_clear(&dl);
    for (size_t i = 0; i < c.n_secrets; i++)
        free(c.secrets[i]);
    free(c.secrets);
    json_decref(pc.options);
    json_decref(pc.option_locs);
    json_decref(pc.secret_options);
    free(pc.name);
    free(pc.plugin);
    free(pc.plugin_path);
    free(opts);
    return n;
}

static size_t pt_grow(char *p, size_t s, size_t n, void *u)
{
    char **buf = u;
    size_t old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + s * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + old, p, s * n);
    nb[old + s * n] = '\0';
    *buf = nb;
    return s * n;
}

/* The mock's request log (GET /_mock/requests) as a new reference; an
 * empty array when it cannot be read. */
static inline json_t *pt_mock_requests(int port)
{
    char url[96], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_mock/requests", port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, pt_grow);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j ? j : json_array();
}

/* Replace the mock's routes and clear its request log, so a test sees only
 * the requests of the run that follows. */
static inline void pt_mock_use(int port, const char *routes_json)
{
    long st = pt_mock_routes(port, routes_json);
    if (st != 200)
        printf("# setting routes failed (%ld): %s\n", st, routes_json);
    pt_mock_post(port, "/_mock/reset", "");
}

/* Whether secret appears nowhere in the result's error, notes or raw. */
static inline int pt_no_secret(const collect_result *r, const char *secret)
{
    if (r->err_msg && strstr(r->err_msg, secret))
        return 0;
    if (r->raw_json && strstr(r->raw_json, secret))
        return 0;
    for (size_t i = 0; i < r->n_notes; i++)
        if (strstr(r->notes[i], secret))
            return 0;
    return 1;
}

/* The first metric with this id, or NULL. */
static inline const metric *pt_metric(const collect_result *r, const char *id)
{
    for (size_t i = 0; i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].id, id) == 0)
            return &r->metrics[i];
    return NULL;
}

/* Whether some note contains text. */
static inline int pt_has_note(const collect_result *r, const char *text)
{
    for (size_t i = 0; i < r->n_notes; i++)
        if (strstr(r->notes[i], text))
            return 1;
    return 0;
}

/* The metric with this id; a TAP diagnostic and an all-unknown stand-in
 * when it is missing, so tests can go on asserting. */
static inline const metric *pt_need(const collect_result *r, const char *id)
{
    static metric empty;
    const metric *m = pt_metric(r, id);
    if (!m)
        printf("# metric %s missing\n", id);
    return m ? m : &empty;
}

/* ------------------------------------------------------------------ */
/* One plugin, one mock server, the same base options                  */
/* ------------------------------------------------------------------ */

typedef struct pt_suite {
    const char *plugin;    /* plugins/<plugin>.so                          */
    const char *fixtures;  /* the directory the mock serves                */
    const char *base_path; /* appended to the mock's URL for base_url; NULL:
                              none                                          */
    const char *options;   /* more options, each after a comma
                              (", \"api_key\": \"k\""), or NULL             */
    long long timeout_ms;  /* the collection timeout; 0: 5000              */
} pt_suite;

static int pt_port;                   /* the mock's port after pt_start */
static pt_mock pt_suite_mock = {.pid = -1};
static const pt_suite *pt_the_suite;  /* borrowed from the test         */

/* Start the suite's mock server.  Returns its port, or 0 after printing
 * the TAP skip line (the test then returns 0 from main). */
static inline int pt_start(const pt_suite *s)
{
    pt_the_suite = s;
    pt_port = pt_mock_start(s->fixtures, &pt_suite_mock);
    if (!pt_port)
        printf("1..0 # SKIP mock server did not start\n");
    return pt_port;
}

/* Run the suite's plugin with base_url pointing at the mock, the suite's
 * options, then extra (", \"k\": \"v\"" or NULL). */
static inline void pt_go(collect_result *r, const char *extra)
{
    const pt_suite *s = pt_the_suite;
    pt_run_ms(s->plugin, s->timeout_ms > 0 ? s->timeout_ms : 5000, r,
              "{\"base_url\": \"http://127.0.0.1:%d%s\"%s%s}", pt_port,
              s->base_path ? s->base_path : "", s->options ? s->options : "",
              extra ? extra : "");
}

/* Stop the mock; the test's exit status (done_testing). */
static inline int pt_finish(void)
{
    pt_mock_stop(&pt_suite_mock);
    return done_testing();
}

/* Serve routes_json (a JSON array), run the suite's plugin, and check
 * that it failed with class want, a message containing msg, no metrics,
 * and secret nowhere in the result.  name prefixes the assertions. */
static inline void pt_expect_error(const char *routes_json, md_error want,
                                   const char *msg, const char *secret,
                                   const char *name)
{
    collect_result r;
    char label[160];
    pt_mock_use(pt_port, routes_json);
    pt_go(&r, NULL);
    snprintf(label, sizeof label, "%s: error class", name);
    is_int(r.err, want, label);
    snprintf(label, sizeof label, "%s: message has '%s'", name, msg);
    ok(r.err_msg && strstr(r.err_msg, msg), label);
    if (r.err_msg && !strstr(r.err_msg, msg))
        printf("#   err_msg: %s\n", r.err_msg);
    snprintf(label, sizeof label, "%s: no metrics, no secret", name);
    ok(r.n_metrics == 0 && pt_no_secret(&r, secret), label);
    collect_result_clear(&r);
}

#define pt_known(n) ((n).state == MD_KNOWN)
#define pt_unknown(n) ((n).state == MD_UNKNOWN)

#endif
