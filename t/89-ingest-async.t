#!/usr/bin/perl
# No HTTP thread waits for the owner thread: while 20 POST /api/telemetry
# are pending behind a slow commit, GET /healthz and the cached usage on
# other connections still answer within 50 ms each (all of 50 requests),
# every pending POST then gets its 200 with stored: true, and the daily
# report (also built by the owner) sees all 20.  A SIGTERM with POSTs
# pending answers every one of them (200, or 503 once the shutdown budget
# is spent) and the daemon exits within 2 s.
#
# The slow commit: METERD_TEST_COMMIT_DELAY_MS, a test-only knob the
# daemon honours only with METERD_TEST set (core/daemon/ingest.c); it
# sleeps on the owner thread before each ingest commit, as a slow disk's
# fsync would.  Without METERD_TEST it is refused with a warning.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Meterd qw(start_gateway wait_until read_answer);

# A POST on a connection of its own, its answer left unread.
sub send_post { $_[0]->post_pending_turn($_[1]) }

# Whether an answer has started arriving on $s (without reading it).
sub answered_yet { scalar IO::Select->new($_[0])->can_read(0) }

# ---- the knob is refused without METERD_TEST ------------------------------
{
    my %env = (METERD_TEST_COMMIT_DELAY_MS => '300');
    delete local $ENV{METERD_TEST};
    my $d = start_gateway(name => 'ingest-async-refused', env => \%env);
    ok(wait_until(sub { $d->log_text =~ /ignoring METERD_TEST_COMMIT_DELAY_MS/ }, 10),
       'the delay knob is refused without METERD_TEST');
    $d->stop;
}

# ---- 20 POSTs pending behind a 200 ms commit each ---------------------------
my $d = start_gateway(name => 'ingest-async',
                      env => { METERD_TEST => 1, METERD_TEST_COMMIT_DELAY_MS => 200 });
ok($d->wait_runs('openai-gw', 1), 'collected');
like($d->log_text, qr/every ingest commit is delayed by 200 ms/, 'the delay knob is on');
my ($st) = $d->get('/api/automation/usage');
is($st, 200, 'cached usage answers');

my @posts = map { send_post($d, "async-$_") } 1 .. 20;
sleep 0.1;   # the requests are in and queued for the owner
my ($worst, $bad, $worst_path) = $d->timed_gets(50, '/healthz', '/api/automation/usage');
my $pending = grep { !answered_yet($_) } @posts;
cmp_ok($pending, '>=', 5, "POSTs still pending after the 50 GETs ($pending of 20): "
       . 'the GETs ran while the owner was busy');
is($bad, 0, 'every GET /healthz and cached usage answered 200');
cmp_ok($worst, '<', 50, sprintf('the slowest of 50 GETs took %.1f ms (%s) while POSTs were pending',
                                $worst, $worst_path));

my @answers = map { [read_answer($_, 30)] } @posts;
is(scalar(grep { $_->[0] == 200 } @answers), 20, 'every pending POST got its 200');
is(scalar(grep { ref $_->[1] eq 'HASH' && ref $_->[1]{records} eq 'ARRAY'
                 && $_->[1]{records}[0]{stored} } @answers), 20,
   'every record says stored: true');
my ($dst, $daily) = $d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10');
is($dst, 200, 'daily report answers');
is($daily->{days}[0]{tokens_output}, 20 * 7, 'the daily report counts all 20 (built by the owner, after them)');

# ---- SIGTERM with POSTs pending ----------------------------------------------
@posts = map { send_post($d, "term-$_") } 1 .. 20;
sleep 0.1;
my $pid = $d->pid;
my $t0 = time;
kill 'TERM', $pid;
my $exited = wait_until(sub { waitpid($pid, WNOHANG) == $pid ? 1 : undef }, 10);
my $took = time - $t0;
delete $d->{pid};
ok($exited, 'the daemon exited after SIGTERM');
cmp_ok($took, '<', 2, sprintf('within 2 s of SIGTERM (%.2f s) with 20 POSTs pending', $took));
@answers = map { [read_answer($_, 5)] } @posts;
my %by;
$by{$_->[0]}++ for @answers;
is(scalar(grep { $_->[0] == 200 || $_->[0] == 503 } @answers), 20,
   'every pending POST was answered 200 or 503 (' . join(', ', map { "$_: $by{$_}" } sort keys %by) . ')');
is(scalar(grep { $_->[0] == 503 && !(ref $_->[1] eq 'HASH' && $_->[1]{error}) } @answers), 0,
   'each 503 is a JSON error');

done_testing;
