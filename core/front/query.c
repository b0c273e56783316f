/* query.c - see query.h. */
#include "query.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

static enum MHD_Result take(void *cls, enum MHD_ValueKind kind,
                            const char *key, const char *value)
{
    query_args *q = cls;
    (void)kind;
    if (q->error)
        return MHD_YES;
    for (size_t i = 0; i < QUERY_MAX_NAMES && q->names[i]; i++) {
        if (strcmp(key, q->names[i]) != 0)
            continue;
        if (q->v[i])
            q->error = xasprintf("query parameter '%s' given twice", key);
        else if (!value || !*value)
            q->error = xasprintf("query parameter '%s' must not be empty", key);
        else
            q->v[i] = value;
        return MHD_YES;
    }
    buf known;
    buf_init(&known, 1024);
    for (size_t i = 0; i < QUERY_MAX_NAMES && q->names[i]; i++)
        buf_printf(&known, "%s%s", i ? ", " : "", q->names[i]);
    char *list = buf_take(&known);
    q->error = xasprintf("unknown query parameter '%.64s' (known: %s)", key,
                         list ? list : "");
    free(list);
    return MHD_YES;
}

int query_args_collect(struct MHD_Connection *c, query_args *q)
{
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, take, q);
    return q->error ? -1 : 0;
}
