#!/usr/bin/perl
# An event POST /api/telemetry acknowledges with 200 is durable: when the
# state_dir is full the POST answers 503 (JSON error), the caller's id is
# not recorded (its retry is applied, not refused as a duplicate), the
# event is not counted in memory either, /healthz says "degraded" with the
# error, and once there is room again the store is saved without a new
# change; the id survives a restart.  -t and start-up refuse a state_dir
# that is not writable (private_dir_check).
#
# How the failure is made real: the state_dir is a small tmpfs of its
# own, filled to the last byte with a file (SQLite then gets ENOSPC when
# the next commit grows the WAL), later removed; for "not writable" the
# tmpfs is remounted read-only (EROFS, which root cannot bypass, unlike
# the mode bits).  Mounting needs root and a kernel that lets us mount:
# the test skips with the reason otherwise.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(sleep);
use Meterd qw(start_meterd start_gateway tmpdir json read_file wait_until);

plan skip_all => 'mounting a tmpfs needs root' if $> != 0;
my $dir = tmpdir('diskfull');
my $state = "$dir/state";
mkdir $state, 0700 or die "mkdir: $!";
my $mounted = system('mount', '-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', $state) == 0;
plan skip_all => 'cannot mount a tmpfs here (no privilege for mount)' unless $mounted;
END { system('umount', '-l', $state) if $mounted }

my $d = start_gateway(dir => $dir);
ok($d->wait_runs('openai-gw', 1), 'collected');
sub post { $d->post_telemetry($_[0], timeout => 20) }
sub turn {
    my ($id, $out) = @_;
    return { provider => 'openai-gw', model => 'gpt-5.2', id => $id, at => '2026-03-10T13:58:05Z',
             usage => { prompt_tokens => 100, completion_tokens => $out } };
}
sub output_total {
    my ($st, $doc) = $d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10');
    return $st == 200 ? ($doc->{days}[0]{tokens_output} // 0) : "HTTP $st";
}

my ($st, $doc) = post(turn('turn-1', 10));
is($st, 200, 'turn-1 accepted');
ok($doc->{records}[0]{stored}, 'turn-1 stored');

# Acknowledged means committed: a kill -9 right after the 200 keeps it.
$d->kill9;
$d->start;
is(output_total(), 10, 'turn-1 survives kill -9 right after its 200');

# Fill the file system to the last byte.
open my $fill, '>', "$state/fill" or die "fill: $!";
my $chunk = "\0" x 65536;
my $wrote = 0;
for (1 .. 1000) {   # 64 MiB at most; the tmpfs holds 4
    my $n = syswrite($fill, $chunk);
    last unless $n;
    $wrote += $n;
}
close $fill;
$chunk = "\0" x 512;
open $fill, '>>', "$state/fill" or die;
1 while syswrite($fill, $chunk);
close $fill;
ok($wrote > 0, "state_dir filled ($wrote bytes)");

($st, $doc) = post(turn('turn-2', 20));
is($st, 503, 'a POST whose usage cannot be committed answers 503');
like($doc->{error}{message} // $doc->{error} // '', qr/persist/i, 'with a JSON error that says why')
    or diag explain $doc;
is(output_total(), 10, 'the refused event is not counted in memory either');
my $h = $d->get('/healthz');
is($h->{status}, 'degraded', '/healthz says degraded');
ok($h->{persistence} && !$h->{persistence}{ok}, 'persistence.ok is false');
like($h->{persistence}{usage}{error} // '', qr/\S/, 'persistence.usage.error says why');
ok(defined $h->{persistence}{usage}{failing_since}, 'persistence.usage.failing_since is set');

# Room again: the store retries on its own (no new POST), /healthz recovers.
unlink "$state/fill" or die "unlink: $!";
ok(wait_until(sub { ($d->get('/healthz') || {})->{status} eq 'ok' }, 20),
   'the save is retried without a new change and /healthz is ok again');
$h = $d->get('/healthz');
ok($h->{persistence}{ok} && !defined $h->{persistence}{usage}{error}, 'persistence ok, no error');

($st, $doc) = post(turn('turn-2', 20));
is($st, 200, 'the caller\'s retry of the refused event is accepted');
ok(!$doc->{records}[0]{duplicate}, '... not refused as a duplicate');
ok($doc->{records}[0]{stored}, '... and stored');
($st, $doc) = post(turn('turn-2', 20));
ok($st == 200 && $doc->{records}[0]{duplicate}, 'a second retry is a duplicate');
is(output_total(), 30, 'turn-1 + turn-2, each once');

# The ids come from meterd.db at start.
is($d->stop, 0, 'clean stop');
$d->start;
($st, $doc) = post(turn('turn-2', 20));
ok($st == 200 && $doc->{records}[0]{duplicate}, 'after a restart the id is still known');
is(output_total(), 30, 'and the usage is there once');
is($d->stop, 0, 'clean stop');

# Not writable (read-only file system: root is refused too): -t and
# start-up name it.
ok(system('mount', '-o', 'remount,ro', $state) == 0, 'state_dir remounted read-only');
my $bin = Meterd::root() . '/meterd';
my $out = `$bin -t -c $dir/meterd.yaml 2>&1`;
isnt($? >> 8, 0, '-t fails for a read-only state_dir');
like($out, qr/state_dir \S+ is not writable: Read-only file system/, '-t names the state_dir that is not writable');
$out = `timeout 20 $bin -c $dir/meterd.yaml 2>&1`;
isnt($? >> 8, 0, 'start-up refuses a read-only state_dir');
like($out, qr/state_dir \S+ is not writable/, 'start-up names it');
system('mount', '-o', 'remount,rw', $state);

done_testing;
