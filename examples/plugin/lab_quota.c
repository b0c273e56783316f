/*
 * lab_quota.c - an example meterd provider plugin built out of tree.
 *
 * It reads a JSON file that some other job keeps up to date, e.g.
 *
 *   {"gpu_hours": {"used": 42, "limit": 100},
 *    "storage_gb": {"used": 310, "limit": 500},
 *    "period_end": "2026-12-01T00:00:00Z"}
 *
 * and emits two budget meters, gpu_hours and storage_gb, that reset at
 * period_end.  A value the file does not have stays unknown (mdu_num),
 * never 0.  Build and install it with the Makefile next to this file.
 */
#include <stdio.h>

#include <meterd/plugin.h>
#include <meterd/util.h>

static const md_option lab_options[] = {
    {"file", MD_OPT_STRING, 1, NULL, "the JSON file with the lab's quotas"},
    {0},
};

/* One meter from the object at key ("used", "limit"). */
static void emit_budget(const md_host *h, md_ctx *ctx, const json_t *doc,
                        const char *key, const char *unit, md_time resets)
{
    char used[64], limit[64];
    snprintf(used, sizeof used, "%s.used", key);
    snprintf(limit, sizeof limit, "%s.limit", key);
    md_metric m = {0};
    m.id = key;
    m.kind = "budget";
    m.unit = unit;
    m.used = mdu_num(h, doc, used);
    m.limit = mdu_num(h, doc, limit);
    m.resets_at = resets;
    MD_EMIT(h, ctx, &m);
}

static int lab_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    const char *path = h->opt_str(ctx, "file");
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        h->fail(ctx, MD_ERR_BAD_DATA, "%s: %s (line %d)", path, jerr.text,
                jerr.line);
        return -1;
    }
    if (!json_is_object(doc)) {
        h->fail(ctx, MD_ERR_BAD_DATA, "%s: not a JSON object", path);
        json_decref(doc);
        return -1;
    }
    md_time resets = mdu_time(h, ctx, doc, "period_end", MD_TS_RFC3339);
    emit_budget(h, ctx, doc, "gpu_hours", "hours", resets);
    emit_budget(h, ctx, doc, "storage_gb", "gb", resets);
    json_decref(doc);
    return 0;
}

static const md_plugin lab_plugin = {
    MD_PLUGIN_HEADER,
    .name = "lab_quota",
    .version = "1.0.0",
    .description = "lab GPU-hour and storage budgets from a JSON file",
    .default_source = "exec",
    .options = lab_options,
    .collect = lab_collect,
};
MD_PLUGIN_DEFINE(lab_plugin)
