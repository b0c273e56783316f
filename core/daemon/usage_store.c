/* usage_store.c - the in-memory usage store: providers, their model
 * tables and cells, put (plugins), add_event (ingest) and retention
 * (contract: usage_store.h; layout: usage_store_impl.h).
 *
 * Each provider keeps one array of cells sorted by (slot, source, model
 * index) and a table of model names the cells refer to by index, so a
 * copy for saving is a memcpy and a cell is a fixed-size record. */
#include "usage_store_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---------------------------------------------------------------- */
/* sums and ordering                                                 */
/* ---------------------------------------------------------------- */

/* Unknown wins; not applicable is neutral (see usage_store.h); a known
 * sum is held at USAGE_COUNT_MAX (*held set), so two large counts never
 * make an infinity, which would be stored as unknown. */
static md_num num_add(md_num a, md_num b, int *held)
{
    if (a.state == MD_UNKNOWN || b.state == MD_UNKNOWN)
        return (md_num){MD_UNKNOWN, 0.0};
    if (a.state == MD_NOT_APPLICABLE && b.state == MD_NOT_APPLICABLE)
        return MD_NUM_NA;
    double v = (a.state == MD_KNOWN ? a.value : 0) +
               (b.state == MD_KNOWN ? b.value : 0);
    if (!(v <= USAGE_COUNT_MAX)) {
        v = USAGE_COUNT_MAX;
        *held = 1;
    }
    return MD_NUM(v);
}

int usage_buckets_add(md_num *acc, const md_num *b)
{
    int held = 0;
    for (int i = 0; i < UB_N; i++)
        acc[i] = num_add(acc[i], b[i], &held);
    return held;
}

int ucell_cmp(const void *pa, const void *pb)
{
    const ucell *a = pa, *b = pb;
    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    return a->model < b->model ? -1 : a->model > b->model;
}

/* First index whose slot is >= slot. */
static size_t lower_slot(const uprov *p, double slot)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->cells[mid].slot < slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---------------------------------------------------------------- */
/* providers and models                                              */
/* ---------------------------------------------------------------- */

uprov *uprov_find(const usage_store *s, const char *name, size_t *pos)
{
    size_t lo = 0, hi = s->n_p;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->p[mid].name, name);
        if (c == 0)
            return &s->p[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

uprov *uprov_get(usage_store *s, const char *name)
{
    size_t pos = 0;
    uprov *p = uprov_find(s, name, &pos);
    if (p)
        return p;
    s->p = xrealloc(s->p, (s->n_p + 1) * sizeof *s->p);
    memmove(&s->p[pos + 1], &s->p[pos], (s->n_p - pos) * sizeof *s->p);
    s->n_p++;
    memset(&s->p[pos], 0, sizeof s->p[pos]);
    s->p[pos].name = xstrdup(name);
    return &s->p[pos];
}

uint32_t uprov_model_index(uprov *p, const char *model)
{
    if (!model)
        return NO_MODEL;
    for (size_t i = 0; i < p->n_models; i++)
        if (strcmp(p->models[i], model) == 0)
            return (uint32_t)i;
    p->models = xrealloc(p->models, (p->n_models + 1) * sizeof *p->models);
    p->models[p->n_models] = xstrdup(model);
    return (uint32_t)p->n_models++;
}

const char *uprov_model_name(const uprov *p, uint32_t idx)
{
    return idx == NO_MODEL ? NULL : p->models[idx];
}

void uprov_reserve(uprov *p, size_t n)
{
    if (n <= p->cap)
        return;
    size_t cap = p->cap ? p->cap : 64;
    while (cap < n)
        cap *= 2;
    p->cells = xrealloc(p->cells, cap * sizeof *p->cells);
    p->cap = cap;
}

void uprov_release(uprov *p)
{
    free(p->name);
    for (size_t i = 0; i < p->n_models; i++)
        free(p->models[i]);
    free(p->models);
    free(p->cells);
}

/* ---------------------------------------------------------------- */
/* lifecycle and queries                                             */
/* ---------------------------------------------------------------- */

usage_store *usage_store_new(const char *state_dir, long long retention_ms)
{
    usage_store *s = xmalloc(sizeof *s);
    *s = (usage_store){
        .state_dir = xstrdup(state_dir),
        .retention_ms = retention_ms > 0 ? retention_ms
                                         : USAGE_RETENTION_DEFAULT_MS,
        .hist = history_new(),
    };
    pthread_mutex_init(&s->io, NULL);
    pthread_cond_init(&s->io_cv, NULL);
    return s;
}

void uop_release(uop *o)
{
    free(o->provider);
    free(o->model);
}

static void undo_drop(usage_store *s)
{
    for (size_t i = 0; i < s->n_undo; i++) {
        free(s->undo[i].provider);
        free(s->undo[i].model);
    }
    s->n_undo = 0;
}

void usage_store_free(usage_store *s)
{
    if (!s)
        return;
    undo_drop(s);
    free(s->undo);
    for (size_t i = 0; i < s->n_p; i++)
        uprov_release(&s->p[i]);
    free(s->p);
    for (size_t i = 0; i < s->n_ops; i++)
        uop_release(&s->ops[i]);
    free(s->ops);
    history_db_free(s->db);
    history_free(s->hist);
    free(s->state_dir);
    free(s->last_error);
    pthread_cond_destroy(&s->io_cv);
    pthread_mutex_destroy(&s->io);
    free(s);
}

/* ---------------------------------------------------------------- */
/* the journal                                                       */
/* ---------------------------------------------------------------- */

static uop *journal_add(usage_store *s, uop_kind kind, const char *provider)
{
    if (s->n_ops == s->cap_ops) {
        s->cap_ops = s->cap_ops ? 2 * s->cap_ops : 64;
        s->ops = xrealloc(s->ops, s->cap_ops * sizeof *s->ops);
    }
    uop *o = &s->ops[s->n_ops++];
    *o = (uop){.kind = kind, .provider = xstrdup(provider)};
    return o;
}

void usage_journal(usage_store *s, uop_kind kind, const char *provider,
                   double slot, unsigned long long generation)
{
    uop *o = journal_add(s, kind, provider);
    o->slot = slot;
    o->generation = generation;
}

void usage_journal_cell(usage_store *s, const char *provider,
                        const ucell *c, const char *model)
{
    uop *o = journal_add(s, UOP_UPSERT, provider);
    o->slot = c->slot;
    o->src = c->src;
    o->model = model ? xstrdup(model) : NULL;
    memcpy(o->b, c->b, sizeof o->b);
    o->events = c->events;
    o->parts = c->parts;
}

void usage_store_set_retention(usage_store *s, long long retention_ms)
{
    if (retention_ms > 0)
        s->retention_ms = retention_ms;
}

unsigned long long usage_store_generation(const usage_store *s,
                                          const char *provider)
{
    const uprov *p = uprov_find(s, provider, NULL);
    return p ? p->generation : 0;
}

int usage_store_has_provider(const usage_store *s, const char *provider)
{
    return uprov_find(s, provider, NULL) != NULL;
}

int usage_store_has_plugin_cells(const usage_store *s, const char *provider)
{
    const uprov *p = uprov_find(s, provider, NULL);
    if (p && p->db_plugin_cells)
        return 1;
    for (size_t i = 0; p && i < p->n; i++)
        if (p->cells[i].src == SRC_PLUGIN)
            return 1;
    return 0;
}

unsigned long usage_store_changes(const usage_store *s) { return s->seq; }

size_t usage_store_count(const usage_store *s, const char *provider)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_p; i++)
        if (!provider || strcmp(s->p[i].name, provider) == 0)
            n += s->p[i].n;
    return n;
}

/* The first slot retention keeps: a slot is dropped once it ENDED more
 * than retention ago. */
static double keep_from(const usage_store *s, double now)
{
    return floor((now - (double)s->retention_ms / 1000.0) / USAGE_SLOT_SECONDS) * USAGE_SLOT_SECONDS;
}

double usage_store_kept_from(const usage_store *s, double now)
{
    return keep_from(s, now);
}

/* Drop model names no cell uses any more (renumbering keeps the cell
 * order: indices keep their relative order). */
static void compact_models(uprov *p)
{
    uint32_t *map = xmalloc((p->n_models ? p->n_models : 1) * sizeof *map);
    for (size_t i = 0; i < p->n_models; i++)
        map[i] = NO_MODEL;
    for (size_t i = 0; i < p->n; i++)
        if (p->cells[i].model != NO_MODEL)
            map[p->cells[i].model] = 0;
    size_t k = 0;
    for (size_t i = 0; i < p->n_models; i++) {
        if (map[i] == NO_MODEL) {
            free(p->models[i]);
            continue;
        }
        map[i] = (uint32_t)k;
        p->models[k++] = p->models[i];
    }
    p->n_models = k;
    for (size_t i = 0; i < p->n; i++)
        if (p->cells[i].model != NO_MODEL)
            p->cells[i].model = map[p->cells[i].model];
    free(map);
}

static int prune_prov(uprov *p, double from)
{
    size_t cut = lower_slot(p, from);
    if (cut == 0)
        return 0;
    memmove(p->cells, p->cells + cut, (p->n - cut) * sizeof *p->cells);
    p->n -= cut;
    compact_models(p);
    return 1;
}

void usage_store_prune(usage_store *s, double now)
{
    double from = keep_from(s, now);
    /* The database may hold cells memory does not (usage_store_load_meta):
     * journal the cut whenever it moves, at most once per slot. */
    int moved = from > s->pruned_from;
    for (size_t i = 0; i < s->n_p; i++) {
        if (prune_prov(&s->p[i], from) || moved) {
            s->seq++;
            usage_journal(s, UOP_DEL_BEFORE, s->p[i].name, from, 0);
        }
    }
    if (moved)
        s->pruned_from = from;
}

/* ---------------------------------------------------------------- */
/* put (plugins) and add_event (ingest)                              */
/* ---------------------------------------------------------------- */

/* Sort and sum duplicates in place; returns the new count. */
static size_t sort_merge(ucell *c, size_t n)
{
    if (n == 0)
        return 0;
    /* A plugin's cells come in slot order, the models of a slot in the
     * plugin's own order, not in this store's model numbering: then each
     * slot's few cells are put in order in place (an insertion sort,
     * stable as glibc's merge sort, so duplicates merge in the same
     * order), not the whole array sorted again. */
    size_t i = 1;
    while (i < n && (c[i - 1].slot < c[i].slot ||
                     (c[i - 1].slot == c[i].slot && c[i - 1].src <= c[i].src)))
        i++;
    if (i < n) {
        qsort(c, n, sizeof *c, ucell_cmp);
    } else {
        for (i = 1; i < n; i++) {
            if (ucell_cmp(&c[i - 1], &c[i]) <= 0)
                continue;
            ucell t = c[i];
            size_t j = i;
            for (; j > 0 && ucell_cmp(&c[j - 1], &t) > 0; j--)
                c[j] = c[j - 1];
            c[j] = t;
        }
    }
    size_t out = 0;
    for (i = 1; i < n; i++) {
        if (ucell_cmp(&c[out], &c[i]) == 0) {
            usage_buckets_add(c[out].b, c[i].b);
            c[out].events += c[i].events;
            usage_parts_add(&c[out].parts, &c[i].parts);
        } else {
            c[++out] = c[i];
        }
    }
    return out + 1;
}

void usage_store_put(usage_store *s, const char *provider,
                     const usage_cell_rec *cells, size_t n, double since,
                     unsigned long long generation, double now)
{
    uprov *p = uprov_get(s, provider);
    double from = keep_from(s, now);
    /* Only the tail from since on changes: keep its ingest cells, replace
     * its plugin cells (built right after those, in the store's own
     * array: no copy of them in between), and re-sort just that tail. */
    size_t tail = lower_slot(p, since), kept = tail;
    for (size_t i = tail; i < p->n; i++)
        if (p->cells[i].src == SRC_INGEST)
            p->cells[kept++] = p->cells[i];
    p->n = kept;
    uprov_reserve(p, kept + n);
    ucell *add = p->cells + kept;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].slot_start < from || cells[i].slot_start < since)
            continue;   /* past retention (or not the plugin's to give) */
        add[k] = (ucell){.slot = cells[i].slot_start,
                         .model = uprov_model_index(p, cells[i].model),
                         .src = SRC_PLUGIN,
                         .events = cells[i].events,
                         .parts = cells[i].parts};
        memcpy(add[k++].b, cells[i].b, sizeof add->b);
    }
    k = sort_merge(add, k);
    /* room for the k cells and the three entries around them at once:
     * grown by doubling, a cold put of 13 600 cells copied the journal
     * eight times */
    if (s->cap_ops < s->n_ops + k + 3) {
        s->cap_ops = s->n_ops + k + 3;
        s->ops = xrealloc(s->ops, s->cap_ops * sizeof *s->ops);
    }
    usage_journal(s, UOP_DEL_FROM, provider, since, 0);
    for (size_t i = 0; i < k; i++)
        usage_journal_cell(s, provider, &add[i],
                           uprov_model_name(p, add[i].model));
    usage_journal(s, UOP_GEN, provider, 0, generation);
    usage_journal(s, UOP_DEL_BEFORE, provider, from, 0);
    p->n = kept + k;
    /* the new cells are sorted: with no ingest cell kept before them, so
     * is the tail */
    if (kept != tail)
        qsort(p->cells + tail, p->n - tail, sizeof *p->cells, ucell_cmp);
    p->generation = generation;
    prune_prov(p, from);
    s->seq++;
}

/* Whether provider p has an ingest cell of model idx on the UTC day of
 * slot, and how many distinct models its ingest cells of that day use. */
static size_t day_models(const uprov *p, double slot, uint32_t idx, int *has)
{
    double day = floor(slot / 86400.0) * 86400.0;
    size_t lo = lower_slot(p, day), hi = lower_slot(p, day + 86400.0);
    unsigned char *seen = xcalloc(p->n_models + 1, 1);
    size_t distinct = 0;
    *has = 0;
    for (size_t i = lo; i < hi; i++) {
        const ucell *c = &p->cells[i];
        if (c->src != SRC_INGEST || c->model == NO_MODEL)
            continue;
        if (c->model == idx)
            *has = 1;
        if (!seen[c->model]) {
            seen[c->model] = 1;
            distinct++;
        }
    }
    free(seen);
    return distinct;
}

/* The index of an existing model name, or NO_MODEL (never adds). */
static uint32_t model_lookup(const uprov *p, const char *model)
{
    for (size_t i = 0; model && i < p->n_models; i++)
        if (strcmp(p->models[i], model) == 0)
            return (uint32_t)i;
    return NO_MODEL;
}

/* Remember what the cell key holds before add_event changes it. */
static void undo_note(usage_store *s, const uprov *p, const ucell *key,
                      const ucell *old, const char *model, int created)
{
    if (!s->undoing)
        return;
    if (s->n_undo == s->cap_undo) {
        s->cap_undo = s->cap_undo ? 2 * s->cap_undo : 16;
        s->undo = xrealloc(s->undo, s->cap_undo * sizeof *s->undo);
    }
    uundo *u = &s->undo[s->n_undo++];
    *u = (uundo){.provider = xstrdup(p->name),
                 .model = model ? xstrdup(model) : NULL,
                 .slot = key->slot, .had = old != NULL, .created = created};
    if (old) {
        memcpy(u->old.b, old->b, sizeof u->old.b);
        u->old.events = old->events;
    }
}

int usage_store_add_event(usage_store *s, const char *provider, double at,
                          const char *model, const md_num b[UB_N],
                          double now, const char **err, const char **note)
{
    static const char *const bad_at = "the event time is not a valid time";
    if (note)
        *note = NULL;
    if (!isfinite(at) || at < 0 || at > USAGE_MAX_EPOCH)
        return *err = bad_at, -1;
    double slot = floor(at / USAGE_SLOT_SECONDS) * USAGE_SLOT_SECONDS;
    const char *why = usage_cell_fields_problem(slot, model, b, 1);
    if (why)
        return *err = why, -1;
    if (slot < keep_from(s, now))
        return 1;
    int created = !uprov_find(s, provider, NULL);
    uprov *p = uprov_get(s, provider);
    if (model) {
        int has = 0;
        size_t n = day_models(p, slot, model_lookup(p, model), &has);
        if (!has && n >= USAGE_MAX_MODELS_PER_DAY &&
            strcmp(model, USAGE_OTHER_MODELS) != 0) {
            model = USAGE_OTHER_MODELS;
            if (note)
                *note = "more than 256 models on this day: counted under "
                        "\"" USAGE_OTHER_MODELS "\"";
        }
    }
    ucell key = {
        .slot = slot,
        .model = uprov_model_index(p, model),
        .src = SRC_INGEST,
        .events = 1,
    };
    for (int i = 0; i < UB_N; i++) {
        key.b[i] = b[i];
        if (key.b[i].state != MD_KNOWN) {
            key.b[i].value = 0;
        } else if (key.b[i].value > USAGE_COUNT_MAX) {
            key.b[i].value = USAGE_COUNT_MAX;
            if (note)
                *note = USAGE_HELD_NOTE;
        }
    }
    size_t lo = lower_slot(p, key.slot);
    while (lo < p->n && ucell_cmp(&p->cells[lo], &key) < 0)
        lo++;
    if (lo < p->n && ucell_cmp(&p->cells[lo], &key) == 0) {
        undo_note(s, p, &key, &p->cells[lo], model, 0);
        if (usage_buckets_add(p->cells[lo].b, key.b) && note)
            *note = USAGE_HELD_NOTE;
        p->cells[lo].events += 1;
    } else {
        undo_note(s, p, &key, NULL, model, created);
        uprov_reserve(p, p->n + 1);
        memmove(&p->cells[lo + 1], &p->cells[lo],
                (p->n - lo) * sizeof *p->cells);
        p->cells[lo] = key;
        p->n++;
    }
    usage_journal_cell(s, provider, &p->cells[lo], model);
    s->seq++;
    return 0;
}

/* ---------------------------------------------------------------- */
/* Sums for running totals (usage_counter.h)                         */
/* ---------------------------------------------------------------- */

size_t usage_store_n_providers(const usage_store *s)
{
    return s ? s->n_p : 0;
}

const char *usage_store_provider_name(const usage_store *s, size_t i)
{
    return s->p[i].name;
}

void usage_store_sum_range(const usage_store *s, size_t i, double from,
                           double until, double sum[UB_N], unsigned *known)
{
    const uprov *p = &s->p[i];
    for (int b = 0; b < UB_N; b++)
        sum[b] = 0;
    *known = 0;
    for (size_t k = lower_slot(p, from); k < p->n && p->cells[k].slot < until; k++)
        for (int b = 0; b < UB_N; b++)
            if (p->cells[k].b[b].state == MD_KNOWN) {
                sum[b] += p->cells[k].b[b].value;
                *known |= 1u << b;
            }
}

void usage_store_begin_events(usage_store *s)
{
    undo_drop(s);
    s->undoing = 1;
}

void usage_store_keep_events(usage_store *s)
{
    undo_drop(s);
    s->undoing = 0;
}

static void remove_provider(usage_store *s, const char *name)
{
    size_t pos;
    uprov *p = uprov_find(s, name, NULL);
    if (!p || p->n)
        return;
    pos = (size_t)(p - s->p);
    uprov_release(p);
    memmove(&s->p[pos], &s->p[pos + 1], (s->n_p - pos - 1) * sizeof *s->p);
    s->n_p--;
}

void usage_store_undo_events(usage_store *s)
{
    for (size_t i = s->n_undo; i-- > 0;) {
        const uundo *u = &s->undo[i];
        uprov *p = uprov_find(s, u->provider, NULL);
        if (!p)
            continue;
        ucell key = {.slot = u->slot, .src = SRC_INGEST,
                     .model = u->model ? model_lookup(p, u->model) : NO_MODEL};
        if (u->model && key.model == NO_MODEL)
            continue;   /* gone with its cells (pruned) */
        size_t lo = lower_slot(p, key.slot);
        while (lo < p->n && ucell_cmp(&p->cells[lo], &key) < 0)
            lo++;
        if (lo == p->n || ucell_cmp(&p->cells[lo], &key) != 0)
            continue;   /* pruned meanwhile */
        if (u->had) {
            memcpy(p->cells[lo].b, u->old.b, sizeof u->old.b);
            p->cells[lo].events = u->old.events;
        } else {
            memmove(&p->cells[lo], &p->cells[lo + 1],
                    (p->n - lo - 1) * sizeof *p->cells);
            p->n--;
        }
        if (u->created)
            remove_provider(s, u->provider);
    }
    s->seq++;
    usage_store_keep_events(s);
}

void usage_store_add_ingest_id(usage_store *s, const char *id, size_t keep)
{
    s->seq++;
    usage_journal(s, UOP_INGEST_ID, id, 0, keep);
}

void usage_store_each(const usage_store *s, const char *provider,
                      double from, double to, usage_cell_fn fn, void *arg)
{
    const uprov *p = s ? uprov_find(s, provider, NULL) : NULL;
    for (size_t i = 0; p && i < p->n; i++) {
        const ucell *c = &p->cells[i];
        if (c->slot >= from && c->slot < to)
            fn(arg, c->slot, uprov_model_name(p, c->model), c->b, c->events);
    }
}

void usage_store_each_parts(const usage_store *s, const char *provider,
                            double from, double to, usage_cell_parts_fn fn,
                            void *arg)
{
    const uprov *p = s ? uprov_find(s, provider, NULL) : NULL;
    for (size_t k = p ? lower_slot(p, from) : 0; p && k < p->n && p->cells[k].slot < to; k++) {
        const ucell *c = &p->cells[k];
        fn(arg, uprov_model_name(p, c->model), c->b, c->events, &c->parts);
    }
}
