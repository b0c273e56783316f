#!/usr/bin/perl
# Failures back off exponentially (capped), 429 honours Retry-After, the next
# attempt is visible, and runs of one provider never overlap.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd start_mock exec_script tmpdir write_file read_file wait_until epoch);

my $mock = start_mock(routes => [
    { path => '/user/balance', status => 429, headers => { 'Retry-After' => '120' },
      body => '{"error":{"message":"Rate limit reached","type":"rate_limit"}}' },
]);
my $dir = tmpdir('backoff');
exec_script($dir, 'fail.sh', "echo nope >&2; exit 1\n");
my $d = start_meterd(dir => $dir, env => { DS_KEY => 'sk-test-backoff-0123456789' }, config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
min_refresh_interval: 100ms
providers:
  failing:
    plugin: exec
    interval: 1s
    timeout: 500ms
    command: ["\@DIR\@/fail.sh"]
  deepseek:
    plugin: deepseek
    base_url: ${\ $mock->url }
    api_key: \${DS_KEY}
    interval: 2s
    timeout: 1s
  overlap:
    plugin: \@ROOT\@/t/plugins/good.so
    interval: 1s
    timeout: 900ms
    sleep_ms: 600
    counter_file: \@DIR\@/counter
    metrics: ["m:usage:requests:1:-:-"]
Y

# Exponential backoff: gaps between attempts grow 1, 2, 4 ... (x interval)
my @gaps;
for my $n (1 .. 3) {
    my $m = $d->wait_runs('failing', $n, 30);
    ok($m, "failing provider attempt $n");
    is($m->{consecutive_failures}, $n, "consecutive failures = $n");
    push @gaps, epoch($m->{next_attempt_at}) - epoch($m->{last_attempt_at}) if $m;
}
ok($gaps[1] > $gaps[0] * 1.5 && $gaps[2] > $gaps[1] * 1.5, sprintf('backoff grows: %.1f %.1f %.1f s', @gaps));
ok($gaps[2] <= 8 * 1 + 1, 'capped at 8x interval');

# 429 with Retry-After: 120 -> rate_limited, next attempt >= 120 s away
my $ds = $d->wait_runs('deepseek', 1);
is($ds->{error}{class}, 'rate_limited', '429 is rate_limited');
ok(epoch($ds->{next_attempt_at}) - epoch($ds->{last_attempt_at}) >= 119, 'Retry-After honoured in next_attempt_at');
# force_refresh must not poll a provider in backoff
my $before = scalar @{ $mock->requests('/user/balance') };
$d->get('/api/automation/usage?force_refresh=1');
$d->get('/api/automation/usage?force_refresh=1');
is(scalar @{ $mock->requests('/user/balance') }, $before, 'forced refresh respects Retry-After');

# No overlapping runs, even under a refresh storm.
for (1 .. 10) { $d->get('/api/automation/usage?force_refresh=true'); sleep 0.1 }
ok($d->wait_runs('overlap', 3, 30), 'overlap provider ran several times');
my @spans = map { [split ' '] } grep { /\S/ } split /\n/, read_file("$dir/counter");
my $overlaps = 0;
for my $i (1 .. $#spans) { $overlaps++ if $spans[$i][0] < $spans[$i - 1][1] }
ok(@spans >= 3, scalar(@spans) . ' runs recorded');
is($overlaps, 0, 'no run started before the previous one ended');
ok($d->member('overlap')->{skips} >= 1, 'skipped refreshes are counted');
is($d->stop, 0, 'clean stop');
done_testing;
