/*
 * spawner.c - a test plugin that starts a process meant to outlive its
 * collection: `sleep 4242 MARKER` (MARKER, a small number the test picks,
 * makes the process findable in /proc/PID/cmdline).  Options:
 *   marker  the second argument of sleep (required)
 *   escape  "setsid": the child calls setsid() (new session and group);
 *           "pgrp": it only leads a new process group; default "none"
 *   hang    "yes": collect never returns after starting the child (a
 *           stalled helper the deadline must kill); default: return ok.
 * Models a plugin whose children try to escape the daemon's clean-up.
 */
#include <string.h>
#include <unistd.h>

#include "meterd/plugin.h"

static const md_option spawner_options[] = {
    {"marker", MD_OPT_STRING, 1, NULL, "second argument of sleep"},
    {"escape", MD_OPT_STRING, 0, "none", "setsid, pgrp or none"},
    {"hang", MD_OPT_BOOL, 0, "no", "never return from collect"},
    {0},
};

static int spawner_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    const char *marker = host->opt_str(ctx, "marker");
    const char *escape = host->opt_str(ctx, "escape");
    int hang = 0;
    host->opt_bool(ctx, "hang", &hang);
    pid_t pid = fork();
    if (pid == 0) {
        if (escape && strcmp(escape, "setsid") == 0)
            setsid();
        else if (escape && strcmp(escape, "pgrp") == 0)
            setpgid(0, 0);
        execlp("sleep", "sleep", "4242", marker, (char *)NULL);
        _exit(127);
    }
    if (pid < 0) {
        host->fail(ctx, MD_ERR_INTERNAL, "fork failed");
        return -1;
    }
    while (hang)
        pause();
    md_metric m = {0};
    m.id = "spawned";
    m.kind = "usage";
    m.used = MD_NUM(1);
    MD_EMIT(host, ctx, &m);
    return 0;
}

static const md_plugin spawner_plugin = {
    MD_PLUGIN_HEADER,
    .name = "spawner",
    .version = "1.0",
    .description = "starts a sleep 4242 that tries to outlive the collection",
    .options = spawner_options,
    .collect = spawner_collect,
};

MD_PLUGIN_DEFINE(spawner_plugin)
