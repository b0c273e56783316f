#!/usr/bin/perl
# Seed 001's three acceptance cases, through the real daemon and HTTP API.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use Meterd qw(start_meterd exec_script tmpdir write_file wait_until);

my $aliases = <<'Y';
families:
  openai: [openai, openai-api, openai-codex, codex]
  claude: [claude, claude-code, anthropic]
Y

sub metric_json { my (@m) = @_; return '{"status":"ok","metrics":[' . join(',', @m) . ']}' }

# --- 1. summary metric gives usage_remaining while the primary is runtime-only
{
    my $dir = tmpdir('seed1');
    exec_script($dir, 'seed.sh', "cat <<'J'\n" . metric_json(
        '{"id":"runtime","label":"Runtime","kind":"usage","unit":"tasks","used":12}',
        '{"id":"five_hour","kind":"quota_window","unit":"hours","used":1,"remaining":4,"limit":5,"window_seconds":18000}') . "\nJ\n");
    my $d = start_meterd(dir => $dir, files => { 'aliases.yaml' => $aliases }, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
aliases: aliases.yaml
providers:
  codex:
    plugin: exec
    interval: 1h
    timeout: 5s
    command: ["@DIR@/seed.sh"]
Y
    ok($d->wait_runs('codex', 1), 'exec provider collected once');
    my $u = $d->usage;
    is($u->{schema}, 'meterd.usage.v1', 'schema tag');
    is(scalar @{ $u->{providers} }, 1, 'one row');
    my $row = $u->{providers}[0];
    is($row->{provider}, 'openai', 'codex coalesces into the openai family');
    is($row->{status}, 'ok', 'row ok');
    is($row->{actual_current_usage}, 12, 'actual_current_usage is the runtime used');
    is($row->{actual_current_usage_unit}, 'tasks', 'runtime unit');
    is($row->{usage_remaining}, 4, 'usage_remaining from the 5 h window');
    is($row->{usage_remaining_unit}, 'hours', 'usage_remaining_unit hours');
    ok(!defined $row->{usage_remaining_reason}, 'no reason when known');
    is($row->{governing_metric}{id}, 'five_hour', 'governing metric is the window');
    is($row->{governing_metric}{limit}, 5, 'governing limit');
    is($d->stop, 0, 'daemon exits 0 on SIGTERM');
}

# --- 2. openai + openai-codex + claude-code coalesce to exactly two rows
{
    my $dir = tmpdir('seed2');
    for my $n (qw(a b c)) {
        exec_script($dir, "$n.sh", "cat <<'J'\n" . metric_json(
            qq({"id":"w_$n","kind":"quota_window","unit":"percent","utilization":) . ({a => 10, b => 70, c => 30}->{$n}) . '}') . "\nJ\n");
    }
    my $d = start_meterd(dir => $dir, files => { 'aliases.yaml' => $aliases }, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
aliases: aliases.yaml
providers:
  openai:
    plugin: exec
    interval: 1h
    command: ["@DIR@/a.sh"]
  openai-codex:
    plugin: exec
    interval: 1h
    command: ["@DIR@/b.sh"]
  claude-code:
    plugin: exec
    interval: 1h
    command: ["@DIR@/c.sh"]
Y
    ok($d->wait_runs($_, 1), "$_ collected") for qw(openai openai-codex claude-code);
    my $u = $d->usage;
    is($u->{tracked_providers}, 2, 'tracked_providers = 2');
    my %rows = map { $_->{provider} => $_ } @{ $u->{providers} };
    is_deeply([sort keys %rows], [qw(claude openai)], 'exactly the two families');
    is_deeply([sort map { $_->{name} } @{ $rows{openai}{members} }], [qw(openai openai-codex)],
              'openai row keeps both members');
    is($rows{openai}{governing_metric}{provider}, 'openai-codex', 'the more used variant governs');
    is($rows{openai}{usage_remaining}, 30, 'remaining 100-70 percent');
    is($rows{openai}{usage_remaining_unit}, 'percent', 'percent unit');
    is(scalar @{ $rows{openai}{metrics} }, 2, 'merged metrics of both members');
    is_deeply($u->{unavailable_providers}, [], 'nothing unavailable');
    $d->stop;
}

# --- 3. forced refresh exceeding the budget returns 200 with snapshot fallback
{
    my $dir = tmpdir('seed3');
    write_file("$dir/mode", "ok\n");
    exec_script($dir, 'slow.sh', <<"S");
if grep -q hang "$dir/mode"; then sleep 30; fi
echo '{"status":"ok","metrics":[{"id":"credits","kind":"credits","unit":"usd","remaining":7.5}]}'
S
    exec_script($dir, 'fast.sh', qq(echo '{"status":"ok","metrics":[{"id":"five_hour","kind":"quota_window","unit":"percent","utilization":20}]}'\n));
    my $d = start_meterd(dir => $dir, files => { 'aliases.yaml' => $aliases }, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
aliases: aliases.yaml
endpoint_timeout: 1s
min_refresh_interval: 250ms
providers:
  slow:
    plugin: exec
    interval: 1h
    timeout: 20s
    command: ["@DIR@/slow.sh"]
  claude:
    plugin: exec
    interval: 1h
    command: ["@DIR@/fast.sh"]
Y
    ok($d->wait_runs('slow', 1) && $d->wait_runs('claude', 1), 'both collected once');
    write_file("$dir/mode", "hang\n");
    sleep 1; # let min_refresh_interval pass
    my $t0 = time;
    my ($st, $u) = $d->get('/api/automation/usage?force_refresh=true');
    my $took = time - $t0;
    is($st, 200, 'HTTP 200 although a provider hangs');
    ok($took < 1.0 + 1.5, sprintf('answered within the budget (%.2fs, budget 1s)', $took));
    is($u->{meta}{data_source}, 'snapshot_fallback', 'meta.data_source');
    is($u->{meta}{fallback_reason}, 'timeout', 'meta.fallback_reason');
    is_deeply($u->{meta}{fallbacks_used}, ['timeout'], 'meta.fallbacks_used');
    is_deeply($u->{meta}{fallback_providers}, ['slow'], 'the hung provider is listed');
    my ($slow) = grep { $_->{provider} eq 'slow' } @{ $u->{providers} };
    is($slow->{members}[0]{served_from}, 'snapshot', 'hung member served from snapshot');
    ok(defined $slow->{members}[0]{age_seconds}, 'with its age');
    is($slow->{usage_remaining}, 7.5, 'last good value still served');
    my ($fast) = grep { $_->{provider} eq 'claude' } @{ $u->{providers} };
    is($fast->{members}[0]{served_from}, 'live', 'the fast provider is live');
    # A refresh with everything fresh answers live_refresh.
    write_file("$dir/mode", "ok\n");
    my $u2 = $d->usage;
    is($u2->{meta}{data_source}, 'live_or_cache', 'plain GET is live_or_cache');
    my $st_d = $d->stop(5);
    is($st_d, 0, 'SIGTERM exits 0 while a plugin hangs');
}

done_testing;
