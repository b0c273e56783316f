#!/usr/bin/perl
# One POST /api/telemetry carrying 10 000 header-derived meters is folded
# in once (not one re-copy of the provider's meters per meter): it
# completes in under a second, and /healthz stays fast meanwhile.  A
# provider keeps at most 64 header meters: the rest are dropped, each
# record that lost some says so in a note.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd tmpdir json read_file write_file);

my $dir = tmpdir('flood');
my $d = start_meterd(dir => $dir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  claude-gw:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1h
    metrics: ["own:quota_window:percent:-:-:-"]
Y

# 1000 items x 10 unified-window headers, every window name distinct:
# 10 000 meters with distinct ids (within 1000 items and 1 MiB).
my @items;
for my $i (0 .. 999) {
    my %h;
    $h{"anthropic-ratelimit-unified-w${i}x$_-utilization"} = '0.25' for 0 .. 9;
    push @items, { provider => 'claude-gw', headers => \%h };
}
my $body = json->encode(\@items);
cmp_ok(length $body, '<', 1024 * 1024, sprintf('body is %d bytes (< 1 MiB)', length $body));

# A child samples /healthz while the POST runs.
my $stop = "$dir/stop";
my $out = "$dir/healthz";
my $pid = fork // die "fork: $!";
if (!$pid) {
    my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
    my ($worst, $n, $bad) = (0, 0, 0);
    my $end = time + 60;
    while (!-e $stop && time < $end) {
        my $t0 = time;
        my $r = $http->get($d->base . '/healthz');
        my $ms = (time - $t0) * 1000;
        $bad++ unless $r->{status} == 200;
        $worst = $ms if $ms > $worst;
        $n++;
        sleep 0.005;
    }
    write_file($out, "$worst $n $bad\n");
    POSIX::_exit(0);
}
sleep 0.3;   # the sampler is running
my $t0 = time;
my $r = HTTP::Tiny->new(timeout => 120)->post($d->base . '/api/telemetry',
    { content => $body, headers => { 'Content-Type' => 'application/json' } });
my $took = time - $t0;
sleep 0.2;
write_file($stop, "1\n");
waitpid $pid, 0;

is($r->{status}, 200, 'the flood is accepted');
cmp_ok($took, '<', 1, sprintf('10 000 header meters in one POST took %.3f s (< 1 s)', $took));
my $doc = eval { json->decode($r->{content}) } || {};
my $sum = 0;
$sum += $_->{rate_limit_meters} // 0 for @{ $doc->{records} || [] };
is($sum, 64, 'the response counts the 64 meters a provider keeps');
my @noted = grep { grep { /rate-limit meters dropped.*at most 64/ } @{ $_->{notes} || [] } }
            @{ $doc->{records} || [] };
is(scalar @noted, 994, 'every record past the cap notes its dropped meters');
my ($worst, $n, $bad) = split ' ', (read_file($out) // '999999 0 1');
cmp_ok($n, '>=', 5, "sampled /healthz $n times during the POST");
is($bad, 0, 'every /healthz answered 200');
cmp_ok($worst, '<', 50, sprintf('/healthz p100 %.1f ms < 50 ms during the flood', $worst));
my $m = $d->member('claude-gw');
is(scalar(grep { $_->{id} =~ /^unified_w\d+x\d$/ } @{ $m->{metrics} || [] }), 64,
   'the provider shows 64 header meters, not 10 000');

done_testing;
