#!/usr/bin/perl
# skips counts the runs that were actually skipped: a provider whose
# collection ends well inside its interval skips none (each run used to
# count one), a forced refresh while it runs skips one; a timeout names
# the configured timeout.  A
# provider with enabled: false is no row of /api/automation/usage and
# not unavailable; /api/providers lists it as disabled.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd tmpdir wait_until);

my $dir = tmpdir('skips');
my $d = start_meterd(dir => $dir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  quick:
    plugin: @ROOT@/t/plugins/good.so
    interval: 2s
    timeout: 1s
    sleep_ms: 50
    metrics: ["m:usage:requests:1:-:-"]
  slow:
    plugin: @ROOT@/t/plugins/good.so
    interval: 6s
    timeout: 5s
    sleep_ms: 3000
    metrics: ["m:usage:requests:1:-:-"]
  late:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1h
    timeout: 300ms
    sleep_ms: 3000
    metrics: ["m:usage:requests:1:-:-"]
  sleeping:
    plugin: @ROOT@/t/plugins/good.so
    family: dormant
    enabled: false
    metrics: ["m:usage:requests:1:-:-"]
Y
ok($d->wait_runs('quick', 3, 30), 'quick ran three times');
is($d->member('quick')->{skips}, 0, 'a run that ends inside its interval skips nothing');
ok(wait_until(sub { ($d->member('slow') || {})->{running} }, 20), 'slow is running');
$d->get('/api/automation/usage?force_refresh=true');
ok($d->wait_runs('slow', 1, 30), 'slow finished');
is($d->member('slow')->{skips}, 1, 'a forced refresh while it runs is one skip');
my $late = $d->wait_runs('late', 1, 30);
like($late->{error}{message} // '', qr/exceeded its timeout of 300 ms/,
     'the timeout message names the configured timeout');

my $u = $d->usage;
ok(!(grep { $_->{provider} eq 'dormant' } @{ $u->{providers} }), 'a disabled provider is no usage row');
ok(!(grep { $_ eq 'dormant' } @{ $u->{unavailable_providers} }), '... and not unavailable');
is($d->member('sleeping')->{status}, 'disabled', '/api/providers lists it as disabled');
is($d->stop, 0, 'clean stop');
done_testing;
