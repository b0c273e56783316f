/*
 * t/fuzz/logscan.c - the log-line scanner: plugins/sdk/logscan.c's file
 * reader (marker search, line splitting) and jscan.c's schema scanner, as
 * the Claude Code and Codex plugins drive them with their line handlers.
 *
 * The input is written as one .jsonl file and scanned by both plugins
 * (logscan_fuzz.h), each against the core's real md_host (hostctx.c), so
 * the usage cells and metrics they hand over pass the host's validation.
 * What must hold besides the sanitizers: a scan never fails on input
 * (only running out of memory may fail it), and a scan that fails no
 * collection; and jscan's js_decimal equals strtod wherever it answers.
 *
 * Long lines: libFuzzer's inputs stay small (max_len 4096 by default),
 * far below the scanner's 1 MiB read buffer (LS_BUF), so the input
 * carries its long lines compressed: the byte 0x01 followed by a count
 * byte c is written as (c + 1) * 32 KiB of 'x' (up to 8 MiB, but at most
 * EXPAND_MAX, 3 MiB, in all per input: each exec writes and scans it
 * twice).  0x01 never occurs raw in a valid JSON
 * line, and inside a string the padding is valid JSON, so a seed such as
 * {"message":{"content":"<0x01><0x40>","usage":{...}}} is a 2 MiB usage
 * line whose marker comes after the buffer's end: the path that scans a
 * line without keeping it (ls_scan_long) and reads it whole.
 */
#include "fuzz.h"

#include "hostctx.h"
#include "jscan.h"
#include "logscan.h"
#include "logscan_fuzz.h"
#include "result.h"
#include "timeutil.h"

int fuzz_logscan_found(ls_list *found, const char *path)
{
    found->v = calloc(1, sizeof *found->v);
    if (!found->v) return -1;
    found->cap = 1;
    ls_found *f = &found->v[0];
    f->id = strdup(path);
    f->real = strdup(path);
    if (!f->id || !f->real || stat(path, &f->sb) != 0) return -1;
    found->n = 1;
    return 0;
}

static void run(const char *path, int (*scan)(const md_host *, md_ctx *, const char *))
{
    hostctx_params hp = {
        .instance = "fuzz",
        .deadline_ms = mono_ms() + 60000,
    };
    md_ctx *ctx = hostctx_new(&hp);
    if (scan(hostctx_host(), ctx, path) != 0) abort();
    collect_result res;
    collect_result_init(&res);
    hostctx_take_result(ctx, &res);
    if (res.err != MD_ERR_NONE) {
        fprintf(stderr, "collection failed: %s\n", res.err_msg);
        abort();
    }
    collect_result_release(&res);
    hostctx_free(ctx);
}

#define EXPAND_BYTE 0x01
#define EXPAND_UNIT ((size_t)32 * 1024)
#define EXPAND_MAX ((size_t)3 * 1024 * 1024)

/* Write data to path with every EXPAND_BYTE, c pair expanded (above). */
static void write_expanded(const char *path, const uint8_t *data, size_t n)
{
    static char pad[EXPAND_UNIT];
    if (!pad[0])
        memset(pad, 'x', sizeof pad);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    size_t budget = EXPAND_MAX;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != EXPAND_BYTE || i + 1 == n) {
            putc(data[i], f);
            continue;
        }
        size_t units = (size_t)data[++i] + 1;
        for (size_t u = 0; u < units && budget >= EXPAND_UNIT; u++) {
            fwrite(pad, 1, sizeof pad, f);
            budget -= EXPAND_UNIT;
        }
    }
    if (fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* js_decimal, the readers' strtod shortcut, must give strtod's double
 * for whatever it accepts: each input's first 40 bytes (cut at the
 * first NUL) as a number text. */
static void check_decimal(const uint8_t *data, size_t size)
{
    char s[41];
    size_t n = 0;
    while (n < size && n < 40 && data[n])
        n++;
    memcpy(s, data, n);
    s[n] = '\0';
    double fast;
    if (js_decimal(s, n, &fast) != 0)
        return;
    char *end;
    double slow = strtod(s, &end);
    if (end != s + n || memcmp(&fast, &slow, sizeof fast) != 0) {
        fprintf(stderr, "js_decimal(%s) = %.17g, strtod %.17g\n", s, fast,
                slow);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decimal(data, size);
    char path[512];
    fuzz_path(path, sizeof path, fuzz_dir(), "session.jsonl");
    write_expanded(path, data, size);
    run(path, fuzz_claude_logs_scan);
    run(path, fuzz_codex_logs_scan);
    return 0;
}
