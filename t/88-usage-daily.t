#!/usr/bin/perl
# Per-turn usage end to end: a plugin hands over usage cells (put_usage),
# the daemon stores them (usage.json), GET /api/usage/daily reports them
# per local day with filters and time zones, bad parameters are 400s, a
# restart keeps the data, incremental updates replace from since on, and
# `meterd report daily` prints the same days (JSON and table), in Berlin
# from the days it keeps per zone too.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(floor strftime);
use Meterd qw(start_meterd run_meterd tmpdir read_file wait_until json);

my $root = Meterd::root();
# Cells of the last few days (inside the default 400-day retention).
my $day0 = floor(time / 86400) * 86400 - 3 * 86400;   # 00:00Z three days ago
my $date = sub { strftime('%Y-%m-%d', gmtime($_[0])) };
my ($d0, $d1) = ($date->($day0), $date->($day0 + 86400));
my $s1 = $day0 + 9 * 3600;            # 09:00Z day 0
my $s2 = $day0 + 23 * 3600 + 45 * 60; # 23:45Z day 0 = 05:15 day 1 in +05:30
my $s3 = $day0 + 86400 + 12 * 3600;   # 12:00Z day 1

sub config {
    my (%o) = @_;
    my $cells = join '', map { qq(      - "$_"\n) } @{ $o{cells} };
    my $since = defined $o{since} ? "    since: $o{since}\n" : '';
    return <<"Y";
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
providers:
  gen:
    plugin: \@ROOT\@/t/plugins/usagegen.so
    interval: 1h
    generation: $o{gen}
$since    cells:
$cells  other:
    plugin: \@ROOT\@/t/plugins/usagegen.so
    interval: 1h
    generation: 1
    cells:
      - "$s1|m-x|1|1|1|1|-|4|-|1"
Y
}

my @cells = ("$s1|m-a|100|200|na|50|10|350|0.5|2",
             "$s2|m-b|1|2|na|3|-|6|-|1",
             "$s3|-|7|0|na|3|1|10|0.25|1");
my $dir = tmpdir('usage');
my $d = start_meterd(dir => $dir, config => config(gen => 1, cells => \@cells));
ok($d->wait_runs('gen', 1) && $d->wait_runs('other', 1), 'both providers collected');
my $m = $d->member('gen');
my %met = map { $_->{id} => $_->{used} } @{ $m->{metrics} };
is($met{sent}, 3, 'plugin sent three cells');
is($met{accepted}, 1, 'put_usage accepted');
ok(!exists $m->{usage} && !grep({ exists $_->{usage} } @{ $m->{metrics} }),
   'cells are not part of the provider record');

my ($st, $doc) = $d->get('/api/usage/daily?provider=gen');
is($st, 200, 'daily 200');
is($doc->{provider}, 'gen', 'provider echoed');
is($doc->{tz}, 'UTC', 'UTC by default');
is(scalar @{ $doc->{days} }, 2, 'two UTC days');
my ($a, $b) = @{ $doc->{days} };
is($a->{date}, $d0, 'first date');
is($a->{tokens_input_uncached}, 101, 'input summed over models');
is($a->{tokens_total}, 356, 'total summed');
is($a->{tokens_cache_write}, undef, 'not applicable renders null');
is($a->{tokens_reasoning}, undef, 'reasoning unknown in one cell: null, not 10');
is($a->{cost_usd}, undef, 'cost unknown in one cell: null');
is(scalar @{ $a->{models} }, 2, 'two models on day 0');
is($a->{models}[0]{model}, 'm-a', 'models sorted');
is($a->{models}[0]{cost_usd}, 0.5, 'model cost known');
is($a->{models}[0]{tokens_reasoning}, 10, 'model reasoning known');
is($b->{models}[0]{model}, undef, 'unknown model is null');
ok(!exists $a->{providers}, 'no providers list with a filter');

($st, $doc) = $d->get('/api/usage/daily');
is($st, 200, 'all providers 200');
is($doc->{provider}, undef, 'provider null');
is($doc->{days}[0]{tokens_total}, 360, 'day 0 sums both providers');
is_deeply([map { $_->{provider} } @{ $doc->{days}[0]{providers} }], ['gen', 'other'],
          'providers listed per day');

($st, $doc) = $d->get('/api/usage/daily?provider=gen&tz=%2B05:30');
is($st, 200, 'tz +05:30');
is($doc->{days}[0]{tokens_input_uncached}, 100, '+05:30: the 23:45Z cell moved to day 1');
is($doc->{days}[1]{tokens_input_uncached}, 8, '+05:30: day 1 has 1 + 7');
($st, $doc) = $d->get('/api/usage/daily?provider=gen&tz=Asia/Kolkata');
is($doc->{days}[1]{tokens_input_uncached}, 8, 'Asia/Kolkata agrees');
($st, $doc) = $d->get("/api/usage/daily?provider=gen&since=$d1&until=$d1");
is(scalar @{ $doc->{days} }, 1, 'since/until filter');
is($doc->{days}[0]{date}, $d1, 'the one day');

for my $q ('tz=Mars/Olympus', 'tz=%2B05:10', 'since=2026-02-30', 'until=yesterday',
           "since=$d1&until=$d0", 'foo=bar', 'provider=', 'tz=..%2Fetc%2Fpasswd',
           'since=2026-01-01&since=2026-01-02') {
    my ($s, $e) = $d->get("/api/usage/daily?$q");
    is($s, 400, "400 for $q");
    ok($e && $e->{error}{message}, "JSON error for $q");
}
($st) = $d->get('/api/usage/daily?provider=nope');
is($st, 404, 'unknown provider 404');
($st) = $d->get('/api/usage/daily', method => 'POST');
is($st, 405, 'POST not allowed');
ok(-s $d->state_dir . '/meterd.db', 'usage persisted in meterd.db');

# Restart: the store comes back; the plugin sees our generation and makes
# no call at all.
is($d->stop, 0, 'clean stop');
$d->start;
ok($d->wait_runs('gen', 1), 'collected after restart');
%met = map { $_->{id} => $_->{used} } @{ $d->member('gen')->{metrics} };
is($met{up_to_date}, 1, 'plugin told our generation: nothing re-sent');
($st, $doc) = $d->get('/api/usage/daily?provider=gen');
is($doc->{days}[0]{tokens_total}, 356, 'data survived the restart');
my $api = $doc;

# An incremental update (generation 2, from day 1 on) replaces the day-1
# cells only.
$d->stop;
Meterd::write_file("$dir/meterd.yaml", Meterd::subst(config(gen => 2, since => $day0 + 86400,
    cells => [@cells[0, 1], "$s3|m-c|1000|0|na|0|0|1000|-|1"]), $dir));
$d->start;
ok($d->wait_runs('gen', 1), 'collected generation 2');
%met = map { $_->{id} => $_->{used} } @{ $d->member('gen')->{metrics} };
is($met{sent}, 1, 'incremental: one cell sent');
is($met{since}, $day0 + 86400, 'from since on');
($st, $doc) = $d->get('/api/usage/daily?provider=gen');
is($doc->{days}[0]{tokens_total}, 356, 'day 0 untouched');
is($doc->{days}[1]{tokens_input_uncached}, 1000, 'day 1 replaced');
is($doc->{days}[1]{models}[0]{model}, 'm-c', 'by the new model');
$api = $doc;

# A plugin that fails after put_usage: nothing is stored.
$d->stop;
my $fail = config(gen => 3, cells => ["$s3|m-z|5|5|5|5|5|20|5|1"]);
$fail =~ s/(    generation: 3\n)/$1    mode: fail\n/;
Meterd::write_file("$dir/meterd.yaml", Meterd::subst($fail, $dir));
$d->start;
ok(wait_until(sub { my $x = $d->member('gen'); $x && $x->{runs} >= 1 && $x->{status} eq 'error' }),
   'failing run finished');
($st, $doc) = $d->get('/api/usage/daily?provider=gen');
is_deeply($doc, $api, 'a failed collection changed nothing');
$d->stop;

# The report, without the daemon: same days as the API.
Meterd::write_file("$dir/meterd.yaml", Meterd::subst(config(gen => 2, cells => ["$s3|m-c|1|0|na|0|0|1|-|1"]), $dir));
my $r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--provider', 'gen', '--json']);
is($r->{rc}, 0, 'report daily --json exit 0') or diag($r->{err});
my $rep = eval { json()->decode($r->{out}) };
is_deeply($rep->{days}, $api->{days}, 'report --json has the same days as the API');
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--tz', 'Europe/Berlin']);
is($r->{rc}, 0, 'table exit 0');
like($r->{out}, qr/^date\s+input\s+cache read\s+cache write\s+output\s+reasoning\s+total\s+cost USD$/m,
     'table header');
# Berlin (CET in winter, CEST in summer) moves the 23:45Z cell to day 1;
# day 0 is gen's m-a cell plus other's cell (n/a + 1 = 1 cache write).
like($r->{out}, qr/^\Q$d0\E\s+101\s+201\s+1\s+51\s+-\s+354\s+-$/m, 'day 0 row, unknown as -');
like($r->{out}, qr/^TOTAL\s/m, 'total row');
# The first report in a zone keeps its days in meterd.db; the next one
# reads them and prints the same, and equals the daemon's own report
# from its cells in memory.
my $again = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--tz', 'Europe/Berlin']);
is($again->{out}, $r->{out}, 'a second Berlin report (from the kept days) prints the same table');
my $bj = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--tz', 'Europe/Berlin', '--json']);
$d->start;
ok($d->wait_runs('gen', 1), 'daemon collected');
my ($bst, $bapi) = $d->get('/api/usage/daily?tz=Europe/Berlin');
$d->stop;
my $bdoc = eval { json()->decode($bj->{out}) };
is($bst, 200, 'daemon Berlin report');
ok($bdoc && @{ $bdoc->{days} } >= 2, 'report --json --tz Europe/Berlin has days');
is_deeply($bdoc && $bdoc->{days}, $bapi->{days},
          'Berlin from the kept days equals the daemon\'s Berlin from its cells');
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--since', 'x']);
is($r->{rc}, 2, 'bad --since: exit 2');
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--tz', 'No/Where']);
is($r->{rc}, 2, 'bad --tz: exit 2');
$r = run_meterd(args => ['report', 'monthly', '-c', "$dir/meterd.yaml"]);
is($r->{rc}, 2, 'unknown report: exit 2');
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/nope.yaml"]);
is($r->{rc}, 1, 'missing config: exit 1');

# A corrupt store is moved aside and the daemon starts empty.
Meterd::write_file("$dir/state/usage.json", "{not json");
$d->start;
ok(wait_until(sub { $d->log_text =~ /usage\.json is corrupt .* moved aside/ }), 'corrupt store warned');
my @aside = glob("$dir/state/usage.json.corrupt-*");
is(scalar @aside, 1, 'corrupt file kept aside');
$d->stop;

done_testing;
