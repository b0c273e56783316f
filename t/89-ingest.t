#!/usr/bin/perl
# POST /api/telemetry: a gateway reports per-turn usage and response
# headers; meterd normalises, stores (daily history), folds rate-limit
# headers into the provider's meters, and is idempotent on the caller's id.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Meterd qw(start_meterd start_gateway json);

my $d = start_gateway(name => 'ingest', providers => ['openai-gw', 'claude-gw']);
ok($d->wait_runs('openai-gw', 1) && $d->wait_runs('claude-gw', 1), 'collected');
my $http = HTTP::Tiny->new(timeout => 10);
sub post { $d->post_telemetry(@_) }

my $openai_usage = { prompt_tokens => 2000, completion_tokens => 300,
    prompt_tokens_details => { cached_tokens => 1920 }, completion_tokens_details => { reasoning_tokens => 192 } };
my ($st, $doc) = post({ provider => 'openai-gw', route => 'chat', model => 'gpt-5.2', id => 'turn-1',
    at => '2026-03-10T13:58:05Z', usage => $openai_usage,
    headers => { 'x-ratelimit-limit-requests' => '60', 'x-ratelimit-remaining-requests' => '12',
                 'x-ratelimit-reset-requests' => '6m0s' } });
is($st, 200, 'one item accepted') or diag explain $doc;
my $rec = $doc->{records}[0];
is($rec->{tokens_input_uncached}, 80, 'input net of cached');
is($rec->{tokens_cache_read}, 1920, 'cached input split out');
is($rec->{tokens_output}, 300, 'output incl. reasoning');
is($rec->{tokens_reasoning}, 192, 'reasoning kept as a subset');
is($rec->{tokens_total}, 2300, 'total');
ok(!defined $rec->{tokens_cache_write}, 'OpenAI reports no cache writes: null');
ok(grep({ $_ eq 'tokens_cache_write' } @{ $rec->{not_applicable} }), '... listed as not applicable');
is($rec->{source}, 'ingest', 'source ingest');
is($rec->{stored}, JSON::PP::true, 'stored');
is($rec->{rate_limit_meters}, 1, 'one rate-limit meter folded in');
ok(!$rec->{duplicate}, 'first time');

my $m = $d->member('openai-gw');
my ($rl) = grep { $_->{id} eq 'ratelimit_requests' } @{ $m->{metrics} };
ok($rl, 'rate-limit meter attached to the provider');
is($rl->{remaining}, 12, 'remaining from the header');
is($rl->{source}, 'headers', 'marked as from headers');
ok(grep({ $_->{id} eq 'five_hour' } @{ $m->{metrics} }), 'the plugin metrics are still there');

# idempotent on the caller's id
($st, $doc) = post({ provider => 'openai-gw', id => 'turn-1', usage => $openai_usage, at => '2026-03-10T13:58:05Z' });
is($st, 200, 'replay accepted');
is($doc->{records}[0]{duplicate}, JSON::PP::true, 'marked duplicate');
# an array: Anthropic usage (dialect from the provider's name) + headers only
($st, $doc) = post([
    { provider => 'claude-gw', model => 'claude-sonnet-4-5', at => '2026-03-10T13:00:00Z',
      usage => { input_tokens => 4, cache_creation_input_tokens => 20154, cache_read_input_tokens => 13920,
                 output_tokens => 412 } },
    { provider => 'claude-gw', headers => { 'anthropic-ratelimit-unified-5h-utilization' => '0.5',
                                           'anthropic-ratelimit-unified-5h-reset' => '1773162000' } },
]);
is($st, 200, 'array accepted');
is($doc->{records}[0]{tokens_cache_write}, 20154, 'anthropic dialect picked from the provider');
is($doc->{records}[0]{tokens_total}, 34490, 'anthropic total');
ok(!defined $doc->{records}[0]{tokens_reasoning}, 'reasoning unknown for Anthropic: null');

my ($dst, $daily) = $d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10');
is($dst, 200, 'daily 200');
is($daily->{days}[0]{tokens_total}, 2300, 'the replay was not counted twice');
is($daily->{days}[0]{models}[0]{model}, 'gpt-5.2', 'per model');
($dst, $daily) = $d->get('/api/usage/daily?provider=claude-gw&since=2026-03-10&until=2026-03-10');
is($daily->{days}[0]{tokens_cache_read}, 13920, 'claude ingest in the daily history');

# validation: all or nothing, clear 400s
my $before = $d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10')->{days}[0]{tokens_total};
($st, $doc) = post([{ provider => 'openai-gw', usage => $openai_usage, at => '2026-03-10T13:00:00Z' },
                    { provider => 'nope', usage => {} }]);
is($st, 400, 'unknown provider: 400');
like($doc->{error}{message}, qr/item 1: unknown provider 'nope'/, 'names the item and the problem');
is($d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10')->{days}[0]{tokens_total},
   $before, 'nothing applied from a rejected batch');
for my $case (['{not json', qr/invalid JSON/], [[], qr/1-1000 items/],
              [{ provider => 'openai-gw', usage => 5 }, qr/usage must be an object/],
              [{ provider => 'openai-gw', usage => {}, bogus => 1 }, qr/unknown key 'bogus'/],
              [{ provider => 'openai-gw' }, qr/needs usage, headers or both/],
              [{ provider => 'openai-gw', usage => {}, at => 'yesterday' }, qr/not RFC 3339/],
              [{ provider => 'openai-gw', usage => {}, dialect => 'klingon' }, qr/dialect/]) {
    ($st, $doc) = post($case->[0]);
    is($st, 400, 'bad input: 400');
    like($doc->{error}{message} // '', $case->[1], "message: $case->[1]");
}
($st, $doc) = post([ map { { provider => 'openai-gw', usage => {} } } 1 .. 1001 ]);
is($st, 400, 'more than 1000 items: 400');
($st, $doc) = post('x' x (1024 * 1024 + 10));
is($st, 413, 'over 1 MiB: 413');
# idempotency survives a restart: the replayed id is not counted again
$d->stop;
$d->start;
($st, $doc) = post({ provider => 'openai-gw', id => 'turn-1', usage => $openai_usage, at => '2026-03-10T13:58:05Z' });
is($st, 200, 'replay after a restart accepted');
is($doc->{records}[0]{duplicate}, JSON::PP::true, 'and still recognised as a duplicate');
is($d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10')->{days}[0]{tokens_total},
   $before, 'not counted twice across the restart');
($st, $doc) = post({ provider => 'openai-gw', id => "two\nlines", usage => {} });
is($st, 400, 'an id with a newline is refused');
my $r = $http->get($d->base . '/api/telemetry');
is($r->{status}, 405, 'GET /api/telemetry: 405');
is($r->{headers}{allow}, 'POST', 'Allow: POST');
is($d->stop, 0, 'clean stop');

# with ingest_token: bearer token required, never echoed
my $token = 'tok-ingest-0123456789abcdef';
my $d2 = start_meterd(env => { INGEST => $token }, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
ingest_token: ${INGEST}
providers:
  p:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1h
Y
$d = $d2;
($st) = post({ provider => 'p', headers => { 'x-ratelimit-limit' => '5' } });
is($st, 401, 'no token: 401');
($st) = post({ provider => 'p', headers => { 'x-ratelimit-limit' => '5' } }, Authorization => 'Bearer wrong-token-0000000000');
is($st, 401, 'wrong token: 401');
($st, $doc) = post({ provider => 'p', headers => { 'x-ratelimit-limit' => '5' } }, Authorization => "Bearer $token");
is($st, 200, 'right token: 200');
my (undef, undef, $all) = $d->get('/api/providers/p?include_raw=1');
unlike($all . json->encode($doc), qr/\Q$token\E/, 'token never in responses');
is($d->stop, 0, 'clean stop');
unlike($d->log_text, qr/\Q$token\E/, 'token never in the log');
done_testing;
