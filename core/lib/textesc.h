/*
 * textesc.h - control characters out of text that reaches a log line, a
 * note or a label.
 *
 * Text from outside (a provider's error body, an exec script's label, a
 * file name) may hold a newline that forges a second log line, or an
 * ANSI escape that rewrites the operator's terminal.  Such text is either
 * escaped (free text: log lines, notes, labels) or refused (identifiers:
 * kind, unit, source), never passed through.
 *
 * What counts as a control character: C0 (0x00-0x1f, tab and newline
 * included), DEL (0x7f), and C1 (U+0080-U+009F, in UTF-8 the two bytes
 * 0xc2 0x80-0x9f).  Escaped forms: "\xNN" for C0 and DEL, "\u00NN" for
 * C1.  A backslash is left alone: the escaping prevents forged lines and
 * terminal tricks, it is not a reversible encoding.  Bytes that are not
 * valid UTF-8 are left as they are (they cannot start a terminal escape
 * on their own; the JSON encoder of the API rejects or replaces them).
 *
 * Invariants: the functions are pure (no state, thread-safe); the
 * returned string is malloc'd and the caller frees it.
 */
#ifndef METERD_TEXTESC_H
#define METERD_TEXTESC_H

#include <stddef.h>

/* Length in bytes of the control character starting at s (1 for C0 and
 * DEL, 2 for a UTF-8-encoded C1), or 0 when s does not start one. */
size_t text_control_at(const char *s);

/* Does s (NULL: no) contain a control character? */
int text_has_controls(const char *s);

/* A copy of s with every control character escaped; NULL in, NULL out.
 * Aborts on out-of-memory, as the xmalloc helpers do. */
char *text_escape_controls(const char *s);

#endif
