#!/usr/bin/perl
# The dashboard over HTTP: / and /dashboard are the page, its assets come
# with the right content types, every one of them carries the strict
# Content-Security-Policy and the other security headers, HEAD works, an
# unknown path under /dashboard is the API's JSON 404 and other methods
# are 405.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Meterd qw(start_meterd exec_script tmpdir read_file root json);

my $dir = tmpdir('dashhttp');
exec_script($dir, 'p.sh', qq(echo '{"status":"ok","metrics":[]}'\n));
my $d = start_meterd(dir => $dir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  p:
    plugin: exec
    interval: 1h
    command: ["@DIR@/p.sh"]
Y
my $http = HTTP::Tiny->new(timeout => 20);
sub req { my ($m, $p) = @_; return $http->request($m, $d->base . $p) }

my $page = read_file(root() . '/core/front/dashboard/index.html');
my %asset = ('/' => ['text/html; charset=utf-8', 'index.html'],
             '/dashboard' => ['text/html; charset=utf-8', 'index.html'],
             '/dashboard/' => ['text/html; charset=utf-8', 'index.html'],
             '/dashboard/app.js' => ['text/javascript; charset=utf-8', 'app.js'],
             '/dashboard/style.css' => ['text/css; charset=utf-8', 'style.css'],
             '/dashboard/icon.svg' => ['image/svg+xml', 'icon.svg']);
for my $path (sort keys %asset) {
    my $r = req('GET', $path);
    my $h = $r->{headers};
    is($r->{status}, 200, "GET $path 200");
    is($h->{'content-type'}, $asset{$path}[0], "$path content type");
    is($r->{content}, read_file(root() . "/core/front/dashboard/$asset{$path}[1]"),
       "$path is $asset{$path}[1]");
    my $csp = $h->{'content-security-policy'} // '';
    like($csp, qr/(^|; )default-src 'none'(;|$)/, "$path: CSP denies by default");
    like($csp, qr/script-src 'self'/, "$path: scripts from the daemon only");
    like($csp, qr/connect-src 'self'/, "$path: fetches to the daemon only");
    unlike($csp, qr/unsafe-inline|unsafe-eval/, "$path: no inline code allowed");
    is($h->{'x-content-type-options'}, 'nosniff', "$path: nosniff");
    is($h->{'referrer-policy'}, 'no-referrer', "$path: no referrer");
    ok($h->{'cache-control'}, "$path: Cache-Control");
}
like($page, qr{<script src="/dashboard/app\.js"}, 'the page loads its script by path');

my $r = req('HEAD', '/');
is($r->{status}, 200, 'HEAD / 200');
is($r->{headers}{'content-length'}, length $page, 'HEAD announces the page length');
ok($r->{headers}{'content-security-policy'}, 'HEAD carries the CSP');

is(req('GET', '/?poll=5')->{status}, 200, 'a query string on the page is fine');

for my $path ('/dashboard/nope.js', '/dashboard/app.js/', '/dashboardx', '/index.html') {
    my $r = req('GET', $path);
    is($r->{status}, 404, "GET $path 404");
    like($r->{headers}{'content-type'}, qr{^application/json}, "$path: JSON error");
    my $e = eval { json()->decode($r->{content}) };
    is($e && $e->{error}{status}, 404, "$path: error document");
}

$r = req('POST', '/');
is($r->{status}, 405, 'POST / 405');
is($r->{headers}{allow}, 'GET, HEAD', 'Allow: GET, HEAD');
like($r->{headers}{'content-type'}, qr{^application/json}, '405 is JSON');

# The API is untouched by the page's headers.
$r = req('GET', '/api/automation/usage');
is($r->{status}, 200, 'API still answers');
like($r->{headers}{'content-type'}, qr{^application/json}, 'API still JSON');
is($d->stop, 0, 'clean stop');
done_testing;
