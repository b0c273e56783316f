/* t/unit/pricing.c - price lookup (exact, provider prefix, date suffix,
 * overrides), the cost of a cell with the long-context tier, a cell's
 * cost parts (own costs and per-event tier), and cost_usd
 * in the daily report: priced, unpriced (null with a note), provider
 * figure kept.  Expected costs are worked out by hand from the built-in
 * table (core/model/pricing_table.c) in the comments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pricing.h"
#include "tap.h"
#include "usage_store.h"

#define T0 1773100800.0   /* 2026-03-10T00:00:00Z */
#define NOW (T0 + 86400.0)
#define EPS 1e-12

static const md_num U = {MD_UNKNOWN, 0};

static void test_lookup(void)
{
    pricing_row p;
    is_int(pricing_lookup("claude-sonnet-4-5-20250929", &p), 0,
           "an exact name is found in the built-in table");
    ok(p.p[PR_IN] == 3e-6 && p.p[PR_CR_HI] == 6e-7,
       "with its base and above-200k prices");
    is_int(pricing_lookup("openrouter/anthropic/claude-opus-4-5", &p), 0,
           "a provider-prefixed name is found without its prefix");
    ok(p.p[PR_OUT] == 25e-6, "claude-opus-4-5 output is $25 per million");
    is_int(pricing_lookup("claude-haiku-4-5-2026-01-01", &p), 0,
           "a dated name is found without its date suffix");
    ok(p.p[PR_IN] == 1e-6 && p.p[PR_IN_HI] == PRICING_NO_TIER,
       "claude-haiku-4-5 has no long-context tier");
    is_int(pricing_lookup("mystery-model-1", &p), -1,
           "an unknown model has no price");
    is_int(pricing_lookup(NULL, &p), -1, "nor has the unknown model");

    pricing_row *o = calloc(1, sizeof *o);
    o[0].model = strdup("mystery-*");
    o[0].p[PR_IN] = 1e-6;
    for (int k = PR_IN_HI; k < PR_N; k++)
        o[0].p[k] = PRICING_NO_TIER;
    pricing_set_overrides(o, 1);
    is_int(pricing_lookup("mystery-model-1", &p), 1,
           "a configured glob prices a model the table lacks");
    ok(p.model == NULL && p.p[PR_IN] == 1e-6, "with the configured price");
    pricing_set_overrides(NULL, 0);
    is_int(pricing_lookup("mystery-model-1", &p), -1,
           "cleared overrides no longer match");
}

/* The providers added from LiteLLM's full table: exact names, names the
 * plugins report without LiteLLM's provider prefix, prefixed and dated
 * names, a long-context tier outside Claude, and the unknown. */
static void test_providers(void)
{
    pricing_row p;
    is_int(pricing_lookup("gemini-2.5-pro", &p), 0, "gemini-2.5-pro is priced");
    ok(p.p[PR_IN] == 1.25e-6 && p.p[PR_OUT] == 10e-6,
       "at $1.25 / $10 per million");
    ok(p.p[PR_IN_HI] == 2.5e-6 && p.p[PR_OUT_HI] == 15e-6,
       "with its above-200k tier ($2.50 / $15)");
    is_int(pricing_lookup("openrouter/google/gemini-2.5-pro", &p), 0,
           "an OpenRouter name of a Gemini model is priced (listed as such)");
    is_int(pricing_lookup("deepseek-chat", &p), 0, "deepseek-chat is priced");
    ok(p.p[PR_IN] == 2.8e-7 && p.p[PR_CR] == 2.8e-8 && p.p[PR_OUT] == 4.2e-7,
       "at DeepSeek's $0.28 / $0.028 cached / $0.42");
    is_int(pricing_lookup("deepseek/deepseek-reasoner", &p), 0,
           "a LiteLLM provider-prefixed name is found as listed");
    is_int(pricing_lookup("kimi-k2.5", &p), 0,
           "a Moonshot model is found by the bare id the plugin reports");
    ok(p.p[PR_IN] == 6e-7 && p.p[PR_OUT] == 3e-6, "kimi-k2.5 at $0.60 / $3");
    is_int(pricing_lookup("moonshot-v1-8k", &p), 0, "moonshot-v1-8k is priced");
    is_int(pricing_lookup("gpt-5", &p), 0, "gpt-5 is priced");
    ok(p.p[PR_IN] == 1.25e-6 && p.p[PR_CR] == 1.25e-7, "at $1.25, $0.125 cached");
    is_int(pricing_lookup("gpt-5-mini-2025-08-07", &p), 0, "a dated GPT name");
    is_int(pricing_lookup("gpt-5.1-codex-mini-2026-01-01", &p), 0,
           "an unlisted date of a listed Codex model");
    ok(p.p[PR_OUT] == 2e-6, "gpt-5.1-codex-mini output at $2");
    is_int(pricing_lookup("o4-mini", &p), 0, "an o-series model is priced");
    is_int(pricing_lookup("claude-opus-4-1", &p), 0, "claude-opus-4-1 is priced");
    ok(p.p[PR_CW_1H] == 3e-5, "with its one-hour cache-write price kept");
    is_int(pricing_lookup("gpt-4o-realtime-preview", &p), -1,
           "audio / realtime models are not in the table");
    is_int(pricing_lookup("glm-9-imaginary", &p), -1,
           "an unpriced model is unknown, not free");
    ok(pricing_glob_matches_builtin("kimi-*") && !pricing_glob_matches_builtin("kiwi-*"),
       "a glob is checked against the table's names");
}

/* The OpenAI rows the generated Codex trees need and the GPT-4.1 rows,
 * against LiteLLM's figures at the pinned commit: gpt-5.2 at $1.75 in,
 * $14 out, $0.175 cached (and no cache-write price listed: the table's
 * default, input x 1.25); gpt-4.1 at $2 / $8 / $0.50 cached. */
static void test_openai_rows(void)
{
    pricing_row p;
    is_int(pricing_lookup("gpt-5.2", &p), 0, "gpt-5.2 is priced");
    ok(p.p[PR_IN] == 1.75e-6 && p.p[PR_OUT] == 14e-6 && p.p[PR_CR] == 1.75e-7,
       "gpt-5.2 at $1.75 / $14 / $0.175 cached per million");
    ok(p.p[PR_CW] == 1.75e-6 * 1.25, "gpt-5.2 cache write defaults to input x 1.25");
    ok(p.p[PR_IN_HI] == PRICING_NO_TIER && p.p[PR_CW_1H] == PRICING_NO_TIER,
       "gpt-5.2 has no above-200k tier and no one-hour write price");
    is_int(pricing_lookup("gpt-5.2-2025-12-11", &p), 0, "its dated name is listed");
    ok(p.p[PR_OUT] == 14e-6, "at the same output price");
    is_int(pricing_lookup("gpt-5.1", &p), 0, "gpt-5.1 is priced");
    ok(p.p[PR_IN] == 1.25e-6 && p.p[PR_OUT] == 10e-6, "gpt-5.1 at $1.25 / $10");
    is_int(pricing_lookup("gpt-4.1", &p), 0, "gpt-4.1 is priced");
    ok(p.p[PR_IN] == 2e-6 && p.p[PR_OUT] == 8e-6 && p.p[PR_CR] == 5e-7,
       "gpt-4.1 at $2 / $8 / $0.50 cached per million");
    is_int(pricing_lookup("gpt-4.1-mini-2025-04-14", &p), 0, "a dated GPT-4.1 name");
    ok(p.p[PR_IN] == 4e-7 && p.p[PR_OUT] == 1.6e-6, "gpt-4.1-mini at $0.40 / $1.60");
}

/* Rows added for the o-series, Z.ai GLM, DeepSeek V4 and OpenRouter,
 * against figures copied by hand from LiteLLM's entries at the pinned
 * commit (US dollars per million tokens): o3 $2 in / $8 out / $0.50
 * cached; o3-mini $1.10 / $4.40 / $0.55; o1-pro $150 / $600; o3-pro
 * $20 / $80; zai/glm-4.6 $0.60 / $2.20 / $0.11 cached, cache write
 * listed as 0; zai/glm-4.5-air $0.20 / $1.10; openrouter/anthropic/
 * claude-sonnet-4.5 $3 / $15, above 200k $6 / $22.50; openrouter/z-ai/
 * glm-4.6 $0.40 / $1.75; deepseek-v4-pro $0.435 / $0.87 / $0.003625
 * cached. */
static void test_added_rows(void)
{
    pricing_row p;
    is_int(pricing_lookup("o3", &p), 0, "o3 is priced");
    ok(p.p[PR_IN] == 2e-6 && p.p[PR_OUT] == 8e-6 && p.p[PR_CR] == 5e-7,
       "o3 at $2 / $8 / $0.50 cached");
    ok(p.p[PR_CW] == 2.5e-6 && p.p[PR_IN_HI] == PRICING_NO_TIER,
       "o3: cache write defaults to input x 1.25, no long-context tier");
    is_int(pricing_lookup("o3-2025-04-16", &p), 0, "o3's dated name is listed");
    ok(p.p[PR_OUT] == 8e-6, "at o3's output price");
    is_int(pricing_lookup("openai/o3", &p), 0,
           "a provider-prefixed o3 is found without its prefix");
    ok(p.p[PR_IN] == 2e-6, "at o3's input price");
    is_int(pricing_lookup("o3-2026-01-01", &p), 0,
           "an unlisted date of o3 falls back to o3");
    is_int(pricing_lookup("o3-mini-2025-01-31", &p), 0, "a dated o3-mini");
    ok(p.p[PR_IN] == 1.1e-6 && p.p[PR_OUT] == 4.4e-6 && p.p[PR_CR] == 5.5e-7,
       "o3-mini at $1.10 / $4.40 / $0.55 cached");
    is_int(pricing_lookup("openai/o3-mini", &p), 0, "openai/o3-mini is priced");
    ok(p.p[PR_CR] == 5.5e-7,
       "by OpenAI's row (cached $0.55), not OpenRouter's (no cached price)");
    is_int(pricing_lookup("o1-pro-2025-03-19", &p), 0, "o1-pro is priced");
    ok(p.p[PR_IN] == 150e-6 && p.p[PR_OUT] == 600e-6, "o1-pro at $150 / $600");
    is_int(pricing_lookup("o3-pro", &p), 0, "o3-pro is priced");
    ok(p.p[PR_IN] == 20e-6 && p.p[PR_OUT] == 80e-6, "o3-pro at $20 / $80");
    is_int(pricing_lookup("o1-mini", &p), -1,
           "o1-mini, not listed at the pinned commit, stays unpriced");

    is_int(pricing_lookup("zai/glm-4.6", &p), 0, "zai/glm-4.6 is priced");
    ok(p.p[PR_IN] == 6e-7 && p.p[PR_OUT] == 2.2e-6 && p.p[PR_CR] == 1.1e-7 &&
       p.p[PR_CW] == 0.0, "at $0.60 / $2.20 / $0.11 cached, cache write 0");
    is_int(pricing_lookup("glm-4.6", &p), 0,
           "the bare id the z.ai API reports is priced the same");
    ok(p.p[PR_OUT] == 2.2e-6, "glm-4.6 output at $2.20");
    is_int(pricing_lookup("glm-4.5-air", &p), 0, "glm-4.5-air is priced");
    ok(p.p[PR_IN] == 2e-7 && p.p[PR_OUT] == 1.1e-6, "at $0.20 / $1.10");
    is_int(pricing_lookup("glm-9-imaginary-2025-01-01", &p), -1,
           "an unknown GLM model stays unpriced");

    is_int(pricing_lookup("openrouter/anthropic/claude-sonnet-4.5", &p), 0,
           "an OpenRouter Claude name (dotted version) is priced");
    ok(p.p[PR_IN] == 3e-6 && p.p[PR_OUT] == 15e-6 &&
       p.p[PR_IN_HI] == 6e-6 && p.p[PR_OUT_HI] == 22.5e-6,
       "at $3 / $15, above 200k $6 / $22.50");
    is_int(pricing_lookup("anthropic/claude-sonnet-4.5", &p), 0,
           "OpenRouter's own id for it (no openrouter/ prefix) too");
    ok(p.p[PR_IN] == 3e-6, "at the same input price");
    is_int(pricing_lookup("openrouter/anthropic/claude-opus-4-5", &p), 0,
           "a dashed Claude name under openrouter/ still finds Anthropic's row");
    ok(p.p[PR_CW_1H] == 1e-5, "with Anthropic's one-hour write price");
    is_int(pricing_lookup("openrouter/z-ai/glm-4.6", &p), 0,
           "openrouter/z-ai/glm-4.6 is priced");
    ok(p.p[PR_IN] == 4e-7 && p.p[PR_OUT] == 1.75e-6,
       "at OpenRouter's $0.40 / $1.75, not Z.ai's direct price");
    is_int(pricing_lookup("openrouter/openai/o3-mini", &p), 0,
           "openrouter/openai/o3-mini is priced");
    ok(p.p[PR_CR] == 1.1e-7, "with the default cached price (none listed)");
    is_int(pricing_lookup("openrouter/vendor/mystery-9", &p), -1,
           "an unknown OpenRouter model stays unpriced");

    is_int(pricing_lookup("deepseek-v4-pro", &p), 0, "deepseek-v4-pro is priced");
    ok(p.p[PR_IN] == 4.35e-7 && p.p[PR_OUT] == 8.7e-7 && p.p[PR_CR] == 3.625e-9,
       "at $0.435 / $0.87 / $0.003625 cached");
    is_int(pricing_lookup("deepseek-r1", &p), 0, "deepseek-r1 is priced");
    ok(p.p[PR_CR] == 1.4e-7, "its listed cache-hit price is the cache-read price");

    /* a configured glob wins over a built-in row */
    pricing_row *o = calloc(1, sizeof *o);
    o[0].model = strdup("o3*");
    o[0].p[PR_IN] = 9e-6;
    o[0].p[PR_OUT] = 9e-6;
    for (int k = PR_IN_HI; k < PR_N; k++)
        o[0].p[k] = PRICING_NO_TIER;
    pricing_set_overrides(o, 1);
    is_int(pricing_lookup("o3-2025-04-16", &p), 1,
           "a configured glob wins over the built-in o3 row");
    ok(p.p[PR_IN] == 9e-6, "with the configured price");
    is_int(pricing_lookup("openai/o3", &p), 0,
           "the glob matches the whole name, so openai/o3 keeps the table's");
    pricing_set_overrides(NULL, 0);
    is_int(pricing_lookup("o3-2025-04-16", &p), 0, "cleared: the table again");
}

static void test_cell_cost(void)
{
    pricing_row p;
    pricing_lookup("claude-sonnet-4-5-20250929", &p);
    /* One message with 250 000 cache-read tokens:
     *   input  1 000 x 3e-6                          = 0.003
     *   write  2 000 x 3.75e-6                       = 0.0075
     *   read 200 000 x 0.3e-6 + 50 000 x 0.6e-6      = 0.06 + 0.03 = 0.09
     *   output   500 x 15e-6                         = 0.0075
     *   total                                        = 0.108 */
    md_num c = pricing_cell_cost(&p, MD_NUM(1000), MD_NUM(2000),
                                 MD_NUM(250000), MD_NUM(500), 1);
    ok(c.state == MD_KNOWN && fabs(c.value - 0.108) < EPS,
       "a long-context message pays the above-200k price past 200k tokens");
    /* Two messages, 300 000 cache reads in all: a mean of 150 000 each,
     * under the threshold: 300 000 x 0.3e-6 = 0.09 */
    c = pricing_cell_cost(&p, MD_NUM(0), MD_NUM(0), MD_NUM(300000),
                          MD_NUM(0), 2);
    ok(c.state == MD_KNOWN && fabs(c.value - 0.09) < EPS,
       "messages under the threshold pay the base price whatever their sum");
    c = pricing_cell_cost(&p, MD_NUM(1), U, MD_NUM(0), MD_NUM(1), 1);
    ok(c.state == MD_UNKNOWN, "an unknown bucket makes the cost unknown");
    /* gpt-5-codex: 1 000 x 1.25e-6 + 4 000 x 0.125e-6 + 100 x 1e-5
     *            = 0.00125 + 0.0005 + 0.001 = 0.00275; no cache write */
    pricing_lookup("gpt-5-codex", &p);
    c = pricing_cell_cost(&p, MD_NUM(1000), MD_NUM_NA, MD_NUM(4000),
                          MD_NUM(100), 3);
    ok(c.state == MD_KNOWN && fabs(c.value - 0.00275) < EPS,
       "a not-applicable cache write costs nothing");
}

static usage_cell_rec cell(char *model, double in, double cw,
                           double cr, double out, double events)
{
    usage_cell_rec c;
    memset(&c, 0, sizeof c);
    c.slot_start = T0 + 900;
    c.model = model;
    c.b[UB_INPUT_UNCACHED] = MD_NUM(in);
    c.b[UB_CACHE_WRITE] = MD_NUM(cw);
    c.b[UB_CACHE_READ] = MD_NUM(cr);
    c.b[UB_OUTPUT] = MD_NUM(out);
    c.b[UB_REASONING] = U;
    c.b[UB_TOTAL] = MD_NUM(in + cw + cr + out);
    c.b[UB_COST] = U;
    c.events = events;
    return c;
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* ccusage 20.0.24 on one-message Claude lines (checked by hand):
 * sonnet-4-5, 1M 1h writes -> $10.80 (200k x 6e-6 + 800k x 12e-6);
 * 150k 5m + 150k 1h -> $1.4625 (each part its own tier bucket). */
static void test_cache_write_1h(void)
{
    pricing_row p;
    is_int(pricing_lookup("claude-sonnet-4-5-20250929", &p), 0,
           "sonnet 4.5 has a price");
    md_num z = MD_NUM(0);
    md_num c = pricing_cell_cost_1h(&p, z, MD_NUM(1e6), MD_NUM(1e6), z, z, 1);
    ok(c.state == MD_KNOWN && fabs(c.value - 10.8) < EPS,
       "1M one-hour writes in one message cost $10.80, as ccusage");
    c = pricing_cell_cost_1h(&p, z, MD_NUM(3e5), MD_NUM(1.5e5), z, z, 1);
    ok(c.state == MD_KNOWN && fabs(c.value - 1.4625) < EPS,
       "150k five-minute + 150k one-hour writes: no tier, $1.4625");
    c = pricing_cell_cost_1h(&p, z, MD_NUM(1e6), U, z, z, 1);
    md_num flat = pricing_cell_cost(&p, z, MD_NUM(1e6), z, z, 1);
    ok(c.state == MD_KNOWN && fabs(c.value - flat.value) < EPS &&
           fabs(c.value - 6.75) < EPS,
       "an unknown 1h part prices every write at the five-minute rate");
    is_int(pricing_lookup("claude-4-opus", &p), 0, "claude-4-opus has a price");
    c = pricing_cell_cost_1h(&p, z, MD_NUM(1e5), MD_NUM(1e5), z, z, 1);
    ok(c.state == MD_KNOWN && fabs(c.value - 3.0) < EPS,
       "no listed 1h price: twice the input price ($3.00 for 100k on opus 4)");
}

/* Cost parts (a cell priced per event).  Sonnet 4.5: the events of
 * t/87-logs-cost-parts.t in one cell: own $0.50; priced input 10 + 5,
 * output 2000 + 500, 5-minute writes 3000, one-hour writes 1000, cache
 * reads 50000 + 250000 of which 50000 above 200k:
 *   0.5 + 15 x 3e-6 + 2500 x 15e-6 + 3000 x 3.75e-6 + 1000 x 6e-6
 *   + 300000 x 0.3e-6 + 50000 x (0.6e-6 - 0.3e-6)
 *   = 0.5 + 0.000045 + 0.0375 + 0.01125 + 0.006 + 0.09 + 0.015
 *   = 0.659795 */
static void test_parts(void)
{
    pricing_row p;
    is_int(pricing_lookup("claude-sonnet-4-5-20250929", &p), 0,
           "sonnet 4.5 has a price");
    usage_parts a = {.known = 1, .own_usd = 0.5};
    a.tokens[MD_PRICED_INPUT] = 15;
    a.tokens[MD_PRICED_OUTPUT] = 2500;
    a.tokens[MD_PRICED_CACHE_WRITE] = 3000;
    a.tokens[MD_PRICED_CACHE_WRITE_1H] = 1000;
    a.tokens[MD_PRICED_CACHE_READ] = 300000;
    a.above[MD_PRICED_CACHE_READ] = 50000;
    is_str(usage_parts_problem(&a), NULL, "valid parts");
    md_num c = pricing_parts_cost(&p, &a);
    ok(c.state == MD_KNOWN && fabs(c.value - 0.659795) < EPS,
       "own cost + tokens + per-event excess at the tier's extra price");
    usage_parts own = {.known = 1, .own_usd = 0.25};
    c = pricing_parts_cost(NULL, &own);
    ok(c.state == MD_KNOWN && fabs(c.value - 0.25) < EPS,
       "only own costs: no price needed");
    usage_parts sum = a;
    usage_parts_add(&sum, &own);
    c = pricing_parts_cost(&p, &sum);
    ok(sum.known && fabs(c.value - 0.909795) < EPS, "parts add up");
    usage_parts none = {0};
    usage_parts_add(&sum, &none);
    ok(!sum.known && sum.own_usd == 0, "a cell without parts ends them");
    usage_parts bad = a;
    bad.above[MD_PRICED_CACHE_READ] = 400000;
    ok(usage_parts_problem(&bad) != NULL, "an excess above its tokens is refused");
    bad = a;
    bad.own_usd = -1;
    ok(usage_parts_problem(&bad) != NULL, "a negative own cost is refused");
}

static void test_report(const char *dir)
{
    usage_store *s = usage_store_new(dir, 400LL * 86400 * 1000);
    usage_cell_rec c[3] = {
        cell("claude-sonnet-4-5-20250929", 1000, 2000, 250000, 500, 1),
        cell("mystery-model-1", 10, 0, 0, 10, 1),
        cell("claude-opus-4-1", 100, 0, 0, 0, 1),
    };
    /* a provider-reported figure is kept: 0.5 instead of 100 x 15e-6 */
    c[2].b[UB_COST] = MD_NUM(0.5);
    usage_store_put(s, "p", c, 3, 0, 1, NOW);
    json_t *doc = NULL;
    char *err = NULL;
    is_int(usage_store_daily(s, NULL, NULL, NULL, "UTC", &doc, &err), 0,
           "the daily report builds");
    json_t *day = json_array_get(json_object_get(doc, "days"), 0);
    json_t *models = json_object_get(day, "models");
    json_t *sonnet = NULL, *mystery = NULL, *opus = NULL;
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *m = json_array_get(models, i);
        const char *name = json_string_value(json_object_get(m, "model"));
        if (name && !strcmp(name, "claude-sonnet-4-5-20250929"))
            sonnet = m;
        else if (name && !strcmp(name, "mystery-model-1"))
            mystery = m;
        else if (name && !strcmp(name, "claude-opus-4-1"))
            opus = m;
    }
    ok(sonnet && fabs(num(sonnet, "cost_usd") - 0.108) < EPS,
       "a priced model's cost_usd is tokens x price (0.108, see above)");
    ok(opus && fabs(num(opus, "cost_usd") - 0.5) < EPS,
       "a provider's own cost is kept");
    ok(mystery && json_is_null(json_object_get(mystery, "cost_usd")),
       "an unpriced model's cost_usd is null, not 0");
    ok(mystery && json_is_string(json_object_get(mystery, "cost_note")),
       "and carries a cost_note");
    ok(json_is_null(json_object_get(day, "cost_usd")) &&
           json_is_string(json_object_get(day, "cost_note")),
       "the day's cost is unknown with a note when a model is unpriced");
    json_decref(doc);
    usage_store_free(s);
}

int main(void)
{
    char tmpl[] = "/tmp/meterd-pricing-XXXXXX";
    char *dir = mkdtemp(tmpl);
    test_lookup();
    test_providers();
    test_openai_rows();
    test_added_rows();
    test_cell_cost();
    test_cache_write_1h();
    test_parts();
    test_report(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag_line("could not remove the temporary directory");
    return done_testing();
}
