#!/usr/bin/perl
# History in STATE_DIR/meterd.db: meter samples written on change and at
# most once per sample_every otherwise, unknown stored as NULL (read with
# the sqlite3 CLI), GET /api/history and its errors, /healthz reporting
# the database size, and accepted data surviving kill -9.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(sleep);
use Meterd qw(start_meterd exec_script tmpdir json wait_until write_file);

plan skip_all => 'needs the sqlite3 CLI (tools/setup installs it)'
    unless system('sqlite3 -version >/dev/null 2>&1') == 0;

my $dir = tmpdir('history');
write_file("$dir/used", "10\n");
exec_script($dir, 'meter.sh', <<'SH');
read used < "$(dirname "$0")/used"
echo '{"status":"ok","metrics":[{"id":"five_hour","kind":"quota_window","unit":"tokens","used":'"$used"',"limit":100}]}'
SH
my $conf = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
sample_every: 3s
providers:
  meter:
    plugin: exec
    interval: 250ms
    timeout: 200ms
    command: ["@DIR@/meter.sh"]
Y
my $d = start_meterd(dir => $dir, config => $conf);
my $db = $d->state_dir . '/meterd.db';
sub sql {
    my ($q) = @_;
    my $out = `sqlite3 -cmd '.timeout 5000' '$db' "$q"`;
    chomp $out;
    return $out;
}
sub samples {
    my ($st, $doc) = $d->get('/api/history?provider=meter&since=0');
    return $st == 200 ? $doc->{meters}[0]{samples} // [] : undef;
}

my $m = $d->wait_runs('meter', 8, 30);
ok($m, 'eight collections of an unchanged meter');
my $n = @{ samples() };
ok($n >= 1 && $n <= 3, "unchanged: sampled at most once per sample_every ($n samples for $m->{runs} runs)");
ok(wait_until(sub { @{ samples() } > $n }, 10), 'sampled again once sample_every passed');
$n = @{ samples() };
write_file("$dir/used", "42\n");
ok(wait_until(sub { my $s = samples(); @$s > $n && $s->[-1]{used} == 42 }, 5),
   'a changed value is sampled at the next collection');
my $s = samples();
is($s->[-1]{limit}, 100, 'limit kept');
ok(!defined $s->[-1]{remaining} || $s->[-1]{remaining} == 58,
   'remaining derived or null, never 0');

is(sql("SELECT count(*) FROM sample WHERE resets_at IS NULL"),
   sql("SELECT count(*) FROM sample"), 'the unknown reset time is stored as NULL (sqlite3 CLI)');
is(sql("SELECT count(*) FROM sample WHERE resets_at = 0"), '0', 'never as 0');
ok(sql("SELECT count(*) FROM sample WHERE used = 42 AND lim = 100") >= 1,
   'known values stored as numbers');
is(sql("PRAGMA journal_mode"), 'wal', 'the database is in WAL mode');
is(sql("PRAGMA user_version"), '6', 'schema version 6 (ingest ids, 1-hour cache writes, alert states, cost parts, zone rollups)');
is(sql("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('usage_zone', 'usage_zday', 'usage_zdirty', 'usage_zprice')"), '4',
   'the per-zone day rollup tables exist');
is(sql("SELECT count(*) FROM pragma_table_info('usage_cell') WHERE name GLOB 'c[0-9]*'"), '11',
   'usage_cell has the 11 cost-part columns');

# /api/history parameters
my $since = int(time / 3600) * 3600;
my ($st, $doc) = $d->get("/api/history?provider=meter&meter=five_hour&since=$since&step=1h");
is($st, 200, 'step query answers 200');
is(scalar @{ $doc->{meters} }, 1, 'one meter');
is(scalar @{ $doc->{meters}[0]{samples} }, 1, 'step 1h: one sample per hour bucket');
is($doc->{meters}[0]{samples}[0]{used}, 42, 'the bucket keeps its last value');
ok(exists $doc->{meters}[0]{samples}[0]{resets_at} && !defined $doc->{meters}[0]{samples}[0]{resets_at},
   'unknown reset time is null');
($st, $doc) = $d->get('/api/history?provider=meter&since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z');
is($st, 200, 'an empty range answers 200');
is_deeply($doc->{meters}, [], '... with no meters');
for my $q ('', 'meter=five_hour', 'provider=meter&since=yesterday', 'provider=meter&until=x',
           'provider=meter&step=0s', 'provider=meter&step=fast', 'provider=meter&foo=1',
           'provider=meter&provider=meter', 'provider=meter&since=100&until=50',
           'provider=meter&since=0&step=1s', 'provider=') {
    ($st, $doc) = $d->get("/api/history?$q");
    is($st, 400, "400 for '$q'");
    ok($doc && $doc->{error}{message}, "JSON error for '$q'");
}
# The query checks shared by every endpoint name what is wrong.
my %says = ('provider=meter&foo=1' => qr/unknown query parameter 'foo' \(known: provider, meter, since, until, step\)/,
            'provider=meter&provider=meter' => qr/query parameter 'provider' given twice/,
            'provider=' => qr/query parameter 'provider' must not be empty/);
for my $q (sort keys %says) {
    ($st, $doc) = $d->get("/api/history?$q");
    like($doc && $doc->{error}{message}, $says{$q}, "the message for '$q' says why");
}
($st, $doc) = $d->get('/api/usage/daily?day=1');
like($doc && $doc->{error}{message}, qr/unknown query parameter 'day' \(known: provider, since, until, tz\)/,
     '/api/usage/daily names its own parameters');
($st, $doc) = $d->get('/api/history?provider=nope');
is($st, 404, 'unknown provider 404');
ok($doc && $doc->{error}{message}, 'JSON error for an unknown provider');

# /healthz
($st, $doc) = $d->get('/healthz');
is($st, 200, 'healthz');
my $size = sql("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size");
ok($doc->{history}{db_bytes} > 0, "healthz reports the database size ($doc->{history}{db_bytes} bytes)");
is($doc->{history}{db_bytes}, $size, 'page_count * page_size, as sqlite3 says');
ok(exists $doc->{history}{last_error} && !defined $doc->{history}{last_error}, 'no persistence error');

# kill -9 right after an acknowledged ingest: it is in the database.
my $http = HTTP::Tiny->new(timeout => 10);
my $r = $http->post($d->base . '/api/telemetry', { headers => { 'Content-Type' => 'application/json' },
    content => json->encode({ provider => 'meter', route => 'chat', dialect => 'openai', model => 'm-1', at => '2026-03-10T13:58:05Z',
                              usage => { prompt_tokens => 100, completion_tokens => 7 } }) });
is($r->{status}, 200, 'ingest acknowledged') or diag $r->{content};
my $before = @{ samples() };
$d->kill9;
is(sql("SELECT count(*) FROM usage_cell WHERE provider = 'meter' AND model = 'm-1'"), '1',
   'the acknowledged event is committed (read right after kill -9)');
$d->start;
($st, $doc) = $d->get('/api/usage/daily?provider=meter&since=2026-03-10&until=2026-03-10');
is($st, 200, 'daily after restart');
is($doc->{days}[0]{tokens_output}, 7, 'accepted usage present after kill -9 and restart');
ok(@{ samples() } >= $before, 'samples present after kill -9 and restart');
is($d->stop, 0, 'clean stop');
done_testing;
