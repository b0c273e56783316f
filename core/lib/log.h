/*
 * log.h - the one logging helper of meterd, and configuration diagnostics.
 *
 * Log lines go to stderr as "level: instance: message" (instance "meterd"
 * for the core).  Every line passes through the secret masker first, so a
 * secret registered with log_add_secret() never reaches the log, and then
 * through text_escape_controls() (textesc.h), so that every line is one
 * line: a newline, carriage return, ESC or any other C0/C1 control or DEL
 * in a message is written as \xNN (\u00NN for C1).
 * Deep code returns errors; only top-level code (main, scheduler, httpd)
 * decides what to log.
 */
#ifndef METERD_LOG_H
#define METERD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include "meterd/plugin.h"

/* Messages at or below this level are printed (default MD_LOG_INFO). */
void log_set_level(md_log_level level);
md_log_level log_get_level(void);

/* Print one line. instance NULL means "meterd". Thread-safe. */
void log_msg(md_log_level level, const char *instance, const char *fmt, ...)
    MD_PRINTF(3, 4);
void log_vmsg(md_log_level level, const char *instance, const char *fmt,
              va_list ap);

/* Register a secret to be masked in every later log line (copied).
 * Secrets shorter than 4 bytes are ignored (masking them would shred
 * ordinary text).  log_clear_secrets() forgets all of them. */
void log_add_secret(const char *secret);
void log_clear_secrets(void);

/* Return a malloc'd copy of text with every occurrence of each of the n
 * secrets replaced by "[REDACTED]".  Caller frees.  Secrets shorter than
 * 4 bytes are ignored.  Never returns NULL for non-NULL text (aborts on
 * out-of-memory, as every allocation helper of meterd does). */
char *mask_secrets(const char *text, const char *const *secrets, size_t n);

/* ---- configuration diagnostics: "file:line:col: message" ---- */

typedef struct diag {
    char *file;   /* owned; may be NULL for whole-program problems */
    int line;     /* 1-based; 0 when unknown */
    int col;      /* 1-based; 0 when unknown */
    char *msg;    /* owned */
} diag;

typedef struct diag_list {
    diag *items;  /* owned array */
    size_t n, cap;
} diag_list;

void diag_add(diag_list *dl, const char *file, int line, int col,
              const char *fmt, ...) MD_PRINTF(5, 6);
/* Format item i as "file:line:col: msg" ("file:0:0: msg" when the line
 * is unknown, "msg" without a file) into a malloc'd string. */
char *diag_format(const diag *d);
void diag_clear(diag_list *dl);   /* frees items; dl is empty again, reusable */

/* ---- allocation helpers that abort on out-of-memory ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);          /* NULL in, NULL out */
char *xasprintf(const char *fmt, ...) MD_PRINTF(1, 2);

#endif
