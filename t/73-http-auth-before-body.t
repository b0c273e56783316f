#!/usr/bin/perl
# With ingest_token set, a POST /api/telemetry without the token is
# refused as soon as its headers are in - before a byte of its body is
# accepted - so unauthenticated clients cannot make the daemon buffer
# their bodies: 200 connections announcing 1 MiB each get their 401
# without sending any body, and the daemon's RSS does not grow by their
# bodies.  A Content-Length above 1 MiB from a client that waits for
# 100-continue is refused (413) the same way, even with the right token.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd tmpdir json read_file);

my $token = 'tok-' . ('x' x 28);
my $d = start_meterd(dir => tmpdir('authbody'), config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
ingest_token: "$token"
providers:
  openai-gw:
    plugin: \@ROOT\@/t/plugins/good.so
    interval: 1h
Y
my ($addr, $port) = $d->base =~ m{^http://([\d.]+):(\d+)$} or die;
sub rss_kb { (read_file('/proc/' . $d->pid . '/status') // '') =~ /VmRSS:\s+(\d+)/ ? $1 : 0 }

# Open a POST that announces $len bytes of body and send none of it.
sub announce {
    my ($len, @extra) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, Timeout => 5) or return;
    my $h = join '', map { "$_\r\n" } @extra;
    print $s "POST /api/telemetry HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
           . "Content-Type: application/json\r\nContent-Length: $len\r\n$h\r\n";
    return $s;
}

# Read one response head from $s within $secs (undef: none came).
sub status_within {
    my ($s, $secs) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $end = time + $secs;
    while (time < $end && $buf !~ /\r\n\r\n/) {
        last unless $sel->can_read($end - time);
        my $n = sysread($s, $buf, 4096, length $buf);
        last unless $n;
    }
    return $buf =~ m{^HTTP/1\.\d (\d{3})} ? $1 : undef;
}

my $s = announce(1024 * 1024);
is(status_within($s, 2), 401, 'no token: 401 before any body was sent');
$s = announce(1024 * 1024, 'Authorization: Bearer wrong-token-wrong-token-wrong');
is(status_within($s, 2), 401, 'a wrong token: 401 before any body was sent');
$s = announce(1024 * 1024 + 1, "Authorization: Bearer $token", 'Expect: 100-continue');
is(status_within($s, 2), 413, 'the right token, more than 1 MiB announced, waiting for 100-continue: 413 at once');

# 200 unauthenticated 1 MiB uploads at once: each is refused after its
# headers; what the client manages to push into the socket is discarded,
# never buffered by meterd.
my $rss0 = rss_kb();
my @socks = grep { defined } map { announce(1024 * 1024) } 1 .. 200;
is(scalar @socks, 200, '200 connections announced 1 MiB each');
my $chunk = '[' . ('0,' x 32767) . '0]';   # 64 KiB of JSON-ish bytes
local $SIG{PIPE} = 'IGNORE';
for my $k (1 .. 16) {                      # up to 1 MiB each, non-blocking
    for my $c (@socks) { $c->blocking(0); syswrite($c, $chunk) }
}
my $answered = grep { (status_within($_, 5) // 0) == 401 } @socks;
is($answered, 200, 'every one got 401');
my $grew = rss_kb() - $rss0;
cmp_ok($grew, '<', 32 * 1024, "RSS grew by $grew kB (< 32 MiB; buffering the bodies would take 200 MiB)");
close $_ for @socks;

# The right token still works.
my $ok = announce(2, "Authorization: Bearer $token");
print $ok "[]";
is(status_within($ok, 5), 400, 'with the token the body is read (an empty array: 400 from ingest)');
done_testing;
