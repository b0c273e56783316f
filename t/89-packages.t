#!/usr/bin/perl
# Declared packages: quota meterd counts itself from recorded usage (here
# gateway ingest, POST /api/telemetry with past `at` times), shown as an
# estimated meter of its family that never outranks a provider meter.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX qw(strftime);
use Meterd qw(start_meterd exec_script tmpdir json);

my $dir = tmpdir('packages');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[{"id":"five_hour","kind":"quota_window","unit":"percent","utilization":10}]}'\n));
my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
families:
  claude: [claude-gw]
providers:
  claude-gw:
    plugin: exec
    interval: 1h
    command: ["@DIR@/ok.sh"]
  other-gw:
    plugin: exec
    interval: 1h
    command: ["@DIR@/ok.sh"]
packages:
  claude-pro-5h:
    family: claude
    count: [claude-gw]
    kind: rolling_window
    window: 5h
    limit: 45
    unit: messages
    weights: {"claude-opus-*": 5, "*": 1}
  free-daily:
    count: [other-gw]
    kind: daily
    reset: "00:00 America/Los_Angeles"
    limit: 1000
    unit: requests
  pack-usd:
    count: [other-gw]
    kind: credits
    since: 2000-01-01T00:00:00Z
    limit: 100
    unit: usd
Y
my $d = start_meterd(dir => $dir, config => $conf);
ok($d->wait_runs('claude-gw', 1) && $d->wait_runs('other-gw', 1), 'collected');
my $http = HTTP::Tiny->new(timeout => 10);
my $n = 0;
sub post {
    my ($provider, $model, $ago) = @_;
    my $at = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - $ago));
    my $r = $http->post($d->base . '/api/telemetry', { content => json->encode({
        provider => $provider, route => 'messages', model => $model, id => 'turn-' . ++$n,
        at => $at, dialect => 'anthropic',
        usage => { input_tokens => 10, output_tokens => 5 } }),
        headers => { 'Content-Type' => 'application/json' } });
    return $r->{status};
}
# in the window: 2 opus (x5) + 3 sonnet = 13; 6 h ago: outside the 5 h window
is(post('claude-gw', 'claude-opus-4-1', 600), 200, 'ingest accepted');
post('claude-gw', 'claude-opus-4-1', 1200);
post('claude-gw', 'claude-sonnet-4-5', 1800) for 1 .. 3;
post('claude-gw', 'claude-opus-4-1', 6 * 3600);
# other-gw: a model without a price -> usd unknown
post('other-gw', 'mystery-model-x', 60);

sub meter {
    my ($provider, $id) = @_;
    my $m = $d->member($provider) or return undef;
    my ($x) = grep { $_->{id} eq $id } @{ $m->{metrics} || [] };
    return $x;
}
my $pro = Meterd::wait_until(sub { my $x = meter('claude-pro-5h', 'claude-pro-5h');
                                   $x && defined $x->{used} && $x->{used} == 13 ? $x : undef }, 15);
ok($pro, 'weighted messages in the rolling window: 2 x 5 + 3 = 13 (the 6 h old one slid out)')
    or diag explain meter('claude-pro-5h', 'claude-pro-5h');
is($pro && $pro->{remaining}, 32, 'remaining 45 - 13');
is($pro && $pro->{source}, 'declared', 'source declared');
is($pro && $pro->{confidence}, 'estimated', 'confidence estimated');
my $daily = meter('free-daily', 'free-daily');
is($daily && $daily->{used}, 1, 'daily: one request today (Los Angeles day)');
ok($daily && defined $daily->{resets_at}, 'daily: resets_at known');
my $usd = meter('pack-usd', 'pack-usd');
ok($usd && !defined $usd->{used}, 'usd of an unpriced model: unknown, not 0')
    or diag explain $usd;

my $u = $d->usage;
my ($fam) = grep { $_->{provider} eq 'claude' } @{ $u->{providers} || [] };
ok($fam, 'claude family row') or diag explain $u;
my @members = map { $_->{name} // '' } @{ $fam->{members} || [] };
ok((grep { $_ eq 'claude-pro-5h' } @members), 'the package is a member of its family row')
    or diag explain $fam;
ok((grep { $_->{id} eq 'claude-pro-5h' } @{ $fam->{metrics} || [] }), 'its meter is one of the row\'s metrics');
is($fam->{governing_metric}{provider}, 'claude-gw',
   'never ranked above the provider meter (13/45 = 29 % > 10 %, still the provider governs)')
    or diag explain $fam->{governing_metric};
my ($own) = grep { $_->{provider} eq 'free-daily' } @{ $u->{providers} || [] };
ok($own, 'a package without family forms its own row named after it');
$d->stop;
done_testing();
