/* junk.c - a test plugin that writes a forged log line, terminal escapes
 * and 20 MiB of junk to its stdout and stderr, then succeeds. */
#include <string.h>
#include <unistd.h>

#include "meterd/plugin.h"

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static int junk_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    put(2, "error: meterd: FORGED-LINE the daemon never wrote\n");
    put(1, "\x1b[31mred\x1b[0m and a bell\a\n");
    static char block[65536];
    memset(block, 'j', sizeof block);
    for (size_t i = 63; i < sizeof block; i += 64)
        block[i] = '\n';
    for (int i = 0; i < 320; i++)   /* 20 MiB */
        if (write(1, block, sizeof block) < 0)
            break;
    md_metric m = {0};
    m.id = "w";
    m.kind = "usage";
    m.used = MD_NUM(1);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const md_plugin junk_plugin = {
    MD_PLUGIN_HEADER,
    .name = "junk",
    .version = "1.0",
    .description = "floods its stdout and stderr",
    .collect = junk_collect,
};

MD_PLUGIN_DEFINE(junk_plugin)
