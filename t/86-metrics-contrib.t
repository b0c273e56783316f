#!/usr/bin/perl
# The shipped Prometheus alert rules pass `promtool check rules` and their
# unit tests (`promtool test rules`); the Grafana dashboard is JSON with
# panels whose queries use only series that doc/metrics.md documents.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(json root read_file);

my $promtool = $ENV{PROMTOOL} // '/usr/bin/promtool';
plan skip_all => "no $promtool (tools/setup installs prometheus)" unless -x $promtool;
my $root = root();
my $doc = read_file("$root/doc/metrics.md") // '';
my %documented = map { $_ => 1 } $doc =~ /\b(meterd_[a-z_]+)\b/g;
is(scalar keys %documented, 29, 'doc/metrics.md names the series');

my $out = `cd '$root/contrib/prometheus' && '$promtool' check rules alerts.yml 2>&1`;
is($? >> 8, 0, 'promtool check rules alerts.yml') or diag $out;
like($out, qr/SUCCESS: 7 rules found/, 'seven rules');
$out = `cd '$root/contrib/prometheus' && '$promtool' test rules alerts_test.yml 2>&1`;
is($? >> 8, 0, 'promtool test rules alerts_test.yml') or diag $out;
my $rules = read_file("$root/contrib/prometheus/alerts.yml");
for my $a (qw(MeterdQuotaLow MeterdQuotaExhausted MeterdProviderDown MeterdDataStale
               MeterdQuotaTopup MeterdQuotaUseOrLose)) {
    like($rules, qr/alert: \Q$a\E\n/, "$a is shipped");
}
like($rules, qr/meterd_meter_alert\{alert="topup"\} == 1/, 'forecast alerts come from meterd\'s own alert classes');
my @unknown = grep { !$documented{$_} } $rules =~ /\b(meterd_[a-z_]+)\b/g;
is_deeply(\@unknown, [], 'the rules use documented series only');

my $text = read_file("$root/contrib/grafana/meterd.json");
my $dash = eval { json()->decode($text) };
ok($dash, 'contrib/grafana/meterd.json is JSON') or diag $@;
my @panels = @{ $dash->{panels} || [] };
ok(@panels >= 5, 'it has panels');
my @exprs = map { $_->{expr} } map { @{ $_->{targets} || [] } } @panels;
ok(@exprs == grep({ defined && /meterd_/ } @exprs), 'every panel query reads meterd series');
for my $want (qw(meterd_family_usage_remaining meterd_family_utilization_ratio meterd_up
                 meterd_collection_duration_seconds_bucket meterd_usage_tokens_total
                 meterd_meter_alert meterd_meter_runway_seconds
                 meterd_usage_model_cost_usd_total)) {
    ok(grep({ /\b\Q$want\E\b/ } @exprs), "a panel shows $want");
}
# Cost panels show the daily report's cost (tables prices applied), not
# the figure sources report themselves (meterd_usage_cost_usd_total).
ok(!grep({ /\bmeterd_usage_cost_usd_total\b/ } @exprs),
   'no cost panel reads the source-reported cost as if it were the priced one');
@unknown = grep { my $n = $_; $n =~ s/_(bucket|sum|count)$//; !$documented{$n} }
           map { /\b(meterd_[a-z_]+)\b/g } @exprs;
is_deeply(\@unknown, [], 'the dashboard uses documented series only');
done_testing;
