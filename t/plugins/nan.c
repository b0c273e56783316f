/* nan.c - a test plugin emitting invalid numbers beside valid ones. */
#include <math.h>

#include "meterd/plugin.h"

static int nan_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    md_metric m = {0};
    m.id = "weird";
    m.kind = "quota_window";
    m.unit = "percent";
    m.used = MD_NUM(NAN);          /* rejected */
    m.limit = MD_NUM(-5);          /* rejected */
    m.remaining = MD_NUM(INFINITY); /* rejected */
    m.utilization = MD_NUM(20000); /* past 10000 %, not believable: rejected */
    m.window_seconds = MD_NUM(3600); /* valid */
    m.resets_at = MD_TIME(1773151200.0); /* valid */
    int rejected = MD_EMIT(host, ctx, &m);
    host->note(ctx, "emit reported %d rejected fields", rejected);

    md_metric bad = {0};           /* no id: dropped entirely */
    bad.kind = "usage";
    host->note(ctx, "emit without id returned %d", MD_EMIT(host, ctx, &bad));
    return 0;
}

static const md_plugin nan_plugin = {
    MD_PLUGIN_HEADER,
    .name = "nan",
    .version = "1.0",
    .description = "emits invalid numbers",
    .collect = nan_collect,
};

MD_PLUGIN_DEFINE(nan_plugin)
