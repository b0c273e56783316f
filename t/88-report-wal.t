#!/usr/bin/perl
# What `meterd report` leaves of meterd.db's write-ahead log: a small
# save stays in the WAL (durable there; the next process appends to it),
# a large one is copied into the database before the report exits (the
# copy starts on the checkpointer's thread right after the save) and the
# WAL file is gone; either way the next report reads the same days.
use strict;
use warnings;
use lib 't/lib';
use POSIX qw(strftime);
use Test::More;
use Meterd qw(json plugin root run_meterd tmpdir write_file);

my $dir = tmpdir('report-wal');
my $state = "$dir/state";
my $codex = "$dir/codex";
mkdir $state, 0700;
my $db = "$state/meterd.db";
# history_db.h HISTORY_KEEP_WAL_BYTES: 64 pages of 4 KiB and their frame
# headers, and the WAL header
my $keep = 64 * (4096 + 24) + 32;
my $plugins = root() . '/plugins';

my $yaml = write_file("$dir/c.yaml", <<"Y", 0600);
listen: 127.0.0.1:0
state_dir: $state
plugin_dir: $plugins
aliases: ""
providers:
  codex_logs:
    plugin: codex_logs
    interval: 1h
    timeout: 60s
    roots: ["$codex"]
Y

# A rollout with one token_count every 15 minutes from $start: a usage
# cell per event.
sub rollout {
    my ($name, $start, $n) = @_;
    my $d = "$codex/sessions/2026/09/01";
    system('mkdir', '-p', $d) == 0 or die "mkdir $d";
    my $text = '{"timestamp":"' . strftime('%Y-%m-%dT%H:%M:%S.000Z', gmtime $start)
        . '","type":"turn_context","payload":{"model":"gpt-5.2"}}' . "\n";
    for my $k (0 .. $n - 1) {
        my $tot = ($k + 1) * 100;
        $text .= '{"timestamp":"' . strftime('%Y-%m-%dT%H:%M:%S.000Z', gmtime($start + 900 * $k))
            . '","type":"event_msg","payload":{"type":"token_count","info":'
            . '{"total_token_usage":{"input_tokens":' . $tot . ',"cached_input_tokens":0,'
            . '"output_tokens":' . $tot . ',"reasoning_output_tokens":0,'
            . '"total_tokens":' . (2 * $tot) . '}},"rate_limits":null}}' . "\n";
    }
    write_file("$d/rollout-$name.jsonl", $text, 0600);
}

sub report {
    my $r = run_meterd(args => ['report', 'daily', '-c', $yaml, '--provider',
                                'codex_logs', '--json']);
    $r->{doc} = eval { json()->decode($r->{out}) };
    return $r;
}

sub day_total {
    my ($doc) = @_;
    my $t = 0;
    $t += $_->{tokens_total} // 0 for @{ $doc->{days} || [] };
    return $t;
}

# 2026-09-01T00:00Z
my $t0 = 1788220800;
rollout('2026-09-01T00-00-00-small', $t0, 4);
my $r = report();
is($r->{rc}, 0, 'small report: exit 0') or diag $r->{err};
is(day_total($r->{doc}), 800, 'small report: its four deltas');
ok(-e "$db-wal" && -s "$db-wal" < $keep,
   'a small save stays in the WAL (' . (-s "$db-wal" // 'none') . ' bytes)');
my $again = report();
is_deeply($again->{doc}{days}, $r->{doc}{days}, 'the next report reads the same days');

# 3000 more cells: far more than 64 pages of WAL
rollout('2026-09-02T00-00-00-large', $t0 + 86400, 3000);
$r = report();
is($r->{rc}, 0, 'large report: exit 0') or diag $r->{err};
is(day_total($r->{doc}), 800 + 2 * 3000 * 100, 'large report: every delta');
ok(!-e "$db-wal" || -s "$db-wal" == 0,
   'a large save is copied into the database: no WAL is left ('
   . (-s "$db-wal" // 'none') . ' bytes)');
my $rows = `sqlite3 -cmd '.timeout 5000' '$db' 'SELECT count(*) FROM usage_cell'`;
chomp $rows;
is($rows, 3004, 'the database file holds every cell');
$again = report();
is($again->{rc}, 0, 'the next report: exit 0');
is_deeply($again->{doc}{days}, $r->{doc}{days}, 'and it reads the same days');

done_testing();
