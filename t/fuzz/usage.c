/*
 * t/fuzz/usage.c - the ingest body mapper: usage_from_dialect in every
 * dialect, and usage_from_json (the stored record form), over arbitrary
 * JSON.
 *
 * Input: one selector byte (dialect = byte % USAGE_N_DIALECTS), then the
 * JSON text.  What must hold besides the sanitizers: every KNOWN number of
 * a mapped record is finite and not negative (usage.h's invariant), and a
 * record's JSON form reads back (usage_from_json) into a record with the
 * same JSON form.  The per-item checks of POST /api/telemetry need a
 * running daemon (ingest.c's check_item takes the daemon's provider
 * table); the 89-ingest.t integration test covers them.
 */
#include <math.h>

#include "fuzz.h"

#include "usage.h"

static void check_num(md_num v, const char *what)
{
    if (v.state == MD_KNOWN && !(isfinite(v.value) && v.value >= 0)) {
        fprintf(stderr, "%s is KNOWN but %g\n", what, v.value);
        abort();
    }
}

static void check_record(const usage_record *r)
{
    check_num(r->tokens_input_uncached, "tokens_input_uncached");
    check_num(r->tokens_cache_read, "tokens_cache_read");
    check_num(r->tokens_cache_write, "tokens_cache_write");
    check_num(r->tokens_output, "tokens_output");
    check_num(r->tokens_reasoning, "tokens_reasoning");
    check_num(r->tokens_total, "tokens_total");
    check_num(r->cost_usd, "cost_usd");
    if (r->at.state == MD_KNOWN && !isfinite(r->at.epoch)) abort();
}

/* to_json, from_json, to_json again: the two JSON forms are equal. */
static void check_round_trip(const usage_record *r)
{
    json_t *j1 = usage_to_json(r);
    if (!j1) abort();
    usage_record back;
    usage_record_init(&back);
    char *err = NULL;
    if (usage_from_json(j1, &back, &err) != 0) {
        char *t = json_dumps(j1, JSON_COMPACT);
        fprintf(stderr, "own JSON form refused (%s): %s\n", err, t);
        abort();
    }
    check_record(&back);
    json_t *j2 = usage_to_json(&back);
    if (!json_equal(j1, j2)) {
        char *a = json_dumps(j1, JSON_COMPACT), *b = json_dumps(j2, JSON_COMPACT);
        fprintf(stderr, "round trip differs:\n%s\n%s\n", a, b);
        abort();
    }
    json_decref(j1);
    json_decref(j2);
    usage_record_clear(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    usage_dialect d = (usage_dialect)(data[0] % USAGE_N_DIALECTS);
    json_t *doc = json_loadb((const char *)data + 1, size - 1,
                             JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!doc) return 0;

    usage_record r;
    usage_record_init(&r);
    char *err = NULL;
    if (usage_from_dialect(d, doc, &r, &err) == 0) {
        check_record(&r);
        check_round_trip(&r);
    } else if (!err) {
        abort();
    }
    free(err);
    usage_record_clear(&r);

    usage_record s;
    usage_record_init(&s);
    err = NULL;
    if (usage_from_json(doc, &s, &err) == 0) {
        check_record(&s);
        check_round_trip(&s);
    }
    free(err);
    usage_record_clear(&s);
    json_decref(doc);
    return 0;
}
