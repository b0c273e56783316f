/*
 * worker.c - one collection in this process (run_job) and the helper
 * process's main (worker_main); see worker.h.  The wire format is
 * protocol.c's, the services a plugin calls are hostctx.c's.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostctx.h"
#include "http_client.h"
#include "log.h"
#include "plugin_host.h"
#include "protocol.h"
#include "statefile.h"
#include "timeutil.h"

/* ------------------------------------------------------------------ */
/* One collection                                                      */
/* ------------------------------------------------------------------ */

static void add_job_secrets(md_ctx *ctx, const protocol_job *js,
                            const md_plugin *desc)
{
    size_t i;
    json_t *v;
    json_array_foreach(js->secrets, i, v)
        hostctx_add_secret(ctx, json_string_value(v));
    json_array_foreach(js->secret_options, i, v)
        if (json_is_string(v))
            hostctx_add_secret(ctx, json_string_value(json_object_get(
                                        js->options, json_string_value(v))));
    /* Options the plugin declares secret are masked even if validation
     * did not mark them (defence in depth). */
    for (const md_option *o = desc->options; o && o->name; o++)
        if (o->type == MD_OPT_SECRET)
            hostctx_add_secret(ctx, json_string_value(
                                        json_object_get(js->options, o->name)));
}

/* init, collect, fini; failures without a reason get one. */
static void call_plugin(md_ctx *ctx, const md_plugin *desc)
{
    const md_host *host = hostctx_host();
    void *state = NULL;
    if (desc->init && desc->init(host, ctx, &state) != 0) {
        hostctx_fail(ctx, MD_ERR_INTERNAL,
                     "plugin init failed without a reason");
        return;
    }
    if (desc->collect(host, ctx, state) != 0)
        hostctx_fail(ctx, MD_ERR_INTERNAL,
                     "plugin returned failure without a reason");
    if (desc->fini)
        desc->fini(host, ctx, state);
}

/* No secret is known before the context exists; the daemon masks the
 * result again with every configured secret. */
static void set_error(collect_result *out, md_error cls, const char *msg)
{
    out->err = cls;
    out->err_msg = hostctx_message(msg, NULL, 0);
    out->finished_at = time_now();
}

void run_job(const json_t *job, collect_result *out)
{
    collect_result_init(out);
    out->started_at = time_now();
    long long start = mono_ms();
    protocol_job js;
    char *err = NULL;
    if (protocol_job_from_json(job, &js, &err) != 0) {
        set_error(out, MD_ERR_INTERNAL, err);
        free(err);
        return;
    }
    loaded_plugin lp;
    md_error cls;
    if (plugin_open(js.plugin_path, js.instance, &lp, &cls, &err) != 0) {
        set_error(out, cls, err);
        free(err);
        return;
    }
    hostctx_params hp = {
        .instance = js.instance,
        .desc = lp.desc,
        .options = js.options,
        .state_dir = js.state_dir,
        .deadline_ms = start + js.budget_ms,
        .check_only = 0,
        .usage_generation = js.usage_generation,
    };
    md_ctx *ctx = hostctx_new(&hp);
    add_job_secrets(ctx, &js, lp.desc);
    call_plugin(ctx, lp.desc);
    hostctx_take_result(ctx, out);
    hostctx_free(ctx);
    plugin_close(&lp);
    out->finished_at = time_now();
}

/* ------------------------------------------------------------------ */
/* The helper process                                                  */
/* ------------------------------------------------------------------ */

/* Read all of fd (up to max bytes) into a malloc'd buffer. */
static char *read_all(int fd, size_t max, size_t *len, int *too_big)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    *too_big = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                *too_big = 1;
                break;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

/* The job from fd 0, or NULL with the reason already in *res. */
static json_t *load_job(collect_result *res)
{
    size_t len;
    int too_big;
    char *text = read_all(PROTOCOL_JOB_FD, PROTOCOL_JOB_MAX, &len, &too_big);
    json_error_t jerr;
    json_t *job = too_big ? NULL : json_loadb(text, len, 0, &jerr);
    free(text);
    if (!job) {
        collect_result_init(res);
        res->started_at = res->finished_at = time_now();
        res->err = MD_ERR_INTERNAL;
        res->err_msg = too_big ? xstrdup("job too large")
                               : xasprintf("malformed job: %s", jerr.text);
    }
    return job;
}

/* The helper's own log lines mask the job's secrets and use the daemon's
 * level. */
static void adopt_log_settings(const json_t *job)
{
    protocol_job js;
    if (protocol_job_from_json(job, &js, NULL) != 0)
        return;   /* run_job reports the bad job */
    size_t i;
    json_t *v;
    json_array_foreach(js.secrets, i, v)
        log_add_secret(json_string_value(v));
    if (js.log_level >= 0)
        log_set_level((md_log_level)js.log_level);
}

int worker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* Whatever a plugin prints goes to the log, never into the result. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    signal(SIGPIPE, SIG_DFL);
    /* Commands a plugin runs must not inherit the result channel: they
     * could keep it open after we exit. */
    fcntl(PROTOCOL_RESULT_FD, F_SETFD, FD_CLOEXEC);
    collect_result res;
    json_t *job = load_job(&res);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, PROTOCOL_JOB_FD);   /* the job socket is done with */
        close(null_fd);
    }
    if (job) {
        adopt_log_settings(job);
        http_global_init();
        run_job(job, &res);
        json_decref(job);
    }
    size_t len;
    char *text = protocol_result_encode(&res, &len);
    int rc = text && write_all(PROTOCOL_RESULT_FD, text, len) == 0 ? 0 : 1;
    close(PROTOCOL_RESULT_FD);
    free(text);
    collect_result_release(&res);
    log_clear_secrets();
    return rc;
}
