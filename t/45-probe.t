#!/usr/bin/perl
# Plugin code never runs in the daemon or in `meterd -t`: loading a
# plugin, its ABI check and its check() run in a probe process.  A
# constructor that calls exit(0) no longer stops a running daemon on
# SIGHUP (the reload is refused, the old configuration keeps running); a
# check() that segfaults makes `meterd -t` exit 1 with a file:line:col
# error naming the plugin file and the signal; a constructor that hangs
# is bounded by the probe's timeout.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use Meterd qw(start_meterd run_meterd tmpdir write_file wait_until root);

my $root = root();
sub config_with {
    my ($dir, $plugin) = @_;
    return "listen: 127.0.0.1:0\nstate_dir: $dir/state\nplugin_dir: $root/plugins\n"
         . "providers:\n  p:\n    plugin: $root/t/plugins/$plugin.so\n    interval: 1h\n";
}

# meterd -t with a check() that dies of SIGSEGV.
my $dir = tmpdir('probe');
mkdir "$dir/state", 0700;
write_file("$dir/meterd.yaml", config_with($dir, 'check_segv'));
my $t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"]);
is($t->{signal}, 0, 'meterd -t survives a check() that segfaults');
is($t->{rc}, 1, '... and exits 1');
like($t->{err}, qr{meterd\.yaml:5:3: provider 'p': plugin \S*t/plugins/check_segv\.so died of SIGSEGV},
     '... with file:line:col, the plugin file and the signal');

# meterd -t with a constructor that calls exit(0).
write_file("$dir/meterd.yaml", config_with($dir, 'ctor_exit'));
$t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"]);
is($t->{rc}, 1, 'meterd -t: a constructor that exits is an error, not "OK"');
like($t->{err}, qr{meterd\.yaml:5:3: provider 'p': plugin \S*ctor_exit\.so exited with status 0},
     '... naming the plugin file and the exit status');
unlike($t->{out} // '', qr/configuration OK/, '... and never says OK');

# A constructor that never returns: the probe is bounded.
write_file("$dir/meterd.yaml", config_with($dir, 'ctor_hang'));
my $t0 = time;
$t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"]);
my $took = time - $t0;
is($t->{rc}, 1, 'meterd -t: a constructor that hangs is an error');
like($t->{err}, qr{ctor_hang\.so did not answer within 5 s}, '... that says so');
cmp_ok($took, '<', 15, sprintf('... bounded (%.1f s)', $took));

# The daemon: SIGHUP to a configuration whose plugin exits at load.
my $d = start_meterd(config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  good:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1h
    metrics: ["m:quota_window:percent:-:-:-"]
Y
ok($d->wait_runs('good', 1), 'the daemon runs');
write_file($d->dir . '/meterd.yaml',
           Meterd::read_file($d->dir . '/meterd.yaml') . "  bad:\n    plugin: $root/t/plugins/ctor_exit.so\n");
$d->hup;
ok(wait_until(sub { $d->log_text =~ /reload failed/ }, 20), 'SIGHUP: the reload is refused');
like($d->log_text, qr{provider 'bad': plugin \S*ctor_exit\.so exited with status 0}, '... with the reason in the log');
my ($st) = $d->get('/healthz');
is($st, 200, 'the daemon is still running');
ok($d->member('good') && !$d->member('bad'), 'the old configuration stays');
is($d->stop, 0, 'and it stops normally');
done_testing;
