/*
 * t/fuzz/ingest.c - the body of POST /api/telemetry: ingest_parse()
 * (core/daemon/ingest.c), what the HTTP thread runs on the
 * request body before ingest_submit() hands the items to the owner.
 *
 * It is driven against a fixed published view set of providers named as
 * in the t/ ingest tests (gateways on the exec plugin, whose dialect
 * must be named or come from the instance name) and of the plugins the
 * dialect is derived from.  The input is the body as sent.
 *
 * What must hold besides the sanitizers: an input is either accepted
 * (200, a batch of 1..INGEST_MAX_ITEMS items, no error) or refused (400,
 * an error message, no batch); a refusal never quotes the configured
 * secret; an accepted item's known token counts and cost are finite and
 * not negative, and its event time is at most a day (plus this run's
 * clock drift) ahead.
 */
#include "fuzz.h"

#include <math.h>

#include "daemon.h"
#include "ingest.h"
#include "timeutil.h"
#include "usage.h"

#define SECRET "sk-fuzz-secret-0123456789"

static provider_view views[] = {
    {.name = "openai-gw", .plugin = "exec", .family = "openai-gw"},
    {.name = "claude-gw", .plugin = "exec", .family = "claude-gw"},
    {.name = "other-gw", .plugin = "exec", .family = "other-gw"},
    {.name = "p", .plugin = "good", .family = "p"},
    {.name = "claude", .plugin = "claude", .family = "anthropic"},
    {.name = "codex", .plugin = "codex", .family = "openai"},
    {.name = "gemini", .plugin = "gemini", .family = "gemini"},
    {.name = "deepseek", .plugin = "deepseek", .family = "deepseek"},
    {.name = "openrouter", .plugin = "openrouter", .family = "openrouter"},
    {.name = "ollama", .plugin = "ollama", .family = "ollama"},
    {.name = "kimi", .plugin = "moonshot", .family = "kimi"},
};

static const char *const secrets[] = {SECRET};

static void check_num(const char *what, md_num n)
{
    if (n.state != MD_KNOWN)
        return;
    if (!isfinite(n.value) || n.value < 0) {
        fprintf(stderr, "accepted item with %s = %g\n", what, n.value);
        abort();
    }
}

static void check_record(const usage_record *r, double now)
{
    check_num("tokens_input_uncached", r->tokens_input_uncached);
    check_num("tokens_cache_read", r->tokens_cache_read);
    check_num("tokens_cache_write", r->tokens_cache_write);
    check_num("tokens_output", r->tokens_output);
    check_num("tokens_reasoning", r->tokens_reasoning);
    check_num("tokens_total", r->tokens_total);
    check_num("tokens_cache_write_1h", r->tokens_cache_write_1h);
    check_num("cost_usd", r->cost_usd);
    if (r->at.state != MD_KNOWN || !isfinite(r->at.epoch) ||
        r->at.epoch > now + INGEST_MAX_FUTURE_S + 60) {
        fprintf(stderr, "accepted item with event time %f\n", r->at.epoch);
        abort();
    }
    if (!r->provider || !r->source || strcmp(r->source, "ingest") != 0) {
        fprintf(stderr, "accepted item without provider or source\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    view_set vs = {
        .v = views,
        .n = sizeof views / sizeof views[0],
        .secrets = secrets,
        .n_secrets = 1,
    };
    ingest_batch *b = NULL;
    char *err = NULL;
    int status = ingest_parse(&vs, (const char *)data, size, &b, &err);
    double now = time_now();
    if (status == 200) {
        size_t n = ingest_batch_size(b);
        if (err || n == 0 || n > INGEST_MAX_ITEMS) {
            fprintf(stderr, "200 with %zu items, error %s\n", n,
                    err ? err : "(none)");
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            const usage_record *r = ingest_batch_record(b, i);
            if (r)
                check_record(r, now);
        }
    } else if (status != 400 || b || !err) {
        fprintf(stderr, "status %d, batch %p, error %s\n", status, (void *)b,
                err ? err : "(none)");
        abort();
    } else if (strstr(err, SECRET)) {
        fprintf(stderr, "refusal quotes the secret: %s\n", err);
        abort();
    }
    ingest_batch_free(b);
    free(err);
    return 0;
}
