/*
 * plugins/anthropic_admin.c - Anthropic Admin API: organisation token usage
 * and cost for today and the current month (Anthropic Admin API reference).
 *
 * Source [P]:
 *   GET {base_url}/v1/organizations/usage_report/messages
 *       ?starting_at=<1st of month 00:00Z>&bucket_width=1d&limit=31[&page=]
 *   GET {base_url}/v1/organizations/cost_report
 *       ?starting_at=<1st of month 00:00Z>&bucket_width=1d&limit=31[&page=]
 *   Both: {"data":[{"starting_at","ending_at","results":[...]}],
 *          "has_more": bool, "next_page": cursor|null}; pages are followed
 *   while has_more, at most max_pages each (then the totals are unknown:
 *   a partial sum would understate them).
 *
 * Auth: option api_key (an Admin key, sk-ant-admin01-...; MD_OPT_SECRET,
 * e.g. ${ANTHROPIC_ADMIN_KEY}) sent as x-api-key with anthropic-version.
 * No key -> auth, without a request.
 *
 * Periods (UTC, buckets snap to UTC days): month = buckets starting at or
 * after the 1st 00:00Z (and not in the future), today = those starting at
 * or after today 00:00Z.  A period no bucket covers is unknown; a bucket
 * with empty results counts as 0 (the provider reported the day).
 *
 * Mapping (Anthropic reports the buckets disjointly, mdu_tokens_anthropic):
 *   uncached_input_tokens                       -> tokens_input_uncached_*
 *   cache_read_input_tokens                     -> tokens_cache_read_*
 *   cache_creation.ephemeral_5m + _1h           -> tokens_cache_write_*
 *   output_tokens (thinking included)           -> tokens_output_*
 *   reasoning: never broken out                 -> tokens_reasoning_* unknown
 *   total = the four summed                     -> tokens_total_*
 *   cost_report amount (decimal string, CENTS)  -> cost_usd_today/_month,
 *     kind usage, unit usd, /100 (mdu_minor_to_major).
 *     Anthropic documents that the cost report excludes Priority Tier
 *     costs: a note says so on every collection.
 *
 * Option api: legacy (default) reads the two reports above, which
 * Anthropic's Admin API reference now marks "Legacy".  api: analytics
 * reads the documented analytics reports instead:
 *   GET {base_url}/v1/organizations/analytics/usage_report   (same query)
 *   GET {base_url}/v1/organizations/analytics/cost_report
 * Anthropic documents them ("Get Token Usage Over Time", "Get Cost Over
 * Time") for organisations on a Claude Enterprise plan, with a key that
 * has the read:analytics scope; a Console admin key is refused (auth).
 * Their pages have the same shape (data[] of buckets with starting_at,
 * ending_at, results[]; has_more, next_page), the usage rows the same
 * token fields, the cost rows amount in fractional cents as a decimal
 * string with currency USD; both add organization_id and
 * data_refreshed_at, the export the page was served from.  A null
 * data_refreshed_at means no export covers the range yet: every bucket
 * is empty then, so the period is unknown, not 0 (noted).  The analytics
 * cost has no Priority Tier exclusion documented, so that note is only
 * made for the legacy report.  The newer Usage and Cost Analytics API
 * (/v1/organizations/analytics/{usage,cost}, a beta header) that
 * Anthropic recommends to Console organisations is not read: its row
 * format was not found documented well enough to map.
 *
 * Format drift: members of the page, bucket, row and cache_creation
 * objects that are neither mapped nor knowingly ignored, and mapped
 * members of another type, become "unrecognised field X (format may have
 * changed)" notes (mdu_drift_*); the collection still succeeds.
 * Response headers -> host->emit_rate_limits (anthropic-ratelimit-*).
 * Errors: standard Anthropic body {"error":{"message"}}; 401/403 auth (a
 * normal API key gets 401), 429 rate_limited + Retry-After, else http.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"

#define AA_DEFAULT_URL "https://api.anthropic.com"
#define AA_VERSION "2023-06-01"
#define AA_PAGES_DEFAULT 5
#define AA_PAGES_MAX 50
#define AA_DAY 86400.0
#define AA_KEY_HINT "the Admin API needs an admin key (sk-ant-admin01-...)"

static const md_option aa_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "Admin API key, e.g. ${ANTHROPIC_ADMIN_KEY} (or api_key_file)"},
    {"base_url", MD_OPT_STRING, 0, AA_DEFAULT_URL, "API base URL"},
    {"anthropic_version", MD_OPT_STRING, 0, AA_VERSION,
     "anthropic-version header"},
    {"max_pages", MD_OPT_INT, 0, "5",
     "pages followed per report (1-50); beyond it the totals are unknown"},
    {"api", MD_OPT_STRING, 0, "legacy",
     "legacy: usage_report/messages + cost_report (Admin key); analytics: "
     "analytics/usage_report + cost_report (Enterprise, read:analytics key)"},
    {0}
};

typedef struct aa_period {
    int seen;          /* a bucket covered this period */
    mdu_tokens tok;     /* summed over the period's buckets */
    md_num cents;      /* cost, minor units */
} aa_period;

typedef struct aa_acc {
    double month_start, today_start, now;
    aa_period today, month;
    int cost_seen_today, cost_seen_month;
    int usage_complete, cost_complete;
    int analytics;     /* api: analytics                  */
    mdu_drift drift;
} aa_acc;

/* The two reports of each api. */
typedef struct aa_api {
    const char *name;
    const char *usage_path, *cost_path;
} aa_api;

static const aa_api aa_apis[] = {
    {"legacy", "/v1/organizations/usage_report/messages",
     "/v1/organizations/cost_report"},
    {"analytics", "/v1/organizations/analytics/usage_report",
     "/v1/organizations/analytics/cost_report"},
};

/* The api option; NULL for an unknown name. */
static const aa_api *aa_api_of(const md_host *h, md_ctx *ctx)
{
    const char *v = h->opt_str(ctx, "api");
    if (!v || !*v)
        v = "legacy";
    for (size_t i = 0; i < sizeof aa_apis / sizeof aa_apis[0]; i++)
        if (strcmp(v, aa_apis[i].name) == 0)
            return &aa_apis[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* check()                                                             */
/* ------------------------------------------------------------------ */

static long long aa_max_pages(const md_host *h, md_ctx *ctx)
{
    long long n;
    return h->opt_int(ctx, "max_pages", &n) == 0 ? n : AA_PAGES_DEFAULT;
}

static int aa_check(const md_host *h, md_ctx *ctx)
{
    if (mdu_check_base_url(h, ctx) != 0)
        return -1;
    long long n = aa_max_pages(h, ctx);
    if (n < 1 || n > AA_PAGES_MAX) {
        h->fail(ctx, MD_ERR_CONFIG, "max_pages: expected 1..%d, got %lld",
                AA_PAGES_MAX, n);
        return -1;
    }
    if (!aa_api_of(h, ctx)) {
        h->fail(ctx, MD_ERR_CONFIG, "api: expected legacy or analytics, got "
                "'%.40s'", h->opt_str(ctx, "api"));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Format drift                                                        */
/* ------------------------------------------------------------------ */

/* Dimensions a row may carry when grouped (either api), knowingly not
 * mapped: the totals sum over them. */
#define AA_DIMENSIONS "api_key_id", "workspace_id", "model", "service_tier", \
    "context_window", "inference_geo", "account_id", "service_account_id", \
    "speed", "product", "rbac_group_id", "slack_channel_id", "requests"

static void aa_drift_page(mdu_drift *d, const json_t *doc)
{
    static const char *const known[] = {"data", "has_more", "next_page",
        "data_refreshed_at", "organization_id", NULL};
    mdu_drift_keys(d, doc, NULL, known);
    mdu_drift_type(d, doc, NULL, "has_more", MDU_DRIFT_BOOL);
    mdu_drift_type(d, doc, NULL, "next_page", MDU_DRIFT_STR);
    mdu_drift_type(d, doc, NULL, "data_refreshed_at", MDU_DRIFT_STR);
}

static void aa_drift_bucket(mdu_drift *d, const json_t *b)
{
    static const char *const known[] = {"starting_at", "ending_at", "results",
                                        NULL};
    mdu_drift_keys(d, b, "data[]", known);
    mdu_drift_type(d, b, "data[]", "starting_at", MDU_DRIFT_STR);
    mdu_drift_type(d, b, "data[]", "results", MDU_DRIFT_ARR);
}

static void aa_drift_usage_row(mdu_drift *d, const json_t *row)
{
    static const char *const known[] = {AA_DIMENSIONS,
        "uncached_input_tokens", "cache_creation", "cache_creation_input_tokens",
        "cache_read_input_tokens", "output_tokens", "server_tool_use", NULL};
    static const char *const cc_known[] = {"ephemeral_5m_input_tokens",
                                           "ephemeral_1h_input_tokens", NULL};
    static const char *const nums[] = {"uncached_input_tokens",
        "cache_creation_input_tokens", "cache_read_input_tokens",
        "output_tokens", NULL};
    const char *p = "data[].results[]";
    mdu_drift_keys(d, row, p, known);
    for (size_t k = 0; nums[k]; k++)
        mdu_drift_type(d, row, p, nums[k], MDU_DRIFT_NUM);
    mdu_drift_type(d, row, p, "cache_creation", MDU_DRIFT_OBJ);
    const json_t *cc = json_object_get(row, "cache_creation");
    mdu_drift_keys(d, cc, "data[].results[].cache_creation", cc_known);
    for (size_t k = 0; cc_known[k]; k++)
        mdu_drift_type(d, cc, "data[].results[].cache_creation", cc_known[k],
                       MDU_DRIFT_NUM);
}

static void aa_drift_cost_row(mdu_drift *d, const json_t *row)
{
    static const char *const known[] = {AA_DIMENSIONS, "currency", "amount",
        "list_amount", "description", "cost_type", "token_type", NULL};
    mdu_drift_keys(d, row, "data[].results[]", known);
    mdu_drift_type(d, row, "data[].results[]", "amount", MDU_DRIFT_NUM);
    mdu_drift_type(d, row, "data[].results[]", "currency", MDU_DRIFT_STR);
}

/* ------------------------------------------------------------------ */
/* Sums                                                                */
/* ------------------------------------------------------------------ */

static mdu_tokens aa_tokens_add(mdu_tokens a, mdu_tokens b)
{
    return mdu_tokens_anthropic(mdu_add(a.input_uncached, b.input_uncached),
                               mdu_add(a.cache_read, b.cache_read),
                               mdu_add(a.cache_write, b.cache_write),
                               mdu_add(a.output, b.output));
}

/* Cache writes: the 5m + 1h split, or a flat cache_creation_input_tokens
 * (older shape [U]). */
static md_num aa_cache_write(const md_host *h, const json_t *row)
{
    if (json_is_object(json_object_get(row, "cache_creation")))
        return mdu_add(mdu_num(h, row, "cache_creation.ephemeral_5m_input_tokens"),
                      mdu_num(h, row, "cache_creation.ephemeral_1h_input_tokens"));
    return mdu_num(h, row, "cache_creation_input_tokens");
}

/* One bucket's rows summed; an empty bucket is a reported zero. */
static mdu_tokens aa_bucket_tokens(const md_host *h, const json_t *results)
{
    mdu_tokens t = mdu_tokens_anthropic(MD_NUM(0), MD_NUM(0), MD_NUM(0),
                                      MD_NUM(0));
    size_t i;
    json_t *row;
    if (!json_is_array(results))
        return mdu_tokens_anthropic((md_num){0}, (md_num){0}, (md_num){0},
                                   (md_num){0});
    json_array_foreach(results, i, row) {
        mdu_tokens r = mdu_tokens_anthropic(
            mdu_num(h, row, "uncached_input_tokens"),
            mdu_num(h, row, "cache_read_input_tokens"), aa_cache_write(h, row),
            mdu_num(h, row, "output_tokens"));
        t = aa_tokens_add(t, r);
    }
    return t;
}

/* One bucket's cost in cents; non-USD rows make it unknown (noted). */
static md_num aa_bucket_cents(const md_host *h, md_ctx *ctx,
                              const json_t *results)
{
    md_num sum = MD_NUM(0);
    size_t i;
    json_t *row;
    if (!json_is_array(results))
        return (md_num){MD_UNKNOWN, 0};
    json_array_foreach(results, i, row) {
        const char *cur = mdu_str(row, "currency");
        md_num amt = mdu_num(h, row, "amount");
        if (cur && strcasecmp(cur, "USD") != 0) {
            h->note(ctx, "cost_report row in %.8s, not USD; cost unknown", cur);
            amt = (md_num){MD_UNKNOWN, 0};
        } else if (amt.state != MD_KNOWN) {
            h->note(ctx, "cost_report row without a usable amount; cost "
                    "unknown");
        }
        sum = mdu_add(sum, amt);
    }
    return sum;
}

/* Which periods a bucket belongs to: bit 1 month, bit 2 today; 0 when it
 * lies outside the month (not ours to count) or has no usable start. */
static int aa_periods(const md_host *h, md_ctx *ctx, const aa_acc *a,
                      const json_t *bucket)
{
    md_time st = mdu_time(h, ctx, bucket, "starting_at", MD_TS_RFC3339);
    if (st.state != MD_KNOWN) {
        h->note(ctx, "bucket without a usable starting_at; skipped");
        return 0;
    }
    if (st.epoch < a->month_start || st.epoch > a->now)
        return 0;
    return 1 | (st.epoch >= a->today_start ? 2 : 0);
}

static void aa_add_tokens(aa_period *p, mdu_tokens t)
{
    p->tok = p->seen ? aa_tokens_add(p->tok, t) : t;
    p->seen = 1;
}

static void aa_usage_buckets(const md_host *h, md_ctx *ctx, aa_acc *a,
                             const json_t *data)
{
    size_t i, k;
    json_t *b, *row;
    json_array_foreach(data, i, b) {
        aa_drift_bucket(&a->drift, b);
        json_array_foreach(json_object_get(b, "results"), k, row)
            aa_drift_usage_row(&a->drift, row);
        int per = aa_periods(h, ctx, a, b);
        if (!per)
            continue;
        mdu_tokens t = aa_bucket_tokens(h, json_object_get(b, "results"));
        aa_add_tokens(&a->month, t);
        if (per & 2)
            aa_add_tokens(&a->today, t);
    }
}

static void aa_cost_buckets(const md_host *h, md_ctx *ctx, aa_acc *a,
                            const json_t *data)
{
    size_t i, k;
    json_t *b, *row;
    json_array_foreach(data, i, b) {
        aa_drift_bucket(&a->drift, b);
        json_array_foreach(json_object_get(b, "results"), k, row)
            aa_drift_cost_row(&a->drift, row);
        int per = aa_periods(h, ctx, a, b);
        if (!per)
            continue;
        md_num c = aa_bucket_cents(h, ctx, json_object_get(b, "results"));
        a->month.cents = a->cost_seen_month ? mdu_add(a->month.cents, c) : c;
        a->cost_seen_month = 1;
        if (per & 2) {
            a->today.cents = a->cost_seen_today ? mdu_add(a->today.cents, c) : c;
            a->cost_seen_today = 1;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* Percent-encode a page cursor for the query string. */
static char *aa_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    for (; out && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    if (out)
        *o = '\0';
    return out;
}

static char *aa_page_url(const md_host *h, md_ctx *ctx, const char *path,
                         const aa_acc *a, const char *cursor)
{
    char *base = mdu_url(h, ctx, path), *url = NULL, *enc = NULL;
    char start[32];
    time_t t = (time_t)a->month_start;
    struct tm tm;
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    if (cursor && !(enc = aa_escape(cursor))) {
        free(base);
        return NULL;
    }
    if (base && asprintf(&url, "%s?starting_at=%s&bucket_width=1d&limit=31%s%s",
                         base, start, enc ? "&page=" : "",
                         enc ? enc : "") < 0)
        url = NULL;
    free(base);
    free(enc);
    return url;
}

typedef void (*aa_bucket_fn)(const md_host *, md_ctx *, aa_acc *,
                             const json_t *);

/* Fetch one report, every page up to max_pages.  The first page goes into
 * raw under raw_key.  Returns 1 complete, 0 pages left over, -1 failed. */
static int aa_report(const md_host *h, md_ctx *ctx, aa_acc *a,
                     const char *const *headers, const char *path,
                     aa_bucket_fn fn, json_t *raw, const char *raw_key)
{
    long long max = aa_max_pages(h, ctx);
    char *cursor = NULL;
    int rc = 1;
    for (long long page = 0; rc == 1; page++) {
        if (page >= max) {
            h->note(ctx, "%s: more than %lld pages; its totals are unknown",
                    path, max);
            rc = 0;
            break;
        }
        char *url = aa_page_url(h, ctx, path, a, cursor);
        json_t *doc = NULL;
        md_http_response *r = NULL;
        if (!url || mdu_get_json(h, ctx, url, headers, AA_KEY_HINT, 0, &doc,
                                &r) != 0) {
            if (!url)
                h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
            free(url);
            rc = -1;
            break;
        }
        free(url);
        json_t *data = json_object_get(doc, "data");
        if (!json_is_array(data)) {
            h->fail(ctx, MD_ERR_BAD_DATA, "%s: no data array", path);
            rc = -1;
        } else {
            aa_drift_page(&a->drift, doc);
            json_t *refreshed = json_object_get(doc, "data_refreshed_at");
            if (a->analytics && refreshed && json_is_null(refreshed)) {
                /* no export yet: the buckets are empty, not zero */
                if (page == 0)
                    h->note(ctx, "%s: no export covers this month yet "
                            "(data_refreshed_at null); its totals are "
                            "unknown", path);
            } else {
                fn(h, ctx, a, data);
            }
            mdu_emit_rate_limit_headers(h, ctx, r);
            if (page == 0)
                json_object_set(raw, raw_key, doc);
            const char *next = mdu_str(doc, "next_page");
            free(cursor);
            cursor = mdu_bool(doc, "has_more") == 1 && next && *next
                         ? strdup(next) : NULL;
        }
        json_decref(doc);
        h->http_free(r);
        if (rc == 1 && !cursor)
            break; /* last page */
    }
    free(cursor);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Emitting                                                            */
/* ------------------------------------------------------------------ */

static void aa_emit_period(const md_host *h, md_ctx *ctx, const aa_period *p,
                           int usage_ok, int cost_seen, int cost_ok,
                           const char *period, const char *label)
{
    md_num unk = {MD_UNKNOWN, 0};
    mdu_tokens none = mdu_tokens_anthropic(unk, unk, unk, unk);
    mdu_emit_tokens(h, ctx, usage_ok && p->seen ? &p->tok : &none, period,
                   label, MD_EXACT);
    char id[32], lab[64];
    snprintf(id, sizeof id, "cost_usd_%s", period);
    snprintf(lab, sizeof lab, "Anthropic cost %s (usd)", label);
    md_metric m = {0};
    m.id = id;
    m.label = lab;
    m.kind = "usage";
    m.unit = "usd";
    if (cost_ok && cost_seen)
        m.used = mdu_minor_to_major(p->cents); /* cents -> USD */
    MD_EMIT(h, ctx, &m);
    if (!p->seen && usage_ok)
        h->note(ctx, "no usage bucket for %s; its tokens are unknown", label);
}

/* UTC midnight of now and of the 1st of its month. */
static void aa_clock(const md_host *h, md_ctx *ctx, aa_acc *a)
{
    a->now = h->now(ctx);
    time_t t = (time_t)a->now;
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    a->today_start = (double)timegm(&tm);
    a->month_start = a->today_start - (tm.tm_mday - 1) * AA_DAY;
}

static int aa_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    if (h->abi_minor < 1) {
        h->fail(ctx, MD_ERR_ABI, "anthropic_admin needs a core with ABI 1.1");
        return -1;
    }
    if (aa_check(h, ctx) != 0)
        return -1;
    const char *key = mdu_api_key(h, ctx, "${ANTHROPIC_ADMIN_KEY} (an sk-ant-admin01 key)");
    if (!key)
        return -1;
    const char *ver = h->opt_str(ctx, "anthropic_version");
    char *kh = NULL, *vh = NULL;
    if (asprintf(&kh, "x-api-key: %s", key) < 0)
        kh = NULL;
    if (asprintf(&vh, "anthropic-version: %s", ver ? ver : AA_VERSION) < 0)
        vh = NULL;
    const aa_api *api = aa_api_of(h, ctx); /* aa_check: known */
    aa_acc a;
    memset(&a, 0, sizeof a);
    aa_clock(h, ctx, &a);
    a.analytics = api == &aa_apis[1];
    mdu_drift_init(&a.drift, h, ctx);
    json_t *raw = json_object();
    int rc = -1;
    if (!kh || !vh || !raw) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
    } else {
        const char *headers[] = {kh, vh, "Accept: application/json", NULL};
        int u = aa_report(h, ctx, &a, headers, api->usage_path,
                          aa_usage_buckets, raw, "usage_report");
        int c = u < 0 ? -1
                      : aa_report(h, ctx, &a, headers, api->cost_path,
                                  aa_cost_buckets, raw, "cost_report");
        if (u >= 0 && c >= 0) {
            aa_emit_period(h, ctx, &a.today, u, a.cost_seen_today, c, "today",
                           "today");
            aa_emit_period(h, ctx, &a.month, u, a.cost_seen_month, c, "month",
                           "this month");
            /* Anthropic documents that the legacy cost report leaves out
             * Priority Tier costs */
            if (!a.analytics)
                h->note(ctx, "cost_usd_* exclude Priority Tier costs (not in "
                        "cost_report)");
            char *text = json_dumps(raw, JSON_COMPACT);
            if (text)
                h->set_raw(ctx, text, strlen(text));
            free(text);
            rc = 0;
        }
    }
    mdu_drift_release(&a.drift, rc == 0);
    if (kh)
        memset(kh, 0, strlen(kh));
    free(kh);
    free(vh);
    json_decref(raw);
    return rc;
}

static const md_plugin aa_plugin = {
    MD_PLUGIN_HEADER,
    "anthropic_admin",
    "0.1.0",
    "Anthropic Admin API token usage and cost (usage_report, cost_report)",
    "api",
    aa_options,
    aa_check,
    NULL,
    aa_collect,
    NULL,
    /* reports are daily buckets that lag by minutes: no point polling often */
    5 * 60 * 1000LL,
    0,
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(aa_plugin)
