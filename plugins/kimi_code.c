/*
 * plugins/kimi_code.c - Kimi Code (kimi.com subscription) request quotas.
 *
 * Source (private endpoint, [C] CodexBar):
 *   GET {base_url}/coding/v1/usages
 *   {"usage": {"limit", "used", "remaining", "resetTime"},
 *    "limits": [{"window": {"duration": int, "timeUnit":
 *                "TIME_UNIT_MINUTE" | "TIME_UNIT_HOUR" | "TIME_UNIT_DAY"},
 *                "detail": {"limit", "used", "remaining"?, "resetTime"}}]}
 *   Counts are strings or numbers; the reset key is spelled resetTime,
 *   resetAt, reset_time or reset_at, RFC 3339 with up to 9 fraction digits.
 * Auth: "Authorization: Bearer <token>".  The token is option api_key
 * (MD_OPT_SECRET, ${KIMI_CODE_API_KEY}) or, when that is unset, the CLI's
 * own file credentials_file.  At the option's default the first existing
 * of $KIMI_SHARE_DIR/credentials/kimi-code.json,
 * ~/.kimi/credentials/kimi-code.json (the Kimi CLI's file fallback when it
 * cannot use the OS keychain) and ~/.kimi-code/credentials/kimi-code.json
 * is read.  The CLI writes {access_token, refresh_token, expires_at (epoch
 * s, fractional), scope, token_type, expires_in}; we also accept
 * accessToken / token / api_key, under "credentials" too, and expiresAt /
 * expiry (epoch s or ms, or RFC 3339).
 * Refresh (option refresh, default auto; policy in mdu_oauth_refresh):
 * access tokens last about 10-15 minutes and the CLI renews them only
 * while it runs.  When the CLI's own layout is there (access_token,
 * refresh_token, expires_at) and expires_at is less than 5 minutes away,
 * meterd does what the Kimi CLI does: take the CLI's cross-process lock
 * (an flock on kimi-code.lock beside the credentials file), re-read the
 * file (a token the CLI renewed meanwhile is used as is), POST the
 * refresh-token grant form-encoded (client_id = the Kimi CLI's public
 * client id, grant_type, refresh_token; X-Msh-Platform and the CLI's
 * X-Msh-Device-Id headers) to the token endpoint (option token_url,
 * default https://auth.kimi.com/api/oauth/token), and write access_token,
 * refresh_token (rotated), expires_at and expires_in back atomically,
 * every other key kept.  A file meterd cannot write back, or another
 * layout, is never refreshed: auth saying the token lasts 10-15 minutes
 * and how to fix it.  A rejected refresh token (HTTP 400/401) is auth
 * telling the operator to run `kimi login`; the file is left untouched.
 * refresh: off never touches the file: an expired token is auth.
 * Options: api_key, credentials_file, base_url (default
 * https://api.kimi.com), plan (free text, shown as a note), refresh
 * (auto|off), token_url.
 *
 * Mapping (kind quota_window, unit requests; utilization is derived by the
 * core from used / limit):
 *   usage          the weekly request quota -> seven_day
 *                  (window_seconds 604800)
 *   limits[]       window duration x timeUnit (from "window", else the
 *                  entry, else the detail; the unit matched by substring
 *                  as the official CLI does): 300 min -> five_hour,
 *                  10080 min -> seven_day (or seven_day_2 when "usage"
 *                  already gave it), else window_<minutes>m; limit / used /
 *                  remaining from detail, or from the entry itself when it
 *                  has no detail; resets_at from its reset key.
 *   used           limit - remaining when used is absent (official CLI).
 *   resets         resetTime / resetAt / reset_time / reset_at (absolute),
 *                  else reset_in / resetIn / ttl (seconds from now).
 *   user.membership.level -> note "plan: <level>" (the plan option wins).
 *   usages.{limit_5h, limit_7d, limit_month_total}.used_ratio (0-1; one
 *                  third-party client only) -> five_hour, seven_day,
 *                  month_total in percent.
 *   A null or missing value stays unknown; unknown members get a drift
 *   note (mdu_drift_*) once a day.
 * Meter set: every plan -> five_hour, seven_day [C: CodexBar shows both].
 * Errors: 401/403 auth, 429 rate_limited, other non-2xx http, unparseable
 * bad_data.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meterd/util.h"


#define KC_DEFAULT_URL "https://api.kimi.com"
#define KC_PATH "/coding/v1/usages"
#define KC_CRED_DEFAULT "~/.kimi-code/credentials/kimi-code.json"
#define KC_RENEW "sign in again with the Kimi Code CLI (kimi login) or set api_key"
#define KC_MAX_FILE (64 * 1024)
#define KC_TOKEN_URL "https://auth.kimi.com/api/oauth/token"
/* The Kimi CLI's public OAuth client id */
#define KC_CLIENT_ID "17e5f671-d194-4dfb-9706-5516cb48c098"

static const md_option kc_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "Kimi Code API key, e.g. ${KIMI_CODE_API_KEY} (or api_key_file)"},
    {"credentials_file", MD_OPT_STRING, 0, KC_CRED_DEFAULT,
     "the Kimi Code CLI's credential file, used without api_key (refreshed "
     "tokens are written back)"},
    {"base_url", MD_OPT_STRING, 0, KC_DEFAULT_URL, "API base URL"},
    {"plan", MD_OPT_STRING, 0, NULL, "subscription plan name (note only)"},
    {"refresh", MD_OPT_STRING, 0, "auto",
     "auto: renew an expiring access token as the Kimi CLI does and write it "
     "back; off: never touch the file"},
    {"token_url", MD_OPT_STRING, 0, KC_TOKEN_URL,
     "OAuth token endpoint used to refresh"},
    {0}
};

static int kc_check(const md_host *h, md_ctx *ctx)
{
    if (mdu_check_base_url(h, ctx) != 0)
        return -1;
    return mdu_oauth_check_options(h, ctx);
}

/* ---- credentials ---- */

/* The credentials file.  At the option's default, the Kimi CLI's own
 * places come first: $KIMI_SHARE_DIR/credentials/kimi-code.json, then
 * ~/.kimi/credentials/kimi-code.json (the CLI's fallback when it cannot use
 * the OS keychain), then the older ~/.kimi-code location.  The first file
 * that exists wins; none: the last candidate (for the message). */
static char *cred_path(const char *opt)
{
    if (opt && *opt && strcmp(opt, KC_CRED_DEFAULT) != 0)
        return mdu_expand_home(opt);
    const char *share = getenv("KIMI_SHARE_DIR");
    char *cand[3] = {NULL, NULL, NULL};
    if (share && *share) {
        size_t n = strlen(share) + sizeof "/credentials/kimi-code.json";
        cand[0] = malloc(n);
        if (cand[0])
            snprintf(cand[0], n, "%s/credentials/kimi-code.json", share);
    }
    cand[1] = mdu_expand_home("~/.kimi/credentials/kimi-code.json");
    cand[2] = mdu_expand_home(KC_CRED_DEFAULT);
    char *pick = NULL;
    for (int i = 0; i < 3 && !pick; i++)
        if (cand[i] && access(cand[i], F_OK) == 0)
            pick = cand[i];
    if (!pick)
        pick = cand[0] ? cand[0] : cand[2];
    for (int i = 0; i < 3; i++)
        if (cand[i] != pick)
            free(cand[i]);
    return pick;
}

static const char *first_str(const json_t *o, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        if (mdu_str(o, keys[i]))
            return mdu_str(o, keys[i]);
    return NULL;
}

/* path with its last ".json" replaced by suffix (the CLI names its lock
 * kimi-code.lock beside kimi-code.json).  Caller frees. */
static char *kc_sibling(const char *path, const char *suffix)
{
    const char *slash = strrchr(path, '/');
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".json") == 0)
        n -= 5;
    if (slash && suffix[0] == '/')
        n = (size_t)(slash - path);
    char *out = malloc(n + strlen(suffix) + 1);
    if (out)
        snprintf(out, n + strlen(suffix) + 1, "%.*s%s", (int)n, path, suffix);
    return out;
}

/* Refresh the CLI's token in *doc when due (see the header comment).
 * 0 (nothing due, or renewed), 1 (not refreshable), -1 after fail(). */
static int kc_refresh(const md_host *h, md_ctx *ctx, const char *path,
                      json_t **doc)
{
    if (!mdu_oauth_enabled(h, ctx) || !mdu_str(*doc, "access_token") ||
        !mdu_str(*doc, "refresh_token") || !json_object_get(*doc, "expires_at"))
        return 1;
    /* the CLI keeps device_id in its share directory, the parent of
     * credentials/ */
    char *cred_dir = kc_sibling(path, "/");
    char *share_id = NULL, *devhdr = NULL;
    if (cred_dir) {
        size_t n = strlen(cred_dir);
        while (n > 1 && cred_dir[n - 1] == '/')
            cred_dir[--n] = '\0';
        char *up = strrchr(cred_dir, '/');
        if (up)
            *up = '\0';
        if (asprintf(&share_id, "%s/device_id", cred_dir) < 0)
            share_id = NULL;
    }
    FILE *f = share_id ? fopen(share_id, "r") : NULL;
    char dev[128] = "";
    if (f) {
        if (fgets(dev, sizeof dev, f))
            dev[strcspn(dev, "\r\n")] = '\0';
        fclose(f);
    }
    if (dev[0] && asprintf(&devhdr, "X-Msh-Device-Id: %s", dev) < 0)
        devhdr = NULL;
    const char *headers[] = {"X-Msh-Platform: kimi_cli", devhdr, NULL};
    char *lock = kc_sibling(path, ".lock");
    mdu_oauth_cli p = {
        .cli = "Kimi Code",
        .renew = "run `kimi login`",
        .lifetime = "about 10-15 minutes",
        .token_url = KC_TOKEN_URL,
        .lock_path = lock,
        .client_id = KC_CLIENT_ID,
        .json_body = 0,
        .headers = headers,
        .obj = "",
        .access_key = "access_token",
        .refresh_key = "refresh_token",
        .expiry_key = "expires_at",
        .expiry_kind = MDU_OAUTH_EXPIRY_EPOCH_S,
        .expires_in_key = "expires_in",
        .default_lifetime_s = 900.0,
    };
    int rc = lock ? mdu_oauth_refresh(h, ctx, &p, path, doc) : 1;
    free(lock);
    free(devhdr);
    free(share_id);
    free(cred_dir);
    return rc;
}

/* The token from the CLI's file into *out (malloc'd).  0, or -1 after
 * failing the collection (missing file: auth; expired: auth + renew). */
static int token_from_file(const md_host *h, md_ctx *ctx, char **out)
{
    static const char *const tok_keys[] = {
        "access_token", "accessToken", "token", "api_key",
        "credentials.access_token", "credentials.accessToken", NULL};
    static const char *const exp_keys[] = {
        "expires_at", "expiresAt", "expiry", "credentials.expires_at",
        "credentials.expiresAt", NULL};
    const char *opt = h->opt_str(ctx, "credentials_file");
    char *path = cred_path(opt);
    json_error_t err;
    json_t *doc = path ? json_load_file(path, 0, &err) : NULL;
    *out = NULL;
    if (!doc) {
        h->fail(ctx, MD_ERR_AUTH, "no api_key and no readable credentials "
                "file %s; %s", path ? path : "?", KC_RENEW);
        free(path);
        return -1;
    }
    if (mdu_str(doc, "refresh_token"))
        h->add_secret(ctx, mdu_str(doc, "refresh_token"));
    if (mdu_str(doc, "access_token"))
        h->add_secret(ctx, mdu_str(doc, "access_token"));
    if (kc_refresh(h, ctx, path, &doc) < 0) {
        free(path);
        json_decref(doc);
        return -1;
    }
    free(path);
    const char *tok = first_str(doc, tok_keys);
    if (!tok || !*tok) {
        h->fail(ctx, MD_ERR_AUTH, "credentials file holds no token; %s", KC_RENEW);
        json_decref(doc);
        return -1;
    }
    h->add_secret(ctx, tok);
    md_time exp = {MD_UNKNOWN, 0};
    for (size_t i = 0; exp_keys[i] && exp.state != MD_KNOWN; i++)
        exp = mdu_time(h, ctx, doc, exp_keys[i], MD_TS_EPOCH_S_OR_MS);
    for (size_t i = 0; exp_keys[i] && exp.state != MD_KNOWN; i++)
        exp = mdu_time(h, ctx, doc, exp_keys[i], MD_TS_RFC3339);
    if (exp.state == MD_KNOWN && exp.epoch <= h->now(ctx)) {
        h->fail(ctx, MD_ERR_AUTH, "the Kimi Code token in the credentials file "
                "has expired; %s%s", KC_RENEW, mdu_oauth_enabled(h, ctx)
                    ? " (it has no refresh token meterd can use)"
                    : " (refresh: off; tokens last about 10-15 minutes)");
        json_decref(doc);
        return -1;
    }
    *out = strdup(tok);
    json_decref(doc);
    return *out ? 0 : -1;
}

/* ---- HTTP ---- */

/* ---- payload ---- */

/* Absolute reset keys first, then the relative ones the official CLI also
 * reads (reset_in / resetIn / ttl, seconds from now). */
static md_time reset_of(const md_host *h, md_ctx *ctx, const json_t *o)
{
    static const char *const keys[] = {"resetTime", "resetAt", "reset_time",
                                       "reset_at"};
    static const char *const rel[] = {"reset_in", "resetIn", "ttl"};
    md_time t = {MD_UNKNOWN, 0};
    for (size_t i = 0; i < 4 && t.state != MD_KNOWN; i++)
        t = mdu_time(h, ctx, o, keys[i], MD_TS_AUTO);
    for (size_t i = 0; i < 3 && t.state != MD_KNOWN; i++) {
        md_num secs = mdu_num(h, o, rel[i]);
        if (secs.state == MD_KNOWN)
            t = MD_TIME(h->now(ctx) + secs.value);
    }
    return t;
}

/* Minutes of a limits[].window; -1 when unknown. */
static long window_minutes(const md_host *h, const json_t *w)
{
    md_num d = mdu_num(h, w, "duration");
    const char *u = mdu_str(w, "timeUnit");
    if (d.state != MD_KNOWN || !u)
        return -1;
    /* substring, as the official CLI matches ("MINUTE" in time_unit) */
    if (strstr(u, "MINUTE"))
        return (long)d.value;
    if (strstr(u, "HOUR"))
        return (long)(d.value * 60);
    if (strstr(u, "DAY"))
        return (long)(d.value * 1440);
    return -1;
}

static void emit_counts(const md_host *h, md_ctx *ctx, const json_t *o,
                        const char *id, long minutes)
{
    md_metric m = {0};
    char label[64];
    snprintf(label, sizeof label, "Kimi Code %s", id);
    m.id = id;
    m.label = label;
    m.kind = "quota_window";
    m.unit = "requests";
    m.limit = mdu_num(h, o, "limit");
    m.used = mdu_num(h, o, "used");
    m.remaining = mdu_num(h, o, "remaining");
    /* the official CLI: used = limit - remaining when used is absent */
    if (m.used.state != MD_KNOWN)
        m.used = mdu_sub(m.limit, m.remaining);
    if (minutes > 0)
        m.window_seconds = MD_NUM(minutes * 60.0);
    m.resets_at = reset_of(h, ctx, o);
    MD_EMIT(h, ctx, &m);
}

static void parse(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    int have_week = 0;
    size_t i;
    json_t *e;
    json_t *usage = json_object_get(doc, "usage");
    if (json_is_object(usage)) {
        emit_counts(h, ctx, usage, "seven_day", 10080);
        have_week = 1;
    }
    json_array_foreach(json_object_get(doc, "limits"), i, e) {
        char id[48];
        if (!json_is_object(e)) {
            h->note(ctx, "limits[%zu] is not an object; skipped", i);
            continue;
        }
        /* as the official CLI: detail, else the entry itself; the window
         * from "window", else the entry, else the detail */
        json_t *detail = json_object_get(e, "detail");
        if (!json_is_object(detail))
            detail = e;
        long mins = window_minutes(h, json_object_get(e, "window"));
        if (mins < 0)
            mins = window_minutes(h, e);
        if (mins < 0)
            mins = window_minutes(h, detail);
        if (mins == 300)
            snprintf(id, sizeof id, "five_hour");
        else if (mins == 10080)
            snprintf(id, sizeof id, have_week ? "seven_day_2" : "seven_day");
        else if (mins > 0)
            snprintf(id, sizeof id, "window_%ldm", mins);
        else
            snprintf(id, sizeof id, "window_%zu", i);
        emit_counts(h, ctx, detail, id, mins);
    }
}

/* The ratio pool ("usages": {"limit_5h": {"used_ratio": 0-1, ...}}), seen
 * in one third-party client only: percent windows. */
static void parse_ratios(const md_host *h, md_ctx *ctx, const json_t *u)
{
    static const struct { const char *key, *id; double win; } pools[] = {
        {"limit_5h", "five_hour", 18000}, {"limit_7d", "seven_day", 604800},
        {"limit_month_total", "month_total", 0}};
    for (size_t i = 0; i < 3; i++) {
        const json_t *o = json_object_get(u, pools[i].key);
        if (!json_is_object(o))
            continue;
        md_metric m = {0};
        char label[64];
        snprintf(label, sizeof label, "Kimi Code %s", pools[i].id);
        m.id = pools[i].id;
        m.label = label;
        m.kind = "quota_window";
        m.unit = "percent";
        m.utilization = mdu_fraction_to_percent(mdu_num(h, o, "used_ratio"));
        if (pools[i].win > 0)
            m.window_seconds = MD_NUM(pools[i].win);
        m.resets_at = reset_of(h, ctx, o);
        MD_EMIT(h, ctx, &m);
    }
}

/* Drift: members of the objects the plugin maps that it does not know. */
static void kc_drift(mdu_drift *d, const json_t *doc)
{
    static const char *const top[] = {"usage", "limits", "user", "usages",
                                      NULL};
    static const char *const counts[] = {"limit", "used", "remaining",
        "resetTime", "resetAt", "reset_time", "reset_at", "reset_in",
        "resetIn", "ttl", "name", "title", "scope", NULL};
    static const char *const entry[] = {"window", "detail", "duration",
        "timeUnit", "limit", "used", "remaining", "resetTime", "resetAt",
        "reset_time", "reset_at", "reset_in", "resetIn", "ttl", "name",
        "title", "scope", NULL};
    size_t i;
    json_t *e;
    mdu_drift_keys(d, doc, NULL, top);
    json_t *usage = json_object_get(doc, "usage");
    mdu_drift_keys(d, usage, "usage", counts);
    mdu_drift_type(d, usage, "usage", "limit", MDU_DRIFT_NUM);
    mdu_drift_type(d, usage, "usage", "used", MDU_DRIFT_NUM);
    json_array_foreach(json_object_get(doc, "limits"), i, e) {
        mdu_drift_keys(d, e, "limits[]", entry);
        mdu_drift_keys(d, json_object_get(e, "detail"), "limits[].detail",
                       counts);
    }
}

static void expect_meters(const md_host *h, md_ctx *ctx)
{
    const char *plan = h->opt_str(ctx, "plan");
    static const struct { const char *id; double win; } set[] = {
        {"five_hour", 18000}, {"seven_day", 604800}};
    if (plan && *plan)
        h->note(ctx, "plan: %.40s", plan);
    if (h->abi_minor < 1 || !h->expect_metric)
        return;
    for (size_t i = 0; i < 2; i++) {
        md_metric m = {0};
        char note[128];
        m.id = set[i].id;
        m.kind = "quota_window";
        m.unit = "requests";
        m.window_seconds = MD_NUM(set[i].win);
        snprintf(note, sizeof note, "Kimi Code plans have %s; the provider "
                 "did not report it", set[i].id);
        MD_EXPECT(h, ctx, &m, note);
    }
}

static int kc_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    if (kc_check(h, ctx) != 0)
        return -1;
    const char *key = h->opt_str(ctx, "api_key");
    char *tok = NULL;
    if (key && *key) {
        h->add_secret(ctx, key);
        tok = strdup(key);
    } else if (token_from_file(h, ctx, &tok) != 0) {
        return -1;
    }
    json_t *doc = NULL;
    int rc = -1;
    if (!tok) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
    } else {
        expect_meters(h, ctx);
        if (mdu_get_bearer_json(h, ctx, KC_PATH, tok, KC_RENEW, NULL,
                                &doc) == 0) {
            mdu_drift d;
            mdu_drift_init(&d, h, ctx);
            kc_drift(&d, doc);
            mdu_drift_release(&d, 1);
            const char *plan = h->opt_str(ctx, "plan");
            const char *level = mdu_str(doc, "user.membership.level");
            if ((!plan || !*plan) && level)
                h->note(ctx, "plan: %.40s", level);
            parse(h, ctx, doc);
            if (json_is_object(json_object_get(doc, "usages")))
                parse_ratios(h, ctx, json_object_get(doc, "usages"));
            rc = 0;
        }
    }
    mdu_free_secret(tok);
    json_decref(doc);
    return rc;
}

/* Environment variables this plugin reads (md_plugin.env). */
static const char *const kimi_code_env[] = {"KIMI_SHARE_DIR", NULL};

static const md_plugin kc_plugin = {
    MD_PLUGIN_HEADER,
    "kimi_code",
    "0.1.0",
    "Kimi Code subscription request quotas (coding/v1/usages)",
    "api",
    kc_options,
    kc_check,
    NULL,
    kc_collect,
    NULL,
    0, /* default_interval_ms: the global interval */
    0, /* min_interval_ms */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    kimi_code_env, /* env (ABI 1.6) */
};

MD_PLUGIN_DEFINE(kc_plugin)
