#!/usr/bin/perl
# `meterd report daily` picks providers by what their plugin declares it
# produces (md_plugin.produces, ABI 1.3), not by the plugin's name:
# t/plugins/cellmaker.so declares usage cells under a name without
# "_logs" and is run; t/plugins/x_logs.so is the same code named x_logs
# without the declaration and is not run (it would hand over a cell too).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(json root run_meterd tmpdir write_file);

my $root = root();
my $dir = tmpdir('produces');
mkdir "$dir/state", 0700;
write_file("$dir/meterd.yaml", <<"Y");
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: $root/t/plugins
providers:
  declared:
    plugin: cellmaker
  named-logs:
    plugin: x_logs
Y

sub providers_in {
    my ($r) = @_;
    my $doc = eval { json()->decode($r->{out}) } or return ['unparseable'];
    my %seen;
    for my $day (@{ $doc->{days} || [] }) {
        $seen{ $_->{provider} } = 1 for @{ $day->{providers} || [] };
    }
    return [sort keys %seen];
}

my @range = ('--since', '2026-03-01', '--until', '2026-03-31', '--json');
my $r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", @range]);
is($r->{rc}, 0, 'report daily exit 0') or diag($r->{err});
is_deeply(providers_in($r), ['declared'],
          'the provider whose plugin declares usage cells ran; the one merely named *_logs did not');

# --provider cannot force a provider whose plugin does not declare cells.
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--provider', 'named-logs', @range]);
is($r->{rc}, 0, 'report daily --provider named-logs exit 0') or diag($r->{err});
is_deeply(providers_in($r), [], '... and it still does not run x_logs');

done_testing();
