/* usage_store_file.c - the usage store on disk: images taken under the
 * caller's lock, written outside it, and loading STATE_DIR/usage.json
 * (file format and threading: usage_store.h). */
#include "usage_store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "statefile.h"
#include "timeutil.h"

#define USAGE_SCHEMA "meterd.usage.v1"
#define USAGE_FILE "usage.json"

struct usage_image {
    usage_store *owner;
    unsigned long seq;
    char *state_dir;
    uprov *p;            /* deep copies */
    size_t n_p;
};

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
    usage_store_prune(s, now);
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
        uprov_release(&img->p[i]);
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
                  : err_set(err, "cannot encode the usage store");
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
    usage_cell_rec r = {.slot_start = c->slot, .events = c->events};
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
    uprov_reserve(p, json_array_size(cells));
    json_array_foreach(cells, i, v) {
        const char *why = cell_from_json(v, p, &p->cells[p->n]);
        if (why)
            return xasprintf("%s: cells[%zu]: %s", p->name, i, why);
        if (p->n && ucell_cmp(&p->cells[p->n - 1], &p->cells[p->n]) >= 0)
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
        if (!why && uprov_find(s, p.name, NULL))
            why = xasprintf("%s: listed twice", p.name);
        if (why) {
            uprov_release(&p);
            return why;
        }
        uprov *dst = uprov_get(s, p.name);
        free(dst->name);
        *dst = p;
    }
    return NULL;
}

static void drop_providers(usage_store *s)
{
    for (size_t i = 0; i < s->n_p; i++)
        uprov_release(&s->p[i]);
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
            drop_providers(s);
            char *moved = statefile_move_aside(s->state_dir, USAGE_FILE, why);
            rc = err_set(err, "%s", moved);
            free(moved);
            free(why);
        }
    }
    json_decref(doc);
    if (rc < 0)
        drop_providers(s);
    usage_store_prune(s, now);
    /* What was loaded is on disk already. */
    s->imaged_seq = s->seq;
    return rc;
}
