#!/usr/bin/perl
# Local CLI logs end to end: daemon + claude_logs/codex_logs on recorded
# transcripts -> GET /api/usage/daily (the expected figures), the same
# report from `meterd report daily` sharing the plugins' state, and an
# appended turn picked up incrementally.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Meterd qw(start_meterd run_meterd tmpdir root json wait_until);

my $dir = tmpdir('logs');
my $fx = root() . '/t/fixtures';
make_path("$dir/claude/projects/-home-dev-proj", "$dir/codex/sessions/2026/03/10");
copy("$fx/claude_logs/claude_code_session.jsonl", "$dir/claude/projects/-home-dev-proj/7c1f3e2a.jsonl") or die;
copy("$fx/codex_logs/codex_rollout.jsonl", "$dir/codex/sessions/2026/03/10/rollout-2026-03-10T13-40-01-0199d1c2.jsonl") or die;
my $d = start_meterd(dir => $dir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
aliases: @ROOT@/conf/aliases.yaml
providers:
  claude-logs:
    plugin: claude_logs
    roots: ["@DIR@/claude"]
    interval: 1s
    timeout: 900ms
  codex-logs:
    plugin: codex_logs
    roots: ["@DIR@/codex"]
    interval: 1h
Y
ok($d->wait_runs('claude-logs', 1) && $d->wait_runs('codex-logs', 1), 'both scanned');

my $q = 'since=2026-03-10&until=2026-03-10&tz=UTC';
my ($st, $c) = $d->get("/api/usage/daily?provider=claude-logs&$q");
is($st, 200, 'daily 200');
my $day = $c->{days}[0];
is($day->{date}, '2026-03-10', 'the transcript day');
is($day->{tokens_input_uncached}, 5, 'claude: input 4 + 1 (streaming duplicates counted once)');
is($day->{tokens_cache_write}, 21442, 'claude: cache write 20154 + 1288');
is($day->{tokens_cache_read}, 47994, 'claude: cache read 13920 + 34074');
is($day->{tokens_output}, 648, 'claude: output 412 + 236 (the larger of the partials)');
is($day->{tokens_total}, 70089, 'claude: total');
ok(!defined $day->{tokens_reasoning}, 'claude logs never report reasoning: null, not 0');

my ($st2, $x) = $d->get("/api/usage/daily?provider=codex-logs&$q");
$day = $x->{days}[0];
is($day->{tokens_input_uncached}, 5700, 'codex: input net of cached (3000 + 2700)');
is($day->{tokens_cache_read}, 21800, 'codex: cached 9000 + 12800');
is($day->{tokens_output}, 2000, 'codex: output 800 + 1200 (the duplicate event skipped)');
is($day->{tokens_reasoning}, 832, 'codex: reasoning 320 + 512');
is($day->{tokens_total}, 29500, 'codex: total');

# the latest rate-limit snapshot as quota windows, log-derived
my $m = $d->member('codex-logs');
my %mm = map { $_->{id} => $_ } @{ $m->{metrics} };
is($mm{five_hour}{utilization}, 23, 'codex snapshot: 5 h window 23 %');
is($mm{seven_day}{utilization}, 41, 'codex snapshot: weekly window 41 %');
is($mm{five_hour}{source}, 'local_log', 'marked as from local logs');
is($mm{tokens_total_7d}{confidence}, 'estimated', 'log token buckets are estimates');

# append one more turn: the next collection reads only the new bytes
open my $fh, '>>', "$dir/claude/projects/-home-dev-proj/7c1f3e2a.jsonl" or die;
print $fh json->encode({ type => 'assistant', timestamp => '2026-03-10T14:30:00.000Z', sessionId => 's2',
    version => '2.1.70', requestId => 'req_new', cwd => '/home/dev/proj', isSidechain => JSON::PP::false,
    uuid => 'u-new', message => { id => 'msg_new', model => 'claude-sonnet-4-5-20250929', role => 'assistant',
    usage => { input_tokens => 10, output_tokens => 20, cache_creation_input_tokens => 0,
               cache_read_input_tokens => 100 } } }), "\n";
close $fh;
ok(wait_until(sub {
    my ($s, $doc) = $d->get("/api/usage/daily?provider=claude-logs&$q");
    ($doc->{days}[0]{tokens_total} // 0) == 70089 + 130;
}, 20), 'an appended turn is picked up');
is($d->stop, 0, 'clean stop');

# the CLI report uses the same plugins and state
my $r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--provider', 'claude-logs',
                            '--since', '2026-03-10', '--until', '2026-03-10', '--tz', 'UTC', '--json']);
is($r->{rc}, 0, 'meterd report daily exits 0') or diag $r->{err};
my $rep = eval { json->decode($r->{out}) };
is($rep->{days}[0]{tokens_total}, 70089 + 130, 'the CLI report equals the API');
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--provider', 'codex-logs',
                         '--since', '2026-03-10', '--until', '2026-03-10']);
like($r->{out}, qr/2026-03-10\s+5\D?700/, 'the table shows the day') or diag $r->{out};
done_testing;
