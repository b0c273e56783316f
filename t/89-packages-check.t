#!/usr/bin/perl
# meterd -t on declared packages: an unknown counted provider, a family
# that is no family, and a weight glob that matches no model are warnings
# at file:line:col (the check still passes); an unknown unit stays an
# error.  Weight globs are judged against the counted providers' recorded
# usage, or the built-in price table's model names while none is recorded.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX qw(strftime);
use Meterd qw(start_meterd run_meterd exec_script tmpdir json write_file);

my $dir = tmpdir('packages-check');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[]}'\n));
my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
families:
  claude: [claude-gw]
providers:
  claude-gw: {plugin: exec, interval: 1h, command: ["@DIR@/ok.sh"]}
  other-gw: {plugin: exec, interval: 1h, command: ["@DIR@/ok.sh"]}
packages:
  good:
    family: claude
    count: [claude-gw]
    kind: daily
    limit: 10
    unit: messages
    weights: {"claude-opus-*": 5, "*": 1}
  own-row:
    family: other-gw
    count: other-gw
    limit: 10
  typos:
    family: claud
    count: [claude-gw, claude-gww]
    kind: daily
    limit: 10
    unit: messages
    weights: {"claude-opsu-*": 5, "gpt-5*": 2}
Y
my $d = start_meterd(dir => $dir, config => $conf);
my $yaml = "$dir/meterd.yaml";
my @lines = split /\n/, Meterd::read_file($yaml);
# The 1-based line and column of the first occurrence of $text after $after.
sub at {
    my ($text, $after) = @_;
    my $seen = !defined $after;
    for my $i (0 .. $#lines) {
        $seen ||= index($lines[$i], $after) >= 0;
        next unless $seen;
        my $c = index($lines[$i], $text);
        return ($i + 1) . ':' . ($c + 1) if $c >= 0;
    }
    die "no $text";
}

# ---- no usage recorded yet: weights judged by the price table ----
$d->stop;
my $r = run_meterd(args => ['-t', '-c', $yaml]);
is($r->{rc}, 0, 'warnings only: -t passes') or diag $r->{err};
like($r->{out}, qr/configuration OK/, 'configuration OK');
my $err = $r->{err} // '';
my $pos = at('claude-gww');
like($err, qr/\Q$yaml:$pos\E: packages: typos: count: 'claude-gww' is not a configured provider/,
     "unknown counted provider warned at its file:line:col ($pos)");
$pos = at('claud', 'typos:');
like($err, qr/\Q$yaml:$pos\E: packages: typos: family: 'claud' is no family/,
     "unknown family warned at its place ($pos)");
$pos = at('"claude-opsu-*"');
like($err, qr/\Q$yaml:$pos\E: packages: typos: weights: 'claude-opsu-\*' matches no known model \(no usage/,
     "a weight glob matching no priced model, with no usage to judge by ($pos)");
unlike($err, qr/gpt-5\*/, 'a glob of a known model is not warned without usage');
unlike($err, qr/packages: (good|own-row):/, 'correct packages (a provider\'s own row as family) are not warned');
like($err, qr/warn/i, 'as warnings');
unlike($err, qr/\berror\b/i, 'not errors');

# ---- with recorded usage: judged by the counted providers' models ----
$d->start;
my $http = HTTP::Tiny->new(timeout => 10);
my $n = 0;
for my $m ('claude-opus-4-1', 'claude-sonnet-4-5') {
    my $res = $http->post($d->base . '/api/telemetry', { content => json->encode({
        provider => 'claude-gw', route => 'messages', model => $m, id => 'turn-' . ++$n,
        at => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - 60)), dialect => 'anthropic',
        usage => { input_tokens => 10, output_tokens => 5 } }),
        headers => { 'Content-Type' => 'application/json' } });
    is($res->{status}, 200, "usage of $m recorded");
}
$d->stop;
$r = run_meterd(args => ['-t', '-c', $yaml]);
is($r->{rc}, 0, '-t passes');
$err = $r->{err} // '';
$pos = at('"gpt-5*"');
like($err, qr/\Q$yaml:$pos\E: packages: typos: weights: 'gpt-5\*' matches no model of the recorded usage/,
     "a known model never seen in the counted providers' usage is warned ($pos)");
like($err, qr/'claude-opsu-\*' matches no model of the recorded usage/, 'the typo too');
unlike($err, qr/claude-opus-\*/, 'a glob matching a recorded model is not warned');

# ---- an unknown unit stays an error ----
write_file("$dir/bad.yaml", <<"Y");
state_dir: $dir/state
plugin_dir: @{[ Meterd::root() ]}/plugins
providers:
  p: {plugin: exec, command: ["$dir/ok.sh"]}
packages:
  x: {count: p, limit: 1, unit: litres}
Y
$r = run_meterd(args => ['-t', '-c', "$dir/bad.yaml"]);
isnt($r->{rc}, 0, 'an unknown unit fails -t');
like($r->{err}, qr/bad\.yaml:6:\d+: packages: x: unit: 'litres' is not/, 'as an error at its place');

done_testing;
