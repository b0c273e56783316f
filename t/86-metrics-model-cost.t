#!/usr/bin/perl
# meterd_usage_model_cost_usd_total through HTTP: usage ingested for a
# priced model (o3, in the built-in table) and an unpriced one gives the
# priced model a series with its cost at the table's price and the
# unpriced one no series at all (unknown, not $0); the cost matches the
# daily report's; promtool check metrics still passes; a restart keeps the
# total.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX qw(strftime);
use Meterd qw(json tmpdir write_file wait_until start_gateway);

my $promtool = $ENV{PROMTOOL} // '/usr/bin/promtool';

my $d = start_gateway(name => 'model-cost', providers => ['gw'], meters => 0);
ok($d->wait_runs('gw', 1), 'collected');

my $http = HTTP::Tiny->new(timeout => 10);
sub scrape { $http->get($d->base . '/metrics')->{content} // '' }
sub samples {
    my %s;
    for (split /\n/, $_[0]) {
        next if /^#/ || !/\S/;
        /^(\S+?(?:\{.*\})?) (\S+)$/ or next;
        $s{$1} = $2;
    }
    return \%s;
}

my $at = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - 60));
my $usage = { prompt_tokens => 1000, completion_tokens => 500,
              prompt_tokens_details => { cached_tokens => 0 } };
for my $m (['o3', 't-priced'], ['mystery-model-x', 't-unpriced']) {
    my ($st, $doc) = $d->post_telemetry({ provider => 'gw', dialect => 'openai', model => $m->[0],
                                          id => $m->[1], at => $at, usage => $usage });
    is($st, 200, "usage of $m->[0] posted") or diag explain $doc;
}

# o3 at LiteLLM's $2 in / $8 out per million: 1000 x 2e-6 + 500 x 8e-6.
my $want = 0.006;
my $key = 'meterd_usage_model_cost_usd_total{provider="gw",model="o3"}';
my $got = wait_until(sub { samples(scrape())->{$key} }, 15);
ok(defined $got && abs($got - $want) < 1e-12, "the priced model's series is its cost ($want)")
    or diag "got " . ($got // 'nothing');
my $text = scrape();
ok(!grep({ /^meterd_usage_model_cost_usd_total\{provider="gw",model="mystery-model-x"\}/ }
         keys %{ samples($text) }),
   'the unpriced model has no series (unknown is not $0)');
like($text, qr/^# TYPE meterd_usage_model_cost_usd_total counter$/m, 'declared a counter');

my ($st, $daily) = $d->get('/api/usage/daily?provider=gw');
if ($st == 200 && ref $daily eq 'HASH') {
    my @rows = map { @{ $_->{models} || [] } } @{ $daily->{days} || [] };
    my ($o3) = grep { ($_->{model} // '') eq 'o3' } @rows;
    ok($o3 && defined $o3->{cost_usd} && abs($o3->{cost_usd} - $got) < 1e-12,
       'the same cost as the daily report') or diag explain $daily;
} else {
    fail('daily report read') or diag "status $st";
}

SKIP: {
    skip "no $promtool (tools/setup installs prometheus)", 2 unless -x $promtool;
    my $pd = tmpdir('promtool');
    write_file("$pd/m.txt", $text);
    my $out = `$promtool check metrics < '$pd/m.txt' 2>&1`;
    is($? >> 8, 0, 'promtool check metrics passes') or diag $out;
    is($out, '', 'with nothing to say') or diag $out;
}

is($d->stop, 0, 'clean stop');
$d->start;
$d->wait_runs('gw', 1, 30);
$got = wait_until(sub { samples(scrape())->{$key} }, 15);
ok(defined $got && abs($got - $want) < 1e-12, 'after a restart the total is the same');
is($d->stop, 0, 'clean stop');
done_testing;
