/* ctor_hang.c - a test plugin whose constructor never returns. */
#include <unistd.h>

#include "meterd/plugin.h"

__attribute__((constructor)) static void ctor_hang_at_load(void)
{
    for (;;)
        pause();
}

static int ctor_hang_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)host;
    (void)ctx;
    (void)state;
    return 0;
}

static const md_plugin ctor_hang_plugin = {
    MD_PLUGIN_HEADER,
    .name = "ctor_hang",
    .version = "1.0",
    .description = "its constructor never returns",
    .collect = ctor_hang_collect,
};

MD_PLUGIN_DEFINE(ctor_hang_plugin)
