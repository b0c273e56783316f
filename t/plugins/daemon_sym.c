/*
 * daemon_sym.c - a test plugin that calls a daemon function (xstrdup from
 * core/lib/log.c) instead of going through md_host.  Built without -z defs
 * (as a careless out-of-tree plugin would be), it links; the daemon, which
 * exports no symbol, must refuse to load it with error class abi.
 */
#include <stdlib.h>

#include "meterd/plugin.h"

/* Declared by hand: a plugin cannot include core headers. */
char *xstrdup(const char *s);

static int daemon_sym_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    char *copy = xstrdup(host->instance(ctx));
    md_metric m = {0};
    m.id = "copied";
    m.kind = "usage";
    m.used = MD_NUM(1);
    MD_EMIT(host, ctx, &m);
    free(copy);
    return 0;
}

static const md_plugin daemon_sym_plugin = {
    MD_PLUGIN_HEADER,
    .name = "daemon_sym",
    .version = "1.0",
    .description = "calls a daemon symbol (must not load)",
    .collect = daemon_sym_collect,
};

MD_PLUGIN_DEFINE(daemon_sym_plugin)
