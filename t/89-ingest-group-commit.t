#!/usr/bin/perl
# Group commit of POST /api/telemetry: the ingest requests queued for the
# owner thread are applied in ONE transaction and answered after its one
# commit.  With a slow commit (METERD_TEST_COMMIT_DELAY_MS, which holds
# the database's lock as a slow fsync would; test-only, see
# core/daemon/ingest.c):
#  - 50 concurrent POSTs all get their 200 (stored, not duplicates), are
#    counted once each, and take far fewer commits than requests
#    (/healthz history.ingest_commits / ingest_requests);
#  - meanwhile every GET /healthz and GET /api/history answers within
#    50 ms: neither takes the lock a commit holds;
#  - the same id sent by several requests of one group is applied once,
#    the others answered as duplicates, as if applied one after another;
#  - a group whose commit fails (state_dir on a full tmpfs, root only)
#    answers every request 503 with nothing recorded: no usage counted,
#    no id remembered (the retries are applied, not duplicates).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Meterd qw(start_gateway tmpdir wait_until read_answer);

# A POST on a connection of its own, its answer left unread.
sub send_post { $_[0]->post_pending_turn($_[1]) }

sub counters {
    my ($d) = @_;
    my $h = $d->get('/healthz');
    return ($h->{history}{ingest_commits}, $h->{history}{ingest_requests});
}

sub output_total {
    my ($d) = @_;
    my ($st, $doc) = $d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10');
    return $st == 200 ? ($doc->{days}[0]{tokens_output} // 0) : "HTTP $st";
}

# The state_dir on a small tmpfs of its own when we may mount one (for
# the failed commit at the end), else a plain directory.
my $dir = tmpdir('ingest-group');
my $state = "$dir/state";
mkdir $state, 0700 or die "mkdir: $!";
my $mounted = $> == 0 &&
    system('mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', $state) == 0;
END { system('umount', '-l', $state) if $mounted }
my $d = start_gateway(dir => $dir,
                      env => { METERD_TEST => 1, METERD_TEST_COMMIT_DELAY_MS => 200 });
ok($d->wait_runs('openai-gw', 1), 'collected');
like($d->log_text, qr/every ingest commit is delayed by 200 ms/, 'the delay knob is on');

# ---- 50 concurrent POSTs ------------------------------------------------------
my ($c0, $r0) = counters($d);
is($c0, 0, 'healthz counts ingest commits (none yet)');
my @posts = map { send_post($d, "group-$_") } 1 .. 50;
my ($worst, $bad, $worst_path) = $d->timed_gets(40, '/healthz', '/api/history?provider=openai-gw');
is($bad, 0, 'every GET /healthz and /api/history answered 200 during the commits');
cmp_ok($worst, '<', 50, sprintf('the slowest of 40 GETs took %.1f ms (%s) while 200 ms commits ran',
                                $worst, $worst_path));
my @answers = map { [read_answer($_, 60)] } @posts;
is(scalar(grep { $_->[0] == 200 } @answers), 50, 'every one of 50 concurrent POSTs got its 200');
is(scalar(grep { ref $_->[1] eq 'HASH' && $_->[1]{records}[0]{stored}
                 && !$_->[1]{records}[0]{duplicate} } @answers), 50,
   'each record says stored, not a duplicate');
my ($c1, $r1) = counters($d);
is($r1 - $r0, 50, 'healthz: 50 ingest requests committed');
cmp_ok($c1 - $c0, '<=', 10, "in far fewer commits than requests: " . ($c1 - $c0));
cmp_ok($c1 - $c0, '>=', 1, 'at least one commit');
is(output_total($d), 50 * 7, 'each counted once');

# ---- one id in several requests of one group ----------------------------------
my $blocker = send_post($d, 'blocker');
sleep 0.05;   # the blocker is in its (slow) commit: what follows queues up
my @dups = map { send_post($d, $_ <= 5 ? 'same-id' : "other-$_") } 1 .. 7;
my ($bst) = read_answer($blocker, 30);
is($bst, 200, 'the blocking POST got its 200');
@answers = map { [read_answer($_, 30)] } @dups;
is(scalar(grep { $_->[0] == 200 } @answers), 7, 'the 7 queued POSTs got their 200');
my @same = map { $_->[1]{records}[0] } @answers[0 .. 4];
is(scalar(grep { !$_->{duplicate} } @same), 1, 'the id sent by 5 requests of a group is applied once');
is(scalar(grep { $_->{duplicate} } @same), 4, '... and the 4 others are duplicates');
my ($first) = grep { !$_->{duplicate} } @same;
is(scalar(grep { $_->{duplicate} && $_->{stored} && ($_->{id} // '') eq ($first->{id} // '') } @same), 4,
   'each duplicate carries the first response (stored, same id)');
is(output_total($d), (50 + 1 + 1 + 2) * 7, 'blocker + the shared id once + 2 others');
my ($c2) = counters($d);
cmp_ok($c2 - $c1, '<=', 3, 'the blocker and the 7 queued POSTs took at most 3 commits: ' . ($c2 - $c1));

# ---- a group whose commit fails ------------------------------------------------
SKIP: {
    skip 'a failed commit needs a tmpfs state_dir (root and mount)', 9 unless $mounted;
    open my $fill, '>', "$state/fill" or die "fill: $!";
    my $chunk = "\0" x 65536;
    1 while syswrite($fill, $chunk);
    $chunk = "\0" x 512;
    1 while syswrite($fill, $chunk);
    close $fill;
    my ($cf) = counters($d);
    $blocker = send_post($d, 'fail-blocker');
    sleep 0.05;
    my @f = map { send_post($d, "fail-$_") } 1 .. 10;
    ($bst) = read_answer($blocker, 30);
    is($bst, 503, 'on a full disk the blocking POST answers 503');
    @answers = map { [read_answer($_, 30)] } @f;
    is(scalar(grep { $_->[0] == 503 } @answers), 10, 'every POST of the failed group answers 503');
    is(scalar(grep { ref $_->[1] eq 'HASH' && ($_->[1]{error}{message} // '') =~ /nothing was recorded/ } @answers),
       10, '... each with a JSON error saying nothing was recorded');
    is(output_total($d), 54 * 7, 'nothing of the failed group is counted');
    my ($cf2) = counters($d);
    is($cf2, $cf, 'a failed commit is not counted as an ingest commit');
    unlink "$state/fill" or die "unlink: $!";
    ok(wait_until(sub { ($d->get('/healthz') || {})->{status} eq 'ok' }, 20), 'room again: /healthz ok');
    @f = map { send_post($d, "fail-$_") } 1 .. 10;
    @answers = map { [read_answer($_, 30)] } @f;
    is(scalar(grep { $_->[0] == 200 } @answers), 10, 'the retries of the failed group answer 200');
    is(scalar(grep { ref $_->[1] eq 'HASH' && !$_->[1]{records}[0]{duplicate} } @answers), 10,
       '... not duplicates: the failed group recorded no id');
    is(output_total($d), 64 * 7, '... and are counted once');
}

is($d->stop, 0, 'clean stop');
done_testing;
