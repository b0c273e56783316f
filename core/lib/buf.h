/*
 * buf.h - a growable byte buffer with a size cap (the one string builder
 * of the core).
 *
 * Invariants:
 *   - b->s is NULL (nothing written yet) or a malloc'd array of b->alloc
 *     bytes holding b->len bytes of content followed by a NUL, so the
 *     content can always be used as a C string (buf_str());
 *   - b->len <= b->max: an append that would make the content longer than
 *     the cap given to buf_init() fails with -1, leaves the content as it
 *     was, and marks the buffer failed; every later append then fails too,
 *     so a run of appends can be checked once at the end (buf_failed()).
 *     Only buf_clear() or buf_release()+buf_init() make it usable again;
 *   - the buffer owns b->s until buf_take() hands it to the caller.
 * Allocation failures abort (as every allocation helper of meterd does);
 * the cap is about refusing untrusted or runaway input, not about memory.
 *
 * Usage:
 *     buf b;
 *     buf_init(&b, 64 * 1024);
 *     buf_addstr(&b, "key: ");
 *     buf_printf(&b, "%d\n", 42);
 *     if (buf_failed(&b)) ...too big...
 *     char *s = buf_take(&b);   // caller frees; b is empty again
 */
#ifndef METERD_BUF_H
#define METERD_BUF_H

#include <stddef.h>
#include "meterd/plugin.h"   /* MD_PRINTF */

typedef struct buf {
    char *s;        /* owned; NULL until something is written */
    size_t len;     /* content bytes, without the terminating NUL */
    size_t alloc;   /* bytes allocated at s */
    size_t max;     /* cap on len */
    int failed;     /* an append hit the cap */
} buf;

/* Empty buffer whose content may grow to at most max bytes. */
void buf_init(buf *b, size_t max);
/* Free the content; b must be buf_init()ed again before reuse. */
void buf_release(buf *b);
/* Empty again (same cap, failure forgotten), ready for reuse. */
void buf_clear(buf *b);

/* Append n bytes / a C string / formatted text.  0, or -1 when the
 * content would exceed the cap or the buffer has already failed. */
int buf_add(buf *b, const void *data, size_t n);
int buf_addstr(buf *b, const char *s);
int buf_printf(buf *b, const char *fmt, ...) MD_PRINTF(2, 3);

/* The content as a C string ("" when empty; borrowed until the next
 * append or release). */
const char *buf_str(const buf *b);
size_t buf_len(const buf *b);
int buf_failed(const buf *b);

/* Hand the content to the caller (malloc'd, "" when empty; caller frees)
 * and leave b empty with the same cap. */
char *buf_take(buf *b);

#endif
