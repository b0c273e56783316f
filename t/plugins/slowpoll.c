/* slowpoll.c - test plugin whose source rate-limits polling (ABI 1.1
 * default_interval_ms / min_interval_ms). */
#include "meterd/plugin.h"

static int slowpoll_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    md_metric m = {0};
    m.id = "w";
    m.kind = "quota_window";
    m.unit = "percent";
    m.utilization = MD_NUM(10);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const md_plugin slowpoll_plugin = {
    MD_PLUGIN_HEADER,
    .name = "slowpoll",
    .version = "1.0",
    .description = "polls at most every minute, by default every 3 minutes",
    .default_source = "api",
    .collect = slowpoll_collect,
    .default_interval_ms = 180000,
    .min_interval_ms = 60000,
};

MD_PLUGIN_DEFINE(slowpoll_plugin)
