#!/usr/bin/perl
# Provider plugins end to end: daemon + real plugins + mock server.  The
# claude and openai families coalesce their subscription, admin and
# header-derived members into one row each, with the right governing meter,
# using the shipped alias map.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd start_mock tmpdir wait_until root epoch);

my $fx = root() . '/t/fixtures';
my $mock = start_mock(fixtures => $fx, routes => [
    { path => '/api/oauth/usage', body_file => 'anthropic_oauth/usage.json' },
    { path => '/v1/organizations/usage_report/messages', body_file => 'anthropic_admin/usage_report.json' },
    { path => '/v1/organizations/cost_report', body_file => 'anthropic_admin/cost_report.json' },
    { path => '/backend-api/wham/usage', body_file => 'codex_oauth/wham_usage.json' },
    { path => '/v1/organization/usage/completions', body_file => 'openai_admin/usage_completions.json',
      headers => { 'x-ratelimit-limit-requests' => '60', 'x-ratelimit-remaining-requests' => '55',
                   'x-ratelimit-reset-requests' => '20s' } },
    { path => '/v1/organization/costs', body_file => 'openai_admin/costs.json' },
    # read by default too: empty days, so the completions sums stand
    { path => '/v1/organization/usage/embeddings', body_file => 'openai_admin/usage_zero.json' },
    { path => '/v1/organization/usage/moderations', body_file => 'openai_admin/usage_zero.json' },
]);
my $m = $mock->url;
my $d = start_meterd(env => { OA_KEY => 'sk-admin-openai-e2e-0001', AA_KEY => 'sk-ant-admin01-e2e-0002' },
                     config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
aliases: \@ROOT\@/conf/aliases.yaml
providers:
  claude-oauth:
    plugin: anthropic_oauth
    base_url: $m
    credentials_file: $fx/anthropic_oauth/creds_max.json
  anthropic-admin:
    plugin: anthropic_admin
    base_url: $m
    api_key: \${AA_KEY}
  claude-code:                       # header-derived: what a gateway saw
    plugin: \@ROOT\@/t/plugins/good.so
    headers:
      anthropic-ratelimit-unified-5h-utilization: "0.95"
      anthropic-ratelimit-unified-5h-reset: "1773162000"
      anthropic-ratelimit-unified-7d-utilization: "0.40"
  codex:
    plugin: codex_oauth
    base_url: $m/backend-api
    credentials_file: $fx/codex_oauth/auth_valid.json
  openai-admin:
    plugin: openai_admin
    base_url: $m
    api_key: \${OA_KEY}
    reference_time: "1773151200"
Y
for my $p (qw(claude-oauth anthropic-admin claude-code codex openai-admin)) {
    my $mem = $d->wait_runs($p, 1, 30);
    is($mem && $mem->{status}, 'ok', "$p collected") or diag explain $mem;
}
my ($st, $u, $body) = $d->get('/api/automation/usage?include_raw=true');
is($st, 200, 'usage 200');
is($u->{tracked_providers}, 2, 'five members, two families');
my %rows = map { $_->{provider} => $_ } @{ $u->{providers} };
is_deeply([sort keys %rows], [qw(claude openai)], 'claude and openai rows');

# claude: subscription (oauth), admin (tokens, cost) and header-derived member
my $c = $rows{claude};
is_deeply([sort map { $_->{name} } @{ $c->{members} }], [qw(anthropic-admin claude-code claude-oauth)],
          'claude row keeps all three members');
is($c->{status}, 'ok', 'claude ok');
is($c->{governing_metric}{provider}, 'claude-code', 'the header-derived 95 % window governs');
is($c->{governing_metric}{id}, 'five_hour', 'five_hour');
is($c->{usage_remaining}, 5, 'usage_remaining 5');
is($c->{usage_remaining_unit}, 'percent', 'percent');
is(epoch($c->{governing_metric}{resets_at}), 1773162000, 'reset from the header (epoch s)');
my %cm;
push @{ $cm{"$_->{provider}/$_->{id}"} }, $_ for @{ $c->{metrics} };
is($cm{'claude-oauth/five_hour'}[0]{utilization}, 37, 'oauth 5 h window 37 %');
is($cm{'claude-oauth/seven_day'}[0]{utilization}, 62, 'oauth 7 d window 62 %');
is($cm{'claude-oauth/seven_day_opus'}[0]{utilization}, 81, 'scoped Opus weekly limit 81 %');
my ($spend) = grep { $_->{provider} eq 'claude-oauth' && $_->{kind} eq 'budget' } @{ $c->{metrics} };
ok($spend && abs($spend->{used} - 12.34) < 1e-9 && abs($spend->{limit} - 50) < 1e-9,
   'extra usage $12.34 of $50.00 (minor units -> major)');
my ($tok) = grep { $_->{provider} eq 'anthropic-admin' && $_->{id} eq 'tokens_total_month' } @{ $c->{metrics} };
ok($tok, 'admin token bucket present');
ok($tok && !defined $tok->{used}, 'fixture buckets are from March 2026: this month is unknown, not 0');
is($cm{'claude-code/seven_day'}[0]{source}, 'headers', 'header-derived meters are marked');

# openai: subscription (codex) + admin (tokens, cost, rate-limit headers)
my $o = $rows{openai};
is_deeply([sort map { $_->{name} } @{ $o->{members} }], [qw(codex openai-admin)], 'openai row keeps both');
is($o->{governing_metric}{provider}, 'codex', 'codex governs');
is($o->{governing_metric}{id}, 'seven_day', 'the weekly 41 % window');
is($o->{usage_remaining}, 59, 'usage_remaining 59 percent');
my %om = map { ("$_->{provider}/$_->{id}" => $_) } @{ $o->{metrics} };
is($om{'codex/five_hour'}{utilization}, 23, 'codex primary 23 %');
is($om{'codex/credits'}{remaining}, 14.5, 'credits 14.5 from a string');
is($om{'openai-admin/tokens_total_month'}{used}, 212751, 'openai month total (disjoint buckets)');
is($om{'openai-admin/tokens_cache_read_month'}{used}, 120000, 'cached input split out');
is($om{'openai-admin/ratelimit_requests'}{remaining}, 55, 'rate-limit headers attached to the admin member');
is($om{'openai-admin/ratelimit_requests'}{source}, 'headers', 'source headers');

# secrets and tokens never leak
for my $s ('sk-admin-openai-e2e-0001', 'sk-ant-admin01-e2e-0002', 'TESTtokenAAAABBBB', 'SIGNATUREcodexTESTvalid') {
    unlike($body, qr/\Q$s\E/, "no '$s' in include_raw output");
}
unlike($d->log_text, qr/sk-admin-openai-e2e-0001|TESTtokenAAAABBBB/, 'nor in the log');
is($d->stop, 0, 'clean stop');
done_testing;
