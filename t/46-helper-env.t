#!/usr/bin/perl
# A helper's environment is scrubbed: it has HOME (and PATH, LANG, LC_*,
# TZ) and the variables its plugin declares (md_plugin.env), never the
# rest of the daemon's environment - another provider's key stays out of
# /proc/PID/environ.  A ${VAR} inside an exec command would put the
# secret on every process list: meterd -t refuses it and points to env:.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd run_meterd tmpdir write_file root);

my $d = start_meterd(env => { ENVDUMP_WANTED => 'yes', ENVDUMP_OTHER_KEY => 'sk-other-provider-key' },
                     config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  env:
    plugin: @ROOT@/t/plugins/envdump.so
    interval: 1h
Y
my $m = $d->wait_runs('env', 1);
my %v = map { $_->{id} => $_->{used} } @{ $m->{metrics} || [] };
is($v{undeclared}, 0, 'a variable the plugin does not declare is not in its helper');
is($v{declared}, 1, 'a variable the plugin declares is');
is($v{home}, 1, 'HOME is');
$d->stop;

my $dir = tmpdir('envcmd');
mkdir "$dir/state", 0700;
write_file("$dir/meterd.yaml", <<"Y");
state_dir: $dir/state
plugin_dir: ${\ root() }/plugins
providers:
  cmd:
    plugin: exec
    command: ["curl", "-H", "Authorization: Bearer \${API_TOKEN}"]
Y
my $t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"], env => { API_TOKEN => 'tok-in-argv-1234' });
is($t->{rc}, 1, 'meterd -t refuses ${VAR} in an exec command');
like($t->{err}, qr{meterd\.yaml:\d+:\d+: provider 'cmd': .*command.*env:}, '... pointing to env:');
unlike($t->{err}, qr/tok-in-argv-1234/, '... without printing the secret');
done_testing;
