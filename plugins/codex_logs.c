/*
 * codex_logs - token usage and the latest rate-limit snapshot from Codex
 * CLI rollouts (ROOT/sessions/ recursively, rollout-*.jsonl, and
 * ROOT/archived_sessions/ flat, *.jsonl), scanned incrementally
 * (doc/providers.md "codex_logs").  Incremental machinery:
 * plugins/sdk/logscan.c.
 *
 * Per file, token_count events are deltas of the cumulative
 * total_token_usage (previous total kept in the file's parser state, so
 * appends continue where the last run stopped); totals that did not
 * advance (identical duplicates) are skipped; last_token_usage is used only
 * when the total is absent.  The model is that of the latest turn_context.
 *
 * Ownership: everything allocated in collect() is released before it
 * returns.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jscan.h"
#include "logscan.h"

#define CODEX_MISSING "no Codex home found (roots, $CODEX_HOME, ~/.codex)"

static const md_option codex_options[] = {
    {"roots", MD_OPT_LIST, 0, NULL,
     "directories laid out like ~/.codex; default $CODEX_HOME "
     "(comma-separated), else ~/.codex"},
    {"retention", MD_OPT_DURATION, 0, "9600h",
     "keep usage cells this long (default 400 days)"},
    {"now", MD_OPT_NUMBER, 0, NULL,
     "reference time in epoch seconds for today/5h/7d and staleness "
     "(tests, replays); default the wall clock"},
    {"threads", MD_OPT_INT, 0, "0",
     "files parsed in parallel by this many threads (0: the online CPUs, "
     "at most 4); the result does not depend on it"},
    {0},
};

#define CX_FALLBACK_MODEL "gpt-5" /* ccusage's fallback when no model */

/* pstate.prev indexes */
enum { P_IN, P_CACHED, P_CW, P_OUT, P_REAS, P_TOTAL };
#define PS_HAS_PREV 0x1u
#define PS_PREV_CW 0x2u

/* The latest rate-limit snapshot (state blob). */
typedef struct rl_win {
    double used, window_min, resets_at;
    uint32_t known; /* bit 0 used, 1 window, 2 resets_at */
    uint32_t pad;
} rl_win;

typedef struct rl_snap {
    double at;
    uint32_t have, pad;
    rl_win w[2];
    double credits;
    uint32_t credits_known, pad2;
} rl_snap;

typedef struct cx_run {
    rl_snap *snap;
    size_t events;
    int snap_changed;
} cx_run;

/* Records from parse to apply, in line order (a tag, then the body). */
enum { R_MODEL = 1, R_DELTA, R_SNAP };

typedef struct rec_delta {
    uint32_t tag;
    uint32_t pad;
    ls_ent e;      /* model 0: the file's current model at apply time */
} rec_delta;

typedef struct rec_snap {
    uint32_t tag;
    uint32_t pad;
    rl_snap s;
} rec_snap;

typedef struct rec_model {
    uint32_t tag;
    uint32_t len;
    char name[LS_REC_MAX - 8];
} rec_model;

typedef struct tusage {
    uint64_t v[6];
    int has_cw;
} tusage;

/* ---- the fields of a line (plugins/sdk/jscan.c) ---- */

/* A TokenUsage object's fields, in P_* order after the object itself. */
#define TU_FIELDS(par)                                                   \
    {"input_tokens", par}, {"cached_input_tokens", par},                 \
    {"cache_write_input_tokens", par}, {"output_tokens", par},           \
    {"reasoning_output_tokens", par}
/* A rate-limit window's fields after the object itself. */
enum { W_USED, W_MIN, W_AT, W_IN, W_AFTER, W_N };
#define WIN_FIELDS(par)                                                  \
    {"used_percent", par}, {"window_minutes", par}, {"resets_at", par},  \
    {"resets_in_seconds", par}, {"reset_after_seconds", par}

enum {
    F_TYPE, F_TS, F_PAYLOAD, F_PTYPE, F_PMODEL, F_INFO, F_IMODEL, F_TOT,
    F_LAST = F_TOT + 6, F_RL = F_LAST + 6, F_PRIM, F_SEC = F_PRIM + 1 + W_N,
    F_FLAT = F_SEC + 1 + W_N, F_CREDITS = F_FLAT + 6, F_BALANCE, F_N
};
/* flat (earliest) shape, after F_FLAT: primary then secondary */
enum { L_USED, L_MIN, L_AFTER };

static const js_field fields[F_N] = {
    {"type", -1}, {"timestamp", -1}, {"payload", -1},
    {"type", F_PAYLOAD}, {"model", F_PAYLOAD}, {"info", F_PAYLOAD},
    {"model", F_INFO},
    {"total_token_usage", F_INFO}, TU_FIELDS(F_TOT),
    {"last_token_usage", F_INFO}, TU_FIELDS(F_LAST),
    {"rate_limits", F_PAYLOAD},
    {"primary", F_RL}, WIN_FIELDS(F_PRIM),
    {"secondary", F_RL}, WIN_FIELDS(F_SEC),
    {"primary_used_percent", F_RL}, {"primary_window_minutes", F_RL},
    {"primary_reset_after_seconds", F_RL},
    {"secondary_used_percent", F_RL}, {"secondary_window_minutes", F_RL},
    {"secondary_reset_after_seconds", F_RL},
    {"credits", F_RL}, {"balance", F_CREDITS},
};
static js_schema schema;
static int schema_ok = -1;

/* TokenUsage object at u (followed by its five fields) -> v[P_*];
 * missing fields 0 (total recomputed). */
static int parse_usage(const js_val *u, tusage *t)
{
    memset(t, 0, sizeof *t);
    if (u->type != JS_OBJ)
        return -1;
    for (int i = 0; i < 5; i++) {
        const js_val *v = &u[1 + i];
        long long x;
        if (v->type == JS_INT && (x = js_int(v)) >= 0)
            t->v[i] = (uint64_t)x;
        else if (v->type == JS_REAL) {
            double d = js_double(v);
            if (d >= 0)
                t->v[i] = (uint64_t)d;
        }
        if (i == P_CW)
            t->has_cw = js_is_num(v);
    }
    t->v[P_TOTAL] = t->v[P_IN] + t->v[P_OUT];
    return 0;
}

static double num_or(const js_val *v, int *ok)
{
    *ok = js_is_num(v);
    return *ok ? js_double(v) : 0;
}

/* One window of the current / late-2025 shapes (w: the object, then its
 * W_N fields). */
static void parse_win(const js_val *w, double line_t, rl_win *out)
{
    memset(out, 0, sizeof *out);
    if (w->type != JS_OBJ)
        return;
    const js_val *f = w + 1;
    int ok;
    out->used = num_or(&f[W_USED], &ok);
    out->known |= ok ? 1u : 0;
    out->window_min = num_or(&f[W_MIN], &ok);
    out->known |= ok ? 2u : 0;
    out->resets_at = num_or(&f[W_AT], &ok);
    if (!ok) {
        double rel = num_or(&f[W_IN], &ok);
        if (!ok)
            rel = num_or(&f[W_AFTER], &ok);
        out->resets_at = line_t + rel;
    }
    out->known |= ok ? 4u : 0;
}

/* rate_limits (three shapes): a snapshot record (the apply step keeps the
 * newest). */
static int parse_rate_limits(const js_val *v, double t, ls_sink *out)
{
    if (v[F_RL].type != JS_OBJ)
        return 0;
    rec_snap r;
    memset(&r, 0, sizeof r);
    r.tag = R_SNAP;
    rl_snap *s = &r.s;
    if (v[F_PRIM].type != JS_ABSENT || v[F_SEC].type != JS_ABSENT) {
        parse_win(&v[F_PRIM], t, &s->w[0]);
        parse_win(&v[F_SEC], t, &s->w[1]);
    } else {
        for (int i = 0; i < 2; i++) {
            const js_val *f = &v[F_FLAT + 3 * i];
            int ok;
            s->w[i].used = num_or(&f[L_USED], &ok);
            s->w[i].known |= ok ? 1u : 0;
            s->w[i].window_min = num_or(&f[L_MIN], &ok);
            s->w[i].known |= ok ? 2u : 0;
            double rel = num_or(&f[L_AFTER], &ok);
            s->w[i].resets_at = t + rel;
            s->w[i].known |= ok ? 4u : 0;
        }
    }
    if (!(s->w[0].known & 1u) && !(s->w[1].known & 1u))
        return 0;
    if (v[F_CREDITS].type == JS_OBJ && v[F_BALANCE].type == JS_STR) {
        const js_val *bv = &v[F_BALANCE];
        char buf[64], *bal = NULL;
        double b;
        if (!bv->esc && js_decimal(bv->p, bv->n, &b) == 0) {
            /* the usual "14.5000000000": strtod's value without strtod */
            s->credits = b;
            s->credits_known = 1;
        } else if ((bal = js_str(bv, buf, sizeof buf, NULL))) {
            char *end;
            b = strtod(bal, &end);
            if (end != bal && isfinite(b)) {
                s->credits = b;
                s->credits_known = 1;
            }
            if (bal != buf)
                free(bal);
        }
    }
    s->at = t;
    s->have = 1;
    return ls_emit(out, &r, sizeof r);
}

/* A non-empty model string (decoded): a model record. */
static int set_model(ls_sink *out, const js_val *v)
{
    if (v->type != JS_STR || !v->n)
        return 0;
    rec_model r;
    r.tag = R_MODEL;
    size_t n;
    char *m = js_str(v, r.name, sizeof r.name, &n);
    if (!m)
        return -1;
    if (m != r.name) {
        /* a "model" of 4 KiB is not one: ignored */
        free(m);
        return 0;
    }
    r.len = (uint32_t)n;
    return ls_emit(out, &r, offsetof(rec_model, name) + n);
}

static int count_delta(const ls_parse_env *env, ls_sink *out,
                       const uint64_t *d, int has_cw, double t)
{
    uint64_t in = d[P_IN], cached = d[P_CACHED] < in ? d[P_CACHED] : in;
    uint64_t cw = has_cw ? d[P_CW] : 0;
    if (!in && !d[P_OUT] && !cached && !cw && !d[P_REAS])
        return 0; /* all-zero delta */
    uint64_t unc = in - cached;
    unc = cw < unc ? unc - cw : 0;
    if (t < 0 || t / MD_USAGE_SLOT_SECONDS >= UINT32_MAX)
        return 0;
    uint32_t slot = (uint32_t)(t / MD_USAGE_SLOT_SECONDS);
    if (slot < env->cutoff_slot)
        return 0;
    rec_delta r;
    memset(&r, 0, sizeof r);
    r.tag = R_DELTA;
    ls_ent *x = &r.e;
    x->slot = slot;
    x->tok[LS_IN] = ls_sat32(unc);
    x->tok[LS_CR] = ls_sat32(cached);
    x->tok[LS_CW] = ls_sat32(cw);
    x->tok[LS_OUT] = ls_sat32(d[P_OUT]);
    x->tok[LS_REAS] = ls_sat32(d[P_REAS]);
    x->flags = LS_F_REAS | (has_cw ? LS_F_CW_KNOWN : LS_F_CW_NA);
    return ls_emit(out, &r, sizeof r);
}

static int on_token_count(const ls_parse_env *env, ls_sink *out,
                          ls_pstate *ps, const js_val *v, double t)
{
    if (parse_rate_limits(v, t, out))
        return -1;
    if (v[F_INFO].type != JS_OBJ)
        return 0;
    if (set_model(out, &v[F_IMODEL]))
        return -1;
    tusage tot, last;
    int has_tot = parse_usage(&v[F_TOT], &tot) == 0;
    int has_last = parse_usage(&v[F_LAST], &last) == 0;
    if (has_tot) {
        int same = (ps->flags & PS_HAS_PREV) != 0;
        int back = 0;
        for (int i = 0; i < 6; i++) {
            same &= tot.v[i] == ps->prev[i];
            back |= tot.v[i] < ps->prev[i];
        }
        if (same)
            return 0; /* total did not advance: duplicate event */
        uint64_t d[6];
        int has_cw = tot.has_cw;
        if (!(ps->flags & PS_HAS_PREV) || !back) {
            for (int i = 0; i < 6; i++)
                d[i] = tot.v[i] - ((ps->flags & PS_HAS_PREV) ? ps->prev[i] : 0);
        } else if (has_last) {
            /* the cumulative total went back (a reset): trust the turn */
            memcpy(d, last.v, sizeof d);
            has_cw = last.has_cw;
        } else
            memcpy(d, tot.v, sizeof d);
        memcpy(ps->prev, tot.v, sizeof tot.v);
        ps->flags |= PS_HAS_PREV | (tot.has_cw ? PS_PREV_CW : 0);
        return count_delta(env, out, d, has_cw, t);
    }
    if (has_last)
        return count_delta(env, out, last.v, last.has_cw, t);
    return 0;
}


/* p[0..n) == lit[0..n), for a literal's constant n: 8-byte words, the
 * last one overlapping (memcmp stays a call here, and these run a few
 * dozen times a line). */
static inline int same_bytes(const char *p, const char *lit, size_t n)
{
    uint64_t a, b;
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            if (p[i] != lit[i])
                return 0;
        return 1;
    }
    for (size_t i = 0; i + 8 <= n; i += 8) {
        memcpy(&a, p + i, 8);
        memcpy(&b, lit + i, 8);
        if (a != b)
            return 0;
    }
    memcpy(&a, p + n - 8, 8);
    memcpy(&b, lit + n - 8, 8);
    return a == b;
}

/* Does p[0..n) start with the literal lit?  Returns its length, or 0. */
static inline size_t lit_at(const char *p, size_t n, const char *lit,
                            size_t ln)
{
    return n >= ln && same_bytes(p, lit, ln) ? ln : 0;
}

/* Byte classes of the fast path, as bits: W_KIND a kind's bytes
 * ([a-z_]), W_TS a timestamp's (those and [0-9TZ:.+-]). */
enum { W_KIND = 1, W_TS = 2, W_BOTH = 3 };
static const unsigned char word_class[256] = {
    ['_'] = W_BOTH, ['a'] = W_BOTH, ['b'] = W_BOTH, ['c'] = W_BOTH,
    ['d'] = W_BOTH, ['e'] = W_BOTH, ['f'] = W_BOTH, ['g'] = W_BOTH,
    ['h'] = W_BOTH, ['i'] = W_BOTH, ['j'] = W_BOTH, ['k'] = W_BOTH,
    ['l'] = W_BOTH, ['m'] = W_BOTH, ['n'] = W_BOTH, ['o'] = W_BOTH,
    ['p'] = W_BOTH, ['q'] = W_BOTH, ['r'] = W_BOTH, ['s'] = W_BOTH,
    ['t'] = W_BOTH, ['u'] = W_BOTH, ['v'] = W_BOTH, ['w'] = W_BOTH,
    ['x'] = W_BOTH, ['y'] = W_BOTH, ['z'] = W_BOTH,
    ['0'] = W_TS, ['1'] = W_TS, ['2'] = W_TS, ['3'] = W_TS, ['4'] = W_TS,
    ['5'] = W_TS, ['6'] = W_TS, ['7'] = W_TS, ['8'] = W_TS, ['9'] = W_TS,
    ['T'] = W_TS, ['Z'] = W_TS, [':'] = W_TS, ['.'] = W_TS, ['+'] = W_TS,
    ['-'] = W_TS,
};

/* Length of a run of at most 64 bytes of class cls (W_KIND, W_TS) at
 * p[0..n) closed by a '"'; 0 when none, or when the bytes at hand end
 * first.  One table look-up per byte (this runs on every line). */
static inline size_t word_at(const char *p, size_t n, unsigned cls)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0, lim = n < 64 ? n : 64;
    while (i < lim && (word_class[u[i]] & cls))
        i++;
    return i < n && p[i] == '"' ? i : 0;
}

/* The fast path (ls_classify_fn): rollout writers put the keys of a line
 * in one order, {"timestamp":"...","type":"<kind>","payload":{"type":
 * "<subkind>",...}.  When a line starts exactly so, its top-level type
 * (the first "type" key of the object: jscan, like jansson, would take a
 * later duplicate, which no writer emits) decides it: turn_context and
 * event_msg/token_count lines are parsed, every other kind (response_item,
 * the bulk of the bytes, session_meta, other events) is skipped unread.
 * Anything else (another key order, whitespace, escapes in these strings)
 * is left to the marker search. */
static int classify_line(const char *p, size_t n)
{
    static const char ts[] = "{\"timestamp\":\"", ty[] = "\",\"type\":\"",
                      pl[] = "\",\"payload\":{\"type\":\"";
    size_t i = lit_at(p, n, ts, sizeof ts - 1), w;
    if (!i || !(w = word_at(p + i, n - i, W_TS)))
        return LS_LINE_UNKNOWN;
    i += w;
    size_t k = lit_at(p + i, n - i, ty, sizeof ty - 1);
    if (!k || !(w = word_at(p + i + k, n - i - k, W_KIND)))
        return LS_LINE_UNKNOWN;
    const char *kind = p + i + k;
    i += k + w;
    /* the kind's closing quote must end the member: a comma or the end
     * of the object follows */
    if (i + 1 >= n || (p[i + 1] != ',' && p[i + 1] != '}'))
        return LS_LINE_UNKNOWN;
    if (w == 12 && memcmp(kind, "turn_context", 12) == 0)
        return LS_LINE_PARSE;
    if (!(w == 9 && memcmp(kind, "event_msg", 9) == 0))
        return LS_LINE_SKIP;
    k = lit_at(p + i, n - i, pl, sizeof pl - 1);
    if (!k || !(w = word_at(p + i + k, n - i - k, W_KIND)))
        return LS_LINE_UNKNOWN;
    const char *sub = p + i + k;
    i += k + w;
    if (i + 1 >= n || (p[i + 1] != ',' && p[i + 1] != '}'))
        return LS_LINE_UNKNOWN;
    return w == 11 && memcmp(sub, "token_count", 11) == 0 ? LS_LINE_PARSE
                                                          : LS_LINE_SKIP;
}

/* ---- the writers' token_count line, matched byte for byte ---- */

/* p advanced past the literal lit when p[0..) starts with it, else NULL. */
#define TC_LIT(p, e, lit)                                                \
    ((p) && (size_t)((e) - (p)) >= sizeof(lit) - 1 &&                  \
             same_bytes((p), (lit), sizeof(lit) - 1)                    \
         ? (p) + sizeof(lit) - 1                                        \
         : NULL)

/* An integer token at p: "0" or [1-9][0-9]*, at most 18 digits (always
 * a long long: js_number's limit is not reached), followed by ',' or
 * '}'.  Records it in *v (when v) as js_scan would; returns the byte
 * after it or NULL. */
static const char *tc_int(const char *p, const char *e, js_val *v)
{
    if (!p)
        return NULL;
    const char *q = p;
    while (q < e && q - p <= 18 && *q >= '0' && *q <= '9')
        q++;
    size_t n = (size_t)(q - p);
    if (!n || n > 18 || (n > 1 && *p == '0') || q >= e ||
        (*q != ',' && *q != '}'))
        return NULL;
    if (v)
        *v = (js_val){.type = JS_INT, .p = p, .n = n};
    return q;
}

/* A TokenUsage object as the writers serialise it (serde's field order,
 * no whitespace, cache_write_input_tokens absent), recorded in u[0] (the
 * object) and its schema fields u[1..5] as js_scan records them. */
static const char *tc_usage(const char *p, const char *e, js_val *u)
{
    const char *o = p;
    p = TC_LIT(p, e, "{\"input_tokens\":");
    p = tc_int(p, e, &u[1 + P_IN]);
    p = TC_LIT(p, e, ",\"cached_input_tokens\":");
    p = tc_int(p, e, &u[1 + P_CACHED]);
    p = TC_LIT(p, e, ",\"output_tokens\":");
    p = tc_int(p, e, &u[1 + P_OUT]);
    p = TC_LIT(p, e, ",\"reasoning_output_tokens\":");
    p = tc_int(p, e, &u[1 + P_REAS]);
    p = TC_LIT(p, e, ",\"total_tokens\":");
    p = tc_int(p, e, NULL);
    p = TC_LIT(p, e, "}");
    if (p)
        u[0] = (js_val){.type = JS_OBJ, .p = o, .n = (size_t)(p - o)};
    return p;
}

/* A number as the rate limits carry them: "0" or [1-9][0-9]* (at most
 * 15 digits), optionally "." and 1 to 15 digits (no sign, no exponent:
 * always a valid long long or double), followed by ',' or '}'.  Recorded
 * in *v as js_scan would (JS_INT or JS_REAL). */
static const char *tc_num(const char *p, const char *e, js_val *v)
{
    if (!p)
        return NULL;
    const char *q = p;
    while (q < e && q - p <= 15 && *q >= '0' && *q <= '9')
        q++;
    size_t n = (size_t)(q - p);
    if (!n || n > 15 || (n > 1 && *p == '0'))
        return NULL;
    int real = q < e && *q == '.';
    if (real) {
        const char *f = ++q;
        while (q < e && q - f <= 15 && *q >= '0' && *q <= '9')
            q++;
        if (q == f || q - f > 15)
            return NULL;
    }
    if (q >= e || (*q != ',' && *q != '}'))
        return NULL;
    *v = (js_val){.type = real ? JS_REAL : JS_INT, .p = p,
                  .n = (size_t)(q - p)};
    return q;
}

/* A string of at most 64 bytes of [A-Za-z0-9._:+-] (no escape, nothing
 * to validate) at p (its opening quote), or null; recorded in *v when
 * v.  Returns the byte after it or NULL. */
static const char *tc_word(const char *p, const char *e, js_val *v)
{
    static const unsigned char ok[256] = {
        ['.'] = 1, ['_'] = 1, [':'] = 1, ['+'] = 1, ['-'] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
        ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
        ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
        ['Y'] = 1, ['Z'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
        ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
        ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
        ['y'] = 1, ['z'] = 1,
    };
    const char *q;
    if (!p)
        return NULL;
    if ((q = TC_LIT(p, e, "null"))) {
        if (v)
            *v = (js_val){.type = JS_NULL, .p = p, .n = 4};
        return q;
    }
    if (p >= e || *p != '"')
        return NULL;
    q = ++p;
    while (q < e && q - p <= 64 && ok[(unsigned char)*q])
        q++;
    if (q >= e || *q != '"' || q - p > 64)
        return NULL;
    if (v)
        *v = (js_val){.type = JS_STR, .p = p, .n = (size_t)(q - p)};
    return q + 1;
}

/* true or false at p. */
static const char *tc_bool(const char *p, const char *e)
{
    const char *q = TC_LIT(p, e, "true");
    return q ? q : TC_LIT(p, e, "false");
}

/* A rate-limit window: {"used_percent":N,"window_minutes":I, then
 * "resets_at":I (current CLI) or "resets_in_seconds":I (late 2025)},
 * recorded in w[0] (the object) and w[1 + W_*]. */
static const char *tc_win(const char *p, const char *e, js_val *w)
{
    const char *o = p, *q;
    p = TC_LIT(p, e, "{\"used_percent\":");
    p = tc_num(p, e, &w[1 + W_USED]);
    p = TC_LIT(p, e, ",\"window_minutes\":");
    p = tc_num(p, e, &w[1 + W_MIN]);
    if ((q = TC_LIT(p, e, ",\"resets_at\":")))
        p = tc_num(q, e, &w[1 + W_AT]);
    else
        p = tc_num(TC_LIT(p, e, ",\"resets_in_seconds\":"), e, &w[1 + W_IN]);
    p = TC_LIT(p, e, "}");
    if (p)
        w[0] = (js_val){.type = JS_OBJ, .p = o, .n = (size_t)(p - o)};
    return p;
}

/* The rate_limits value in a shape the CLI has written: null; {"primary":
 * W,"secondary":W} (late 2025); {"limit_id":S,"limit_name":S,"primary":W,
 * "secondary":W,"credits":{"has_credits":B,"unlimited":B,"balance":S},
 * "plan_type":S} (S a plain string or null).  Records v[F_RL..] as
 * js_scan_member would and returns the byte after it, or NULL for any
 * other shape (v[F_RL..] then partly written: js_scan_member resets it). */
static const char *tc_rate_limits(const char *p, const char *e, js_val *v)
{
    const char *o = p, *q;
    if ((q = TC_LIT(p, e, "null"))) {
        v[F_RL] = (js_val){.type = JS_NULL, .p = p, .n = 4};
        return q;
    }
    if ((q = TC_LIT(p, e, "{\"limit_id\":"))) {
        p = tc_word(q, e, NULL);
        p = tc_word(TC_LIT(p, e, ",\"limit_name\":"), e, NULL);
        p = TC_LIT(p, e, ",\"primary\":");
    } else
        p = TC_LIT(p, e, "{\"primary\":");
    p = p ? tc_win(p, e, &v[F_PRIM]) : NULL;
    p = TC_LIT(p, e, ",\"secondary\":");
    p = p ? tc_win(p, e, &v[F_SEC]) : NULL;
    if (p && *o == '{' && o[2] == 'l') {
        const char *c = TC_LIT(p, e, ",\"credits\":");
        p = TC_LIT(c, e, "{\"has_credits\":");
        p = tc_bool(p, e);
        p = tc_bool(TC_LIT(p, e, ",\"unlimited\":"), e);
        p = tc_word(TC_LIT(p, e, ",\"balance\":"), e, &v[F_BALANCE]);
        p = TC_LIT(p, e, "}");
        if (!p || v[F_BALANCE].type != JS_STR)
            return NULL;
        v[F_CREDITS] = (js_val){.type = JS_OBJ, .p = c, .n = (size_t)(p - c)};
        p = tc_word(TC_LIT(p, e, ",\"plan_type\":"), e, NULL);
    }
    p = TC_LIT(p, e, "}");
    if (p)
        v[F_RL] = (js_val){.type = JS_OBJ, .p = o, .n = (size_t)(p - o)};
    return p;
}

/* The token_count line in the exact shape the Codex CLI writes it
 * (key order, no whitespace, no escapes, integers in the usage objects,
 * the rate limits in a shape the CLI has written, else left to the
 * scanner): fills v[] exactly as
 * js_scan(&schema, line, len, v) does, and returns 0; -1 for any other
 * line (js_scan then decides, as for every line before).  It accepts
 * only what js_scan accepts: the literals and digits it matches are
 * valid JSON by construction and the rest is js_scan_member's.
 * t/unit/codex_fastscan.c holds it to js_scan on real and generated
 * lines, truncated and mutated byte by byte. */
static int scan_token_count(const char *line, size_t len, js_val *v)
{
    const char *p = line, *e = line + len, *q;
    memset(v, 0, F_N * sizeof *v);
    p = TC_LIT(p, e, "{\"timestamp\":\"");
    if (!p)
        return -1;
    size_t w = word_at(p, (size_t)(e - p), W_TS);
    if (!w)
        return -1;
    v[F_TS] = (js_val){.type = JS_STR, .p = p, .n = w};
    p += w;
    p = TC_LIT(p, e, "\",\"type\":\"");
    if (!p)
        return -1;
    v[F_TYPE] = (js_val){.type = JS_STR, .p = p, .n = 9};
    p = TC_LIT(p, e, "event_msg\",\"payload\":");
    const char *payload = p;
    p = TC_LIT(p, e, "{\"type\":\"");
    if (!p)
        return -1;
    v[F_PTYPE] = (js_val){.type = JS_STR, .p = p, .n = 11};
    p = TC_LIT(p, e, "token_count\",\"info\":");
    if ((q = TC_LIT(p, e, "null"))) {
        v[F_INFO] = (js_val){.type = JS_NULL, .p = p, .n = 4};
        p = q;
    } else {
        const char *info = p;
        p = TC_LIT(p, e, "{\"total_token_usage\":");
        p = p ? tc_usage(p, e, &v[F_TOT]) : NULL;
        p = TC_LIT(p, e, ",\"last_token_usage\":");
        p = p ? tc_usage(p, e, &v[F_LAST]) : NULL;
        p = TC_LIT(p, e, ",\"model_context_window\":");
        p = tc_int(p, e, NULL);
        p = TC_LIT(p, e, "}");
        if (!p)
            return -1;
        v[F_INFO] = (js_val){.type = JS_OBJ, .p = info, .n = (size_t)(p - info)};
    }
    p = TC_LIT(p, e, ",\"rate_limits\":");
    if (!p)
        return -1;
    /* the shapes the CLI writes, else the scanner (a member of payload:
     * the root object is depth 1, payload's value 2, its members 3) */
    q = tc_rate_limits(p, e, v);
    p = q ? q : js_scan_member(&schema, F_RL, 3, p, e, v);
    p = TC_LIT(p, e, "}");
    if (!p)
        return -1;
    v[F_PAYLOAD] = (js_val){.type = JS_OBJ, .p = payload,
                            .n = (size_t)(p - payload)};
    return p + 1 == e && *p == '}' ? 0 : -1;
}

static int parse_line(const ls_parse_env *env, ls_sink *out, ls_pstate *ps,
                      const char *line, size_t len)
{
    js_val v[F_N];
    if ((scan_token_count(line, len, v) != 0 &&
         js_scan(&schema, line, len, v)) ||
        v[F_TYPE].type != JS_STR ||
        v[F_PAYLOAD].type != JS_OBJ)
        return 0; /* malformed or not an event line */
    if (js_streq(&v[F_TYPE], "turn_context"))
        return set_model(out, &v[F_PMODEL]);
    if (js_streq(&v[F_TYPE], "event_msg") && v[F_TS].type == JS_STR &&
        js_streq(&v[F_PTYPE], "token_count")) {
        char buf[128], *ts = js_str(&v[F_TS], buf, sizeof buf, NULL);
        double t;
        if (!ts)
            return -1;
        int rc = 0;
        if (ls_parse_ts(env->h, ts, &t) == 0)
            rc = on_token_count(env, out, ps, v, t);
        if (ts != buf)
            free(ts);
        return rc;
    }
    return 0;
}

static int apply_rec(ls_state *st, uint32_t fi, ls_pstate *ps, const void *rec,
                     size_t n, void *user)
{
    cx_run *run = user;
    uint32_t tag;
    memcpy(&tag, rec, sizeof tag);
    if (tag == R_MODEL) {
        rec_model r;
        memcpy(&r, rec, n < sizeof r ? n : sizeof r);
        r.name[r.len] = '\0';
        ps->model = ls_model(st, r.name);
    } else if (tag == R_SNAP) {
        rec_snap r;
        memcpy(&r, rec, sizeof r);
        if (run->snap->have && r.s.at < run->snap->at)
            return 0; /* an older snapshot than the one we have */
        *run->snap = r.s;
        run->snap_changed = 1;
    } else if (tag == R_DELTA) {
        rec_delta r;
        memcpy(&r, rec, sizeof r);
        r.e.file = fi;
        r.e.model = ps->model ? (uint16_t)ps->model
                              : ls_model(st, CX_FALLBACK_MODEL);
        run->events++;
        ls_add(st, &r.e);
    }
    return 0;
}

/* ---- roots ---- */

static int accept_rollout(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "rollout-", 8) == 0 && n > 6 &&
           strcmp(name + n - 6, ".jsonl") == 0;
}

static int accept_jsonl(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".jsonl") == 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* "root/name" (caller frees). */
static char *xid(const char *root, const char *name)
{
    size_t n = strlen(root) + strlen(name) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", root, name);
    return s;
}

/* The identity of a rollout is ROOT + its file name, so that a session
 * moved to archived_sessions/ keeps its index record (and its inode: no
 * rescan), and the sessions/ copy wins over an archived one. */
static void walk_root(const char *root, ls_list *found, unsigned threads)
{
    char p[4200];
    size_t first = found->n;
    snprintf(p, sizeof p, "%s/sessions", root);
    ls_walk_n(p, accept_rollout, found, threads);
    size_t n_sessions = found->n;
    snprintf(p, sizeof p, "%s/archived_sessions", root);
    ls_walk(p, 0, accept_jsonl, found, 0);
    size_t w = n_sessions;
    for (size_t i = n_sessions; i < found->n; i++) {
        int dup = 0;
        for (size_t k = first; k < n_sessions && !dup; k++)
            dup = strcmp(base_name(found->v[k].real),
                         base_name(found->v[i].real)) == 0;
        if (dup) {
            free(found->v[i].real);
            continue;
        }
        found->v[w++] = found->v[i];
    }
    found->n = w;
    for (size_t i = first; i < found->n; i++)
        found->v[i].id = xid(root, base_name(found->v[i].real));
}

static size_t collect_files(const md_host *h, md_ctx *ctx, ls_list *found,
                            char *note, size_t note_len,
                            unsigned threads)
{
    size_t n = 0, used = 0;
    const char *const *list = h->opt_list(ctx, "roots", &n);
    const char *items[64];
    size_t n_items = 0;
    char *env_copy = NULL;
    static char def[4096];
    note[0] = '\0';
    if (list && n) {
        for (size_t i = 0; i < n && n_items < 64; i++)
            items[n_items++] = list[i];
    } else if (getenv("CODEX_HOME") && *getenv("CODEX_HOME")) {
        env_copy = ls_strdup(getenv("CODEX_HOME"));
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
        const char *home = getenv("HOME");
        snprintf(def, sizeof def, "%s/.codex", home ? home : "");
        items[n_items++] = def;
    }
    for (size_t i = 0; i < n_items; i++) {
        char root[3072];
        const char *home = getenv("HOME");
        if (home && strncmp(items[i], "~/", 2) == 0)
            snprintf(root, sizeof root, "%s%s", home, items[i] + 1);
        else
            snprintf(root, sizeof root, "%s", items[i]);
        struct stat sb;
        if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        used++;
        walk_root(root, found, threads);
        size_t l = strlen(note);
        if (snprintf(note + l, note_len - l, "%s%s", l ? ", " : "", root) >=
            (int)(note_len - l))
            note[note_len - 1] = '\0'; /* the note is cut; the scan is not */
    }
    free(env_copy);
    return used;
}

/* ---- metrics ---- */

static void emit_snapshot(const md_host *h, md_ctx *ctx, const rl_snap *s,
                          double now)
{
    if (!s->have)
        return;
    for (int i = 0; i < 2; i++) {
        const rl_win *w = &s->w[i];
        if (!(w->known & 1u))
            continue;
        const char *id = i == 0 ? "five_hour" : "seven_day";
        if ((w->known & 2u) && w->window_min == 10080)
            id = "seven_day";
        else if ((w->known & 2u) && w->window_min == 300)
            id = "five_hour";
        else if (w->known & 2u)
            id = i == 0 ? "primary_window" : "secondary_window";
        md_metric m = {0};
        m.id = id;
        m.kind = "quota_window";
        m.unit = "percent";
        m.utilization = MD_NUM(w->used);
        if (w->known & 2u)
            m.window_seconds = MD_NUM(w->window_min * 60);
        if (w->known & 4u)
            m.resets_at = MD_TIME(w->resets_at);
        m.confidence = MD_EXACT;
        m.source = "local_log";
        m.collected_at = MD_TIME(s->at);
        MD_EMIT(h, ctx, &m);
    }
    if (s->credits_known) {
        md_metric m = {0};
        m.id = "credits";
        m.kind = "credits";
        m.unit = "credits";
        m.remaining = MD_NUM(s->credits);
        m.source = "local_log";
        m.collected_at = MD_TIME(s->at);
        MD_EMIT(h, ctx, &m);
    }
    char when[32];
    time_t tt = (time_t)s->at;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    h->note(ctx, "rate limits: snapshot from %s (the last Codex request)", when);
    if (now - s->at > 3600)
        h->note(ctx, "rate-limit snapshot is stale: %.1f hours old; usage "
                "since then (other devices, the web) is not reflected",
                (now - s->at) / 3600.0);
}

/* ---- collect ---- */

static int codex_collect(const md_host *h, md_ctx *ctx, void *unused)
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
    if (schema_ok < 0)
        schema_ok = js_schema_init(&schema, fields, F_N);
    if (schema_ok != 0) {
        h->fail(ctx, MD_ERR_INTERNAL, "internal: bad field table");
        close(lock);
        return -1;
    }
    ls_state st;
    memset(&st, 0, sizeof st);
    st.fd_state = -1;
    ls_load(&st, dir);
    st.markers[0] = "\"token_count\"";
    st.markers[1] = "\"turn_context\"";
    st.n_markers = 2;
    rl_snap snap;
    memset(&snap, 0, sizeof snap);
    if (st.blob_len == sizeof snap)
        memcpy(&snap, st.blob, sizeof snap);
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
    cx_run run = {&snap, 0, 0};
    ls_plugin_fns fns = {.parse = parse_line, .apply = apply_rec,
                         .classify = classify_line, .conf = NULL,
                         .user = &run};
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
    if (run.snap_changed) {
        unsigned char *b = realloc(st.blob, sizeof snap);
        if (b) {
            memcpy(b, &snap, sizeof snap);
            st.blob = b;
            st.blob_len = sizeof snap;
            st.dirty = 1;
        }
    }
    st.h.complete = res.complete;
    int missing = !n_roots && st.n_cells == 0;
    if (!saving && st.dirty) {
        ls_save_start(&saver, &st, dir);
        saving = 1;
    }
    if (saving)
        ls_save_release(&saver, 1);
    if (!missing) {
        ls_put_usage(h, ctx, &st, st.changed, st.min_changed);
        ls_emit_periods(h, ctx, &st, now, 1, 1);
        emit_snapshot(h, ctx, &snap, now);
        ls_report(h, ctx, &st, &res, n_roots, roots, CODEX_MISSING,
                  run.events, "token_count deltas counted",
                  "estimated from local logs: usage from other devices or "
                  "the web is not included");
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
        h->fail(ctx, MD_ERR_CONFIG, "%s", CODEX_MISSING);
        ls_clear(&st);
        close(lock);
        return -1;
    }
    ls_clear(&st);
    close(lock);
    return 0;
}

/* Environment variables this plugin reads (md_plugin.env). */
static const char *const codex_logs_env[] = {"CODEX_HOME", NULL};

static const md_plugin codex_logs_plugin = {
    MD_PLUGIN_HEADER,
    .name = "codex_logs",
    .version = "1.0",
    .description = "Codex CLI token usage and rate-limit snapshot from local "
                   "rollouts (incremental)",
    .default_source = "local_log",
    .options = codex_options,
    .collect = codex_collect,
    .produces = MD_PRODUCES_METERS | MD_PRODUCES_USAGE_CELLS,
    .env = codex_logs_env,
};

MD_PLUGIN_DEFINE(codex_logs_plugin)
