/*
 * plugins/moonshot.c - Moonshot / Kimi Open Platform account balance.
 *
 * Source ([C] CodexBar):
 *   GET {base_url}/v1/users/me/balance
 *   {"code": 0, "data": {"available_balance": float,
 *    "voucher_balance": float, "cash_balance": float}, "scode": "0x0",
 *    "status": true}
 *   code != 0 or status == false is an error even on HTTP 200.
 * Auth: "Authorization: Bearer <api_key>" (option api_key, MD_OPT_SECRET,
 * ${MOONSHOT_API_KEY}).  No key: auth error, no request.
 * Options: api_key, base_url (default https://api.moonshot.ai; China:
 * https://api.moonshot.cn), currency (default: usd for .ai, cny when
 * base_url names moonshot.cn [U]).
 *
 * Mapping (major units):
 *   balance_<currency>  kind credits, unit <currency>,
 *                       remaining = available_balance; used and limit are
 *                       unknown (a prepaid balance has no allowance).
 *   voucher_balance and cash_balance go into a note; cash_balance may be
 *   negative (a deficit), which a metric could not carry.
 * Errors: OpenAI-style {"error": {"message", "type"}}; 401/403 auth, 429
 * rate_limited, other non-2xx http, unparseable bad_data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "meterd/util.h"

#define MS_DEFAULT_URL "https://api.moonshot.ai"
#define MS_PATH "/v1/users/me/balance"
#define MS_HINT "check api_key (MOONSHOT_API_KEY)"

static const md_option ms_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "Moonshot API key, e.g. ${MOONSHOT_API_KEY} (or api_key_file)"},
    {"base_url", MD_OPT_STRING, 0, MS_DEFAULT_URL,
     "API base URL (China: https://api.moonshot.cn)"},
    {"currency", MD_OPT_STRING, 0, NULL,
     "balance currency (default usd, cny for api.moonshot.cn)"},
    {0}
};

static int ms_check(const md_host *h, md_ctx *ctx)
{
    const char *c = h->opt_str(ctx, "currency");
    if (c) {
        size_t n = strlen(c);
        int ok = n > 0 && n <= 8;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalpha((unsigned char)c[i]) != 0;
        if (!ok) {
            h->fail(ctx, MD_ERR_CONFIG, "currency: expected a code such as usd");
            return -1;
        }
    }
    return mdu_check_base_url(h, ctx);
}

/* GET url; see mdu_get_json_rl. */
/* Lower-case currency: the option, else from the host name. */
static void currency(const md_host *h, md_ctx *ctx, char *out, size_t len)
{
    const char *c = h->opt_str(ctx, "currency");
    const char *base = h->opt_str(ctx, "base_url");
    size_t i;
    if (!c || !*c)
        c = base && strstr(base, "moonshot.cn") ? "cny" : "usd";
    for (i = 0; c[i] && i + 1 < len; i++)
        out[i] = (char)tolower((unsigned char)c[i]);
    out[i] = '\0';
}

static void amount_text(md_num v, char *buf, size_t len)
{
    if (v.state == MD_KNOWN)
        snprintf(buf, len, "%.4f", v.value);
    else
        snprintf(buf, len, "unknown");
}

static int parse(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    md_num code = mdu_num(h, doc, "code");
    if (mdu_bool(doc, "status") == 0 || (code.state == MD_KNOWN && code.value != 0)) {
        const char *msg = mdu_str(doc, "error.message");
        if (!msg)
            msg = mdu_str(doc, "message");
        h->fail(ctx, MD_ERR_HTTP, "Moonshot error code %.0f%s%.200s",
                code.state == MD_KNOWN ? code.value : -1.0, msg ? ": " : "",
                msg ? msg : "");
        return -1;
    }
    char cur[12], id[32], label[64];
    currency(h, ctx, cur, sizeof cur);
    snprintf(id, sizeof id, "balance_%s", cur);
    snprintf(label, sizeof label, "Moonshot balance (%s)", cur);
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "credits";
    m.unit = cur;
    json_t *data = json_object_get(doc, "data");
    md_num avail = mdu_num_value(h, json_object_get(data, "available_balance"), 1);
    if (avail.state == MD_KNOWN && avail.value < 0) {
        h->note(ctx, "available balance is negative (%.4f): no credit left",
                avail.value);
        avail = MD_NUM(0);
    }
    m.remaining = avail;
    MD_EMIT(h, ctx, &m);
    char a[32], v[32], c[32];
    amount_text(avail, a, sizeof a);
    amount_text(mdu_num(h, data, "voucher_balance"), v, sizeof v);
    amount_text(mdu_num_value(h, json_object_get(data, "cash_balance"), 1), c, sizeof c);
    h->note(ctx, "available %s = voucher %s + cash %s (%s)", a, v, c, cur);
    return 0;
}

static int ms_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    if (ms_check(h, ctx) != 0)
        return -1;
    const char *key = mdu_api_key(h, ctx, "${MOONSHOT_API_KEY}");
    json_t *doc = NULL;
    if (!key ||
        mdu_get_bearer_json(h, ctx, MS_PATH, key, MS_HINT, NULL, &doc) != 0)
        return -1;
    int rc = parse(h, ctx, doc);
    json_decref(doc);
    return rc;
}

static const md_plugin ms_plugin = {
    MD_PLUGIN_HEADER,
    "moonshot",
    "0.1.0",
    "Moonshot / Kimi Open Platform account balance (users/me/balance)",
    "api",
    ms_options,
    ms_check,
    NULL,
    ms_collect,
    NULL,
    0, /* default_interval_ms: the global interval */
    0, /* min_interval_ms */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(ms_plugin)
