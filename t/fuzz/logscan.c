/*
 * t/fuzz/logscan.c - the log-line scanner: plugins/sdk/logscan.c's file
 * reader (marker search, line splitting) and jscan.c's schema scanner, as
 * the Claude Code and Codex plugins drive them with their line handlers.
 *
 * The input is written as one .jsonl file and scanned by both plugins
 * (logscan_fuzz.h), each against the core's real md_host (hostctx.c), so
 * the usage cells and metrics they hand over pass the host's validation.
 * What must hold besides the sanitizers: a scan never fails on input
 * (only running out of memory may fail it), and a scan that fails no
 * collection.
 */
#include "fuzz.h"

#include "hostctx.h"
#include "jscan.h"
#include "logscan.h"
#include "logscan_fuzz.h"
#include "result.h"
#include "timeutil.h"

int fuzz_logscan_found(ls_list *found, const char *path)
{
    found->v = calloc(1, sizeof *found->v);
    if (!found->v) return -1;
    found->cap = 1;
    ls_found *f = &found->v[0];
    f->id = strdup(path);
    f->real = strdup(path);
    if (!f->id || !f->real || stat(path, &f->sb) != 0) return -1;
    found->n = 1;
    return 0;
}

static void run(const char *path, int (*scan)(const md_host *, md_ctx *, const char *))
{
    hostctx_params hp = {
        .instance = "fuzz",
        .deadline_ms = mono_ms() + 60000,
    };
    md_ctx *ctx = hostctx_new(&hp);
    if (scan(hostctx_host(), ctx, path) != 0) abort();
    collect_result res;
    collect_result_init(&res);
    hostctx_take_result(ctx, &res);
    if (res.err != MD_ERR_NONE) {
        fprintf(stderr, "collection failed: %s\n", res.err_msg);
        abort();
    }
    collect_result_release(&res);
    hostctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_path(path, sizeof path, fuzz_dir(), "session.jsonl");
    fuzz_write(path, data, size);
    run(path, fuzz_claude_logs_scan);
    run(path, fuzz_codex_logs_scan);
    return 0;
}
