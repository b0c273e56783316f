/*
 * cellmaker.c - a test plugin that declares MD_PRODUCES_USAGE_CELLS (ABI
 * 1.3) under a name that does not end in "_logs", and hands the core one
 * usage cell (100 output tokens at 2026-03-10T12:00Z) on every collection.
 * `meterd report daily` must run it because of its declaration.
 *
 * t/plugins/x_logs.c builds the same plugin as "x_logs" WITHOUT the
 * declaration (CELLMAKER_NAME / CELLMAKER_PRODUCES): the report must not
 * run that one, whatever its name says.
 */
#include "meterd/plugin.h"

#ifndef CELLMAKER_NAME
#define CELLMAKER_NAME "cellmaker"
#define CELLMAKER_PRODUCES (MD_PRODUCES_METERS | MD_PRODUCES_USAGE_CELLS)
#endif

static int cellmaker_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (host->abi_minor < 2) {
        host->fail(ctx, MD_ERR_ABI, "host lacks put_usage");
        return -1;
    }
    md_usage_cell c = {0};
    c.slot_start = 1773144000; /* 2026-03-10T12:00:00Z */
    c.model = "m1";
    c.tokens_input_uncached = MD_NUM(0);
    c.tokens_cache_read = MD_NUM(0);
    c.tokens_cache_write = MD_NUM(0);
    c.tokens_output = MD_NUM(100);
    c.tokens_total = MD_NUM(100);
    c.events = 1;
    if (host->usage_generation(ctx) != 1 &&
        host->put_usage(ctx, &c, 1, sizeof c, 0, 1) != 0) {
        host->fail(ctx, MD_ERR_INTERNAL, "put_usage refused the cell");
        return -1;
    }
    md_metric m = {0};
    m.id = "ran";
    m.kind = "usage";
    m.used = MD_NUM(1);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const md_plugin cellmaker_plugin = {
    MD_PLUGIN_HEADER,
    .name = CELLMAKER_NAME,
    .version = "1.0",
    .description = "hands the core one usage cell",
    .collect = cellmaker_collect,
    .produces = CELLMAKER_PRODUCES,
};

MD_PLUGIN_DEFINE(cellmaker_plugin)
