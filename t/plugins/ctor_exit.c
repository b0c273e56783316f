/* ctor_exit.c - a test plugin whose constructor calls exit(0): whatever
 * process loads it ends at once, silently and "successfully". */
#include <stdlib.h>

#include "meterd/plugin.h"

__attribute__((constructor)) static void ctor_exit_at_load(void)
{
    exit(0);
}

static int ctor_exit_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)host;
    (void)ctx;
    (void)state;
    return 0;
}

static const md_plugin ctor_exit_plugin = {
    MD_PLUGIN_HEADER,
    .name = "ctor_exit",
    .version = "1.0",
    .description = "exits the loading process from its constructor",
    .collect = ctor_exit_collect,
};

MD_PLUGIN_DEFINE(ctor_exit_plugin)
