#!/usr/bin/perl
# A plugin's check() runs in a probe helper with the environment its
# collections get: the scrubbed base plus the variables the plugin
# declares (md_plugin.env).  So a check() that validates a key from the
# environment sees it (meterd -t and the daemon's start accept the
# provider), refuses when it is missing, and still sees no undeclared
# variable of the daemon's environment.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd run_meterd tmpdir write_file root);

delete $ENV{$_} for qw(ENVCHECK_KEY ENVCHECK_UNDECLARED);
my $dir = tmpdir('probeenv');
mkdir "$dir/state", 0700;
write_file("$dir/meterd.yaml", <<"Y");
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: ${\ root() }/plugins
providers:
  envp:
    plugin: ${\ root() }/t/plugins/envcheck.so
    interval: 1h
Y
my $t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"], env => { ENVCHECK_KEY => 'k-123' });
is($t->{rc}, 0, "check() sees the variable its plugin declares") or diag($t->{err});

$t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"], env => {});
is($t->{rc}, 1, 'without it check() refuses');
like($t->{err}, qr/ENVCHECK_KEY is not set/, '... with its own message');

$t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"],
                env => { ENVCHECK_KEY => 'k-123', ENVCHECK_UNDECLARED => 'other-provider-key' });
is($t->{rc}, 0, 'an undeclared variable of the daemon stays out of the probe') or diag($t->{err});

my $d = start_meterd(env => { ENVCHECK_KEY => 'k-123' }, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  envp:
    plugin: @ROOT@/t/plugins/envcheck.so
    interval: 1h
Y
my $m = $d->wait_runs('envp', 1);
my %v = map { $_->{id} => $_->{used} } @{ $m->{metrics} || [] };
is($m->{status}, 'ok', 'the daemon accepted the provider and collected');
is($v{has_key}, 1, 'its collection sees the same variable');
$d->stop;
done_testing;
