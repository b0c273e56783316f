/*
 * claude_logs - token usage from Claude Code's local transcripts
 * (ROOT/projects/ recursively, *.jsonl), scanned incrementally with the dedup and
 * field rules of ccusage 20 (doc/providers.md
 * "claude_logs").  The incremental machinery (state file, lock, streaming,
 * cells) is plugins/sdk/logscan.c; this file holds what is Claude-specific:
 * where the files are and which lines count.
 *
 * Ownership: everything allocated in collect() is released before it
 * returns; a line is scanned in place (plugins/sdk/jscan.c), nothing of it
 * outlives the callback.
 */
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jscan.h"
#include "logscan.h"

#define CLAUDE_MISSING "no Claude Code projects directory found (roots, " \
    "$CLAUDE_CONFIG_DIR, ~/.config/claude, ~/.claude)"

static const md_option claude_options[] = {
    {"roots", MD_OPT_LIST, 0, NULL,
     "directories laid out like ~/.claude (each contributes ROOT/projects); "
     "default $CLAUDE_CONFIG_DIR (comma-separated), else ~/.config/claude "
     "and ~/.claude"},
    {"retention", MD_OPT_DURATION, 0, "9600h",
     "keep usage cells this long (default 400 days)"},
    {"now", MD_OPT_NUMBER, 0, NULL,
     "reference time in epoch seconds for today/5h/7d (tests, replays); "
     "default the wall clock"},
    {"threads", MD_OPT_INT, 0, "0",
     "files parsed in parallel by this many threads (0: the online CPUs, "
     "at most 4); the result does not depend on it"},
    {0},
};

/* ---- ccusage's line filters ---- */

static int nullable_forbidden(const char *f, size_t n)
{
    static const char *const names[] = {
        "id", "cwd", "model", "speed", "costUSD", "version", "sessionId",
        "requestId", "isApiErrorMessage", "cache_read_input_tokens",
        "cache_creation_input_tokens"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], f, n) == 0)
            return 1;
    return 0;
}

/* ccusage drops a whole line when one of the keys above carries JSON null
 * anywhere in it (a byte scan, nested objects included).  Same walk. */
static ls_needles null_needle; /* ":null", set by init_schema */

static int has_unsupported_null(const char *line, size_t len)
{
    size_t off = 0;
    for (;;) {
        /* the needle search tests the rarest bytes of ":null" first
         * (ls_memmem tested ':', which starts every JSON value) */
        const char *p = ls_needles_find(&null_needle, line + off, len - off);
        if (!p)
            return 0;
        size_t ni = (size_t)(p - line);
        size_t fe = ni ? ni - 1 : 0;
        if (line[fe] != '"')
            while (fe > 0 && line[fe] != '"')
                fe--;
        if (line[fe] == '"') {
            size_t fs = fe ? fe - 1 : 0;
            while (fs > 0 && line[fs] != '"')
                fs--;
            if (line[fs] == '"' && fe > fs &&
                nullable_forbidden(line + fs + 1, fe - fs - 1))
                return 1;
        }
        off = ni + 5;
    }
}

/* digits '.' digits '.' digit */
static int semver_prefix(const char *v)
{
    for (int part = 0; part < 2; part++) {
        if (!isdigit((unsigned char)*v))
            return 0;
        while (isdigit((unsigned char)*v))
            v++;
        if (*v++ != '.')
            return 0;
    }
    return isdigit((unsigned char)*v);
}

/* ---- the fields of a line (plugins/sdk/jscan.c) ---- */

/* One entry block: the envelope fields and message.*; it appears at the
 * top level (direct entries) and under data.message (agent progress). */
enum {
    B_TS, B_REQ, B_COST, B_SC, B_MSG, B_ID, B_MODEL, B_USAGE, B_IN, B_OUT,
    B_CCI, B_CRI, B_SPEED, B_CC, B_C5, B_C1, B_N
};
enum { F_VERSION = B_N, F_SESSION, F_DATA, F_DMSG, F_E2, F_N = F_E2 + B_N };

static js_field fields[F_N];
static js_schema schema;
static int schema_ok = -1;

static void add_block(int base, int parent)
{
    static const char *const keys[B_N] = {
        "timestamp", "requestId", "costUSD", "isSidechain", "message", "id",
        "model", "usage", "input_tokens", "output_tokens",
        "cache_creation_input_tokens", "cache_read_input_tokens", "speed",
        "cache_creation", "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens"};
    static const int par[B_N] = {-1, -1, -1, -1, -1, B_MSG, B_MSG, B_MSG,
                                 B_USAGE, B_USAGE, B_USAGE, B_USAGE, B_USAGE,
                                 B_USAGE, B_CC, B_CC};
    for (int i = 0; i < B_N; i++) {
        fields[base + i].key = keys[i];
        fields[base + i].parent = par[i] < 0 ? parent : base + par[i];
    }
}

static int init_schema(void)
{
    if (schema_ok < 0) {
        static const char *const null_marker[] = {":null"};
        ls_needles_init(&null_needle, null_marker, 1);
        add_block(0, -1);
        fields[F_VERSION] = (js_field){"version", -1};
        fields[F_SESSION] = (js_field){"sessionId", -1};
        fields[F_DATA] = (js_field){"data", -1};
        fields[F_DMSG] = (js_field){"message", F_DATA};
        add_block(F_E2, F_DMSG);
        schema_ok = js_schema_init(&schema, fields, F_N);
    }
    return schema_ok;
}

/* Optional string (absent or null = none); -1 when another type. */
static int opt_string(const js_val *v, const js_val **out)
{
    *out = NULL;
    if (v->type == JS_ABSENT || v->type == JS_NULL)
        return 0;
    if (v->type != JS_STR)
        return -1;
    *out = v;
    return 0;
}

/* u64 JSON integer (>= 0) into *out; 0 when missing (serde default);
 * -1 when present but not a non-negative integer (null included). */
static int opt_u64(const js_val *v, uint64_t *out, int required)
{
    *out = 0;
    if (v->type == JS_ABSENT)
        return required ? -1 : 0;
    if (v->type != JS_INT)
        return -1;
    long long x = js_int(v);
    if (x < 0)
        return -1;
    *out = (uint64_t)x;
    return 0;
}

typedef struct centry {
    const js_val *ts, *model, *id, *request_id, *version, *session_id;
    int has_cost, sidechain, speed_fast, speed_present;
    double cost;
    uint64_t in, out, cw, cr, cw1h;
} centry;

/* message (DailyUsageMessage): usage (required), model, id.  b: block. */
static int parse_message(const js_val *b, centry *e)
{
    if (b[B_MSG].type != JS_OBJ || b[B_USAGE].type != JS_OBJ)
        return -1;
    uint64_t cci, c5 = 0, c1 = 0;
    if (opt_u64(&b[B_IN], &e->in, 1) || opt_u64(&b[B_OUT], &e->out, 1) ||
        opt_u64(&b[B_CCI], &cci, 0) || opt_u64(&b[B_CRI], &e->cr, 0))
        return -1;
    const js_val *sp = &b[B_SPEED];
    if (sp->type != JS_ABSENT && sp->type != JS_NULL) {
        int fast = js_streq(sp, "fast");
        if (!fast && !js_streq(sp, "standard"))
            return -1;
        e->speed_present = 1;
        e->speed_fast = fast;
    }
    const js_val *cc = &b[B_CC];
    if (cc->type != JS_ABSENT && cc->type != JS_NULL) {
        /* the 5m/1h split replaces the flat field when present */
        if (cc->type != JS_OBJ || opt_u64(&b[B_C5], &c5, 0) ||
            opt_u64(&b[B_C1], &c1, 0))
            return -1;
        e->cw = c5 + c1;
        e->cw1h = c1;
    } else
        e->cw = cci;
    if (opt_string(&b[B_MODEL], &e->model) || opt_string(&b[B_ID], &e->id))
        return -1;
    return 0;
}

/* Envelope fields shared by both line shapes. */
static int parse_envelope(const js_val *b, centry *e)
{
    if (b[B_TS].type != JS_STR)
        return -1;
    e->ts = &b[B_TS];
    if (opt_string(&b[B_REQ], &e->request_id))
        return -1;
    const js_val *c = &b[B_COST];
    if (c->type != JS_ABSENT && c->type != JS_NULL) {
        if (!js_is_num(c))
            return -1;
        e->has_cost = 1;
        e->cost = js_double(c);
    }
    const js_val *sc = &b[B_SC];
    if (sc->type != JS_ABSENT && sc->type != JS_NULL) {
        if (sc->type != JS_TRUE && sc->type != JS_FALSE)
            return -1;
        e->sidechain = sc->type == JS_TRUE;
    }
    return 0;
}

/* ccusage's untagged enum: a direct entry, else an agent progress wrapper
 * (data.message nests the entry; it has no version or sessionId). */
static int parse_entry(const js_val *v, centry *e)
{
    memset(e, 0, sizeof *e);
    if (!parse_envelope(v, e) && !parse_message(v, e) &&
        !opt_string(&v[F_VERSION], &e->version) &&
        !opt_string(&v[F_SESSION], &e->session_id))
        return 0;
    memset(e, 0, sizeof *e);
    if (v[F_DATA].type == JS_OBJ && v[F_DMSG].type == JS_OBJ &&
        !parse_envelope(v + F_E2, e) && !parse_message(v + F_E2, e))
        return 0;
    return -1;
}

static int valid_entry(const centry *e)
{
    if (e->version) {
        char buf[64], *v = js_str(e->version, buf, sizeof buf, NULL);
        int ok = v && semver_prefix(v);
        if (v != buf)
            free(v);
        if (!ok)
            return 0;
    }
    if ((e->session_id && !e->session_id->n) ||
        (e->request_id && !e->request_id->n) || (e->id && !e->id->n) ||
        (e->model && !e->model->n))
        return 0;
    return 1;
}

/* ccusage's should_replace: the non-sidechain copy wins, then the larger
 * token total, then the larger cost (we compare costUSD when both carry
 * it; ccusage also prices entries without it), then the copy with speed. */
static int should_replace(const ls_ent *c, const ls_ent *x)
{
    int csc = !!(c->flags & LS_F_SIDECHAIN), xsc = !!(x->flags & LS_F_SIDECHAIN);
    if (csc != xsc)
        return xsc;
    uint64_t ct = ls_ent_total(c), xt = ls_ent_total(x);
    if (ct != xt)
        return ct > xt;
    if ((c->flags & x->flags & LS_F_COST) && c->cost != x->cost)
        return c->cost > x->cost;
    return (c->flags & LS_F_SPEED) && !(x->flags & LS_F_SPEED);
}

static int insert_deduped(ls_state *st, ls_ent *e)
{
    if (!e->mkey)
        return ls_add(st, e);
    ls_ent *x = ls_find_key(st, e->key);
    if (!x)
        x = ls_find_mkey(st, e->mkey, !!(e->flags & LS_F_SIDECHAIN));
    if (!x)
        return ls_add(st, e);
    if (should_replace(e, x)) {
        /* ccusage 20's daily path keeps the slot indexed under the key it
         * was first stored with; a copy under another key is then found
         * only through the message key. */
        uint16_t rk = (x->key != e->key || (x->flags & LS_F_REKEYED))
                          ? LS_F_REKEYED : 0;
        ls_touch(st, x->slot);
        *x = *e;
        x->flags |= rk;
        ls_touch(st, x->slot);
    }
    return 0;
}

/* A decoded string of the line: in the caller's buffer when it fits. */
typedef struct dstr {
    char buf[128];
    char *s;
    size_t n;
} dstr;

static int dstr_get(dstr *d, const js_val *v)
{
    d->s = v ? js_str(v, d->buf, sizeof d->buf, &d->n) : NULL;
    return v && !d->s ? -1 : 0;
}

static void dstr_free(dstr *d)
{
    if (d->s != d->buf)
        free(d->s);
}

/* What a usage line yields (the record handed from parse to apply): the
 * entry without its model number, and the model name (not NUL-terminated,
 * mlen bytes, none when 0). */
typedef struct crec {
    ls_ent e;
    uint32_t mlen;
    char model[256];
} crec;

static int parse_line(const ls_parse_env *env, ls_sink *out, ls_pstate *ps,
                      const char *line, size_t len)
{
    (void)ps;
    if (has_unsupported_null(line, len))
        return 0;
    js_val v[F_N];
    centry e;
    if (js_scan(&schema, line, len, v) || parse_entry(v, &e) ||
        !valid_entry(&e))
        return 0; /* malformed or not a usage entry: skipped like ccusage */
    dstr ts, model, id, req;
    ts.s = model.s = id.s = req.s = NULL;
    int rc = 0;
    double t;
    if (dstr_get(&ts, e.ts) || dstr_get(&model, e.model) ||
        dstr_get(&id, e.id) || dstr_get(&req, e.request_id)) {
        rc = -1; /* out of memory (only strings > 127 bytes allocate) */
        goto out;
    }
    if (ls_parse_ts(env->h, ts.s, &t) || t < 0 ||
        t / MD_USAGE_SLOT_SECONDS >= UINT32_MAX)
        goto out;
    uint32_t slot = (uint32_t)(t / MD_USAGE_SLOT_SECONDS);
    if (slot < env->cutoff_slot)
        goto out;
    crec r;
    memset(&r.e, 0, sizeof r.e);
    r.mlen = 0;
    ls_ent *x = &r.e;
    x->slot = slot;
    x->tok[LS_IN] = ls_sat32(e.in);
    x->tok[LS_CR] = ls_sat32(e.cr);
    x->tok[LS_CW] = ls_sat32(e.cw);
    x->tok[LS_OUT] = ls_sat32(e.out);
    x->cw1h = ls_sat32(e.cw1h);
    x->flags = LS_F_CW_KNOWN | (e.sidechain ? LS_F_SIDECHAIN : 0) |
               (e.speed_present ? LS_F_SPEED : 0) | (e.has_cost ? LS_F_COST : 0);
    x->cost = (float)e.cost;
    if (model.s && strcmp(model.s, "<synthetic>") != 0) {
        /* "%s%s" into 256 bytes, as before: the name is cut at 255 */
        size_t n = model.n < 255 ? model.n : 255;
        memcpy(r.model, model.s, n);
        if (e.speed_fast) {
            size_t k = 255 - n < 5 ? 255 - n : 5;
            memcpy(r.model + n, "-fast", k);
            n += k;
        }
        r.mlen = (uint32_t)n;
    }
    if (id.s) {
        x->mkey = ls_hash(id.s, id.n, 0);
        x->key = req.s ? ls_hash(req.s, req.n, x->mkey)
                       : ls_hash("", 0, x->mkey ^ 0x9e3779b97f4a7c15ull);
    }
    rc = ls_emit(out, &r, offsetof(crec, model) + r.mlen);
out:
    dstr_free(&ts);
    dstr_free(&model);
    dstr_free(&id);
    dstr_free(&req);
    return rc;
}

static int apply_rec(ls_state *st, uint32_t fi, ls_pstate *ps, const void *rec,
                     size_t n, void *user)
{
    (void)ps;
    size_t *events = user;
    crec r;
    memcpy(&r, rec, n < sizeof r ? n : sizeof r);
    r.e.file = fi;
    if (r.mlen) {
        r.model[r.mlen] = '\0';
        r.e.model = ls_model(st, r.model);
    }
    (*events)++;
    return insert_deduped(st, &r.e);
}

/* ---- roots ---- */

static int accept_jsonl(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".jsonl") == 0;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ~ expansion and ccusage's "a path ending in projects means its parent". */
static void norm_root(const char *raw, char *out, size_t n)
{
    const char *home = getenv("HOME");
    if (home && (strcmp(raw, "~") == 0 || strncmp(raw, "~/", 2) == 0))
        snprintf(out, n, "%s%s", home, raw + 1);
    else
        snprintf(out, n, "%s", raw);
    size_t l = strlen(out);
    while (l > 1 && out[l - 1] == '/')
        out[--l] = '\0';
    if (l >= 9 && strcmp(out + l - 9, "/projects") == 0 && is_dir(out))
        out[l - 9] = '\0';
}

static void walk_root(const char *root, ls_list *found, unsigned threads)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s/projects", root) >= (int)sizeof p)
        return; /* a path longer than PATH_MAX cannot be opened anyway */
    size_t before = found->n;
    ls_walk_n(p, accept_jsonl, found, threads);
    for (size_t i = before; i < found->n; i++)
        found->v[i].id = ls_strdup(found->v[i].real);
}

/* Fill found from the roots option, $CLAUDE_CONFIG_DIR or the defaults.
 * Returns the number of roots used. */
static size_t collect_files(const md_host *h, md_ctx *ctx, ls_list *found,
                            char *roots_note, size_t note_len,
                            unsigned threads)
{
    size_t n = 0, used = 0;
    const char *const *list = h->opt_list(ctx, "roots", &n);
    char buf[4096];
    roots_note[0] = '\0';
    char *env_copy = NULL;
    const char *items[64];
    size_t n_items = 0;
    if (list && n) {
        for (size_t i = 0; i < n && n_items < 64; i++)
            items[n_items++] = list[i];
    } else if (getenv("CLAUDE_CONFIG_DIR") && *getenv("CLAUDE_CONFIG_DIR")) {
        env_copy = ls_strdup(getenv("CLAUDE_CONFIG_DIR"));
        for (char *save = NULL, *t = env_copy ? strtok_r(env_copy, ",", &save)
                                              : NULL;
             t && n_items < 64; t = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*t))
                t++;
            char *e = t + strlen(t);
            while (e > t && isspace((unsigned char)e[-1]))
                *--e = '\0';
            if (*t)
                items[n_items++] = t;
        }
    } else {
        const char *xdg = getenv("XDG_CONFIG_HOME");
        static char a[4096], b[4096];
        const char *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(a, sizeof a, "%s/claude", xdg);
        else
            snprintf(a, sizeof a, "%s/.config/claude", home ? home : "");
        snprintf(b, sizeof b, "%s/.claude", home ? home : "");
        items[n_items++] = a;
        items[n_items++] = b;
    }
    char seen[16][4096];
    for (size_t i = 0; i < n_items; i++) {
        norm_root(items[i], buf, sizeof buf);
        char pj[4200];
        snprintf(pj, sizeof pj, "%s/projects", buf);
        int dup = 0;
        for (size_t k = 0; k < used && k < 16; k++)
            dup |= strcmp(seen[k], buf) == 0;
        if (dup || !is_dir(pj))
            continue;
        if (used < 16)
            snprintf(seen[used], sizeof seen[used], "%s", buf);
        used++;
        walk_root(buf, found, threads);
        size_t l = strlen(roots_note);
        snprintf(roots_note + l, note_len - l, "%s%s", l ? ", " : "", buf);
    }
    free(env_copy);
    return used;
}

/* ---- collect ---- */

static int claude_collect(const md_host *h, md_ctx *ctx, void *unused)
{
    (void)unused;
    long long budget = h->remaining_ms(ctx);
    const char *dir = h->state_dir(ctx);
    int lock = ls_lock(h, ctx, dir);
    if (lock < 0) {
        h->fail(ctx, MD_ERR_INTERNAL, "state in %s is locked by another run "
                "(or cannot be locked); try again", dir);
        return -1;
    }
    if (init_schema() != 0) {
        h->fail(ctx, MD_ERR_INTERNAL, "internal: bad field table");
        close(lock);
        return -1;
    }
    ls_state st;
    memset(&st, 0, sizeof st);
    st.fd_state = -1;
    ls_load(&st, dir);
    /* old lines carry costUSD: price per event, as ccusage does */
    st.cost_parts = 1;
    st.markers[0] = "\"usage\":{";
    st.n_markers = 1;
    double now = h->now(ctx), v;
    if (h->opt_number(ctx, "now", &v) == 0)
        now = v;
    long long ret_ms = 400LL * 86400 * 1000;
    h->opt_duration_ms(ctx, "retention", &ret_ms);
    double cut = now - (double)ret_ms / 1000.0;
    st.cutoff_slot = cut > 0 ? (uint32_t)(cut / MD_USAGE_SLOT_SECONDS) : 0;

    long long threads = 0;
    h->opt_int(ctx, "threads", &threads);
    ls_list found = {0};
    char roots[1024];
    size_t n_roots = collect_files(h, ctx, &found, roots, sizeof roots,
                                   ls_threads(threads));
    size_t events = 0;
    ls_plugin_fns fns = {.parse = parse_line, .apply = apply_rec,
                         .conf = NULL, .user = &events};
    ls_result res = ls_scan(h, ctx, &st, &found, &fns, ls_threads(threads),
                            budget);
    ls_list_release(&found);
    /* The state file is written on a thread (ls_save_start): its entries
     * while the cells are built, the rest while the result is built; the
     * result only reaches the core after this function returns, so the
     * file is on disk before the core saves the cells it claims. */
    ls_saver saver;
    int saving = 0;
    if (res.failed || ls_finish_saving(&st, now, (double)ret_ms / 1000.0,
                                       &saver, dir, &saving)) {
        h->fail(ctx, MD_ERR_INTERNAL, "log scan failed (out of memory or "
                "unreadable state)");
        ls_clear(&st);
        close(lock);
        return -1;
    }
    st.h.complete = res.complete;
    int missing = !n_roots && st.n_cells == 0;
    if (saving)
        ls_save_release(&saver, 1);
    if (!missing) {
        ls_put_usage(h, ctx, &st, st.changed, st.min_changed);
        ls_emit_periods(h, ctx, &st, now, 0, 0);
        ls_report(h, ctx, &st, &res, n_roots, roots, CLAUDE_MISSING, events,
                  "usage lines parsed",
                  "estimated from local logs: usage from other devices or "
                  "the web is not included; reasoning tokens are not "
                  "reported");
    }
    if (saving && ls_save_wait(&saver) != 0) {
        h->fail(ctx, MD_ERR_INTERNAL, "cannot write state in %s: %s", dir,
                strerror(errno));
        ls_clear(&st);
        close(lock);
        return -1;
    }
    if (missing) {
        /* Nothing to read and no history: zeros would claim "no usage",
         * which nobody measured. */
        h->fail(ctx, MD_ERR_CONFIG, "%s", CLAUDE_MISSING);
        ls_clear(&st);
        close(lock);
        return -1;
    }
    ls_clear(&st);
    close(lock);
    return 0;
}

/* Environment variables this plugin reads (md_plugin.env). */
static const char *const claude_logs_env[] = {"CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME", NULL};

static const md_plugin claude_logs_plugin = {
    MD_PLUGIN_HEADER,
    .name = "claude_logs",
    .version = "1.0",
    .description = "Claude Code token usage from local transcripts "
                   "(ccusage-compatible dedup, incremental)",
    .default_source = "local_log",
    .options = claude_options,
    .collect = claude_collect,
    .produces = MD_PRODUCES_METERS | MD_PRODUCES_USAGE_CELLS,
    .env = claude_logs_env,
};

MD_PLUGIN_DEFINE(claude_logs_plugin)
