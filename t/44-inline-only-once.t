#!/usr/bin/perl
# isolation: inline runs plugin code inside the daemon, so a plugin's
# exit() or endless loop would take the daemon with it: `meterd -t` and
# a daemon start refuse it with a message that says why and names the
# provider's place in the file, a reload to such a configuration keeps
# the running one, and `meterd --once` (debugging) still runs it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd run_meterd tmpdir write_file wait_until json);

my $dir = tmpdir('inline');
mkdir "$dir/state", 0700;
my $inline = <<"Y";
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: ${\ Meterd::root() }/plugins
providers:
  dbg:
    plugin: ${\ Meterd::root() }/t/plugins/good.so
    isolation: inline
    timeout: 2s
    metrics: ["m:quota_window:percent:-:-:-"]
Y
write_file("$dir/meterd.yaml", $inline);

my $t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"]);
is($t->{rc}, 1, 'meterd -t refuses isolation: inline');
like($t->{err}, qr{meterd\.yaml:5:3: provider 'dbg': isolation: inline .*accepted only with --once},
     '... with file:line:col, the provider and why');

my $s = run_meterd(args => ['-c', "$dir/meterd.yaml"]);
is($s->{rc}, 1, 'the daemon does not start with isolation: inline');
like($s->{err}, qr{provider 'dbg': isolation: inline}, '... and says why');

my $o = run_meterd(args => ['--once', '-c', "$dir/meterd.yaml"]);
is($o->{rc}, 0, 'meterd --once runs an inline provider');
my $doc = eval { json()->decode($o->{out}) };
my ($row) = grep { $_->{provider} eq 'dbg' } @{ $doc->{providers} || [] };
is($row && $row->{status}, 'ok', '... and it collected');

# A reload that introduces inline is refused; the old config keeps running.
my $d = start_meterd(config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  dbg:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1h
    metrics: ["m:quota_window:percent:-:-:-"]
Y
ok($d->wait_runs('dbg', 1), 'the process-isolated provider ran');
my $text = Meterd::read_file($d->dir . '/meterd.yaml');
$text =~ s/    interval: 1h\n/    interval: 1h\n    isolation: inline\n/;
write_file($d->dir . '/meterd.yaml', $text);
$d->hup;
ok(wait_until(sub { $d->log_text =~ /reload failed/ }, 15), 'a reload to isolation: inline is refused');
like($d->log_text, qr/provider 'dbg': isolation: inline/, '... saying why');
ok($d->member('dbg'), 'the running configuration stays');
$d->stop;
done_testing;
