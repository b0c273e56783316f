/* usage.c - the normalised per-turn usage record: lifecycle, JSON form, and
 * one mapping per provider dialect into the disjoint token buckets.
 *
 * The rule everything here serves: unknown is not zero.  A bucket is KNOWN
 * only when the provider reported it, or when it follows arithmetically
 * from reported fields (input - cached); anything missing or doubtful is
 * MD_UNKNOWN, and a concept the source does not have is MD_NOT_APPLICABLE.
 * The field tables per dialect are in doc/usage-dialects.md. */
#include "usage.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "meterd/util.h"
#include "metric.h"
#include "parse.h"
#include "timeutil.h"
#include "unconst.h"

#define UNKNOWN_NUM ((md_num){MD_UNKNOWN, 0.0})
#define UNKNOWN_TIME ((md_time){MD_UNKNOWN, 0.0})

/* ------------------------------------------------------------------ */
/* Field tables (JSON form, not_applicable list, "no usage" check)      */
/* ------------------------------------------------------------------ */

typedef struct field {
    const char *name;
    size_t off;
} field;

static const field STR_FIELDS[] = {
    {"provider", offsetof(usage_record, provider)},
    {"route", offsetof(usage_record, route)},
    {"model", offsetof(usage_record, model)},
    {"source", offsetof(usage_record, source)},
    {"dedup_key", offsetof(usage_record, dedup_key)},
};
#define N_STR_FIELDS (sizeof STR_FIELDS / sizeof STR_FIELDS[0])

/* The seven token buckets first: TOKEN_FIELDS[0..N_TOKEN_FIELDS). */
static const field NUM_FIELDS[] = {
    {"tokens_input_uncached", offsetof(usage_record, tokens_input_uncached)},
    {"tokens_cache_read", offsetof(usage_record, tokens_cache_read)},
    {"tokens_cache_write", offsetof(usage_record, tokens_cache_write)},
    {"tokens_output", offsetof(usage_record, tokens_output)},
    {"tokens_reasoning", offsetof(usage_record, tokens_reasoning)},
    {"tokens_total", offsetof(usage_record, tokens_total)},
    {"tokens_cache_write_1h", offsetof(usage_record, tokens_cache_write_1h)},
    {"cost_usd", offsetof(usage_record, cost_usd)},
};
#define N_NUM_FIELDS (sizeof NUM_FIELDS / sizeof NUM_FIELDS[0])
#define N_TOKEN_FIELDS 7

static const field TIME_FIELDS[] = {
    {"at", offsetof(usage_record, at)},
    {"observed_at", offsetof(usage_record, observed_at)},
};
#define N_TIME_FIELDS (sizeof TIME_FIELDS / sizeof TIME_FIELDS[0])

static char **str_at(usage_record *r, size_t off)
{
    return (char **)(void *)((char *)r + off);
}

static char *const *cstr_at(const usage_record *r, size_t off)
{
    return (char *const *)(const void *)((const char *)r + off);
}

static md_num *num_at(usage_record *r, size_t off)
{
    return (md_num *)(void *)((char *)r + off);
}

static const md_num *cnum_at(const usage_record *r, size_t off)
{
    return (const md_num *)(const void *)((const char *)r + off);
}

static md_time *time_at(usage_record *r, size_t off)
{
    return (md_time *)(void *)((char *)r + off);
}

static const md_time *ctime_at(const usage_record *r, size_t off)
{
    return (const md_time *)(const void *)((const char *)r + off);
}

static int set_err(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

void usage_record_init(usage_record *r)
{
    memset(r, 0, sizeof *r);   /* MD_UNKNOWN == 0, NULL pointers */
}

void usage_record_clear(usage_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < N_STR_FIELDS; i++)
        free(*str_at(r, STR_FIELDS[i].off));
    json_decref(r->raw);
    usage_record_init(r);
}

void usage_record_copy(usage_record *dst, const usage_record *src)
{
    *dst = *src;
    for (size_t i = 0; i < N_STR_FIELDS; i++)
        *str_at(dst, STR_FIELDS[i].off) =
            xstrdup(*cstr_at(src, STR_FIELDS[i].off));
    if (dst->raw)
        json_incref(dst->raw);
}

/* ------------------------------------------------------------------ */
/* Provider numbers                                                    */
/* ------------------------------------------------------------------ */

/* A JSON number or numeric string as a non-negative finite number (the
 * rule of mdu_num); MD_UNKNOWN for NULL, null, booleans, objects,
 * malformed text, non-finite or negative values. */
static md_num json_num(const json_t *v)
{
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else if (!json_is_string(v) ||
             parse_number(json_string_value(v), &d) != 0)
        return UNKNOWN_NUM;
    if (!isfinite(d) || d < 0)
        return UNKNOWN_NUM;
    return MD_NUM(d);
}

/* Follow a dotted path through objects; NULL when a step is missing or not
 * an object.  Borrowed reference. */
static const json_t *jpath(const json_t *root, const char *path)
{
    char key[64];
    const json_t *cur = root;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key || !json_is_object(cur))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return cur;
}

static md_num num_path(const json_t *obj, const char *path)
{
    return json_num(jpath(obj, path));
}

/* Non-empty string at a path, or NULL.  Borrowed. */
static const char *str_path(const json_t *obj, const char *path)
{
    const json_t *v = jpath(obj, path);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s && *s ? s : NULL;
}

/* An RFC 3339 timestamp string at a path; MD_UNKNOWN otherwise. */
static md_time time_path(const json_t *obj, const char *path)
{
    const char *s = str_path(obj, path);
    double t;
    if (!s || rfc3339_parse(s, &t) != 0 || !isfinite(t) || t < 0)
        return UNKNOWN_TIME;
    return MD_TIME(t);
}

/* ------------------------------------------------------------------ */
/* Bucket conversions: the SDK's (core/lib/tokens.c), copied into r     */
/* ------------------------------------------------------------------ */

static void set_buckets(usage_record *r, const mdu_tokens *t)
{
    r->tokens_input_uncached = t->input_uncached;
    r->tokens_cache_read = t->cache_read;
    r->tokens_cache_write = t->cache_write;
    r->tokens_output = t->output;
    r->tokens_reasoning = t->reasoning;
    r->tokens_total = t->total;
}

void usage_set_openai_buckets(usage_record *r, md_num input_incl_cached,
                              md_num cached, md_num output_incl_reasoning,
                              md_num reasoning)
{
    mdu_tokens t = mdu_tokens_openai(input_incl_cached, cached,
                                     output_incl_reasoning, reasoning);
    set_buckets(r, &t);
}

void usage_set_anthropic_buckets(usage_record *r, md_num input_uncached,
                                 md_num cache_read, md_num cache_write,
                                 md_num output)
{
    mdu_tokens t = mdu_tokens_anthropic(input_uncached, cache_read,
                                        cache_write, output);
    set_buckets(r, &t);
}

/* ------------------------------------------------------------------ */
/* API dialects: each maps one usage object (an object, never null)     */
/* ------------------------------------------------------------------ */

/* Where an OpenAI-family dialect keeps its counters.  cache_write is NULL
 * when the dialect has no cache-write counter (then not applicable). */
typedef struct openai_paths {
    const char *input;       /* includes cached (and cache-write) input */
    const char *cached;      /* subset of input                         */
    const char *output;      /* includes reasoning                      */
    const char *reasoning;   /* subset of output                        */
    const char *total;       /* reported total, used as a fallback      */
    const char *cache_write; /* subset of input, optional               */
} openai_paths;

static const openai_paths CHAT_PATHS = {
    "prompt_tokens", "prompt_tokens_details.cached_tokens",
    "completion_tokens", "completion_tokens_details.reasoning_tokens",
    "total_tokens", NULL};

static const openai_paths RESPONSES_PATHS = {
    "input_tokens", "input_tokens_details.cached_tokens", "output_tokens",
    "output_tokens_details.reasoning_tokens", "total_tokens", NULL};

static const openai_paths CODEX_PATHS = {
    "input_tokens", "cached_input_tokens", "output_tokens",
    "reasoning_output_tokens", "total_tokens", "cache_write_input_tokens"};

/* A provider-reported total fills in when the buckets cannot give one. */
static void total_fallback(const json_t *u, const char *path,
                           usage_record *r)
{
    if (r->tokens_total.state != MD_KNOWN)
        r->tokens_total = num_path(u, path);
}

static void map_openai_family(const json_t *u, const openai_paths *p,
                              usage_record *r)
{
    md_num in = num_path(u, p->input), cached = num_path(u, p->cached);
    usage_set_openai_buckets(r, in, cached, num_path(u, p->output),
                             num_path(u, p->reasoning));
    /* Codex's newer cache-write counter: when the key is there it is a
     * subset of input, like cached; absent = not applicable as for the
     * rest of the family.  (That input includes it is our reading of the
     * rollout format, not a documented rule.) */
    const json_t *cw = p->cache_write ? jpath(u, p->cache_write) : NULL;
    if (cw) {
        r->tokens_cache_write = json_num(cw);
        r->tokens_input_uncached =
            mdu_sub(r->tokens_input_uncached, r->tokens_cache_write);
    }
    total_fallback(u, p->total, r);
}

static void map_openai_chat(const json_t *u, usage_record *r)
{
    map_openai_family(u, &CHAT_PATHS, r);
}

static void map_openai_responses(const json_t *u, usage_record *r)
{
    map_openai_family(u, &RESPONSES_PATHS, r);
}

/* OpenRouter: OpenAI chat shape plus "cost" in US dollars. */
static void map_openrouter(const json_t *u, usage_record *r)
{
    map_openai_family(u, &CHAT_PATHS, r);
    r->cost_usd = num_path(u, "cost");
}

/* Anthropic Messages usage; the cache_creation 5m + 1h split, when both
 * parts are usable, replaces cache_creation_input_tokens (the same rule
 * the ccusage tool applies) and gives the one-hour part. */
static void map_anthropic(const json_t *u, usage_record *r)
{
    md_num cw = num_path(u, "cache_creation_input_tokens");
    md_num h1 = num_path(u, "cache_creation.ephemeral_1h_input_tokens");
    md_num split = mdu_add(
        num_path(u, "cache_creation.ephemeral_5m_input_tokens"), h1);
    if (split.state == MD_KNOWN)
        cw = split;
    usage_set_anthropic_buckets(r, num_path(u, "input_tokens"),
                                num_path(u, "cache_read_input_tokens"), cw,
                                num_path(u, "output_tokens"));
    if (split.state == MD_KNOWN)
        r->tokens_cache_write_1h = h1;
}

/* DeepSeek: prompt_cache_hit_tokens (cache read) + prompt_cache_miss_tokens
 * (uncached) = prompt_tokens; OpenAI-compatible otherwise.  Hit/miss win
 * over the OpenAI-style prompt_tokens_details.cached_tokens. */
static void map_deepseek(const json_t *u, usage_record *r)
{
    md_num hit = num_path(u, "prompt_cache_hit_tokens");
    md_num miss = num_path(u, "prompt_cache_miss_tokens");
    md_num cached = hit.state == MD_KNOWN
                        ? hit
                        : num_path(u, "prompt_tokens_details.cached_tokens");
    md_num in = mdu_add(hit, miss);
    if (in.state != MD_KNOWN)
        in = num_path(u, "prompt_tokens");
    usage_set_openai_buckets(
        r, in, cached, num_path(u, "completion_tokens"),
        num_path(u, "completion_tokens_details.reasoning_tokens"));
    if (miss.state == MD_KNOWN)
        r->tokens_input_uncached = miss;
    total_fallback(u, "total_tokens", r);
}

/* Gemini usageMetadata (also accepted: the whole response holding it).
 * promptTokenCount includes cachedContentTokenCount.  Thoughts are NOT
 * part of candidatesTokenCount, so output = candidates + thoughts, and
 * toolUsePromptTokenCount is input on top of promptTokenCount (total =
 * prompt + toolUsePrompt + candidates + thoughts), as the Gemini API
 * documentation describes usageMetadata.  An
 * absent thoughtsTokenCount leaves output unknown: absent is not zero. */
static void map_gemini(const json_t *u, usage_record *r)
{
    const json_t *meta = json_object_get(u, "usageMetadata");
    if (json_is_object(meta))
        u = meta;
    md_num in = num_path(u, "promptTokenCount");
    const json_t *tool = json_object_get(u, "toolUsePromptTokenCount");
    if (tool)
        in = mdu_add(in, json_num(tool));
    md_num thoughts = num_path(u, "thoughtsTokenCount");
    usage_set_openai_buckets(
        r, in, num_path(u, "cachedContentTokenCount"),
        mdu_add(num_path(u, "candidatesTokenCount"), thoughts), thoughts);
    total_fallback(u, "totalTokenCount", r);
}

/* Ollama final /api/chat or /api/generate object: no caching concept, no
 * reasoning counter. */
static void map_ollama(const json_t *u, usage_record *r)
{
    md_num in = num_path(u, "prompt_eval_count");
    md_num out = num_path(u, "eval_count");
    r->tokens_input_uncached = in;
    r->tokens_cache_read = MD_NUM_NA;
    r->tokens_cache_write = MD_NUM_NA;
    r->tokens_output = out;
    r->tokens_reasoning = UNKNOWN_NUM;
    r->tokens_total = mdu_add(in, out);
}

typedef void (*api_mapper)(const json_t *u, usage_record *r);

static const api_mapper API_MAPPERS[USAGE_N_DIALECTS] = {
    [USAGE_OPENAI_CHAT] = map_openai_chat,
    [USAGE_OPENAI_RESPONSES] = map_openai_responses,
    [USAGE_ANTHROPIC_MESSAGES] = map_anthropic,
    [USAGE_DEEPSEEK] = map_deepseek,
    [USAGE_GEMINI] = map_gemini,
    [USAGE_OPENROUTER] = map_openrouter,
    [USAGE_OLLAMA] = map_ollama,
};

/* JSON null: no telemetry (all unknown, raw NULL). */
static int map_api(usage_dialect d, const json_t *u, usage_record *r,
                   const json_t **raw, char **err)
{
    *raw = NULL;
    if (!u || json_is_null(u))
        return 0;
    if (!json_is_object(u))
        return set_err(err, xasprintf("%s usage is not an object",
                                      usage_dialect_name(d)));
    API_MAPPERS[d](u, r);
    *raw = u;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Log-line dialects                                                   */
/* ------------------------------------------------------------------ */

/* The entry of a Claude Code line that carries usage: the line itself
 * (message.usage), or the assistant entry an "agent progress" wrapper
 * nests in data.message (that wrapper shape is not in the test fixtures).
 * Usage objects anywhere else (tool results) are ignored. */
static const json_t *claude_entry(const json_t *line)
{
    if (json_is_object(jpath(line, "message.usage")))
        return line;
    const json_t *e = jpath(line, "data.message");
    if (json_is_object(jpath(e, "message.usage")))
        return e;
    return NULL;
}

/* "<message.id>:<requestId>", "<message.id>", or NULL without an id. */
static char *claude_dedup_key(const json_t *entry)
{
    const char *id = str_path(entry, "message.id");
    const char *req = str_path(entry, "requestId");
    if (!id)
        return NULL;
    return req ? xasprintf("%s:%s", id, req) : xstrdup(id);
}

static int map_claude_line(const json_t *line, usage_record *r,
                           const json_t **raw, char **err)
{
    if (!json_is_object(line))
        return set_err(err, xstrdup("claude-code line is not an object"));
    const json_t *e = claude_entry(line);
    if (!e)
        return set_err(err, xstrdup("no usage in this line"));
    const json_t *u = jpath(e, "message.usage");
    map_anthropic(u, r);
    const char *model = str_path(e, "message.model");
    if (model && strcmp(model, "<synthetic>") != 0)
        r->model = xstrdup(model);   /* "<synthetic>" = no model */
    r->at = time_path(e, "timestamp");
    if (r->at.state != MD_KNOWN)
        r->at = time_path(line, "timestamp");
    r->cost_usd = num_path(e, "costUSD");   /* old (1.0.x) logs only */
    r->dedup_key = claude_dedup_key(e);
    *raw = u;
    return 0;
}

/* Codex: a rollout line {timestamp, type, payload} or its payload; the
 * payload must say type "token_count". */
static int map_codex_event(const json_t *ev, usage_record *r,
                           const json_t **raw, char **err)
{
    if (!json_is_object(ev))
        return set_err(err, xstrdup("codex event is not an object"));
    const json_t *p = json_object_get(ev, "payload");
    if (!json_is_object(p))
        p = ev;
    const char *type = str_path(p, "type");
    if (p != ev && !type)
        type = str_path(ev, "type");   /* session_meta, turn_context, ... */
    if (!type || strcmp(type, "token_count") != 0)
        return set_err(err, xasprintf("not a token_count event (%s)",
                                      type ? type : "no type"));
    const json_t *info = json_object_get(p, "info");
    if (!info || json_is_null(info))
        return set_err(err, xstrdup("no usage in this event"));
    const json_t *last = json_object_get(info, "last_token_usage");
    if (!json_is_object(last))
        return set_err(err, xstrdup("no last_token_usage in this event"));
    map_openai_family(last, &CODEX_PATHS, r);
    const char *model = str_path(p, "model");
    if (!model)
        model = str_path(info, "model");
    r->model = xstrdup(model);   /* usually NULL: turn_context has it */
    r->at = time_path(ev, "timestamp");
    *raw = last;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static const char *const DIALECT_NAMES[USAGE_N_DIALECTS] = {
    [USAGE_OPENAI_CHAT] = "openai",
    [USAGE_OPENAI_RESPONSES] = "openai-responses",
    [USAGE_ANTHROPIC_MESSAGES] = "anthropic",
    [USAGE_DEEPSEEK] = "deepseek",
    [USAGE_GEMINI] = "gemini",
    [USAGE_OPENROUTER] = "openrouter",
    [USAGE_OLLAMA] = "ollama",
    [USAGE_CLAUDE_CODE_LINE] = "claude-code",
    [USAGE_CODEX_TOKEN_COUNT] = "codex",
};

int usage_dialect_from_name(const char *name, usage_dialect *out)
{
    for (int i = 0; name && i < USAGE_N_DIALECTS; i++)
        if (strcmp(DIALECT_NAMES[i], name) == 0) {
            *out = (usage_dialect)i;
            return 0;
        }
    return -1;
}

const char *usage_dialect_name(usage_dialect d)
{
    return (unsigned)d < USAGE_N_DIALECTS ? DIALECT_NAMES[d] : NULL;
}

/* The one-hour part of cache writes where the mapper did not set it: it
 * follows cache_write - not applicable with it, unknown with it, else 0
 * (writes reported without the 5m/1h split used the default five-minute
 * TTL; Anthropic's prompt-caching documentation reports the split for
 * every one-hour write). */
static void default_cache_write_1h(usage_record *r)
{
    if (r->tokens_cache_write_1h.state != MD_UNKNOWN)
        return;
    if (r->tokens_cache_write.state == MD_KNOWN)
        r->tokens_cache_write_1h = MD_NUM(0);
    else if (r->tokens_cache_write.state == MD_NOT_APPLICABLE)
        r->tokens_cache_write_1h = MD_NUM_NA;
}

/* Nothing usable reported: every token bucket unknown, including the ones
 * the dialect would call not applicable (no telemetry is not zero, and
 * not "nothing to report" either). */
static void unknown_when_empty(usage_record *r)
{
    for (size_t i = 0; i < N_TOKEN_FIELDS; i++)
        if (num_at(r, NUM_FIELDS[i].off)->state == MD_KNOWN)
            return;
    for (size_t i = 0; i < N_TOKEN_FIELDS; i++)
        *num_at(r, NUM_FIELDS[i].off) = UNKNOWN_NUM;
}

int usage_from_dialect(usage_dialect d, const json_t *usage_obj,
                       usage_record *out, char **err)
{
    const json_t *raw = NULL;
    int rc;
    usage_record_init(out);
    if (d == USAGE_CLAUDE_CODE_LINE)
        rc = map_claude_line(usage_obj, out, &raw, err);
    else if (d == USAGE_CODEX_TOKEN_COUNT)
        rc = map_codex_event(usage_obj, out, &raw, err);
    else if ((unsigned)d < USAGE_N_DIALECTS)
        rc = map_api(d, usage_obj, out, &raw, err);
    else
        rc = set_err(err, xstrdup("unknown usage dialect"));
    if (rc != 0) {
        usage_record_clear(out);
        return -1;
    }
    default_cache_write_1h(out);
    unknown_when_empty(out);
    out->raw = raw ? json_incref(json_unconst(raw)) : NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON form                                                           */
/* ------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *usage_to_json(const usage_record *r)
{
    json_t *o = json_object(), *na = json_array();
    for (size_t i = 0; i < N_STR_FIELDS; i++)
        json_object_set_new(o, STR_FIELDS[i].name,
                            str_or_null(*cstr_at(r, STR_FIELDS[i].off)));
    for (size_t i = 0; i < N_TIME_FIELDS; i++) {
        const md_time *t = ctime_at(r, TIME_FIELDS[i].off);
        json_object_set_new(o, TIME_FIELDS[i].name, time_to_json(*t));
        if (t->state == MD_NOT_APPLICABLE)
            json_array_append_new(na, json_string(TIME_FIELDS[i].name));
    }
    for (size_t i = 0; i < N_NUM_FIELDS; i++) {
        const md_num *v = cnum_at(r, NUM_FIELDS[i].off);
        json_object_set_new(o, NUM_FIELDS[i].name, num_to_json(*v));
        if (v->state == MD_NOT_APPLICABLE)
            json_array_append_new(na, json_string(NUM_FIELDS[i].name));
    }
    json_object_set_new(o, "raw", r->raw ? json_incref(r->raw) : json_null());
    json_object_set_new(o, "not_applicable", na);
    return o;
}

static int list_has(const json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), name) == 0)
            return 1;
    return 0;
}

/* null/absent -> NULL; string -> copy; anything else -> -1. */
static int str_from_json(const json_t *v, char **out)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* null/absent -> unknown or NA; number -> known unless negative or
 * non-finite (then unknown); anything else -> -1. */
static int num_from_json(const json_t *v, int is_na, md_num *out)
{
    if (!v || json_is_null(v)) {
        *out = is_na ? MD_NUM_NA : UNKNOWN_NUM;
        return 0;
    }
    if (!json_is_number(v))
        return -1;
    *out = json_num(v);
    return 0;
}

/* null/absent -> unknown or NA; RFC 3339 text or epoch seconds. */
static int time_member_from_json(const json_t *v, int is_na, md_time *out)
{
    double t;
    if (!v || json_is_null(v)) {
        *out = is_na ? MD_TIME_NA : UNKNOWN_TIME;
        return 0;
    }
    if (json_is_number(v))
        t = json_number_value(v);
    else if (!json_is_string(v) ||
             rfc3339_parse(json_string_value(v), &t) != 0)
        return -1;
    /* beyond year 9999 the JSON form could not write it back */
    *out = isfinite(t) && t >= 0 && t < RFC3339_END_EPOCH ? MD_TIME(t) : UNKNOWN_TIME;
    return 0;
}

/* Fill *out from obj; returns the name of the first bad key or NULL. */
static const char *fields_from_json(const json_t *obj, const json_t *na,
                                    usage_record *out)
{
    for (size_t i = 0; i < N_STR_FIELDS; i++) {
        const char *k = STR_FIELDS[i].name;
        if (str_from_json(json_object_get(obj, k),
                          str_at(out, STR_FIELDS[i].off)) != 0)
            return k;
    }
    for (size_t i = 0; i < N_NUM_FIELDS; i++) {
        const char *k = NUM_FIELDS[i].name;
        if (num_from_json(json_object_get(obj, k), list_has(na, k),
                          num_at(out, NUM_FIELDS[i].off)) != 0)
            return k;
    }
    for (size_t i = 0; i < N_TIME_FIELDS; i++) {
        const char *k = TIME_FIELDS[i].name;
        if (time_member_from_json(json_object_get(obj, k), list_has(na, k),
                                  time_at(out, TIME_FIELDS[i].off)) != 0)
            return k;
    }
    return NULL;
}

int usage_from_json(const json_t *obj, usage_record *out, char **err)
{
    usage_record_init(out);
    if (!json_is_object(obj))
        return set_err(err, xstrdup("usage record is not an object"));
    const json_t *na = json_object_get(obj, "not_applicable");
    const char *bad = na && !json_is_null(na) && !json_is_array(na)
                          ? "not_applicable"
                          : fields_from_json(obj, na, out);
    if (bad) {
        usage_record_clear(out);
        return set_err(err, xasprintf("usage record: bad \"%s\"", bad));
    }
    const json_t *raw = json_object_get(obj, "raw");
    if (raw && !json_is_null(raw))
        out->raw = json_deep_copy(raw);
    return 0;
}
