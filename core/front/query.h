/*
 * query.h - the named GET parameters of one request, checked once the same
 * way for every endpoint that takes them.
 *
 * Rules: a parameter the endpoint does not name, a name given twice, or an
 * empty value is an error (the first one found, as a sentence naming the
 * parameter and, for an unknown one, the known names).
 * Ownership: v[] points into libmicrohttpd's request memory (valid for the
 * request); error is malloc'd and the caller frees it.
 */
#ifndef METERD_QUERY_H
#define METERD_QUERY_H

#include <microhttpd.h>

#define QUERY_MAX_NAMES 8

typedef struct query_args {
    const char *const *names;       /* borrowed, NULL-terminated, at most
                                       QUERY_MAX_NAMES */
    const char *v[QUERY_MAX_NAMES]; /* v[i]: the value of names[i], or NULL */
    char *error;                    /* the first problem, or NULL */
} query_args;

/* Fill q (q->names set, the rest zero) from c's GET parameters.  0, or -1
 * with q->error set. */
int query_args_collect(struct MHD_Connection *c, query_args *q);

#endif
