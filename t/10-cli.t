#!/usr/bin/perl
# Command line: -V, -h, -t, --once, bad usage.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(run_meterd exec_script tmpdir write_file read_file json root);

my $r = run_meterd(args => ['-V']);
is($r->{rc}, 0, '-V exits 0');
like($r->{out}, qr/^meterd \d+\.\d+\.\d+ \(plugin ABI 1\.\d+\)/, '-V prints version and ABI');
$r = run_meterd(args => ['-h']);
like($r->{out}, qr/usage: meterd \[-c FILE\] \[-t\] \[--once\]/, '-h prints usage');
$r = run_meterd(args => ['--bogus']);
is($r->{rc}, 2, 'unknown option exits 2');
$r = run_meterd(args => ['-t', '-c', '/nonexistent/meterd.yaml']);
is($r->{rc}, 1, 'missing config fails -t');
like($r->{err}, qr{/nonexistent/meterd\.yaml}, 'and names it');

my $dir = tmpdir('cli');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":12.5}]}'\n));
write_file("$dir/m.yaml", <<"Y");
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: ${\ root()}/plugins
providers:
  one:
    plugin: exec
    interval: 1h
    command: ["$dir/ok.sh"]
  hung:
    plugin: ${\ root()}/t/plugins/hang.so
    interval: 1h
    timeout: 300ms
Y
$r = run_meterd(args => ['-t', '-c', "$dir/m.yaml"]);
is($r->{rc}, 0, '-t on a valid config exits 0');
like($r->{out}, qr/configuration OK/, 'configuration OK');

$r = run_meterd(args => ['--once', '-c', "$dir/m.yaml"]);
is($r->{rc}, 0, '--once exits 0 even with a hung provider');
my $doc = eval { json->decode($r->{out}) };
ok($doc, '--once prints JSON') or diag $r->{out}, $r->{err};
is($doc->{schema}, 'meterd.usage.v1', 'the usage document');
my %rows = map { $_->{provider} => $_ } @{ $doc->{providers} };
is($rows{one}{usage_remaining}, 87.5, 'collected value');
is($rows{hung}{members}[0]{error}{class}, 'timeout', 'hung provider timed out under its timeout');

# The shipped example of every provider plugin validates (-t loads each
# plugin and checks its options).
write_file("$dir/conf.d/20.yaml", read_file(root() . '/conf/conf.d/20-providers.yaml.example'));
write_file("$dir/ex.yaml", "listen: 127.0.0.1:0\nstate_dir: $dir/state\nplugin_dir: " . root() . "/plugins\ninclude: conf.d/*.yaml\n");
my %keys = map { $_ => "k-$_-0000" } qw(ANTHROPIC_ADMIN_KEY OPENAI_ADMIN_KEY OPENROUTER_API_KEY MOONSHOT_API_KEY ZAI_API_KEY KIMI_CODE_API_KEY);
$r = run_meterd(args => ['-t', '-v', '-c', "$dir/ex.yaml"], env => \%keys);
is($r->{rc}, 0, 'the providers example validates') or diag $r->{err};
is(scalar(() = $r->{out} =~ /^\s+plugin: /mg), 12, 'with all twelve provider sections');

# The bundled default config, with the paths `make run` fills in, is valid
# (and so is what `make install` writes: the same template).
my $root = root();
system("make -s -C '$root' run/meterd.yaml >/dev/null 2>&1") == 0 or diag 'make run/meterd.yaml failed';
# An empty home: what the default detects on this machine must not leak in.
mkdir "$dir/home";
my %offline = (DEEPSEEK_API_KEY => '', HOME => "$dir/home", CLAUDE_CONFIG_DIR => '',
               CODEX_HOME => '', XDG_CONFIG_HOME => '');
$r = run_meterd(args => ['-t', '-c', "$root/run/meterd.yaml"], env => \%offline);
is($r->{rc}, 0, 'the default config (make run) validates') or diag $r->{err};
$r = run_meterd(args => ['--once', '-c', "$root/run/meterd.yaml"], env => \%offline); # never the real host
my $once = eval { json->decode($r->{out}) } || {};
my ($budget) = grep { $_->{provider} eq 'local-budget' } @{ $once->{providers} || [] };
ok($budget && $budget->{status} eq 'ok' && defined $budget->{usage_remaining},
   'and shows real data offline (the ledger budget)');
my ($ds) = grep { $_->{provider} eq 'deepseek' } @{ $once->{providers} || [] };
is($ds && $ds->{members}[0]{error}{class}, 'auth', 'deepseek without a key honestly says auth');

write_file("$dir/bad.yaml", "providers: [\n");
$r = run_meterd(args => ['--once', '-c', "$dir/bad.yaml"]);
is($r->{rc}, 1, '--once with an invalid config exits 1');
done_testing;
