/*
 * t/fuzz/ratelimit.c - ratelimit_parse over arbitrary response headers.
 *
 * The input is header lines "name: value" (CR LF or LF; a line without a
 * colon, such as the status line, is skipped), at most RL_FUZZ_MAX of
 * them.  They are parsed once without and once with an id prefix.  What
 * must hold for every input: each metric's strings are NUL-terminated
 * inside their buffers and its pointers point there, a known number is
 * finite and not negative, and a Retry-After delay is -1 or >= 0.
 */
#include <math.h>

#include "fuzz.h"

#include "ratelimit.h"

#define RL_FUZZ_MAX 64
#define NOW 1773151200.0

static void check_num(const rl_metric *m, const char *field, md_num v)
{
    if (v.state == MD_KNOWN && (!isfinite(v.value) || v.value < 0)) {
        fprintf(stderr, "%s.%s is KNOWN but %g\n", m->id, field, v.value);
        abort();
    }
}

static void check_str(const char *p, const char *buf, size_t cap)
{
    if (!p) return;
    if (p != buf || memchr(buf, '\0', cap) == NULL) abort();
}

static void run(const char *const *names, const char *const *values, size_t n,
                const char *prefix)
{
    rl_metric *out = NULL;
    double retry = 0;
    size_t k = ratelimit_parse(names, values, n, NOW, prefix, &out, &retry);
    if (retry != -1 && !(retry >= 0 && isfinite(retry))) {
        fprintf(stderr, "retry_after %g\n", retry);
        abort();
    }
    if (k && !out) abort();
    for (size_t i = 0; i < k; i++) {
        const rl_metric *m = &out[i];
        check_str(m->m.id, m->id, sizeof m->id);
        check_str(m->m.label, m->label, sizeof m->label);
        check_str(m->m.kind, m->kind, sizeof m->kind);
        check_str(m->m.unit, m->unit, sizeof m->unit);
        if (!m->m.id || !m->m.kind) abort();
        check_num(m, "used", m->m.used);
        check_num(m, "limit", m->m.limit);
        check_num(m, "remaining", m->m.remaining);
        check_num(m, "utilization", m->m.utilization);
        check_num(m, "window_seconds", m->m.window_seconds);
        if (m->m.resets_at.state == MD_KNOWN && !isfinite(m->m.resets_at.epoch))
            abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    const char *names[RL_FUZZ_MAX], *values[RL_FUZZ_MAX];
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && n < RL_FUZZ_MAX;
         line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        names[n] = line;
        values[n] = v;
        n++;
    }
    run(names, values, n, NULL);
    run(names, values, n, "gateway_");
    free(text);
    return 0;
}
