#!/usr/bin/perl
# A hung plugin and a crashing plugin cost only their own collection.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd exec_script tmpdir write_file wait_until);

my $dir = tmpdir('iso');
write_file("$dir/mode", "ok\n");
exec_script($dir, 'good.sh', qq(echo '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":25}]}'\n));
# first good, then "hang" (ignores everything) or "crash"
my $d = start_meterd(dir => $dir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  good:
    plugin: exec
    interval: 1s
    timeout: 900ms
    command: ["@DIR@/good.sh"]
  hung:
    plugin: @ROOT@/t/plugins/hang.so
    interval: 2s
    timeout: 500ms
  crashy:
    plugin: @ROOT@/t/plugins/segv.so
    interval: 2s
    timeout: 1s
  aborts:
    plugin: @ROOT@/t/plugins/abort.so
    interval: 2s
    timeout: 1s
  old-abi:
    plugin: @ROOT@/t/plugins/abi2.so
    interval: 2s
    timeout: 1s
Y

ok(wait_until(sub { ($d->member('hung') || {})->{status} eq 'error' }), 'hung provider reaches an error');
my $hung = $d->member('hung');
is($hung->{error}{class}, 'timeout', 'hung plugin: error class timeout');
my $crashy = $d->wait_runs('crashy', 1);
is($crashy->{error}{class}, 'crashed', 'segfaulting plugin: error class crashed');
like($crashy->{error}{message}, qr/SIGSEGV|Segmentation/i, 'names the signal');
my $ab = $d->wait_runs('aborts', 1);
is($ab->{error}{class}, 'crashed', 'aborting plugin: crashed');
my $old = $d->wait_runs('old-abi', 1);
is($old->{error}{class}, 'abi', 'a plugin built for another ABI fails as abi ...');
like($old->{error}{message}, qr/plugin 'old-abi' built for ABI 2, meterd provides 1/, '... with a clear message');
like($d->log_text, qr/warning: meterd: .*built for ABI 2.*will not collect/, 'and a warning at start, not a refusal');
ok($d->wait_runs('good', 3), 'the good provider keeps collecting meanwhile');
my ($st, $h) = $d->get('/healthz');
is($st, 200, 'healthz answers');
is($h->{status}, 'ok', 'daemon ok');
my $u = $d->usage;
my %rows = map { $_->{provider} => $_ } @{ $u->{providers} };
is($rows{good}{status}, 'ok', 'good row ok');
is($rows{hung}{status}, 'unavailable', 'hung row unavailable');
is($rows{hung}{usage_remaining_reason}, 'collection_failed', 'reason says why');
ok((grep { $_ eq 'hung' } @{ $u->{unavailable_providers} }), 'listed as unavailable');

# No zombies or stray helpers left behind.
# A helper that just exited may be a zombie for an instant until the
# scheduler reaps it; none may stay.
sub zombies { scalar grep { /\sZ/ } `ps -o pid=,stat= --ppid $d->{pid}` }
ok(wait_until(sub { zombies() == 0 }, 10), 'no zombie helpers stay behind');

# SIGTERM while a plugin hangs: exit within 2 s.
ok(wait_until(sub { ($d->member('hung') || {})->{running} }, 10), 'hung plugin running again');
my $t0 = time;
is($d->stop(10), 0, 'exit status 0');
ok(time - $t0 < 2.0, sprintf('stopped in %.2fs (< 2 s) while a plugin hangs', time - $t0));
done_testing;
