/*
 * usage.h - the normalised per-turn usage record and the mapping of each
 * provider's raw usage object ("dialect") onto it.
 *
 * Token buckets are DISJOINT:
 *   tokens_total = tokens_input_uncached + tokens_cache_read
 *                + tokens_cache_write + tokens_output      (when all known;
 *                                          a not-applicable bucket adds 0)
 *   tokens_reasoning is an informational SUBSET of tokens_output, and
 *   tokens_cache_write_1h (writes with the one-hour TTL) one of
 *   tokens_cache_write: known wherever cache_write is (0 when the
 *   provider did not split its writes), not applicable where it is.
 * Unknown is not zero: a bucket the provider did not report (missing, null,
 * malformed, negative, non-finite) is MD_UNKNOWN; a bucket whose concept
 * does not exist for the source (OpenAI cache writes, Ollama caching) is
 * MD_NOT_APPLICABLE.  The two conversion rules are the plugin SDK's
 * mdu_tokens_openai / mdu_tokens_anthropic (meterd/util.h, implemented
 * once in core/lib/tokens.c for the core and the SDK alike).  doc/usage-dialects.md has the field tables.
 *
 * JSON form (storage, API; every key always present):
 *   {"provider": "openai", "route": "chat", "model": "gpt-5.2",
 *    "source": "ingest", "dedup_key": null,
 *    "at": "2026-03-10T13:58:05.377Z", "observed_at": "2026-03-10T14:00:00Z",
 *    "tokens_input_uncached": 80, "tokens_cache_read": 1920,
 *    "tokens_cache_write": null, "tokens_output": 300,
 *    "tokens_reasoning": 192, "tokens_total": 2300,
 *    "tokens_cache_write_1h": null, "cost_usd": null,
 *    "raw": {...provider usage object...} | null,
 *    "not_applicable": ["tokens_cache_write", "tokens_cache_write_1h"]}
 * Unknown and not-applicable values are both null; "not_applicable" says
 * which are which (as in metric_to_json).
 *
 * Invariants: unknown is not zero (see above); a record's numbers are
 * MD_KNOWN only with a finite, non-negative value.
 * Ownership: a usage_record owns its strings and one reference to raw;
 * usage_record_clear() frees them and leaves an empty record.
 * Threads: no shared state; no function here does I/O.  Allocation
 * failures abort (log.h helpers).
 */
#ifndef METERD_USAGE_H
#define METERD_USAGE_H

#include <jansson.h>
#include "meterd/plugin.h"

typedef struct usage_record {
    /* Owned strings, each may be NULL (unknown).  provider/route/source are
     * the caller's to set; usage_from_dialect fills model and dedup_key
     * only for the log-line dialects (Claude Code, Codex). */
    char *provider;   /* instance / provider name                          */
    char *route;      /* endpoint family or route ("chat", "responses")    */
    char *model;      /* model as reported; NULL when unknown / synthetic  */
    char *source;     /* "local_log", "ingest", ...                        */
    char *dedup_key;  /* identity of the turn for deduplication, or NULL   */
    md_time at;           /* when the turn happened (provider's clock)     */
    md_time observed_at;  /* when meterd saw it (daemon clock)             */
    md_num tokens_input_uncached; /* input neither read from nor written
                                     to a cache                            */
    md_num tokens_cache_read;     /* input served from a cache             */
    md_num tokens_cache_write;    /* input written to a cache              */
    md_num tokens_output;         /* all output, reasoning included        */
    md_num tokens_reasoning;      /* subset of output, informational       */
    md_num tokens_total;          /* see the sum above                     */
    md_num tokens_cache_write_1h; /* subset of cache_write made with the
                                     one-hour TTL (priced higher)          */
    md_num cost_usd;              /* provider-reported cost, US dollars    */
    json_t *raw;      /* owned reference to the raw usage object, or NULL;
                         treated as immutable (it may be shared with the
                         document it came from and with copies)           */
} usage_record;

/* Zero the record: every string NULL, every number and time MD_UNKNOWN,
 * raw NULL.  Does not free anything (use on fresh memory). */
void usage_record_init(usage_record *r);
/* Free the owned strings and drop the raw reference, then re-init.
 * NULL is accepted. */
void usage_record_clear(usage_record *r);
/* Deep copy of the strings into *dst (which is overwritten, not freed);
 * raw is shared (one more reference). */
void usage_record_copy(usage_record *dst, const usage_record *src);

/* New reference to the JSON form above (raw is shared, not copied). */
json_t *usage_to_json(const usage_record *r);
/* Read the JSON form back into *out (overwritten, not freed first).
 * Returns 0, or -1 with *err set (malloc'd; err may be NULL) when obj is
 * not an object or a key has the wrong JSON type (a number as a string, a
 * timestamp that does not parse); *out is then empty.  Missing keys read
 * as null; null is MD_NOT_APPLICABLE when listed in "not_applicable", else
 * MD_UNKNOWN.  A negative or non-finite number reads as MD_UNKNOWN (the
 * same rule as for provider input).  Timestamps may be RFC 3339 or epoch
 * seconds.  raw is deep-copied, so *out does not depend on obj. */
int usage_from_json(const json_t *obj, usage_record *out, char **err);

typedef enum usage_dialect {
    USAGE_OPENAI_CHAT = 0,     /* "openai": chat completions `usage`       */
    USAGE_OPENAI_RESPONSES,    /* "openai-responses": Responses API usage  */
    USAGE_ANTHROPIC_MESSAGES,  /* "anthropic": Messages API `usage`        */
    USAGE_DEEPSEEK,            /* "deepseek": chat usage with cache hit/miss */
    USAGE_GEMINI,              /* "gemini": generateContent usageMetadata   */
    USAGE_OPENROUTER,          /* "openrouter": OpenAI-like usage + cost    */
    USAGE_OLLAMA,              /* "ollama": final /api/chat|generate object */
    USAGE_CLAUDE_CODE_LINE,    /* "claude-code": one transcript JSONL line  */
    USAGE_CODEX_TOKEN_COUNT,   /* "codex": one rollout token_count event    */
    USAGE_N_DIALECTS
} usage_dialect;

/* Dialect by name (the names in the comments above).  Returns 0 and sets
 * *out, or -1 for NULL or an unknown name. */
int usage_dialect_from_name(const char *name, usage_dialect *out);
/* The name of a dialect, or NULL when out of range.  Static string. */
const char *usage_dialect_name(usage_dialect d);

/* Map a provider's raw usage object into *out (overwritten with
 * usage_record_init first, not freed: pass a fresh or cleared record).
 *   - The API dialects take the usage object itself (Ollama: the final
 *     response object; Gemini: usageMetadata or the response holding it).
 *     JSON null gives rc 0, raw NULL and nothing known.
 *   - Whenever no token bucket comes out KNOWN (an empty object, a local
 *     runtime without counters, a quota-style object, only garbage), all
 *     six token buckets are MD_UNKNOWN - even those the dialect would call
 *     not applicable: no telemetry is not zero.
 *   - USAGE_CLAUDE_CODE_LINE takes a whole transcript line (message.usage,
 *     or the assistant entry nested in data.message of a progress
 *     wrapper).  It also sets model (NULL for "<synthetic>"), at
 *     (timestamp), cost_usd (costUSD, old logs) and dedup_key
 *     ("<message.id>:<requestId>", "<message.id>" without a requestId,
 *     NULL without a message.id).  raw is message.usage only, never the
 *     conversation content.  No deduplication happens here.
 *   - USAGE_CODEX_TOKEN_COUNT takes a rollout line ({timestamp, type,
 *     payload}) or its payload; it maps payload.info.last_token_usage,
 *     sets at from the line's timestamp and model from payload.model /
 *     info.model when present (usually not: turn_context has it); raw is
 *     last_token_usage.
 *   - provider, route, source and observed_at are left for the caller.
 * Numbers may be JSON numbers or numeric strings; negative, non-finite or
 * non-numeric values are MD_UNKNOWN.  Returns 0, or -1 with *err set
 * (malloc'd; err may be NULL) when the input is not an object (nor null
 * for an API dialect), for an unknown dialect, or for a log line without
 * usage ("no usage in this line", or "no usage in this event" for a
 * rate-limits-only token_count); *out is then empty.  On success raw is a
 * new reference into usage_obj's document.  No I/O. */
int usage_from_dialect(usage_dialect d, const json_t *usage_obj,
                       usage_record *out, char **err);

/* The two bucket conversions, mdu_tokens_openai / _anthropic applied to r:
 * they set the six token fields of *r (cost and the rest untouched).
 * OpenAI family: input counts cached input inside it, output counts
 * reasoning inside it, cache writes are not applicable; total = input +
 * output.  Anthropic family: four additive counters, reasoning unknown,
 * total = their sum. */
void usage_set_openai_buckets(usage_record *r, md_num input_incl_cached,
                              md_num cached, md_num output_incl_reasoning,
                              md_num reasoning);
void usage_set_anthropic_buckets(usage_record *r, md_num input_uncached,
                                 md_num cache_read, md_num cache_write,
                                 md_num output);

#endif
