/*
 * plugins/anthropic_oauth.c - Claude subscription usage (Claude Code login).
 *
 * Source (private endpoint, [C]/[T] only):
 *   GET {base_url}/api/oauth/usage
 *   Authorization: Bearer <claudeAiOauth.accessToken>
 *   anthropic-beta: oauth-2025-04-20          (required [C])
 *
 * Auth: the token is read from Claude Code's own credentials file (option
 * credentials_file, default ~/.claude/.credentials.json, or
 * $CLAUDE_CONFIG_DIR/.credentials.json when that is set); with the option
 * at its default, a CLAUDE_CODE_OAUTH_TOKEN in the environment comes first,
 * as in Claude Code (expiry unknown, never refreshed; plan from the
 * option).  Both tokens are registered with host->add_secret before
 * anything else happens.
 *
 * Refresh (option refresh, default auto; mdu_oauth_refresh holds the shared
 * policy): access tokens last hours (about 8-12 h) and Claude Code renews
 * them only while it runs, so an idle machine would read auth all night.
 * When claudeAiOauth.expiresAt (epoch ms) is less than 5 minutes away,
 * meterd does what Claude Code does: POST {"grant_type": "refresh_token",
 * "refresh_token", "client_id": Claude Code's public client id} as JSON to
 * the token endpoint (option token_url, default
 * https://platform.claude.com/v1/oauth/token), and writes accessToken,
 * refreshToken (rotated: the old one stops working) and expiresAt back
 * into the same file, atomically, every other key kept.  Claude Code takes
 * no lock on the file, so meterd serialises with itself on a sibling
 * "<file>.meterd.lock" and re-reads the file under it: when Claude Code
 * renewed the token first, its token is used and nothing is sent.  A file
 * meterd cannot write back (read-only file or directory, another owner)
 * is never refreshed: auth, saying the token lasts hours and how to fix
 * it.  A rejected refresh token (HTTP 400 invalid_grant) is auth telling
 * the operator to run `claude`; the file is left untouched.  refresh: off
 * keeps the file read-only: a missing or past expiresAt (a missing one
 * counts as expired) is auth telling the operator to run `claude`, without
 * making a request.  No user:profile scope is auth too (a setup-token
 * login cannot read usage).
 *
 * Options: credentials_file, base_url, plan (pro|max|team|enterprise;
 * default: subscriptionType from the credentials file), user_agent,
 * refresh (auto|off), token_url.
 *
 * Mapping (utilization is already 0-100 percent; resets_at is RFC 3339):
 *   top-level window objects ({utilization, resets_at}) -> quota_window
 *     metrics with the key as id: five_hour (18000 s), seven_day,
 *     seven_day_opus, seven_day_sonnet and every seven_day_* (604800 s);
 *     codename windows (tangelo, ...) are carried through when non-null.
 *   limits[]: session -> five_hour, weekly_all -> seven_day,
 *     weekly_scoped -> seven_day_<model display name, else model id> (so
 *     "Opus" fills seven_day_opus), an "All models" scope -> seven_day (the
 *     account-wide window again), a surface-only scope ->
 *     seven_day_surface_<surface> labelled "surface only"; any other kind
 *     -> limit_<kind>[_<model> | _surface_<surface>].  A legacy window
 *     object wins over its limits[] twin; limits[] fills what it lacks.
 *     Two limits[] entries never share an id: a later one gets _2, _3.
 *   extra_usage -> "extra_usage" kind budget, unit = currency (lower case):
 *     used_credits / monthly_limit are MINOR units (cents) -> major units;
 *     monthly_limit 0 means no cap (limit not applicable); utilization as
 *     reported, unless past 100 with used and limit known (the core then
 *     derives it).  When extra_usage is absent, spend.{used,
 *     limit}.amount_minor / 10^exponent and spend.percent stand in.
 *   plan -> note "plan: <plan>" and the meter set below (host->expect_metric):
 *     pro, team, max -> five_hour, seven_day (max's model-scoped weekly
 *     limits come as limits[] entries; the legacy seven_day_opus/_sonnet
 *     keys have been null since limits[] appeared and are not expected);
 *     enterprise -> extra_usage (spend-limit seats).
 *   Drift (mdu_drift_*): non-window top-level members, and members of windows,
 *     limits[] entries and extra_usage the plugin does not know, are noted
 *     once a day.
 *   Response headers -> host->emit_rate_limits (unified-* family), after the
 *   payload's own meters so the payload wins over its header echo.
 *
 * The endpoint rate-limits its own polling (429 with Retry-After,
 * 300 s observed): a 429 without a usable Retry-After (none, or 0) asks
 * the core to wait AO_429_DEFAULT seconds, as CodexBar does.  The
 * User-Agent matters: without a claude-code/ prefix the endpoint answers
 * with persistent 429s, so another user_agent is warned about.  The descriptor sets the
 * default interval to 5 minutes and refuses intervals under 2 minutes.
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


#define AO_DEFAULT_URL "https://api.anthropic.com"
#define AO_DEFAULT_CREDS "~/.claude/.credentials.json"
#define AO_DEFAULT_UA "claude-code/2.1.0"
#define AO_TOKEN_URL "https://platform.claude.com/v1/oauth/token"
/* Claude Code's public OAuth client (the id its own refresh sends) */
#define AO_CLIENT_ID "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
#define AO_RENEW "run `claude` to log in again"
#define AO_MAX_CREDS (1024 * 1024)
#define AO_MAX_BODY (2 * 1024 * 1024)
#define AO_MAX_WIN 64
#define AO_429_DEFAULT 300.0
#define AO_INTERVAL_DEFAULT_MS (5 * 60 * 1000LL)
#define AO_INTERVAL_MIN_MS (2 * 60 * 1000LL)
#define AO_FIVE_HOUR 18000.0
#define AO_WEEK 604800.0

static const md_option ao_options[] = {
    {"credentials_file", MD_OPT_STRING, 0, AO_DEFAULT_CREDS,
     "Claude Code credentials file (refreshed tokens are written back)"},
    {"base_url", MD_OPT_STRING, 0, AO_DEFAULT_URL, "API base URL"},
    {"plan", MD_OPT_STRING, 0, NULL,
     "pro, max, team or enterprise (default: subscriptionType from the "
     "credentials file)"},
    {"user_agent", MD_OPT_STRING, 0, AO_DEFAULT_UA,
     "User-Agent sent to the usage endpoint"},
    {"refresh", MD_OPT_STRING, 0, "auto",
     "auto: renew an expiring access token as Claude Code does and write it "
     "back; off: never touch the file"},
    {"token_url", MD_OPT_STRING, 0, AO_TOKEN_URL,
     "OAuth token endpoint used to refresh"},
    {0}
};

/* ------------------------------------------------------------------ */
/* Plans and their meter sets                                          */
/* ------------------------------------------------------------------ */

enum { AO_M5H = 1, AO_M7D = 2, AO_MOPUS = 4, AO_MSONNET = 8, AO_MEXTRA = 16 };

static const struct {
    const char *plan;
    unsigned meters;
} ao_plans[] = {
    {"pro", AO_M5H | AO_M7D},
    /* The legacy seven_day_opus / seven_day_sonnet keys have come back
     * null since limits[] appeared (mid 2026); the model-scoped weekly
     * limits now arrive as limits[] weekly_scoped entries, emitted as they
     * come.  Expecting the legacy pair gave every Max account two
     * permanently unknown meters. */
    {"max", AO_M5H | AO_M7D},
    /* team seats have session and weekly limits like pro [U] */
    {"team", AO_M5H | AO_M7D},
    /* enterprise spend-limit seats: every window null, extra_usage only
     * (claude_oauth_usage_enterprise_spendlimit.json) */
    {"enterprise", AO_MEXTRA},
};

static const struct {
    unsigned bit;
    const char *id, *label, *kind, *unit;
    double window_s;
} ao_meters[] = {
    {AO_M5H, "five_hour", "Session (5 hours)", "quota_window", "percent",
     AO_FIVE_HOUR},
    {AO_M7D, "seven_day", "Weekly (all models)", "quota_window", "percent",
     AO_WEEK},
    {AO_MOPUS, "seven_day_opus", "Weekly (Opus)", "quota_window", "percent",
     AO_WEEK},
    {AO_MSONNET, "seven_day_sonnet", "Weekly (Sonnet)", "quota_window",
     "percent", AO_WEEK},
    {AO_MEXTRA, "extra_usage", "Extra usage / spend limit", "budget", "usd", 0},
};

#define AO_N(a) (sizeof(a) / sizeof((a)[0]))

/* Canonical plan name for a subscriptionType / option value, or NULL. */
static const char *ao_plan_name(const char *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < AO_N(ao_plans); i++)
        if (strcasecmp(s, ao_plans[i].plan) == 0)
            return ao_plans[i].plan;
    /* variants such as "claude_max" or "max_5x" */
    char low[64];
    size_t n = strlen(s) < sizeof low - 1 ? strlen(s) : sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    low[n] = '\0';
    for (size_t i = 0; i < AO_N(ao_plans); i++)
        if (strstr(low, ao_plans[i].plan))
            return ao_plans[i].plan;
    return NULL;
}

static unsigned ao_plan_meters(const char *plan)
{
    for (size_t i = 0; i < AO_N(ao_plans); i++)
        if (plan && strcmp(plan, ao_plans[i].plan) == 0)
            return ao_plans[i].meters;
    return 0;
}

static void ao_expect(const md_host *h, md_ctx *ctx, const char *plan)
{
    unsigned want = ao_plan_meters(plan);
    for (size_t i = 0; i < AO_N(ao_meters); i++) {
        if (!(want & ao_meters[i].bit))
            continue;
        md_metric m = {0};
        m.id = ao_meters[i].id;
        m.label = ao_meters[i].label;
        m.kind = ao_meters[i].kind;
        m.unit = ao_meters[i].unit;
        if (ao_meters[i].window_s > 0)
            m.window_seconds = MD_NUM(ao_meters[i].window_s);
        char note[160];
        snprintf(note, sizeof note,
                 "plan %s expects %s; the provider did not report it", plan,
                 m.id);
        MD_EXPECT(h, ctx, &m, note);
    }
}

/* ------------------------------------------------------------------ */
/* check()                                                             */
/* ------------------------------------------------------------------ */

static int ao_check(const md_host *h, md_ctx *ctx)
{
    if (mdu_check_base_url(h, ctx) != 0 || mdu_oauth_check_options(h, ctx) != 0)
        return -1;
    const char *plan = h->opt_str(ctx, "plan");
    if (plan && *plan && ao_plan_meters(ao_plan_name(plan)) == 0) {
        h->fail(ctx, MD_ERR_CONFIG,
                "plan: expected pro, max, team or enterprise, got '%s'", plan);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Credentials (read only)                                             */
/* ------------------------------------------------------------------ */

typedef struct ao_creds {
    char *token;       /* access token (registered as a secret)  */
    char *plan;        /* subscriptionType as found, or NULL      */
    char *tier;        /* rateLimitTier, or NULL                  */
} ao_creds;

static void ao_creds_free(ao_creds *c)
{
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->plan);
    free(c->tier);
    memset(c, 0, sizeof *c);
}

/* Whether credentials_file is left at its default (Claude Code's own
 * environment variables then say where the login is). */
static int ao_default_creds(const md_host *h, md_ctx *ctx)
{
    const char *p = h->opt_str(ctx, "credentials_file");
    return !p || !*p || strcmp(p, AO_DEFAULT_CREDS) == 0;
}

/* credentials_file with a leading "~/" expanded (mdu_expand_home); at its default,
 * $CLAUDE_CONFIG_DIR/.credentials.json when Claude Code is told to keep
 * its configuration there.  Caller frees. */
static char *ao_creds_path(const md_host *h, md_ctx *ctx)
{
    const char *p = h->opt_str(ctx, "credentials_file");
    const char *cfg = getenv("CLAUDE_CONFIG_DIR");
    if (!p || !*p)
        p = AO_DEFAULT_CREDS;
    if (ao_default_creds(h, ctx) && cfg && *cfg) {
        size_t n = strlen(cfg) + sizeof "/.credentials.json";
        char *out = malloc(n);
        if (out)
            snprintf(out, n, "%s/.credentials.json", cfg);
        return out;
    }
    return mdu_expand_home(p);
}

/* Parse the file (bounded); auth failure with the renew hint otherwise. */
static json_t *ao_read_creds(const md_host *h, md_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        h->fail(ctx, MD_ERR_AUTH, "%s %s: %s; run `claude` to log in",
                e == ENOENT ? "no Claude Code credentials at" : "cannot read",
                path, strerror(e));
        return NULL;
    }
    /* bounded read: the file is small; anything huge is not ours */
    char *buf = malloc(AO_MAX_CREDS + 1);
    size_t n = buf ? fread(buf, 1, AO_MAX_CREDS + 1, f) : 0;
    fclose(f);
    json_error_t err;
    err.text[0] = '\0';
    json_t *doc = buf && n <= AO_MAX_CREDS ? json_loadb(buf, n, 0, &err) : NULL;
    if (buf)
        memset(buf, 0, n); /* held the tokens */
    free(buf);
    if (!json_is_object(doc)) {
        h->fail(ctx, MD_ERR_AUTH, "%s is not a Claude Code credentials file "
                "(%s); " AO_RENEW, path,
                doc ? "unexpected shape" : n > AO_MAX_CREDS ? "too large"
                                                            : err.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int ao_has_scope(const json_t *oauth, const char *scope)
{
    json_t *scopes = json_object_get(oauth, "scopes");
    size_t i;
    json_t *v;
    if (!json_is_array(scopes))
        return 1; /* not listed: let the endpoint decide */
    json_array_foreach(scopes, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), scope) == 0)
            return 1;
    return 0;
}

/* Token validity: present, not expired (expiresAt epoch ms; a missing one
 * counts as expired), user:profile scope. */
static int ao_check_token(const md_host *h, md_ctx *ctx, const json_t *oauth,
                          const char *path)
{
    md_time exp = mdu_time(h, ctx, oauth, "expiresAt", MD_TS_EPOCH_MS);
    if (exp.state != MD_KNOWN) {
        h->fail(ctx, MD_ERR_AUTH, "Claude OAuth token in %s has no expiresAt "
                "(treated as expired); " AO_RENEW, path);
        return -1;
    }
    if (exp.epoch <= h->now(ctx)) {
        char when[32];
        time_t t = (time_t)exp.epoch;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        h->fail(ctx, MD_ERR_AUTH, "Claude OAuth token expired at %s; " AO_RENEW
                "%s", when, mdu_oauth_enabled(h, ctx)
                    ? " (there is no refresh token to renew it with)"
                    : " (refresh: off; tokens last about 8-12 hours)");
        return -1;
    }
    if (!ao_has_scope(oauth, "user:profile")) {
        h->fail(ctx, MD_ERR_AUTH, "Claude OAuth token lacks the user:profile "
                "scope (a `claude setup-token` token?); " AO_RENEW);
        return -1;
    }
    return 0;
}

static char *ao_dup(const char *s) { return s ? strdup(s) : NULL; }

/* claudeAiOauth.expiresAt (epoch ms) in seconds; -1 when absent. */
static double ao_expiry(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    md_time t = mdu_time(h, ctx, json_object_get(doc, "claudeAiOauth"),
                        "expiresAt", MD_TS_EPOCH_MS);
    return t.state == MD_KNOWN ? t.epoch : -1;
}

/* Claude Code's refresh: JSON body, public client, rotated refresh token;
 * Claude Code takes no lock, hence our sibling lock file. */
static const mdu_oauth_cli ao_refresher = {
    .cli = "Claude Code",
    .renew = "run `claude`",
    .lifetime = "about 8-12 hours",
    .token_url = AO_TOKEN_URL,
    .lock_path = NULL,
    .client_id = AO_CLIENT_ID,
    .json_body = 1,
    .obj = "claudeAiOauth",
    .access_key = "accessToken",
    .refresh_key = "refreshToken",
    .expiry_key = "expiresAt",
    .expiry_kind = MDU_OAUTH_EXPIRY_EPOCH_MS,
    .default_lifetime_s = 8 * 3600.0,
    .expiry = ao_expiry,
};

static int ao_load_creds(const md_host *h, md_ctx *ctx, ao_creds *c)
{
    /* Claude Code takes a long-lived token from CLAUDE_CODE_OAUTH_TOKEN
     * before any file; so does meterd when credentials_file is left at its
     * default.  Its expiry and plan are not known: the plan option gives
     * the meter set. */
    const char *envtok = getenv("CLAUDE_CODE_OAUTH_TOKEN");
    if (envtok && *envtok && ao_default_creds(h, ctx)) {
        h->add_secret(ctx, envtok);
        c->token = strdup(envtok);
        if (!c->token) {
            h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
            return -1;
        }
        h->note(ctx, "token from CLAUDE_CODE_OAUTH_TOKEN (expiry unknown)");
        return 0;
    }
    char *path = ao_creds_path(h, ctx);
    if (!path) {
        h->fail(ctx, MD_ERR_CONFIG, "credentials_file: no home directory "
                "($HOME unset, no passwd entry); give an absolute path");
        return -1;
    }
    json_t *doc = ao_read_creds(h, ctx, path);
    int rc = -1;
    if (doc) {
        mdu_oauth_add_secrets(h, ctx, &ao_refresher, doc);
        if (mdu_oauth_refresh(h, ctx, &ao_refresher, path, &doc) < 0) {
            json_decref(doc);
            free(path);
            return -1;
        }
        json_t *oauth = json_object_get(doc, "claudeAiOauth");
        const char *tok = mdu_str(oauth, "accessToken");
        const char *refresh = mdu_str(oauth, "refreshToken");
        if (tok && *tok)
            h->add_secret(ctx, tok);
        if (refresh && *refresh)
            h->add_secret(ctx, refresh);
        if (!tok || !*tok)
            h->fail(ctx, MD_ERR_AUTH, "%s holds no Claude login "
                    "(claudeAiOauth.accessToken); run `claude` to log in", path);
        else if (ao_check_token(h, ctx, oauth, path) == 0) {
            c->token = strdup(tok);
            c->plan = ao_dup(mdu_str(oauth, "subscriptionType"));
            c->tier = ao_dup(mdu_str(oauth, "rateLimitTier"));
            rc = c->token ? 0 : -1;
            if (rc)
                h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
        }
        json_decref(doc);
    }
    free(path);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Window table: windows and limits[] merge by id before emission      */
/* ------------------------------------------------------------------ */

typedef struct ao_win {
    char id[65];
    char label[96];
    int from_limits;   /* a limits[] entry claimed this id */
    md_num util;
    md_time resets;
    md_num window_s;
} ao_win;

typedef struct ao_set {
    ao_win w[AO_MAX_WIN];
    size_t n;
} ao_set;

/* Metric ids allow [A-Za-z0-9_.-]: lower-case, everything else -> '_'. */
static void ao_id(char *out, size_t len, const char *prefix, const char *s)
{
    size_t o = (size_t)snprintf(out, len, "%s", prefix);
    for (; s && *s && o + 1 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        out[o++] = isalnum(ch) || ch == '.' || ch == '-' ? (char)tolower(ch)
                                                         : '_';
    }
    out[o < len ? o : len - 1] = '\0';
}

static ao_win *ao_find(ao_set *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->w[i].id, id) == 0)
            return &s->w[i];
    return NULL;
}

/* Add a window, or fill the fields an earlier twin left unknown (the
 * first source of a value wins).  Returns the window, or NULL when the
 * table is full. */
static ao_win *ao_put(ao_set *s, const char *id, const char *label,
                      md_num util, md_time resets, md_num window_s)
{
    ao_win *w = ao_find(s, id);
    if (!w) {
        if (s->n >= AO_MAX_WIN)
            return NULL;
        w = &s->w[s->n++];
        memset(w, 0, sizeof *w);
        snprintf(w->id, sizeof w->id, "%s", id);
        snprintf(w->label, sizeof w->label, "%s", label ? label : id);
    }
    if (w->util.state != MD_KNOWN)
        w->util = util;
    if (w->resets.state != MD_KNOWN)
        w->resets = resets;
    if (w->window_s.state != MD_KNOWN)
        w->window_s = window_s;
    return w;
}

static md_num ao_window_len(const char *id)
{
    if (strcmp(id, "five_hour") == 0)
        return MD_NUM(AO_FIVE_HOUR);
    if (strncmp(id, "seven_day", 9) == 0)
        return MD_NUM(AO_WEEK);
    return (md_num){MD_UNKNOWN, 0};
}

static const char *ao_known_label(const char *id)
{
    for (size_t i = 0; i < AO_N(ao_meters); i++)
        if (strcmp(ao_meters[i].id, id) == 0)
            return ao_meters[i].label;
    return NULL;
}

/* Top-level keys that are not windows even though some look alike. */
static int ao_not_window(const char *key)
{
    static const char *const skip[] = {"extra_usage", "spend", "limits"};
    for (size_t i = 0; i < AO_N(skip); i++)
        if (strcmp(key, skip[i]) == 0)
            return 1;
    return 0;
}

/* Every top-level {utilization, resets_at} object, known key or codename;
 * null windows are skipped here (the meter set makes expected ones
 * explicit). */
static void ao_windows(const md_host *h, md_ctx *ctx, const json_t *doc,
                       ao_set *s)
{
    const char *key;
    json_t *v;
    json_object_foreach(mdu_json_unconst(doc), key, v) {
        if (!json_is_object(v) || ao_not_window(key) ||
            (!json_object_get(v, "utilization") &&
             !json_object_get(v, "resets_at")))
            continue;
        char id[65];
        ao_id(id, sizeof id, "", key);
        ao_put(s, id, ao_known_label(id), mdu_num(h, v, "utilization"),
               mdu_time(h, ctx, v, "resets_at", MD_TS_AUTO), ao_window_len(id));
        /* dollar fields were only ever seen null; their type is unverified
         * [U], so they are reported, not mapped */
        static const char *const dollars[] = {"limit_dollars", "used_dollars",
                                              "remaining_dollars"};
        for (size_t i = 0; i < AO_N(dollars); i++) {
            json_t *d = json_object_get(v, dollars[i]);
            if (d && !json_is_null(d))
                h->note(ctx, "%s.%s is set but not mapped (type unverified)",
                        id, dollars[i]);
        }
    }
}

/* Whether a scope's model display name is the account-wide one ("All
 * models"): that entry is the weekly_all window again, not a scope. */
static int ao_all_models(const char *name)
{
    return name && strcasecmp(name, "All models") == 0;
}

/* Id and label for one limits[] entry (see the header comment): the kind
 * plus the model (display name, else id) or, for an entry scoped to a
 * surface only, "surface_<surface>".  ao_limits makes ids unique. */
static void ao_limit_id(const json_t *e, size_t idx, char *id, size_t len,
                        char *label, size_t llen)
{
    const char *kind = mdu_str(e, "kind");
    const char *name = mdu_str(e, "scope.model.display_name");
    const char *mid = mdu_str(e, "scope.model.id");
    const char *surface = mdu_str(e, "scope.surface");
    const char *model = name && *name ? name : mid && *mid ? mid : NULL;
    if (!surface)
        surface = mdu_str(e, "scope.surface.name");
    if (surface && !*surface)
        surface = NULL;
    if (kind && strcmp(kind, "session") == 0) {
        snprintf(id, len, "five_hour");
    } else if (kind && strcmp(kind, "weekly_all") == 0) {
        snprintf(id, len, "seven_day");
    } else if (kind && strcmp(kind, "weekly_scoped") == 0 &&
               ao_all_models(model)) {
        snprintf(id, len, "seven_day");
    } else if (kind && strcmp(kind, "weekly_scoped") == 0) {
        if (model)
            ao_id(id, len, "seven_day_", model);
        else if (surface)
            ao_id(id, len, "seven_day_surface_", surface);
        else
            snprintf(id, len, "seven_day_scoped_%zu", idx);
        if (model)
            snprintf(label, llen, "Weekly (%s)", model);
        else if (surface)
            snprintf(label, llen, "Weekly (%s surface only)", surface);
        else
            snprintf(label, llen, "Weekly (scoped)");
        return;
    } else if (kind && *kind) {
        char base[65];
        ao_id(base, sizeof base, "limit_", kind);
        if (model) {
            char tail[65];
            ao_id(tail, sizeof tail, "_", model);
            snprintf(id, len, "%.40s%.24s", base, tail);
            snprintf(label, llen, "%s (%s)", kind, model);
        } else if (surface) {
            char tail[65];
            ao_id(tail, sizeof tail, "_surface_", surface);
            snprintf(id, len, "%.40s%.24s", base, tail);
            snprintf(label, llen, "%s (%s surface only)", kind, surface);
        } else {
            snprintf(id, len, "%s", base);
            snprintf(label, llen, "%s", base);
        }
        return;
    } else {
        snprintf(id, len, "limit_%zu", idx);
    }
    const char *known = ao_known_label(id);
    snprintf(label, llen, "%s", known ? known : id);
}

static md_num ao_limit_len(const json_t *e, const char *id)
{
    const char *group = mdu_str(e, "group");
    if (group && strcmp(group, "session") == 0)
        return MD_NUM(AO_FIVE_HOUR);
    if (group && strcmp(group, "weekly") == 0)
        return MD_NUM(AO_WEEK);
    return ao_window_len(id);
}

static void ao_limits(const md_host *h, md_ctx *ctx, const json_t *doc,
                      ao_set *s)
{
    json_t *arr = json_object_get(doc, "limits");
    size_t i;
    json_t *e;
    if (!json_is_array(arr))
        return;
    json_array_foreach(arr, i, e) {
        if (!json_is_object(e))
            continue;
        char id[65], label[96];
        ao_limit_id(e, i, id, sizeof id, label, sizeof label);
        /* two limits[] entries never share an id (one would be lost; a
         * 90 % critical entry was): the later one gets _2, _3, ... */
        ao_win *twin = ao_find(s, id);
        for (int k = 2; twin && twin->from_limits && k < AO_MAX_WIN; k++) {
            char base[57];
            memcpy(base, id, sizeof base - 1);
            base[sizeof base - 1] = '\0';
            snprintf(id, sizeof id, "%.56s_%d", base, k % 100);
            twin = ao_find(s, id);
        }
        ao_win *w = ao_put(s, id, label, mdu_num(h, e, "percent"),
                           mdu_time(h, ctx, e, "resets_at", MD_TS_AUTO),
                           ao_limit_len(e, id));
        if (w)
            w->from_limits = 1;
        const char *sev = mdu_str(e, "severity");
        if (sev && strcmp(sev, "normal") != 0)
            h->note(ctx, "%s: severity %s", id, sev);
        if (mdu_bool(e, "is_active") == 1)
            h->note(ctx, "binding limit: %s", id);
    }
}

static void ao_emit_windows(const md_host *h, md_ctx *ctx, const ao_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        md_metric m = {0};
        m.id = s->w[i].id;
        m.label = s->w[i].label;
        m.kind = "quota_window";
        m.unit = "percent";
        m.utilization = s->w[i].util;
        m.resets_at = s->w[i].resets;
        m.window_seconds = s->w[i].window_s;
        MD_EMIT(h, ctx, &m);
    }
}

/* ------------------------------------------------------------------ */
/* Extra usage / spend (minor units -> major)                          */
/* ------------------------------------------------------------------ */

/* Minor units with decimal_places/exponent (unknown: 2, cents). */
static md_num ao_major(md_num minor, md_num places)
{
    if (places.state != MD_KNOWN || places.value == 2 || places.value > 6 ||
        minor.state != MD_KNOWN)
        return mdu_minor_to_major(minor);
    double div = 1;
    for (int i = 0; i < (int)places.value; i++)
        div *= 10;
    return MD_NUM(minor.value / div);
}

static void ao_emit_budget(const md_host *h, md_ctx *ctx, const char *currency,
                           md_num used, md_num limit, md_num util)
{
    char unit[17];
    ao_id(unit, sizeof unit, "", currency ? currency : "usd");
    md_metric m = {0};
    m.id = "extra_usage";
    m.label = "Extra usage / spend limit";
    m.kind = "budget";
    m.unit = unit;
    m.used = used;
    m.limit = limit;
    m.utilization = util;
    MD_EMIT(h, ctx, &m);
}

static void ao_extra_usage(const md_host *h, md_ctx *ctx, const json_t *x)
{
    md_num dp = mdu_num(h, x, "decimal_places");
    md_num limit = ao_major(mdu_num(h, x, "monthly_limit"), dp);
    /* monthly_limit 0 is "no cap" (extra usage enabled without a monthly
     * ceiling), not a $0 limit: the limit does not apply. */
    if (limit.state == MD_KNOWN && limit.value == 0) {
        limit = MD_NUM_NA;
        h->note(ctx, "extra usage has no monthly cap");
    }
    md_num used = ao_major(mdu_num(h, x, "used_credits"), dp);
    md_num util = mdu_num(h, x, "utilization");
    /* Past the cap (a per-member ceiling lowered mid-month gives 143 %):
     * not a 0..100 utilization, so leave it to the core to derive from
     * used / limit rather than have it rejected on every poll. */
    if (util.state == MD_KNOWN && util.value > 100 &&
        used.state == MD_KNOWN && limit.state == MD_KNOWN)
        util = (md_num){MD_UNKNOWN, 0};
    ao_emit_budget(h, ctx, mdu_str(x, "currency"), used, limit, util);
    const char *why = mdu_str(x, "disabled_reason");
    if (mdu_bool(x, "is_enabled") == 0 || why)
        h->note(ctx, "extra usage disabled%s%s", why ? ": " : "",
                why ? why : "");
}

/* spend (one capture [T]) stands in when extra_usage is absent. */
static void ao_spend(const md_host *h, md_ctx *ctx, const json_t *sp)
{
    const char *cur = mdu_str(sp, "limit.currency");
    if (!cur)
        cur = mdu_str(sp, "used.currency");
    ao_emit_budget(h, ctx, cur,
                   ao_major(mdu_num(h, sp, "used.amount_minor"),
                            mdu_num(h, sp, "used.exponent")),
                   ao_major(mdu_num(h, sp, "limit.amount_minor"),
                            mdu_num(h, sp, "limit.exponent")),
                   mdu_num(h, sp, "percent"));
}

static void ao_money(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    json_t *x = json_object_get(doc, "extra_usage");
    json_t *sp = json_object_get(doc, "spend");
    if (json_is_object(x))
        ao_extra_usage(h, ctx, x);
    else if (json_is_object(sp))
        ao_spend(h, ctx, sp);
    json_t *bal = json_is_object(sp) ? json_object_get(sp, "balance") : NULL;
    if (bal && !json_is_null(bal))
        h->note(ctx, "spend.balance is set but not mapped (shape unverified)");
}

/* ------------------------------------------------------------------ */
/* Request                                                             */
/* ------------------------------------------------------------------ */

static void ao_rate_limits(const md_host *h, md_ctx *ctx,
                           const md_http_response *r)
{
    mdu_emit_rate_limit_headers(h, ctx, r);
}

/* GET the usage document.  Like mdu_get_json, but it passes every
 * response's headers to emit_rate_limits (error responses included) and a
 * 429 without a usable Retry-After still backs off AO_429_DEFAULT s. */
static json_t *ao_fetch(const md_host *h, md_ctx *ctx, const char *url,
                        const char *const *headers, md_http_response **out)
{
    md_http_request req = {0};
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.max_response_bytes = AO_MAX_BODY;
    md_http_response *r = NULL;
    *out = NULL;
    if (h->http(ctx, &req, &r) != 0 || !r || r->status == 0) {
        h->fail(ctx, r && r->error_class ? r->error_class : MD_ERR_NETWORK,
                "GET %s: %s", url, r && r->error ? r->error : "request failed");
        h->http_free(r);
        return NULL;
    }
    if (r->status < 200 || r->status > 299) {
        double ra = -1;
        h->emit_rate_limits(ctx, (const char *const *)r->header_names,
                            (const char *const *)r->header_values,
                            r->n_headers, NULL, &ra);
        /* "Retry-After: 0" comes with the endpoint's persistent 429s (a
         * client it does not accept): not a usable wait either */
        if (r->status == 429 && ra <= 0)
            h->retry_after(ctx, AO_429_DEFAULT);
        mdu_fail_status(h, ctx, r, AO_RENEW);
        h->http_free(r);
        return NULL;
    }
    json_error_t err;
    json_t *doc = json_loadb(r->body, r->body_len, 0, &err);
    if (!json_is_object(doc)) {
        h->fail(ctx, MD_ERR_BAD_DATA, "usage response is not a JSON object: "
                "%.160s", doc ? "unexpected type" : err.text);
        json_decref(doc);
        h->http_free(r);
        return NULL;
    }
    h->set_raw(ctx, r->body, r->body_len);
    *out = r;
    return doc;
}

/* Drift: members the plugin neither maps nor knowingly ignores.  Window
 * objects ({utilization, resets_at}, or null: codenames come and go) are
 * read by shape, so only non-window top-level members are checked. */
static void ao_drift(mdu_drift *d, const json_t *doc)
{
    static const char *const top[] = {"extra_usage", "spend", "limits",
        "member_dashboard_available", "cedar_ember", NULL};
    static const char *const win[] = {"utilization", "resets_at",
        "limit_dollars", "used_dollars", "remaining_dollars", NULL};
    static const char *const lim[] = {"kind", "group", "percent", "severity",
        "resets_at", "scope", "is_active", NULL};
    static const char *const extra[] = {"is_enabled", "monthly_limit",
        "used_credits", "utilization", "currency", "decimal_places",
        "disabled_reason", "daily", "weekly", NULL};
    const char *key;
    json_t *v;
    size_t i;
    json_object_foreach(mdu_json_unconst(doc), key, v) {
        int is_win = json_is_null(v) ||
                     (json_is_object(v) &&
                      (json_object_get(v, "utilization") ||
                       json_object_get(v, "resets_at")));
        size_t k;
        for (k = 0; top[k] && strcmp(top[k], key) != 0; k++)
            ;
        if (is_win && !top[k]) {
            char pre[80];
            snprintf(pre, sizeof pre, "%.60s", key);
            mdu_drift_keys(d, v, pre, win);
            mdu_drift_type(d, v, pre, "utilization", MDU_DRIFT_NUM);
        } else if (!top[k]) {
            mdu_drift_note(d, key);
        }
    }
    json_array_foreach(json_object_get(doc, "limits"), i, v) {
        mdu_drift_keys(d, v, "limits[]", lim);
        mdu_drift_type(d, v, "limits[]", "percent", MDU_DRIFT_NUM);
        mdu_drift_type(d, v, "limits[]", "kind", MDU_DRIFT_STR);
    }
    json_t *x = json_object_get(doc, "extra_usage");
    mdu_drift_keys(d, x, "extra_usage", extra);
    mdu_drift_type(d, x, "extra_usage", "used_credits", MDU_DRIFT_NUM);
    mdu_drift_type(d, x, "extra_usage", "monthly_limit", MDU_DRIFT_NUM);
}

static void ao_parse(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    mdu_drift d;
    mdu_drift_init(&d, h, ctx);
    ao_drift(&d, doc);
    mdu_drift_release(&d, 1);
    ao_set *s = calloc(1, sizeof *s);
    if (!s)
        return;
    ao_windows(h, ctx, doc, s);
    ao_limits(h, ctx, doc, s);
    ao_emit_windows(h, ctx, s);
    free(s);
    ao_money(h, ctx, doc);
}

/* Plan: option first, else the credentials' subscriptionType. */
static const char *ao_plan(const md_host *h, md_ctx *ctx, const ao_creds *c)
{
    const char *opt = h->opt_str(ctx, "plan");
    const char *plan = ao_plan_name(opt && *opt ? opt : c->plan);
    if (plan)
        h->note(ctx, "plan: %s%s%s%s", plan, c->tier ? " (" : "",
                c->tier ? c->tier : "", c->tier ? ")" : "");
    else if (c->plan)
        h->note(ctx, "plan: %s (no meter set known for it)", c->plan);
    return plan;
}

static int ao_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    if (h->abi_minor < 1) {
        h->fail(ctx, MD_ERR_ABI, "anthropic_oauth needs a core with ABI 1.1");
        return -1;
    }
    if (ao_check(h, ctx) != 0)
        return -1;
    ao_creds c = {0};
    if (ao_load_creds(h, ctx, &c) != 0)
        return -1;
    char *url = mdu_url(h, ctx, "/api/oauth/usage");
    char *auth = mdu_bearer(h, ctx, c.token);
    const char *ua = h->opt_str(ctx, "user_agent");
    size_t ulen = strlen(ua ? ua : AO_DEFAULT_UA) + sizeof "User-Agent: ";
    char *uah = malloc(ulen);
    int rc = -1;
    if (!url || !auth || !uah) {
        h->fail(ctx, MD_ERR_INTERNAL, "out of memory");
    } else {
        snprintf(uah, ulen, "User-Agent: %s", ua ? ua : AO_DEFAULT_UA);
        if (ua && strncmp(ua, "claude-code/", 12) != 0 &&
            strncmp(ua, "claude-cli/", 11) != 0)
            h->note(ctx, "user_agent '%.60s' does not start with claude-code/: "
                    "the usage endpoint answers other clients with "
                    "persistent 429s", ua);
        const char *headers[] = {auth, "anthropic-beta: oauth-2025-04-20",
                                 "Accept: application/json",
                                 "Content-Type: application/json", uah, NULL};
        md_http_response *r = NULL;
        json_t *doc = ao_fetch(h, ctx, url, headers, &r);
        if (doc) {
            const char *plan = ao_plan(h, ctx, &c);
            ao_parse(h, ctx, doc);
            ao_rate_limits(h, ctx, r); /* after the payload: it wins */
            if (plan)
                ao_expect(h, ctx, plan);
            rc = 0;
        }
        json_decref(doc);
        h->http_free(r);
    }
    mdu_free_secret(auth);
    free(uah);
    free(url);
    ao_creds_free(&c);
    return rc;
}

/* Environment variables this plugin reads (md_plugin.env). */
static const char *const anthropic_oauth_env[] = {"CLAUDE_CONFIG_DIR", "CLAUDE_CODE_OAUTH_TOKEN", NULL};

static const md_plugin ao_plugin = {
    MD_PLUGIN_HEADER,
    "anthropic_oauth",
    "0.1.0",
    "Claude subscription usage (/api/oauth/usage with the Claude Code login)",
    "oauth",
    ao_options,
    ao_check,
    NULL,
    ao_collect,
    NULL,
    /* the usage endpoint rate-limits its own polling: clients that know
     * it poll no more often than every 2-5 minutes */
    AO_INTERVAL_DEFAULT_MS,
    AO_INTERVAL_MIN_MS,
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    anthropic_oauth_env, /* env (ABI 1.6) */
};

MD_PLUGIN_DEFINE(ao_plugin)
