/* history_api.c - GET /api/history (contract: history_api.h). */
#include "history_api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conventions.h"
#include "history.h"
#include "history_db.h"
#include "log.h"
#include "parse.h"
#include "query.h"
#include "render.h"
#include "timeutil.h"
#include "usage_store.h"

#define DEFAULT_RANGE_S 86400.0
#define MAX_STEPS 10000.0

enum { A_PROVIDER, A_METER, A_SINCE, A_UNTIL, A_STEP, A_N };
static const char *const names[A_N + 1] = {"provider", "meter", "since",
                                           "until", "step", NULL};

/* An RFC 3339 time or epoch seconds.  0 or -1. */
static int parse_instant(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end != text && *end == '\0' && isfinite(v) && v >= 0 && v < 253402300800.0)
        return *out = v, 0;
    return rfc3339_parse(text, out);
}

static unsigned fail(json_t **doc, unsigned status, char *msg)
{
    *doc = render_error((int)status, msg);
    free(msg);
    return status;
}

unsigned history_api_get(const view_set *vs, struct MHD_Connection *c, json_t **doc)
{
    query_args a = {.names = names};
    if (query_args_collect(c, &a) != 0)
        return fail(doc, MHD_HTTP_BAD_REQUEST, a.error);
    if (!a.v[A_PROVIDER])
        return fail(doc, MHD_HTTP_BAD_REQUEST,
                    xstrdup("query parameter 'provider' is required"));
    double until = time_now(), since, step = 0;
    if (a.v[A_UNTIL] && parse_instant(a.v[A_UNTIL], &until) != 0)
        return fail(doc, MHD_HTTP_BAD_REQUEST,
                    xasprintf("until: '%.40s' is not a time (RFC 3339 or "
                              "epoch seconds)", a.v[A_UNTIL]));
    since = until - DEFAULT_RANGE_S;
    if (a.v[A_SINCE] && parse_instant(a.v[A_SINCE], &since) != 0)
        return fail(doc, MHD_HTTP_BAD_REQUEST,
                    xasprintf("since: '%.40s' is not a time (RFC 3339 or "
                              "epoch seconds)", a.v[A_SINCE]));
    if (since >= until)
        return fail(doc, MHD_HTTP_BAD_REQUEST,
                    xstrdup("since must be before until"));
    if (a.v[A_STEP]) {
        long long ms;
        if (duration_parse_days(a.v[A_STEP], &ms) != 0 || ms < 1000)
            return fail(doc, MHD_HTTP_BAD_REQUEST,
                        xasprintf("step: '%.40s' is not a duration of at "
                                  "least 1s (e.g. 5m, 1h, 1d)",
                                  a.v[A_STEP]));
        step = (double)ms / 1000.0;
        if ((until - since) / step > MAX_STEPS)
            return fail(doc, MHD_HTTP_BAD_REQUEST,
                        xasprintf("the range holds more than %.0f steps",
                                  MAX_STEPS));
    }
    int known = view_set_find(vs, a.v[A_PROVIDER]) != NULL;
    /* The store and its database live as long as the daemon, which
     * outlives every view set.  The query runs on the database's
     * read-only connection (WAL: the last committed state), so it never
     * waits for the owner's commits on the main one. */
    history_db *db = history_db_reader(usage_store_db(vs->usage));
    if (!known && !history_has_provider(db, a.v[A_PROVIDER]))
        return fail(doc, MHD_HTTP_NOT_FOUND,
                    xasprintf("no provider named '%.64s'", a.v[A_PROVIDER]));
    char *err = NULL;
    if (history_query(db, a.v[A_PROVIDER], a.v[A_METER], since, until, step,
                      doc, &err) != 0)
        return fail(doc, MHD_HTTP_SERVICE_UNAVAILABLE, err);
    return MHD_HTTP_OK;
}
