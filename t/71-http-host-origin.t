#!/usr/bin/perl
# DNS rebinding and CSRF: the API answers only to the names it knows.
# A request whose Host is a foreign name (a rebinding page reading
# /api/providers?include_raw=true) and a POST whose Origin is a foreign
# page (a cross-site form or fetch storing telemetry) are refused with a
# JSON 4xx before any body is read, and nothing is stored; a POST must
# be application/json (415).  The localhost names, the bound address
# (with and without its port), allowed_hosts and same-origin requests
# (the dashboard's) still work.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use Meterd qw(start_meterd exec_script tmpdir json);

my $dir = tmpdir('hostorigin');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[{"id":"five_hour","kind":"quota_window","unit":"percent","utilization":10}]}'\n));
my $d = start_meterd(dir => $dir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
allowed_hosts: [meterd.test, "other.test:8080"]
providers:
  openai-gw:
    plugin: exec
    interval: 1h
    command: ["@DIR@/ok.sh"]
Y
ok($d->wait_runs('openai-gw', 1), 'collected');
my ($addr, $port) = $d->base =~ m{^http://((?:[\d.]+)):(\d+)$} or die;

# One raw request on its own connection (HTTP::Tiny always sends its own
# Host); returns (status, decoded JSON body).
sub raw {
    my ($method, $path, $headers, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, Timeout => 10) or die "connect: $!";
    $body //= '';
    my $h = join '', map { "$_->[0]: $_->[1]\r\n" } @$headers;
    $h .= "Content-Length: " . length($body) . "\r\n" if $method eq 'POST';
    print $s "$method $path HTTP/1.1\r\n${h}Connection: close\r\n\r\n$body";
    local $/;
    $s->timeout(10);
    my $resp = <$s> // '';
    close $s;
    my ($st) = $resp =~ m{^HTTP/1\.\d (\d{3})} or return (0, undef);
    my ($b) = $resp =~ /\r\n\r\n(.*)\z/s;
    return ($st, eval { json->decode($b) });
}

my @routes = ('/api/automation/usage', '/api/providers', '/api/providers?include_raw=true',
              '/api/providers/openai-gw', '/api/usage/daily', '/api/history?provider=openai-gw', '/healthz', '/');
for my $path (@routes) {
    my ($st, $doc) = raw('GET', $path, [[Host => "rebound.example:$port"]]);
    is($st, 400, "GET $path with a foreign Host: 400");
    like($doc->{error}{message} // '', qr/allowed_hosts/, '... a JSON error naming allowed_hosts');
}
my ($st, $doc) = raw('GET', '/api/providers?include_raw=true', [[Host => 'rebound.example']]);
is($st, 400, 'a foreign Host without a port: 400');
ok(!exists $doc->{providers}, '... and no provider data');

for my $host ("localhost", "localhost:$port", "127.0.0.1", "127.0.0.1:$port", "[::1]:$port",
              "LOCALHOST:$port", "meterd.test", "meterd.test:$port", "other.test:8080") {
    ($st) = raw('GET', '/api/providers?include_raw=true', [[Host => $host]]);
    is($st, 200, "Host $host is allowed");
}
($st) = raw('GET', '/healthz', [[Host => 'other.test:9999']]);
is($st, 400, 'an allowed_hosts entry with a port allows that port only');
($st) = raw('GET', '/healthz', [[Host => 'meterd.test.evil.example']]);
is($st, 400, 'a name that merely starts with an allowed one is foreign');

# CSRF: what a foreign page's form or fetch sends.
my $item = json->encode({ provider => 'openai-gw', model => 'm', id => 'csrf-1',
                          usage => { prompt_tokens => 100, completion_tokens => 10 } });
($st, $doc) = raw('POST', '/api/telemetry', [[Host => "127.0.0.1:$port"], [Origin => 'http://evil.example'],
                                            ['Content-Type' => 'text/plain']], $item);
is($st, 403, 'text/plain POST from a foreign Origin: 403');
like($doc->{error}{message} // '', qr/origin/, '... a JSON error');
($st) = raw('POST', '/api/telemetry', [[Host => "127.0.0.1:$port"], [Origin => 'http://evil.example'],
                                       ['Content-Type' => 'application/json']], $item);
is($st, 403, 'application/json POST from a foreign Origin: 403');
($st) = raw('POST', '/api/telemetry', [[Host => "127.0.0.1:$port"], [Origin => 'null'],
                                       ['Content-Type' => 'application/json']], $item);
is($st, 403, 'Origin null (a sandboxed frame): 403');
($st, $doc) = raw('POST', '/api/telemetry', [[Host => "127.0.0.1:$port"], ['Content-Type' => 'text/plain']], $item);
is($st, 415, 'text/plain POST without Origin: 415');
like($doc->{error}{message} // '', qr{application/json}, '... a JSON error');
($st) = raw('POST', '/api/telemetry', [[Host => "127.0.0.1:$port"]], $item);
is($st, 415, 'POST without Content-Type: 415');
($st) = raw('GET', '/api/providers', [[Host => "127.0.0.1:$port"], [Origin => 'http://evil.example']]);
is($st, 403, 'a cross-origin GET is refused too');
my $daily = sub { my (undef, $doc2) = raw('GET', '/api/usage/daily?provider=openai-gw', [[Host => "127.0.0.1:$port"]]); $doc2 };
my $before = json->encode($daily->());
unlike($before, qr/"tokens_total":\s*110\b/, 'none of the refused POSTs was stored');

# Same origin (the dashboard), localhost and allowed_hosts origins.
($st) = raw('POST', '/api/telemetry', [[Host => "127.0.0.1:$port"], [Origin => "http://127.0.0.1:$port"],
                                       ['Content-Type' => 'application/json; charset=utf-8']], $item);
is($st, 200, 'a same-origin application/json POST is stored');
like(json->encode($daily->()), qr/"tokens_total":\s*110\b/, '... and shows in the daily report');
for my $origin ("http://localhost:$port", "https://meterd.test", "http://other.test:8080") {
    ($st) = raw('GET', '/healthz', [[Host => "127.0.0.1:$port"], [Origin => $origin]]);
    is($st, 200, "Origin $origin is allowed");
}
($st) = raw('GET', '/healthz', [[Host => "127.0.0.1:$port"], [Origin => "http://127.0.0.1:$port/x"]]);
is($st, 403, 'an Origin with a path is malformed: 403');
($st, $doc) = raw('GET', '/', [[Host => "127.0.0.1:$port"]]);
is($st, 200, 'the dashboard loads by its address');

done_testing;
