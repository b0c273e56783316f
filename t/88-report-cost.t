#!/usr/bin/perl
# `meterd report cost` on usage with hand-computed costs (prices set by
# `pricing:`, per million tokens): --by day, model and provider; --since
# and --until inclusive local dates; the --json document; an unpriced
# model is null with a note (never 0) and makes every sum it is in
# unknown; bad arguments exit 2 with the usage.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX qw(strftime);
use Meterd qw(start_meterd run_meterd exec_script tmpdir json);

my $dir = tmpdir('report-cost');
exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":[]}'\n));
my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  gw1: {plugin: exec, interval: 1h, command: ["@DIR@/ok.sh"]}
  gw2: {plugin: exec, interval: 1h, command: ["@DIR@/ok.sh"]}
pricing:
  "test-a*": {input: 1, output: 2, cache_write: 0, cache_read: 0}
  "test-b*": {input: 10, output: 20, cache_write: 0, cache_read: 0}
Y
my $d = start_meterd(dir => $dir, config => $conf);
my $today = int(time / 86400);
sub date { strftime('%Y-%m-%d', gmtime(($today - $_[0]) * 86400)) }
my ($d1, $d2, $d3) = (date(3), date(2), date(1));
my $http = HTTP::Tiny->new(timeout => 10);
my $n = 0;
sub post {
    my ($provider, $model, $days_ago, $in, $out) = @_;
    my $at = strftime('%Y-%m-%dT12:00:00Z', gmtime(($today - $days_ago) * 86400));
    my $r = $http->post($d->base . '/api/telemetry', { content => json->encode({
        provider => $provider, route => 'messages', model => $model, id => 'e-' . ++$n,
        at => $at, dialect => 'anthropic',
        usage => { input_tokens => $in, output_tokens => $out,
                   cache_creation_input_tokens => 0, cache_read_input_tokens => 0 } }),
        headers => { 'Content-Type' => 'application/json' } });
    return $r->{status};
}
# cost = input x price_in + output x price_out, per million tokens
is(post('gw1', 'test-a-1', 3, 1_000_000, 500_000), 200, 'D1 gw1 test-a: 1 + 1 = 2.00');
is(post('gw1', 'test-b-1', 2, 100_000, 50_000), 200, 'D2 gw1 test-b: 1 + 1 = 2.00');
is(post('gw2', 'test-a-1', 2, 3_000_000, 1_000_000), 200, 'D2 gw2 test-a: 3 + 2 = 5.00');
is(post('gw2', 'mystery-z', 1, 1000, 1000), 200, 'D3 gw2 mystery-z: no price');
is($d->stop, 0, 'daemon stopped');

my $yaml = "$dir/meterd.yaml";
sub report {
    my (@args) = @_;
    my $r = run_meterd(args => ['report', 'cost', '-c', $yaml, @args]);
    return $r;
}
sub cost_json {
    my $r = report(@_, '--json');
    is($r->{rc}, 0, "report cost @_ --json: exit 0") or diag $r->{err};
    return json->decode($r->{out});
}
sub near { my ($got, $want) = @_; defined $got && abs($got - $want) < 1e-9 }
sub rows_by {
    my ($doc, $key) = @_;
    return { map { ($_->{$key} // '(null)') => $_ } @{ $doc->{rows} } };
}

# ---- --by day (the default) ----
my $doc = cost_json();
is($doc->{by}, 'day', 'by day by default');
is_deeply([ map { $_->{date} } @{ $doc->{rows} } ], [$d1, $d2, $d3], 'one row per day, sorted');
my $r = rows_by($doc, 'date');
ok(near($r->{$d1}{cost_usd}, 2), "$d1: 2.00");
ok(near($r->{$d2}{cost_usd}, 7), "$d2: 2.00 + 5.00");
ok(!defined $r->{$d3}{cost_usd}, "$d3: unpriced model -> null, not 0");
like($r->{$d3}{cost_note} // '', qr/no price/, '... with a note: no price');
ok(!defined $doc->{total}{cost_usd}, 'total unknown when an addend is');
ok(defined $doc->{total}{cost_note}, 'total has a note');
is($doc->{total}{tokens_total}, 1_500_000 + 150_000 + 4_000_000 + 2000, 'total tokens');
is($doc->{total}{events}, 4, 'total events');

# ---- --json schema ----
my @keys = sort keys %$doc;
is_deeply(\@keys, [sort qw(by provider tz since until rows total)], 'document keys');
is_deeply([sort keys %{ $doc->{rows}[0] }], [sort qw(date cost_usd cost_note tokens_total events)], 'row keys');
is_deeply([sort keys %{ $doc->{total} }], [sort qw(cost_usd cost_note tokens_total events)], 'total keys');
is($doc->{tz}, 'UTC', 'tz UTC');
ok(!defined $doc->{since} && !defined $doc->{until} && !defined $doc->{provider}, 'open range, every provider: nulls');
ok(!defined $r->{$d1}{cost_note}, 'a known cost has a null note');

# ---- --by model ----
$doc = cost_json('--by', 'model');
is($doc->{by}, 'model', 'by model');
$r = rows_by($doc, 'model');
is_deeply([sort keys %$r], [qw(mystery-z test-a-1 test-b-1)], 'one row per model');
ok(near($r->{'test-a-1'}{cost_usd}, 7), 'test-a-1: 2.00 + 5.00');
ok(near($r->{'test-b-1'}{cost_usd}, 2), 'test-b-1: 2.00');
ok(!defined $r->{'mystery-z'}{cost_usd} && $r->{'mystery-z'}{cost_note}, 'mystery-z: null with a note');
is($r->{'test-a-1'}{tokens_total}, 5_500_000, 'test-a-1 tokens');

# ---- --by provider ----
$doc = cost_json('--by', 'provider');
$r = rows_by($doc, 'provider');
is_deeply([sort keys %$r], [qw(gw1 gw2)], 'one row per provider');
ok(near($r->{gw1}{cost_usd}, 4), 'gw1: 2.00 + 2.00');
ok(!defined $r->{gw2}{cost_usd}, 'gw2: unknown (5.00 + an unpriced model), never 5');
$doc = cost_json('--by', 'provider', '--provider', 'gw1');
is($doc->{provider}, 'gw1', '--provider echoed');
ok(near($doc->{total}{cost_usd}, 4), '--provider gw1: total 4.00');

# ---- --since / --until: inclusive dates ----
$doc = cost_json('--since', $d2, '--until', $d2);
is_deeply([ map { $_->{date} } @{ $doc->{rows} } ], [$d2], 'since = until: that one day (both inclusive)');
ok(near($doc->{total}{cost_usd}, 7), '... total 7.00');
is($doc->{since}, $d2, 'since echoed');
is($doc->{until}, $d2, 'until echoed');
$doc = cost_json('--until', $d2);
is_deeply([ map { $_->{date} } @{ $doc->{rows} } ], [$d1, $d2], '--until includes its day');
ok(near($doc->{total}{cost_usd}, 9), '... total 9.00 (known: the unpriced day is outside)');
$doc = cost_json('--since', $d2);
is_deeply([ map { $_->{date} } @{ $doc->{rows} } ], [$d2, $d3], '--since includes its day');
$doc = cost_json('--since', date(0));
is_deeply($doc->{rows}, [], 'a range without usage: no rows');
ok(near($doc->{total}{cost_usd}, 0) && !defined $doc->{total}{cost_note} && $doc->{total}{events} == 0,
   'and a total of nothing used: 0 known (no usage is no cost), 0 events');

# ---- the table ----
my $t = report('--by', 'model');
is($t->{rc}, 0, 'table: exit 0');
like($t->{out}, qr/^test-a-1\s+5500000\s+7\.00\s*$/m, 'table: test-a-1 row');
like($t->{out}, qr/^mystery-z\s+2000\s+-\s+\(no price.*\)$/m, "table: unknown cost '-' with its reason");
like($t->{out}, qr/^TOTAL\s+\d+\s+-\s+\(/m, 'table: TOTAL unknown');
unlike($t->{out}, qr/^mystery-z.*\b0\.00\b/m, 'never 0.00 for the unknown');

# ---- bad arguments: usage error, exit 2 ----
for my $bad (['--by', 'week'], ['--since', '2024-13-01'], ['--until', 'yesterday'],
             ['--since', $d3, '--until', $d1], ['extra'], ['--tz', 'No/Where'], ['--bogus']) {
    my $x = report(@$bad);
    is($x->{rc}, 2, "report cost @$bad: exit 2");
    ok(length($x->{err} // ''), '... with a message on stderr');
}
my $x = run_meterd(args => ['report', 'daily', '-c', $yaml, '--by', 'model']);
is($x->{rc}, 2, '--by on report daily: exit 2');
$x = report('--provider', 'nope');
is($x->{rc}, 2, 'unknown provider: exit 2');

done_testing;
