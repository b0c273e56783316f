#!/usr/bin/perl
# `meterd report` probes the first plugin it has no cached descriptor for
# in a spare probe process forked at its start (probe.h): that probe has
# its own process group and the provider's environment only (a variable
# the plugin does not declare is not there); a second report takes the
# descriptor from the cache and probes nothing; a plugin whose
# constructor exits fails its probe as a spawned probe does.
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use Test::More;
use Meterd qw(root run_meterd tmpdir write_file read_file);

my $root = root();
my $dir = tmpdir('spareprobe');
mkdir "$dir/plugins", 0700;
for my $p (qw(probeenv ctor_exit)) {
    copy("$root/t/plugins/$p.so", "$dir/plugins/$p.so") or die "copy $p: $!";
    chmod 0755, "$dir/plugins/$p.so";
}
my $out = "$dir/probeenv-loads.txt";

sub config {
    my ($name, $plugin) = @_;
    my $state = "$dir/state-$name";
    mkdir $state, 0700;
    return write_file("$dir/$name.yaml", <<"Y", 0600);
listen: 127.0.0.1:0
state_dir: $state
plugin_dir: $dir/plugins
providers:
  p:
    plugin: $plugin
    interval: 1h
Y
}

sub report {
    my ($yaml) = @_;
    return run_meterd(args => ['report', 'daily', '-c', $yaml],
                      env => {HOME => $dir, PROBEENV_SECRET => 'x'});
}

my $yaml = config('env', 'probeenv');
my $r = report($yaml);
is($r->{rc}, 0, 'a cold report: exit 0') or diag $r->{err};
my @loads = split /\n/, (read_file($out) // '');
is(scalar @loads, 1, 'the plugin was loaded once: by the probe') or diag "@loads";
like($loads[0] // '', qr/own_group=1/, 'in a process group of its own');
like($loads[0] // '', qr/undeclared=0/, 'with the declared variables only');
ok(-s "$dir/state-env/probe-cache.json", 'its descriptor went to the cache');

$r = report($yaml);
is($r->{rc}, 0, 'a second report: exit 0');
@loads = split /\n/, (read_file($out) // '');
is(scalar @loads, 1, 'and no probe: the cached descriptor');

$r = report(config('exit', 'ctor_exit'));
like($r->{err}, qr{ctor_exit\.so exited with status 0},
     'a constructor that exits fails the spare probe as a spawned one')
    or diag $r->{err};
is($r->{rc}, 1, 'and the report fails as it did with a spawned probe');

done_testing();
