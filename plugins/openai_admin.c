/*
 * plugins/openai_admin.c - OpenAI organization usage and costs (Admin API).
 *
 * Source (OpenAI Usage and Costs API reference, [P]):
 *   GET {base_url}/v1/organization/usage/{completions,embeddings,moderations}
 *       ?start_time=<1st of month 00:00 UTC>&bucket_width=1d&limit=31
 *       (option endpoints: which of the three; default all)
 *   GET {base_url}/v1/organization/costs
 *       ?start_time=<1st of month 00:00 UTC>&bucket_width=1d&limit=31
 *   optional, undocumented [C]: GET {base_url}/v1/dashboard/billing/credit_grants
 * Pages are followed through next_page while has_more, at most max_pages
 * per endpoint; a month that does not fit is reported unknown (a partial
 * sum would be a wrong number), with a note.
 *
 * Auth: Admin key (sk-admin-...) from option api_key (secret; ${VAR} or
 * api_key_file), sent as "Authorization: Bearer".  Missing key: auth error
 * and no request.
 *
 * Options: api_key, base_url (https://api.openai.com), credit_grants (bool,
 * default false), max_pages (default 10), endpoints (comma list of the
 * token-bearing usage endpoints to read, default
 * "completions,embeddings,moderations"), reference_time (epoch s; tests
 * and replays only: the "now" that picks today and the month).
 *
 * Mappings (periods: today = bucket start_time >= 00:00 UTC today, month =
 * start_time >= the 1st 00:00 UTC; start_time is epoch seconds):
 *   tokens via mdu_tokens_openai (input counts cached input, output counts
 *   reasoning) summed over buckets, results (models) and pages:
 *     tokens_input_uncached_<p> = input_tokens - input_cached_tokens
 *                                 - input_cache_write_tokens(_12h) if given
 *     tokens_cache_read_<p>     = input_cached_tokens
 *     tokens_cache_write_<p>    = input_cache_write_tokens + _12h (newer
 *                                 fields), else not applicable
 *     tokens_output_<p>         = output_tokens
 *     tokens_reasoning_<p>      = unknown (not broken out by this API)
 *     tokens_total_<p>          = input_tokens + output_tokens
 *   cost_usd_<p> (kind usage, unit usd, used) = sum of amount.value (major
 *   units; numeric strings accepted); another currency is carried through
 *   as cost_<currency>_<p>.
 *   credits_usd (kind credits, unit usd): credit_grants total_available ->
 *   remaining, total_granted -> limit, total_used -> used.
 *   embeddings and moderations results carry input_tokens only (OpenAI's
 *   Usage API reference: input_tokens, num_model_requests and the group-by
 *   ids): they add to tokens_input_uncached_<p> and tokens_total_<p>; the
 *   other buckets are not applicable to them and stay as completions has
 *   them.
 * A period with no bucket at all is unknown; an empty bucket is a real 0.
 * With several endpoints, a period is known only when every endpoint read
 * reported it (one missing day would understate the sum).
 * Scope: images (count), audio speeches (characters), audio
 * transcriptions (seconds), vector stores (bytes) and code interpreter
 * (sessions) have usage endpoints of their own in other units; they are
 * not tokens and are not read (a note says so).  Costs cover every line
 * item.
 * Format drift: members of the page, bucket and result objects that are
 * neither mapped nor knowingly ignored, and mapped members of another
 * type, become "unrecognised field X (format may have changed)" notes
 * (mdu_drift_*); the collection still succeeds.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"

#define OA_DEFAULT_URL "https://api.openai.com"
#define OA_HINT "check api_key: the Admin API needs an Admin key (sk-admin-...), e.g. ${OPENAI_ADMIN_KEY}"
#define OA_MAX_CUR 4
#define OA_ENDPOINTS_DEFAULT "completions,embeddings,moderations"

static const md_option oa_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "OpenAI Admin key, e.g. ${OPENAI_ADMIN_KEY} (or api_key_file)"},
    {"base_url", MD_OPT_STRING, 0, OA_DEFAULT_URL, "API base URL"},
    {"credit_grants", MD_OPT_BOOL, 0, "false",
     "also read the legacy dashboard credit balance (undocumented endpoint)"},
    {"max_pages", MD_OPT_INT, 0, "10", "pages followed per endpoint (1-100)"},
    {"endpoints", MD_OPT_STRING, 0, OA_ENDPOINTS_DEFAULT,
     "token usage endpoints to read: completions, embeddings, moderations "
     "(comma-separated)"},
    {"reference_time", MD_OPT_INT, 0, NULL,
     "epoch seconds used as now for today/month (tests, replays)"},
    {0}
};

/* The token-bearing usage endpoints.  chat: the result has the
 * completions fields (cached input, output); else input_tokens only. */
typedef struct oa_endpoint {
    const char *name;  /* as in the endpoints option     */
    const char *path;
    int chat;
} oa_endpoint;

static const oa_endpoint oa_endpoints[] = {
    {"completions", "/v1/organization/usage/completions", 1},
    {"embeddings", "/v1/organization/usage/embeddings", 0},
    {"moderations", "/v1/organization/usage/moderations", 0},
};
#define OA_N_ENDPOINTS (sizeof oa_endpoints / sizeof oa_endpoints[0])

/* The endpoints option as a bit set over oa_endpoints.  Returns 0, or -1
 * after failing with MD_ERR_CONFIG (unknown name, empty list). */
static int oa_endpoint_set(const md_host *host, md_ctx *ctx, unsigned *set)
{
    const char *opt = host->opt_str(ctx, "endpoints");
    const char *p = opt ? opt : OA_ENDPOINTS_DEFAULT;
    *set = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t b = 0, e = n;
        while (b < e && isspace((unsigned char)p[b]))
            b++;
        while (e > b && isspace((unsigned char)p[e - 1]))
            e--;
        size_t i = 0;
        for (; e > b && i < OA_N_ENDPOINTS; i++)
            if (strlen(oa_endpoints[i].name) == e - b &&
                strncmp(oa_endpoints[i].name, p + b, e - b) == 0)
                break;
        if (e > b && i == OA_N_ENDPOINTS) {
            host->fail(ctx, MD_ERR_CONFIG, "endpoints: unknown '%.*s' "
                       "(expected completions, embeddings, moderations)",
                       (int)(e - b > 40 ? 40 : e - b), p + b);
            return -1;
        }
        if (e > b)
            *set |= 1u << i;
        p += n + (p[n] == ',');
    }
    if (!*set) {
        host->fail(ctx, MD_ERR_CONFIG, "endpoints: name at least one of "
                   "completions, embeddings, moderations");
        return -1;
    }
    return 0;
}

static int oa_check(const md_host *host, md_ctx *ctx)
{
    long long pages;
    unsigned set;
    if (mdu_check_base_url(host, ctx) != 0)
        return -1;
    if (oa_endpoint_set(host, ctx, &set) != 0)
        return -1;
    if (host->opt_int(ctx, "max_pages", &pages) == 0 && (pages < 1 || pages > 100)) {
        host->fail(ctx, MD_ERR_CONFIG, "max_pages must be 1..100, got %lld", pages);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Periods                                                             */
/* ------------------------------------------------------------------ */

typedef struct oa_periods {
    double today;   /* 00:00 UTC today */
    double month;   /* 00:00 UTC on the 1st */
} oa_periods;

static oa_periods periods_at(const md_host *host, md_ctx *ctx)
{
    long long ref;
    double now = host->opt_int(ctx, "reference_time", &ref) == 0 ? (double)ref
                                                                   : host->now(ctx);
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    oa_periods p;
    p.today = (double)timegm(&tm);
    tm.tm_mday = 1;
    p.month = (double)timegm(&tm);
    return p;
}

/* ------------------------------------------------------------------ */
/* Sums that keep unknown and not-applicable apart                     */
/* ------------------------------------------------------------------ */

/* acc + x: unknown wins (one unknown part makes the sum unknown);
 * not applicable contributes nothing. */
static md_num sum_num(md_num acc, md_num x)
{
    if (acc.state == MD_UNKNOWN || x.state == MD_UNKNOWN)
        return (md_num){MD_UNKNOWN, 0};
    if (x.state == MD_NOT_APPLICABLE)
        return acc;
    if (acc.state == MD_NOT_APPLICABLE)
        return x;
    return MD_NUM(acc.value + x.value);
}

/* A period's token sum starts "not applicable" for cache writes (OpenAI
 * only reports them in newer fields) and 0 for the rest. */
static mdu_tokens tokens_zero(void)
{
    mdu_tokens t;
    t.input_uncached = t.cache_read = t.output = t.total = MD_NUM(0);
    t.cache_write = MD_NUM_NA;
    t.reasoning = (md_num){MD_UNKNOWN, 0};
    return t;
}

static void tokens_add(mdu_tokens *acc, const mdu_tokens *x)
{
    acc->input_uncached = sum_num(acc->input_uncached, x->input_uncached);
    acc->cache_read = sum_num(acc->cache_read, x->cache_read);
    acc->cache_write = sum_num(acc->cache_write, x->cache_write);
    acc->output = sum_num(acc->output, x->output);
    acc->total = sum_num(acc->total, x->total);
}

static mdu_tokens tokens_unknown(void)
{
    md_num u = {MD_UNKNOWN, 0};
    mdu_tokens t = {u, u, u, u, u, u};
    return t;
}

/* One usage result -> disjoint buckets.  Cache writes are part of
 * input_tokens in the current docs; when the newer fields carry them they
 * move from "uncached" into cache_write. */
static mdu_tokens result_tokens(const md_host *host, const json_t *r)
{
    /* input_cached_tokens null/absent: cache reads (and so uncached
     * input) are unknown, not 0; the total stays known. */
    mdu_tokens t = mdu_tokens_openai(mdu_num(host, r, "input_tokens"),
                                   mdu_num(host, r, "input_cached_tokens"),
                                   mdu_num(host, r, "output_tokens"),
                                   (md_num){MD_UNKNOWN, 0});
    md_num w5 = mdu_num(host, r, "input_cache_write_tokens");
    md_num w12 = mdu_num(host, r, "input_cache_write_12h_tokens");
    if (w5.state == MD_KNOWN || w12.state == MD_KNOWN) {
        md_num w = MD_NUM((w5.state == MD_KNOWN ? w5.value : 0) +
                          (w12.state == MD_KNOWN ? w12.value : 0));
        t.cache_write = w;
        t.input_uncached = mdu_sub(t.input_uncached, w);
    }
    return t;
}

/* An embeddings or moderations result: input only, nothing cached, no
 * output; the buckets that do not apply add nothing to a sum. */
static mdu_tokens input_only_tokens(const md_host *host, const json_t *r)
{
    md_num in = mdu_num(host, r, "input_tokens");
    mdu_tokens t;
    t.input_uncached = t.total = in;
    t.cache_read = t.cache_write = t.output = MD_NUM_NA;
    t.reasoning = (md_num){MD_UNKNOWN, 0};
    return t;
}

/* ------------------------------------------------------------------ */
/* Collection state                                                    */
/* ------------------------------------------------------------------ */

typedef struct oa_cost {
    char cur[16];          /* lower-case ISO 4217 */
    md_num today, month;
} oa_cost;

typedef struct oa_acc {
    oa_periods p;
    const oa_endpoint *ep;         /* the usage endpoint being read     */
    int seen_today, seen_month;    /* ep had a bucket for the period    */
    int all_today, all_month;      /* every endpoint so far had one     */
    mdu_drift drift;
    mdu_tokens tok_today, tok_month;
    oa_cost cost[OA_MAX_CUR];
    size_t n_cost;
    int cost_today, cost_month;    /* a cost bucket covered the period */
    json_t *raw;                   /* {endpoint path: first page}      */
} oa_acc;

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

/* GET one URL; headers go to the core's rate-limit parser on every
 * response.  soft: a non-2xx or bad body is returned as NULL with a note
 * instead of failing the collection (optional endpoints).  Returns a JSON
 * object (new reference) or NULL. */
static json_t *oa_get(const md_host *host, md_ctx *ctx, const char *url,
                      const char *auth, int soft)
{
    const char *headers[] = {auth, "Accept: application/json", NULL};
    md_http_request req = {0};
    req.url = url;
    req.headers = headers;
    md_http_response *r = NULL;
    json_t *doc = NULL;
    if (host->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        if (soft)
            host->note(ctx, "%s: %s", url, r && r->error ? r->error : "request failed");
        else
            host->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                       "GET %s: %s", url, r && r->error ? r->error : "request failed");
        host->http_free(r);
        return NULL;
    }
    if (host->emit_rate_limits)
        host->emit_rate_limits(ctx, (const char *const *)r->header_names,
                               (const char *const *)r->header_values, r->n_headers,
                               NULL, NULL);
    if (r->status < 200 || r->status > 299) {
        if (soft) {
            char msg[MDU_MAX_MESSAGE];
            mdu_error_message(r, msg, sizeof msg);
            host->note(ctx, "credit grants unavailable: HTTP %ld%s%s", r->status,
                       msg[0] ? ": " : "", msg);
        } else {
            mdu_fail_status(host, ctx, r, OA_HINT);
        }
    } else {
        json_error_t je;
        doc = json_loadb(r->body, r->body_len, 0, &je);
        if (!json_is_object(doc)) {
            if (soft)
                host->note(ctx, "credit grants: response is not a JSON object");
            else
                host->fail(ctx, MD_ERR_BAD_DATA, "%s: %s", url,
                           doc ? "expected a JSON object" : je.text);
            json_decref(doc);
            doc = NULL;
        }
    }
    host->http_free(r);
    return doc;
}

/* Cursor text safe for a query string: anything outside the unreserved
 * set is percent-encoded. */
static void url_escape(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

typedef void (*oa_bucket_fn)(const md_host *host, md_ctx *ctx, oa_acc *acc,
                             const json_t *bucket);

/* ------------------------------------------------------------------ */
/* Format drift                                                        */
/* ------------------------------------------------------------------ */

static void drift_page(mdu_drift *d, const json_t *doc)
{
    static const char *const page_known[] = {"object", "data", "has_more",
                                             "next_page", NULL};
    mdu_drift_keys(d, doc, NULL, page_known);
    mdu_drift_type(d, doc, NULL, "data", MDU_DRIFT_ARR);
    mdu_drift_type(d, doc, NULL, "has_more", MDU_DRIFT_BOOL);
    mdu_drift_type(d, doc, NULL, "next_page", MDU_DRIFT_STR);
}

static void drift_bucket(mdu_drift *d, const json_t *b)
{
    static const char *const bucket_known[] = {
        "object", "start_time", "end_time", "start_time_iso", "end_time_iso",
        "results", NULL};
    mdu_drift_keys(d, b, "data[]", bucket_known);
    mdu_drift_type(d, b, "data[]", "start_time", MDU_DRIFT_NUM);
    mdu_drift_type(d, b, "data[]", "results", MDU_DRIFT_ARR);
}

/* Members every usage result may carry: the group-by ids. */
#define OA_GROUP_KEYS "object", "num_model_requests", "project_id", \
    "user_id", "api_key_id", "model"

static void drift_usage_result(mdu_drift *d, const json_t *r, int chat)
{
    static const char *const chat_known[] = {
        OA_GROUP_KEYS, "input_tokens", "output_tokens", "input_cached_tokens",
        "input_audio_tokens", "output_audio_tokens", "input_cache_write_tokens",
        "input_cache_write_12h_tokens", "batch", "service_tier", NULL};
    static const char *const input_known[] = {OA_GROUP_KEYS, "input_tokens",
                                              NULL};
    static const char *const nums[] = {"input_tokens", "output_tokens",
        "input_cached_tokens", "input_cache_write_tokens",
        "input_cache_write_12h_tokens", NULL};
    const char *prefix = "data[].results[]";
    mdu_drift_keys(d, r, prefix, chat ? chat_known : input_known);
    for (size_t k = 0; nums[k]; k++)
        mdu_drift_type(d, r, prefix, nums[k], MDU_DRIFT_NUM);
}

static void drift_cost_result(mdu_drift *d, const json_t *r)
{
    static const char *const known[] = {"object", "amount", "line_item",
                                        "project_id", "organization_id",
                                        NULL};
    static const char *const amount_known[] = {"value", "currency", NULL};
    mdu_drift_keys(d, r, "data[].results[]", known);
    mdu_drift_type(d, r, "data[].results[]", "amount", MDU_DRIFT_OBJ);
    mdu_drift_keys(d, json_object_get(r, "amount"), "data[].results[].amount",
                   amount_known);
    mdu_drift_type(d, json_object_get(r, "amount"), "data[].results[].amount",
                   "value", MDU_DRIFT_NUM);
    mdu_drift_type(d, json_object_get(r, "amount"), "data[].results[].amount",
                   "currency", MDU_DRIFT_STR);
}

/* Walk every page of one endpoint, calling fn for each bucket.  Returns 1
 * when all pages were read, 0 when max_pages ran out, -1 after fail(). */
static int walk_pages(const md_host *host, md_ctx *ctx, const char *path,
                      const char *auth, oa_acc *acc, oa_bucket_fn fn)
{
    long long max_pages = 10;
    host->opt_int(ctx, "max_pages", &max_pages);
    char *base = mdu_url(host, ctx, path);
    char cursor[512] = "";
    int done = 0;
    for (long long page = 0; base && page < max_pages && !done; page++) {
        char *url = NULL;
        if (asprintf(&url, "%s?start_time=%.0f&bucket_width=1d&limit=31%s%s", base,
                     acc->p.month, cursor[0] ? "&page=" : "", cursor) < 0) {
            url = NULL;
            break;
        }
        json_t *doc = oa_get(host, ctx, url, auth, 0);
        free(url);
        if (!doc) {
            free(base);
            return -1;
        }
        if (page == 0)   /* include_raw: the first page of each endpoint */
            json_object_set(acc->raw, path, doc);
        drift_page(&acc->drift, doc);
        size_t i;
        json_t *b;
        json_array_foreach(mdu_path(doc, "data"), i, b)
            fn(host, ctx, acc, b);
        const char *next = mdu_str(doc, "next_page");
        done = mdu_bool(doc, "has_more") != 1 || !next || !*next;
        if (!done)
            url_escape(next, cursor, sizeof cursor);
        json_decref(doc);
    }
    if (!base) {
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    free(base);
    if (!done)
        host->note(ctx, "%s: more than %lld pages; month totals unknown", path,
                   max_pages);
    return done;
}

/* ------------------------------------------------------------------ */
/* Buckets                                                             */
/* ------------------------------------------------------------------ */

/* Which periods a bucket counts for: bit 1 today, bit 2 month; 0 when its
 * start_time is unknown or before the month (a bucket the API sent beyond
 * our start_time is not ours to count). */
static int bucket_periods(const md_host *host, md_ctx *ctx, const oa_acc *acc,
                          const json_t *b)
{
    md_time st = mdu_time(host, ctx, b, "start_time", MD_TS_EPOCH_S);
    if (st.state != MD_KNOWN) {
        host->note(ctx, "bucket without a usable start_time; skipped");
        return 0;
    }
    if (st.epoch < acc->p.month)
        return 0;
    return 2 | (st.epoch >= acc->p.today ? 1 : 0);
}

static void usage_bucket(const md_host *host, md_ctx *ctx, oa_acc *acc,
                         const json_t *b)
{
    drift_bucket(&acc->drift, b);
    int per = bucket_periods(host, ctx, acc, b);
    if (!per)
        return;
    acc->seen_month = 1;
    acc->seen_today |= per & 1;
    size_t i;
    json_t *r;
    json_array_foreach(mdu_path(b, "results"), i, r) {
        drift_usage_result(&acc->drift, r, acc->ep->chat);
        mdu_tokens t = acc->ep->chat ? result_tokens(host, r)
                                     : input_only_tokens(host, r);
        tokens_add(&acc->tok_month, &t);
        if (per & 1)
            tokens_add(&acc->tok_today, &t);
    }
}

/* The accumulator for a currency (lower-cased), or NULL when too many. */
static oa_cost *cost_slot(oa_acc *acc, const char *cur)
{
    char lc[16];
    size_t n = 0;
    for (; cur[n] && n + 1 < sizeof lc; n++)
        lc[n] = (char)tolower((unsigned char)cur[n]);
    lc[n] = '\0';
    for (size_t i = 0; i < acc->n_cost; i++)
        if (strcmp(acc->cost[i].cur, lc) == 0)
            return &acc->cost[i];
    if (acc->n_cost == OA_MAX_CUR)
        return NULL;
    oa_cost *c = &acc->cost[acc->n_cost++];
    memcpy(c->cur, lc, n + 1);
    c->today = c->month = MD_NUM(0);
    return c;
}

static int valid_currency(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalpha((unsigned char)s[i]))
            return 0;
    return 1;
}

static void cost_bucket(const md_host *host, md_ctx *ctx, oa_acc *acc,
                        const json_t *b)
{
    drift_bucket(&acc->drift, b);
    int per = bucket_periods(host, ctx, acc, b);
    if (!per)
        return;
    acc->cost_month = 1;
    acc->cost_today |= per & 1;
    size_t i;
    json_t *r;
    json_array_foreach(mdu_path(b, "results"), i, r) {
        drift_cost_result(&acc->drift, r);
        const char *cur = mdu_str(r, "amount.currency");
        oa_cost *c = cost_slot(acc, cur && valid_currency(cur) ? cur : "usd");
        if (!c) {
            host->note(ctx, "cost in too many currencies; %s ignored", cur);
            continue;
        }
        md_num v = mdu_num(host, r, "amount.value");
        if (v.state != MD_KNOWN)
            host->note(ctx, "cost result without a usable amount.value; "
                       "%s totals unknown", c->cur);
        c->month = sum_num(c->month, v);
        if (per & 1)
            c->today = sum_num(c->today, v);
    }
}

/* ------------------------------------------------------------------ */
/* Emitting                                                            */
/* ------------------------------------------------------------------ */

static void emit_costs(const md_host *host, md_ctx *ctx, oa_acc *acc, int complete)
{
    cost_slot(acc, "usd");   /* USD is always reported, 0 when unused */
    for (size_t i = 0; i < acc->n_cost; i++) {
        oa_cost *c = &acc->cost[i];
        for (int today = 1; today >= 0; today--) {
            char id[48], label[64];
            snprintf(id, sizeof id, "cost_%s_%s", c->cur, today ? "today" : "month");
            snprintf(label, sizeof label, "OpenAI cost %s (%s)",
                     today ? "today" : "this month", c->cur);
            md_metric m = {0};
            m.id = id;
            m.label = label;
            m.kind = "usage";
            m.unit = c->cur;
            int seen = today ? acc->cost_today : acc->cost_month;
            if (complete && seen)
                m.used = today ? c->today : c->month;
            MD_EMIT(host, ctx, &m);
        }
    }
}

static void emit_token_periods(const md_host *host, md_ctx *ctx, const oa_acc *acc,
                               int complete)
{
    mdu_tokens unk = tokens_unknown();
    const mdu_tokens *today = complete && acc->all_today ? &acc->tok_today : &unk;
    const mdu_tokens *month = complete && acc->all_month ? &acc->tok_month : &unk;
    mdu_emit_tokens(host, ctx, today, "today", "today", MD_EXACT);
    mdu_emit_tokens(host, ctx, month, "month", "this month", MD_EXACT);
    if (complete && !acc->all_today)
        host->note(ctx, "no usage bucket for today yet; today's tokens unknown");
}

/* Legacy dashboard credit balance (optional, [C]); failures only note. */
static void credit_grants(const md_host *host, md_ctx *ctx, const char *auth,
                          oa_acc *acc)
{
    char *url = mdu_url(host, ctx, "/v1/dashboard/billing/credit_grants");
    json_t *doc = url ? oa_get(host, ctx, url, auth, 1) : NULL;
    free(url);
    if (!doc)
        return;
    json_object_set(acc->raw, "/v1/dashboard/billing/credit_grants", doc);
    md_metric m = {0};
    m.id = "credits_usd";
    m.label = "OpenAI credit grants balance";
    m.kind = "credits";
    m.unit = "usd";
    m.remaining = mdu_num(host, doc, "total_available");
    m.limit = mdu_num(host, doc, "total_granted");
    m.used = mdu_num(host, doc, "total_used");
    MD_EMIT(host, ctx, &m);
    json_decref(doc);
}

/* ------------------------------------------------------------------ */
/* collect()                                                           */
/* ------------------------------------------------------------------ */

/* Every selected usage endpoint in turn.  Returns 1 when all were read
 * whole, 0 when one ran out of pages, -1 after fail(). */
static int walk_usage(const md_host *host, md_ctx *ctx, const char *auth,
                      oa_acc *acc, unsigned set, char *names, size_t cap)
{
    int complete = 1;
    size_t used = 0;
    names[0] = '\0';
    acc->all_today = acc->all_month = 1;
    for (size_t i = 0; i < OA_N_ENDPOINTS; i++) {
        if (!(set & (1u << i)))
            continue;
        acc->ep = &oa_endpoints[i];
        acc->seen_today = acc->seen_month = 0;
        int rc = walk_pages(host, ctx, acc->ep->path, auth, acc, usage_bucket);
        if (rc < 0)
            return -1;
        complete &= rc;
        acc->all_today &= acc->seen_today;
        acc->all_month &= acc->seen_month;
        int n = snprintf(names + used, cap - used, "%s%s", used ? ", " : "",
                         acc->ep->name);
        if (n > 0 && (size_t)n < cap - used)
            used += (size_t)n;
    }
    return complete;
}

static int oa_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    unsigned set;
    if (oa_check(host, ctx) != 0 || oa_endpoint_set(host, ctx, &set) != 0)
        return -1;
    const char *key = mdu_api_key(host, ctx, "${OPENAI_ADMIN_KEY}");
    if (!key)
        return -1;
    char *auth = NULL;
    if (asprintf(&auth, "Authorization: Bearer %s", key) < 0) {
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    oa_acc acc;
    memset(&acc, 0, sizeof acc);
    acc.p = periods_at(host, ctx);
    acc.tok_today = acc.tok_month = tokens_zero();
    acc.raw = json_object();
    mdu_drift_init(&acc.drift, host, ctx);
    int rc = -1;
    char names[64];
    int tok = walk_usage(host, ctx, auth, &acc, set, names, sizeof names);
    int cost = tok < 0 ? -1 : walk_pages(host, ctx, "/v1/organization/costs",
                                         auth, &acc, cost_bucket);
    if (tok >= 0 && cost >= 0) {
        int grants = 0;
        if (host->opt_bool(ctx, "credit_grants", &grants) == 0 && grants)
            credit_grants(host, ctx, auth, &acc);
        emit_token_periods(host, ctx, &acc, tok);
        /* images, audio, vector stores and code interpreter are counted
         * in other units by endpoints of their own; costs cover all */
        host->note(ctx, "tokens_* count %s usage (images, audio, vector "
                   "stores and code interpreter are not tokens and not "
                   "included); cost_usd_* covers everything", names);
        emit_costs(host, ctx, &acc, cost);
        char *raw = json_dumps(acc.raw, JSON_COMPACT);
        if (raw)
            host->set_raw(ctx, raw, strlen(raw));
        free(raw);
        rc = 0;
    }
    mdu_drift_release(&acc.drift, rc == 0);
    json_decref(acc.raw);
    free(auth);
    return rc;
}

static const md_plugin oa_plugin = {
    MD_PLUGIN_HEADER,
    "openai_admin",
    "0.1.0",
    "OpenAI organization usage (tokens) and costs (Admin API)",
    "api",
    oa_options,
    oa_check,
    NULL,
    oa_collect,
    NULL,
    300000, /* daily buckets change slowly: 5 min is plenty            */
    0,
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(oa_plugin)
