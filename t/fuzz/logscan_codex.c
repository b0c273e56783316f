/*
 * t/fuzz/logscan_codex.c - plugins/codex_logs.c compiled into the
 * logscan harness, with the scan of one file exposed (logscan_fuzz.h).
 */
#define meterd_plugin_entry fuzz_codex_logs_plugin_entry
#include "../../plugins/codex_logs.c"
#undef meterd_plugin_entry

#include "logscan_fuzz.h"

int fuzz_codex_logs_scan(const md_host *h, md_ctx *ctx, const char *path)
{
    if (schema_ok < 0) schema_ok = js_schema_init(&schema, fields, F_N);
    if (schema_ok != 0) abort();
    ls_state st;
    memset(&st, 0, sizeof st);
    st.fd_state = -1;
    st.markers[0] = "\"token_count\"";
    st.markers[1] = "\"turn_context\"";
    st.n_markers = 2;
    double cut = FUZZ_LOG_NOW - FUZZ_LOG_RETENTION;
    st.cutoff_slot = (uint32_t)(cut / MD_USAGE_SLOT_SECONDS);
    rl_snap snap;
    memset(&snap, 0, sizeof snap);
    ls_list found = {0};
    if (fuzz_logscan_found(&found, path) != 0) abort();
    cx_run run = {&snap, 0, 0};
    /* One thread: the same parse and apply halves the plugin runs, in a
     * deterministic order, so a crash reproduces. */
    ls_plugin_fns fns = {.parse = parse_line, .apply = apply_rec,
                         .classify = classify_line, .conf = NULL,
                         .user = &run};
    ls_result res = ls_scan(h, ctx, &st, &found, &fns, 1, 60000);
    ls_list_release(&found);
    int rc = -1;
    if (!res.failed && ls_finish(&st, FUZZ_LOG_NOW, FUZZ_LOG_RETENTION) == 0) {
        ls_put_usage(h, ctx, &st, st.changed, st.min_changed);
        ls_emit_periods(h, ctx, &st, FUZZ_LOG_NOW, 1, 1);
        emit_snapshot(h, ctx, &snap, FUZZ_LOG_NOW);
        ls_report(h, ctx, &st, &res, 1, path, "", run.events, "events", "fuzz");
        rc = 0;
    }
    ls_clear(&st);
    return rc;
}
