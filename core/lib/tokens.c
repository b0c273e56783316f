/*
 * tokens.c - unknown-aware sums and the disjoint token buckets, the one
 * implementation for the core (usage records, core/model/usage.c) and the
 * plugin SDK (declared in meterd/util.h; libmeterd-plugin.a is built from
 * this file too).  libc and meterd/ headers only, no state.
 *
 * Invariant: a bucket is known only when every figure it is computed from
 * is known; a not-applicable bucket is never summed (it makes the total
 * unknown here; callers that know a bucket cannot exist set it NA).
 */
#include "meterd/util.h"

static const md_num unknown_num = {MD_UNKNOWN, 0.0};

md_num mdu_add(md_num a, md_num b)
{
    if (a.state != MD_KNOWN || b.state != MD_KNOWN)
        return unknown_num;
    return MD_NUM(a.value + b.value);
}

md_num mdu_sub(md_num a, md_num b)
{
    if (a.state != MD_KNOWN || b.state != MD_KNOWN)
        return unknown_num;
    return MD_NUM(a.value > b.value ? a.value - b.value : 0.0);
}

mdu_tokens mdu_tokens_openai(md_num input_incl_cached, md_num cached,
                             md_num output_incl_reasoning, md_num reasoning)
{
    return (mdu_tokens){
        .input_uncached = mdu_sub(input_incl_cached, cached),
        .cache_read = cached,
        .cache_write = MD_NUM_NA,
        .output = output_incl_reasoning,
        .reasoning = reasoning,
        .total = mdu_add(input_incl_cached, output_incl_reasoning),
    };
}

mdu_tokens mdu_tokens_anthropic(md_num input_uncached, md_num cache_read,
                                md_num cache_write, md_num output)
{
    return (mdu_tokens){
        .input_uncached = input_uncached,
        .cache_read = cache_read,
        .cache_write = cache_write,
        .output = output,
        .reasoning = unknown_num,
        .total = mdu_add(mdu_add(input_uncached, cache_read),
                         mdu_add(cache_write, output)),
    };
}
