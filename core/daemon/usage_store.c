/* usage_store.c - per-turn usage history in 15-minute cells, its file and
 * the daily report (semantics, file format and threading: usage_store.h).
 *
 * Each provider keeps one array of cells sorted by (slot, source, model
 * index) and a table of model names the cells refer to by index, so a
 * copy for saving is a memcpy and a cell is a fixed-size record. */
#include "usage_store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "statefile.h"
#include "timeutil.h"
#include "tz.h"

#define SLOT 900.0
#define USAGE_SCHEMA "meterd.usage.v1"
#define USAGE_FILE "usage.json"
#define NO_MODEL UINT32_MAX
#define MAX_EPOCH 253402300799.0

enum { SRC_PLUGIN = 0, SRC_INGEST = 1 };

typedef struct ucell {
    double slot;
    uint32_t model;      /* index into uprov.models, NO_MODEL: unknown */
    uint8_t src;         /* SRC_PLUGIN / SRC_INGEST */
    md_num b[UB_N];
    double events;
} ucell;

typedef struct uprov {
    char *name;
    unsigned long long generation;
    char **models;       /* owned; never shrinks while in memory */
    size_t n_models;
    ucell *cells;        /* sorted by cell_cmp */
    size_t n, cap;
} uprov;

struct usage_store {
    char *state_dir;
    long long retention_ms;
    uprov *p;            /* sorted by name */
    size_t n_p;
    unsigned long seq, imaged_seq;  /* changes made / copied for saving */
    pthread_mutex_t io;             /* serialises writers */
    unsigned long written_seq;      /* guarded by io */
};

struct usage_image {
    usage_store *owner;
    unsigned long seq;
    char *state_dir;
    uprov *p;            /* deep copies */
    size_t n_p;
};

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

static void buckets_add(md_num *acc, const md_num *b)
{
    for (int i = 0; i < UB_N; i++)
        acc[i] = num_add(acc[i], b[i]);
}

static int cell_cmp(const void *pa, const void *pb)
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

static uprov *find_prov(const usage_store *s, const char *name, size_t *pos)
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

static uprov *get_prov(usage_store *s, const char *name)
{
    size_t pos = 0;
    uprov *p = find_prov(s, name, &pos);
    if (p)
        return p;
    s->p = xrealloc(s->p, (s->n_p + 1) * sizeof *s->p);
    memmove(&s->p[pos + 1], &s->p[pos], (s->n_p - pos) * sizeof *s->p);
    s->n_p++;
    memset(&s->p[pos], 0, sizeof s->p[pos]);
    s->p[pos].name = xstrdup(name);
    return &s->p[pos];
}

static uint32_t model_index(uprov *p, const char *model)
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

static const char *model_name(const uprov *p, uint32_t idx)
{
    return idx == NO_MODEL ? NULL : p->models[idx];
}

static void reserve(uprov *p, size_t n)
{
    if (n <= p->cap)
        return;
    size_t cap = p->cap ? p->cap : 64;
    while (cap < n)
        cap *= 2;
    p->cells = xrealloc(p->cells, cap * sizeof *p->cells);
    p->cap = cap;
}

static void prov_free(uprov *p)
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
    usage_store *s = xcalloc(1, sizeof *s);
    s->state_dir = xstrdup(state_dir);
    s->retention_ms = retention_ms > 0 ? retention_ms
                                       : USAGE_RETENTION_DEFAULT_MS;
    pthread_mutex_init(&s->io, NULL);
    return s;
}

void usage_store_free(usage_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_p; i++)
        prov_free(&s->p[i]);
    free(s->p);
    free(s->state_dir);
    pthread_mutex_destroy(&s->io);
    free(s);
}

void usage_store_set_retention(usage_store *s, long long retention_ms)
{
    if (retention_ms > 0)
        s->retention_ms = retention_ms;
}

unsigned long long usage_store_generation(const usage_store *s,
                                          const char *provider)
{
    const uprov *p = find_prov(s, provider, NULL);
    return p ? p->generation : 0;
}

int usage_store_has_provider(const usage_store *s, const char *provider)
{
    return find_prov(s, provider, NULL) != NULL;
}

int usage_store_has_plugin_cells(const usage_store *s, const char *provider)
{
    const uprov *p = find_prov(s, provider, NULL);
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
    return floor((now - (double)s->retention_ms / 1000.0) / SLOT) * SLOT;
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

static void prune(usage_store *s, double now)
{
    double from = keep_from(s, now);
    for (size_t i = 0; i < s->n_p; i++)
        if (prune_prov(&s->p[i], from))
            s->seq++;
}

/* ---------------------------------------------------------------- */
/* put (plugins) and add_event (ingest)                              */
/* ---------------------------------------------------------------- */

/* Sort and sum duplicates in place; returns the new count. */
static size_t sort_merge(ucell *c, size_t n)
{
    if (n == 0)
        return 0;
    qsort(c, n, sizeof *c, cell_cmp);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        if (cell_cmp(&c[out], &c[i]) == 0) {
            buckets_add(c[out].b, c[i].b);
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
    uprov *p = get_prov(s, provider);
    double from = keep_from(s, now);
    ucell *add = xcalloc(n ? n : 1, sizeof *add);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].slot_start < from || cells[i].slot_start < since)
            continue;   /* past retention (or not the plugin's to give) */
        add[k].slot = cells[i].slot_start;
        add[k].model = model_index(p, cells[i].model);
        add[k].src = SRC_PLUGIN;
        memcpy(add[k].b, cells[i].b, sizeof add[k].b);
        add[k++].events = cells[i].events;
    }
    k = sort_merge(add, k);
    /* Only the tail from since on changes: keep its ingest cells, replace
     * its plugin cells, and re-sort just that tail. */
    size_t tail = lower_slot(p, since), kept = tail;
    for (size_t i = tail; i < p->n; i++)
        if (p->cells[i].src == SRC_INGEST)
            p->cells[kept++] = p->cells[i];
    p->n = kept;
    reserve(p, p->n + k);
    memcpy(p->cells + p->n, add, k * sizeof *add);
    p->n += k;
    qsort(p->cells + tail, p->n - tail, sizeof *p->cells, cell_cmp);
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
    if (!isfinite(at) || at < 0 || at > MAX_EPOCH)
        return *err = bad_at, -1;
    usage_cell_rec probe = {floor(at / SLOT) * SLOT, (char *)model, {{0}}, 1};
    memcpy(probe.b, b, sizeof probe.b);
    const char *why = usage_cell_rec_problem(&probe);
    if (why)
        return *err = why, -1;
    if (probe.slot_start < keep_from(s, now))
        return 1;
    uprov *p = get_prov(s, provider);
    ucell key = {probe.slot_start, model_index(p, model), SRC_INGEST, {{0}}, 1};
    memcpy(key.b, b, sizeof key.b);
    for (int i = 0; i < UB_N; i++)
        if (key.b[i].state != MD_KNOWN)
            key.b[i].value = 0;
    size_t lo = lower_slot(p, key.slot);
    while (lo < p->n && cell_cmp(&p->cells[lo], &key) < 0)
        lo++;
    if (lo < p->n && cell_cmp(&p->cells[lo], &key) == 0) {
        buckets_add(p->cells[lo].b, key.b);
        p->cells[lo].events += 1;
    } else {
        reserve(p, p->n + 1);
        memmove(&p->cells[lo + 1], &p->cells[lo],
                (p->n - lo) * sizeof *p->cells);
        p->cells[lo] = key;
        p->n++;
    }
    s->seq++;
    return 0;
}

/* ---------------------------------------------------------------- */
/* saving                                                            */
/* ---------------------------------------------------------------- */

static void prov_copy(uprov *dst, const uprov *src)
{
    memset(dst, 0, sizeof *dst);
    dst->name = xstrdup(src->name);
    dst->generation = src->generation;
    dst->n_models = src->n_models;
    dst->models = xcalloc(src->n_models ? src->n_models : 1,
                          sizeof *dst->models);
    for (size_t i = 0; i < src->n_models; i++)
        dst->models[i] = xstrdup(src->models[i]);
    dst->n = dst->cap = src->n;
    dst->cells = xmalloc((src->n ? src->n : 1) * sizeof *dst->cells);
    memcpy(dst->cells, src->cells, src->n * sizeof *dst->cells);
}

usage_image *usage_store_image(usage_store *s, double now)
{
    prune(s, now);
    if (s->seq == s->imaged_seq)
        return NULL;
    usage_image *img = xcalloc(1, sizeof *img);
    img->owner = s;
    img->seq = s->imaged_seq = s->seq;
    img->state_dir = xstrdup(s->state_dir);
    img->p = xcalloc(s->n_p ? s->n_p : 1, sizeof *img->p);
    for (size_t i = 0; i < s->n_p; i++)
        if (s->p[i].n || s->p[i].generation)
            prov_copy(&img->p[img->n_p++], &s->p[i]);
    return img;
}

static void image_free(usage_image *img)
{
    for (size_t i = 0; i < img->n_p; i++)
        prov_free(&img->p[i]);
    free(img->p);
    free(img->state_dir);
    free(img);
}

static json_t *gen_json(unsigned long long g)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", g);
    return json_string(buf);
}

static json_t *prov_to_json(const uprov *p)
{
    json_t *models = json_array(), *cells = json_array();
    for (size_t i = 0; i < p->n_models; i++)
        json_array_append_new(models, json_string(p->models[i]));
    for (size_t i = 0; i < p->n; i++) {
        const ucell *c = &p->cells[i];
        json_t *a = json_array();
        json_array_append_new(a, json_integer((json_int_t)c->slot));
        json_array_append_new(a, c->model == NO_MODEL
                                     ? json_null()
                                     : json_integer(c->model));
        json_array_append_new(a, json_integer(c->src));
        for (int k = 0; k < UB_N; k++)
            json_array_append_new(a, usage_num_to_json(c->b[k]));
        json_array_append_new(a, usage_num_to_json(MD_NUM(c->events)));
        json_array_append_new(cells, a);
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "name", p->name, "generation",
                     gen_json(p->generation), "models", models, "cells",
                     cells);
}

static char *image_text(const usage_image *img)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < img->n_p; i++)
        json_array_append_new(arr, prov_to_json(&img->p[i]));
    char saved[48];
    rfc3339_format(time_now(), saved, sizeof saved);
    json_t *doc = json_pack("{s:s, s:s, s:o}", "schema", USAGE_SCHEMA,
                            "saved_at", saved, "providers", arr);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(doc);
    return text;
}

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

int usage_store_write(usage_image *img, char **err)
{
    if (!img)
        return 0;
    usage_store *s = img->owner;
    int rc = 0;
    pthread_mutex_lock(&s->io);
    /* Two writers raced: the one holding the newer image has already
     * written (or will); never replace newer data by older. */
    if (img->seq > s->written_seq) {
        char *text = image_text(img);
        rc = text ? statefile_write(img->state_dir, USAGE_FILE, text, err)
                  : fail(err, xstrdup("cannot encode the usage store"));
        free(text);
        if (rc == 0)
            s->written_seq = img->seq;
    }
    pthread_mutex_unlock(&s->io);
    image_free(img);
    return rc;
}

int usage_store_save(usage_store *s, double now, char **err)
{
    return usage_store_write(usage_store_image(s, now), err);
}

/* ---------------------------------------------------------------- */
/* loading                                                           */
/* ---------------------------------------------------------------- */

static const char *cell_from_json(const json_t *a, const uprov *p, ucell *c)
{
    if (!json_is_array(a) || json_array_size(a) != 4 + UB_N)
        return "a cell is not an array of 11 values";
    json_t *slot = json_array_get(a, 0), *model = json_array_get(a, 1);
    json_t *src = json_array_get(a, 2);
    md_num ev;
    memset(c, 0, sizeof *c);
    if (!json_is_number(slot) || !json_is_integer(src) ||
        json_integer_value(src) < 0 || json_integer_value(src) > 1 ||
        (!json_is_null(model) &&
         (!json_is_integer(model) || json_integer_value(model) < 0 ||
          (size_t)json_integer_value(model) >= p->n_models)) ||
        usage_num_from_json(json_array_get(a, 3 + UB_N), &ev) != 0 ||
        ev.state != MD_KNOWN)
        return "a cell has a value of the wrong type";
    c->slot = json_number_value(slot);
    c->model = json_is_null(model) ? NO_MODEL
                                   : (uint32_t)json_integer_value(model);
    c->src = (uint8_t)json_integer_value(src);
    c->events = ev.value;
    for (int k = 0; k < UB_N; k++)
        if (usage_num_from_json(json_array_get(a, 3 + (size_t)k), &c->b[k]))
            return "a cell bucket is not a number, null or \"na\"";
    usage_cell_rec r = {c->slot, NULL, {{0}}, c->events};
    memcpy(r.b, c->b, sizeof r.b);
    return usage_cell_rec_problem(&r);
}

static char *prov_from_json(const json_t *j, uprov *p)
{
    json_t *name = json_object_get(j, "name"), *models = json_object_get(j, "models");
    json_t *cells = json_object_get(j, "cells");
    if (!json_is_string(name) || !json_is_array(models) || !json_is_array(cells) ||
        usage_generation_from_json(json_object_get(j, "generation"),
                                   &p->generation) != 0)
        return xstrdup("provider without name, generation, models or cells");
    p->name = xstrdup(json_string_value(name));
    size_t i;
    json_t *v;
    json_array_foreach(models, i, v) {
        if (!json_is_string(v))
            return xasprintf("%s: a model is not a string", p->name);
        p->models = xrealloc(p->models, (p->n_models + 1) * sizeof *p->models);
        p->models[p->n_models++] = xstrdup(json_string_value(v));
    }
    reserve(p, json_array_size(cells));
    json_array_foreach(cells, i, v) {
        const char *why = cell_from_json(v, p, &p->cells[p->n]);
        if (why)
            return xasprintf("%s: cells[%zu]: %s", p->name, i, why);
        if (p->n && cell_cmp(&p->cells[p->n - 1], &p->cells[p->n]) >= 0)
            return xasprintf("%s: cells[%zu]: out of order", p->name, i);
        p->n++;
    }
    return NULL;
}

static char *doc_from_json(usage_store *s, const json_t *doc)
{
    json_t *schema = json_object_get(doc, "schema");
    json_t *provs = json_object_get(doc, "providers");
    if (!json_is_string(schema) ||
        strcmp(json_string_value(schema), USAGE_SCHEMA) != 0)
        return xstrdup("not a " USAGE_SCHEMA " document");
    if (!json_is_array(provs))
        return xstrdup("\"providers\" is not an array");
    size_t i;
    json_t *v;
    json_array_foreach(provs, i, v) {
        uprov p;
        memset(&p, 0, sizeof p);
        char *why = prov_from_json(v, &p);
        if (!why && find_prov(s, p.name, NULL))
            why = xasprintf("%s: listed twice", p.name);
        if (why) {
            prov_free(&p);
            return why;
        }
        uprov *dst = get_prov(s, p.name);
        free(dst->name);
        *dst = p;
    }
    return NULL;
}

static void clear(usage_store *s)
{
    for (size_t i = 0; i < s->n_p; i++)
        prov_free(&s->p[i]);
    free(s->p);
    s->p = NULL;
    s->n_p = 0;
}

int usage_store_load(usage_store *s, double now, char **err)
{
    json_t *doc;
    int rc = statefile_read(s->state_dir, USAGE_FILE, &doc, err);
    if (rc == 0) {
        char *why = doc_from_json(s, doc);
        if (why) {
            clear(s);
            rc = fail(err, statefile_move_aside(s->state_dir, USAGE_FILE, why));
            free(why);
        }
    }
    json_decref(doc);
    if (rc < 0)
        clear(s);
    prune(s, now);
    /* What was loaded is on disk already. */
    s->imaged_seq = s->seq;
    return rc;
}

/* ---------------------------------------------------------------- */
/* daily report                                                      */
/* ---------------------------------------------------------------- */

int usage_parse_date(const char *text, long *days)
{
    unsigned y, m, d;
    int n = 0;
    if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-' ||
        sscanf(text, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10)
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    long back_y;
    unsigned back_m, back_d;
    *days = tz_days_from_civil((long)y, m, d);
    tz_civil_from_days(*days, &back_y, &back_m, &back_d);
    return back_m == m && back_d == d ? 0 : -1;   /* rejects 02-30 */
}

/* One cell of the report, with its local day. */
typedef struct rentry {
    long day;
    const char *model;      /* borrowed from the store */
    const char *provider;   /* borrowed */
    const ucell *c;
} rentry;

static int model_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return !a - !b;     /* the unknown model sorts last */
    return strcmp(a, b);
}

static int rentry_cmp(const void *pa, const void *pb)
{
    const rentry *a = pa, *b = pb;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    int c = model_cmp(a->model, b->model);
    return c ? c : strcmp(a->provider, b->provider);
}

typedef struct acc {
    md_num b[UB_N];
    double events;
    int any;
} acc;

static void acc_add(acc *a, const ucell *c)
{
    if (!a->any)
        memcpy(a->b, c->b, sizeof a->b);
    else
        buckets_add(a->b, c->b);
    a->events += c->events;
    a->any = 1;
}

static json_t *acc_json(const char *key, const char *name, const acc *a)
{
    json_t *o = json_object();
    if (key)
        json_object_set_new(o, key, name ? json_string(name) : json_null());
    for (int k = 0; k < UB_N; k++)
        json_object_set_new(o, usage_bucket_names[k],
                            usage_num_to_report(a->b[k]));
    json_object_set_new(o, "events", usage_num_to_report(MD_NUM(a->events)));
    return o;
}

static size_t collect(const usage_store *s, const char *provider,
                      const tz_zone *z, long from, long to, rentry **out)
{
    size_t n = 0, cap = 0;
    rentry *e = NULL;
    for (size_t i = 0; i < s->n_p; i++) {
        const uprov *p = &s->p[i];
        if (provider && strcmp(p->name, provider) != 0)
            continue;
        for (size_t k = 0; k < p->n; k++) {
            const ucell *c = &p->cells[k];
            long day = (long)floor((c->slot + (double)tz_offset(z, c->slot)) /
                                   86400.0);
            if (day < from || day > to)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                e = xrealloc(e, cap * sizeof *e);
            }
            e[n++] = (rentry){day, model_name(p, c->model), p->name, c};
        }
    }
    *out = e;
    return n;
}

/* The providers of one day, in name order (few: a linear scan). */
static json_t *day_providers(const rentry *e, size_t n)
{
    const char **names = xcalloc(n, sizeof *names);
    acc *accs = xcalloc(n, sizeof *accs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && strcmp(names[j], e[i].provider) != 0)
            j++;
        if (j == k)
            names[k++] = e[i].provider;
        acc_add(&accs[j], e[i].c);
    }
    json_t *arr = json_array();
    for (size_t pass = 0; pass < k; pass++) {
        size_t best = k;
        for (size_t j = 0; j < k; j++)
            if (names[j] && (best == k || strcmp(names[j], names[best]) < 0))
                best = j;
        json_array_append_new(arr, acc_json("provider", names[best],
                                            &accs[best]));
        names[best] = NULL;
    }
    free(names);
    free(accs);
    return arr;
}

static json_t *day_json(const rentry *e, size_t n, int with_providers)
{
    char date[16];
    long y;
    unsigned m, d;
    tz_civil_from_days(e[0].day, &y, &m, &d);
    snprintf(date, sizeof date, "%04ld-%02u-%02u", y, m, d);
    acc day = {0};
    json_t *models = json_array();
    for (size_t i = 0; i < n;) {
        acc ma = {0};
        size_t j = i;
        for (; j < n && model_cmp(e[j].model, e[i].model) == 0; j++) {
            acc_add(&ma, e[j].c);
            acc_add(&day, e[j].c);
        }
        json_array_append_new(models, acc_json("model", e[i].model, &ma));
        i = j;
    }
    json_t *o = acc_json("date", date, &day);
    json_object_set_new(o, "models", models);
    if (with_providers)
        json_object_set_new(o, "providers", day_providers(e, n));
    return o;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int usage_store_daily(const usage_store *s, const char *provider,
                      const char *since, const char *until, const char *tz,
                      json_t **out, char **err)
{
    *out = NULL;
    tz_zone *z = tz_load(tz ? tz : "UTC", err);
    if (!z)
        return -1;
    int rc = usage_store_daily_zone(s, provider, since, until, z,
                                    tz ? tz : "UTC", out, err);
    tz_free(z);
    return rc;
}

int usage_store_daily_zone(const usage_store *s, const char *provider,
                           const char *since, const char *until,
                           const tz_zone *z, const char *tz, json_t **out,
                           char **err)
{
    long from = 0, to = tz_days_from_civil(9999, 12, 31);
    *out = NULL;
    if (since && usage_parse_date(since, &from) != 0)
        return fail(err, xasprintf("since: '%.32s' is not a date "
                                   "(YYYY-MM-DD)", since));
    if (until && usage_parse_date(until, &to) != 0)
        return fail(err, xasprintf("until: '%.32s' is not a date "
                                   "(YYYY-MM-DD)", until));
    if (from > to)
        return fail(err, xstrdup("since is after until"));
    rentry *e = NULL;
    size_t n = collect(s, provider, z, from, to, &e);
    qsort(e, n, sizeof *e, rentry_cmp);
    json_t *days = json_array();
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && e[j].day == e[i].day)
            j++;
        json_array_append_new(days, day_json(e + i, j - i, provider == NULL));
        i = j;
    }
    free(e);
    *out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "provider",
                     str_or_null(provider), "tz", str_or_null(tz), "since",
                     str_or_null(since), "until", str_or_null(until), "days",
                     days);
    return 0;
}
