#!/usr/bin/perl
# Quota intelligence end to end through exec plugins whose meters move in
# real time: the burn rate matches the true slope, a meter that runs out
# before its reset is topup, a reset starts a new segment, expiring
# credits with little burn are use_or_lose, too few samples give null with
# a forecast_reason, the notify command gets every transition exactly
# once, forecasts survive a restart, the fast lane polls faster only
# while a meter is urgent, and /api/advice ranks families.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd exec_script tmpdir json wait_until write_file read_file);

my $dir = tmpdir('forecast');
my $t0 = time;
sub rfc { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])) }
my $day = rfc($t0 + 86400);
my $soon = rfc($t0 + 3 * 86400);
write_file("$dir/t0", sprintf("%.6f\n", $t0));
write_file("$dir/phase", "1 0\n");
write_file("$dir/util", "10\n");

# used = RATE x seconds since t0 (awk: sh has no floating point)
sub mover {
    my ($name, $rate, $limit, $resets) = @_;
    exec_script($dir, "$name.sh", <<SH);
d=\$(dirname "\$0")
set -- \$(date -u '+%s.%N %Y-%m-%dT%H:%M:%S.%NZ')
awk -v now="\$1" -v at="\$2" -v t0="\$(cat \$d/t0)" 'BEGIN {
  printf "{\\"status\\":\\"ok\\",\\"metrics\\":[{\\"id\\":\\"tokens\\",\\"kind\\":\\"quota_window\\",\\"unit\\":\\"tokens\\",\\"used\\":%.6f,\\"limit\\":$limit,\\"resets_at\\":\\"$resets\\",\\"collected_at\\":\\"%s\\"}]}\\n", (now - t0) * $rate, at }'
SH
}
mover('steady', 2, 10000000, $day);     # 7200/h: lasts past the reset
mover('burner', 10, 100000, $day);      # 36000/h: runs out in under 3 h
# phase 1: 5/s since t0; phase 2 (after the reset): 1/s since t1, resets
# an hour later
my $later = rfc($t0 + 86400 + 3600);
exec_script($dir, 'reset.sh', <<SH);
d=\$(dirname "\$0")
set -- \$(cat \$d/phase) \$(date -u '+%s.%N %Y-%m-%dT%H:%M:%S.%NZ')
awk -v now="\$3" -v at="\$4" -v t0="\$(cat \$d/t0)" -v phase="\$1" -v t1="\$2" 'BEGIN {
  if (phase == 1) { u = (now - t0) * 5; r = "$day" } else { u = (now - t1) * 1; r = "$later" }
  printf "{\\"status\\":\\"ok\\",\\"metrics\\":[{\\"id\\":\\"tokens\\",\\"kind\\":\\"quota_window\\",\\"unit\\":\\"tokens\\",\\"used\\":%.6f,\\"limit\\":1000000,\\"resets_at\\":\\"%s\\",\\"collected_at\\":\\"%s\\"}]}\\n", u, r, at }'
SH
exec_script($dir, 'credits.sh', <<SH);
echo '{"status":"ok","metrics":[{"id":"balance","kind":"credits","unit":"usd","remaining":100,"expires_at":"$soon"}]}'
SH
exec_script($dir, 'empty.sh', <<SH);
echo '{"status":"ok","metrics":[{"id":"monthly","kind":"budget","unit":"usd","used":10,"limit":10,"resets_at":"$day"}]}'
SH
exec_script($dir, 'watcher.sh', <<'SH');
echo '{"status":"ok","metrics":[{"id":"window","kind":"quota_window","utilization":'"$(cat "$(dirname "$0")/util")"'}]}'
SH
exec_script($dir, 'notify.sh', <<'SH');
cat >> "$(dirname "$0")/notified"
SH

my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
sample_every: 1s
forecast:
  min_samples: 3
  min_span: 2s
notify:
  command: ["@DIR@/notify.sh"]
  timeout: 5s
providers:
  steady: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["@DIR@/steady.sh"]}
  burner: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["@DIR@/burner.sh"]}
  reset: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["@DIR@/reset.sh"]}
  credits: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["@DIR@/credits.sh"]}
  empty: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["@DIR@/empty.sh"]}
  sparse:
    plugin: exec
    interval: 500ms
    timeout: 450ms
    command: ["@DIR@/steady.sh"]
    forecast: {min_samples: 100000}
  watcher:
    plugin: exec
    interval: 3s
    timeout: 2s
    command: ["@DIR@/watcher.sh"]
    forecast: {fast_lane_interval: 400ms, alert_hold: 0s, min_samples: 100000}
Y
$conf =~ s/\@DIR\@/$dir/g;
my $d = start_meterd(dir => $dir, config => $conf);

sub quotas {
    my ($st, $doc) = $d->get('/api/quotas');
    return $st == 200 ? $doc : undef;
}
sub entry {
    my ($provider, $doc) = @_;
    $doc //= quotas() or return undef;
    my ($e) = grep { $_->{provider} eq $provider } @{ $doc->{quotas} };
    return $e;
}
sub within { my ($got, $want, $rel) = @_; defined $got && abs($got - $want) <= $rel * $want }

# ---- burn rate, topup, too few samples ----
my $steady = wait_until(sub {
    my $e = entry('steady');
    $e && defined $e->{burn_per_hour} && $e->{segment_samples} >= 10 ? $e : undef }, 90);
ok($steady, 'steady: a burn rate once enough samples span min_span');
ok(within($steady->{burn_per_hour}, 7200, 0.05),
   "burn_per_hour within 5 % of the true 7200/h ($steady->{burn_per_hour})");
ok(within($steady->{burn_per_day}, 24 * 7200, 0.05), 'burn_per_day is 24 x');
is($steady->{exhausts_at}, undef, 'lasting past the reset: no exhausts_at');
is($steady->{forecast_reason}, 'not_before_reset', '... with reason not_before_reset');
ok($steady->{runway_seconds} > 86400, 'runway longer than the time to the reset');
ok(within($steady->{projected_at_reset}, $steady->{used} + 7200 * (Meterd::epoch($day) - time) / 3600, 0.05),
   'projected_at_reset = used now + burn x hours to the reset');
is($steady->{alert}, 'ok', 'steady is ok');

my $burner = wait_until(sub { my $e = entry('burner'); $e && $e->{alert} eq 'topup' ? $e : undef }, 90);
ok($burner, 'burner: running out before the reset is topup');
ok(defined $burner->{exhausts_at} && Meterd::epoch($burner->{exhausts_at}) < Meterd::epoch($day),
   'exhausts_at is before resets_at');
ok(within($burner->{burn_per_hour}, 36000, 0.05), "burner's burn within 5 % ($burner->{burn_per_hour})");

my $sparse = entry('sparse');
is($sparse->{burn_per_hour}, undef, 'too few samples (provider override min_samples): burn null');
is($sparse->{forecast_reason}, 'too_few_samples', '... with forecast_reason too_few_samples');
is($sparse->{exhausts_at}, undef, '... and exhausts_at null');

# ---- use or lose ----
my $credits = wait_until(sub { my $e = entry('credits'); $e && $e->{alert} eq 'use_or_lose' ? $e : undef }, 90);
ok($credits, 'credits expiring within the horizon with no burn: use_or_lose');
is($credits->{burn_per_hour}, 0, 'their burn is 0');
is($credits->{forecast_reason}, 'no_consumption', 'runway null: no_consumption');
is($credits->{expires_at}, $soon, 'expires_at carried from the exec JSON');
my $doc = quotas();
ok($doc->{has_use_or_lose}, 'has_use_or_lose');
ok($doc->{has_exhausted}, 'has_exhausted (the empty budget)');
is($doc->{schema}, 'meterd.quotas.v1', 'schema');
is($doc->{quotas}[0]{alert}, 'exhausted', 'sorted by urgency: exhausted first');
is($doc->{by_alert}{exhausted}, 1, 'by_alert counts');

# ---- a reset mid-way starts a new segment ----
my $before = wait_until(sub { my $e = entry('reset'); $e && $e->{segment_samples} >= 8 && defined $e->{burn_per_hour} ? $e : undef }, 90);
ok(within($before->{burn_per_hour}, 18000, 0.05), "before the reset: 5/s ($before->{burn_per_hour})");
write_file("$dir/phase", sprintf("2 %.6f\n", time));
my $after = wait_until(sub { my $e = entry('reset'); $e && $e->{segment_samples} < $before->{segment_samples} ? $e : undef }, 10);
ok($after, 'after the reset the segment starts again');
$after = wait_until(sub { my $e = entry('reset'); $e && defined $e->{burn_per_hour} && $e->{segment_samples} >= 10 ? $e : undef }, 90);
ok(within($after->{burn_per_hour}, 3600, 0.05), "the new segment's slope only: 1/s ($after->{burn_per_hour})");

# ---- the family row ----
my $u = $d->usage;
my ($row) = grep { $_->{provider} eq 'burner' } @{ $u->{providers} };
is($row->{alert}, 'topup', 'family row carries the alert');
ok(defined $row->{exhausts_at}, '... and exhausts_at');

# ---- advice ----
my ($st, $adv) = $d->get('/api/advice?candidates=empty,steady,nosuch,credits');
is($st, 200, 'advice answers');
is_deeply([map { $_->{family} } @{ $adv->{candidates} }], [qw(credits steady empty nosuch)],
          'use_or_lose first, then headroom, exhausted and unknown last');
is($adv->{candidates}[2]{verdict}, 'exhausted', 'exhausted verdict');
is($adv->{candidates}[2]{available_again_at}, $day, '... available again at its reset');
is($adv->{candidates}[3]{verdict}, 'unknown', 'an unknown family is unknown');
ok(length $adv->{candidates}[1]{reason}, 'each with a reason');
my ($st2, $adv2) = $d->get('/api/advice?candidates=credits,nosuch,steady,empty');
is_deeply([map { $_->{family} } @{ $adv2->{candidates} }], [map { $_->{family} } @{ $adv->{candidates} }],
          'the order does not depend on the order asked');
for my $bad ('', '?candidates=', '?candidates=a,,b', '?candidates=a,a', '?other=1') {
    my ($s, $e) = $d->get("/api/advice$bad");
    is($s, 400, "advice$bad: 400");
    ok($e && $e->{error}{message}, '... with a JSON error');
}

# ---- fast lane ----
sub runs_in {
    my ($secs) = @_;
    my $a = $d->member('watcher')->{runs};
    sleep $secs;
    return $d->member('watcher')->{runs} - $a;
}
my $calm = runs_in(4);
ok($calm <= 2, "not urgent: the 3 s interval ($calm runs in 4 s)");
write_file("$dir/util", "90\n");
ok(wait_until(sub { my $e = entry('watcher'); $e && $e->{alert} eq 'watch' }, 20), 'utilization 90: watch');
my $fast = runs_in(4);
ok($fast >= 4, "urgent: the fast lane ($fast runs in 4 s)");
write_file("$dir/util", "10\n");
ok(wait_until(sub { my $e = entry('watcher'); $e && $e->{alert} eq 'ok' }, 20), 'back to ok');
sleep 3.5;   # the last fast-lane due time passes
my $calm2 = runs_in(4);
ok($calm2 <= 2, "no longer urgent: back to the interval ($calm2 runs in 4 s)");

# ---- notify: every transition exactly once ----
my $q = quotas();
ok(wait_until(sub { my $n = () = (read_file("$dir/notified") // '') =~ /\n/g; $n >= $q->{alert_transitions} }, 10),
   'the notify command ran');
my @lines = map { json->decode($_) } split /\n/, read_file("$dir/notified") // '';
is(scalar @lines, quotas()->{alert_transitions}, 'one notification per counted transition');
my %seen;
$seen{"$_->{provider}/$_->{meter}:$_->{from}>$_->{to}"}++ for @lines;
is($seen{'burner/tokens:ok>topup'}, 1, 'burner ok -> topup notified exactly once');
is($seen{'credits/balance:ok>use_or_lose'}, 1, 'credits ok -> use_or_lose notified exactly once');
is($seen{'watcher/window:watch>ok'}, 1, 'watcher watch -> ok notified once');
ok(!grep({ $_ > 1 } values %seen), 'no transition notified twice');
my ($b) = grep { $_->{provider} eq 'burner' } @lines;
ok($b->{family} && $b->{reason} && $b->{at}, 'with family, reason and at');
like($d->log_text, qr/alert tokens: ok -> topup/, 'and logged');

# ---- forecasts survive a restart ----
$d->stop;
$d->start;
my $r = entry('steady');
ok(defined $r->{burn_per_hour}, 'after a restart the burn rate is there at once');
ok(within($r->{burn_per_hour}, 7200, 0.05), "... from the stored samples ($r->{burn_per_hour})");

done_testing;
