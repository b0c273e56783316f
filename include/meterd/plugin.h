/*
 * meterd/plugin.h - the meterd plugin SDK (ABI 1.7).
 *
 * This header is the whole contract between the meterd core and a provider
 * plugin.  A plugin includes only this file (plus libc, whatever libraries
 * it links itself, and optionally the helper library meterd/util.h with
 * libmeterd-plugin.a); it never links against daemon symbols - the daemon
 * exports none, and a plugin that needs one fails to load (class "abi").
 * Everything the core offers reaches the plugin through the md_host
 * function table.
 *
 * Versioning rules
 *   - MD_ABI_MAJOR changes only when an existing field or function changes
 *     meaning or position.  The core refuses plugins built for another major.
 *   - MD_ABI_MINOR grows when fields are appended to md_plugin, md_host,
 *     md_metric or md_usage_cell.  Structs are append-only; every versioned struct starts with
 *     its size so either side can tell which fields the other one knows.
 *
 * Lifecycle of one collection (see doc/meterd-plugin.7)
 *   The core runs every collection in a fresh helper process (unless the
 *   operator chose "isolation: inline").  In that process it calls
 *   init() (optional), collect() once, then fini() (optional).  The process
 *   is killed when the provider's timeout expires, so a plugin that hangs or
 *   crashes costs only its own collection.  Plugins should still honour
 *   host->remaining_ms() and stop early: a killed collection reports nothing.
 *
 * Ownership
 *   - Strings and structs the plugin passes to the host are copied by the
 *     host before the call returns; the plugin keeps ownership.
 *   - Strings the host returns (options, state_dir, instance, header values)
 *     are owned by the host and valid until the plugin's callback returns.
 *   - md_http_response objects are owned by the plugin once returned and must
 *     be released with host->http_free().
 *
 * Unknown is not zero
 *   Every number in a metric is an md_num whose zero value means "unknown".
 *   A field the provider did not report must simply be left alone; never
 *   write 0 for "not reported".
 */
#ifndef METERD_PLUGIN_H
#define METERD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MD_ABI_MAJOR 1
#define MD_ABI_MINOR 7

/* The one symbol every plugin exports (see MD_PLUGIN_DEFINE below). */
#define MD_PLUGIN_ENTRY_NAME "meterd_plugin_entry"

#if defined(__GNUC__)
#define MD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MD_EXPORT __attribute__((visibility("default")))
#else
#define MD_PRINTF(fmt, args)
#define MD_EXPORT
#endif

/* ------------------------------------------------------------------ */
/* Values that may be unknown                                          */
/* ------------------------------------------------------------------ */

/* State of one value.  MD_UNKNOWN is 0 so that a zero-initialised field
 * can never be mistaken for a reported 0. */
typedef enum md_state {
    MD_UNKNOWN = 0,        /* the provider did not report it               */
    MD_KNOWN = 1,          /* value holds what the provider reported       */
    MD_NOT_APPLICABLE = 2  /* the concept does not exist for this source   */
} md_state;

/* A number that may be unknown or not applicable.  value is meaningful
 * only when state == MD_KNOWN. */
typedef struct md_num {
    md_state state;
    double value;
} md_num;

/* A point in time (UTC, seconds since the Unix epoch, fractional allowed)
 * that may be unknown or not applicable. */
typedef struct md_time {
    md_state state;
    double epoch;
} md_time;

/* Constructors; plain C99 compound literals, usable in initialisers. */
#define MD_NUM(v) ((md_num){MD_KNOWN, (double)(v)})
#define MD_NUM_NA ((md_num){MD_NOT_APPLICABLE, 0.0})
#define MD_TIME(t) ((md_time){MD_KNOWN, (double)(t)})
#define MD_TIME_NA ((md_time){MD_NOT_APPLICABLE, 0.0})

/* ------------------------------------------------------------------ */
/* Metric records                                                      */
/* ------------------------------------------------------------------ */

/* How a value was obtained.  0 (exact) is the default because a value a
 * provider reports is exact unless the plugin says it inferred it. */
typedef enum md_confidence {
    MD_EXACT = 0,      /* reported by the provider as is                   */
    MD_ESTIMATED = 1   /* inferred (local logs, extrapolation, ...)        */
} md_confidence;

/* One metric as a plugin emits it.  Zero-initialise it ({0}) and set what
 * the provider reported.  The host copies every field and string.
 *
 * Well-known values (free strings: anything else passes through untouched):
 *   kind:  "quota_window", "credits", "budget", "rate_limit", "usage"
 *   unit:  "percent", "tokens", "requests", "usd", "credits", "hours", "tasks"
 *   source:"api", "oauth", "headers", "local_log", "exec"
 */
typedef struct md_metric {
    const char *id;        /* required: stable id, [A-Za-z0-9_.-]{1,64}     */
    const char *label;     /* human label; NULL means "same as id"          */
    const char *kind;      /* required: see above                           */
    const char *unit;      /* NULL means unit unknown                       */
    md_num used;           /* amount consumed in the window / period        */
    md_num limit;          /* size of the allowance                         */
    md_num remaining;      /* what is left; core derives limit-used if both */
    md_num utilization;    /* 0..100 percent used; core derives if possible */
    md_num window_seconds; /* length of a rolling window                    */
    md_time resets_at;     /* when the window / allowance resets            */
    md_confidence confidence;
    const char *source;    /* NULL means the plugin's default_source        */
    md_time collected_at;  /* when the provider measured it; unknown = now  */
    /* ---- ABI 1.4 (a plugin built before it leaves this unknown) ---- */
    md_time expires_at;    /* when what is left lapses (credits, grants)    */
} md_metric;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Error classes, reported with host->fail().  Names in the API are the
 * lower-case strings given in the comments. */
typedef enum md_error {
    MD_ERR_NONE = 0,
    MD_ERR_TIMEOUT,      /* "timeout":      deadline passed (set by core)  */
    MD_ERR_CRASHED,      /* "crashed":      helper died (set by core)      */
    MD_ERR_AUTH,         /* "auth":         missing/invalid credentials    */
    MD_ERR_RATE_LIMITED, /* "rate_limited": provider said 429              */
    MD_ERR_HTTP,         /* "http":         other non-2xx status           */
    MD_ERR_BAD_DATA,     /* "bad_data":     unparseable / invalid payload  */
    MD_ERR_CONFIG,       /* "config":       option problem                 */
    MD_ERR_ABI,          /* "abi":          plugin/core mismatch (core)    */
    MD_ERR_NETWORK,      /* "network":      DNS, connect, TLS, reset       */
    MD_ERR_INTERNAL      /* "internal":     anything else                  */
} md_error;

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

typedef enum md_opt_type {
    MD_OPT_STRING = 1,  /* scalar string                                   */
    MD_OPT_INT,         /* integer (decimal)                               */
    MD_OPT_NUMBER,      /* floating point                                  */
    MD_OPT_BOOL,        /* true/false/yes/no/on/off/1/0                     */
    MD_OPT_DURATION,    /* 250ms, 5s, 2m, 1h                               */
    MD_OPT_LIST,        /* YAML sequence of scalars                        */
    MD_OPT_MAP,         /* YAML mapping of scalar to scalar                */
    MD_OPT_SECRET       /* scalar string that is always redacted; may also
                           be given as NAME_file: /path (mode 0600)        */
} md_opt_type;

/* One entry of a plugin's option table; the table ends with {0}. */
typedef struct md_option {
    const char *name;          /* key in the provider's config section     */
    md_opt_type type;
    int required;              /* non-zero: config error when absent       */
    const char *default_value; /* textual default for scalars, or NULL     */
    const char *help;          /* one line for `meterd -t -v` and docs     */
} md_option;

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

typedef struct md_http_request {
    const char *method;          /* "GET" when NULL                         */
    const char *url;             /* http:// or https:// only                */
    const char *const *headers;  /* "Name: value" strings, NULL-terminated,
                                    or NULL                                 */
    const char *body;            /* request body or NULL                    */
    size_t body_len;
    size_t max_response_bytes;   /* 0: core default (4 MiB); hard cap       */
    long timeout_ms;             /* 0: whatever is left of the deadline; a
                                    larger value is clamped to it           */
} md_http_request;

typedef struct md_http_response {
    long status;                 /* HTTP status, 0 on transport failure     */
    char *body;                  /* NUL-terminated body (may hold NULs)     */
    size_t body_len;
    size_t n_headers;            /* response headers of the final response  */
    char **header_names;         /* lower-cased names                       */
    char **header_values;        /* values, surrounding blanks trimmed      */
    char *error;                 /* transport error text, or NULL           */
    md_error error_class;        /* MD_ERR_NETWORK / TIMEOUT / BAD_DATA
                                    (size cap) on failure, else NONE        */
} md_http_response;

/* ------------------------------------------------------------------ */
/* Host services                                                       */
/* ------------------------------------------------------------------ */

typedef struct md_ctx md_ctx; /* opaque per-collection context (host owned) */

/* Per-turn usage, aggregated (ABI 1.2).  A plugin that reads per-turn
 * telemetry (local CLI logs) sums its deduplicated usage events into cells
 * of 15 minutes (UTC; every real time zone offset is a multiple of 15
 * minutes, so daily reports in any zone are exact) per model, and hands the
 * core its cells with host->put_usage.  The buckets are the disjoint token
 * buckets of doc/providers.md.  A bucket of a cell is known only when every
 * event summed into it reported it: one unknown makes the sum unknown. */
#define MD_USAGE_SLOT_SECONDS 900

typedef struct md_usage_cell {
    double slot_start;         /* epoch seconds, a multiple of 900          */
    const char *model;         /* NULL: unknown model                       */
    md_num tokens_input_uncached;
    md_num tokens_cache_read;
    md_num tokens_cache_write;
    md_num tokens_output;      /* all output, reasoning included            */
    md_num tokens_reasoning;   /* subset of output, informational           */
    md_num tokens_total;
    md_num cost_usd;
    double events;             /* usage events summed into this cell        */
    /* ---- ABI 1.5 (the core reads it only when cell_size covers it; a
     * shorter cell leaves it unknown) ---- */
    md_num tokens_cache_write_1h; /* subset of cache_write written with the
                                     one-hour TTL (billed higher); 0 when
                                     the provider split its writes and
                                     none had that TTL, or when it reports
                                     writes without the split (the
                                     default TTL is five minutes)          */
    /* ---- ABI 1.7 (read only when cell_size covers it) ----
     * The cost of a cell whose events are priced one by one, as ccusage
     * does: some events carry their own cost (old Claude Code lines with
     * costUSD), the others are priced from their tokens, and the long-
     * context tier (MD_USAGE_TIER_TOKENS) applies per event and bucket.
     * cost_usd_own known (0 when no event carried a cost) says the fields
     * below are set: the core then prices the cell as cost_usd_own plus
     * priced_tokens at the model's prices, priced_above at the difference
     * between the above-threshold and the base price.  Left unknown (a
     * plugin built before 1.7 leaves it zero, i.e. unknown), the cell is
     * priced whole from its buckets, as before.  Indices: MD_PRICED_*. */
    md_num cost_usd_own;           /* sum of the events' own costs         */
    double priced_tokens[5];       /* tokens of the events without one     */
    double priced_above[5];        /* of those, per event and bucket, the
                                      tokens beyond MD_USAGE_TIER_TOKENS   */
} md_usage_cell;

/* Indices of md_usage_cell.priced_tokens / priced_above (ABI 1.7): the
 * disjoint buckets a price applies to.  CACHE_WRITE is the writes with the
 * default (five-minute) TTL, CACHE_WRITE_1H those with the one-hour TTL. */
enum { MD_PRICED_INPUT = 0, MD_PRICED_OUTPUT, MD_PRICED_CACHE_WRITE,
       MD_PRICED_CACHE_READ, MD_PRICED_CACHE_WRITE_1H, MD_PRICED_N };

/* Tokens of one bucket of one event beyond which a long-context price
 * applies (Anthropic's 200k tier). */
#define MD_USAGE_TIER_TOKENS 200000

/* Timestamp dialects for host->parse_timestamp (ABI 1.1). */
typedef enum md_ts_dialect {
    MD_TS_AUTO = 0,     /* RFC 3339, HTTP-date, or a number: >= 1e12 epoch
                           ms, >= 1e9 epoch s, else relative seconds      */
    MD_TS_RFC3339,      /* 2026-03-10T14:00:00.282668+00:00 (0-9 digits)  */
    MD_TS_EPOCH_S,      /* 1773151200 (number text, fraction allowed)     */
    MD_TS_EPOCH_MS,     /* 1773151200000                                   */
    MD_TS_EPOCH_S_OR_MS,/* below 1e10 seconds, else milliseconds          */
    MD_TS_RELATIVE_S,   /* seconds from now: "20", "8.5"                   */
    MD_TS_GO_DURATION,  /* from now: "6m0s", "12ms", "1h2m3.5s", "500µs";
                           a bare number counts as seconds                */
    MD_TS_HTTP_DATE     /* "Tue, 10 Mar 2026 14:00:00 GMT"                 */
} md_ts_dialect;

typedef enum md_log_level {
    MD_LOG_ERROR = 0,
    MD_LOG_WARN = 1,
    MD_LOG_INFO = 2,
    MD_LOG_DEBUG = 3
} md_log_level;

typedef struct md_host {
    uint16_t abi_major;     /* == MD_ABI_MAJOR of the running core          */
    uint16_t abi_minor;     /* functions past this minor are absent         */
    uint32_t struct_size;   /* sizeof(md_host) of the running core          */

    /* Log a message under the instance's name.  Secrets are masked. */
    void (*log)(md_ctx *ctx, md_log_level level, const char *fmt, ...)
        MD_PRINTF(3, 4);

    /* The instance name (the provider name in all output).  Host-owned. */
    const char *(*instance)(md_ctx *ctx);

    /* Scalar option as text (defaults applied; secrets resolved).  Returns
     * NULL when the option is unset and has no default.  Host-owned. */
    const char *(*opt_str)(md_ctx *ctx, const char *name);

    /* Typed scalar options.  Return 0 and store the value, or -1 when the
     * option is unset (options were validated before collect()). */
    int (*opt_int)(md_ctx *ctx, const char *name, long long *out);
    int (*opt_number)(md_ctx *ctx, const char *name, double *out);
    int (*opt_bool)(md_ctx *ctx, const char *name, int *out);
    int (*opt_duration_ms)(md_ctx *ctx, const char *name, long long *out);

    /* List option: returns a host-owned array of *count strings, or NULL
     * with *count = 0 when unset. */
    const char *const *(*opt_list)(md_ctx *ctx, const char *name,
                                   size_t *count);

    /* Map option: host-owned parallel arrays of *count keys and values.
     * Returns 0, or -1 when unset. */
    int (*opt_map)(md_ctx *ctx, const char *name, const char *const **keys,
                   const char *const **values, size_t *count);

    /* Milliseconds left before the collection is killed (never negative). */
    long long (*remaining_ms)(md_ctx *ctx);

    /* Wall-clock now, seconds since the epoch (fractional). */
    double (*now)(md_ctx *ctx);

    /* A private directory for this instance (created 0700), host-owned. */
    const char *(*state_dir)(md_ctx *ctx);

    /* Emit one metric; pass sizeof(md_metric) as size (MD_EMIT does).  The
     * host validates it: a non-finite or negative number, or utilization
     * outside 0..100, is rejected for that field (stored as unknown, noted).
     * Returns the number of rejected fields (>= 0), or -1 when the metric
     * itself is invalid (no id or kind) and was dropped. */
    int (*emit_metric)(md_ctx *ctx, const md_metric *metric, size_t size);

    /* Attach a human note to this provider's output. */
    void (*note)(md_ctx *ctx, const char *fmt, ...) MD_PRINTF(2, 3);

    /* Keep the provider's raw payload (JSON text) for include_raw.  The
     * host redacts secrets and credential-like keys.  Last call wins. */
    void (*set_raw)(md_ctx *ctx, const char *json, size_t len);

    /* Mark the collection failed with an error class and message (bounded,
     * secrets masked).  The plugin then returns -1 from collect().  Metrics
     * already emitted in a failed collection are discarded: the last good
     * records stay, marked stale. */
    void (*fail)(md_ctx *ctx, md_error error_class, const char *fmt, ...)
        MD_PRINTF(3, 4);

    /* The provider asked us to wait (e.g. Retry-After): the core will not
     * try again before this many seconds from now. */
    void (*retry_after)(md_ctx *ctx, double seconds);

    /* Register one more secret (e.g. a token read from a credentials file)
     * so that it is masked wherever it might appear. */
    void (*add_secret)(md_ctx *ctx, const char *secret);

    /* Perform an HTTP request with libcurl under the collection deadline.
     * Returns 0 with *out set when a response arrived (any status), or -1
     * with *out set (status 0, error/error_class filled) on transport
     * failure.  *out is plugin-owned: release with http_free(). */
    int (*http)(md_ctx *ctx, const md_http_request *req,
                md_http_response **out);
    void (*http_free)(md_http_response *resp);

    /* Case-insensitive lookup of a response header; host-owned (lives as
     * long as resp), NULL when absent. */
    const char *(*http_header)(const md_http_response *resp,
                               const char *name);

    /* Parse an RFC 3339 timestamp (0-9 fraction digits, Z or +hh:mm).
     * Returns 0 and sets *out, or -1 on malformed input. */
    int (*parse_time)(const char *text, md_time *out);

    /* Parse a number given as JSON number text or numeric string
     * ("18.42", "0E-10", " 5 ").  Returns 0, or -1 when it is not a finite
     * number. */
    int (*parse_number)(const char *text, double *out);

    /* ---- ABI 1.1: check host->abi_minor >= 1 before calling these ---- */

    /* Parse a timestamp in one dialect (relative ones count from now).
     * Returns 0 and sets *out to a known time, or -1 when text does not
     * match the dialect (then *out is left unknown). */
    int (*parse_timestamp)(md_ctx *ctx, const char *text,
                           md_ts_dialect dialect, md_time *out);

    /* Turn rate-limit headers into "rate_limit" / "quota_window" metrics
     * (source "headers") and emit them.  names/values are n parallel
     * strings (header names in any case), e.g. an md_http_response's
     * header_names/header_values, or headers a provider embeds in a JSON
     * error body.  Dialects: OpenAI x-ratelimit-{limit,remaining,reset}-
     * {requests,tokens} (Go durations) -> ratelimit_requests/_tokens;
     * Anthropic anthropic-ratelimit-{requests,tokens,input-tokens,
     * output-tokens}-* (RFC 3339) -> ratelimit_requests/_tokens/
     * _input_tokens/_output_tokens; Anthropic unified
     * anthropic-ratelimit-unified-<w>-{utilization,reset} (0-1 fraction,
     * epoch s) -> five_hour, seven_day, seven_day_sonnet, ...; Codex
     * x-codex-[<limit>-]{primary,secondary}-{used-percent,window-minutes,
     * reset-at,reset-after-seconds} -> five_hour / seven_day (by window
     * length, "<limit>_" prefixed for per-limit families); OpenRouter
     * x-ratelimit-{limit,remaining,reset} (epoch ms) -> ratelimit_requests.
     * id_prefix (may be NULL) is prepended to every id.  When retry_after
     * is not NULL it receives the Retry-After header in seconds (delta or
     * HTTP-date), or -1 when there is none.  Returns the number of metrics
     * emitted. */
    int (*emit_rate_limits)(md_ctx *ctx, const char *const *names,
                            const char *const *values, size_t n,
                            const char *id_prefix, double *retry_after);

    /* Declare a meter the plan expects.  If the collection succeeds and no
     * metric with m->id was emitted, the host emits m as given (normally
     * with every number unknown) and adds note (e.g. "plan max expects
     * seven_day_opus; the provider did not report it").  size is
     * sizeof(md_metric). */
    void (*expect_metric)(md_ctx *ctx, const md_metric *m, size_t size,
                          const char *note);

    /* ---- ABI 1.2: check host->abi_minor >= 2 before calling these ---- */

    /* Replace this provider's stored usage cells whose slot_start >= since
     * by the n cells given (all of them >= since; cell_size is
     * sizeof(md_usage_cell)), and record generation as the plugin's
     * generation of that data.  Call it at most once per collection, with
     * every cell from the earliest slot that changed on (since = 0 for
     * everything).  Applied only when the collection succeeds.  Returns 0,
     * or -1 when a cell is invalid (nothing stored). */
    int (*put_usage)(md_ctx *ctx, const md_usage_cell *cells, size_t n,
                     size_t cell_size, double since,
                     unsigned long long generation);

    /* The generation of this provider's usage cells the core holds (0:
     * none).  When it differs from the plugin's own, the core missed an
     * update (crash, restart, another process): re-send everything with
     * since = 0. */
    unsigned long long (*usage_generation)(md_ctx *ctx);
} md_host;

/* Convenience wrappers that pass the struct size. */
#define MD_EMIT(host, ctx, metric) \
    ((host)->emit_metric((ctx), (metric), sizeof(*(metric))))
#define MD_EXPECT(host, ctx, metric, note) \
    ((host)->expect_metric((ctx), (metric), sizeof(*(metric)), (note)))

/* ------------------------------------------------------------------ */
/* Plugin descriptor                                                   */
/* ------------------------------------------------------------------ */

typedef struct md_plugin {
    uint16_t abi_major;      /* MD_ABI_MAJOR the plugin was built against   */
    uint16_t abi_minor;      /* MD_ABI_MINOR the plugin was built against   */
    uint32_t struct_size;    /* sizeof(md_plugin) at build time             */

    const char *name;        /* plugin name, e.g. "deepseek"                */
    const char *version;     /* plugin version string                       */
    const char *description; /* one line                                    */
    const char *default_source; /* metric source when md_metric.source is
                                   NULL, e.g. "api"                         */
    const md_option *options;   /* option table ending with {0}; NULL = none */

    /* Optional semantic validation of options (after the core checked types
     * and required keys).  Runs inside the daemon process for `meterd -t`
     * and at (re)load: no I/O, no blocking.  Return 0, or -1 after calling
     * host->fail(ctx, MD_ERR_CONFIG, ...). */
    int (*check)(const md_host *host, md_ctx *ctx);

    /* Optional per-collection setup; *state is passed to collect/fini. */
    int (*init)(const md_host *host, md_ctx *ctx, void **state);

    /* Required: collect once, emitting metrics/notes/raw.  Return 0 on
     * success, -1 after host->fail(). */
    int (*collect)(const md_host *host, md_ctx *ctx, void *state);

    /* Optional: release what init allocated. */
    void (*fini)(const md_host *host, md_ctx *ctx, void *state);

    /* ---- ABI 1.1 (the core reads these only when struct_size covers
     * them) ---- */

    /* Interval used when the operator sets none for the provider (0: the
     * config's global interval).  For sources that rate-limit polling. */
    long long default_interval_ms;
    /* Smallest interval the operator may configure (0: no minimum); a
     * smaller one is a config error. */
    long long min_interval_ms;

    /* ---- ABI 1.3 (read only when struct_size covers it) ---- */

    /* What the plugin produces: MD_PRODUCES_* bits.  0, and every plugin
     * built before ABI 1.3, means MD_PRODUCES_METERS only.  A plugin that
     * hands the core usage cells (host->put_usage) sets
     * MD_PRODUCES_USAGE_CELLS: `meterd report daily` runs exactly those
     * providers (and those that already stored cells). */
    uint32_t produces;

    /* ---- ABI 1.6 (read only when struct_size covers it) ---- */

    /* Environment variables the plugin reads (getenv), NULL-terminated;
     * NULL: none.  A helper's environment is scrubbed: it holds PATH,
     * HOME, LANG, LC_*, TZ and exactly these, so one provider's helper
     * never sees another provider's credentials. */
    const char *const *env;
} md_plugin;

/* Bits of md_plugin.produces (ABI 1.3). */
#define MD_PRODUCES_METERS 0x1u      /* metrics through emit_metric        */
#define MD_PRODUCES_USAGE_CELLS 0x2u /* per-turn usage through put_usage   */

/* Signature of the exported entry point. */
typedef const md_plugin *(*md_plugin_entry_fn)(void);

/* Define the entry point for a static descriptor:
 *     static const md_plugin my_plugin = { MD_PLUGIN_HEADER, ... };
 *     MD_PLUGIN_DEFINE(my_plugin)
 */
#define MD_PLUGIN_HEADER MD_ABI_MAJOR, MD_ABI_MINOR, (uint32_t)sizeof(md_plugin)
#define MD_PLUGIN_DEFINE(descriptor)                                      \
    MD_EXPORT const md_plugin *meterd_plugin_entry(void);                 \
    MD_EXPORT const md_plugin *meterd_plugin_entry(void)                  \
    {                                                                     \
        return &(descriptor);                                             \
    }

#ifdef __cplusplus
}
#endif
#endif /* METERD_PLUGIN_H */
