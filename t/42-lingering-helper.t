#!/usr/bin/perl
# A helper that delivers its result and then lingers (its process does not
# exit for seconds) costs nothing but its own provider's slot: the HTTP
# API keeps answering at once, an unrelated provider keeps collecting and
# SIGTERM is prompt.  Nothing waits for a child under the daemon lock.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd exec_script tmpdir wait_until);

my $config = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  lingers:
    plugin: @ROOT@/t/plugins/linger.so
    interval: 1h
    timeout: 10s
  fast:
    plugin: exec
    interval: 2s
    timeout: 1500ms
    command: ["@DIR@/fast.sh"]
Y
my $fast_body = qq(sleep 0.3\necho '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":5}]}'\n);

# Slowest of repeated /healthz requests over $secs seconds (ms).
sub healthz_p100 {
    my ($d, $secs) = @_;
    my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 0);
    my ($worst, $n, $bad) = (0, 0, 0);
    my $end = time + $secs;
    while (time < $end) {
        my $t0 = time;
        my $r = $http->get($d->base . '/healthz');
        my $ms = (time - $t0) * 1000;
        $bad++ unless $r->{status} == 200;
        $worst = $ms if $ms > $worst;
        $n++;
        sleep 0.02;
    }
    return ($worst, $n, $bad);
}

my $dir = tmpdir('linger');
exec_script($dir, 'fast.sh', $fast_body);
my $d = start_meterd(dir => $dir, config => $config);
my $t_start = time;
my ($worst, $n, $bad) = healthz_p100($d, 3);
cmp_ok(time - $t_start, '<', 4.5, 'sampling /healthz was not held up by the lingering helper');
cmp_ok($n, '>=', 20, "sampled /healthz $n times while the helper lingers");
is($bad, 0, 'every /healthz answered 200');
cmp_ok($worst, '<', 50, sprintf('/healthz p100 %.1f ms < 50 ms while a helper lingers', $worst));

my $lingers = $d->member('lingers');
ok($lingers && $lingers->{running}, 'the lingering helper is still running (not reaped early)');
my $fast = $d->member('fast');
is($fast->{status}, 'ok', 'the unrelated provider is ok ...');
is($fast->{failures}, 0, '... and never failed (no timeout) while the other helper lingered');
cmp_ok($fast->{runs}, '>=', 1, "... and kept collecting ($fast->{runs} runs)");

ok(wait_until(sub { my $m = $d->member('lingers'); $m && !$m->{running} && $m->{runs} >= 1 }, 15),
   'the lingering helper is reaped once it exits');
is($d->member('lingers')->{status}, 'ok', 'its result counts: it was complete before it lingered');
$d->stop;

# SIGTERM while a helper lingers.
my $dir2 = tmpdir('linger-term');
exec_script($dir2, 'fast.sh', $fast_body);
my $d2 = start_meterd(dir => $dir2, config => $config);
sleep 1.5;   # the helper has delivered its result and lingers (6 s)
my $t0 = time;
my $status = $d2->stop(15);
my $took = time - $t0;
isnt($status, 'timeout', 'SIGTERM ends the daemon');
cmp_ok($took, '<', 2, sprintf('SIGTERM exits in %.2f s (< 2 s) while a helper lingers', $took));

done_testing;
