/*
 * plugin_check.c - see plugin_check.h.
 */
#include "plugin_check.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostctx.h"
#include "log.h"
#include "parse.h"
#include "securepath.h"
#include "probe.h"
#include "suggest.h"
#include "timeutil.h"
#include "unconst.h"

/* ------------------------------------------------------------------ */
/* Option validation                                                   */
/* ------------------------------------------------------------------ */

/* Where a problem with option `name` of pc is reported. */
typedef struct where {
    const char *file;
    int line, col;
} where;

static where option_where(const provider_conf *pc, const char *name)
{
    where w = {pc->file, pc->line, pc->col};
    json_t *loc = name ? json_object_get(pc->option_locs, name) : NULL;
    if (json_is_array(loc) && json_array_size(loc) == 3 &&
        json_is_string(json_array_get(loc, 0))) {
        w.file = json_string_value(json_array_get(loc, 0));
        w.line = (int)json_integer_value(json_array_get(loc, 1));
        w.col = (int)json_integer_value(json_array_get(loc, 2));
    }
    return w;
}

/* Per-provider validation state. */
typedef struct vctx {
    config *c;
    provider_conf *pc;
    const md_plugin *desc;
    diag_list *diags;
    size_t problems;
} vctx;

static void problem(vctx *v, const char *option, const char *fmt,
                    const char *a, const char *b)
{
    where w = option_where(v->pc, option);
    char *msg = xasprintf(fmt, a, b);
    diag_add(v->diags, w.file, w.line, w.col, "provider '%s': %s",
             v->pc->name, msg);
    free(msg);
    v->problems++;
}

static const md_option *table_find(const md_plugin *d, const char *name)
{
    for (const md_option *o = d->options; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static void unknown_option(vctx *v, const char *key)
{
    const md_option *best = NULL;
    size_t best_d = 3;
    size_t len = 1;
    for (const md_option *o = v->desc->options; o && o->name; o++) {
        size_t d = edit_distance(key, o->name);
        if (d < best_d)
            best = o, best_d = d;
        len += strlen(o->name) + 2;
    }
    char *valid = xcalloc(1, len);
    for (const md_option *o = v->desc->options; o && o->name; o++) {
        if (*valid)
            strcat(valid, ", ");
        strcat(valid, o->name);
    }
    char *hint = best ? xasprintf(" (did you mean '%s'?)", best->name)
                      : xstrdup("");
    char *what = xasprintf("unknown option '%s'%s", key, hint);
    const char *plugin = v->desc->name ? v->desc->name : v->pc->plugin;
    if (*valid) {
        char *tail = xasprintf("; plugin '%s' accepts: %s", plugin, valid);
        problem(v, key, "%s%s", what, tail);
        free(tail);
    } else {
        problem(v, key, "%s; plugin '%s' takes no options", what, plugin);
    }
    free(what);
    free(hint);
    free(valid);
}

static int is_secret_option(const provider_conf *pc, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(pc->secret_options, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return 1;
    return 0;
}

static const char *type_word(md_opt_type t)
{
    switch (t) {
    case MD_OPT_INT: return "an integer";
    case MD_OPT_NUMBER: return "a number";
    case MD_OPT_BOOL: return "a boolean (true/false/yes/no/on/off/1/0)";
    case MD_OPT_DURATION: return "a duration such as 250ms, 5s, 2m, 1h";
    case MD_OPT_LIST: return "a list of strings";
    case MD_OPT_MAP: return "a mapping of strings";
    default: return "a string";
    }
}

/* 0 when text is a valid scalar of type t. */
static int scalar_ok(md_opt_type t, const char *text)
{
    long long ll;
    double d;
    int b;
    switch (t) {
    case MD_OPT_INT: return parse_int(text, &ll);
    case MD_OPT_NUMBER: return parse_number(text, &d);
    case MD_OPT_BOOL: return parse_bool(text, &b);
    case MD_OPT_DURATION: return duration_parse(text, &ll);
    default: return 0;
    }
}

static int strings_only(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) if (!json_is_string(e)) return 0;
        return 1;
    }
    json_object_foreach(json_unconst(v), k, e) if (!json_is_string(e)) return 0;
    return 1;
}

/* Type check of one present option; returns 0 when fine. */
static int check_type(vctx *v, const md_option *o, const json_t *val)
{
    const char *want = type_word(o->type);
    if (json_is_null(val)) {
        problem(v, o->name, "option '%s' has no value; it must be %s",
                o->name, want);
        return -1;
    }
    if (o->type == MD_OPT_LIST || o->type == MD_OPT_MAP) {
        int shape = o->type == MD_OPT_LIST ? json_is_array(val)
                                           : json_is_object(val);
        if (shape && strings_only(val))
            return 0;
        problem(v, o->name, "option '%s' must be %s", o->name, want);
        return -1;
    }
    if (!json_is_string(val)) {
        problem(v, o->name, "option '%s' must be %s, not a list or mapping",
                o->name, want);
        return -1;
    }
    if (scalar_ok(o->type, json_string_value(val)) == 0)
        return 0;
    if (is_secret_option(v->pc, o->name))   /* never echo a secret */
        problem(v, o->name, "option '%s' must be %s", o->name, want);
    else {
        char *got = xasprintf("%s, got '%s'", want, json_string_value(val));
        problem(v, o->name, "option '%s' must be %s", o->name, got);
        free(got);
    }
    return -1;
}

static void add_config_secret(config *c, const char *value)
{
    if (!value || !*value)
        return;
    for (size_t i = 0; i < c->n_secrets; i++)
        if (strcmp(c->secrets[i], value) == 0)
            return;
    c->secrets = xrealloc(c->secrets, (c->n_secrets + 1) * sizeof(char *));
    c->secrets[c->n_secrets++] = xstrdup(value);
}

static void mark_secret(vctx *v, const md_option *o, const json_t *val)
{
    if (!is_secret_option(v->pc, o->name)) {
        if (!json_is_array(v->pc->secret_options)) {
            json_decref(v->pc->secret_options);
            v->pc->secret_options = json_array();
        }
        json_array_append_new(v->pc->secret_options, json_string(o->name));
    }
    add_config_secret(v->c, json_string_value(val));
}

/* Unknown keys, types and secrets of the given options; returns the
 * number of problems found. */
/* NAME_file given for a secret option NAME: read the file into NAME.
 * Returns 0 when key was such a file key (handled, maybe with a problem),
 * -1 when it is not (an unknown option). */
static int resolve_secret_file(vctx *v, const char *key, json_t *val,
                               json_t *resolved)
{
    size_t kl = strlen(key);
    if (kl <= 5 || strcmp(key + kl - 5, "_file") != 0)
        return -1;
    char *base = xstrdup(key);
    base[kl - 5] = '\0';
    const md_option *o = table_find(v->desc, base);
    if (!o || o->type != MD_OPT_SECRET) {
        free(base);
        return -1;
    }
    char *err = NULL, *content = NULL;
    if (json_object_get(v->pc->options, base))
        problem(v, key, "option '%s' is set twice (also as '%s')", base, key);
    else if (!json_is_string(val))
        problem(v, key, "%s must be a file name%s", key, "");
    else if (!(content = config_read_secret_file(v->c, json_string_value(val), &err)))
        problem(v, key, "%s: %s", key, err);
    else
        json_object_set_new(resolved, base, json_string(content));
    free(content);
    free(err);
    free(base);
    return 0;
}

/* Move resolved NAME_file contents into the options as secret NAME. */
static void apply_secret_files(vctx *v, json_t *resolved)
{
    const char *base;
    json_t *val;
    json_object_foreach(resolved, base, val) {
        char *file_key = xasprintf("%s_file", base);
        json_t *loc = json_object_get(v->pc->option_locs, file_key);
        if (loc)
            json_object_set(v->pc->option_locs, base, loc);
        json_object_del(v->pc->options, file_key);
        json_object_set(v->pc->options, base, val);
        mark_secret(v, table_find(v->desc, base), val);
        free(file_key);
    }
}

/* The exec plugin's command is the argv of a process: a ${VAR} there
 * (a secret option, config.h) is on every process list (ps,
 * /proc/PID/cmdline) while the command runs.  Secrets go in env:. */
static void check_exec_command(vctx *v)
{
    if (!v->desc->name || strcmp(v->desc->name, "exec") != 0 ||
        !is_secret_option(v->pc, "command"))
        return;
    problem(v, "command", "%s%s", "command: a ${VAR} in the command puts its "
            "value on every process list (ps, /proc/PID/cmdline); pass it "
            "with env: (env: {NAME: ${VAR}}) and read $NAME in the command",
            "");
}

static size_t check_given(vctx *v)
{
    size_t before = v->problems;
    const char *key;
    json_t *val, *resolved = json_object();
    json_object_foreach(v->pc->options, key, val) {
        const md_option *o = table_find(v->desc, key);
        if (!o) {
            if (resolve_secret_file(v, key, val, resolved) != 0)
                unknown_option(v, key);
            continue;
        }
        if (check_type(v, o, val) == 0 && o->type == MD_OPT_SECRET)
            mark_secret(v, o, val);
    }
    apply_secret_files(v, resolved);
    json_decref(resolved);
    check_exec_command(v);
    for (const md_option *o = v->desc->options; o && o->name; o++)
        if (o->required && !o->default_value &&
            !json_object_get(v->pc->options, o->name))
            problem(v, NULL, "missing required option '%s' (plugin '%s')",
                    o->name, v->desc->name ? v->desc->name : v->pc->plugin);
    return v->problems - before;
}

/* ABI 1.1 interval rules: the plugin's default applies when the operator
 * set no interval for this provider; a configured interval below the
 * plugin's minimum is refused (such sources rate-limit their own polling). */
static void check_interval(vctx *v)
{
    const md_plugin *d = v->desc;
    if (d->struct_size < offsetof(md_plugin, min_interval_ms) + sizeof d->min_interval_ms)
        return;
    provider_conf *pc = v->pc;
    pc->min_interval_ms = d->min_interval_ms > 0 ? d->min_interval_ms : 0;
    if (!pc->interval_set && d->default_interval_ms > pc->interval_ms)
        pc->interval_ms = d->default_interval_ms;
    if (d->min_interval_ms > 0 && pc->interval_ms < d->min_interval_ms) {
        char have[32], need[32];
        duration_format(pc->interval_ms, have, sizeof have);
        duration_format(d->min_interval_ms, need, sizeof need);
        char *msg = xasprintf("interval %s is below the minimum of %s for "
                              "plugin '%s' (the provider rate-limits polling)",
                              have, need, d->name ? d->name : pc->plugin);
        problem(v, "interval", "%s%s", msg, "");
        free(msg);
    }
}

/* The plugin's own semantic check, with readable options: in a probe
 * process, like everything that runs plugin code. */
static void run_check(vctx *v)
{
    probe_request rq = {
        .plugin_path = v->pc->plugin_path,
        .instance = v->pc->name,
        .check = 1,
        .options = v->pc->options,
        .secrets = v->c->secrets,
        .n_secrets = v->c->n_secrets,
        .env_names = v->pc->env_names,
    };
    probe_reply r;
    char *err = NULL;
    if (probe_run(&rq, PROBE_TIMEOUT_MS, &r, &err) != 0) {
        char *msg = xasprintf("plugin %s %s while checking the options",
                              v->pc->plugin_path, err);
        problem(v, NULL, "%s%s", msg, "");
        free(msg);
        free(err);
        return;
    }
    if (r.check_error)
        problem(v, NULL, "%s%s", r.check_error, "");
    probe_reply_release(&r);
}

/* Descriptor facts learnt in this check, by plugin path: instances of one
 * plugin share one probe. */
typedef struct probed {
    char *path;
    probe_reply reply;
} probed;

typedef struct probe_cache {
    probed *v;
    size_t n;
    const char *state_dir;   /* the descriptor cache's (probe.h); NULL: none */
} probe_cache;

static void probe_cache_release(probe_cache *pc)
{
    for (size_t i = 0; i < pc->n; i++) {
        free(pc->v[i].path);
        probe_reply_release(&pc->v[i].reply);
    }
    free(pc->v);
    memset(pc, 0, sizeof *pc);
}

/* The facts of pc's plugin (borrowed from cache), or NULL after adding
 * the problem: a probe that crashed, exited or hung is an error wherever
 * it happens; a plugin that does not load goes to load_errors when given. */
static const probe_facts *describe(probe_cache *cache, provider_conf *pc,
                                   diag_list *diags, diag_list *load_errors)
{
    for (size_t i = 0; i < cache->n; i++)
        if (strcmp(cache->v[i].path, pc->plugin_path) == 0)
            return &cache->v[i].reply.facts;
    probe_request rq = {.plugin_path = pc->plugin_path, .instance = pc->name};
    probe_reply r;
    char *err = NULL;
    if (probe_describe_cached(cache->state_dir, &rq, PROBE_TIMEOUT_MS, &r,
                              &err) != 0) {
        diag_add(diags, pc->file, pc->line, pc->col,
                 "provider '%s': plugin %s %s while being loaded", pc->name,
                 pc->plugin_path, err);
        free(err);
        return NULL;
    }
    if (!r.loaded) {
        diag_add(load_errors ? load_errors : diags, pc->file, pc->line,
                 pc->col, "%s", r.message);
        probe_reply_release(&r);
        return NULL;
    }
    cache->v = xrealloc(cache->v, (cache->n + 1) * sizeof *cache->v);
    cache->v[cache->n] = (probed){.path = xstrdup(pc->plugin_path), .reply = r};
    return &cache->v[cache->n++].reply.facts;
}

static size_t validate_provider(config *c, provider_conf *pc,
                                diag_list *diags, diag_list *load_errors,
                                probe_cache *cache)
{
    char *err = NULL;
    /* StrictModes: code that root would run must be root's alone.  A hard
     * error even where a plugin that fails to load is only a warning: the
     * file is there, and loading it is the danger. */
    if (secure_path_wanted() && pc->plugin_path && *pc->plugin_path &&
        access(pc->plugin_path, F_OK) == 0 &&
        secure_path_check(pc->plugin_path, NULL, geteuid(), &err) != 0) {
        diag_add(diags, pc->plugin_path, 0, 0, "plugin of provider '%s' %s",
                 pc->name, err);
        free(err);
        return 1;
    }
    if (!pc->plugin_path || !*pc->plugin_path) {
        diag_add(load_errors ? load_errors : diags, pc->file, pc->line,
                 pc->col, "plugin '%s': no plugin path", pc->name);
        return 1;
    }
    const probe_facts *f = describe(cache, pc, diags, load_errors);
    if (!f)
        return 1;
    pc->produces = f->produces;
    json_decref(pc->env_names);
    pc->env_names = json_incref(f->env);
    md_plugin desc = probe_facts_descriptor(f);
    vctx v = {.c = c, .pc = pc, .desc = &desc, .diags = diags};
    check_interval(&v);
    if (check_given(&v) == 0 && f->has_check)
        run_check(&v);
    return v.problems;
}

static size_t check_config(config *c, diag_list *diags,
                           diag_list *load_errors, const char *cache_dir)
{
    size_t n = 0;
    char *err = NULL;
    struct stat st;
    if (secure_path_wanted() && c->plugin_dir &&
        stat(c->plugin_dir, &st) == 0 &&
        secure_path_check(c->plugin_dir, &st, geteuid(), &err) != 0) {
        diag_add(diags, c->plugin_dir, 0, 0, "plugin directory %s", err);
        free(err);
        n++;
    }
    probe_cache cache = {.state_dir = cache_dir};
    for (size_t i = 0; i < c->n_providers; i++)
        if (c->providers[i].enabled)
            n += validate_provider(c, &c->providers[i], diags, load_errors,
                                   &cache);
    probe_cache_release(&cache);
    return n;
}

size_t plugin_check_config(config *c, diag_list *diags,
                           diag_list *load_errors)
{
    return check_config(c, diags, load_errors, NULL);
}

size_t plugin_check_config_cached(config *c, diag_list *diags,
                                  diag_list *load_errors)
{
    return check_config(c, diags, load_errors, c->state_dir);
}
