/* ingest.c - POST /api/telemetry (see ingest.h). */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "ratelimit.h"
#include "redact.h"
#include "statefile.h"
#include "timeutil.h"
#include "usage.h"
#include "usage_store.h"

/* Remembered ids and their responses (FIFO, bounded). */
typedef struct seen_id {
    char *id;
    json_t *response;   /* the record returned the first time */
} seen_id;

typedef struct ingest_state {
    seen_id *ids;       /* ring of INGEST_MAX_IDS */
    size_t n, next;
    int loaded;         /* ids of earlier runs read from IDS_FILE */
} ingest_state;

/* Caller ids survive restarts: one id per line, appended after the usage
 * they carried was saved.  (A crash between the two can count a replayed
 * turn twice; never lose one.) */
#define IDS_FILE "ingest_ids.log"

/* One validated item, ready to apply. */
typedef struct item {
    const char *provider, *id;
    usage_record rec;
    int has_usage;
    const char **hnames, **hvalues;
    size_t n_headers;
} item;

static ingest_state *state_of(daemon_t *d)
{
    if (!d->ingest)
        d->ingest = xcalloc(1, sizeof(ingest_state));
    return d->ingest;
}

void ingest_free(daemon_t *d)
{
    ingest_state *s = d->ingest;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->ids[i].id);
        json_decref(s->ids[i].response);
    }
    free(s->ids);
    free(s);
    d->ingest = NULL;
}

static const seen_id *seen_find(const ingest_state *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i].id, id) == 0)
            return &s->ids[i];
    return NULL;
}

static void seen_add(ingest_state *s, const char *id, json_t *response);

/* Read the ids of earlier runs (lock held; once).  Responses of those are
 * not kept: a replay answers {"id", "duplicate": true} only. */
static void load_ids(ingest_state *s, const char *state_dir)
{
    s->loaded = 1;
    char *path = xasprintf("%s/" IDS_FILE, state_dir);
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return;
    char line[256];
    size_t lines = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line || seen_find(s, line))
            continue;
        json_t *r = json_pack("{s:s}", "id", line);
        seen_add(s, line, r);
        json_decref(r);
        lines++;
    }
    fclose(f);
    if (lines > INGEST_MAX_IDS) { /* compact: keep what the ring holds */
        size_t len = 0;
        for (size_t i = 0; i < s->n; i++)
            len += strlen(s->ids[i].id) + 1;
        char *text = xmalloc(len + 1), *p = text;
        for (size_t i = 0; i < s->n; i++) {
            const seen_id *e = &s->ids[(s->next + i) % s->n];
            p += sprintf(p, "%s\n", e->id);
        }
        *p = '\0';
        char *err = NULL;
        if (statefile_write(state_dir, IDS_FILE, text, &err) != 0)
            log_msg(MD_LOG_WARN, NULL, "%s", err);
        free(err);
        free(text);
    }
}

/* Append the ids accepted by this request (lock NOT held). */
static void append_ids(const char *state_dir, char **ids, size_t n)
{
    if (!n)
        return;
    char *path = xasprintf("%s/" IDS_FILE, state_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot record ingest ids in %s: %s", path,
                strerror(errno));
        free(path);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *line = xasprintf("%s\n", ids[i]);
        if (write_all(fd, line, strlen(line)) != 0)
            log_msg(MD_LOG_WARN, NULL, "cannot record ingest ids in %s: %s",
                    path, strerror(errno));
        free(line);
    }
    fsync(fd);
    close(fd);
    free(path);
}

static void seen_add(ingest_state *s, const char *id, json_t *response)
{
    if (!s->ids)
        s->ids = xcalloc(INGEST_MAX_IDS, sizeof *s->ids);
    seen_id *slot = &s->ids[s->next];
    if (s->n == INGEST_MAX_IDS) { /* full: the oldest goes */
        free(slot->id);
        json_decref(slot->response);
    } else {
        s->n++;
    }
    slot->id = xstrdup(id);
    slot->response = json_incref(response);
    s->next = (s->next + 1) % INGEST_MAX_IDS;
}

/* The dialect of an item: explicit, the route, or the provider's kind. */
static int pick_dialect(const json_t *it, const pstate *p, usage_dialect *out)
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
    const char *kinds[] = {p->conf->plugin, p->family, p->name};
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
    json_object_foreach((json_t *)h, k, v) {
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

/* Validate one item (lock held, for the provider lookup).  Returns NULL
 * or an error message (caller frees). */
static char *check_item(daemon_t *d, const json_t *j, item *it)
{
    if (!json_is_object(j))
        return xstrdup("each item must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
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
    pstate *p = state_find(d, it->provider);
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
    return NULL;
}

static void item_free(item *it)
{
    usage_record_clear(&it->rec);
    free(it->hnames);
    free(it->hvalues);
}

/* Fold header meters into the provider's ingest metrics (lock held). */
static size_t apply_headers(daemon_t *d, pstate *p, const item *it)
{
    rl_metric *rl = NULL;
    size_t n = ratelimit_parse(it->hnames, it->hvalues, it->n_headers,
                               time_now(), NULL, &rl, NULL);
    size_t folded = 0;
    for (size_t i = 0; i < n; i++) {
        metric m;
        char **rej = NULL;
        size_t n_rej = 0;
        if (metric_from_sdk(&m, &rl[i].m, sizeof rl[i].m, p->name, "headers",
                            time_now(), &rej, &n_rej) >= 0) {
            state_put_ingest_metric(d, p, &m); /* copies m */
            metric_release(&m);
            folded++;
        }
        for (size_t r = 0; r < n_rej; r++)
            free(rej[r]);
        free(rej);
    }
    free(rl);
    return folded;
}

static json_t *apply_item(daemon_t *d, item *it)
{
    pstate *p = state_find(d, it->provider);
    size_t folded = it->n_headers ? apply_headers(d, p, it) : 0;
    json_t *out;
    if (it->has_usage) {
        md_num b[UB_N] = {
            [UB_INPUT_UNCACHED] = it->rec.tokens_input_uncached,
            [UB_CACHE_READ] = it->rec.tokens_cache_read,
            [UB_CACHE_WRITE] = it->rec.tokens_cache_write,
            [UB_OUTPUT] = it->rec.tokens_output,
            [UB_REASONING] = it->rec.tokens_reasoning,
            [UB_TOTAL] = it->rec.tokens_total,
            [UB_COST] = it->rec.cost_usd};
        const char *why = NULL;
        int rc = d->usage ? usage_store_add_event(d->usage, it->provider,
                                                  it->rec.at.epoch, it->rec.model,
                                                  b, time_now(), &why)
                          : -1;
        out = usage_to_json(&it->rec);
        json_object_set_new(out, "stored", json_boolean(rc == 0));
        if (rc != 0)
            json_object_set_new(out, "not_stored_because",
                                json_string(rc == 1 ? "older than usage_retention"
                                            : why ? why : "no usage store"));
    } else {
        out = json_pack("{s:s, s:n}", "provider", it->provider, "usage");
    }
    json_object_set_new(out, "rate_limit_meters", json_integer((json_int_t)folded));
    json_object_set_new(out, "duplicate", json_false());
    return out;
}

static json_t *duplicate_response(const seen_id *s)
{
    json_t *out = json_deep_copy(s->response);
    json_object_set_new(out, "duplicate", json_true());
    return out;
}

int ingest_handle(daemon_t *d, const char *body, size_t len, json_t **response,
                  char **error)
{
    *response = NULL;
    *error = NULL;
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        char *msg = xasprintf("invalid JSON at line %d column %d: %s", je.line,
                              je.column, je.text);
        *error = msg;
        return 400;
    }
    json_t *list = json_is_array(doc) ? json_incref(doc) : json_pack("[O]", doc);
    size_t n = json_array_size(list);
    if (n == 0 || n > INGEST_MAX_ITEMS) {
        json_decref(list);
        json_decref(doc);
        *error = xstrdup("send one item or an array of 1-1000 items");
        return 400;
    }
    item *items = xcalloc(n, sizeof *items);
    int status = 200;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < n && status == 200; i++) {
        char *err = check_item(d, json_array_get(list, i), &items[i]);
        if (err) {
            char *msg = n > 1 ? xasprintf("item %zu: %s", i, err) : xstrdup(err);
            char *masked = mask_secrets(msg, (const char *const *)d->cfg->secrets,
                                        d->cfg->n_secrets);
            *error = masked;
            free(msg);
            free(err);
            status = 400;
        }
    }
    char **fresh = NULL;
    size_t n_fresh = 0;
    char *state_dir = NULL;
    if (status == 200) {
        ingest_state *s = state_of(d);
        if (!s->loaded)
            load_ids(s, d->cfg->state_dir);
        fresh = xcalloc(n, sizeof *fresh);
        state_dir = xstrdup(d->cfg->state_dir);
        json_t *records = json_array();
        for (size_t i = 0; i < n; i++) {
            const seen_id *seen = items[i].id ? seen_find(s, items[i].id) : NULL;
            json_t *r = seen ? duplicate_response(seen) : apply_item(d, &items[i]);
            if (!seen && items[i].id) {
                seen_add(s, items[i].id, r);
                fresh[n_fresh++] = xstrdup(items[i].id);
            }
            redact_json(r, (const char *const *)d->cfg->secrets, d->cfg->n_secrets);
            json_array_append_new(records, r);
        }
        d->version++;
        *response = json_pack("{s:o}", "records", records);
    }
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < n; i++)
        item_free(&items[i]);
    free(items);
    json_decref(list);
    json_decref(doc);
    if (status == 200) {
        state_save_usage(d);      /* the usage first, then the ids */
        append_ids(state_dir, fresh, n_fresh);
    }
    for (size_t i = 0; i < n_fresh; i++)
        free(fresh[i]);
    free(fresh);
    free(state_dir);
    return status;
}
