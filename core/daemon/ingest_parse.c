/* ingest_parse.c - the body of POST /api/telemetry to a validated batch,
 * on the HTTP thread, against the published views (see ingest.h). */
#include "ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "redact.h"
#include "timeutil.h"
#include "unconst.h"

/* The dialect of an item: explicit, the route, or the provider's kind. */
static int pick_dialect(const json_t *it, const provider_view *p,
                        usage_dialect *out)
{
    const char *name = json_string_value(json_object_get(it, "dialect"));
    if (name)
        return usage_dialect_from_name(name, out);
    name = json_string_value(json_object_get(it, "route"));
    if (name && usage_dialect_from_name(name, out) == 0)
        return 0;
    static const struct { const char *needle, *dialect; } by_kind[] = {
        {"claude", "anthropic"}, {"anthropic", "anthropic"},
        {"codex", "openai"},     {"openai", "openai"},
        {"deepseek", "deepseek"}, {"gemini", "gemini"},
        {"openrouter", "openrouter"}, {"ollama", "ollama"},
        {"moonshot", "openai"},  {"kimi", "openai"}, {"zai", "openai"}};
    const char *kinds[] = {p->plugin, p->family, p->name};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; kinds[k] && i < sizeof by_kind / sizeof by_kind[0]; i++)
            if (strcasestr(kinds[k], by_kind[i].needle))
                return usage_dialect_from_name(by_kind[i].dialect, out);
    return -1;
}

static char *check_headers(const json_t *h, item *it)
{
    if (!json_is_object(h))
        return xstrdup("headers must be an object of strings");
    size_t n = json_object_size(h), i = 0;
    it->hnames = xcalloc(n ? n : 1, sizeof *it->hnames);
    it->hvalues = xcalloc(n ? n : 1, sizeof *it->hvalues);
    const char *k;
    json_t *v;
    json_object_foreach(json_unconst(h), k, v) {
        if (!json_is_string(v))
            return xasprintf("headers.%.64s must be a string", k);
        it->hnames[i] = k;
        it->hvalues[i++] = json_string_value(v);
    }
    it->n_headers = n;
    return NULL;
}

static const char *const item_keys[] = {"provider", "route", "model", "at",
                                        "dialect", "id", "usage", "headers",
                                        NULL};

/* Validate one item against the published views (any thread).  Returns
 * NULL or an error message (caller frees). */
static char *check_item(const view_set *vs, const json_t *j, item *it)
{
    if (!json_is_object(j))
        return xstrdup("each item must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(json_unconst(j), k, v) {
        size_t i;
        for (i = 0; item_keys[i] && strcmp(item_keys[i], k) != 0; i++)
            ;
        if (!item_keys[i])
            return xasprintf("unknown key '%.64s'", k);
        if (strcmp(k, "usage") != 0 && strcmp(k, "headers") != 0 &&
            !json_is_string(v))
            return xasprintf("%s must be a string", k);
    }
    it->provider = json_string_value(json_object_get(j, "provider"));
    if (!it->provider)
        return xstrdup("provider is required");
    const provider_view *p = view_set_find(vs, it->provider);
    if (!p)
        return xasprintf("unknown provider '%.64s' (configure the instance "
                         "first)", it->provider);
    it->id = json_string_value(json_object_get(j, "id"));
    if (it->id && (!*it->id || strlen(it->id) > 128 || strpbrk(it->id, "\r\n")))
        return xstrdup("id must be 1-128 characters on one line");
    const json_t *usage = json_object_get(j, "usage");
    const json_t *headers = json_object_get(j, "headers");
    if (!usage && !headers)
        return xstrdup("an item needs usage, headers or both");
    if (headers) {
        char *e = check_headers(headers, it);
        if (e)
            return e;
    }
    usage_record_init(&it->rec);
    const char *at = json_string_value(json_object_get(j, "at"));
    double when = time_now();
    if (at && rfc3339_parse(at, &when) != 0)
        return xasprintf("at: '%.64s' is not RFC 3339", at);
    if (!usage)
        return NULL;
    if (!json_is_object(usage))
        return xstrdup("usage must be an object");
    usage_dialect dialect;
    if (pick_dialect(j, p, &dialect) != 0)
        return xstrdup("cannot tell the usage dialect: set \"dialect\" (openai, "
                       "openai-responses, anthropic, deepseek, gemini, "
                       "openrouter, ollama, claude-code, codex)");
    char *err = NULL;
    if (usage_from_dialect(dialect, usage, &it->rec, &err) != 0) {
        char *msg = xasprintf("usage: %s", err ? err : "not understood");
        free(err);
        return msg;
    }
    it->has_usage = 1;
    it->rec.provider = xstrdup(it->provider);
    it->rec.route = xstrdup(json_string_value(json_object_get(j, "route")));
    if (json_is_string(json_object_get(j, "model"))) {
        free(it->rec.model);
        it->rec.model = xstrdup(json_string_value(json_object_get(j, "model")));
    }
    it->rec.source = xstrdup("ingest");
    if (it->id) {
        free(it->rec.dedup_key);
        it->rec.dedup_key = xstrdup(it->id);
    }
    if (it->rec.at.state != MD_KNOWN)
        it->rec.at = MD_TIME(when);
    it->rec.observed_at = MD_TIME(time_now());
    if (it->rec.at.epoch > time_now() + INGEST_MAX_FUTURE_S)
        return xstrdup("at: the event time is more than a day in the future");
    return NULL;
}

void item_release(item *it)
{
    usage_record_clear(&it->rec);
    free(it->hnames);
    free(it->hvalues);
}

void ingest_batch_free(ingest_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        item_release(&b->items[i]);
    free(b->items);
    json_decref(b->doc);
    free(b);
}

size_t ingest_batch_size(const ingest_batch *b)
{
    return b ? b->n : 0;
}

const usage_record *ingest_batch_record(const ingest_batch *b, size_t i)
{
    return i < b->n && b->items[i].has_usage ? &b->items[i].rec : NULL;
}

int ingest_parse(const view_set *vs, const char *body, size_t len,
                 ingest_batch **out, char **error)
{
    *out = NULL;
    *error = NULL;
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        *error = xasprintf("invalid JSON at line %d column %d: %s", je.line,
                           je.column, je.text);
        return 400;
    }
    /* The items point into the document: the batch keeps it (as an array
     * of one when a single object was sent). */
    json_t *list = json_is_array(doc) ? doc : json_pack("[o]", doc);
    size_t n = json_array_size(list);
    if (n == 0 || n > INGEST_MAX_ITEMS) {
        json_decref(list);
        *error = xstrdup("send one item or an array of 1-1000 items");
        return 400;
    }
    ingest_batch *b = xmalloc(sizeof *b);
    *b = (ingest_batch){.items = xcalloc(n, sizeof *b->items), .n = n,
                        .doc = list};
    for (size_t i = 0; i < n; i++) {
        char *err = check_item(vs, json_array_get(list, i), &b->items[i]);
        if (!err)
            continue;
        char *msg = n > 1 ? xasprintf("item %zu: %s", i, err) : xstrdup(err);
        *error = mask_secrets(msg, vs->secrets, vs->n_secrets);
        free(msg);
        free(err);
        ingest_batch_free(b);
        return 400;
    }
    *out = b;
    return 200;
}
