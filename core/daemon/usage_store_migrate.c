/* usage_store_migrate.c - the one-time import of STATE_DIR/usage.json
 * (the file that held the whole usage store before the history
 * database) into the database's usage rows; see usage_store_impl.h.
 * The file is checked as a whole before any row is written: a corrupt
 * one is moved aside and nothing of it is imported. */
#include "usage_store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "log.h"
#include "statefile.h"

#define USAGE_SCHEMA "meterd.usage.v1"
#define USAGE_FILE "usage.json"
#define USAGE_FILE_MIGRATED "usage.json.migrated"

static const char *cell_from_json(const json_t *a, const uprov *p, ucell *c)
{
    /* usage.json was written before the 1-hour cache-write bucket: 11
     * values, that bucket unknown; 12 are read as well. */
    size_t nb = json_is_array(a) ? json_array_size(a) - 4 : 0;
    if (!json_is_array(a) || (nb != UB_N && nb != UB_CACHE_WRITE_1H))
        return "a cell is not an array of 11 or 12 values";
    json_t *slot = json_array_get(a, 0), *model = json_array_get(a, 1);
    json_t *src = json_array_get(a, 2);
    md_num ev;
    memset(c, 0, sizeof *c);
    if (!json_is_number(slot) || !json_is_integer(src) ||
        json_integer_value(src) < 0 || json_integer_value(src) > 1 ||
        (!json_is_null(model) &&
         (!json_is_integer(model) || json_integer_value(model) < 0 ||
          (size_t)json_integer_value(model) >= p->n_models)) ||
        usage_num_from_json(json_array_get(a, 3 + nb), &ev) != 0 ||
        ev.state != MD_KNOWN)
        return "a cell has a value of the wrong type";
    c->slot = json_number_value(slot);
    c->model = json_is_null(model) ? NO_MODEL
                                   : (uint32_t)json_integer_value(model);
    c->src = (uint8_t)json_integer_value(src);
    c->events = ev.value;
    for (size_t k = 0; k < nb; k++)
        if (usage_num_from_json(json_array_get(a, 3 + k), &c->b[k]))
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

/* usage.json, when present, becomes the database's usage rows (the file
 * held the whole store), then usage.json.migrated.  0 when there was
 * nothing to migrate or it was migrated, -1 with *err when the file is
 * corrupt (moved aside) or the rows cannot be written. */
int usage_store_migrate_json(usage_store *s, double now, int *migrated,
                             char **err)
{
    json_t *doc = NULL;
    *migrated = 0;
    int rc = statefile_read(s->state_dir, USAGE_FILE, &doc, err);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    usage_store *tmp = usage_store_new(s->state_dir, s->retention_ms);
    char *why = doc_from_json(tmp, doc);
    json_decref(doc);
    if (why) {
        char *moved = statefile_move_aside(s->state_dir, USAGE_FILE, why);
        rc = err_set(err, "%s", moved);
        free(moved);
        free(why);
        usage_store_free(tmp);
        return rc;
    }
    usage_store_prune(tmp, now);
    rc = usage_store_write_full(tmp, s->db, err);
    usage_store_free(tmp);
    if (rc != 0)
        return -1;
    char *from = xasprintf("%s/%s", s->state_dir, USAGE_FILE);
    char *to = xasprintf("%s/%s", s->state_dir, USAGE_FILE_MIGRATED);
    if (rename(from, to) != 0)
        rc = err_set(err, "migrated %s into %s but cannot rename it: %s",
                     from, HISTORY_DB_FILE, strerror(errno));
    free(from);
    free(to);
    *migrated = rc == 0;
    return rc;
}
