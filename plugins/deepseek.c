/*
 * plugins/deepseek.c - DeepSeek account balance (GET /user/balance).
 *
 * Wire format (DeepSeek API docs, [P]):
 *   {"is_available": bool,
 *    "balance_infos": [{"currency": "USD", "total_balance": "18.42",
 *                       "granted_balance": "0.00",
 *                       "topped_up_balance": "18.42"}, ...]}
 * Amounts are decimal strings in major units; balance_infos may be empty
 * or hold several currencies.  Each entry becomes one metric
 *   id "balance_<currency>", kind "credits", unit "<currency>",
 *   remaining = total_balance; used and limit stay unknown (a prepaid
 *   balance has no allowance the API tells us about).
 * The granted / topped-up split goes into a note.
 *
 * Tolerance: unknown keys are ignored, a missing or
 * non-numeric amount is unknown (never 0), a missing is_available is
 * unknown.  Only a body that is not a JSON object is bad_data.
 *
 * Errors: the body shape is undocumented [U]; we read the OpenAI-style
 * {"error": {"message": ...}} when present and fall back to an HTML
 * <title> or nothing.  401/403 -> auth, 429 -> rate_limited (+Retry-After,
 * delta-seconds or HTTP-date), any other non-2xx -> http.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"

#define DS_DEFAULT_URL "https://api.deepseek.com"
#define DS_MSG 200              /* provider text quoted in errors        */
#define DS_MAX_BODY (1024 * 1024)

static const md_option ds_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "DeepSeek API key, e.g. ${DEEPSEEK_API_KEY} (or api_key_file)"},
    {"base_url", MD_OPT_STRING, 0, DS_DEFAULT_URL, "API base URL"},
    {"currency", MD_OPT_STRING, 0, NULL, "report only this currency (USD, CNY)"},
    {0}
};

/* ------------------------------------------------------------------ */
/* check()                                                             */
/* ------------------------------------------------------------------ */

static int valid_currency(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 16) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i])) return 0;
    return 1;
}

static int ds_check(const md_host *host, md_ctx *ctx)
{
    const char *url = host->opt_str(ctx, "base_url");
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        host->fail(ctx, MD_ERR_CONFIG, "base_url: must start with http:// or https://");
        return -1;
    }
    const char *cur = host->opt_str(ctx, "currency");
    if (cur && !valid_currency(cur)) {
        host->fail(ctx, MD_ERR_CONFIG, "currency: expected a currency code such as USD");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Error messages from the provider                                    */
/* ------------------------------------------------------------------ */

/* Copy at most dstlen-1 bytes of printable text: control characters become
 * spaces and blank runs collapse. */
static void clean_copy(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t o = 0;
    int space = 1;
    for (size_t i = 0; i < n && src[i] && o + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch < 0x20 || ch == 0x7f || ch == ' ') {
            if (!space) dst[o++] = ' ';
            space = 1;
        } else {
            dst[o++] = (char)ch;
            space = 0;
        }
    }
    while (o > 0 && dst[o - 1] == ' ') o--;
    dst[o] = '\0';
}

/* Mask anything that looks like a key: the configured key itself and any
 * "sk-..." token keep only their last 4 characters.  In place. */
static void mask_keylike(char *s, const char *key)
{
    size_t kl = key ? strlen(key) : 0;
    for (char *p = s; *p; p++) {
        size_t run = 0;
        if (kl >= 8 && strncmp(p, key, kl) == 0) {
            run = kl;
        } else if (strncmp(p, "sk-", 3) == 0 && (p == s || !isalnum((unsigned char)p[-1]))) {
            while (isalnum((unsigned char)p[run]) || p[run] == '-' || p[run] == '_') run++;
            if (run < 12) run = 0;
        }
        if (run == 0) continue;
        for (size_t i = 0; i + 4 < run; i++) p[i] = '*';
        p += run - 1;
    }
}

/* Best human text of an error body: error.message, message, error (a
 * string), or an HTML <title>.  Empty when none. */
static void error_text(const char *body, size_t len, const char *key, char *out,
                       size_t outlen)
{
    out[0] = '\0';
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *msg = NULL;
    if (json_is_object(doc)) {
        json_t *err = json_object_get(doc, "error");
        msg = json_string_value(json_object_get(err, "message"));
        if (!msg) msg = json_string_value(err);
        if (!msg) msg = json_string_value(json_object_get(doc, "message"));
    }
    if (msg) {
        clean_copy(out, outlen, msg, strlen(msg));
    } else if (!doc && body) {
        const char *t = strcasestr(body, "<title>");
        const char *e = t ? strcasestr(t, "</title>") : NULL;
        if (t && e) clean_copy(out, outlen, t + 7, (size_t)(e - t - 7));
    }
    json_decref(doc);
    mask_keylike(out, key);
}

/* ------------------------------------------------------------------ */
/* Retry-After                                                         */
/* ------------------------------------------------------------------ */

static int month_index(const char *m)
{
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncasecmp(m, names[i], 3) == 0) return i;
    return -1;
}

/* HTTP-date in its three RFC 9110 forms (IMF-fixdate, RFC 850, asctime)
 * to epoch seconds.  Returns 0 or -1. */
static int parse_http_date(const char *s, double *out)
{
    char mon[4] = {0};
    int d = 0, y = 0, H = 0, M = 0, S = 0, n = 0;
    int ok = sscanf(s, "%*3s, %d %3s %d %d:%d:%d GMT%n", &d, mon, &y, &H, &M, &S, &n) == 6 && n;
    if (!ok) {
        n = 0;
        ok = sscanf(s, "%*[A-Za-z], %d-%3s-%d %d:%d:%d GMT%n", &d, mon, &y, &H, &M, &S, &n) == 6 && n;
        if (ok && y < 100) y += y < 70 ? 2000 : 1900;   /* RFC 850 two-digit year */
    }
    if (!ok) {
        n = 0;
        ok = sscanf(s, "%*3s %3s %d %d:%d:%d %d%n", mon, &d, &H, &M, &S, &y, &n) == 6 && n;
    }
    if (!ok) return -1;
    int mi = month_index(mon);
    if (mi < 0 || d < 1 || d > 31 || H > 23 || M > 59 || S > 60 || y < 1970) return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mi;
    tm.tm_mday = d;
    tm.tm_hour = H;
    tm.tm_min = M;
    tm.tm_sec = S;
    *out = (double)timegm(&tm);
    return 0;
}

/* Retry-After as seconds from now, or -1 when absent/unparseable. */
static double retry_after_seconds(const md_host *host, md_ctx *ctx,
                                  const md_http_response *r)
{
    const char *v = host->http_header(r, "retry-after");
    double secs, when;
    if (!v) return -1;
    if (host->parse_number(v, &secs) == 0) return secs >= 0 ? secs : -1;
    if (parse_http_date(v, &when) == 0) {
        secs = when - host->now(ctx);
        return secs > 0 ? secs : 0;
    }
    return -1;
}

static int fail_http(const md_host *host, md_ctx *ctx, const md_http_response *r,
                     const char *key)
{
    char msg[DS_MSG + 1];
    error_text(r->body, r->body_len, key, msg, sizeof msg);
    double ra = retry_after_seconds(host, ctx, r);
    if (ra >= 0) host->retry_after(ctx, ra);
    md_error cls = (r->status == 401 || r->status == 403) ? MD_ERR_AUTH
                 : r->status == 429 ? MD_ERR_RATE_LIMITED : MD_ERR_HTTP;
    host->fail(ctx, cls, "HTTP %ld%s%s", r->status, msg[0] ? ": " : "", msg);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The balance payload                                                 */
/* ------------------------------------------------------------------ */

/* A JSON number or numeric string; returns 0 with *out, or -1 (unknown). */
static int amount(const md_host *host, const json_t *v, double *out)
{
    if (json_is_number(v)) { *out = json_number_value(v); return 0; }
    if (json_is_string(v)) return host->parse_number(json_string_value(v), out);
    return -1;
}

/* Text of an amount for a note: the provider's own digits when it sent a
 * numeric string, else the formatted number, else "unknown". */
static void amount_text(const md_host *host, const json_t *v, char *buf, size_t len)
{
    double d;
    if (amount(host, v, &d) != 0) snprintf(buf, len, "unknown");
    else if (json_is_string(v)) clean_copy(buf, len, json_string_value(v), strlen(json_string_value(v)));
    else snprintf(buf, len, "%.10g", d);
}

/* Emit one balance_infos entry.  Returns 1 when a metric was emitted. */
static int emit_balance(const md_host *host, md_ctx *ctx, const json_t *e, size_t idx,
                        const char *only)
{
    const char *cur = json_string_value(json_object_get(e, "currency"));
    if (!json_is_object(e) || !cur || !valid_currency(cur)) {
        host->note(ctx, "balance_infos[%zu]: no usable currency; skipped", idx);
        return 0;
    }
    if (only && strcasecmp(cur, only) != 0) return 0;
    char lc[17], uc[17], id[32], label[64];
    size_t n = strlen(cur);
    for (size_t i = 0; i <= n; i++) {
        lc[i] = (char)tolower((unsigned char)cur[i]);
        uc[i] = (char)toupper((unsigned char)cur[i]);
    }
    snprintf(id, sizeof id, "balance_%s", lc);
    snprintf(label, sizeof label, "DeepSeek balance (%s)", uc);
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "credits";
    m.unit = lc;
    double total;
    const json_t *tv = json_object_get(e, "total_balance");
    if (amount(host, tv, &total) == 0) m.remaining = MD_NUM(total);
    else host->note(ctx, "%s total_balance missing or not a number; remaining unknown", uc);
    MD_EMIT(host, ctx, &m);

    char t[40], g[40], u[40];
    amount_text(host, tv, t, sizeof t);
    amount_text(host, json_object_get(e, "granted_balance"), g, sizeof g);
    amount_text(host, json_object_get(e, "topped_up_balance"), u, sizeof u);
    host->note(ctx, "%s balance %s = granted %s + topped up %s", uc, t, g, u);
    return 1;
}

static int parse_balance(const md_host *host, md_ctx *ctx, const char *body, size_t len)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (!doc) {
        host->fail(ctx, MD_ERR_BAD_DATA, "response is not valid JSON: %.120s (line %d, column %d)",
                   je.text, je.line, je.column);
        return -1;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        host->fail(ctx, MD_ERR_BAD_DATA, "response is not a JSON object");
        return -1;
    }
    const json_t *avail = json_object_get(doc, "is_available");
    if (json_is_false(avail))
        host->note(ctx, "DeepSeek reports the balance cannot pay for API calls "
                        "(is_available=false)");
    const json_t *infos = json_object_get(doc, "balance_infos");
    const char *only = host->opt_str(ctx, "currency");
    if (only && !*only) only = NULL;
    size_t emitted = 0, n = json_is_array(infos) ? json_array_size(infos) : 0;
    if (infos && !json_is_null(infos) && !json_is_array(infos))
        host->note(ctx, "balance_infos is not an array; ignored");
    for (size_t i = 0; i < n; i++)
        emitted += (size_t)emit_balance(host, ctx, json_array_get(infos, i), i, only);
    if (n == 0)
        host->note(ctx, "no balance reported");
    else if (emitted == 0 && only)
        host->note(ctx, "no %s balance reported", only);
    json_decref(doc);
    return 0;
}

/* ------------------------------------------------------------------ */
/* collect()                                                           */
/* ------------------------------------------------------------------ */

static int ds_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (ds_check(host, ctx) != 0) return -1;
    const char *key = mdu_api_key(host, ctx, "${DEEPSEEK_API_KEY}");
    if (!key)
        return -1;
    const char *base = host->opt_str(ctx, "base_url");
    if (!base) base = DS_DEFAULT_URL;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') bl--;
    char *url = malloc(bl + sizeof "/user/balance");
    char *auth = mdu_bearer(host, ctx, key);
    if (!url || !auth) {
        free(url);
        mdu_free_secret(auth);
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        return -1;
    }
    sprintf(url, "%.*s/user/balance", (int)bl, base);
    const char *headers[] = {auth, "Accept: application/json", NULL};
    md_http_request req = {0};
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.max_response_bytes = DS_MAX_BODY;
    md_http_response *r = NULL;
    int rc = host->http(ctx, &req, &r);
    mdu_free_secret(auth);   /* holds the key: gone before anything else happens */
    if (rc != 0 || !r || r->status == 0) {
        md_error cls = r && r->error_class != MD_ERR_NONE ? r->error_class : MD_ERR_NETWORK;
        host->fail(ctx, cls, "GET %s failed: %s", url,
                   r && r->error ? r->error : "no response");
        rc = -1;
    } else if (r->status < 200 || r->status > 299) {
        rc = fail_http(host, ctx, r, key);
    } else {
        rc = parse_balance(host, ctx, r->body, r->body_len);
        if (rc == 0) host->set_raw(ctx, r->body, r->body_len);
    }
    if (r) host->http_free(r);
    free(url);
    return rc;
}

static const md_plugin ds_plugin = {
    MD_PLUGIN_HEADER,
    "deepseek",
    "0.1.0",
    "DeepSeek account balance (GET /user/balance)",
    "api",
    ds_options,
    ds_check,
    NULL,
    ds_collect,
    NULL,
    0, /* default_interval_ms: the config's interval */
    0, /* min_interval_ms: none */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(ds_plugin)
