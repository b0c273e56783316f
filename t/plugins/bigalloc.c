/* bigalloc.c - a test plugin that allocates 4 GiB and writes to it
 * without checking malloc's answer: under the helper's memory limit the
 * allocation fails and the write faults. */
#include <stdlib.h>
#include <string.h>

#include "meterd/plugin.h"

static int bigalloc_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)host;
    (void)ctx;
    (void)state;
    size_t n = (size_t)4 << 30;
    char *volatile p = malloc(n);
    memset(p, 1, n);
    return p[n - 1] == 1 ? 0 : -1;
}

static const md_plugin bigalloc_plugin = {
    MD_PLUGIN_HEADER,
    .name = "bigalloc",
    .version = "1.0",
    .description = "allocates 4 GiB and uses it unchecked",
    .collect = bigalloc_collect,
};

MD_PLUGIN_DEFINE(bigalloc_plugin)
