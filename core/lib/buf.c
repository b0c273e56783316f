/* buf.c - see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"   /* xmalloc, xrealloc */

void buf_init(buf *b, size_t max)
{
    *b = (buf){.s = NULL, .len = 0, .alloc = 0, .max = max, .failed = 0};
}

void buf_release(buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->alloc = 0;
}

void buf_clear(buf *b)
{
    size_t max = b->max;
    buf_release(b);
    buf_init(b, max);
}

/* Make room for n more content bytes plus the NUL; -1 past the cap. */
static int buf_grow(buf *b, size_t n)
{
    if (b->failed || n > b->max - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    /* doubling keeps appends amortised O(1); never beyond what the cap
     * can use, so a capped buffer never holds more than max + 1 bytes */
    size_t alloc = b->alloc ? b->alloc : 64;
    while (alloc < need)
        alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
    size_t most = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX;
    if (alloc > most)
        alloc = most; /* >= need: buf_grow checked n against the cap */
    b->s = xrealloc(b->s, alloc);
    b->alloc = alloc;
    return 0;
}

int buf_add(buf *b, const void *data, size_t n)
{
    if (buf_grow(b, n))
        return -1;
    if (n)
        memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

int buf_addstr(buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_grow(b, (size_t)n)) {
        b->failed = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *buf_str(const buf *b)
{
    return b->s ? b->s : "";
}

size_t buf_len(const buf *b)
{
    return b->len;
}

int buf_failed(const buf *b)
{
    return b->failed;
}

char *buf_take(buf *b)
{
    char *s = b->s ? b->s : xstrdup("");
    b->s = NULL;
    buf_clear(b);
    return s;
}
