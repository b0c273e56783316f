/* stdout_noise.c - prints garbage to stdout, then emits a valid metric:
 * proves the plugin's stdout cannot corrupt the result channel. */
#include <stdio.h>
#include <unistd.h>

#include "meterd/plugin.h"

static int noise_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    printf("{\"error\": {\"class\": \"auth\"}} garbage\n");
    fflush(stdout);
    if (write(1, "}}}}not json\n", 13) < 0) {
        /* ignored: the noise is the point */
    }
    md_metric m = {0};
    m.id = "quiet";
    m.kind = "credits";
    m.unit = "usd";
    m.remaining = MD_NUM(18.42);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const md_plugin noise_plugin = {
    MD_PLUGIN_HEADER,
    .name = "stdout_noise",
    .version = "1.0",
    .description = "writes to stdout",
    .collect = noise_collect,
};

MD_PLUGIN_DEFINE(noise_plugin)
