/* textesc.c - escaping and detecting control characters (see textesc.h). */
#include "textesc.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

size_t text_control_at(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    if ((c > 0 && c < 0x20) || c == 0x7f)
        return 1;
    if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)
        return 2;
    return 0;
}

int text_has_controls(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++)
        if (text_control_at(s))
            return 1;
    return 0;
}

char *text_escape_controls(const char *s)
{
    if (!s)
        return NULL;
    /* Worst case: every byte is a C0 control, 4 bytes each ("\xNN"); a
     * C1 is 2 bytes in and 6 out, less per byte. */
    size_t n = strlen(s);
    char *out = xmalloc(n * 4 + 1), *o = out;
    while (*s) {
        size_t k = text_control_at(s);
        if (k == 1) {
            o += sprintf(o, "\\x%02x", (unsigned char)*s);
        } else if (k == 2) {
            o += sprintf(o, "\\u00%02x", (unsigned char)s[1]);
        } else {
            *o++ = *s;
        }
        s += k ? k : 1;
    }
    *o = '\0';
    return out;
}
