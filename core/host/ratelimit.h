/*
 * ratelimit.h - rate-limit response headers to meters.
 *
 * One parser for every rate-limit header dialect below (each provider's
 * public API documentation names its headers), used by plugins through
 * host->emit_rate_limits and by the gateway ingest.  Pure: header strings and "now" in, metrics out.
 *
 *   OpenAI     x-ratelimit-{limit,remaining,reset}-{requests,tokens}
 *              (reset: Go duration until full)   -> ratelimit_requests/_tokens
 *   OpenRouter x-ratelimit-{limit,remaining,reset} (reset: epoch ms)
 *                                                 -> ratelimit_requests
 *   Anthropic  anthropic-ratelimit-{requests,tokens,input-tokens,
 *              output-tokens}-{limit,remaining,reset} (reset: RFC 3339)
 *                                                 -> ratelimit_<family>
 *   Anthropic  anthropic-ratelimit-unified-<w>-{utilization,reset}
 *   unified    (0-1 fraction, epoch s)            -> five_hour, seven_day,
 *                                                    seven_day_<rest>, ...
 *   Codex      x-codex-[<limit>-]{primary,secondary}-{used-percent,
 *              window-minutes,reset-at,reset-after-seconds}
 *                                                 -> five_hour / seven_day /
 *                                                    window_<m>m
 *   Retry-After (delta seconds or HTTP-date)      -> *retry_after
 * Absent headers are unknown, never zero; a negative value (Azure sends -1)
 * is unknown.
 */
#ifndef METERD_RATELIMIT_H
#define METERD_RATELIMIT_H

#include <stddef.h>
#include "meterd/plugin.h"

typedef struct rl_metric {
    md_metric m;     /* id/label/kind/unit point into the buffers below */
    char id[96];
    char label[128];
    char kind[16];
    char unit[16];
} rl_metric;

/* Parse n header name/value pairs (names in any case).  id_prefix (may be
 * NULL) is prepended to every id.  Returns the number of metrics; *out is
 * a malloc'd array the caller frees (NULL when none).  *retry_after gets
 * the Retry-After delay in seconds from now, or -1 (when not NULL). */
size_t ratelimit_parse(const char *const *names, const char *const *values,
                       size_t n, double now, const char *id_prefix,
                       rl_metric **out, double *retry_after);

#endif
