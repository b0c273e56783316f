/* quotas_api.c - GET /api/quotas (contract: quotas_api.h). */
#include "quotas_api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quotas.h"
#include "render.h"
#include "timeutil.h"

#define QUOTAS_SCHEMA "meterd.quotas.v1"

static json_t *entry_json(const quota_entry *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "family", json_string(e->family));
    json_object_set_new(o, "provider", json_string(e->provider));
    json_object_set_new(o, "meter", json_string(e->meter));
    render_set_str(o, "kind", e->kind);
    render_set_str(o, "unit", e->unit);
    render_set_num(o, "used", e->used);
    render_set_num(o, "limit", e->limit);
    render_set_num(o, "remaining", e->remaining);
    render_set_num(o, "utilization", e->utilization);
    render_set_time(o, "resets_at", e->resets_at);
    render_set_time(o, "expires_at", e->expires_at);
    render_set_num(o, "burn_per_hour", e->fc.burn_per_hour);
    render_set_num(o, "burn_per_day", e->fc.burn_per_day);
    render_set_num(o, "projected_at_reset", e->fc.projected_at_reset);
    render_set_num(o, "projected_utilization_at_reset",
                   e->fc.projected_utilization_at_reset);
    render_set_time(o, "exhausts_at", e->fc.exhausts_at);
    render_set_num(o, "runway_seconds", e->fc.runway_seconds);
    render_set_num(o, "projected_use_by_expiry", e->fc.projected_use_by_expiry);
    json_object_set_new(o, "use_or_lose", json_boolean(e->fc.use_or_lose));
    json_object_set_new(o, "segment_samples",
                        json_integer((json_int_t)e->fc.segment_samples));
    json_object_set_new(o, "alert", json_string(alert_name(e->alert)));
    render_set_str(o, "alert_reason", e->alert_reason);
    render_set_str(o, "forecast_reason", e->fc.reason);
    render_set_str(o, "source", e->source);
    json_object_set_new(o, "confidence",
                        json_string(e->confidence == MD_ESTIMATED ? "estimated"
                                                                  : "exact"));
    return o;
}

static enum MHD_Result any_arg(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    char **err = cls;
    (void)kind;
    (void)value;
    if (!*err)
        *err = xasprintf("unknown query parameter '%.64s' (none are known)",
                         key);
    return MHD_YES;
}

unsigned quotas_api_get(const view_set *vs, struct MHD_Connection *c,
                        json_t **doc)
{
    char *err = NULL;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, any_arg, &err);
    if (err) {
        *doc = render_error(MHD_HTTP_BAD_REQUEST, err);
        free(err);
        return MHD_HTTP_BAD_REQUEST;
    }
    const quota_set *q = vs->quotas;
    json_t *arr = json_array(), *by = json_object();
    size_t count[ALERT_N] = {0};
    for (size_t i = 0; q && i < q->n; i++) {
        json_array_append_new(arr, entry_json(&q->e[i]));
        count[q->e[i].alert]++;
    }
    for (int a = 0; a < ALERT_N; a++)
        json_object_set_new(by, alert_name((alert_class)a),
                            json_integer((json_int_t)count[a]));
    *doc = json_object();
    json_object_set_new(*doc, "schema", json_string(QUOTAS_SCHEMA));
    json_object_set_new(*doc, "generated_at",
                        time_to_json(MD_TIME(q ? q->generated_at : time_now())));
    json_object_set_new(*doc, "quotas", arr);
    json_object_set_new(*doc, "by_alert", by);
    json_object_set_new(*doc, "has_exhausted",
                        json_boolean(count[ALERT_EXHAUSTED] > 0));
    json_object_set_new(*doc, "has_use_or_lose",
                        json_boolean(count[ALERT_USE_OR_LOSE] > 0));
    json_object_set_new(*doc, "alert_transitions",
                        json_integer((json_int_t)(q ? q->transitions : 0)));
    return MHD_HTTP_OK;
}
