/*
 * usagegen.c - a test plugin that hands the core usage cells (ABI 1.2
 * put_usage) taken from its options, and honours usage_generation the way
 * the log plugins do:
 *   cells:       list of "SLOT|MODEL|IN|CACHE_READ|CACHE_WRITE|OUT|REASONING|
 *                TOTAL|COST|EVENTS"; a number, "-" (unknown) or "na" (not
 *                applicable) per bucket; MODEL "-" is the unknown model.
 *   generation:  the plugin's generation of those cells (default 1).
 *   since:       when set and the core holds generation - 1, only the
 *                cells >= since are sent (an incremental update); otherwise
 *                a core whose generation differs gets everything (since 0)
 *                and a core that is up to date gets no call at all.
 *   mode:        "normal" (default), "twice" (a second put_usage, which the
 *                core must refuse), "fail" (put, then fail the collection).
 * It emits "sent" (cells handed over), "accepted" (1 when put_usage
 * returned 0) and "since", or only "up_to_date" when it made no call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meterd/plugin.h"

#define MAX_CELLS 256

static const md_option usagegen_options[] = {
    {"cells", MD_OPT_LIST, 0, NULL, "cells to hand over"},
    {"generation", MD_OPT_INT, 0, "1", "the plugin's generation"},
    {"since", MD_OPT_NUMBER, 0, NULL, "incremental update from here"},
    {"mode", MD_OPT_STRING, 0, "normal", "normal, twice or fail"},
    {0},
};

static md_num parse_bucket(const char *s)
{
    if (strcmp(s, "-") == 0)
        return (md_num){MD_UNKNOWN, 0};
    if (strcmp(s, "na") == 0)
        return MD_NUM_NA;
    return MD_NUM(strtod(s, NULL));   /* "nan", "-5" reach the host as is */
}

/* Split one spec into *c; the model points into buf (kept by the caller). */
static int parse_cell(char *buf, md_usage_cell *c)
{
    char *f[10];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t && n < 10;
         t = strtok_r(NULL, "|", &save))
        f[n++] = t;
    if (n != 10)
        return -1;
    memset(c, 0, sizeof *c);
    c->slot_start = strtod(f[0], NULL);
    c->model = strcmp(f[1], "-") == 0 ? NULL : f[1];
    md_num *b[7] = {&c->tokens_input_uncached, &c->tokens_cache_read,
                    &c->tokens_cache_write, &c->tokens_output,
                    &c->tokens_reasoning, &c->tokens_total, &c->cost_usd};
    for (int i = 0; i < 7; i++)
        *b[i] = parse_bucket(f[2 + i]);
    c->events = strtod(f[9], NULL);
    return 0;
}

static void emit(const md_host *host, md_ctx *ctx, const char *id, double v)
{
    md_metric m = {0};
    m.id = id;
    m.kind = "usage";
    m.used = MD_NUM(v);
    MD_EMIT(host, ctx, &m);
}

static int usagegen_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (host->abi_minor < 2) {
        host->fail(ctx, MD_ERR_ABI, "host lacks put_usage");
        return -1;
    }
    size_t n_spec = 0;
    const char *const *spec = host->opt_list(ctx, "cells", &n_spec);
    long long gen = 1;
    double since = 0;
    host->opt_int(ctx, "generation", &gen);
    int incremental = host->opt_number(ctx, "since", &since) == 0;
    const char *mode = host->opt_str(ctx, "mode");
    static md_usage_cell cells[MAX_CELLS];
    static char bufs[MAX_CELLS][512];
    size_t n = 0;
    unsigned long long have = host->usage_generation(ctx);
    if (have == (unsigned long long)gen) {
        emit(host, ctx, "up_to_date", 1);   /* nothing new: no call */
        return 0;
    }
    if (!(incremental && have + 1 == (unsigned long long)gen))
        since = 0;
    for (size_t i = 0; i < n_spec && n < MAX_CELLS; i++) {
        snprintf(bufs[n], sizeof bufs[n], "%s", spec[i]);
        if (parse_cell(bufs[n], &cells[n]) != 0) {
            host->fail(ctx, MD_ERR_CONFIG, "bad cell spec '%s'", spec[i]);
            return -1;
        }
        if (cells[n].slot_start >= since)
            n++;
    }
    int rc = host->put_usage(ctx, cells, n, sizeof cells[0], since,
                             (unsigned long long)gen);
    if (mode && strcmp(mode, "twice") == 0)
        rc |= host->put_usage(ctx, cells, n, sizeof cells[0], since,
                              (unsigned long long)gen) == 0 ? 0 : 2;
    emit(host, ctx, "sent", (double)n);
    emit(host, ctx, "accepted", rc == 0 ? 1 : 0);
    emit(host, ctx, "since", since);
    if (mode && strcmp(mode, "fail") == 0) {
        host->fail(ctx, MD_ERR_BAD_DATA, "failing on purpose after put_usage");
        return -1;
    }
    return 0;
}

static const md_plugin usagegen_plugin = {
    MD_PLUGIN_HEADER,
    .name = "usagegen",
    .version = "1.0",
    .description = "test: hands over usage cells (put_usage)",
    .default_source = "test",
    .options = usagegen_options,
    .collect = usagegen_collect,
};

MD_PLUGIN_DEFINE(usagegen_plugin)
