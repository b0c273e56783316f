/*
 * t/fuzz/exec.c - the exec plugin's reading of its command's stdout.
 *
 * plugins/exec.c is compiled into this harness (its parser is static and
 * private to the plugin: evaluate() maps the finished command's output to
 * metrics, notes, retry_after and raw), against the core's real md_host
 * (hostctx.c), so every metric the parser emits also passes the host's
 * validation.  The input is the command's stdout; the command is taken to
 * have exited with status 0, and alternately with status 1 (where a
 * status "error" object still wins).  What must hold besides the
 * sanitizers: the collection ends either failed (with a class and a
 * message) or with metrics, and a failed one hands over no metric.
 */
#define meterd_plugin_entry fuzz_exec_plugin_entry
#include "../../plugins/exec.c"
#undef meterd_plugin_entry

#include "fuzz.h"

#include "hostctx.h"
#include "result.h"
#include "timeutil.h"

static void run(const uint8_t *data, size_t size, int exit_status)
{
    static json_t *options;
    if (!options) options = json_pack("{s:[s]}", "command", "/bin/true");
    hostctx_params hp = {
        .instance = "fuzz",
        .desc = &exec_plugin,
        .options = options,
        .deadline_ms = mono_ms() + 60000,
    };
    md_ctx *ctx = hostctx_new(&hp);
    run_result r;
    memset(&r, 0, sizeof r);
    r.out = fuzz_cstr(data, size);
    r.out_len = size;
    r.reaped = 1;
    r.status = exit_status << 8;   /* as waitpid reports a normal exit */
    int rc = evaluate(hostctx_host(), ctx, &r, 1000, 1048576);
    free(r.out);

    collect_result res;
    collect_result_init(&res);
    hostctx_take_result(ctx, &res);
    if (rc != 0 && res.err == MD_ERR_NONE) abort();
    if (res.err != MD_ERR_NONE && (res.n_metrics || !res.err_msg)) abort();
    collect_result_release(&res);
    hostctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 0);
    run(data, size, 1);
    return 0;
}
