/*
 * good.c - a well-behaved test plugin driven entirely by its options.
 *
 *   metrics:      list of "id:kind:unit:used:limit:remaining" ("-" = unknown)
 *   fail_class:   error class name ("auth", "http", ...) to fail with
 *   fail_message: the failure message (may mention the token)
 *   fail_silently:return -1 without calling fail()
 *   sleep_ms:     sleep this long in collect (ignoring the deadline)
 *   counter_file: append "START END\n" (epoch seconds) per collect
 *   token:        a secret; logged, noted and put in the raw payload so
 *                 tests can prove it is masked everywhere
 *   retry_after:  seconds to pass to host->retry_after
 *   orphan_pid_file: fork a child that sleeps forever (it stays in the
 *                 helper's process group) and write its pid there
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "meterd/plugin.h"

static const md_option good_options[] = {
    {"metrics", MD_OPT_LIST, 0, NULL, "metrics to emit"},
    {"fail_class", MD_OPT_STRING, 0, NULL, "error class to fail with"},
    {"fail_message", MD_OPT_STRING, 0, "failed on purpose", "failure text"},
    {"fail_silently", MD_OPT_BOOL, 0, "false", "return -1 without a reason"},
    {"sleep_ms", MD_OPT_INT, 0, "0", "sleep in collect"},
    {"counter_file", MD_OPT_STRING, 0, NULL, "append one line per collect"},
    {"token", MD_OPT_SECRET, 0, NULL, "a secret to leak (masked)"},
    {"retry_after", MD_OPT_NUMBER, 0, NULL, "seconds for retry_after"},
    {"orphan_pid_file", MD_OPT_STRING, 0, NULL, "leave a child behind"},
    {"expect", MD_OPT_LIST, 0, NULL, "expected meters: id:kind:unit"},
    {"headers", MD_OPT_MAP, 0, NULL, "response headers for emit_rate_limits"},
    {0},
};

static void sleep_for(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static md_num field(const md_host *host, const char *text)
{
    double v;
    if (strcmp(text, "-") == 0 || host->parse_number(text, &v) != 0)
        return (md_num){MD_UNKNOWN, 0};
    return MD_NUM(v);
}

/* "id:kind:unit:used:limit:remaining" */
static void emit_spec(const md_host *host, md_ctx *ctx, const char *spec)
{
    char buf[512];
    char *part[6] = {0};
    snprintf(buf, sizeof buf, "%s", spec);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ":", &save); tok && n < 6;
         tok = strtok_r(NULL, ":", &save))
        part[n++] = tok;
    if (n != 6) {
        host->note(ctx, "bad metric spec '%s'", spec);
        return;
    }
    md_metric m = {0};
    m.id = part[0];
    m.kind = part[1];
    m.unit = strcmp(part[2], "-") == 0 ? NULL : part[2];
    m.used = field(host, part[3]);
    m.limit = field(host, part[4]);
    m.remaining = field(host, part[5]);
    MD_EMIT(host, ctx, &m);
}

static md_error class_from_name(const char *name)
{
    static const char *const names[] = {
        "none", "timeout", "crashed", "auth", "rate_limited", "http",
        "bad_data", "config", "abi", "network", "internal"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], name) == 0)
            return (md_error)i;
    return MD_ERR_INTERNAL;
}

static void count_run(const char *file, double start, double end)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%.6f %.6f\n", start, end);
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    /* one write of an O_APPEND file: lines never interleave */
    if (write(fd, line, (size_t)n) != n) {
        /* nothing useful to do in a test plugin */
    }
    close(fd);
}

static void leave_orphan(const char *file)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    FILE *f = fopen(file, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)pid);
        fclose(f);
    }
}

static void leak_token(const md_host *host, md_ctx *ctx, const char *token)
{
    char raw[1024];
    host->log(ctx, MD_LOG_INFO, "using token %s", token);
    host->note(ctx, "token in a note: %s", token);
    snprintf(raw, sizeof raw,
             "{\"token\":\"%s\",\"data\":{\"Api_Key\":\"k1\",\"user_email\":"
             "\"a@b.c\",\"text\":\"bearer %s\",\"count\":3},\"list\":[\"%s\"]}",
             token, token, token);
    host->set_raw(ctx, raw, strlen(raw));
}

/* ABI 1.1: expected meters and rate-limit headers. */
static void expect_and_headers(const md_host *host, md_ctx *ctx)
{
    if (host->abi_minor < 1)
        return;
    size_t n = 0;
    const char *const *specs = host->opt_list(ctx, "expect", &n);
    for (size_t i = 0; i < n; i++) {
        char id[64] = "", kind[32] = "", unit[32] = "";
        if (sscanf(specs[i], "%63[^:]:%31[^:]:%31s", id, kind, unit) != 3)
            continue;
        md_metric m = {0};
        m.id = id;
        m.kind = kind;
        m.unit = unit;
        char note[128];
        snprintf(note, sizeof note, "plan expects %s; not reported", id);
        MD_EXPECT(host, ctx, &m, note);
    }
    const char *const *keys, *const *values;
    size_t nh;
    if (host->opt_map(ctx, "headers", &keys, &values, &nh) == 0) {
        double ra;
        host->emit_rate_limits(ctx, keys, values, nh, NULL, &ra);
        if (ra >= 0)
            host->retry_after(ctx, ra);
    }
}

static int good_collect(const md_host *host, md_ctx *ctx, void *state)
{
    (void)state;
    double start = host->now(ctx);
    long long sleep_ms = 0;
    const char *token = host->opt_str(ctx, "token");
    double ra;
    if (host->opt_int(ctx, "sleep_ms", &sleep_ms) == 0 && sleep_ms > 0)
        sleep_for(sleep_ms);
    size_t n = 0;
    const char *const *specs = host->opt_list(ctx, "metrics", &n);
    for (size_t i = 0; i < n; i++)
        emit_spec(host, ctx, specs[i]);
    expect_and_headers(host, ctx);
    host->note(ctx, "good plugin ran for %s", host->instance(ctx));
    if (token)
        leak_token(host, ctx, token);
    if (host->opt_number(ctx, "retry_after", &ra) == 0)
        host->retry_after(ctx, ra);
    const char *orphan = host->opt_str(ctx, "orphan_pid_file");
    if (orphan)
        leave_orphan(orphan);
    const char *counter = host->opt_str(ctx, "counter_file");
    if (counter)
        count_run(counter, start, host->now(ctx));
    int silent = 0;
    host->opt_bool(ctx, "fail_silently", &silent);
    if (silent)
        return -1;
    const char *cls = host->opt_str(ctx, "fail_class");
    if (cls) {
        host->fail(ctx, class_from_name(cls), "%s",
                   host->opt_str(ctx, "fail_message"));
        return -1;
    }
    return 0;
}

static const md_plugin good_plugin = {
    MD_PLUGIN_HEADER,
    .name = "good",
    .version = "1.0",
    .description = "test plugin that emits what its options say",
    .default_source = "api",
    .options = good_options,
    .collect = good_collect,
};

MD_PLUGIN_DEFINE(good_plugin)
