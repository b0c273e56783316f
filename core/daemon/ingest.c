/* ingest.c - POST /api/telemetry on the owner thread: group commit,
 * remembered ids, header meters (see ingest.h; parsing: ingest_parse.c). */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "history_db.h"
#include "ingest_int.h"
#include "log.h"
#include "ratelimit.h"
#include "redact.h"
#include "statefile.h"
#include "timeutil.h"
#include "unconst.h"
#include "usage.h"
#include "usage_store.h"

/* Remembered ids and their responses (FIFO, bounded). */
typedef struct seen_id {
    char *id;
    char *response;     /* the record returned the first time, compact
                           JSON text; NULL when not kept (an id of an
                           earlier run, or one older than the newest
                           INGEST_KEEP_RESPONSES) */
} seen_id;

typedef struct ingest_state {
    seen_id *ids;       /* ring of INGEST_MAX_IDS */
    size_t n, next;
    long commit_delay_ms;   /* test only, see test_commit_delay */
    long long stop_seen_ms; /* mono: first request applied after SIGTERM */
} ingest_state;

/* A group commit holds at most this many items (a request bigger than
 * that is a group of its own): the bound on how long the first request
 * of a group waits for the last one's items to be applied. */
#define INGEST_GROUP_MAX_ITEMS INGEST_MAX_ITEMS

/* At shutdown the queued requests are still applied, a group commit at
 * a time, for at most this long; the rest are answered 503 (nothing recorded:
 * the caller retries), so a slow disk cannot hold up the exit. */
#define INGEST_SHUTDOWN_BUDGET_MS 500

/* Where earlier versions kept the caller ids (one per line); migrated
 * into the history database once, then renamed IDS_FILE ".migrated". */
#define IDS_FILE "ingest_ids.log"

/* Owner thread only (daemon.h). */
static ingest_state *state_of(daemon_t *d)
{
    if (!d->ingest)
        d->ingest = xcalloc(1, sizeof(ingest_state));
    return d->ingest;
}

static void seen_clear(ingest_state *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->ids[i].id);
        free(s->ids[i].response);
    }
    free(s->ids);
    s->ids = NULL;
    s->n = s->next = 0;
}

void ingest_free(daemon_t *d)
{
    ingest_state *s = d->ingest;
    if (!s)
        return;
    seen_clear(s);
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

/* Remember id with the response it was first answered (NULL: none).
 * Only the newest INGEST_KEEP_RESPONSES keep theirs, as text: a jansson
 * tree of a record (with its raw request) is several KiB, and 10 000 of
 * them grew the heap by ~0.5 MiB a minute at 4 POSTs a second. */
static void seen_add(ingest_state *s, const char *id, const json_t *response)
{
    if (!s->ids)
        s->ids = xcalloc(INGEST_MAX_IDS, sizeof *s->ids);
    seen_id *slot = &s->ids[s->next];
    if (s->n == INGEST_MAX_IDS) { /* full: the oldest goes */
        free(slot->id);
        free(slot->response);
    } else {
        s->n++;
    }
    slot->id = xstrdup(id);
    slot->response = response ? json_dumps(response, JSON_COMPACT) : NULL;
    seen_id *aged = &s->ids[(s->next + INGEST_MAX_IDS - INGEST_KEEP_RESPONSES) %
                            INGEST_MAX_IDS];
    free(aged->response);   /* a slot not used yet is all NULL */
    aged->response = NULL;
    s->next = (s->next + 1) % INGEST_MAX_IDS;
}

/* Remember an id of an earlier run: a replay answers {"id",
 * "duplicate": true} only (its first response is not kept). */
static void seen_add_bare(ingest_state *s, const char *id)
{
    if (seen_find(s, id))
        return;
    seen_add(s, id, NULL);
}

/* Read IDS_FILE of an earlier version into s (its last INGEST_MAX_IDS
 * lines).  Returns 1 when there was one, 0 when not. */
static int read_ids_file(ingest_state *s, const char *state_dir)
{
    char *path = xasprintf("%s/" IDS_FILE, state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (*line)
            seen_add_bare(s, line);
    }
    fclose(f);
    return 1;
}

/* METERD_TEST_COMMIT_DELAY_MS: a test-only knob (t/89-ingest-async.t,
 * t/89-ingest-group-commit.t) that sleeps that long on the owner thread
 * before each ingest (group) commit, holding the database's lock as a
 * slow disk's fsync inside the commit would.  It is honoured only when METERD_TEST is
 * set too, and refused with a warning otherwise, so a production daemon
 * that inherits the variable by accident does not slow down.  Read once
 * at start (getenv is not safe once threads run). */
static long test_commit_delay(void)
{
    const char *v = getenv("METERD_TEST_COMMIT_DELAY_MS");
    if (!v || !*v)
        return 0;
    char *end = NULL;
    long ms = strtol(v, &end, 10);
    if (!getenv("METERD_TEST") || *end || ms < 0 || ms > 10000) {
        log_msg(MD_LOG_WARN, NULL, "ignoring METERD_TEST_COMMIT_DELAY_MS: a "
                "test-only setting (needs METERD_TEST=1, 0-10000 ms)");
        return 0;
    }
    log_msg(MD_LOG_WARN, NULL, "test: every ingest commit is delayed by "
            "%ld ms (METERD_TEST_COMMIT_DELAY_MS)", ms);
    return ms;
}

void ingest_load(daemon_t *d)
{
    ingest_state *s = state_of(d);
    seen_clear(s);
    s->commit_delay_ms = test_commit_delay();
    const char *dir = d->cfg->state_dir;
    if (read_ids_file(s, dir) && d->usage) {
        for (size_t i = 0; i < s->n; i++)
            usage_store_add_ingest_id(d->usage,
                                      s->ids[(s->next + i) % s->n].id,
                                      INGEST_MAX_IDS);
        char *err = NULL;
        if (usage_store_save(d->usage, time_now(), &err) == 0) {
            char *from = xasprintf("%s/" IDS_FILE, dir);
            char *to = xasprintf("%s/" IDS_FILE ".migrated", dir);
            if (rename(from, to) != 0)
                log_msg(MD_LOG_WARN, NULL, "cannot rename %s: %s", from,
                        strerror(errno));
            free(from);
            free(to);
        } else {
            log_msg(MD_LOG_WARN, NULL, "cannot migrate %s: %s", IDS_FILE,
                    err ? err : "unknown error");
            free(err);
            return;   /* keep what the file said */
        }
    }
    if (!d->usage)
        return;
    char **ids = NULL, *err = NULL;
    size_t n = 0;
    if (usage_store_ingest_ids(d->usage, INGEST_MAX_IDS, &ids, &n, &err) != 0) {
        log_msg(MD_LOG_WARN, NULL, "cannot read the ingest ids: %s",
                err ? err : "unknown error");
        free(err);
        return;
    }
    seen_clear(s);
    for (size_t i = 0; i < n; i++) {
        seen_add_bare(s, ids[i]);
        free(ids[i]);
    }
    free(ids);
}

/* Meters of one provider gathered from every item of a request, folded
 * into its state once (state_put_ingest_metrics).  fresh counts the ids
 * the provider does not hold yet: with its own meters they stay within
 * INGEST_MAX_METERS. */
typedef struct meter_batch {
    pstate *p;
    metric *m;
    size_t n, cap, fresh;
} meter_batch;

static meter_batch *batch_for(meter_batch **b, size_t *nb, pstate *p)
{
    for (size_t i = 0; i < *nb; i++)
        if ((*b)[i].p == p)
            return &(*b)[i];
    *b = xrealloc(*b, (*nb + 1) * sizeof **b);
    (*b)[*nb] = (meter_batch){.p = p, .m = NULL, .n = 0, .cap = 0, .fresh = 0};
    return &(*b)[(*nb)++];
}

static int cmp_metric_id(const void *key, const void *m)
{
    return strcmp(key, ((const metric *)m)->id);
}

/* Whether a meter of this id may be folded into b's provider. */
static int meter_room(meter_batch *b, const char *id)
{
    const pstate *p = b->p;
    if (p->n_ingest_metrics &&
        bsearch(id, p->ingest_metrics, p->n_ingest_metrics,
                sizeof *p->ingest_metrics, cmp_metric_id))
        return 1;
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->m[i].id, id) == 0)
            return 1;
    if (p->n_ingest_metrics + b->fresh >= INGEST_MAX_METERS)
        return 0;
    b->fresh++;
    return 1;
}

/* Parse an item's header meters into the provider's batch; *dropped
 * counts the meters past INGEST_MAX_METERS. */
static size_t gather_headers(meter_batch *b, const item *it, double now,
                             size_t *dropped)
{
    rl_metric *rl = NULL;
    size_t n = ratelimit_parse(it->hnames, it->hvalues, it->n_headers, now,
                               NULL, &rl, NULL);
    size_t folded = 0;
    *dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 16;
            b->m = xrealloc(b->m, b->cap * sizeof *b->m);
        }
        char **rej = NULL;
        size_t n_rej = 0;
        if (metric_from_sdk(&b->m[b->n], &rl[i].m, sizeof rl[i].m, b->p->name,
                            "headers", now, &rej, &n_rej) >= 0) {
            if (meter_room(b, b->m[b->n].id)) {
                b->n++;
                folded++;
            } else {
                metric_release(&b->m[b->n]);
                (*dropped)++;
            }
        }
        for (size_t r = 0; r < n_rej; r++)
            free(rej[r]);
        free(rej);
    }
    free(rl);
    return folded;
}

static void add_note(json_t *out, const char *note)
{
    json_t *notes = json_object_get(out, "notes");
    if (!notes) {
        notes = json_array();
        json_object_set_new(out, "notes", notes);
    }
    json_array_append_new(notes, json_string(note));
}

/* The usage part of an item: added to the store (undone with the rest
 * when the write fails). */
static json_t *store_usage(daemon_t *d, item *it)
{
    if (!it->has_usage)
        return json_pack("{s:s, s:n}", "provider", it->provider, "usage");
    md_num u[UB_N] = {
        [UB_INPUT_UNCACHED] = it->rec.tokens_input_uncached,
        [UB_CACHE_READ] = it->rec.tokens_cache_read,
        [UB_CACHE_WRITE] = it->rec.tokens_cache_write,
        [UB_OUTPUT] = it->rec.tokens_output,
        [UB_REASONING] = it->rec.tokens_reasoning,
        [UB_TOTAL] = it->rec.tokens_total,
        [UB_COST] = it->rec.cost_usd,
        [UB_CACHE_WRITE_1H] = it->rec.tokens_cache_write_1h};
    const char *why = NULL, *note = NULL;
    int rc = d->usage ? usage_store_add_event(d->usage, it->provider,
                                              it->rec.at.epoch, it->rec.model,
                                              u, time_now(), &why, &note)
                      : -1;
    json_t *out = usage_to_json(&it->rec);
    json_object_set_new(out, "stored", json_boolean(rc == 0));
    if (rc != 0)
        json_object_set_new(out, "not_stored_because",
                            json_string(rc == 1 ? "older than usage_retention"
                                        : why ? why : "no usage store"));
    if (note)
        add_note(out, note);
    return out;
}

static json_t *duplicate_response(const json_t *first)
{
    json_t *out = json_deep_copy(first);
    json_object_set_new(out, "duplicate", json_true());
    return out;
}

/* The answer to a replay of a remembered id: its first response when
 * kept, else {"id"} only; with "duplicate": true. */
static json_t *duplicate_of_seen(const seen_id *seen)
{
    json_t *out = seen->response ? json_loads(seen->response, 0, NULL) : NULL;
    if (!json_is_object(out)) {
        json_decref(out);
        out = json_pack("{s:s}", "id", seen->id);
    }
    json_object_set_new(out, "duplicate", json_true());
    return out;
}

/* One validated request, handed to the owner thread as one message
 * (malloc'd by ingest_submit, freed by ingest_done on the owner). */
typedef struct ingest_msg {
    ingest_batch *batch;    /* owned */
    item *items;            /* batch->items */
    size_t n;
    ingest_answer_fn answer;
    void *arg;
    /* the answer, handed to answer() */
    int status;
    char *error;
    json_t *response;
} ingest_msg;

/* The index of the earlier item of this request with the same id, or
 * i itself. */
static size_t first_of_id(const ingest_msg *m, size_t i)
{
    for (size_t k = 0; m->items[i].id && k < i; k++)
        if (m->items[k].id && strcmp(m->items[k].id, m->items[i].id) == 0)
            return k;
    return i;
}

/* Make what a group added durable: its cells and its ids in one
 * transaction.  0, or -1 with everything it added taken back. */
static int persist(daemon_t *d, char **err)
{
    long delay = state_of(d)->commit_delay_ms;
    if (delay > 0) {   /* a slow fsync: inside the database's lock */
        history_db *db = usage_store_db(d->usage);
        struct timespec ts = {.tv_sec = delay / 1000,
                              .tv_nsec = (delay % 1000) * 1000000L};
        if (db)
            history_db_lock(db);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        if (db)
            history_db_unlock(db);
    }
    int rc = usage_store_write(usage_store_image(d->usage, time_now()), err);
    if (rc != 0)
        usage_store_undo_events(d->usage);
    else
        usage_store_keep_events(d->usage);
    return rc;
}

/* Fold the items' header meters into their providers. */
static void apply_meters(daemon_t *d, ingest_msg *m, json_t **recs,
                         const int *skip)
{
    meter_batch *b = NULL;
    size_t nb = 0;
    double now = time_now();
    for (size_t i = 0; i < m->n; i++) {
        if (skip[i])
            continue;
        item *it = &m->items[i];
        size_t dropped = 0, folded = 0;
        if (it->n_headers)
            folded = gather_headers(batch_for(&b, &nb,
                                              state_find(d, it->provider)),
                                    it, now, &dropped);
        json_object_set_new(recs[i], "rate_limit_meters",
                            json_integer((json_int_t)folded));
        if (dropped) {
            char *note = xasprintf("%zu rate-limit meters dropped: a provider "
                                   "keeps at most %d header meters", dropped,
                                   INGEST_MAX_METERS);
            add_note(recs[i], note);
            log_msg(MD_LOG_WARN, it->provider, "%s", note);
            free(note);
        }
    }
    for (size_t i = 0; i < nb; i++) {
        state_put_ingest_metrics(d, b[i].p, b[i].m, b[i].n);
        for (size_t k = 0; k < b[i].n; k++)
            metric_release(&b[i].m[k]);
        free(b[i].m);
    }
    free(b);
}

/* Whether a request may be applied at all: not past the shutdown budget,
 * every provider still configured.  0, or the status with m->error. */
static int admit(daemon_t *d, ingest_msg *m)
{
    ingest_state *s = state_of(d);
    if (d->stop) {
        long long now = mono_ms();
        if (!s->stop_seen_ms)
            s->stop_seen_ms = now;
        if (now - s->stop_seen_ms >= INGEST_SHUTDOWN_BUDGET_MS) {
            m->error = xstrdup("shutting down: nothing was recorded (retry "
                               "later)");
            return m->status = 503;
        }
    }
    for (size_t i = 0; i < m->n; i++) {
        if (state_find(d, m->items[i].provider))
            continue;
        m->error = xasprintf("%sunknown provider '%.64s' (removed by a reload)",
                             m->n > 1 ? "item: " : "", m->items[i].provider);
        return m->status = 409;   /* removed by a reload since validation */
    }
    return 0;
}

/* Whether an earlier request of the group (ms[0..upto)) applies an item
 * of this id: then a later one is its duplicate, as if they had been
 * applied one after the other. */
static int taken_in_group(ingest_msg *const *ms, size_t upto, const char *id)
{
    for (size_t g = 0; g < upto; g++)
        for (size_t i = 0; i < ms[g]->n; i++)
            if (ms[g]->items[i].id && strcmp(ms[g]->items[i].id, id) == 0)
                return 1;
    return 0;
}

/* Apply one request's items to the store (owner thread, inside the
 * group's events): recs[i] its record, dup[i] set for an item whose id
 * was seen before (recs[i] then the earlier response, or NULL while that
 * one is in this group and not answered yet).  Returns whether anything
 * must be committed. */
static int stage(daemon_t *d, ingest_msg *const *ms, size_t g, json_t **recs,
                 int *dup)
{
    ingest_state *s = state_of(d);
    ingest_msg *m = ms[g];
    int durable = 0;
    for (size_t i = 0; i < m->n; i++) {
        item *it = &m->items[i];
        const seen_id *seen = it->id ? seen_find(s, it->id) : NULL;
        if (seen || first_of_id(m, i) != i ||
            (it->id && taken_in_group(ms, g, it->id))) {
            dup[i] = 1;
            recs[i] = seen ? duplicate_of_seen(seen) : NULL;
            continue;
        }
        recs[i] = store_usage(d, it);
        durable |= it->has_usage;
        if (it->id && d->usage) {
            usage_store_add_ingest_id(d->usage, it->id, INGEST_MAX_IDS);
            durable = 1;
        }
    }
    return durable;
}

/* After the commit: fold the meters, remember the ids and build the 200
 * (in the group's order, so a duplicate of an earlier request of the
 * group finds its response remembered). */
static void answer_ok(daemon_t *d, ingest_msg *m, json_t **recs, int *dup)
{
    ingest_state *s = state_of(d);
    apply_meters(d, m, recs, dup);
    json_t *records = json_array();
    for (size_t i = 0; i < m->n; i++) {
        if (!dup[i])
            json_object_set_new(recs[i], "duplicate", json_false());
        else if (!recs[i]) {
            /* a repeat within this request copies its first answer; an
             * id taken by an earlier request of the same group was
             * remembered when that one was answered */
            size_t first = first_of_id(m, i);
            const seen_id *seen = first == i ? seen_find(s, m->items[i].id)
                                             : NULL;
            if (seen)
                recs[i] = duplicate_of_seen(seen);
            else if (first != i && recs[first])
                recs[i] = duplicate_response(recs[first]);
            else
                recs[i] = json_pack("{s:s, s:b}", "id", m->items[i].id,
                                    "duplicate", 1);
        }
        redact_json(recs[i], (const char *const *)d->cfg->secrets,
                    d->cfg->n_secrets);
        if (!dup[i] && m->items[i].id) /* as answered: redacted */
            seen_add(s, m->items[i].id, recs[i]);
        json_array_append_new(records, recs[i]);
    }
    m->response = json_pack("{s:o}", "records", records);
    m->status = 200;
}

/* One transaction for the requests ms[0..n) (each admitted): all 200
 * once it committed, or all 503 with nothing recorded. */
static void apply_chunk(daemon_t *d, ingest_msg **ms, size_t n)
{
    json_t ***recs = xcalloc(n, sizeof *recs);
    int **dup = xcalloc(n, sizeof *dup);
    int durable = 0;
    if (d->usage)
        usage_store_begin_events(d->usage);
    for (size_t g = 0; g < n; g++) {
        recs[g] = xcalloc(ms[g]->n, sizeof **recs);
        dup[g] = xcalloc(ms[g]->n, sizeof **dup);
        durable |= stage(d, ms, g, recs[g], dup[g]);
    }
    char *err = NULL;
    int failed = durable && d->usage && persist(d, &err) != 0;
    if (failed) {
        char *msg = xasprintf("cannot persist the usage, nothing was recorded "
                              "(retry later): %s", err ? err : "unknown error");
        log_msg(MD_LOG_WARN, NULL, "%s (%zu request%s)", msg, n,
                n == 1 ? "" : "s");
        free(err);
        for (size_t g = 0; g < n; g++) {
            ms[g]->status = 503;
            ms[g]->error = xstrdup(msg);
            for (size_t i = 0; i < ms[g]->n; i++)
                json_decref(recs[g][i]);
        }
        free(msg);
    } else {
        if (durable && d->usage)
            usage_store_ingest_committed(d->usage, n);
        if (d->usage && !durable)
            usage_store_keep_events(d->usage);
        for (size_t g = 0; g < n; g++)
            answer_ok(d, ms[g], recs[g], dup[g]);
        d->version++;
    }
    for (size_t g = 0; g < n; g++) {
        free(recs[g]);
        free(dup[g]);
    }
    free(recs);
    free(dup);
}

/* Owner thread: the queued ingest requests (state_post_group), applied
 * as groups of at most INGEST_GROUP_MAX_ITEMS items, each ONE
 * transaction and ONE commit (fsync) instead of one per request.  Every
 * request of a group is answered after its commit: 200 when it
 * committed, 503 with nothing recorded when it failed. */
static void ingest_apply_group(daemon_t *d, void **args, size_t n)
{
    ingest_msg **ms = xcalloc(n ? n : 1, sizeof *ms);
    size_t k = 0, items = 0;
    for (size_t i = 0; i < n; i++) {
        ingest_msg *m = args[i];
        if (admit(d, m) != 0)
            continue;
        if (k && items + m->n > INGEST_GROUP_MAX_ITEMS) {
            apply_chunk(d, ms, k);
            k = items = 0;
        }
        ms[k++] = m;
        items += m->n;
    }
    if (k)
        apply_chunk(d, ms, k);
    free(ms);
}

/* Owner thread, after ingest_apply_group and the publication of its effect:
 * hand the answer over (its ownership with it) and free the message. */
static void ingest_done(void *arg)
{
    ingest_msg *m = arg;
    m->answer(m->arg, m->status, m->response, m->error);
    ingest_batch_free(m->batch);
    free(m);
}

int ingest_submit(daemon_t *d, ingest_batch *b, ingest_answer_fn answer,
                  void *arg)
{
    ingest_msg *m = xmalloc(sizeof *m);
    *m = (ingest_msg){.batch = b, .items = b->items, .n = b->n,
                      .answer = answer, .arg = arg, .status = 200,
                      .error = NULL, .response = NULL};
    if (state_post_group(d, ingest_apply_group, ingest_done, m) == 0)
        return 0;
    ingest_batch_free(b);
    free(m);
    return -1;
}
