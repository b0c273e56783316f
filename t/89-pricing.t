#!/usr/bin/perl
# pricing: in meterd.yaml overrides the built-in price of a model used by
# telemetry posted through /api/telemetry, and /api/usage/daily shows the
# overridden cost; an unpriced model has cost_usd null with a note; a bad
# reload keeps the running prices; meterd -t warns about a glob that
# matches nothing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Meterd qw(start_meterd run_meterd exec_script tmpdir json write_file wait_until);

my $dir = tmpdir('pricing');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[]}'\n));
my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  claude-gw:
    plugin: exec
    interval: 1h
    command: ["@DIR@/ok.sh"]
pricing:
  "claude-sonnet-4-5*":
    input: 1
    output: 2
    cache_write: 3
    cache_read: 4
Y
my $d = start_meterd(dir => $dir, config => $conf);
ok($d->wait_runs('claude-gw', 1), 'collected');
my $http = HTTP::Tiny->new(timeout => 10);
my $r = $http->post($d->base . '/api/telemetry', {
    headers => { 'Content-Type' => 'application/json' },
    content => json->encode([
        { provider => 'claude-gw', model => 'claude-sonnet-4-5-20250929', id => 'a1',
          at => '2026-03-10T13:00:00Z',
          usage => { input_tokens => 4, cache_creation_input_tokens => 20154,
                     cache_read_input_tokens => 13920, output_tokens => 412 } },
        { provider => 'claude-gw', model => 'mystery-model-x', id => 'a2',
          at => '2026-03-10T14:00:00Z',
          usage => { input_tokens => 10, output_tokens => 10 } },
    ]) });
is($r->{status}, 200, 'telemetry accepted') or diag $r->{content};

sub day_models {
    my ($st, $doc) = $d->get('/api/usage/daily?provider=claude-gw&since=2026-03-10&until=2026-03-10');
    return undef unless $st == 200 && $doc->{days} && @{ $doc->{days} };
    return { map { ($_->{model} // '') => $_ } @{ $doc->{days}[0]{models} } };
}
my $m = day_models();
ok($m && $m->{'claude-sonnet-4-5-20250929'}, 'the priced model is in the daily report');
# 4 x $1 + 412 x $2 + 20154 x $3 + 13920 x $4 per million = $0.11697
my $cost = $m->{'claude-sonnet-4-5-20250929'}{cost_usd};
ok(defined $cost && abs($cost - 0.11697) < 1e-9, 'cost at the configured prices')
    or diag explain $m->{'claude-sonnet-4-5-20250929'};
ok($m->{'mystery-model-x'}, 'the unpriced model is in the report');
is($m->{'mystery-model-x'}{cost_usd}, undef, 'an unpriced model costs null, not 0');
is($m->{'mystery-model-x'}{cost_note}, 'no price for this model', 'with a note');

# A bad reload keeps the running prices.
(my $bad = $conf) =~ s/cache_read: 4/cache_read: -4/;
write_file("$dir/meterd.yaml", Meterd::subst($bad, $dir));
$d->hup;
ok(wait_until(sub { $d->log_text =~ /reload failed; keeping the running configuration/ }),
   'a negative price refuses the reload');
like($d->log_text, qr{meterd\.yaml:\d+:\d+: pricing: cache_read: a price cannot be negative},
     'the log names file:line:col');
$m = day_models();
ok(abs($m->{'claude-sonnet-4-5-20250929'}{cost_usd} - 0.11697) < 1e-9,
   'the running prices are kept');

# A good reload applies new prices: back to the built-in table.
(my $none = $conf) =~ s/pricing:.*\z//s;
write_file("$dir/meterd.yaml", Meterd::subst($none, $dir));
$d->hup;
ok(wait_until(sub { my $x = day_models();
                    $x && abs(($x->{'claude-sonnet-4-5-20250929'}{cost_usd} // 0) - 0.11697) > 1e-6 }),
   'after a good reload the override is gone');
$m = day_models();
# built in: 4 x 3 + 412 x 15 + 20154 x 3.75 + 13920 x 0.30 per million
ok(abs($m->{'claude-sonnet-4-5-20250929'}{cost_usd} - 0.0859455) < 1e-9,
   'the built-in price applies again') or diag explain $m;

# meterd -t warns about a glob that matches no known model and no usage.
(my $typo = $conf) =~ s/claude-sonnet-4-5\*/claude-sonet-4-5*/;
write_file("$dir/check.yaml", Meterd::subst($typo, $dir));
my $t = run_meterd(args => ['-t', '-c', "$dir/check.yaml"]);
is($t->{rc}, 0, '-t accepts an unused glob (a warning, not an error)');
like($t->{err}, qr{check\.yaml:\d+:\d+: pricing: 'claude-sonet-4-5\*' matches no known model},
     '-t warns about it with file:line:col');
$t = run_meterd(args => ['-t', '-c', "$dir/meterd.yaml"]);
unlike($t->{err} // '', qr{matches no known model}, 'no warning without pricing');
write_file("$dir/check.yaml", Meterd::subst($conf, $dir));
$t = run_meterd(args => ['-t', '-c', "$dir/check.yaml"]);
unlike($t->{err} // '', qr{matches no known model}, 'no warning for a glob of known models');

done_testing();
