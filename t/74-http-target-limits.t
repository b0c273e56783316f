#!/usr/bin/perl
# The request target is checked on every route before anything else:
# more than 64 query parameters (MHD would exhaust the connection's
# memory parsing 300 and close without a response) is a JSON 400, and an
# encoded NUL (%00) - which would cut a provider name or a parameter
# value short (/api/providers/p1%00zzz served p1) - is a JSON 400 too.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Meterd qw(start_meterd tmpdir json);

my $d = start_meterd(dir => tmpdir('target'), config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  p1:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1h
Y
my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
sub req {
    my ($method, $path) = @_;
    my $r = $http->request($method, $d->base . $path,
        $method eq 'POST' ? { content => '[]', headers => { 'Content-Type' => 'application/json' } } : {});
    return ($r->{status}, eval { json->decode($r->{content}) });
}
my ($st) = req('GET', '/api/providers/p1');
is($st, 200, 'p1 exists');

my @routes = (['GET', '/api/automation/usage'], ['GET', '/api/providers'], ['GET', '/api/providers/p1'],
              ['GET', '/api/usage/daily'], ['GET', '/api/history'], ['GET', '/healthz'], ['GET', '/'],
              ['GET', '/app.js'], ['POST', '/api/telemetry'], ['GET', '/no/such/route']);
for my $n (65, 300, 3000) {
    my $q = join '&', map { "k$_=1" } 1 .. $n;
    $q = join '&', ('a') x $n if $n == 3000;   # short ones: most per byte
    for my $r (@routes) {
        my ($st2, $doc) = req($r->[0], "$r->[1]?$q");
        is($st2, 400, "$r->[0] $r->[1] with $n query parameters: 400");
        like($doc->{error}{message} // '', qr/query parameters/, '... a JSON error');
    }
}
my $q64 = join '&', map { "compact=true" } 1 .. 64;
($st) = req('GET', "/api/automation/usage?$q64");
is($st, 200, '64 query parameters are fine');

for my $r (@routes) {
    for my $where ('%00zzz', '?x=%00') {
        my $path = $r->[1] eq '/' ? "/$where" : "$r->[1]$where";
        $path =~ s{/\?}{?} if $r->[1] eq '/' && $where =~ /^\?/;
        my ($st2, $doc) = req($r->[0], $path);
        is($st2, 400, "$r->[0] $path: 400");
        like($doc->{error}{message} // '', qr/%00/, '... a JSON error');
    }
}
my ($st3, $doc3) = req('GET', '/api/providers/p1%00zzz');
ok(!exists $doc3->{name}, '/api/providers/p1%00zzz does not serve p1');
($st) = req('GET', '/api/providers?include_raw=true%00x');
is($st, 400, 'a parameter value with %00 is not read as its prefix');
($st) = req('GET', '/api/providers/p1%2500');
is($st, 404, '%2500 (a literal "%00" in the name) is just an unknown provider');
done_testing;
