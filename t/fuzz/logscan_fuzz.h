/*
 * t/fuzz/logscan_fuzz.h - the seam between the logscan harness and the
 * two log plugins it compiles in (logscan_claude.c, logscan_codex.c).
 *
 * Each plugin's line handler is static to its plugin, so each plugin is
 * compiled into its own wrapper file that exposes one function: scan the
 * one log file at path as that plugin's collect() would (its schema, its
 * markers, ls_scan with its line handler, ls_finish, then the cells,
 * periods and notes handed to the host), with a fresh state and no state
 * directory.  Returns 0, or -1 when the scan failed (out of memory).
 */
#ifndef METERD_LOGSCAN_FUZZ_H
#define METERD_LOGSCAN_FUZZ_H

#include "meterd/plugin.h"
#include "logscan.h"

#define FUZZ_LOG_NOW 1773151200.0      /* 2026-03-10T14:00:00Z */
#define FUZZ_LOG_RETENTION (400.0 * 86400)

int fuzz_claude_logs_scan(const md_host *h, md_ctx *ctx, const char *path);
int fuzz_codex_logs_scan(const md_host *h, md_ctx *ctx, const char *path);

/* found := the one file at path.  Returns 0 or -1. */
int fuzz_logscan_found(ls_list *found, const char *path);

#endif
