#!/usr/bin/perl
# Slow and idle connections cannot make the API unreachable:
# - meterd raises its soft open-file limit to the hard one at start;
# - with 1 024 idle TCP connections open from one address, /healthz on a
#   new connection from another loopback address answers within 1 s
#   (one address holds at most http_max_connections_per_ip; the rest are
#   closed at once);
# - a connection that does not complete its request within
#   http_request_timeout is closed, and then the flooding address itself
#   is served again.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd tmpdir read_file);

# This process opens 1 000+ sockets: raise its own soft limit first.
my ($hard) = (`prlimit --pid $$ --nofile --output HARD --noheadings 2>/dev/null` // '') =~ /(\d+)/;
plan skip_all => 'prlimit (util-linux) is needed to raise the open file limit' unless $hard;
plan skip_all => "the hard open file limit ($hard) is below 1 200" if $hard < 1200;
system('prlimit', "--pid=$$", "--nofile=$hard:$hard") == 0 or die "prlimit failed";

# The daemon starts with a low soft limit; it raises it to the hard one.
$ENV{METERD_WRAPPER} = "prlimit --nofile=256:$hard --";
my $d = start_meterd(dir => tmpdir('idle'), config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
http_request_timeout: 2s
providers: {}
Y
delete $ENV{METERD_WRAPPER};
my ($soft_now) = (read_file('/proc/' . $d->pid . '/limits') // '') =~ /^Max open files\s+(\d+)/m;
is($soft_now, $hard, "meterd raised its soft open file limit from 256 to the hard limit $hard");

my ($addr, $port) = $d->base =~ m{^http://([\d.]+):(\d+)$} or die;

sub healthz_from {
    my ($local, $timeout) = @_;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, LocalAddr => $local,
                                  Timeout => $timeout) or return (undef, time - $t0);
    $s->autoflush(1);
    print $s "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n\r\n";
    my $buf = '';
    my $sel = IO::Select->new($s);
    while ($buf !~ /\r\n\r\n/ && $sel->can_read($timeout - (time - $t0))) {
        last unless sysread($s, $buf, 4096, length $buf);
    }
    close $s;
    return ($buf =~ m{^HTTP/1\.\d (\d{3})} ? $1 : undef, time - $t0);
}

my ($st, $took) = healthz_from('127.0.0.1', 5);
is($st, 200, 'healthz answers before the flood');

# 1 024 idle connections from 127.0.0.1; half send a partial request.
my @idle;
for my $i (1 .. 1024) {
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, LocalAddr => '127.0.0.1',
                                  Timeout => 2) or last;
    print $s "GET /healthz HTTP/1.1\r\n" if $i % 2;   # never finished
    push @idle, $s;
}
is(scalar @idle, 1024, '1 024 idle connections opened');

($st, $took) = healthz_from('127.0.0.2', 1);
is($st, 200, '/healthz from 127.0.0.2 answers while they are open');
cmp_ok($took, '<', 1, sprintf('... within 1 s (%.3f s)', $took));

# The server closes what it will not serve: everything over the per-IP
# limit at once, the rest after http_request_timeout (2 s).
sub closed_count {
    my $n = 0;
    for my $s (@idle) {
        next unless IO::Select->new($s)->can_read(0);
        my $buf;
        my $r = sysread($s, $buf, 4096);
        $n++ if defined $r && ($r == 0 || $buf =~ /^HTTP/) || !defined $r;
    }
    return $n;
}
my $closed = Meterd::wait_until(sub { my $n = closed_count(); $n >= 1024 - 128 ? $n : undef }, 1.5);
cmp_ok($closed // 0, '>=', 1024 - 128, 'connections over the per-address limit (128) were closed at once');
my $t0 = time;
my $all = Meterd::wait_until(sub { closed_count() >= 1024 }, 8);
ok($all, sprintf('every idle connection was closed by the request timeout (after %.1f s)', time - $t0));
($st, $took) = healthz_from('127.0.0.1', 2);
is($st, 200, 'then 127.0.0.1 is served again');
close $_ for @idle;
done_testing;
