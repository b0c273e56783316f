#!/usr/bin/perl
# A reload (SIGHUP) applies a changed allowed_hosts to new requests: a
# name added is then accepted as Host and Origin, a name removed is
# refused again.  The HTTP connection limits and timeout are fixed when
# the server starts: changing one logs a warning naming the key ("takes
# effect at restart") and the daemon keeps serving.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Meterd qw(start_meterd exec_script tmpdir write_file wait_until json);

my $dir = tmpdir('reloadhosts');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[]}'\n));
my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
allowed_hosts: [meterd.test@EXTRA@]
@LIMITS@providers:
  p:
    plugin: exec
    interval: 1h
    command: ["@DIR@/ok.sh"]
Y
sub config_text {
    my (%o) = @_;
    my $t = $conf;
    $t =~ s/\@EXTRA\@/$o{extra} ? ", $o{extra}" : ''/e;
    $t =~ s/\@LIMITS\@/$o{limits} \/\/ ''/e;
    $t =~ s/\@ROOT\@/Meterd::root()/ge;
    $t =~ s/\@STATE\@/$dir\/state/g;
    $t =~ s/\@DIR\@/$dir/g;
    return $t;
}
my $d = start_meterd(dir => $dir, config => config_text());
my ($addr, $port) = $d->base =~ m{^http://([\d.]+):(\d+)$} or die;

# One GET on its own connection with the given headers; returns the status.
sub status_with {
    my (@headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, Timeout => 10)
        or die "connect: $!";
    my $h = join '', map { "$_->[0]: $_->[1]\r\n" } @headers;
    print $s "GET /healthz HTTP/1.1\r\n${h}Connection: close\r\n\r\n";
    local $/;
    $s->timeout(10);
    my $resp = <$s> // '';
    close $s;
    return $resp =~ m{^HTTP/1\.\d (\d{3})} ? $1 : 0;
}
sub reload_to {
    my (%o) = @_;
    my $n = () = $d->log_text =~ /configuration reloaded/g;
    write_file("$dir/meterd.yaml", config_text(%o));
    $d->hup;
    return wait_until(sub { (() = $d->log_text =~ /configuration reloaded/g) > $n });
}

is(status_with([Host => 'meterd.test']), 200, 'a configured name is accepted');
is(status_with([Host => "added.test:$port"]), 400, 'a name not yet allowed is refused');

ok(reload_to(extra => 'added.test'), 'reload with added.test in allowed_hosts');
is(status_with([Host => "added.test:$port"]), 200, 'after the reload the added Host is accepted');
is(status_with([Host => "127.0.0.1:$port"], [Origin => 'http://added.test']), 200,
   '... and so is an Origin of that name');
is(status_with([Host => 'meterd.test']), 200, 'the name kept is still accepted');

ok(reload_to(), 'reload with added.test removed');
is(status_with([Host => "added.test:$port"]), 400, 'after the reload the removed Host is refused');
is(status_with([Host => "127.0.0.1:$port"], [Origin => 'http://added.test']), 403,
   '... and so is an Origin of that name');

ok(reload_to(limits => "http_max_connections: 100\nhttp_max_connections_per_ip: 7\nhttp_request_timeout: 9s\n"),
   'reload with changed connection limits and timeout');
like($d->log_text, qr/http_max_connections changed \(512 -> 100\); takes effect at restart/,
     'changing http_max_connections warns that it takes effect at restart');
like($d->log_text, qr/http_max_connections_per_ip changed \(\d+ -> 7\); takes effect at restart/,
     '... so does http_max_connections_per_ip');
like($d->log_text, qr/http_request_timeout changed \(\d+ ms -> 9000 ms\); takes effect at restart/,
     '... and http_request_timeout');
ok(kill(0, $d->{pid}), 'the daemon keeps running');
is(status_with([Host => 'meterd.test']), 200, '... and serving');
done_testing;
