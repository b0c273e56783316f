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

/* Owner thread only (daemon.h). */
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

/* Validate one item against the published views (any thread).  Returns
 * NULL or an error message (caller frees). */
static char *check_item(const view_set *vs, const json_t *j, item *it)
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
    return NULL;
}

static void item_free(item *it)
{
    usage_record_clear(&it->rec);
    free(it->hnames);
    free(it->hvalues);
}

/* Meters of one provider gathered from every item of a request, folded
 * into its state once (state_put_ingest_metrics). */
typedef struct meter_batch {
    pstate *p;
    metric *m;
    size_t n, cap;
} meter_batch;

static meter_batch *batch_for(meter_batch **b, size_t *nb, pstate *p)
{
    for (size_t i = 0; i < *nb; i++)
        if ((*b)[i].p == p)
            return &(*b)[i];
    *b = xrealloc(*b, (*nb + 1) * sizeof **b);
    (*b)[*nb] = (meter_batch){.p = p, .m = NULL, .n = 0, .cap = 0};
    return &(*b)[(*nb)++];
}

/* Parse an item's header meters into the provider's batch. */
static size_t gather_headers(meter_batch *b, const item *it, double now)
{
    rl_metric *rl = NULL;
    size_t n = ratelimit_parse(it->hnames, it->hvalues, it->n_headers, now,
                               NULL, &rl, NULL);
    size_t folded = 0;
    for (size_t i = 0; i < n; i++) {
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 16;
            b->m = xrealloc(b->m, b->cap * sizeof *b->m);
        }
        char **rej = NULL;
        size_t n_rej = 0;
        if (metric_from_sdk(&b->m[b->n], &rl[i].m, sizeof rl[i].m, b->p->name,
                            "headers", now, &rej, &n_rej) >= 0) {
            b->n++;
            folded++;
        }
        for (size_t r = 0; r < n_rej; r++)
            free(rej[r]);
        free(rej);
    }
    free(rl);
    return folded;
}

static json_t *apply_item(daemon_t *d, item *it, meter_batch **b, size_t *nb)
{
    pstate *p = state_find(d, it->provider);
    size_t folded = it->n_headers ? gather_headers(batch_for(b, nb, p), it,
                                                   time_now())
                                  : 0;
    json_t *out;
    if (it->has_usage) {
        md_num u[UB_N] = {
            [UB_INPUT_UNCACHED] = it->rec.tokens_input_uncached,
            [UB_CACHE_READ] = it->rec.tokens_cache_read,
            [UB_CACHE_WRITE] = it->rec.tokens_cache_write,
            [UB_OUTPUT] = it->rec.tokens_output,
            [UB_REASONING] = it->rec.tokens_reasoning,
            [UB_TOTAL] = it->rec.tokens_total,
            [UB_COST] = it->rec.cost_usd,
            [UB_CACHE_WRITE_1H] = it->rec.tokens_cache_write_1h};
        const char *why = NULL;
        int rc = d->usage ? usage_store_add_event(d->usage, it->provider,
                                                  it->rec.at.epoch, it->rec.model,
                                                  u, time_now(), &why)
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

/* One validated request, handed to the owner thread as one message. */
typedef struct ingest_msg {
    item *items;
    size_t n;
    /* answer */
    int status;
    char *error;
    json_t *response;
    char **fresh;           /* ids accepted now, to append to IDS_FILE */
    size_t n_fresh;
    usage_image *img;       /* the usage to write before the ids */
} ingest_msg;

/* Owner thread: apply every item, or none. */
static void ingest_apply(daemon_t *d, void *arg)
{
    ingest_msg *m = arg;
    for (size_t i = 0; i < m->n; i++) {
        if (state_find(d, m->items[i].provider))
            continue;
        m->status = 409;   /* removed by a reload since validation */
        m->error = xasprintf("%sunknown provider '%.64s' (removed by a reload)",
                             m->n > 1 ? "item: " : "", m->items[i].provider);
        return;
    }
    ingest_state *s = state_of(d);
    if (!s->loaded)
        load_ids(s, d->cfg->state_dir);
    m->fresh = xcalloc(m->n, sizeof *m->fresh);
    meter_batch *b = NULL;
    size_t nb = 0;
    json_t *records = json_array();
    for (size_t i = 0; i < m->n; i++) {
        item *it = &m->items[i];
        const seen_id *seen = it->id ? seen_find(s, it->id) : NULL;
        json_t *r = seen ? duplicate_response(seen) : apply_item(d, it, &b, &nb);
        if (!seen && it->id) {
            seen_add(s, it->id, r);
            m->fresh[m->n_fresh++] = xstrdup(it->id);
        }
        redact_json(r, (const char *const *)d->cfg->secrets, d->cfg->n_secrets);
        json_array_append_new(records, r);
    }
    for (size_t i = 0; i < nb; i++) {
        state_put_ingest_metrics(d, b[i].p, b[i].m, b[i].n);
        for (size_t k = 0; k < b[i].n; k++)
            metric_release(&b[i].m[k]);
        free(b[i].m);
    }
    free(b);
    d->version++;
    m->response = json_pack("{s:o}", "records", records);
    m->img = d->usage ? usage_store_image(d->usage, time_now()) : NULL;
    m->status = 200;
}

int ingest_handle(daemon_t *d, const char *body, size_t len, json_t **response,
                  char **error)
{
    *response = NULL;
    *error = NULL;
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        *error = xasprintf("invalid JSON at line %d column %d: %s", je.line,
                           je.column, je.text);
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
    ingest_msg m = {.items = xcalloc(n, sizeof *m.items), .n = n, .status = 200,
                    .error = NULL, .response = NULL, .fresh = NULL,
                    .n_fresh = 0, .img = NULL};
    /* Validation reads the published views only: no lock, no owner. */
    view_set *vs = view_set_acquire(d);
    for (size_t i = 0; i < n && m.status == 200; i++) {
        char *err = check_item(vs, json_array_get(list, i), &m.items[i]);
        if (!err)
            continue;
        char *msg = n > 1 ? xasprintf("item %zu: %s", i, err) : xstrdup(err);
        m.error = mask_secrets(msg, vs->secrets, vs->n_secrets);
        free(msg);
        free(err);
        m.status = 400;
    }
    char *state_dir = xstrdup(vs->state_dir);
    view_set_release(vs);
    if (m.status == 200 && state_call(d, ingest_apply, &m) != 0) {
        m.status = 503;
        m.error = xstrdup("shutting down");
    }
    for (size_t i = 0; i < n; i++)
        item_free(&m.items[i]);
    free(m.items);
    json_decref(list);
    json_decref(doc);
    if (m.status == 200) {
        char *err = NULL;
        if (m.img && usage_store_write(m.img, &err) != 0) {  /* usage first */
            log_msg(MD_LOG_WARN, NULL, "cannot save the usage store: %s",
                    err ? err : "unknown error");
            free(err);
        }
        append_ids(state_dir, m.fresh, m.n_fresh);       /* then the ids */
    }
    for (size_t i = 0; i < m.n_fresh; i++)
        free(m.fresh[i]);
    free(m.fresh);
    free(state_dir);
    *response = m.response;
    *error = m.error;
    return m.status;
}
