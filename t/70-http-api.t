#!/usr/bin/perl
# HTTP API contract: status codes, JSON errors, compact, include_raw,
# secrets never in any response or log line.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd start_mock exec_script tmpdir write_file wait_until);

my $secret = 'sk-live-SECRET-4f9a8b7c6d5e';
my $file_secret = 'file-SECRET-0a1b2c3d4e5f';
# The mock echoes the key back in an error body and the good plugin puts it
# in its raw payload: neither may leak.
my $mock = start_mock(routes => [
    { path => '/user/balance', status => 401,
      body => qq({"error":{"message":"Authentication Fails, Your api key: $secret is invalid","type":"authentication_error"}}) },
]);
my $dir = tmpdir('http');
write_file("$dir/key", "$file_secret\n", 0600);
exec_script($dir, 'ok.sh', <<"S");
cat <<'J'
{"status":"ok","metrics":[{"id":"five_hour","kind":"quota_window","unit":"percent","utilization":42,"resets_at":"2030-01-01T00:00:00Z"}],
 "notes":["n1"],"raw":{"account_id":"acct-123","token":"tok-abc","echo":"$file_secret","plan":"pro"}}
J
S
my $d = start_meterd(dir => $dir, env => { MY_KEY => $secret }, config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
providers:
  deepseek:
    plugin: deepseek
    base_url: ${\ $mock->url }
    api_key: \${MY_KEY}
    interval: 1h
  claude:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/ok.sh"]
    env:
      TOKEN_FROM_FILE: x
  other:
    plugin: deepseek
    base_url: ${\ $mock->url }
    api_key_file: \@DIR\@/key
    interval: 1h
Y
ok($d->wait_runs('deepseek', 1) && $d->wait_runs('claude', 1) && $d->wait_runs('other', 1), 'collected');

my ($st, $doc, $body, $hdr);
($st, $doc, $body, $hdr) = $d->get('/api/automation/usage');
is($st, 200, 'usage 200');
like($hdr->{'content-type'}, qr{^application/json}, 'JSON content type');
my %rows = map { $_->{provider} => $_ } @{ $doc->{providers} };
is($rows{deepseek}{members}[0]{error}{class}, 'auth', '401 is auth');
is($rows{deepseek}{status}, 'unavailable', 'auth failure: unavailable');
is($rows{deepseek}{usage_remaining_reason}, 'collection_failed', 'reason collection_failed');

# compact
($st, $doc) = $d->get('/api/automation/usage?compact=true');
my %keys = map { %$_ } @{ $doc->{providers} };
is_deeply([sort keys %keys],
          [sort qw(provider status actual_current_usage actual_current_usage_unit usage_remaining
                   usage_remaining_unit usage_remaining_reason governing_metric served_from age_seconds)],
          'compact rows carry exactly the headline fields');
for my $v (qw(yes on 1 TRUE)) {
    ($st) = $d->get("/api/automation/usage?compact=$v");
    is($st, 200, "boolean '$v' accepted");
}

# include_raw: redacted
($st, $doc, $body) = $d->get('/api/automation/usage?include_raw=true');
is($st, 200, 'include_raw 200');
my ($claude) = grep { $_->{provider} eq 'claude' } @{ $doc->{providers} };
my $raw = $claude->{members}[0]{raw};
is($raw->{plan}, 'pro', 'raw payload present');
is($raw->{token}, '[REDACTED]', 'token redacted');
is($raw->{account_id}, '[REDACTED]', 'account id redacted');
unlike($body, qr/\Q$file_secret\E/, 'a configured secret echoed in raw is masked');

# Errors
($st, $doc) = $d->get('/api/automation/usage?compact=maybe');
is($st, 400, 'bad boolean: 400');
like($doc->{error}{message}, qr/compact/, 'JSON error names the parameter');
($st, $doc) = $d->get('/api/automation/usage?bogus=1');
is($st, 400, 'unknown parameter: 400');
($st, $doc) = $d->get('/nope');
is($st, 404, 'unknown path: 404');
is($doc->{error}{status}, 404, 'JSON 404 body');
($st, $doc) = $d->get('/api/providers/nope');
is($st, 404, 'unknown provider: 404');
($st, $doc) = $d->get('/api/automation/usage', method => 'POST');
is($st, 405, 'POST: 405');
is($doc->{error}{status}, 405, 'JSON 405 body');
($st, $doc) = $d->get('/api/automation/usage', method => 'DELETE');
is($st, 405, 'DELETE: 405');

# /api/providers: one row per instance
($st, $doc) = $d->get('/api/providers');
is($st, 200, 'providers 200');
is_deeply([sort map { $_->{name} } @{ $doc->{providers} }], [qw(claude deepseek other)], 'one row per instance');
($st, $doc) = $d->get('/api/providers/claude');
is($doc->{name}, 'claude', 'single provider');
is($doc->{metrics}[0]{utilization}, 42, 'with its metrics');

# Secrets never anywhere: every endpoint, every variant, and the log
my $all = '';
for my $p ('/api/automation/usage', '/api/automation/usage?include_raw=1', '/api/providers',
           '/api/providers?include_raw=1', '/api/providers/deepseek?include_raw=1',
           '/api/providers/other?include_raw=1', '/healthz') {
    my (undef, undef, $b) = $d->get($p);
    $all .= $b;
}
unlike($all, qr/\Q$secret\E/, 'env secret never in any response');
unlike($all, qr/\Q$file_secret\E/, 'file secret never in any response');
like($all, qr/\[REDACTED\]/, 'provider echo of the key was masked, not dropped');
is($d->stop, 0, 'clean stop');
my $log = $d->log_text;
unlike($log, qr/\Q$secret\E/, 'env secret never in the log');
unlike($log, qr/\Q$file_secret\E/, 'file secret never in the log');
my $r = Meterd::run_meterd(args => ['-t', '-v', '-c', $d->dir . '/meterd.yaml'], env => { MY_KEY => $secret });
unlike($r->{out} . $r->{err}, qr/\Q$secret\E|\Q$file_secret\E/, 'secrets never in -t -v output');
like($r->{out}, qr/\[REDACTED\]/, '-t -v shows [REDACTED]');
done_testing;
