/* abort.c - a test plugin that calls abort() in collect. */
#include <stdlib.h>

#include "meterd/plugin.h"

static int abort_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)host;
    (void)ctx;
    (void)state;
    abort();
}

static const md_plugin abort_plugin = {
    MD_PLUGIN_HEADER,
    .name = "abort",
    .version = "1.0",
    .description = "aborts",
    .collect = abort_collect,
};

MD_PLUGIN_DEFINE(abort_plugin)
