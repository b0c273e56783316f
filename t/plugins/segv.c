/* segv.c - a test plugin that dies of SIGSEGV in collect. */
#include <signal.h>

#include "meterd/plugin.h"

static int segv_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    md_metric m = {0};
    m.id = "before_crash";
    m.kind = "usage";
    m.used = MD_NUM(1);
    MD_EMIT(host, ctx, &m);
    /* raise() rather than a NULL store: the compiler cannot optimise it
     * away and the signal is exactly SIGSEGV. */
    raise(SIGSEGV);
    return 0;
}

static const md_plugin segv_plugin = {
    MD_PLUGIN_HEADER,
    .name = "segv",
    .version = "1.0",
    .description = "crashes with SIGSEGV",
    .collect = segv_collect,
};

MD_PLUGIN_DEFINE(segv_plugin)
