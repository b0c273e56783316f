#!/usr/bin/perl
# deepseek plugin end to end: daemon + plugin + mock server.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd start_mock tmpdir wait_until root);

my $fx = root() . '/t/fixtures/deepseek';
my $mock = start_mock(fixtures => $fx, routes => [
    { path => '/user/balance', status => 200, body_file => 'balance_ok.json' },
]);
my $d = start_meterd(env => { DEEPSEEK_API_KEY => 'sk-e2e-0123456789abcdef' }, config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
min_refresh_interval: 100ms
providers:
  deepseek:
    plugin: deepseek
    base_url: ${\ $mock->url }
    api_key: \${DEEPSEEK_API_KEY}
    interval: 1h
    timeout: 3s
Y
ok($d->wait_runs('deepseek', 1), 'collected');
my $reqs = $mock->requests('/user/balance');
is(scalar @$reqs, 1, 'one request');
like($reqs->[0]{authorization} // '', qr/^Bearer \*+cdef$/, 'sent the bearer key');
my $u = $d->usage;
my $row = $u->{providers}[0];
is($row->{provider}, 'deepseek', 'row');
is($row->{status}, 'ok', 'ok');
my %m = map { $_->{id} => $_ } @{ $row->{metrics} };
is($m{balance_usd}{remaining}, 18.42, 'USD balance');
is($m{balance_usd}{kind}, 'credits', 'credits kind');
ok(!defined $m{balance_usd}{limit}, 'limit unknown, not 0');
ok(!defined $m{balance_usd}{used}, 'used unknown, not 0');
is($m{balance_cny}{remaining}, 110, 'CNY balance');
ok(defined $row->{usage_remaining}, 'a credits balance bounds usage');

# Truncated body -> bad_data, last good data kept and stale.
$mock->set_routes([{ path => '/user/balance', status => 200, body_file => 'balance_ok.json', truncate => 40 }]);
sleep 1;
$d->get('/api/automation/usage?force_refresh=true');
ok(wait_until(sub { ($d->member('deepseek') || {})->{status} eq 'error' }), 'now in error');
my $mem = $d->member('deepseek');
like($mem->{error}{class}, qr/^(bad_data|network)$/, 'truncated payload is bad_data (or a transport error)');
$u = $d->usage;
is($u->{providers}[0]{status}, 'unavailable', 'family unavailable');
ok($u->{providers}[0]{members}[0]{stale}, 'stale');
my %m2 = map { $_->{id} => $_ } @{ $u->{providers}[0]{metrics} };
is($m2{balance_usd}{remaining}, 18.42, 'last good balance kept');
is($d->stop, 0, 'clean stop');
done_testing;
