/* check_segv.c - a test plugin whose check() dies of SIGSEGV (its
 * collect() is fine): validating a configuration runs plugin code. */
#include <signal.h>

#include "meterd/plugin.h"

static int check_segv_check(const md_host *host, md_ctx *ctx)
{
    (void)host;
    (void)ctx;
    raise(SIGSEGV);
    return 0;
}

static int check_segv_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)host;
    (void)ctx;
    (void)state;
    return 0;
}

static const md_plugin check_segv_plugin = {
    MD_PLUGIN_HEADER,
    .name = "check_segv",
    .version = "1.0",
    .description = "check() crashes",
    .check = check_segv_check,
    .collect = check_segv_collect,
};

MD_PLUGIN_DEFINE(check_segv_plugin)
