/* envcheck.c - a test plugin whose check() refuses unless ENVCHECK_KEY,
 * which it declares in md_plugin.env, is in its environment: the probe
 * that runs check() must get the variables its collections get.  Its
 * collect() reports "has_key" (1 when set) so a test can compare the two.
 * check() also refuses when ENVCHECK_UNDECLARED (not declared) is set:
 * the probe must not see more than a collection does. */
#include <stdlib.h>

#include "meterd/plugin.h"

static int envcheck_check(const md_host *host, md_ctx *ctx)
{
    if (!getenv("ENVCHECK_KEY")) {
        host->fail(ctx, MD_ERR_CONFIG, "ENVCHECK_KEY is not set");
        return -1;
    }
    if (getenv("ENVCHECK_UNDECLARED")) {
        host->fail(ctx, MD_ERR_CONFIG, "ENVCHECK_UNDECLARED leaked in");
        return -1;
    }
    return 0;
}

static int envcheck_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    md_metric m = {0};
    m.id = "has_key";
    m.kind = "usage";
    m.used = MD_NUM(getenv("ENVCHECK_KEY") ? 1 : 0);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const char *const envcheck_env[] = {"ENVCHECK_KEY", NULL};

static const md_plugin envcheck_plugin = {
    MD_PLUGIN_HEADER,
    .name = "envcheck",
    .version = "1.0",
    .description = "check() needs an environment variable it declares",
    .check = envcheck_check,
    .collect = envcheck_collect,
    .env = envcheck_env,
};

MD_PLUGIN_DEFINE(envcheck_plugin)
