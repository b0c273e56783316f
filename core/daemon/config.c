/*
 * config.c - config_load(): the order of the loading steps, finalising
 * the merged result into a config, and its lifetime.
 *
 * Files are applied one after another onto a `loader` (main file first,
 * then the drop-ins in order, then the alias file); only after everything
 * is merged are defaults filled in and cross-key rules (timeout <
 * interval, alias conflicts) checked, so a drop-in can fix what the main
 * file set.  config_int.h says which file does what.
 */
#include "config_int.h"

#include "alias.h"
#include "timeutil.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- */
/* the alias file                                                    */
/* ---------------------------------------------------------------- */

/* The alias file finalize gave (explicit: must exist; default: only when
 * it exists; "": none). */
static void load_aliases(loader *L)
{
    config *c = L->c;
    if (!c->aliases_path)
        return;
    const slot *s = &L->top[config_key_find(CS_TOP, "aliases")];
    yfile y;
    if (yfile_load(L, &y, c->aliases_path, s->set ? &s->at : NULL) == 0)
        apply_alias_file(L, &y);
    yfile_release(&y);
}

static void load_includes(loader *L)
{
    size_t n;
    char **files = dropin_files(L, &n);
    for (size_t i = 0; i < n; i++) {
        yfile y;
        if (yfile_load(L, &y, files[i], NULL) == 0)
            apply_root(L, &y, 0);
        yfile_release(&y);
        free(files[i]);
    }
    free(files);
}

/* ---------------------------------------------------------------- */
/* providers                                                         */
/* ---------------------------------------------------------------- */

static const slot *pslot(const pbuild *p, const char *key)
{
    return &p->slots[config_key_find(CS_PROVIDER, key)];
}

static const slot *tslot(const loader *L, const char *key)
{
    return &L->top[config_key_find(CS_TOP, key)];
}

/* plugin_dir/NAME.so, or the plugin value itself when it is a path. */
static char *plugin_path(loader *L, const pbuild *p, const char *plugin)
{
    if (!pslot(p, "plugin")->set)
        return xstrdup("");  /* reported as missing */
    if (strchr(plugin, '/'))
        return config_resolve(L->c, plugin);
    if (!config_name_ok(plugin) || plugin[0] == '.')
        DIAG(L, pslot(p, "plugin")->at, "plugin: '%s' is not a plugin name "
             "(letters, digits, '_', '.', '-') or a path containing '/'",
             plugin);
    return xasprintf("%s/%s.so", L->c->plugin_dir, plugin);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *secret_list(json_t *secret)
{
    size_t n = json_object_size(secret), i = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(secret, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_str);
    json_t *a = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(keys[i]));
    free(keys);
    return a;
}

/* The timeout < interval rule is checked on the merged values, and
 * reported where the operator most likely has to change something. */
static void check_timeout(loader *L, const pbuild *p, const provider_conf *pc)
{
    if (pc->timeout_ms < pc->interval_ms)
        return;
    const slot *pt = pslot(p, "timeout"), *pi = pslot(p, "interval");
    const slot *tt = tslot(L, "timeout"), *ti = tslot(L, "interval");
    where w = pt->set ? pt->at : pi->set ? pi->at : tt->set ? tt->at
            : ti->set ? ti->at : p->def;
    char t[32], i[32];
    duration_format(pc->timeout_ms, t, sizeof t);
    duration_format(pc->interval_ms, i, sizeof i);
    DIAG(L, w, "provider '%s': timeout %s must be shorter than interval %s",
         pc->name, t, i);
}

static void finalize_provider(loader *L, pbuild *p, provider_conf *pc)
{
    pc->name = xstrdup(p->name);
    pc->file = xstrdup(p->def.file);
    pc->line = p->def.line;
    pc->col = p->def.col;
    keys_finalize(L, CS_PROVIDER, p->slots, pc, p);
    pc->plugin_path = plugin_path(L, p, pc->plugin);
    pc->options = json_incref(p->options);
    pc->option_locs = json_incref(p->locs);
    pc->secret_options = secret_list(p->secret);
    pc->fingerprint = provider_fingerprint(pc);
    check_timeout(L, p, pc);
}

/* Release what finalize_provider() gave pc. */
static void provider_conf_release(provider_conf *pc)
{
    free(pc->name);
    keys_release(CS_PROVIDER, pc);
    json_decref(pc->options);
    json_decref(pc->option_locs);
    json_decref(pc->secret_options);
    json_decref(pc->env_names);
    free(pc->file);
    free(pc->fingerprint);
    memset(pc, 0, sizeof *pc);
}

/* Evaluate p's when_exists, if any, into a new detection of c.  Returns
 * 1 when the instance exists (no key, or a path exists), else 0.  stat()
 * follows symlinks: a dangling link is not a Claude Code install. */
static int detect(loader *L, const pbuild *p)
{
    const slot *s = pslot(p, "when_exists");
    if (!s->set)
        return 1;
    config *c = L->c;
    c->detections = xrealloc(c->detections,
                             (c->n_detections + 1) * sizeof *c->detections);
    config_detection *d = &c->detections[c->n_detections++];
    const slot *pl = pslot(p, "plugin");
    *d = (config_detection){
        .provider = xstrdup(p->name),
        .plugin = xstrdup(pl->set ? pl->s : ""),
        .paths = xcalloc(s->n_list ? s->n_list : 1, sizeof *d->paths),
        .n_paths = s->n_list,
    };
    for (size_t i = 0; i < s->n_list; i++) {
        struct stat st;
        d->paths[i] = xstrdup(s->list[i]);
        if (!d->found && stat(s->list[i], &st) == 0)
            d->found = xstrdup(s->list[i]);
    }
    return d->found != NULL;
}

static int cmp_detection(const void *a, const void *b)
{
    return strcmp(((const config_detection *)a)->provider,
                  ((const config_detection *)b)->provider);
}

static int cmp_provider(const void *a, const void *b)
{
    return strcmp(((const provider_conf *)a)->name,
                  ((const provider_conf *)b)->name);
}

static void finalize_providers(loader *L)
{
    config *c = L->c;
    c->providers = xcalloc(L->n_pb ? L->n_pb : 1, sizeof *c->providers);
    c->n_providers = 0;
    for (size_t i = 0; i < L->n_pb; i++) {
        provider_conf *pc = &c->providers[c->n_providers];
        /* a skipped instance is still checked, so that a config valid on
         * one machine is valid on every machine */
        finalize_provider(L, &L->pb[i], pc);
        if (detect(L, &L->pb[i]))
            c->n_providers++;
        else
            provider_conf_release(pc);
    }
    qsort(c->providers, c->n_providers, sizeof *c->providers, cmp_provider);
    if (c->n_detections)
        qsort(c->detections, c->n_detections, sizeof *c->detections,
              cmp_detection);
    /* skipped instances too: an alias conflict is a conflict on every
     * machine */
    const char **names = xcalloc(L->n_pb + 1, sizeof *names);
    for (size_t i = 0; i < L->n_pb; i++)
        names[i] = L->pb[i].name;
    qsort(names, L->n_pb, sizeof *names, cmp_str);
    alias_check(c->aliases, names, L->n_pb, L->d);
    free(names);
}

/* ---------------------------------------------------------------- */
/* loading                                                           */
/* ---------------------------------------------------------------- */

static void loader_release(loader *L)
{
    slot_array_free(L->top);
    for (size_t i = 0; i < L->n_inc; i++)
        free(L->inc[i]);
    free(L->inc);
    free(L->inc_at);
    for (size_t i = 0; i < L->n_pb; i++) {
        pbuild *p = &L->pb[i];
        free(p->name);
        slot_array_free(p->slots);
        json_decref(p->options);
        json_decref(p->locs);
        json_decref(p->secret);
    }
    free(L->pb);
    free(L->main_real);
}

/* The main file's directory, absolute when it exists, so that relative
 * paths keep working if the daemon changes directory. */
static char *dir_of(const char *path)
{
    char *copy = xstrdup(path);
    const char *d = dirname(copy); /* points into copy (or is static) */
    char *real = realpath(d, NULL);
    char *out = xstrdup(real ? real : d);
    free(real);
    free(copy);
    return out;
}

config *config_load(const char *path, const char *plugin_dir_default,
                    const char *state_dir_default, diag_list *diags)
{
    size_t start = diags->n;
    config *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    c->dir = dir_of(path);
    c->aliases = alias_new();
    forecast_conf_init(&c->forecast);
    loader L = {
        .c = c,
        .d = diags,
        .top = xcalloc(n_config_keys, sizeof *L.top),
        .main_real = realpath(path, NULL),
        .state_dir_default = state_dir_default,
        .plugin_dir_default = plugin_dir_default,
    };

    yfile y;
    int parsed = yfile_load(&L, &y, path, NULL) == 0;
    if (parsed)
        apply_root(&L, &y, 1);
    yfile_release(&y);
    if (parsed) {
        load_includes(&L);
        keys_finalize(&L, CS_TOP, L.top, c, NULL);
        load_aliases(&L);
        finalize_providers(&L);
    }
    loader_release(&L);
    if (diags->n > start) {
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_providers; i++)
        provider_conf_release(&c->providers[i]);
    free(c->providers);
    for (size_t i = 0; i < c->n_detections; i++) {
        config_detection *d = &c->detections[i];
        free(d->provider);
        free(d->plugin);
        free(d->found);
        for (size_t j = 0; j < d->n_paths; j++)
            free(d->paths[j]);
        free(d->paths);
    }
    free(c->detections);
    pricing_rows_free(c->pricing, c->n_pricing);
    free(c->pricing_at);
    packages_free(c->packages, c->n_packages);
    forecast_conf_release(&c->forecast);
    alias_free(c->aliases);
    for (size_t i = 0; i < c->n_secrets; i++)
        free(c->secrets[i]);
    free(c->secrets);
    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i]);
    free(c->files);
    free(c->path);
    free(c->dir);
    keys_release(CS_TOP, c);
    free(c);
}

const provider_conf *config_provider(const config *c, const char *name)
{
    if (!c || !name)
        return NULL;
    for (size_t i = 0; i < c->n_providers; i++)
        if (strcmp(c->providers[i].name, name) == 0)
            return &c->providers[i];
    return NULL;
}
