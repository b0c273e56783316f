/*
 * t/unit/plugin_codex_logs.c - the codex_logs plugin through the real host
 * on trees built from t/fixtures/codex_logs: expected figures (two turns
 * after the duplicate token_count is skipped; rate limits 23 % / 41 %),
 * the late-2025 resets_in_seconds shape, sessions/ winning over
 * archived_sessions/, and an incremental append that must continue from
 * the persisted previous total.  Per-day totals were cross-checked with
 * ccusage 20.0.24 (`ccusage codex daily --json --offline -z UTC`).
 */
#include "tap.h"
#include "logtest.h"

#include <time.h>

#define FIX "t/fixtures/codex_logs/"
#define S1 "sessions/2026/03/10/rollout-2026-03-10T13-40-01-0199d1c2.jsonl"

int main(void)
{
    char *root = lt_tmpdir(), *state = lt_tmpdir();
    lt_copy(FIX "codex_rollout.jsonl", root, S1);
    /* the same rollout also archived: the sessions/ copy wins */
    lt_copy(FIX "codex_rollout.jsonl", root,
            "archived_sessions/rollout-2026-03-10T13-40-01-0199d1c2.jsonl");
    lt_copy(FIX "codex_rollout_legacy.jsonl", root,
            "archived_sessions/rollout-2025-10-02T08-00-00-0199a0b1.jsonl");
    lt_puts(root, "sessions/2026/03/10/notes.jsonl", "w", "{\"token_count\":1}\n");

    collect_result r;
    lt_run("codex_logs", state, 5000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1773151200\"}", root);
    ok(r.err == MD_ERR_NONE, "scan succeeds");
    is_num(lt_tok(&r, "input_uncached", "today"), 5700, "in_uncached 3000+2700");
    is_num(lt_tok(&r, "cache_read", "today"), 21800, "cache_read 9000+12800");
    is_num(lt_tok(&r, "output", "today"), 2000, "output 800+1200");
    is_num(lt_tok(&r, "reasoning", "today"), 832, "reasoning 320+512");
    is_num(lt_tok(&r, "total", "today"), 29500, "total 12800+16700");
    is_num(lt_tok(&r, "cache_write", "today"), -2, "cache_write not applicable");
    is_num(lt_tok(&r, "total", "7d"), 29500, "legacy rollout is outside 7d");
    const metric *m = pt_metric(&r, "five_hour");
    ok(m && pt_known(m->utilization) && m->utilization.value == 23,
       "five_hour 23 % from the newest snapshot");
    ok(m && m->confidence == MD_EXACT && pt_known(m->collected_at) &&
       m->collected_at.epoch > 1773150062 && m->collected_at.epoch < 1773150063,
       "exact, collected_at = the event time");
    ok(m && pt_known(m->resets_at) && m->resets_at.epoch == 1773160200,
       "five_hour resets_at");
    m = pt_metric(&r, "seven_day");
    ok(m && pt_known(m->utilization) && m->utilization.value == 41, "seven_day 41 %");
    ok(pt_has_note(&r, "snapshot from 2026-03-10T13:41:02Z"), "snapshot note");
    ok(!pt_has_note(&r, "stale"), "19 minutes old: not stale");
    collect_result_clear(&r);

    /* incremental append: turn 3 continues from the persisted total */
    lt_puts(root, S1, "a",
            "{\"timestamp\":\"2026-03-10T13:45:00.000Z\",\"type\":\"event_msg\","
            "\"payload\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":"
            "{\"input_tokens\":30000,\"cached_input_tokens\":22000,\"output_tokens\":"
            "2100,\"reasoning_output_tokens\":832,\"total_tokens\":32100}},"
            "\"rate_limits\":null}}\n");
    lt_run("codex_logs", state, 5000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1773158400\"}", root);
    is_num(lt_tok(&r, "total", "today"), 32100, "append: delta 2600 added");
    is_num(lt_tok(&r, "input_uncached", "today"), 8000, "append: 5700 + 2300");
    ok(pt_has_note(&r, "1 read this run"), "only the appended file read");
    ok(pt_has_note(&r, "stale"), "two hours later the snapshot is stale");
    collect_result_clear(&r);

    /* legacy shape: resets relative to the line time */
    char *st2 = lt_tmpdir(), *root2 = lt_tmpdir();
    lt_copy(FIX "codex_rollout_legacy.jsonl", root2,
            "sessions/2025/10/02/rollout-2025-10-02T08-00-00-0199a0b1.jsonl");
    lt_run("codex_logs", st2, 5000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1759392000\"}", root2);
    is_num(lt_tok(&r, "total", "today"), 12800, "legacy turn");
    m = pt_metric(&r, "five_hour");
    ok(m && m->utilization.value == 12 && pt_known(m->resets_at) &&
       m->resets_at.epoch == 1759392015 + 16200, "legacy resets_in_seconds");
    collect_result_clear(&r);
    lt_rmrf(st2);
    lt_rmrf(root2);

    /* 3000 turns in 3000 slots: the cell table grows past its first
     * sizes while the cells are built; every cell is kept, in slot order */
    char *st3 = lt_tmpdir(), *root3 = lt_tmpdir();
    const char *rel3 = "sessions/2026/01/01/rollout-2026-01-01T00-00-00-many.jsonl";
    lt_puts(root3, rel3, "w", "");
    char p3[4096];
    snprintf(p3, sizeof p3, "%s/%s", root3, rel3);
    FILE *f3 = fopen(p3, "w");
    for (int i = 1; f3 && i <= 3000; i++) {
        time_t t = 1767225600 + (time_t)(i - 1) * 900; /* 2026-01-01, +15 min */
        struct tm tm;
        gmtime_r(&t, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        fprintf(f3, "{\"timestamp\":\"%s\",\"type\":\"event_msg\",\"payload\":"
                "{\"type\":\"token_count\",\"info\":{\"total_token_usage\":"
                "{\"input_tokens\":%d,\"cached_input_tokens\":0,\"output_tokens\":%d,"
                "\"reasoning_output_tokens\":0,\"total_tokens\":%d}}}}\n",
                ts, 10 * i, i, 11 * i);
    }
    if (f3)
        fclose(f3);
    lt_run("codex_logs", st3, 20000, &r,
           "{\"roots\": [\"%s\"], \"now\": \"1770000000\"}", root3);
    is_num(r.n_usage, 3000, "3000 slots: 3000 cells");
    double in_sum = 0;
    int ordered = 1;
    for (size_t i = 0; i < r.n_usage; i++) {
        in_sum += r.usage[i].b[UB_INPUT_UNCACHED].value;
        if (i && r.usage[i].slot_start <= r.usage[i - 1].slot_start)
            ordered = 0;
    }
    is_num(in_sum, 30000, "every cell's input kept (10 per turn)");
    ok(ordered, "cells in slot order");
    collect_result_clear(&r);
    lt_rmrf(st3);
    lt_rmrf(root3);
    lt_rmrf(root);
    lt_rmrf(state);
    return done_testing();
}
