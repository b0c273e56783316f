/* hang.c - a test plugin that ignores its deadline and never returns. */
#include <unistd.h>

#include "meterd/plugin.h"

static int hang_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    host->note(ctx, "about to hang");
    for (;;)
        pause();   /* sleeps until a signal; SIGKILL ends it */
    return 0;
}

static const md_plugin hang_plugin = {
    MD_PLUGIN_HEADER,
    .name = "hang",
    .version = "1.0",
    .description = "never returns from collect",
    .collect = hang_collect,
};

MD_PLUGIN_DEFINE(hang_plugin)
