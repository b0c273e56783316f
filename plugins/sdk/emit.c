/*
 * plugins/sdk/emit.c - token buckets as metrics (meterd/util.h,
 * mdu_emit_tokens).  The buckets themselves are computed by
 * core/lib/tokens.c, the code the core's usage records use too.
 */
#include "meterd/util.h"

#include <stdio.h>

void mdu_emit_tokens(const md_host *h, md_ctx *ctx, const mdu_tokens *t,
                     const char *period, const char *period_label,
                     md_confidence confidence)
{
    static const char *const names[] = {"input_uncached", "cache_read",
                                        "cache_write", "output", "reasoning",
                                        "total"};
    const md_num *vals[] = {&t->input_uncached, &t->cache_read,
                            &t->cache_write, &t->output, &t->reasoning,
                            &t->total};
    for (size_t i = 0; i < 6; i++) {
        char id[64], label[96];
        snprintf(id, sizeof id, "tokens_%s_%s", names[i], period);
        snprintf(label, sizeof label, "Tokens %s (%s)", names[i], period_label);
        md_metric m = {0};
        m.id = id;
        m.label = label;
        m.kind = "usage";
        m.unit = "tokens";
        m.used = *vals[i];
        m.confidence = confidence;
        MD_EMIT(h, ctx, &m);
    }
}
