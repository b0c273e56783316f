/* usage_cell.c - validation, SDK copy and JSON values of usage cells
 * (see usage_cell.h). */
#include "usage_cell.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define USAGE_SLOT 900.0
#define USAGE_MODEL_MAX 128
#define MAX_EPOCH 253402300799.0 /* 9999-12-31T23:59:59Z */

const char *const usage_bucket_names[UB_N] = {
    "tokens_input_uncached", "tokens_cache_read", "tokens_cache_write",
    "tokens_output", "tokens_reasoning", "tokens_total", "cost_usd", "tokens_cache_write_1h",
};

static const char *slot_problem(double slot)
{
    if (!isfinite(slot) || slot < 0 || slot > MAX_EPOCH)
        return "slot_start is not a time between 1970 and 9999";
    if (fmod(slot, USAGE_SLOT) != 0)
        return "slot_start is not a multiple of 900 seconds";
    return NULL;
}

static const char *model_problem(const char *model)
{
    if (!model)
        return NULL;
    size_t n = strlen(model);
    if (n == 0 || n > USAGE_MODEL_MAX)
        return "model is empty or longer than 128 bytes";
    for (const char *p = model; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return "model has a byte that is not printable ASCII";
    return NULL;
}

static int bucket_ok(const md_num *v)
{
    if (v->state == MD_UNKNOWN || v->state == MD_NOT_APPLICABLE)
        return 1;
    return v->state == MD_KNOWN && isfinite(v->value) && v->value >= 0;
}

/* The buckets and events of a cell, shared by both cell forms. */
static const char *numbers_problem(const md_num *b, double events)
{
    for (int i = 0; i < UB_N; i++)
        if (!bucket_ok(&b[i]))
            return "a bucket is not a finite, non-negative number";
    if (!isfinite(events) || events < 0)
        return "events is not a finite, non-negative number";
    return NULL;
}

static void sdk_buckets(const md_usage_cell *c, md_num *b)
{
    b[UB_INPUT_UNCACHED] = c->tokens_input_uncached;
    b[UB_CACHE_READ] = c->tokens_cache_read;
    b[UB_CACHE_WRITE] = c->tokens_cache_write;
    b[UB_OUTPUT] = c->tokens_output;
    b[UB_REASONING] = c->tokens_reasoning;
    b[UB_TOTAL] = c->tokens_total;
    b[UB_COST] = c->cost_usd;
    b[UB_CACHE_WRITE_1H] = c->tokens_cache_write_1h;
}

static void sdk_parts(const md_usage_cell *c, usage_parts *p);

const char *usage_cell_problem(const md_usage_cell *c)
{
    md_num b[UB_N];
    const char *why = slot_problem(c->slot_start);
    if (!why)
        why = model_problem(c->model);
    if (!why) {
        sdk_buckets(c, b);
        why = numbers_problem(b, c->events);
    }
    if (!why) {
        usage_parts p;
        sdk_parts(c, &p);
        why = usage_parts_problem(&p);
    }
    return why;
}

static void sdk_parts(const md_usage_cell *c, usage_parts *p)
{
    memset(p, 0, sizeof *p);
    if (c->cost_usd_own.state != MD_KNOWN)
        return;
    p->known = 1;
    p->own_usd = c->cost_usd_own.value;
    for (int k = 0; k < MD_PRICED_N; k++) {
        p->tokens[k] = c->priced_tokens[k];
        p->above[k] = c->priced_above[k];
    }
}

const char *usage_parts_problem(const usage_parts *p)
{
    if (!p->known)
        return NULL;
    if (!isfinite(p->own_usd) || p->own_usd < 0)
        return "cost_usd_own is not a finite, non-negative number";
    for (int k = 0; k < MD_PRICED_N; k++)
        if (!isfinite(p->tokens[k]) || p->tokens[k] < 0 ||
            !isfinite(p->above[k]) || p->above[k] < 0 ||
            p->above[k] > p->tokens[k])
            return "a priced bucket is not a finite, non-negative number "
                   "at least its excess";
    return NULL;
}

void usage_parts_add(usage_parts *acc, const usage_parts *add)
{
    if (!acc->known || !add->known) {
        memset(acc, 0, sizeof *acc);
        return;
    }
    acc->own_usd += add->own_usd;
    for (int k = 0; k < MD_PRICED_N; k++) {
        acc->tokens[k] += add->tokens[k];
        acc->above[k] += add->above[k];
    }
}

void usage_parts_flatten(const usage_parts *p, double v[USAGE_PARTS_N])
{
    v[0] = p->own_usd;
    for (int k = 0; k < MD_PRICED_N; k++) {
        v[1 + k] = p->tokens[k];
        v[1 + MD_PRICED_N + k] = p->above[k];
    }
}

void usage_parts_unflatten(usage_parts *p, const double v[USAGE_PARTS_N])
{
    p->known = 1;
    p->own_usd = v[0];
    for (int k = 0; k < MD_PRICED_N; k++) {
        p->tokens[k] = v[1 + k];
        p->above[k] = v[1 + MD_PRICED_N + k];
    }
}

void usage_cell_from_sdk(usage_cell_rec *out, const md_usage_cell *c)
{
    memset(out, 0, sizeof *out);
    out->slot_start = c->slot_start;
    out->model = xstrdup(c->model);
    sdk_buckets(c, out->b);
    for (int i = 0; i < UB_N; i++)
        if (out->b[i].state != MD_KNOWN)
            out->b[i].value = 0;   /* canonical: value only when known */
    out->events = c->events;
    sdk_parts(c, &out->parts);
}

const char *usage_cell_fields_problem(double slot_start, const char *model,
                                      const md_num b[UB_N], double events)
{
    const char *why = slot_problem(slot_start);
    if (!why)
        why = model_problem(model);
    return why ? why : numbers_problem(b, events);
}

const char *usage_cell_rec_problem(const usage_cell_rec *c)
{
    const char *why = usage_cell_fields_problem(c->slot_start, c->model, c->b,
                                                c->events);
    return why ? why : usage_parts_problem(&c->parts);
}

void usage_cell_rec_array_free(usage_cell_rec *cells, size_t n)
{
    for (size_t i = 0; cells && i < n; i++)
        free(cells[i].model);
    free(cells);
}

static json_t *number_json(double v)
{
    /* Token counts are integers; print them without a ".0". */
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

json_t *usage_num_to_json(md_num v)
{
    if (v.state == MD_NOT_APPLICABLE)
        return json_string("na");
    return v.state == MD_KNOWN && isfinite(v.value) ? number_json(v.value)
                                                    : json_null();
}

json_t *usage_num_to_report(md_num v)
{
    return v.state == MD_KNOWN && isfinite(v.value) ? number_json(v.value)
                                                    : json_null();
}

int usage_num_from_json(const json_t *j, md_num *out)
{
    if (json_is_null(j)) {
        *out = (md_num){MD_UNKNOWN, 0.0};
        return 0;
    }
    if (json_is_string(j) && strcmp(json_string_value(j), "na") == 0) {
        *out = MD_NUM_NA;
        return 0;
    }
    if (!json_is_number(j))
        return -1;
    double v = json_number_value(j);
    if (!isfinite(v) || v < 0)
        return -1;
    *out = MD_NUM(v);
    return 0;
}

int usage_generation_from_json(const json_t *j, unsigned long long *out)
{
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *out = (unsigned long long)json_integer_value(j);
        return 0;
    }
    const char *s = json_string_value(j);
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
        return -1;
    errno = 0;
    char *end;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}
