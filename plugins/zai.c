/*
 * plugins/zai.c - z.ai / GLM Coding Plan quota windows.
 *
 * Source (private endpoint, [C] CodexBar):
 *   GET {base_url}/api/monitor/usage/quota/limit
 *   {"code": 200, "msg": "success", "success": true,
 *    "data": {"planName"?: "Pro", "level"?: "pro",
 *             "limits": [{"type": "TOKENS_LIMIT" | "TIME_LIMIT" |
 *                                 "CREDIT_LIMIT" | <new>,
 *                         "unit": 1 day | 3 hour | 5 minute | 6 week,
 *                         "number": <window length in units>,
 *                         "percentage": <0-100 used>,
 *                         "nextResetTime"?: <epoch ms>,
 *                         "usage"?: <total quota>, "currentValue"?: <used>,
 *                         "remaining"?, "usageDetails"?: [{modelCode,
 *                         usage}]}]}}
 *   success != true or code != 200 is an error even on HTTP 200; a key
 *   without a coding plan gets success false with code 500 (or none): a
 *   config error carrying the provider's msg.
 * Auth: "Authorization: Bearer <api_key>" (option api_key, MD_OPT_SECRET,
 * e.g. ${Z_AI_API_KEY}; China: base_url https://open.bigmodel.cn with
 * ${BIGMODEL_API_KEY}).  No key: auth error, no request.
 * Options: api_key, base_url (default https://api.z.ai), plan (lite, pro,
 * max; default: data.planName, else data.level - current payloads carry
 * only level - else plan, plan_type, packageName).
 *
 * Mapping (every entry becomes kind quota_window; nothing is dropped):
 *   TOKENS_LIMIT, CREDIT_LIMIT  the 5-hour / weekly quota (z.ai renamed
 *                 TOKENS_LIMIT to CREDIT_LIMIT in 2026; both are read alike)
 *                 by window length: 5 h -> five_hour, 1 week -> seven_day,
 *                 else window_<minutes>m; utilization = percentage
 *                 (already 0-100 used), window_seconds = number x unit,
 *                 resets_at = nextResetTime; counts as for TIME_LIMIT when
 *                 given.  unit percent without counts; credits for
 *                 CREDIT_LIMIT with counts (unit unknown for TOKENS_LIMIT
 *                 with counts: not guessed).
 *   TIME_LIMIT    the MCP / tool-call quota.  unit 5 / number 1 is a
 *                 *monthly* marker [C], not a one-minute window ->
 *                 mcp_monthly (window_seconds unknown: months differ);
 *                 other lengths -> mcp_window_<minutes>m.  unit requests:
 *                 limit = usage, used = max(usage - remaining,
 *                 currentValue), remaining = remaining, utilization =
 *                 percentage; usageDetails go into a note.
 *   other types   (anything new) carried through as
 *                 <type lower-cased>_<minutes>m with the same fields
 *                 (unit percent when only a percentage is given).
 *   A null entry, or a field that is null / missing, stays unknown.
 *   Members not listed here, and mapped members of another JSON type, get
 *   a drift note (mdu_drift_*) once a day.
 * Meter sets (plan from the option or data.planName, lower-cased):
 *   lite, pro, max -> five_hour, seven_day, mcp_monthly [U: plan contents
 *   are not documented]; no plan -> five_hour; another plan -> none.
 * Errors: {"code", "msg", "success"} (HTTP or body code); 401/403 auth,
 * 429 rate_limited, other non-2xx http, unparseable bad_data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "meterd/util.h"


#define ZAI_DEFAULT_URL "https://api.z.ai"
#define ZAI_PATH "/api/monitor/usage/quota/limit"
#define ZAI_HINT "check api_key (Z_AI_API_KEY); keys come from z.ai's API key page"
#define ZAI_MAX_IDS 32

static const md_option zai_options[] = {
    {"api_key", MD_OPT_SECRET, 0, NULL,
     "z.ai API key, e.g. ${Z_AI_API_KEY} (or api_key_file)"},
    {"base_url", MD_OPT_STRING, 0, ZAI_DEFAULT_URL,
     "API base URL (China: https://open.bigmodel.cn)"},
    {"plan", MD_OPT_STRING, 0, NULL,
     "coding plan (lite, pro, max); default: detected from planName"},
    {0}
};

static int zai_check(const md_host *h, md_ctx *ctx)
{
    return mdu_check_base_url(h, ctx);
}

/* GET url; see mdu_get_json_rl. */
/* The envelope's own status: success must be true and code 200. */
static int envelope_ok(const md_host *h, md_ctx *ctx, const json_t *doc)
{
    md_num code = mdu_num(h, doc, "code");
    int success = mdu_bool(doc, "success");
    if (success != 0 && (code.state != MD_KNOWN || code.value == 200))
        return 0;
    const char *msg = mdu_str(doc, "msg");
    long c = code.state == MD_KNOWN ? (long)code.value : 0;
    md_error cls = c == 401 || c == 403 ? MD_ERR_AUTH
                   : c == 429           ? MD_ERR_RATE_LIMITED
                                        : MD_ERR_HTTP;
    if (success == 0 && (c == 0 || c == 500)) {
        /* z.ai answers a key without a GLM Coding Plan with a 2xx whose
         * envelope says success false (code 500 or none): nothing is wrong
         * with the service, the key is not on a coding plan. */
        h->fail(ctx, MD_ERR_CONFIG, "z.ai reports no coding plan for this "
                "key (code %ld%s%.200s); use a key of a GLM Coding Plan "
                "subscription", c, msg ? ": " : "", msg ? msg : "");
        return -1;
    }
    h->fail(ctx, cls, "z.ai error code %ld%s%.200s%s%s", c, msg ? ": " : "",
            msg ? msg : "", cls == MD_ERR_AUTH ? "; " : "",
            cls == MD_ERR_AUTH ? ZAI_HINT : "");
    return -1;
}

/* Window length in seconds from unit code and count; unknown otherwise. */
static md_num window_len(const md_host *h, const json_t *e)
{
    static const struct { int code; double secs; } units[] = {
        {1, 86400}, {3, 3600}, {5, 60}, {6, 604800}};
    md_num u = mdu_num(h, e, "unit"), n = mdu_num(h, e, "number");
    if (u.state != MD_KNOWN || n.state != MD_KNOWN || n.value <= 0)
        return (md_num){MD_UNKNOWN, 0};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if ((int)u.value == units[i].code)
            return MD_NUM(units[i].secs * n.value);
    return (md_num){MD_UNKNOWN, 0};
}

/* The 5-hour / weekly quota type: z.ai renamed TOKENS_LIMIT to
 * CREDIT_LIMIT (current payloads carry CREDIT_LIMIT with counts as well as
 * a percentage); both mean the same windows. */
static int is_window_type(const char *type)
{
    return strcmp(type, "TOKENS_LIMIT") == 0 ||
           strcmp(type, "CREDIT_LIMIT") == 0;
}

/* Metric id for one entry (see the mapping above). */
static void entry_id(const char *type, md_num win, char *id, size_t len)
{
    long mins = win.state == MD_KNOWN ? (long)(win.value / 60) : -1;
    if (is_window_type(type)) {
        if (mins == 300)
            snprintf(id, len, "five_hour");
        else if (mins == 10080)
            snprintf(id, len, "seven_day");
        else if (mins > 0)
            snprintf(id, len, "window_%ldm", mins);
        else
            snprintf(id, len, "tokens_window");
    } else if (strcmp(type, "TIME_LIMIT") == 0) {
        if (mins == 1)
            snprintf(id, len, "mcp_monthly");
        else if (mins > 0)
            snprintf(id, len, "mcp_window_%ldm", mins);
        else
            snprintf(id, len, "mcp_window");
    } else {
        size_t o = 0;
        for (const char *p = type; *p && o + 1 < len - 16; p++)
            id[o++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p)
                                                  : '_';
        id[o] = '\0';
        if (mins > 0)
            snprintf(id + o, len - o, "_%ldm", mins);
    }
}

/* "search-prime 210, web-reader 14" */
static void details_note(const md_host *h, md_ctx *ctx, const char *id,
                         const json_t *details)
{
    char buf[256];
    size_t o = 0, i;
    json_t *d;
    buf[0] = '\0';
    json_array_foreach(details, i, d) {
        const char *model = mdu_str(d, "modelCode");
        md_num u = mdu_num(h, d, "usage");
        if (!model || o >= sizeof buf - 1)
            continue;
        int w = u.state == MD_KNOWN
                    ? snprintf(buf + o, sizeof buf - o, "%s%.40s %.0f",
                               o ? ", " : "", model, u.value)
                    : snprintf(buf + o, sizeof buf - o, "%s%.40s unknown",
                               o ? ", " : "", model);
        o += w > 0 ? (size_t)w : 0;
    }
    if (buf[0])
        h->note(ctx, "%s usage by tool: %s", id, buf);
}

/* Members of a limits[] entry the plugin maps, and their types. */
static const char *const zai_entry_known[] = {
    "type", "unit", "number", "percentage", "nextResetTime", "usage",
    "currentValue", "remaining", "usageDetails", NULL};

static void drift_entry(mdu_drift *d, const json_t *e, size_t i)
{
    const char *prefix = "data.limits[]";   /* one note for all entries */
    (void)i;
    mdu_drift_keys(d, e, prefix, zai_entry_known);
    static const char *const nums[] = {"unit", "number", "percentage",
        "nextResetTime", "usage", "currentValue", "remaining"};
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
        mdu_drift_type(d, e, prefix, nums[k], MDU_DRIFT_NUM);
    mdu_drift_type(d, e, prefix, "type", MDU_DRIFT_STR);
    mdu_drift_type(d, e, prefix, "usageDetails", MDU_DRIFT_ARR);
}

static void emit_entry(const md_host *h, md_ctx *ctx, const json_t *e,
                       char ids[][64], size_t *n_ids)
{
    const char *type = mdu_str(e, "type");
    md_metric m = {0};
    char id[64], label[96];
    if (!type)
        type = "UNKNOWN_LIMIT";
    m.window_seconds = window_len(h, e);
    entry_id(type, m.window_seconds, id, sizeof id);
    for (size_t i = 0; i < *n_ids; i++)   /* two windows of one length */
        if (strcmp(ids[i], id) == 0)
            snprintf(id + strlen(id), sizeof id - strlen(id), "_%zu", *n_ids);
    if (*n_ids < ZAI_MAX_IDS)
        snprintf(ids[(*n_ids)++], 64, "%s", id);
    if (strcmp(id, "mcp_monthly") == 0)
        m.window_seconds = (md_num){MD_UNKNOWN, 0};   /* a month, not 1 min */
    md_num total = mdu_num(h, e, "usage"), cur = mdu_num(h, e, "currentValue");
    m.remaining = mdu_num(h, e, "remaining");
    m.limit = total;
    m.used = mdu_sub(total, m.remaining);
    if (cur.state == MD_KNOWN &&
        (m.used.state != MD_KNOWN || cur.value > m.used.value))
        m.used = cur;
    m.utilization = mdu_num(h, e, "percentage");
    m.resets_at = mdu_time(h, ctx, e, "nextResetTime", MD_TS_EPOCH_MS);
    int counts = total.state == MD_KNOWN || cur.state == MD_KNOWN ||
                 m.remaining.state == MD_KNOWN;
    m.unit = strcmp(type, "TIME_LIMIT") == 0      ? "requests"
             : !counts                            ? "percent"
             : strcmp(type, "CREDIT_LIMIT") == 0 ? "credits"
                                                  : NULL;
    snprintf(label, sizeof label, "z.ai %s (%s)", id, type);
    m.id = id;
    m.label = label;
    m.kind = "quota_window";
    MD_EMIT(h, ctx, &m);
    json_t *details = json_object_get(e, "usageDetails");
    if (json_is_array(details))
        details_note(h, ctx, id, details);
}

/* The plan's meter set, declared through expect_metric. */
static void expect_plan(const md_host *h, md_ctx *ctx, const char *plan)
{
    static const struct { const char *id; const char *unit; double win; }
        all[] = {{"five_hour", "percent", 18000},
                 {"seven_day", "percent", 604800},
                 {"mcp_monthly", "requests", 0}};
    size_t n = 0;
    if (!plan)
        n = 1;
    else if (!strcmp(plan, "lite") || !strcmp(plan, "pro") || !strcmp(plan, "max"))
        n = 3;
    else
        h->note(ctx, "plan '%.40s' has no known meter set", plan);
    if (h->abi_minor < 1 || !h->expect_metric)
        return;
    for (size_t i = 0; i < n; i++) {
        md_metric m = {0};
        char note[160];
        m.id = all[i].id;
        m.kind = "quota_window";
        m.unit = all[i].unit;
        if (all[i].win > 0)
            m.window_seconds = MD_NUM(all[i].win);
        snprintf(note, sizeof note, "plan %s expects %s; the provider did "
                 "not report it", plan ? plan : "(unknown)", all[i].id);
        MD_EXPECT(h, ctx, &m, note);
    }
}

/* Where z.ai has put the plan name: planName in older payloads, level
 * ("lite", "pro") in current ones; the others are seen in third-party
 * clients' readers. */
static const char *const zai_plan_keys[] = {
    "planName", "level", "plan", "plan_type", "packageName", NULL};

/* Option plan, else the first plan key of data; lower-cased into buf, or
 * NULL. */
static const char *find_plan(const md_host *h, md_ctx *ctx, const json_t *doc,
                             char *buf, size_t len)
{
    const char *p = h->opt_str(ctx, "plan");
    const json_t *data = mdu_path(doc, "data");
    for (size_t k = 0; (!p || !*p) && zai_plan_keys[k]; k++)
        p = mdu_str(data, zai_plan_keys[k]);
    if (!p || !*p)
        return NULL;
    size_t i;
    for (i = 0; p[i] && i + 1 < len; i++)
        buf[i] = (char)tolower((unsigned char)p[i]);
    buf[i] = '\0';
    return buf;
}

static int parse(const md_host *h, md_ctx *ctx, const json_t *doc,
                 mdu_drift *d)
{
    static const char *const top_known[] = {"code", "msg", "success", "data",
                                            NULL};
    static const char *const data_known[] = {
        "limits", "planName", "level", "plan", "plan_type", "packageName",
        NULL};
    char planbuf[48];
    char ids[ZAI_MAX_IDS][64];
    size_t n_ids = 0, i;
    json_t *e;
    if (envelope_ok(h, ctx, doc) != 0)
        return -1;
    mdu_drift_keys(d, doc, NULL, top_known);
    mdu_drift_keys(d, mdu_path(doc, "data"), "data", data_known);
    for (size_t k = 0; zai_plan_keys[k]; k++)
        mdu_drift_type(d, mdu_path(doc, "data"), "data", zai_plan_keys[k],
                   MDU_DRIFT_STR);
    mdu_drift_type(d, mdu_path(doc, "data"), "data", "limits", MDU_DRIFT_ARR);
    const char *plan = find_plan(h, ctx, doc, planbuf, sizeof planbuf);
    if (plan)
        h->note(ctx, "plan: %s", plan);
    expect_plan(h, ctx, plan);
    json_t *limits = mdu_path(doc, "data.limits");
    if (!json_is_array(limits)) {
        h->note(ctx, "no limits reported");
        return 0;
    }
    json_array_foreach(limits, i, e) {
        if (json_is_object(e)) {
            drift_entry(d, e, i);
            emit_entry(h, ctx, e, ids, &n_ids);
        } else
            h->note(ctx, "limits[%zu] is not an object; skipped", i);
    }
    return 0;
}

static int zai_collect(const md_host *h, md_ctx *ctx, void *state)
{
    (void)state;
    if (zai_check(h, ctx) != 0)
        return -1;
    const char *key = mdu_api_key(h, ctx, "${Z_AI_API_KEY}");
    json_t *doc = NULL;
    if (!key ||
        mdu_get_bearer_json(h, ctx, ZAI_PATH, key, ZAI_HINT, "msg", &doc) != 0)
        return -1;
    mdu_drift d;
    mdu_drift_init(&d, h, ctx);
    int rc = parse(h, ctx, doc, &d);
    mdu_drift_release(&d, rc == 0);
    json_decref(doc);
    return rc;
}

static const md_plugin zai_plugin = {
    MD_PLUGIN_HEADER,
    "zai",
    "0.1.0",
    "z.ai / GLM Coding Plan quota windows (monitor/usage/quota/limit)",
    "api",
    zai_options,
    zai_check,
    NULL,
    zai_collect,
    NULL,
    0, /* default_interval_ms: the global interval */
    0, /* min_interval_ms */
    MD_PRODUCES_METERS, /* produces (ABI 1.3) */
    NULL, /* env (ABI 1.6): reads none */
};

MD_PLUGIN_DEFINE(zai_plugin)
