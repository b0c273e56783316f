/* log.c - logging, secret masking, diagnostics and allocation helpers. */
#include "log.h"
#include "conventions.h"
#include "textesc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SECRET_LEN 4
#define REDACTED "[REDACTED]"

/* The daemon's only process-wide logging state: the level and the set of
 * secrets to mask.  Both change only at start-up and on reload. */
static md_log_level g_level = MD_LOG_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char **g_secrets;
static size_t g_n_secrets;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_set_level(md_log_level level) { g_level = level; }
md_log_level log_get_level(void) { return g_level; }

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("meterd: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("meterd: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("meterd: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static char *xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return xstrdup("(unformattable message)");
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

int err_set(char **err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        *err = xvasprintf(fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *mask_secrets(const char *text, const char *const *secrets, size_t n)
{
    if (!text)
        return NULL;
    char *out = xstrdup(text);
    for (size_t i = 0; i < n; i++) {
        const char *sec = secrets[i];
        size_t sl = sec ? strlen(sec) : 0;
        if (sl < MIN_SECRET_LEN || !strstr(out, sec))
            continue;
        size_t rl = strlen(REDACTED), cap = strlen(out) + 1, len = 0;
        /* worst case: every byte starts a match */
        char *buf = xmalloc(cap + (cap / sl + 1) * rl);
        for (const char *p = out; *p;) {
            if (strncmp(p, sec, sl) == 0) {
                memcpy(buf + len, REDACTED, rl);
                len += rl;
                p += sl;
            } else {
                buf[len++] = *p++;
            }
        }
        buf[len] = '\0';
        free(out);
        out = buf;
    }
    return out;
}

void log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < MIN_SECRET_LEN)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n_secrets; i++)
        if (strcmp(g_secrets[i], secret) == 0) {
            pthread_mutex_unlock(&g_lock);
            return;
        }
    g_secrets = xrealloc(g_secrets, (g_n_secrets + 1) * sizeof *g_secrets);
    g_secrets[g_n_secrets++] = xstrdup(secret);
    pthread_mutex_unlock(&g_lock);
}

void log_clear_secrets(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n_secrets; i++)
        free(g_secrets[i]);
    free(g_secrets);
    g_secrets = NULL;
    g_n_secrets = 0;
    pthread_mutex_unlock(&g_lock);
}

void log_vmsg(md_log_level level, const char *instance, const char *fmt,
              va_list ap)
{
    if (level > g_level)
        return;
    char *raw = xvasprintf(fmt, ap);
    pthread_mutex_lock(&g_lock);
    char *masked = mask_secrets(raw, (const char *const *)g_secrets, g_n_secrets);
    pthread_mutex_unlock(&g_lock);
    /* Masked first (a secret split by an escape would escape the mask),
     * then escaped: a newline or ANSI escape in text from outside (a
     * provider's error body, a file name) must not forge a second log
     * line or drive the operator's terminal.  The instance name too. */
    char *line = text_escape_controls(masked);
    char *inst = text_escape_controls(instance ? instance : "meterd");
    /* one fprintf per line so concurrent writers do not interleave */
    fprintf(stderr, "%s: %s: %s\n",
            level_names[level <= MD_LOG_DEBUG ? level : MD_LOG_DEBUG], inst,
            line);
    free(inst);
    free(line);
    free(masked);
    free(raw);
}

void log_msg(md_log_level level, const char *instance, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, instance, fmt, ap);
    va_end(ap);
}

void diag_add(diag_list *dl, const char *file, int line, int col,
              const char *fmt, ...)
{
    if (dl->n == dl->cap) {
        dl->cap = dl->cap ? dl->cap * 2 : 8;
        dl->items = xrealloc(dl->items, dl->cap * sizeof *dl->items);
    }
    va_list ap;
    va_start(ap, fmt);
    diag *d = &dl->items[dl->n++];
    d->file = xstrdup(file);
    d->line = line;
    d->col = col;
    d->msg = xvasprintf(fmt, ap);
    va_end(ap);
}

char *diag_format(const diag *d)
{
    if (!d->file)
        return xasprintf("%s", d->msg);
    /* One shape for every diagnostic an editor can jump to; line 0 when
     * the problem is the file as a whole (its mode, its absence). */
    if (d->line <= 0)
        return xasprintf("%s:0:0: %s", d->file, d->msg);
    return xasprintf("%s:%d:%d: %s", d->file, d->line, d->col > 0 ? d->col : 1,
                     d->msg);
}

void diag_clear(diag_list *dl)
{
    for (size_t i = 0; i < dl->n; i++) {
        free(dl->items[i].file);
        free(dl->items[i].msg);
    }
    free(dl->items);
    dl->items = NULL;
    dl->n = dl->cap = 0;
}
