/* probeenv.c - a test plugin that tells where it is loaded: its
 * constructor appends one line to $HOME/probeenv-loads.txt (HOME is in a
 * helper's base environment, which is all a first probe gets): its pid,
 * whether it leads its own process group, and whether PROBEENV_SECRET
 * (which it does not declare) is in its environment.  A probe loads it,
 * so does a collection; `meterd report` probes it in its spare probe
 * process. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "meterd/plugin.h"

__attribute__((constructor)) static void probeenv_loaded(void)
{
    const char *home = getenv("HOME");
    char path[4096];
    if (!home || snprintf(path, sizeof path, "%s/probeenv-loads.txt", home) >=
                     (int)sizeof path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "pid=%ld own_group=%d undeclared=%d\n", (long)getpid(),
            getpgrp() == getpid(), getenv("PROBEENV_SECRET") != NULL);
    fclose(f);
}

static int probeenv_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    md_metric m = {0};
    m.id = "loaded";
    m.kind = "usage";
    m.used = MD_NUM(1);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const md_plugin probeenv_plugin = {
    MD_PLUGIN_HEADER,
    .name = "probeenv",
    .version = "1.0",
    .description = "records where and in which environment it is loaded",
    .collect = probeenv_collect,
};

MD_PLUGIN_DEFINE(probeenv_plugin)
