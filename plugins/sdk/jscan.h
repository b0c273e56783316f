/*
 * plugins/sdk/jscan.h - a validating, non-allocating JSON field extractor
 * for one JSONL line (libc only).  Private to libmeterd-plugin.a (the log
 * plugins use it); not installed, not part of meterd/util.h.
 *
 * Why: the log plugins need about twenty scalar fields out of lines that
 * are mostly message content and tool output (often MiBs).  A DOM parser
 * materialises every string and object of the line; jscan walks the line
 * once, descends only into the objects named by a schema, records the
 * requested members as raw tokens (pointer + length into the line) and
 * skips everything else with a validating skip (strings 16 bytes at a time
 * with SSE2, containers with a bit stack).
 *
 * Acceptance is that of jansson's json_loadb(buf, len, 0, ...) (the parser
 * the plugins used before, whose results were checked against ccusage 20),
 * so a line is used exactly when it was used before:
 *   - the top-level value must be an object (jansson without
 *     JSON_DECODE_ANY also takes arrays, which the plugins never use);
 *     whitespace is space, tab, CR, LF; nothing but whitespace may follow;
 *   - strings: no raw control characters (< 0x20), escapes \" \\ \/ \b \f
 *     \n \r \t \uXXXX only, surrogates only as a high+low pair, no \u0000
 *     (jansson rejects NUL without JSON_ALLOW_NUL, in keys and values);
 *     the raw bytes must be valid UTF-8 (no overlongs, no encoded
 *     surrogates, nothing above U+10FFFF);
 *   - numbers: JSON grammar; an integer (no fraction, no exponent) must fit
 *     a long long, a real must not overflow a double (jansson: "too big
 *     integer", "real number overflow");
 *   - nesting: at most JS_MAX_DEPTH levels of values (jansson's
 *     JSON_PARSER_MAX_DEPTH, scalars count as a level);
 *   - duplicate keys: the last occurrence wins (jansson's default); when a
 *     schema object appears twice, everything extracted from the first is
 *     forgotten.  (serde_json derive structs would reject a duplicate known
 *     field instead; jansson's rule is kept so that results do not change.)
 *   - keys are compared after unescaping ("\u0074ype" is "type").
 * t/unit/jscan.c checks this acceptance against jansson itself on fixed
 * cases and on random mutations of real log lines.
 *
 * Use:
 *     static const js_field F[] = {{"timestamp", -1}, {"message", -1},
 *                                  {"id", 1}, ...};   (depth-first order)
 *     js_schema sc; js_schema_init(&sc, F, n);        (once)
 *     js_val v[n];
 *     if (js_scan(&sc, line, len, v) == 0) ... v[i].type ...
 *
 * Ownership: js_val points into the caller's line (valid while the line
 * is); js_str() returns the caller's buffer or a malloc'ed copy (free it
 * when it differs from the buffer).
 */

#ifndef METERD_JSCAN_H
#define METERD_JSCAN_H

#include <stddef.h>

#define JS_MAX_DEPTH 2048   /* jansson's JSON_PARSER_MAX_DEPTH          */
#define JS_MAX_FIELDS 64

enum js_type {
    JS_ABSENT = 0,
    JS_NULL,
    JS_FALSE,
    JS_TRUE,
    JS_INT,     /* number without fraction or exponent (fits long long) */
    JS_REAL,    /* number with fraction or exponent                     */
    JS_STR,
    JS_OBJ,
    JS_ARR
};

typedef struct js_field {
    const char *key;
    int parent;         /* index of the parent field, -1 for the root    */
} js_field;

typedef struct js_val {
    unsigned char type; /* enum js_type                                  */
    unsigned char esc;  /* string: contains backslash escapes            */
    const char *p;      /* token (strings: first byte after the quote)   */
    size_t n;           /* token length (strings: raw, without quotes)   */
} js_val;

typedef struct js_schema {
    const js_field *f;
    int n;
    unsigned char klen[JS_MAX_FIELDS];
    unsigned char has_kids[JS_MAX_FIELDS];
    int last_desc[JS_MAX_FIELDS];   /* last index of i's subtree          */
    /* children of field p (p = -1 for the root) are
     * kids[kid0[p + 1] .. kid0[p + 2]) */
    unsigned char kid0[JS_MAX_FIELDS + 2];
    unsigned char kids[JS_MAX_FIELDS];
} js_schema;

/* Prepare a schema: fields in depth-first order (a field's descendants
 * follow it contiguously), parents before children, keys < 256 bytes.
 * Returns 0 or -1 when the table breaks these rules. */
int js_schema_init(js_schema *s, const js_field *f, int n);

/* Scan line[0..len): 0 when it is one valid JSON object (out[] filled,
 * JS_ABSENT for fields not present), -1 otherwise (out[] undefined). */
int js_scan(const js_schema *s, const char *line, size_t len, js_val *out);

/* js_scan for one member's value: the value at p (its first byte) as
 * field i of s, nested at depth (the root object's members' values are at
 * 2, theirs at 3, ...), validated and recorded exactly as js_scan records
 * it there (out[i] and its descendants are reset first; nothing else of
 * out is touched).  Returns the byte after the value, or NULL when it is
 * not valid JSON.  For a caller that matches the rest of a known line
 * layout itself and leaves one part of it to the scanner. */
const char *js_scan_member(const js_schema *s, int i, int depth,
                           const char *p, const char *e, js_val *out);

/* The decoded string of v (JS_STR) in buf when it fits (cap bytes), else
 * in a malloc'ed copy; NULL on allocation failure.  NUL-terminated;
 * *len (optional) is its length.  The result never contains NUL. */
char *js_str(const js_val *v, char *buf, size_t cap, size_t *len);

/* Does string v equal lit (decoded)?  lit shorter than 40 bytes: an
 * escaped raw body of 256 bytes or more decodes to at least 42. */
int js_streq(const js_val *v, const char *lit);

/* JS_INT value (validated to fit a long long). */
long long js_int(const js_val *v);

/* The double strtod gives for a plain decimal s[0..n) ("-"? digits, then
 * optionally "." and digits), computed without strtod when its digits
 * make an integer of at most 2^53 and it has at most 22 decimals (the
 * quotient of two exact doubles, rounded once).  Returns 0 and *out, or
 * -1 for any other text (the caller uses strtod). */
int js_decimal(const char *s, size_t n, double *out);

/* JS_INT or JS_REAL as a double (what json_number_value gives). */
double js_double(const js_val *v);

/* 1 when v is a number (JS_INT or JS_REAL), else 0. */
int js_is_num(const js_val *v);

#endif
