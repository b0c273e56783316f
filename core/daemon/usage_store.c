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

/* Unknown wins; not applicable is neutral (see usage_store.h). */
static md_num num_add(md_num a, md_num b)
{
    if (a.state == MD_UNKNOWN || b.state == MD_UNKNOWN)
        return (md_num){MD_UNKNOWN, 0.0};
    if (a.state == MD_NOT_APPLICABLE && b.state == MD_NOT_APPLICABLE)
        return MD_NUM_NA;
    return MD_NUM((a.state == MD_KNOWN ? a.value : 0) +
                  (b.state == MD_KNOWN ? b.value : 0));
}

void usage_buckets_add(md_num *acc, const md_num *b)
{
    for (int i = 0; i < UB_N; i++)
        acc[i] = num_add(acc[i], b[i]);
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

void usage_store_free(usage_store *s)
{
    if (!s)
        return;
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
    qsort(c, n, sizeof *c, ucell_cmp);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        if (ucell_cmp(&c[out], &c[i]) == 0) {
            usage_buckets_add(c[out].b, c[i].b);
            c[out].events += c[i].events;
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
    ucell *add = xcalloc(n ? n : 1, sizeof *add);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].slot_start < from || cells[i].slot_start < since)
            continue;   /* past retention (or not the plugin's to give) */
        add[k].slot = cells[i].slot_start;
        add[k].model = uprov_model_index(p, cells[i].model);
        add[k].src = SRC_PLUGIN;
        memcpy(add[k].b, cells[i].b, sizeof add[k].b);
        add[k++].events = cells[i].events;
    }
    k = sort_merge(add, k);
    usage_journal(s, UOP_DEL_FROM, provider, since, 0);
    for (size_t i = 0; i < k; i++)
        usage_journal_cell(s, provider, &add[i],
                           uprov_model_name(p, add[i].model));
    usage_journal(s, UOP_GEN, provider, 0, generation);
    usage_journal(s, UOP_DEL_BEFORE, provider, from, 0);
    /* Only the tail from since on changes: keep its ingest cells, replace
     * its plugin cells, and re-sort just that tail. */
    size_t tail = lower_slot(p, since), kept = tail;
    for (size_t i = tail; i < p->n; i++)
        if (p->cells[i].src == SRC_INGEST)
            p->cells[kept++] = p->cells[i];
    p->n = kept;
    uprov_reserve(p, p->n + k);
    memcpy(p->cells + p->n, add, k * sizeof *add);
    p->n += k;
    qsort(p->cells + tail, p->n - tail, sizeof *p->cells, ucell_cmp);
    free(add);
    p->generation = generation;
    prune_prov(p, from);
    s->seq++;
}

int usage_store_add_event(usage_store *s, const char *provider, double at,
                          const char *model, const md_num b[UB_N],
                          double now, const char **err)
{
    static const char *const bad_at = "the event time is not a valid time";
    if (!isfinite(at) || at < 0 || at > USAGE_MAX_EPOCH)
        return *err = bad_at, -1;
    usage_cell_rec probe = {
        .slot_start = floor(at / USAGE_SLOT_SECONDS) * USAGE_SLOT_SECONDS,
        .model = (char *)model,
        .events = 1,
    };
    memcpy(probe.b, b, sizeof probe.b);
    const char *why = usage_cell_rec_problem(&probe);
    if (why)
        return *err = why, -1;
    if (probe.slot_start < keep_from(s, now))
        return 1;
    uprov *p = uprov_get(s, provider);
    ucell key = {
        .slot = probe.slot_start,
        .model = uprov_model_index(p, model),
        .src = SRC_INGEST,
        .events = 1,
    };
    memcpy(key.b, b, sizeof key.b);
    for (int i = 0; i < UB_N; i++)
        if (key.b[i].state != MD_KNOWN)
            key.b[i].value = 0;
    size_t lo = lower_slot(p, key.slot);
    while (lo < p->n && ucell_cmp(&p->cells[lo], &key) < 0)
        lo++;
    if (lo < p->n && ucell_cmp(&p->cells[lo], &key) == 0) {
        usage_buckets_add(p->cells[lo].b, key.b);
        p->cells[lo].events += 1;
    } else {
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
