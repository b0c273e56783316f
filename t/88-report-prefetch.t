#!/usr/bin/perl
# `meterd report` reads its report on a thread while the collection runs
# and prints that read only when the save after the collection cannot
# have changed a day it shows; the output is the one of reading after
# the save in every case:
#   - a collection that hands over a cell: the cell is in the report;
#   - a collection that hands over nothing, with cells in the database
#     older than the retention (usage_retention shortened since they
#     were stored): the save drops them, and the report does not show
#     them;
#   - a collection that hands over nothing, all cells kept: the report
#     shows them all, table and --json alike, the same on a second run.
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use POSIX qw(strftime);
use Test::More;
use Meterd qw(json root run_meterd tmpdir write_file);

my $root = root();
my $dir = tmpdir('report-prefetch');
mkdir "$dir/plugins", 0700;
copy("$root/t/plugins/cellcrash.so", "$dir/plugins/cellcrash.so") or die "copy: $!";
chmod 0755, "$dir/plugins/cellcrash.so";
my $state = "$dir/state";
mkdir $state, 0700;

sub config {
    my ($retention) = @_;
    return write_file("$dir/c-$retention.yaml", <<"Y", 0600);
listen: 127.0.0.1:0
state_dir: $state
plugin_dir: $dir/plugins
usage_retention: $retention
providers:
  cc:
    plugin: cellcrash
    timeout: 10s
Y
}

sub report {
    my ($yaml, $mode, @args) = @_;
    my $r = run_meterd(args => ['report', 'daily', '-c', $yaml, @args],
                       env => {CELLCRASH_MODE => $mode});
    $r->{doc} = eval { json()->decode($r->{out}) } if grep { $_ eq '--json' } @args;
    return $r;
}

sub dates { [map { $_->{date} } @{ $_[0]{doc}{days} || [] }] }

# Gateway cells of 40 and 2 days ago, written as a usage.json the first
# report migrates into meterd.db (with a retention that keeps both).
my $now = int(time / 900) * 900;
my ($old, $recent) = ($now - 40 * 86400, $now - 2 * 86400);
my $day = sub { strftime('%Y-%m-%d', gmtime($_[0])) };
write_file("$state/usage.json", json()->encode({
    schema => 'meterd.usage.v1', saved_at => '2026-01-01T00:00:00Z',
    providers => [{name => 'gw', generation => '1', models => ['m'],
                   cells => [map { [$_, 0, 1, 10, 0, 0, 5, 0, 15, undef, 1] }
                             $old, $recent]}]}), 0600);

my $long = config('800d');
my $r = report($long, 'cells', '--json');
is($r->{rc}, 0, 'first report: exit 0') or diag $r->{err};
ok((grep { $_ eq '2026-03-10' } @{ dates($r) }),
   'a cell the collection hands over is in the report');
is_deeply([grep { $_ ne '2026-03-10' } @{ dates($r) }],
          [$day->($old), $day->($recent)], 'both gateway days kept at 800d');

$r = report($long, 'quiet', '--json');
my $json = $r->{out};
is_deeply(dates($r), [sort '2026-03-10', $day->($old), $day->($recent)],
          'a collection without cells: every day still shown')
    or diag $r->{err};
my $table = report($long, 'quiet')->{out};
like($table, qr/^\Q${\ $day->($old)}\E /m, 'the table too');
is(report($long, 'quiet', '--json')->{out}, $json, 'the same on another run');
is(report($long, 'quiet')->{out}, $table, 'the same table on another run');

my $short = config('30d');
$r = report($short, 'quiet', '--json');
is($r->{rc}, 0, 'retention 30d: exit 0') or diag $r->{err};
is_deeply(dates($r), [$day->($recent)],
          'the save drops the cells past the retention, and the report does not show them');

done_testing();
