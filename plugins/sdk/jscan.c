/*
 * plugins/sdk/jscan.c - the JSON field extractor (see jscan.h for the
 * acceptance rules and the invariants).
 */
#include "jscan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int js_schema_init(js_schema *s, const js_field *f, int n)
{
    if (n < 0 || n > JS_MAX_FIELDS)
        return -1;
    memset(s, 0, sizeof *s);
    s->f = f;
    s->n = n;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(f[i].key);
        if (l > 255 || f[i].parent >= i || f[i].parent < -1)
            return -1;
        s->klen[i] = (unsigned char)l;
        if (f[i].parent >= 0)
            s->has_kids[f[i].parent] = 1;
        s->last_desc[i] = i;
    }
    for (int i = n - 1; i >= 0; i--) {
        int p = f[i].parent;
        if (p >= 0 && s->last_desc[i] > s->last_desc[p])
            s->last_desc[p] = s->last_desc[i];
    }
    int k = 0;
    for (int p = -1; p < n; p++) {
        s->kid0[p + 1] = (unsigned char)k;
        for (int i = 0; i < n; i++)
            if (f[i].parent == p)
                s->kids[k++] = (unsigned char)i;
    }
    s->kid0[n + 1] = (unsigned char)k;
    /* depth-first: every index between i and last_desc[i] descends from i */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j <= s->last_desc[i]; j++) {
            int a = f[j].parent;
            while (a > i)
                a = f[a].parent;
            if (a != i)
                return -1;
        }
    return 0;
}

/* ---- lexical pieces ---- */

static const char *js_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int js_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* One escape at p (p[0] == '\\'): returns the byte after it or NULL.
 * *cp is the code point (surrogate pairs combined). */
static const char *js_escape(const char *p, const char *e, unsigned *cp)
{
    if (e - p < 2)
        return NULL;
    switch (p[1]) {
    case '"': *cp = '"'; return p + 2;
    case '\\': *cp = '\\'; return p + 2;
    case '/': *cp = '/'; return p + 2;
    case 'b': *cp = '\b'; return p + 2;
    case 'f': *cp = '\f'; return p + 2;
    case 'n': *cp = '\n'; return p + 2;
    case 'r': *cp = '\r'; return p + 2;
    case 't': *cp = '\t'; return p + 2;
    case 'u': break;
    default: return NULL;
    }
    unsigned v, v2;
    if (e - p < 6 || js_hex4(p + 2, &v))
        return NULL;
    p += 6;
    if (v >= 0xDC00 && v <= 0xDFFF)
        return NULL;        /* lone low surrogate */
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || js_hex4(p + 2, &v2) ||
            v2 < 0xDC00 || v2 > 0xDFFF)
            return NULL;    /* high surrogate without its low half */
        v = ((v - 0xD800) << 10) + (v2 - 0xDC00) + 0x10000;
        p += 6;
    }
    if (v == 0)
        return NULL;        /* \u0000: jansson rejects NUL in strings */
    *cp = v;
    return p;
}

/* One UTF-8 sequence at p (*p >= 0x80): the byte after it or NULL. */
static const char *js_utf8(const char *p, const char *e)
{
    const unsigned char *u = (const unsigned char *)p;
    unsigned c = u[0], n, v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else
        return NULL;
    if ((size_t)(e - p) < n)
        return NULL;
    for (unsigned i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return NULL;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ||
        (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
        return NULL;
    return p + n;
}

/* The closing quote of a string whose body starts at p, validating it;
 * NULL when malformed or unterminated.  *esc |= 1 when it has escapes. */
static inline __attribute__((always_inline)) const char *
js_str_end(const char *p, const char *e, int *esc)
{
    for (;;) {
#if defined(__SSE2__)
        const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\'),
                      sp = _mm_set1_epi8(0x20);
        while (e - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            /* signed compare: bytes >= 0x80 are negative, so "< 0x20"
             * catches control characters and non-ASCII alike */
            __m128i m = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, b)),
                _mm_cmplt_epi8(v, sp));
            int bits = _mm_movemask_epi8(m);
            if (bits) {
                p += __builtin_ctz((unsigned)bits);
                break;
            }
            p += 16;
        }
#endif
        while (p < e) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            p++;
        }
        if (p >= e)
            return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p;
        if (c == '\\') {
            unsigned cp;
            p = js_escape(p, e, &cp);
            if (!p)
                return NULL;
            *esc = 1;
        } else if (c < 0x20)
            return NULL;
        else {
            p = js_utf8(p, e);
            if (!p)
                return NULL;
        }
    }
}

/* Eight bytes at p as a little-endian word (unaligned). */
static inline uint64_t js_load8(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* How many ASCII digits p[0..e) starts with; eight at a time: a byte is
 * a digit when its high nibble is 3 both as it is and plus 6 (a carry
 * out of a non-digit byte only alters the bytes after it). */
static inline size_t js_digits(const char *p, const char *e)
{
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull, three = 0x3030303030303030ull;
    size_t n = 0;
    while (e - p - (ptrdiff_t)n >= 8) {
        uint64_t x = js_load8(p + n);
        uint64_t bad = ((x & hi) ^ three) | (((x + 0x0606060606060606ull) & hi) ^ three);
        if (bad)
            return n + (size_t)__builtin_ctzll(bad) / 8;
        n += 8;
    }
    while (p + n < e && p[n] >= '0' && p[n] <= '9')
        n++;
    return n;
}

/* The value of eight ASCII digits at p (the usual SWAR reduction: pairs,
 * then quads, then the eight). */
static inline uint64_t js_eight(const char *p)
{
    uint64_t v = js_load8(p) - 0x3030303030303030ull;
    v = v * 10 + (v >> 8);
    v = (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
    return v & 0xFFFFFFFFull;
}

/* A number at p: the byte after it or NULL; *real set when it has a
 * fraction or exponent.  Overflow rules as jansson's. */
static const char *js_number(const char *p, const char *e, int *real)
{
    const char *s = p, *d0;
    int neg = 0;
    *real = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    d0 = p;
    if (p < e && *p == '0') {
        p++;
        if (p < e && *p >= '0' && *p <= '9')
            return NULL;
    } else if (p < e && *p >= '1' && *p <= '9') {
        p += js_digits(p, e);
    } else
        return NULL;
    size_t ndig = (size_t)(p - d0);
    int has_exp = 0;
    if (p < e && *p == '.') {
        *real = 1;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        p += js_digits(p, e);
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        *real = has_exp = 1;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (!*real) {
        /* jansson: strtoll with ERANGE -> "too big integer" */
        const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
        if (ndig > 19 || (ndig == 19 && memcmp(d0, lim, 19) > 0))
            return NULL;
        return p;
    }
    if (has_exp || (size_t)(p - s) > 300) {
        /* jansson: strtod overflow -> "real number overflow" */
        size_t n = (size_t)(p - s);
        char buf[128], *t = n < sizeof buf ? buf : malloc(n + 1);
        if (!t)
            return NULL;
        memcpy(t, s, n);
        t[n] = '\0';
        errno = 0;
        double v = strtod(t, NULL);
        int over = (v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE;
        if (t != buf)
            free(t);
        if (over)
            return NULL;
    }
    return p;
}

static const char *js_lit(const char *p, const char *e, const char *w,
                          size_t n)
{
    return (size_t)(e - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

/* Skip one value at p (first byte of the value) at depth `depth`,
 * validating it.  Returns the byte after it or NULL. */
static const char *js_skip(const char *p, const char *e, int depth)
{
    unsigned char objbits[JS_MAX_DEPTH / 8 + 1];
    int sp = 0, esc = 0, real;
value:
    if (depth > JS_MAX_DEPTH || p >= e)
        return NULL;
    switch (*p) {
    case '"':
        p = js_str_end(p + 1, e, &esc);
        if (!p)
            return NULL;
        p++;
        break;
    case '{':
    case '[': {
        int obj = *p == '{';
        p = js_ws(p + 1, e);
        if (p < e && *p == (obj ? '}' : ']')) {
            p++;
            break;
        }
        if (sp >= JS_MAX_DEPTH)
            return NULL;
        if (obj)
            objbits[sp / 8] |= (unsigned char)(1u << (sp % 8));
        else
            objbits[sp / 8] &= (unsigned char)~(1u << (sp % 8));
        sp++;
        depth++;
        if (obj)
            goto key;
        goto value;
    }
    case 't':
        p = js_lit(p, e, "true", 4);
        break;
    case 'f':
        p = js_lit(p, e, "false", 5);
        break;
    case 'n':
        p = js_lit(p, e, "null", 4);
        break;
    default:
        p = js_number(p, e, &real);
        break;
    }
    if (!p)
        return NULL;
after:
    if (!sp)
        return p;
    p = js_ws(p, e);
    if (p >= e)
        return NULL;
    {
        int obj = (objbits[(sp - 1) / 8] >> ((sp - 1) % 8)) & 1;
        if (*p == ',') {
            p = js_ws(p + 1, e);
            if (obj)
                goto key;
            goto value;
        }
        if (*p != (obj ? '}' : ']'))
            return NULL;
        p++;
        sp--;
        depth--;
        goto after;
    }
key:
    if (p >= e || *p != '"')
        return NULL;
    p = js_str_end(p + 1, e, &esc);
    if (!p)
        return NULL;
    p = js_ws(p + 1, e);
    if (p >= e || *p != ':')
        return NULL;
    p = js_ws(p + 1, e);
    goto value;
}

/* Decode the escapes of raw string body s[0..n) (already validated) into
 * d (room for n + 1 bytes); returns the decoded length. */
static size_t js_unescape(const char *s, size_t n, char *d)
{
    const char *e = s + n;
    size_t o = 0;
    while (s < e) {
        if (*s != '\\') {
            d[o++] = *s++;
            continue;
        }
        unsigned cp = 0;
        s = js_escape(s, e, &cp);
        if (!s)
            break; /* cannot happen on a validated string */
        if (cp < 0x80)
            d[o++] = (char)cp;
        else if (cp < 0x800) {
            d[o++] = (char)(0xC0 | (cp >> 6));
            d[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            d[o++] = (char)(0xE0 | (cp >> 12));
            d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            d[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            d[o++] = (char)(0xF0 | (cp >> 18));
            d[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            d[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            d[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    d[o] = '\0';
    return o;
}

/* ---- the walk ---- */

/* a[0..n) == b[0..n) for the short keys of a schema: a loop, not a
 * call to memcmp per key of every line */
static inline int js_same(const char *a, const char *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    for (; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

typedef struct js_run {
    const js_schema *s;
    js_val *out;
    const char *e;
} js_run;

/* Record the value at p for field i (or skip it when i < 0).  Returns the
 * byte after the value or NULL. */
static const char *js_member(js_run *r, const char *p, int i, int depth);

/* Object body after '{' at depth `depth` whose members are matched against
 * the children of field `parent` (-1 root). */
static const char *js_object(js_run *r, const char *p, int parent, int depth)
{
    const js_schema *s = r->s;
    const char *e = r->e;
    p = js_ws(p, e);
    if (p < e && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= e || *p != '"')
            return NULL;
        const char *k = p + 1;
        int esc = 0;
        const char *ke = js_str_end(k, e, &esc);
        if (!ke)
            return NULL;
        size_t kl = (size_t)(ke - k);
        char kb[256];
        if (esc && kl < sizeof kb) {
            kl = js_unescape(k, kl, kb);
            k = kb;
        } else if (esc)
            kl = SIZE_MAX; /* too long to be one of ours */
        int hit = -1;
        for (int j = s->kid0[parent + 1]; j < s->kid0[parent + 2]; j++) {
            int i = s->kids[j];
            if (s->klen[i] == kl && s->f[i].key[0] == k[0] &&
                js_same(s->f[i].key, k, kl)) {
                hit = i;
                break;
            }
        }
        p = js_ws(ke + 1, e);
        if (p >= e || *p != ':')
            return NULL;
        p = js_ws(p + 1, e);
        p = js_member(r, p, hit, depth + 1);
        if (!p)
            return NULL;
        p = js_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == '}')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = js_ws(p + 1, e);
    }
}

static const char *js_member(js_run *r, const char *p, int i, int depth)
{
    const char *e = r->e;
    if (i < 0)
        return js_skip(p, e, depth);
    const js_schema *s = r->s;
    /* last occurrence wins: forget what an earlier one gave */
    if (s->last_desc[i] == i)
        r->out[i] = (js_val){.type = JS_ABSENT};
    else
        memset(&r->out[i], 0,
               (size_t)(s->last_desc[i] - i + 1) * sizeof r->out[0]);
    js_val *v = &r->out[i];
    const char *q;
    if (depth > JS_MAX_DEPTH || p >= e)
        return NULL;
    v->p = p;
    switch (*p) {
    case '{':
        v->type = JS_OBJ;
        q = s->has_kids[i] ? js_object(r, p + 1, i, depth) : js_skip(p, e, depth);
        break;
    case '[':
        v->type = JS_ARR;
        q = js_skip(p, e, depth);
        break;
    case '"': {
        int esc = 0;
        q = js_str_end(p + 1, e, &esc);
        if (!q)
            return NULL;
        v->type = JS_STR;
        v->esc = (unsigned char)esc;
        v->p = p + 1;
        v->n = (size_t)(q - (p + 1));
        return q + 1;
    }
    case 't':
        v->type = JS_TRUE;
        q = js_lit(p, e, "true", 4);
        break;
    case 'f':
        v->type = JS_FALSE;
        q = js_lit(p, e, "false", 5);
        break;
    case 'n':
        v->type = JS_NULL;
        q = js_lit(p, e, "null", 4);
        break;
    default: {
        int real;
        q = js_number(p, e, &real);
        v->type = real ? JS_REAL : JS_INT;
        break;
    }
    }
    if (q)
        v->n = (size_t)(q - p);
    return q;
}

int js_scan(const js_schema *s, const char *line, size_t len, js_val *out)
{
    js_run r = {s, out, line + len};
    memset(out, 0, (size_t)s->n * sizeof *out);
    const char *p = js_ws(line, r.e);
    if (p >= r.e || *p != '{')
        return -1;
    p = js_object(&r, p + 1, -1, 1);
    if (!p)
        return -1;
    return js_ws(p, r.e) == r.e ? 0 : -1;
}

const char *js_scan_member(const js_schema *s, int i, int depth,
                           const char *p, const char *e, js_val *out)
{
    js_run r = {s, out, e};
    return js_member(&r, p, i, depth);
}

/* ---- values ---- */

char *js_str(const js_val *v, char *buf, size_t cap, size_t *len)
{
    char *d = v->n < cap ? buf : malloc(v->n + 1);
    if (!d)
        return NULL;
    size_t n;
    if (v->esc)
        n = js_unescape(v->p, v->n, d);
    else {
        memcpy(d, v->p, v->n);
        d[v->n] = '\0';
        n = v->n;
    }
    if (len)
        *len = n;
    return d;
}

int js_streq(const js_val *v, const char *lit)
{
    if (v->type != JS_STR)
        return 0;
    size_t n = strlen(lit);
    if (!v->esc)
        return v->n == n && memcmp(v->p, lit, n) == 0;
    char buf[256];
    if (v->n >= sizeof buf)
        return 0;
    size_t m = js_unescape(v->p, v->n, buf);
    return m == n && memcmp(buf, lit, n) == 0;
}

long long js_int(const js_val *v)
{
    const char *p = v->p, *e = v->p + v->n;
    int neg = p < e && *p == '-';
    unsigned long long a = 0;
    for (p += neg; e - p >= 8; p += 8)
        a = a * 100000000ull + js_eight(p);
    for (; p < e; p++)
        a = a * 10 + (unsigned)(*p - '0');
    return neg ? (long long)(0 - a) : (long long)a;
}

int js_decimal(const char *s, size_t n, double *out)
{
    /* Exact powers of ten: 10^22 is the largest a double holds exactly. */
    static const double p10[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s, *e = s + n;
    int neg = p < e && *p == '-';
    p += neg;
    uint64_t m = 0;
    size_t digits = 0, frac = 0;
    int dot = 0;
    for (; p < e; p++) {
        unsigned d = (unsigned)(unsigned char)*p - '0';
        if (d <= 9) {
            if (m > ((uint64_t)1 << 53) / 10)
                return -1; /* more than a double's exact integers */
            m = m * 10 + d;
            digits++;
            frac += (size_t)dot;
        } else if (*p == '.' && !dot && digits)
            dot = 1;
        else
            return -1;
    }
    if (!digits || (dot && !frac) || m > ((uint64_t)1 << 53) ||
        frac >= sizeof p10 / sizeof p10[0])
        return -1;
    /* m and 10^frac are exact doubles and IEEE division rounds correctly
     * to nearest: the very double strtod returns for this text. */
    double v = (double)m / p10[frac];
    *out = neg ? -v : v;
    return 0;
}

double js_double(const js_val *v)
{
    if (v->type == JS_INT)
        return (double)js_int(v);
    double d;
    if (js_decimal(v->p, v->n, &d) == 0)
        return d;
    char buf[128], *t = v->n < sizeof buf ? buf : malloc(v->n + 1);
    if (!t)
        return NAN;
    memcpy(t, v->p, v->n);
    t[v->n] = '\0';
    d = strtod(t, NULL);
    if (t != buf)
        free(t);
    return d;
}

int js_is_num(const js_val *v)
{
    return v->type == JS_INT || v->type == JS_REAL;
}
