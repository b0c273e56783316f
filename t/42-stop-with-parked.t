#!/usr/bin/perl
# A SIGTERM while HTTP requests are parked (forced refreshes waiting for a
# hung provider, ingest POSTs and daily reports waiting for the owner
# thread), with more of them arriving during the shutdown, ends with a
# clean exit (status 0: libmicrohttpd aborts the process when it is stopped
# with a suspended connection), within 3 s, and every request that reached
# the daemon gets a whole HTTP answer: 200 or 503, never a dropped
# connection.  Repeated a few times, since the window is a race.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd exec_script tmpdir json wait_until root send_request read_answer);

my $conf = <<Y;
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
endpoint_timeout: 20s
min_refresh_interval: 1ms
providers:
  openai-gw:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/ok.sh"]
  hung:
    plugin: ${\ root()}/t/plugins/hang.so
    interval: 1h
    timeout: 50m
Y
my $ok_sh = qq(echo '{"status":"ok","metrics":[{"id":"five_hour","kind":"quota_window","unit":"percent","utilization":10}]}'\n);

my $seq = 0;
sub send_kind {
    my ($d, $kind) = @_;
    return send_request($d->{addr}, 'POST', '/api/telemetry',
        json->encode({ provider => 'openai-gw', dialect => 'openai', model => 'gpt-5.2',
            id => 'stop-' . $$ . '-' . $seq++, at => '2026-03-10T13:58:05Z',
            usage => { prompt_tokens => 100, completion_tokens => 7 } }))
        if $kind eq 'post';
    return send_request($d->{addr}, 'GET', $kind eq 'daily' ? '/api/usage/daily'
                                      : '/api/automation/usage?force_refresh=true');
}

for my $round (1 .. 3) {
    my $dir = tmpdir("stop-parked-$round");
    exec_script("$dir", 'ok.sh', $ok_sh);
    my $d = start_meterd(dir => $dir, config => $conf);
    ok(wait_until(sub { ($d->get('/api/providers/openai-gw') // {})->{runs} }, 20),
       "round $round: the daemon runs");
    my @socks;
    for my $i (1 .. 30) {
        my $s = send_kind($d, (qw(refresh post daily))[$i % 3]);
        push @socks, $s if $s;
    }
    sleep 0.3;   # the forced refreshes are parked on the hung provider
    # Keep requests coming while the daemon stops.
    my $pid = $d->pid;
    my $t0 = time;
    kill 'TERM', $pid;
    my $exited;
    while (time - $t0 < 5) {
        my $s = send_kind($d, (qw(refresh post daily))[$seq % 3]);
        push @socks, $s if $s;
        if (waitpid($pid, WNOHANG) == $pid) { $exited = $?; last }
        sleep 0.005;
    }
    my $took = time - $t0;
    if (!defined $exited) { kill 'KILL', $pid; waitpid $pid, 0; $exited = 'timeout' }
    delete $d->{pid};
    is($exited, 0, "round $round: clean exit (status 0, not an abort)")
        or diag(substr($d->log_text, -2000));
    cmp_ok($took, '<', 3, sprintf("round %d: stopped within 3 s (%.2f s)", $round, $took));
    my %by;
    my @early_bad;
    for my $i (0 .. $#socks) {
        my ($st) = read_answer($socks[$i], 2);
        $by{$st || 'none'}++;
        push @early_bad, $st || 'none' if $i < 30 && $st != 200 && $st != 503;
    }
    # Those sent before the SIGTERM were all read and parked: each gets
    # its answer.  Later ones may find the listening socket closed.
    is_deeply(\@early_bad, [], "round $round: the 30 parked requests are all answered (200 or 503)");
    my @bad = grep { $_ ne '200' && $_ ne '503' && $_ ne 'none' } keys %by;
    is_deeply(\@bad, [], "round $round: every answer is 200 or 503")
        or diag explain \%by;
    note(sprintf "round %d: %s", $round, join ', ', map { "$_: $by{$_}" } sort keys %by);
}
done_testing;
