#!/usr/bin/perl
# Drop-ins override and disable; -t reports file:line:col; SIGHUP with a
# broken drop-in keeps the running config; SIGHUP with a valid change applies.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd run_meterd exec_script tmpdir write_file wait_until root);

my $dir = tmpdir('conf');
exec_script($dir, 'a.sh', qq(echo '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":40}]}'\n));
my $main = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
include: conf.d/*.yaml
providers:
  alpha:
    plugin: exec
    interval: 1h
    timeout: 5s
    command: ["@DIR@/a.sh"]
  beta:
    plugin: exec
    interval: 1h
    command: ["@DIR@/a.sh"]
Y
my $d = start_meterd(dir => $dir, config => $main, files => {
    'conf.d/10-timeout.yaml' => "providers:\n  alpha:\n    timeout: 3s\n",
    'conf.d/20-disable.yaml' => "providers:\n  beta:\n    enabled: false\n",
    'conf.d/.hidden.yaml'    => "this: is: not: yaml: [\n",
    'conf.d/30-x.yaml~'      => "garbage: [\n",
    'conf.d/README'          => "not yaml at all: [\n",
});
my $cfg = "$dir/meterd.yaml";

# -t on the valid tree, and -t -v shows the merged result
my $r = run_meterd(args => ['-t', '-c', $cfg]);
is($r->{rc}, 0, '-t accepts the config (dotfiles, backups, non-.yaml skipped)');
like($r->{out}, qr/configuration OK/, 'says configuration OK');
$r = run_meterd(args => ['-t', '-v', '-c', $cfg]);
like($r->{out}, qr/timeout:\s*3s/, '-t -v shows the drop-in override of one key');

ok($d->wait_runs('alpha', 1), 'alpha runs');
my $beta = $d->member('beta');
is($beta->{status}, 'disabled', 'beta disabled by a drop-in');
is($beta->{runs}, 0, 'a disabled provider never runs');

# Broken drop-in + SIGHUP: errors logged with file:line:col, old config kept.
write_file("$dir/conf.d/40-broken.yaml", "providers:\n  gamma:\n    plugin: exec\n    command: [\"x\"\n");
$r = run_meterd(args => ['-t', '-c', $cfg]);
is($r->{rc}, 1, '-t rejects a broken drop-in');
like($r->{err}, qr{40-broken\.yaml:\d+:\d+: }, '-t names file:line:col');
$d->hup;
ok(wait_until(sub { $d->log_text =~ /reload failed; keeping the running configuration/ }), 'reload refused');
like($d->log_text, qr{error: meterd: \S*40-broken\.yaml:\d+:\d+:}, 'log names the file, line and column');
my ($st, $h) = $d->get('/healthz');
is($st, 200, 'still serving after a failed reload');
is($h->{reloads}{failed}, 1, 'healthz counts the failed reload');
ok(!$d->member('gamma'), 'gamma not added');
is($d->member('beta')->{status}, 'disabled', 'old config unchanged');

# Valid change + SIGHUP: applied (provider added, beta re-enabled), alpha kept.
my $alpha_runs = $d->member('alpha')->{runs};
unlink "$dir/conf.d/40-broken.yaml";
unlink "$dir/conf.d/20-disable.yaml";
write_file("$dir/conf.d/50-gamma.yaml", "providers:\n  gamma:\n    plugin: exec\n    interval: 1h\n    command: [\"$dir/a.sh\"]\n");
$d->hup;
ok(wait_until(sub { $d->member('gamma') && $d->member('gamma')->{runs} >= 1 }), 'gamma added and collected');
ok($d->wait_runs('beta', 1), 'beta re-enabled and collected');
is($d->member('alpha')->{runs}, $alpha_runs, 'unchanged alpha kept its state (not re-run)');
($st, $h) = $d->get('/healthz');
is($h->{reloads}{succeeded}, 1, 'healthz counts the reload');

# Unknown keys: top-level with did-you-mean, plugin option via the plugin table.
my $bad = tmpdir('bad');
write_file("$bad/m.yaml", "listen: 127.0.0.1:0\nintervall: 5s\nstate_dir: $bad/s\n");
$r = run_meterd(args => ['-t', '-c', "$bad/m.yaml"]);
is($r->{rc}, 1, 'unknown keys are errors');
like($r->{err}, qr{m\.yaml:2:1: .*intervall.*did you mean .interval}s, 'top-level unknown key with hint');
write_file("$bad/p.yaml", "listen: 127.0.0.1:0\nstate_dir: $bad/s\nplugin_dir: " . root() . "/plugins\nproviders:\n  x:\n    plugin: exec\n    comand: [\"/bin/true\"]\n");
$r = run_meterd(args => ['-t', '-c', "$bad/p.yaml"]);
is($r->{rc}, 1, 'unknown plugin options are errors');
like($r->{err}, qr{p\.yaml:7:\d+: .*comand.*did you mean .command}s, 'plugin option unknown key with hint');

# Malformed YAML: file, line, column.
write_file("$bad/y.yaml", "listen: 127.0.0.1:0\nproviders:\n  x: [1, 2\n  y: 3\n");
$r = run_meterd(args => ['-t', '-c', "$bad/y.yaml"]);
is($r->{rc}, 1, 'malformed YAML rejected');
like($r->{err}, qr{y\.yaml:\d+:\d+: }, 'malformed YAML names file:line:col');

# Wrong ABI and missing entry symbol are reported by -t, by name.
write_file("$bad/abi.yaml", "listen: 127.0.0.1:0\nstate_dir: $bad/s\nproviders:\n  old:\n    plugin: " . root() . "/t/plugins/abi2.so\n  none:\n    plugin: " . root() . "/t/plugins/noentry.so\n");
$r = run_meterd(args => ['-t', '-c', "$bad/abi.yaml"]);
is($r->{rc}, 1, 'ABI problems fail -t');
like($r->{err}, qr/plugin 'old' built for ABI 2, meterd provides 1/, 'ABI major mismatch message');
like($r->{err}, qr/meterd_plugin_entry/, 'missing entry symbol named');
is($d->stop, 0, 'clean stop');
done_testing;
