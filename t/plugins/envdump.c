/* envdump.c - a test plugin that reports which environment variables its
 * helper has: "declared" (ENVDUMP_WANTED, which it declares in
 * md_plugin.env), "undeclared" (ENVDUMP_OTHER_KEY, which it does not) and
 * "home" (HOME), each 1 when set and 0 when not. */
#include <stdlib.h>

#include "meterd/plugin.h"

static void emit(const md_host *host, md_ctx *ctx, const char *id,
                 const char *var)
{
    md_metric m = {0};
    m.id = id;
    m.kind = "usage";
    m.used = MD_NUM(getenv(var) ? 1 : 0);
    MD_EMIT(host, ctx, &m);
}

static int envdump_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    emit(host, ctx, "declared", "ENVDUMP_WANTED");
    emit(host, ctx, "undeclared", "ENVDUMP_OTHER_KEY");
    emit(host, ctx, "home", "HOME");
    return 0;
}

static const char *const envdump_env[] = {"ENVDUMP_WANTED", NULL};

static const md_plugin envdump_plugin = {
    MD_PLUGIN_HEADER,
    .name = "envdump",
    .version = "1.0",
    .description = "reports which environment variables it sees",
    .collect = envdump_collect,
    .env = envdump_env,
};

MD_PLUGIN_DEFINE(envdump_plugin)
