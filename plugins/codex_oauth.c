/*
 * plugins/codex_oauth.c - ChatGPT / Codex subscription usage (wham/usage).
 *
 * Source (private endpoint, [C]/[T] only):
 *   GET {base_url}/wham/usage                 when base_url contains
 *                                             "/backend-api" (the default)
 *   GET {base_url}/api/codex/usage            otherwise (as the Codex CLI)
 *   Authorization: Bearer <tokens.access_token>
 *   ChatGPT-Account-Id: <tokens.account_id>   (when known)
 *
 * Auth: the Codex CLI's own credential file (option credentials_file,
 * default ~/.codex/auth.json, or $CODEX_HOME/auth.json when CODEX_HOME is
 * set and the option is left at its default).  Every token in it is
 * registered with host->add_secret before anything else happens.
 * A personal-access-token login (personal_access_token, no tokens) or a
 * keyring-stored login (no file) gets a message saying so.
 * No "tokens" object (API-key login) is error class auth with "run `codex
 * login`"; so are HTTP 401/403.
 *
 * Refresh (option refresh, default auto; policy in mdu_oauth_refresh): the
 * access token is a JWT whose "exp" lies days ahead (about 10 days), and
 * the Codex CLI renews it when it has passed (or after 8 days).  When exp
 * is less than 5 minutes away, meterd does what the Codex CLI's login code
 * does: POST {"client_id": the Codex CLI's public client id, "grant_type":
 * "refresh_token", "refresh_token"} as JSON to the token endpoint (option
 * token_url, default https://auth.openai.com/oauth/token), and writes
 * tokens.id_token, tokens.access_token, tokens.refresh_token (rotated: a
 * reused one is refused) and last_refresh (RFC 3339) back into auth.json,
 * atomically, every other key kept.  The Codex CLI takes no lock on the
 * file, so meterd serialises with itself on "auth.json.meterd.lock" and
 * re-reads under it: a token the CLI renewed first is used as is.  A file
 * meterd cannot write back is never refreshed (auth saying the token lasts
 * about 10 days and how to fix it); a rejected refresh token (400/401,
 * refresh_token_reused / _expired / _invalidated) is auth telling the
 * operator to run `codex login`; the file is left untouched.  With refresh:
 * off an access token whose exp is past is auth with "run `codex login`".
 *
 * Options: base_url, credentials_file, plan (overrides plan_type), refresh
 * (auto|off), token_url.
 *
 * Mappings (all windows kind quota_window, unit percent, source oauth):
 *   rate_limit.<x>_window        -> id by limit_window_seconds:
 *                                   18000 five_hour, 604800 seven_day,
 *                                   else window_<minutes>m (primary and
 *                                   secondary first, any new *_window key
 *                                   after them; never assumed 5 h / 7 d by
 *                                   position)
 *     .used_percent (0-100)      -> utilization
 *     .limit_window_seconds      -> window_seconds
 *     .reset_at (epoch s; ms if >= 1e10) or .reset_after_seconds
 *                                -> resets_at
 *   code_review_rate_limit       -> same, ids prefixed "code_review_"
 *   additional_rate_limits[i]    -> same, ids prefixed with the sanitised
 *                                   metered_feature (or limit_name)
 *   credits.balance (string/number, major units of ChatGPT credits)
 *                                -> id credits, kind credits, unit credits,
 *                                   remaining
 *   spend_control.individual_limit (also accepted at the root or inside
 *   rate_limit): limit/used/remaining (strings) -> id spend_control, kind
 *                                   budget, unit credits (ChatGPT credits,
 *                                   not dollars); used_percent only when
 *                                   used/limit are missing
 *   spend_control.{workspace_shared_limit, workspace_default_limit,
 *   role_budget_limit, group_shared_limit, group_default_limit}
 *                                -> spend_control_{workspace,
 *                                   workspace_default, role, group,
 *                                   group_default}, the same fields (group
 *                                   budgets nest them in "details"; the
 *                                   group_name goes into the label)
 *   spend_control.reached_limit_type, rate_limit_reached_type.kind -> notes
 *   credits.has_credits false with no balance -> remaining 0
 *   plan_type (or option plan)   -> note "plan: <plan>" and the meter set
 * Used / limit / remaining of the windows are never reported: unknown.
 *
 * Meter sets (which windows a plan has; [C] fixtures, otherwise [U]):
 *   plus, pro, prolite, team, business, enterprise, edu, education, k12,
 *   quorum, free, free_workspace, go, guest,
 *   self_serve_business_usage_based,
 *   enterprise_cbp_usage_based            seven_day (five_hour is reported
 *                                         when sent, never expected: OpenAI
 *                                         dropped it from whole plans for
 *                                         weeks in 2026)
 *   anything else                         no expectation (noted)
 * An expected window the payload does not report (null or missing) is
 * declared with host->expect_metric so it shows up unknown with a note.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"
#include "mdu_unconst.h"


#define CX_DEFAULT_URL "https://chatgpt.com/backend-api"
#define CX_DEFAULT_CREDS "~/.codex/auth.json"
#define CX_RENEW "run `codex login` to renew the ChatGPT login"
#define CX_TOKEN_URL "https://auth.openai.com/oauth/token"
/* The Codex CLI's public OAuth client id */
#define CX_CLIENT_ID "app_EMoamEEZ73f0CkXaXp7hrann"
#define CX_MAX_FILE (1024 * 1024)
#define CX_MAX_IDS 32

static const md_option cx_options[] = {
    {"base_url", MD_OPT_STRING, 0, CX_DEFAULT_URL,
     "ChatGPT backend base URL"},
    {"credentials_file", MD_OPT_STRING, 0, CX_DEFAULT_CREDS,
     "Codex CLI auth.json (refreshed tokens are written back)"},
    {"plan", MD_OPT_STRING, 0, NULL,
     "plan for the meter set (plus, pro, team, ...); default: plan_type"},
    {"refresh", MD_OPT_STRING, 0, "auto",
     "auto: renew an expiring access token as the Codex CLI does and write "
     "it back; off: never touch the file"},
    {"token_url", MD_OPT_STRING, 0, CX_TOKEN_URL,
     "OAuth token endpoint used to refresh"},
    {0}
};

static int cx_check(const md_host *host, md_ctx *ctx)
{
    if (mdu_check_base_url(host, ctx) != 0)
        return -1;
    return mdu_oauth_check_options(host, ctx);
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

typedef struct cx_creds {
    json_t *doc;             /* the parsed auth.json                        */
    const char *access;      /* borrowed from doc                           */
    const char *account;     /* borrowed from doc, may be NULL              */
} cx_creds;

/* The credentials path with "~/" expanded; CODEX_HOME moves the default
 * like it does for the Codex CLI.  Caller frees. */
static char *creds_path(const md_host *host, md_ctx *ctx)
{
    const char *opt = host->opt_str(ctx, "credentials_file");
    const char *codex_home = getenv("CODEX_HOME");
    char *out = NULL;
    if (!opt)
        opt = CX_DEFAULT_CREDS;
    if (strcmp(opt, CX_DEFAULT_CREDS) == 0 && codex_home && *codex_home) {
        if (asprintf(&out, "%s/auth.json", codex_home) < 0)
            out = NULL;
    } else {
        out = mdu_expand_home(opt);
    }
    return out;
}

/* Decode base64url (no padding needed) into a NUL-terminated buffer.
 * Returns the length, or -1 on an invalid character. */
static long b64url_decode(const char *in, size_t n, char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        int c = (unsigned char)in[i], v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-' || c == '+') v = 62;
        else if (c == '_' || c == '/') v = 63;
        else return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* The JWT "exp" claim (epoch s), or -1 when the token is not a decodable
 * JWT (then expiry is unknown and the server decides). */
static double jwt_exp(const char *jwt)
{
    const char *a = strchr(jwt, '.');
    const char *b = a ? strchr(a + 1, '.') : NULL;
    if (!b || b - a - 1 > 8192)
        return -1;
    char buf[8192];
    long n = b64url_decode(a + 1, (size_t)(b - a - 1), buf, sizeof buf);
    if (n <= 0)
        return -1;
    json_t *claims = json_loadb(buf, (size_t)n, 0, NULL);
    json_t *exp = json_object_get(claims, "exp");
    double out = json_is_number(exp) ? json_number_value(exp) : -1;
    json_decref(claims);
    return out;
}

/* The JWT exp of tokens.access_token, -1 when unknown. */
static double cx_expiry(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    (void)h;
    (void)ctx;
    const char *a = mdu_str(doc, "tokens.access_token");
    return a ? jwt_exp(a) : -1;
}

/* The Codex CLI's refresh (JSON body, rotated refresh token, no lock of
 * its own). */
static const mdu_oauth_cli cx_refresher = {
    .cli = "Codex",
    .renew = "run `codex login`",
    .lifetime = "about 10 days",
    .token_url = CX_TOKEN_URL,
    .lock_path = NULL,
    .client_id = CX_CLIENT_ID,
    .json_body = 1,
    .obj = "tokens",
    .access_key = "access_token",
    .refresh_key = "refresh_token",
    .id_token_key = "id_token",
    .expiry_kind = MDU_OAUTH_EXPIRY_NONE,
    .last_refresh_key = "last_refresh",
    .default_lifetime_s = 0,
    .expiry = cx_expiry,
};

/* Register every token-like string of auth.json as a secret so that no
 * output (error, note, raw) can carry it. */
static void register_secrets(const md_host *host, md_ctx *ctx, json_t *doc)
{
    static const char *const keys[] = {"personal_access_token", "tokens.access_token", "tokens.refresh_token",
                                       "tokens.id_token", "tokens.account_id",
                                       "OPENAI_API_KEY"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s = mdu_str(doc, keys[i]);
        if (s && *s)
            host->add_secret(ctx, s);
    }
}

/* Read auth.json, refreshing its token when due and refresh is on.
 * Returns 0, or -1 after host->fail(). */
static int load_creds(const md_host *host, md_ctx *ctx, cx_creds *c)
{
    memset(c, 0, sizeof *c);
    char *path = creds_path(host, ctx);
    if (!path) {
        if (errno == ENOMEM)
            host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        else
            host->fail(ctx, MD_ERR_CONFIG, "credentials_file: no home "
                       "directory ($HOME unset, no passwd entry); give an "
                       "absolute path");
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        /* The Codex CLI may keep its login in the OS keyring
         * (cli_auth_credentials_store = "keyring" or "auto"); then there is
         * no file at all. */
        host->fail(ctx, MD_ERR_AUTH, "%s %s: %s; %s", e == ENOENT
                   ? "no Codex login file (a keyring-stored login leaves none; "
                     "meterd reads only the file: set cli_auth_credentials_store"
                     " = \"file\" in Codex's config.toml and log in again) at"
                   : "cannot read", path, strerror(e), CX_RENEW);
        free(path);
        return -1;
    }
    json_error_t je;
    c->doc = json_loadf(f, 0, &je);
    fclose(f);
    if (!json_is_object(c->doc)) {
        host->fail(ctx, MD_ERR_AUTH, "%s is not a JSON object (%s); %s", path,
                   c->doc ? "wrong type" : je.text, CX_RENEW);
        json_decref(c->doc);
        c->doc = NULL;
        free(path);
        return -1;
    }
    register_secrets(host, ctx, c->doc);
    c->access = mdu_str(c->doc, "tokens.access_token");
    c->account = mdu_str(c->doc, "tokens.account_id");
    if ((!c->access || !*c->access) &&
        mdu_str(c->doc, "personal_access_token")) {
        host->fail(ctx, MD_ERR_AUTH, "%s holds a personal-access-token login, "
                   "which meterd does not support yet (it needs a token "
                   "exchange before wham/usage); log in with `codex login` "
                   "(ChatGPT) to meter it", path);
        free(path);
        return -1;
    }
    if (!c->access || !*c->access) {
        host->fail(ctx, MD_ERR_AUTH, "%s has no ChatGPT tokens (API-key login "
                   "has no subscription usage); %s", path, CX_RENEW);
        free(path);
        return -1;
    }
    if (mdu_oauth_refresh(host, ctx, &cx_refresher, path, &c->doc) < 0) {
        free(path);
        return -1;
    }
    c->access = mdu_str(c->doc, "tokens.access_token");
    c->account = mdu_str(c->doc, "tokens.account_id");
    if (!c->access || !*c->access) {
        host->fail(ctx, MD_ERR_AUTH, "%s lost its access token; %s", path,
                   CX_RENEW);
        free(path);
        return -1;
    }
    double exp = jwt_exp(c->access);
    if (exp >= 0 && exp <= host->now(ctx)) {
        char when[32];
        time_t t = (time_t)exp;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        host->fail(ctx, MD_ERR_AUTH, "access token in %s expired at %s; %s%s",
                   path, when, CX_RENEW, mdu_oauth_enabled(host, ctx)
                       ? " (there is no refresh token to renew it with)"
                       : " (refresh: off)");
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

/* {base}/wham/usage, or {base}/api/codex/usage when the base is not the
 * backend-api one (Codex CLI behaviour, [C]).  Caller frees. */
static char *usage_url(const md_host *host, md_ctx *ctx)
{
    const char *base = host->opt_str(ctx, "base_url");
    int backend = base == NULL || strstr(base, "/backend-api") != NULL;
    return mdu_url(host, ctx, backend ? "/wham/usage" : "/api/codex/usage");
}

/* A 429 without Retry-After: the usage_limit_reached body says when the
 * limit resets (resets_in_seconds / resets_at); use it as the wait. */
static void retry_from_body(const md_host *host, md_ctx *ctx,
                            const md_http_response *r)
{
    if (r->status != 429 || host->http_header(r, "retry-after"))
        return;
    json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
    md_time t = mdu_time(host, ctx, doc, "error.resets_in_seconds", MD_TS_RELATIVE_S);
    if (t.state != MD_KNOWN)
        t = mdu_time(host, ctx, doc, "error.resets_at", MD_TS_EPOCH_S_OR_MS);
    if (t.state == MD_KNOWN) {
        double wait = t.epoch - host->now(ctx);
        host->retry_after(ctx, wait > 0 ? wait : 0);
    }
    json_decref(doc);
}

/* Hand a response's headers to the core's rate-limit parser (x-codex-*,
 * Retry-After, ...).  Called after the body was parsed: a meter the
 * payload reported wins over its header echo. */
static void emit_headers(const md_host *host, md_ctx *ctx,
                         const md_http_response *r)
{
    mdu_emit_rate_limit_headers(host, ctx, r);
}

/* GET the usage document.  Returns the JSON object with *resp kept for
 * emit_headers(), or NULL after fail() (headers already handed over). */
static json_t *fetch_usage(const md_host *host, md_ctx *ctx, const cx_creds *c,
                           md_http_response **resp)
{
    char *url = usage_url(host, ctx);
    char *auth = NULL, *acct = NULL;
    if (!url || asprintf(&auth, "Authorization: Bearer %s", c->access) < 0)
        auth = NULL;
    if (c->account && asprintf(&acct, "ChatGPT-Account-Id: %s", c->account) < 0)
        acct = NULL;
    json_t *doc = NULL;
    if (!url || !auth) {
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        goto out;
    }
    const char *headers[] = {auth, "Accept: application/json",
                             "User-Agent: codex-cli", acct, NULL};
    md_http_request req = {0};
    req.url = url;
    req.headers = headers;
    md_http_response *r = NULL;
    if (host->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        host->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                   "GET %s: %s", url, r && r->error ? r->error : "request failed");
    } else {
        if (r->status < 200 || r->status > 299) {
            retry_from_body(host, ctx, r);
            mdu_fail_status(host, ctx, r, CX_RENEW);
        } else {
            doc = mdu_body_json(host, ctx, r, url);
            if (doc)
                host->set_raw(ctx, r->body, r->body_len);
        }
    }
    if (doc) {
        *resp = r;
    } else {
        emit_headers(host, ctx, r);
        host->http_free(r);
    }
out:
    free(url);
    free(auth);
    free(acct);
    return doc;
}

/* ------------------------------------------------------------------ */
/* Windows                                                             */
/* ------------------------------------------------------------------ */

/* Ids emitted so far, to keep ids unique when two windows share a length
 * and to know which expected meters are present. */
typedef struct cx_seen {
    char ids[CX_MAX_IDS][72];
    size_t n;
} cx_seen;

static int seen_has(const cx_seen *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return 1;
    return 0;
}

static void seen_add(cx_seen *s, const char *id)
{
    if (s->n < CX_MAX_IDS)
        snprintf(s->ids[s->n++], sizeof s->ids[0], "%.64s", id);
}

/* Lower-case [a-z0-9_] version of a provider name, bounded, for ids. */
static void sanitize(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; in && *in && o + 1 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        char c = isalnum(ch) ? (char)tolower(ch) : '_';
        if (c == '_' && (o == 0 || out[o - 1] == '_'))
            continue;
        out[o++] = c;
    }
    while (o > 0 && out[o - 1] == '_')
        o--;
    out[o] = '\0';
}

/* Base id by window length (the Claude/Codex family convention). */
static void window_base_id(md_num secs, const char *key, char *out, size_t cap)
{
    if (secs.state != MD_KNOWN) {
        char k[40];
        sanitize(key, k, sizeof k);   /* length unknown: name by slot */
        snprintf(out, cap, "%s", k);
    } else if (secs.value == 18000) {
        snprintf(out, cap, "five_hour");
    } else if (secs.value == 604800) {
        snprintf(out, cap, "seven_day");
    } else {
        snprintf(out, cap, "window_%lldm", (long long)(secs.value / 60.0 + 0.5));
    }
}

static void window_label(md_num secs, const char *group, char *out, size_t cap)
{
    const char *g = group ? group : "Codex";
    if (secs.state != MD_KNOWN)
        snprintf(out, cap, "%s window", g);
    else if (secs.value == 18000)
        snprintf(out, cap, "%s 5-hour window", g);
    else if (secs.value == 604800)
        snprintf(out, cap, "%s weekly window", g);
    else
        snprintf(out, cap, "%s %lld-minute window", g,
                 (long long)(secs.value / 60.0 + 0.5));
}

/* resets_at: reset_at (epoch s, or ms when >= 1e10), else the relative
 * reset_after_seconds. */
static md_time window_reset(const md_host *host, md_ctx *ctx, const json_t *w)
{
    md_time t = mdu_time(host, ctx, w, "reset_at", MD_TS_EPOCH_S_OR_MS);
    if (t.state != MD_KNOWN)
        t = mdu_time(host, ctx, w, "reset_after_seconds", MD_TS_RELATIVE_S);
    return t;
}

/* Emit one window object; prefix ("" or "code_review_") and group label
 * name the limit family. */
static void emit_window(const md_host *host, md_ctx *ctx, const json_t *w,
                        const char *key, const char *prefix, const char *group,
                        cx_seen *seen)
{
    md_num secs = mdu_num(host, w, "limit_window_seconds");
    char base[48], id[128], label[128];
    window_base_id(secs, key, base, sizeof base);
    snprintf(id, sizeof id, "%s%s", prefix, base);
    if (seen_has(seen, id)) {
        char k[24];
        sanitize(key, k, sizeof k);
        snprintf(id, sizeof id, "%s%s_%s", prefix, base, k);
    }
    id[64] = '\0';   /* the core's id limit */
    window_label(secs, group, label, sizeof label);
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "quota_window";
    m.unit = "percent";
    m.utilization = mdu_num(host, w, "used_percent");
    m.window_seconds = secs;
    m.resets_at = window_reset(host, ctx, w);
    if (m.utilization.state != MD_KNOWN)
        host->note(ctx, "%s: used_percent missing or not a number; unknown", id);
    MD_EMIT(host, ctx, &m);
    seen_add(seen, id);
}

/* Every *_window object of one rate_limit object: primary and secondary
 * first, then any window key the provider adds later (carried through). */
static void emit_rate_limit(const md_host *host, md_ctx *ctx, const json_t *rl,
                            const char *prefix, const char *group, cx_seen *seen)
{
    static const char *const first[] = {"primary_window", "secondary_window"};
    if (!json_is_object(rl))
        return;
    for (size_t i = 0; i < 2; i++) {
        json_t *w = json_object_get(rl, first[i]);
        if (json_is_object(w))
            emit_window(host, ctx, w, first[i], prefix, group, seen);
    }
    const char *key;
    json_t *w;
    json_object_foreach(mdu_json_unconst(rl), key, w) {
        size_t kl = strlen(key);
        if (!json_is_object(w) || kl < 7 || strcmp(key + kl - 7, "_window") != 0 ||
            strcmp(key, first[0]) == 0 || strcmp(key, first[1]) == 0)
            continue;
        emit_window(host, ctx, w, key, prefix, group, seen);
    }
    if (mdu_bool(rl, "limit_reached") == 1)
        host->note(ctx, "%s limit reached", group ? group : "Codex");
}

/* additional_rate_limits[]: one element at a time so a malformed one
 * cannot spoil the rest ([C]). */
static void emit_additional(const md_host *host, md_ctx *ctx, const json_t *arr,
                            cx_seen *seen)
{
    size_t i;
    json_t *e;
    if (!json_is_array(arr))
        return;
    json_array_foreach(arr, i, e) {
        const char *feat = mdu_str(e, "metered_feature");
        const char *name = mdu_str(e, "limit_name");
        char pfx[48], group[96];
        sanitize(feat ? feat : name, pfx, 40);
        if (!json_is_object(mdu_path(e, "rate_limit")) || !pfx[0]) {
            host->note(ctx, "additional_rate_limits[%zu]: no usable limit; skipped", i);
            continue;
        }
        strcat(pfx, "_");
        snprintf(group, sizeof group, "%s", name ? name : feat);
        emit_rate_limit(host, ctx, mdu_path(e, "rate_limit"), pfx, group, seen);
    }
}

/* ------------------------------------------------------------------ */
/* Credits and spend control                                           */
/* ------------------------------------------------------------------ */

static void emit_credits(const md_host *host, md_ctx *ctx, const json_t *cr)
{
    if (!json_is_object(cr))
        return;
    md_metric m = {0};
    m.id = "credits";
    m.label = "ChatGPT credits balance";
    m.kind = "credits";
    m.unit = "credits";
    if (mdu_bool(cr, "unlimited") == 1) {
        m.remaining = MD_NUM_NA;   /* no balance to run out of */
        host->note(ctx, "credits: unlimited");
    } else {
        m.remaining = mdu_num(host, cr, "balance");
        /* has_credits false with no balance: none left, not unknown */
        if (m.remaining.state != MD_KNOWN && mdu_bool(cr, "has_credits") == 0)
            m.remaining = MD_NUM(0);
    }
    if (mdu_bool(cr, "overage_limit_reached") == 1)
        host->note(ctx, "credits: overage limit reached");
    MD_EMIT(host, ctx, &m);
}

/* individual_limit may sit under spend_control, at the root or inside
 * rate_limit ([C]). */
static const json_t *find_spend(const json_t *doc)
{
    static const char *const paths[] = {"spend_control.individual_limit",
                                        "individual_limit",
                                        "rate_limit.individual_limit"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = mdu_path(doc, paths[i]);
        if (json_is_object(v))
            return v;
    }
    return NULL;
}

/* One spend-control budget.  Amounts are ChatGPT credits (OpenAI's own
 * clients show "8,000 of 25,000 credits used"), not dollars. */
static void emit_budget(const md_host *host, md_ctx *ctx, const json_t *s,
                        const char *id, const char *label)
{
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "budget";
    m.unit = "credits";
    m.limit = mdu_num(host, s, "limit");
    m.used = mdu_num(host, s, "used");
    m.remaining = mdu_num(host, s, "remaining");
    /* used/limit are exact decimals; the integer percent is a fallback. */
    if (m.used.state != MD_KNOWN || m.limit.state != MD_KNOWN)
        m.utilization = mdu_num(host, s, "used_percent");
    m.resets_at = window_reset(host, ctx, s);
    MD_EMIT(host, ctx, &m);
}

/* spend_control: the member's own limit and the group, workspace and
 * role budgets the Codex backend reports beside it.  Group budgets nest
 * their amounts in "details" next to group_id / group_name. */
static void emit_spend(const md_host *host, md_ctx *ctx, const json_t *doc)
{
    static const struct { const char *key, *id, *label; } budgets[] = {
        {"workspace_shared_limit", "spend_control_workspace",
         "Codex workspace shared credit limit"},
        {"workspace_default_limit", "spend_control_workspace_default",
         "Codex workspace default credit limit"},
        {"role_budget_limit", "spend_control_role", "Codex role credit budget"},
        {"group_shared_limit", "spend_control_group",
         "Codex group shared credit limit"},
        {"group_default_limit", "spend_control_group_default",
         "Codex group default credit limit"},
    };
    const json_t *s = find_spend(doc);
    if (s)
        emit_budget(host, ctx, s, "spend_control", "Codex monthly credit limit");
    const json_t *sc = mdu_path(doc, "spend_control");
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        const json_t *b = mdu_path(sc, budgets[i].key);
        if (!json_is_object(b))
            continue;
        const json_t *det = mdu_path(b, "details");
        const char *group = mdu_str(b, "group_name");
        char label[128];
        if (group)
            snprintf(label, sizeof label, "%s (%.40s)", budgets[i].label, group);
        else
            snprintf(label, sizeof label, "%s", budgets[i].label);
        emit_budget(host, ctx, json_is_object(det) ? det : b, budgets[i].id,
                    label);
    }
    const char *type = mdu_str(sc, "reached_limit_type");
    if (mdu_bool(doc, "spend_control.reached") == 1 || type)
        host->note(ctx, "spend control limit reached%s%s", type ? ": " : "",
                   type ? type : "");
    const char *kind = mdu_str(doc, "rate_limit_reached_type.kind");
    if (kind)
        host->note(ctx, "rate limit reached: %s", kind);
}

/* ------------------------------------------------------------------ */
/* Plans and meter sets                                                */
/* ------------------------------------------------------------------ */

typedef struct cx_plan_set {
    const char *plans;   /* space-separated plan names */
    int five_hour;       /* whether the 5-hour window is expected */
} cx_plan_set;

/* Every plan has the weekly window.  The 5-hour window comes and goes
 * (OpenAI removed it from Plus, Pro and Business in July-August 2026 and
 * later brought it back for some): it is reported when sent and never
 * expected, so a weekly-only plan does not carry a permanently unknown
 * five_hour. */
static const cx_plan_set cx_sets[] = {
    {"plus pro prolite team business enterprise edu education k12 quorum "
     "free free_workspace go guest self_serve_business_usage_based "
     "enterprise_cbp_usage_based", 0},
};

/* Whether plan is a word of list. */
static int word_in(const char *list, const char *plan)
{
    size_t n = strlen(plan);
    for (const char *p = list; (p = strstr(p, plan)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static void expect_window(const md_host *host, md_ctx *ctx, const char *plan,
                          const char *id, double secs, const cx_seen *seen)
{
    if (seen_has(seen, id) || !host->expect_metric)
        return;
    char note[160], label[64];
    window_label(MD_NUM(secs), NULL, label, sizeof label);
    snprintf(note, sizeof note, "plan %s expects %s; the provider did not report it",
             plan, id);
    md_metric m = {0};
    m.id = id;
    m.label = label;
    m.kind = "quota_window";
    m.unit = "percent";
    m.window_seconds = MD_NUM(secs);
    MD_EXPECT(host, ctx, &m, note);
}

static void apply_meter_set(const md_host *host, md_ctx *ctx, const char *plan,
                            const cx_seen *seen)
{
    char p[40];
    sanitize(plan, p, sizeof p);
    for (size_t i = 0; i < sizeof cx_sets / sizeof cx_sets[0]; i++) {
        if (!word_in(cx_sets[i].plans, p))
            continue;
        if (cx_sets[i].five_hour)
            expect_window(host, ctx, p, "five_hour", 18000, seen);
        expect_window(host, ctx, p, "seven_day", 604800, seen);
        return;
    }
    host->note(ctx, "plan %s has no known meter set; reporting what the provider sent", p);
}

/* ------------------------------------------------------------------ */
/* collect()                                                           */
/* ------------------------------------------------------------------ */

/* Drift: members of the objects the plugin maps that it does not know. */
static void cx_drift(mdu_drift *d, const json_t *doc)
{
    static const char *const top[] = {"user_id", "account_id", "email",
        "plan_type", "rate_limit", "code_review_rate_limit",
        "additional_rate_limits", "credits", "rate_limit_reset_credits",
        "spend_control", "individual_limit", "rate_limit_reached_type", NULL};
    static const char *const rl[] = {"allowed", "limit_reached",
        "primary_window", "secondary_window", "individual_limit", NULL};
    static const char *const win[] = {"used_percent", "limit_window_seconds",
        "reset_after_seconds", "reset_at", NULL};
    static const char *const cr[] = {"has_credits", "unlimited",
        "overage_limit_reached", "balance", "approx_local_messages",
        "approx_cloud_messages", NULL};
    static const char *const sc[] = {"reached", "reached_limit_type",
        "individual_limit", "group_default_limit", "workspace_default_limit",
        "role_budget_limit", "group_shared_limit", "workspace_shared_limit",
        NULL};
    static const char *const wins[] = {"primary_window", "secondary_window"};
    const json_t *r = mdu_path(doc, "rate_limit");
    mdu_drift_keys(d, doc, NULL, top);
    mdu_drift_type(d, doc, NULL, "plan_type", MDU_DRIFT_STR);
    mdu_drift_type(d, doc, NULL, "rate_limit", MDU_DRIFT_OBJ);
    /* any new *_window member of rate_limit is read by name */
    const char *key;
    json_t *v;
    json_object_foreach(mdu_json_unconst(r), key, v) {
        size_t n = strlen(key);
        size_t k;
        for (k = 0; rl[k] && strcmp(rl[k], key) != 0; k++)
            ;
        if (!rl[k] && !(n > 7 && strcmp(key + n - 7, "_window") == 0)) {
            char f[96];
            snprintf(f, sizeof f, "rate_limit.%.60s", key);
            mdu_drift_note(d, f);
        }
    }
    for (size_t i = 0; i < 2; i++) {
        char pre[48];
        snprintf(pre, sizeof pre, "rate_limit.%s", wins[i]);
        mdu_drift_keys(d, mdu_path(r, wins[i]), pre, win);
        mdu_drift_type(d, mdu_path(r, wins[i]), pre, "used_percent",
                       MDU_DRIFT_NUM);
    }
    mdu_drift_keys(d, mdu_path(doc, "credits"), "credits", cr);
    mdu_drift_keys(d, mdu_path(doc, "spend_control"), "spend_control", sc);
}

static void parse_usage(const md_host *host, md_ctx *ctx, const json_t *doc)
{
    cx_seen seen = {0};
    mdu_drift d;
    mdu_drift_init(&d, host, ctx);
    cx_drift(&d, doc);
    mdu_drift_release(&d, 1);
    const char *plan = host->opt_str(ctx, "plan");
    const char *ptype = mdu_str(doc, "plan_type");
    if (!plan || !*plan)
        plan = ptype;
    const json_t *rl = mdu_path(doc, "rate_limit");
    emit_rate_limit(host, ctx, rl, "", NULL, &seen);
    if (!json_is_object(rl))
        host->note(ctx, "rate_limit is null or missing; windows unknown");
    emit_rate_limit(host, ctx, mdu_path(doc, "code_review_rate_limit"),
                    "code_review_", "Code review", &seen);
    emit_additional(host, ctx, mdu_path(doc, "additional_rate_limits"), &seen);
    emit_credits(host, ctx, mdu_path(doc, "credits"));
    emit_spend(host, ctx, doc);
    if (plan && *plan) {
        host->note(ctx, "plan: %s", plan);
        apply_meter_set(host, ctx, plan, &seen);
    } else {
        host->note(ctx, "plan unknown (no plan_type); no meter set applied");
    }
}

static int cx_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (cx_check(host, ctx) != 0)
        return -1;
    cx_creds c;
    if (load_creds(host, ctx, &c) != 0) {
        json_decref(c.doc);
        return -1;
    }
    md_http_response *r = NULL;
    json_t *doc = fetch_usage(host, ctx, &c, &r);
    json_decref(c.doc);
    if (!doc)
        return -1;
    parse_usage(host, ctx, doc);
    emit_headers(host, ctx, r);
    host->http_free(r);
    json_decref(doc);
    return 0;
}

/* Environment variables this plugin reads (md_plugin.env). */
static const char *const codex_oauth_env[] = {"CODEX_HOME", NULL};

static const md_plugin cx_plugin = {
    MD_PLUGIN_HEADER,
    "codex_oauth",
    "0.1.0",
    "ChatGPT / Codex subscription usage (wham/usage)",
    "oauth",
    cx_options,
    cx_check,
    NULL,
    cx_collect,
    NULL,
    300000, /* a private endpoint: poll it gently (5 min) by default   */
    0,      /* no hard minimum: no polling limit is documented   */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    codex_oauth_env, /* env (ABI 1.6) */
};

MD_PLUGIN_DEFINE(cx_plugin)
