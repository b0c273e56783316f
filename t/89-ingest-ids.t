#!/usr/bin/perl
# Caller ids of POST /api/telemetry stay bounded and are read at start:
# an ingest_ids.log of an earlier version with 100 000 ids is migrated
# into meterd.db (its last 10 000) at start, so the first POST after the
# restart is not the one that pays for reading it; the database keeps the
# last 10 000 ids however many arrive.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time);
use Meterd qw(start_gateway tmpdir write_file);

my $sqlite = -x '/usr/bin/sqlite3' ? '/usr/bin/sqlite3' : undef;
my $dir = tmpdir('ingestids');
mkdir "$dir/state", 0700 or die;
write_file("$dir/state/ingest_ids.log", join('', map { "old-$_\n" } 1 .. 100000));
chmod 0600, "$dir/state/ingest_ids.log";
my $d = start_gateway(dir => $dir);
sub post { $d->post_telemetry($_[0], timeout => 30) }
sub turn {
    my ($id) = @_;
    return { provider => 'openai-gw', model => 'm', id => $id, at => '2026-03-10T13:58:05Z',
             usage => { prompt_tokens => 1, completion_tokens => 1 } };
}

ok(!-e "$dir/state/ingest_ids.log", 'ingest_ids.log migrated at start');
ok(-e "$dir/state/ingest_ids.log.migrated", '... and kept as ingest_ids.log.migrated');
my $t0 = time;
my ($st, $doc) = post([turn('fresh-1')]);
my $took = time - $t0;
is($st, 200, 'first POST after the start accepted');
cmp_ok($took, '<', 0.5, sprintf('and it took %.3f s (< 0.5 s): the ids were read at start', $took));
($st, $doc) = post([turn('old-100000'), turn('old-90002'), turn('old-90001'), turn('old-1')]);
is($st, 200, 'replays accepted');
is_deeply([map { $_->{duplicate} ? 1 : 0 } @{ $doc->{records} }], [1, 1, 0, 0],
          'the last 10 000 ids (fresh-1 pushed out old-90001) are known, older ones are not');

SKIP: {
    skip 'needs the sqlite3 CLI (tools/setup installs it)', 2 unless $sqlite;
    # 12 000 new ids in 12 POSTs: the table stays at the last 10 000.
    for my $k (0 .. 11) {
        my ($s) = post([map { turn("new-$k-$_") } 1 .. 1000]);
        die "POST $k: $s" unless $s == 200;
    }
    my $n = `$sqlite $dir/state/meterd.db 'SELECT count(*) FROM ingest_id'`;
    chomp $n;
    is($n, 10000, 'meterd.db keeps the last 10 000 ids');
    my $last = `$sqlite $dir/state/meterd.db "SELECT count(*) FROM ingest_id WHERE id = 'new-11-1000'"`;
    chomp $last;
    is($last, 1, 'the newest id is among them');
}
is($d->stop, 0, 'clean stop');
done_testing;
