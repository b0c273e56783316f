/* linger.c - a test plugin whose helper process lingers after its result:
 * collect succeeds at once, but the helper then takes LINGER_SECONDS to
 * exit (a destructor that sleeps at process exit, after the worker wrote
 * its result and closed the result pipe).  Models a plugin whose library
 * hangs on its way out. */
#include <dlfcn.h>
#include <unistd.h>

#include "meterd/plugin.h"

#define LINGER_SECONDS 6

static int collected;

static int linger_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    md_metric m = {0};
    m.id = "w";
    m.kind = "quota_window";
    m.unit = "percent";
    m.utilization = MD_NUM(42);
    MD_EMIT(host, ctx, &m);
    /* Stay loaded after the host's dlclose so the destructor runs at
     * process exit, not at unload (which comes before the result). */
    Dl_info info;
    if (dladdr((void *)linger_collect, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
    collected = 1;
    return 0;
}

/* Only a helper that collected lingers; the daemon, which loads the
 * plugin to check it, never does. */
__attribute__((destructor)) static void linger_at_exit(void)
{
    if (collected)
        sleep(LINGER_SECONDS);
}

static const md_plugin linger_plugin = {
    MD_PLUGIN_HEADER,
    .name = "linger",
    .version = "1.0",
    .description = "result at once, then the helper lingers before exiting",
    .collect = linger_collect,
};

MD_PLUGIN_DEFINE(linger_plugin)
