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
    lt_rmrf(root);
    lt_rmrf(state);
    return done_testing();
}
