/* abi2.c - a test plugin built for a future major ABI. */
#include "meterd/plugin.h"

static int abi2_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)host;
    (void)ctx;
    (void)state;
    return 0;
}

static const md_plugin abi2_plugin = {
    2, 0, (uint32_t)sizeof(md_plugin),
    .name = "abi2",
    .version = "2.0",
    .description = "claims ABI 2",
    .collect = abi2_collect,
};

MD_PLUGIN_DEFINE(abi2_plugin)
