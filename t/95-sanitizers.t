#!/usr/bin/perl
# A full daemon session under AddressSanitizer + UBSan + LeakSanitizer
# (t/meterd-asan; its helper processes are the same binary): collections
# that succeed, time out and fail, every endpoint, bad queries, a forced
# refresh with fallback, a failed and a good reload, SIGTERM.  Any sanitizer
# report, in the daemon or a helper, fails the test.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use File::Path qw(make_path);
use HTTP::Tiny;
use Meterd qw(start_meterd start_mock exec_script tmpdir write_file wait_until root json);

my $bin = root() . '/t/meterd-asan';
plan skip_all => 't/meterd-asan not built' unless -x $bin;
local $ENV{METERD_BIN} = $bin;
local $ENV{ASAN_OPTIONS} = 'detect_leaks=1:abort_on_error=0:exitcode=66';
local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1:exitcode=66';

my $mock = start_mock(fixtures => root() . '/t/fixtures/deepseek', routes => [
    { path => '/user/balance', status => 200, body_file => 'balance_ok.json', times => 1 },
    { path => '/user/balance', status => 401, body => '{"error":{"message":"bad key sk-asan-key-0000"}}' },
]);
my $dir = tmpdir('asan');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":50,"resets_at":"2030-01-01T00:00:00Z"}],"raw":{"token":"t","x":[1,null,"n"]}}'\n));
exec_script($dir, 'bad.sh', "echo '{not json'\n");
make_path("$dir/claude/projects/p");
copy(root() . '/t/fixtures/claude_logs/claude_code_session.jsonl', "$dir/claude/projects/p/s.jsonl") or die;
my $d = start_meterd(dir => $dir, env => { K => 'sk-asan-key-0000' }, files => {
    'aliases.yaml' => "families:\n  claude: [claude, \"claude-*\"]\n" }, config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
aliases: aliases.yaml
include: conf.d/*.yaml
endpoint_timeout: 500ms
min_refresh_interval: 100ms
providers:
  claude-exec:
    plugin: exec
    interval: 1s
    timeout: 900ms
    command: ["\@DIR\@/ok.sh"]
  claude-bad:
    plugin: exec
    interval: 1s
    timeout: 900ms
    command: ["\@DIR\@/bad.sh"]
  hung:
    plugin: \@ROOT\@/t/plugins/hang.so
    interval: 2s
    timeout: 700ms
  nan:
    plugin: \@ROOT\@/t/plugins/nan.so
    interval: 1s
    timeout: 900ms
  deepseek:
    plugin: deepseek
    base_url: ${\ $mock->url }
    api_key: \${K}
    interval: 1s
    timeout: 900ms
  claude-logs:
    plugin: claude_logs
    roots: ["\@DIR\@/claude"]
    interval: 1s
    timeout: 900ms
Y
ok($d->wait_runs('deepseek', 2, 60), 'deepseek ran twice (ok, then 401)');
ok($d->wait_runs('hung', 1, 60), 'hung timed out once');
ok($d->wait_runs('claude-exec', 2, 60) && $d->wait_runs('nan', 1, 60), 'others ran');
for my $p ('/api/automation/usage', '/api/automation/usage?compact=1',
           '/api/automation/usage?include_raw=1', '/api/providers', '/api/providers?include_raw=yes',
           '/api/providers/nan', '/api/providers/zzz', '/healthz', '/x', '/api/automation/usage?compact=2',
           '/api/automation/usage?force_refresh=true') {
    my ($st) = $d->get($p);
    ok($st =~ /^(200|400|404)$/, "GET $p answered $st");
}
my ($st) = $d->get('/api/automation/usage', method => 'POST');
is($st, 405, 'POST 405');
ok($d->wait_runs('claude-logs', 2, 60), 'log plugin ran twice (cold, then unchanged)');
my $http = HTTP::Tiny->new(timeout => 20);
for my $body ('{"provider": "deepseek", "usage": {"prompt_cache_hit_tokens": 5, "prompt_cache_miss_tokens": 7, "completion_tokens": 3}, "id": "x1", "headers": {"retry-after": "5", "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "7"}}',
              '[{"provider": "deepseek", "usage": {"prompt_cache_hit_tokens": 5}, "id": "x1"}, {"provider": "nope"}]',
              '{broken', '[]') {
    my $r = $http->post($d->base . '/api/telemetry', { content => $body, headers => { 'Content-Type' => 'application/json' } });
    ok($r->{status} =~ /^(200|400)$/, "POST /api/telemetry answered $r->{status}");
}
($st) = $d->get('/api/usage/daily?provider=claude-logs&tz=Europe/Berlin');
is($st, 200, 'daily report in a DST zone');
($st) = $d->get('/api/usage/daily?since=garbage');
is($st, 400, 'bad daily query 400');
write_file("$dir/conf.d/bad.yaml", "providers: {x: [\n");
$d->hup;
ok(wait_until(sub { $d->log_text =~ /reload failed/ }, 30), 'bad reload refused');
unlink "$dir/conf.d/bad.yaml";
write_file("$dir/conf.d/good.yaml", "providers:\n  nan:\n    enabled: false\n");
$d->hup;
ok(wait_until(sub { $d->log_text =~ /configuration reloaded/ }, 30), 'good reload applied');
($st) = $d->get('/api/automation/usage?force_refresh=true');
is($st, 200, 'forced refresh after reload');
is($d->stop(30), 0, 'exit status 0 (a sanitizer report would make it 66)');
# isolation: inline is accepted only by --once: a thread of the process
# runs the plugin.
my $once_dir = tmpdir('asan-once');
mkdir "$once_dir/state", 0700;
write_file("$once_dir/meterd.yaml", <<"Y");
state_dir: $once_dir/state
plugin_dir: ${\ root() }/plugins
providers:
  inline:
    plugin: ${\ root() }/t/plugins/good.so
    isolation: inline
    timeout: 900ms
    metrics: ["m:credits:usd:-:10:4"]
Y
my $once = Meterd::run_meterd(args => ['--once', '-c', "$once_dir/meterd.yaml"]);
is($once->{rc}, 0, 'an inline collection under --once: exit status 0');
unlike($once->{err} // '', qr/AddressSanitizer|LeakSanitizer|runtime error:/, '... and no sanitizer report');
my $log = $d->log_text;
unlike($log, qr/AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/, 'no sanitizer report in the daemon or any helper')
    or diag $log;
unlike($log, qr/sk-asan-key-0000/, 'secret never logged');
done_testing;
