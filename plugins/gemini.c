/*
 * plugins/gemini.c - Gemini CLI (Code Assist) per-model quota windows.
 *
 * Source ([C] CodexBar; private endpoint, no
 * vendor documentation):
 *   POST {base_url}/v1internal:retrieveUserQuota
 *   Authorization: Bearer <access_token>
 *   body {"project": "<id>"}: the project option, else the project
 *   POST {base_url}/v1internal:loadCodeAssist reports for this login
 *   (cloudaicompanionProject, a string or {id}; the Gemini CLI's own setup
 *   step).  The request type makes project required; only when discovery
 *   fails (not 401/403) does the request go out as {} with a note.
 *   -> {"buckets": [{"modelId": "gemini-2.5-pro", "remainingFraction": 0.842,
 *                    "resetTime": "2026-03-11T07:00:00Z",
 *                    "tokenType": "REQUESTS"}, ...]}
 *
 * Auth: the Gemini CLI's own OAuth credentials file (option
 * credentials_file, default ~/.gemini/oauth_creds.json):
 *   {access_token, refresh_token, id_token, expiry_date: <epoch ms>, ...}
 * Every token in the file is registered with host->add_secret before
 * anything else happens.  When ~/.gemini/settings.json (option
 * settings_file) names an auth type other than oauth-personal, there is no
 * quota API for it: config error.
 *
 * Refresh (option refresh, default auto; policy in mdu_oauth_refresh):
 * Google access tokens last 1 hour and the Gemini CLI renews them only
 * while it runs.  When expiry_date is less than 5 minutes away, meterd
 * does what the CLI's Google auth library does: POST the refresh-token
 * grant form-encoded (grant_type, refresh_token, and the Gemini CLI's
 * public installed-app client id and secret, which Google's installed-app
 * OAuth documentation says are not secret) to the token endpoint (option
 * token_url, default https://oauth2.googleapis.com/token), and writes
 * access_token, expiry_date (now + expires_in, epoch ms), id_token and a
 * refresh_token if one is returned back into the same file, atomically,
 * every other key kept, with the file's 2-space layout.  The CLI takes no
 * lock on the file (it rewrites it whole), so meterd serialises with
 * itself on "<file>.meterd.lock" and re-reads under it: a token the CLI
 * renewed first is used as is.  A file meterd cannot write back is never
 * refreshed (auth, saying the token lasts 1 hour and how to fix it); a
 * rejected refresh token (400 invalid_grant) is auth telling the operator
 * to run `gemini` and sign in; the file is left untouched.  With refresh:
 * off an expired token is auth telling the operator to run `gemini`.
 *
 * Options: credentials_file, settings_file, base_url, project, plan (free
 * text, noted), refresh (auto|off), token_url, expect_models (list: models the operator's tier should
 * report; a missing one appears with unknown values and a note).
 *
 * Mapping: one metric per model, id = modelId lower-cased with anything
 * outside [a-z0-9_.-] replaced by '_', kind quota_window, unit percent,
 * utilization = (1 - remainingFraction) * 100 (the fraction is the
 * REMAINING share, 0-1), resets_at = resetTime (RFC 3339).  Several
 * buckets for one model: the lowest remaining fraction governs (as CodexBar
 * does) and its resetTime is used.  A bucket without a usable
 * remainingFraction does not count towards the minimum; a model that has
 * only such buckets is still emitted, with utilization unknown (CodexBar
 * drops it; we keep it visible because unknown is not zero).
 * remainingAmount (a numeric string, in the bucket's tokenType: REQUESTS
 * or TOKENS) -> remaining, limit = remainingAmount / remainingFraction,
 * used = limit - remaining, unit requests / tokens; without it the meter
 * is percent only.  window_seconds is never reported: unknown.
 * A 401/403 saying the account is not eligible (UNSUPPORTED_CLIENT, an
 * ineligible tier, "no valid license": Google ended Gemini CLI OAuth for
 * personal accounts in June 2026) is auth with a message saying so.
 * Unknown members of the response or a bucket get a drift note (mdu_drift_*).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "meterd/plugin.h"
#include "meterd/util.h"


#define GM_DEFAULT_URL "https://cloudcode-pa.googleapis.com"
#define GM_QUOTA_PATH "/v1internal:retrieveUserQuota"
#define GM_LOAD_PATH "/v1internal:loadCodeAssist"
#define GM_CREDS "~/.gemini/oauth_creds.json"
#define GM_SETTINGS "~/.gemini/settings.json"
#define GM_RENEW "run `gemini` (the Gemini CLI) and sign in with Google to renew it"
#define GM_MAX_FILE (256 * 1024)
#define GM_TOKEN_URL "https://oauth2.googleapis.com/token"
/* The Gemini CLI's public installed-app OAuth client (its source embeds
 * both; Google documents that an installed app's secret is not secret). */
#define GM_CLIENT_ID \
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
#define GM_CLIENT_SECRET "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"
#define GM_MAX_MODELS 64

static const md_option gm_options[] = {
    {"credentials_file", MD_OPT_STRING, 0, GM_CREDS,
     "Gemini CLI OAuth credentials (refreshed tokens are written back)"},
    {"settings_file", MD_OPT_STRING, 0, GM_SETTINGS,
     "Gemini CLI settings, checked for the auth type"},
    {"base_url", MD_OPT_STRING, 0, GM_DEFAULT_URL, "Code Assist API base URL"},
    {"project", MD_OPT_STRING, 0, NULL,
     "Google Cloud project id sent with the request (optional)"},
    {"plan", MD_OPT_STRING, 0, NULL, "tier name for display (optional)"},
    {"refresh", MD_OPT_STRING, 0, "auto",
     "auto: renew an expiring access token as the Gemini CLI does and write "
     "it back; off: never touch the file"},
    {"token_url", MD_OPT_STRING, 0, GM_TOKEN_URL,
     "OAuth token endpoint used to refresh"},
    {"expect_models", MD_OPT_LIST, 0, NULL,
     "models whose quota window must appear (unknown when not reported)"},
    {0}
};

static int gm_check(const md_host *host, md_ctx *ctx)
{
    if (mdu_check_base_url(host, ctx) != 0)
        return -1;
    return mdu_oauth_check_options(host, ctx);
}

/* ---- files ---- */

/* Load a small JSON object from a file option.  Returns the document (new
 * reference), or NULL with *why set to errno (0: not a JSON object). */
static json_t *load_json_file(const char *opt_path, char **resolved, int *why)
{
    *why = ENOENT;
    *resolved = mdu_expand_home(opt_path);
    if (!*resolved)
        return NULL;
    FILE *f = fopen(*resolved, "r");
    if (!f) {
        *why = errno;
        return NULL;
    }
    char *buf = malloc(GM_MAX_FILE);
    size_t n = buf ? fread(buf, 1, GM_MAX_FILE, f) : 0;
    fclose(f);
    json_t *j = buf ? json_loadb(buf, n, 0, NULL) : NULL;
    free(buf);
    *why = 0;
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The settings file may pin a non-OAuth auth type, for which no quota API
 * exists.  Both the flat (selectedAuthType) and the nested
 * (security.auth.selectedType) spellings are accepted [U].  A missing or
 * unreadable settings file is not an error: the CLI's default is OAuth. */
static int check_auth_type(const md_host *host, md_ctx *ctx)
{
    const char *opt = host->opt_str(ctx, "settings_file");
    if (!opt || !*opt)
        return 0;
    char *path = NULL;
    int why;
    json_t *s = load_json_file(opt, &path, &why);
    free(path);
    const char *type = mdu_str(s, "selectedAuthType");
    if (!type)
        type = mdu_str(s, "security.auth.selectedType");
    int rc = 0;
    if (type && strcmp(type, "oauth-personal") != 0) {
        host->fail(ctx, MD_ERR_CONFIG, "Gemini CLI auth type is '%.40s': only "
                   "oauth-personal has a quota API", type);
        rc = -1;
    }
    json_decref(s);
    return rc;
}

/* The Gemini CLI's refresh (Google's token endpoint, form body). */
static const mdu_oauth_cli gm_refresher = {
    .cli = "Gemini CLI",
    .renew = "run `gemini` (the Gemini CLI) and sign in with Google",
    .lifetime = "1 hour",
    .token_url = GM_TOKEN_URL,
    .lock_path = NULL,
    .client_id = GM_CLIENT_ID,
    .client_secret = GM_CLIENT_SECRET,
    .json_body = 0,
    .obj = "",
    .access_key = "access_token",
    .refresh_key = "refresh_token",
    .id_token_key = "id_token",
    .expiry_key = "expiry_date",
    .expiry_kind = MDU_OAUTH_EXPIRY_EPOCH_MS, /* read as s or ms */
    .default_lifetime_s = 3600.0,
};

/* Read the access token (registered as a secret), refresh it when it is
 * due and refresh is on, and refuse an expired one.  Returns a copy the caller frees, or NULL after host->fail(). */
static char *read_token(const md_host *host, md_ctx *ctx)
{
    const char *opt = host->opt_str(ctx, "credentials_file");
    char *path = NULL;
    int why;
    json_t *c = load_json_file(opt ? opt : GM_CREDS, &path, &why);
    if (!c) {
        host->fail(ctx, MD_ERR_AUTH, "no Gemini CLI credentials in %s (%s); %s",
                   path ? path : opt, why ? strerror(why) : "not a JSON object",
                   GM_RENEW);
        free(path);
        return NULL;
    }
    mdu_oauth_add_secrets(host, ctx, &gm_refresher, c);
    if (mdu_oauth_refresh(host, ctx, &gm_refresher, path, &c) < 0) {
        free(path);
        json_decref(c);
        return NULL;
    }
    const char *tok = mdu_str(c, "access_token");
    /* expiry_date is epoch ms [C]; tolerate seconds too. */
    md_time exp = mdu_time(host, ctx, c, "expiry_date", MD_TS_EPOCH_S_OR_MS);
    char *out = NULL;
    if (!tok || !*tok)
        host->fail(ctx, MD_ERR_AUTH, "no access_token in %s; %s", path, GM_RENEW);
    else if (exp.state == MD_KNOWN && exp.epoch <= host->now(ctx))
        host->fail(ctx, MD_ERR_AUTH, "Gemini CLI token in %s expired %.0f s "
                   "ago; %s%s", path, host->now(ctx) - exp.epoch, GM_RENEW,
                   mdu_oauth_enabled(host, ctx) ? " (there is no refresh token)"
                       : " (refresh: off; Google tokens last 1 hour)");
    else if (!(out = strdup(tok)))
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
    free(path);
    json_decref(c);
    return out;
}

/* ---- request ---- */

/* Google ended Gemini CLI OAuth quota access for individual, Google AI Pro
 * and Ultra accounts in June 2026: the API answers 401/403 with
 * UNSUPPORTED_CLIENT or an ineligible-tier error, or "You do not have a
 * valid license of this product".  Whether this response is one. */
static int consumer_tier_ended(const md_http_response *r)
{
    static const char *const marks[] = {"UNSUPPORTED_CLIENT",
        "IneligibleTier", "INELIGIBLE_TIER", "valid license"};
    if ((r->status != 401 && r->status != 403) || !r->body)
        return 0;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (memmem(r->body, r->body_len, marks[i], strlen(marks[i])))
            return 1;
    return 0;
}

/* POST body (a JSON object, borrowed) to path.  A non-2xx fails the
 * collection (the consumer-tier shutdown with its own message), except
 * when soft is set and the status is neither 401 nor 403: then a note, and
 * *soft_failed is set.  Returns the document (new reference), or NULL. */
static json_t *gm_post(const md_host *host, md_ctx *ctx, const char *token,
                       const char *path, const json_t *bj, int keep_raw,
                       int soft, int *soft_failed)
{
    char *url = mdu_url(host, ctx, path);
    char *auth = mdu_bearer(host, ctx, token);
    char *body = bj ? json_dumps(bj, JSON_COMPACT) : NULL;
    json_t *doc = NULL;
    if (soft_failed)
        *soft_failed = 0;
    if (!url || !auth || !body) {
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        goto out;
    }
    const char *headers[] = {auth, "Content-Type: application/json",
                             "Accept: application/json", NULL};
    md_http_request req = {0};
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = strlen(body);
    md_http_response *r = NULL;
    if (host->http(ctx, &req, &r) != 0) {
        host->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                   "POST %s: %s", url, r && r->error ? r->error : "request failed");
    } else if (consumer_tier_ended(r)) {
        char msg[MDU_MAX_MESSAGE];
        mdu_error_message(r, msg, sizeof msg);
        host->fail(ctx, MD_ERR_AUTH, "HTTP %ld: %s; Google no longer serves "
                   "Gemini CLI quota to personal Google accounts (individual, "
                   "Google AI Pro and Ultra sign-ins ended in June 2026): use "
                   "a Gemini Code Assist Standard or Enterprise licence",
                   r->status, msg[0] ? msg : "not eligible");
    } else if ((r->status < 200 || r->status > 299) && soft &&
               r->status != 401 && r->status != 403) {
        host->note(ctx, "POST %s: HTTP %ld", path, r->status);
        if (soft_failed)
            *soft_failed = 1;
    } else if (r->status < 200 || r->status > 299) {
        mdu_fail_status(host, ctx, r, GM_RENEW);
    } else {
        doc = mdu_body_json(host, ctx, r, url);
        if (doc && keep_raw) {
            host->set_raw(ctx, r->body, r->body_len);
            mdu_emit_rate_limit_headers(host, ctx, r);
        }
    }
    host->http_free(r);
out:
    mdu_free_secret(auth); /* holds the token */
    free(body);
    free(url);
    return doc;
}

/* The project retrieveUserQuota needs (its request type makes it
 * required; the Gemini CLI never calls it without one): the option, else
 * what loadCodeAssist reports for this login (cloudaicompanionProject, a
 * string or {id}), as the CLI's own setup does.  Returns a copy, or NULL:
 * *failed tells whether the collection was failed (else the request goes
 * without a project, noted). */
static char *find_project(const md_host *host, md_ctx *ctx, const char *token,
                          int *failed)
{
    const char *opt = host->opt_str(ctx, "project");
    *failed = 0;
    if (opt && *opt)
        return strdup(opt);
    json_t *bj = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "ideType",
                           "IDE_UNSPECIFIED", "platform",
                           "PLATFORM_UNSPECIFIED", "pluginType", "GEMINI");
    int soft = 0;
    json_t *doc = bj ? gm_post(host, ctx, token, GM_LOAD_PATH, bj, 0, 1, &soft)
                     : NULL;
    json_decref(bj);
    if (!doc) {
        *failed = !soft;
        if (soft)
            host->note(ctx, "could not discover the Code Assist project "
                       "(loadCodeAssist); quota requested without one");
        return NULL;
    }
    const char *p = mdu_str(doc, "cloudaicompanionProject");
    if (!p)
        p = mdu_str(doc, "cloudaicompanionProject.id");
    const char *tier = mdu_str(doc, "currentTier.id");
    if (tier)
        host->note(ctx, "tier: %.60s", tier);
    char *out = p && *p ? strdup(p) : NULL;
    if (!out)
        host->note(ctx, "loadCodeAssist reported no project (the account "
                   "may need onboarding with `gemini`); quota requested "
                   "without one");
    json_decref(doc);
    return out;
}

/* POST the quota request for project (NULL: none).  Returns the document
 * (new reference) or NULL after host->fail(). */
static json_t *post_quota(const md_host *host, md_ctx *ctx, const char *token,
                          const char *project)
{
    json_t *bj = project ? json_pack("{s:s}", "project", project)
                         : json_object();
    json_t *doc = bj ? gm_post(host, ctx, token, GM_QUOTA_PATH, bj, 1, 0, NULL)
                     : NULL;
    if (!bj)
        host->fail(ctx, MD_ERR_INTERNAL, "out of memory");
    json_decref(bj);
    return doc;
}

/* ---- buckets ---- */

typedef struct gm_model {
    char id[65];
    const char *model;     /* borrowed from the document; NULL: none */
    const char *token_type;
    md_num fraction;       /* lowest known remaining fraction */
    md_num amount;         /* remainingAmount of that bucket */
    md_time resets_at;     /* of the bucket holding that fraction */
} gm_model;

/* Metric id from a model id: lower case, [a-z0-9_.-] only, at most 64. */
static void sanitise_id(const char *model, size_t idx, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = model; p && *p && o + 1 < len && o < 64; p++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)*p);
        out[o++] = (isalnum(ch) || ch == '_' || ch == '.' || ch == '-')
                       ? (char)ch : '_';
    }
    out[o] = '\0';
    if (o == 0) /* no model id: keep the bucket visible under its index */
        snprintf(out, len, "bucket_%zu", idx);
}

/* The remaining fraction of a bucket, unknown unless it is 0..1. */
static md_num bucket_fraction(const md_host *host, md_ctx *ctx,
                              const json_t *b, const char *model)
{
    md_num f = mdu_num(host, b, "remainingFraction");
    if (f.state == MD_KNOWN && f.value > 1.0) {
        host->note(ctx, "%s: remainingFraction %g is outside 0..1; "
                   "utilization unknown", model, f.value);
        f.state = MD_UNKNOWN;
    }
    return f;
}

/* Fold one bucket into the per-model table.  Returns the new count. */
static size_t fold_bucket(const md_host *host, md_ctx *ctx, const json_t *b,
                          size_t idx, gm_model *models, size_t n)
{
    const char *model = mdu_str(b, "modelId");
    char id[65];
    sanitise_id(model, idx, id, sizeof id);
    md_num f = bucket_fraction(host, ctx, b, id);
    md_time reset = mdu_time(host, ctx, b, "resetTime", MD_TS_RFC3339);
    size_t i = 0;
    while (i < n && strcmp(models[i].id, id) != 0)
        i++;
    if (i == n) {
        if (n == GM_MAX_MODELS) {
            host->note(ctx, "more than %d models; %s ignored", GM_MAX_MODELS, id);
            return n;
        }
        memset(&models[i], 0, sizeof models[i]);
        memcpy(models[i].id, id, sizeof id);
        models[i].model = model;
        models[i].token_type = mdu_str(b, "tokenType");
        models[i].resets_at = reset;
        models[i].amount = mdu_num(host, b, "remainingAmount");
        n++;
    }
    gm_model *m = &models[i];
    if (f.state == MD_KNOWN &&
        (m->fraction.state != MD_KNOWN || f.value < m->fraction.value)) {
        m->fraction = f;
        m->amount = mdu_num(host, b, "remainingAmount");
        m->resets_at = reset;
        m->token_type = mdu_str(b, "tokenType");
    }
    return n;
}

static void emit_model(const md_host *host, md_ctx *ctx, const gm_model *g)
{
    char label[160];
    snprintf(label, sizeof label, "Gemini %.100s%s%.20s%s",
             g->model ? g->model : g->id,
             g->token_type ? " (" : "", g->token_type ? g->token_type : "",
             g->token_type ? ")" : "");
    md_metric m = {0};
    m.id = g->id;
    m.label = label;
    m.kind = "quota_window";
    m.unit = "percent";
    /* remainingFraction is the REMAINING share on a 0-1 scale. */
    m.utilization = mdu_remaining_to_used_percent(mdu_fraction_to_percent(g->fraction));
    m.resets_at = g->resets_at;
    /* remainingAmount is what is left in the bucket's own unit; the Gemini
     * CLI derives the limit as remainingAmount / remainingFraction. */
    if (g->amount.state == MD_KNOWN) {
        m.remaining = g->amount;
        if (g->fraction.state == MD_KNOWN && g->fraction.value > 0) {
            m.limit = MD_NUM(g->amount.value / g->fraction.value);
            m.used = MD_NUM(m.limit.value - g->amount.value);
        }
        m.unit = g->token_type && strcasecmp(g->token_type, "TOKENS") == 0
                     ? "tokens" : "requests";
    }
    MD_EMIT(host, ctx, &m);
    if (g->fraction.state != MD_KNOWN)
        host->note(ctx, "%s: no remainingFraction reported; utilization unknown",
                   g->id);
}

/* Declare the models the operator expects (meter set for their tier). */
static void expect_models(const md_host *host, md_ctx *ctx)
{
    if (host->abi_minor < 1 || !host->expect_metric)
        return;
    size_t n = 0;
    const char *const *list = host->opt_list(ctx, "expect_models", &n);
    for (size_t i = 0; i < n; i++) {
        char id[65], note[200];
        sanitise_id(list[i], i, id, sizeof id);
        snprintf(note, sizeof note, "expected model %.64s; the provider did "
                 "not report its quota", list[i]);
        md_metric m = {0};
        m.id = id;
        m.label = list[i];
        m.kind = "quota_window";
        m.unit = "percent";
        MD_EXPECT(host, ctx, &m, note);
    }
}

/* Drift: members of the response and of a bucket the plugin does not
 * know. */
static void gm_drift(mdu_drift *d, const json_t *doc)
{
    static const char *const top[] = {"buckets", NULL};
    static const char *const bucket[] = {"modelId", "remainingFraction",
        "remainingAmount", "resetTime", "tokenType", NULL};
    size_t i;
    json_t *b;
    mdu_drift_keys(d, doc, NULL, top);
    json_array_foreach(json_object_get(doc, "buckets"), i, b) {
        mdu_drift_keys(d, b, "buckets[]", bucket);
        mdu_drift_type(d, b, "buckets[]", "remainingFraction", MDU_DRIFT_NUM);
        mdu_drift_type(d, b, "buckets[]", "remainingAmount", MDU_DRIFT_NUM);
    }
}

static int parse_quota(const md_host *host, md_ctx *ctx, const json_t *doc)
{
    const json_t *buckets = json_object_get(doc, "buckets");
    if (buckets && !json_is_array(buckets) && !json_is_null(buckets)) {
        host->fail(ctx, MD_ERR_BAD_DATA, "buckets is not an array");
        return -1;
    }
    gm_model models[GM_MAX_MODELS];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(buckets); i++) {
        const json_t *b = json_array_get(buckets, i);
        if (json_is_object(b))
            n = fold_bucket(host, ctx, b, i, models, n);
    }
    for (size_t i = 0; i < n; i++)
        emit_model(host, ctx, &models[i]);
    if (n == 0)
        host->note(ctx, "no quota buckets reported");
    return 0;
}

static int gm_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    if (gm_check(host, ctx) != 0 || check_auth_type(host, ctx) != 0)
        return -1;
    char *token = read_token(host, ctx);
    if (!token)
        return -1;
    int failed;
    char *project = find_project(host, ctx, token, &failed);
    json_t *doc = failed ? NULL : post_quota(host, ctx, token, project);
    free(project);
    free(token);
    if (!doc)
        return -1;
    mdu_drift d;
    mdu_drift_init(&d, host, ctx);
    gm_drift(&d, doc);
    mdu_drift_release(&d, 1);
    const char *plan = host->opt_str(ctx, "plan");
    if (plan && *plan)
        host->note(ctx, "plan: %s", plan);
    expect_models(host, ctx);
    int rc = parse_quota(host, ctx, doc);
    json_decref(doc);
    return rc;
}

static const md_plugin gm_plugin = {
    MD_PLUGIN_HEADER,
    "gemini",
    "0.1.0",
    "Gemini CLI per-model quota (v1internal:retrieveUserQuota)",
    "oauth",
    gm_options,
    gm_check,
    NULL,
    gm_collect,
    NULL,
    0, /* default_interval_ms: the config's interval */
    0, /* min_interval_ms: none */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(gm_plugin)
