/*
 * cellcrash.c - a test plugin that declares MD_PRODUCES_USAGE_CELLS and
 * does what CELLCRASH_MODE (declared in md_plugin.env) says, so that
 * `meterd report` meets it in its collection helper:
 *   "segv"  dies of SIGSEGV;
 *   "hang"  never returns (the provider's timeout must end it);
 *   "exit"  calls exit(3) without a result;
 *   "quiet" succeeds without handing over any cell;
 *   else    hands the core one cell (2026-03-10T12:00Z, model m1) whose
 *           output tokens say what the helper's environment held:
 *           100, plus 1 when CELLCRASH_SECRET (not declared) is visible
 *           to getenv, plus 2 when its value is anywhere in
 *           /proc/self/environ (the environment the process started
 *           with), plus 4 when libcurl is mapped (/proc/self/maps: a
 *           collection that does no HTTP should not load it).  A
 *           scrubbed helper without libcurl sends exactly 100.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meterd/plugin.h"

/* Whether the first 1 MiB of file holds needle (bytes, NULs included
 * in the file). */
static int file_holds(const char *file, const char *needle)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t len = strlen(needle);
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(buf + i, needle, len) == 0)
            return 1;
    return 0;
}

static int cellcrash_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    const char *mode = getenv("CELLCRASH_MODE");
    mode = mode ? mode : "";
    if (strcmp(mode, "segv") == 0)
        raise(SIGSEGV);
    if (strcmp(mode, "exit") == 0)
        exit(3);
    if (strcmp(mode, "quiet") == 0)
        return 0;
    if (strcmp(mode, "hang") == 0)
        for (int i = 0; i < 600; i++)   /* bounded: 10 minutes */
            sleep(1);
    double out = 100 + (getenv("CELLCRASH_SECRET") ? 1 : 0) +
                 (file_holds("/proc/self/environ", "CELLCRASH_SECRET=") ? 2 : 0) +
                 (file_holds("/proc/self/maps", "/libcurl") ? 4 : 0);
    md_usage_cell c = {0};
    c.slot_start = 1773144000; /* 2026-03-10T12:00:00Z */
    c.model = "m1";
    c.tokens_input_uncached = MD_NUM(0);
    c.tokens_cache_read = MD_NUM(0);
    c.tokens_cache_write = MD_NUM(0);
    c.tokens_output = MD_NUM(out);
    c.tokens_total = MD_NUM(out);
    c.events = 1;
    if (host->put_usage(ctx, &c, 1, sizeof c, 0, 1) != 0) {
        host->fail(ctx, MD_ERR_INTERNAL, "put_usage refused the cell");
        return -1;
    }
    return 0;
}

static const char *const cellcrash_env[] = {"CELLCRASH_MODE", NULL};

static const md_plugin cellcrash_plugin = {
    MD_PLUGIN_HEADER,
    .name = "cellcrash",
    .version = "1.0",
    .description = "crashes, hangs or reports its environment in a cell",
    .collect = cellcrash_collect,
    .produces = MD_PRODUCES_USAGE_CELLS,
    .env = cellcrash_env,
};

MD_PLUGIN_DEFINE(cellcrash_plugin)
