#!/usr/bin/perl
# The dashboard in a real browser: headless Chromium loads / from a daemon
# whose exec providers are in known states (ok, exhausted, unknown, a
# failing member) and the rendered DOM shows each as it should: numbers,
# "unknown" with its reason instead of a 0 bar, the provider's error text
# (as text, never as markup), the exhausted family first, the per-day
# chart; the alert class of each family and meter as a badge, a burning
# meter's runway (topup) next to its family's cost today and over 7 days,
# "unknown" with the forecast_reason where there is no forecast; no
# script error and no CSP violation.  Screenshots at laptop and
# phone width are left in t/tmp for people to look at.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(strftime floor :sys_wait_h);
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd exec_script tmpdir write_file read_file root);

my ($chromium) = grep { -x } map { "$_/chromium" } split /:/, $ENV{PATH} // '';
plan skip_all => 'chromium not installed (tools/setup installs it)' unless $chromium;

my $now = time;
my $iso = sub { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])) };
my $reset_ok = $iso->($now + 2 * 3600 + 14 * 60 + 30);  # "resets in 2 h 14 m"
my $reset_burnt = $iso->($now + 3 * 3600 + 30 * 60);

my $dir = tmpdir('dash');
sub provider_json { return "cat <<'J'\n{\"status\":\"ok\",\"metrics\":[$_[0]]}\nJ\n" }
exec_script($dir, 'steady.sh', provider_json(
    qq({"id":"requests_day","kind":"quota_window","unit":"requests","used":420,"limit":1000,"remaining":580,"resets_at":"$reset_ok"})));
exec_script($dir, 'burnt.sh', provider_json(
    qq({"id":"five_hour","kind":"quota_window","unit":"percent","utilization":100,"resets_at":"$reset_burnt"})));
exec_script($dir, 'murky.sh', provider_json(
    q({"id":"weekly","kind":"quota_window","unit":"percent","utilization":null,"remaining":null})));
exec_script($dir, 'flaky-main.sh', provider_json(
    q({"id":"daily","kind":"quota_window","unit":"percent","utilization":64})));
# Markup in a provider message must come out as text.
exec_script($dir, 'flaky-backup.sh', <<'S');
printf '%s\n' '{"status":"error","error":{"class":"auth","message":"token expired <b id=\"injected\">for</b> demo"}}'
exit 1
S
# Per-day usage for the chart: two days with totals and cost.
my $day = floor($now / 86400) * 86400;
my @cells = (($day - 2 * 86400 + 3600) . '|m-a|100|0|na|50|-|1500|0.75|1',
             ($day - 86400 + 3600) . '|m-a|100|0|na|50|-|2500|1.25|1');
my $cells = join '', map { qq(      - "$_"\n) } @cells;
# A meter burning 10 tokens/s in real time, 100000 of them until a reset
# a day away: it runs out first, so it is topup with a runway.  It shares
# the family "tokens" with the usage cells above, so that card has both.
write_file("$dir/t0", sprintf("%.6f\n", $now));
my $reset_burner = $iso->($now + 86400);
exec_script($dir, 'burner.sh', <<SH);
d=\$(dirname "\$0")
set -- \$(date -u '+%s.%N %Y-%m-%dT%H:%M:%S.%NZ')
awk -v now="\$1" -v at="\$2" -v t0="\$(cat \$d/t0)" 'BEGIN {
  printf "{\\"status\\":\\"ok\\",\\"metrics\\":[{\\"id\\":\\"tokens_day\\",\\"kind\\":\\"quota_window\\",\\"unit\\":\\"tokens\\",\\"used\\":%.6f,\\"limit\\":100000,\\"resets_at\\":\\"$reset_burner\\",\\"collected_at\\":\\"%s\\"}]}\\n", (now - t0) * 10, at }'
SH

my $d = start_meterd(dir => $dir, files => { 'aliases.yaml' => <<'A' }, config => <<"Y");
families:
  flaky: [flaky-main, flaky-backup]
  tokens: [tokens, burner]
A
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
aliases: aliases.yaml
sample_every: 1s
forecast:
  min_samples: 3
  min_span: 2s
providers:
  burner:
    plugin: exec
    interval: 500ms
    timeout: 450ms
    command: ["\@DIR\@/burner.sh"]
  steady:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/steady.sh"]
  burnt:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/burnt.sh"]
  murky:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/murky.sh"]
  flaky-main:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/flaky-main.sh"]
  flaky-backup:
    plugin: exec
    interval: 1h
    command: ["\@DIR\@/flaky-backup.sh"]
  tokens:
    plugin: \@ROOT\@/t/plugins/usagegen.so
    interval: 1h
    cells:
$cells
Y
for my $p (qw(steady burnt murky flaky-main flaky-backup tokens)) {
    ok($d->wait_runs($p, 1, 30), "$p collected");
}
my $u = $d->usage;
my %row = map { $_->{provider} => $_ } @{ $u->{providers} };
is($row{burnt}{governing_metric}{reason}, 'exhausted', 'precondition: burnt is exhausted');
is($row{murky}{usage_remaining_reason}, 'not_reported', 'precondition: murky is unknown');
is($row{flaky}{status}, 'degraded', 'precondition: flaky is degraded');
sub quota_entry {
    my ($provider) = @_;
    my ($st, $doc) = $d->get('/api/quotas');
    my ($e) = $st == 200 ? grep({ $_->{provider} eq $provider } @{ $doc->{quotas} }) : ();
    return $e;
}
my $burner = Meterd::wait_until(sub {
    my $e = quota_entry('burner');
    $e && $e->{alert} eq 'topup' && defined $e->{runway_seconds} ? $e : undef }, 60);
ok($burner, 'precondition: burner is topup with a runway');
my $steady_q = quota_entry('steady');
is($steady_q->{runway_seconds}, undef, 'precondition: steady has no runway (one sample)');
is($steady_q->{forecast_reason}, 'too_few_samples', '... for too few samples');

# Headless Chromium, bounded; its profile and HOME live in the scratch dir.
my $home = "$dir/chrome-home";
mkdir $home;
sub chromium {
    my ($out, @args) = @_;
    my @cmd = ($chromium, '--headless', '--no-sandbox', '--disable-gpu',
               '--no-first-run', '--no-default-browser-check', '--disable-extensions',
               '--disable-dev-shm-usage', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--metrics-recording-only',
               "--user-data-dir=$home/profile", '--enable-logging=stderr', '--v=0',
               '--virtual-time-budget=5000', @args, $d->base . '/');
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $ENV{HOME} = $home;
        $ENV{XDG_CONFIG_HOME} = "$home/.config";
        $ENV{XDG_CACHE_HOME} = "$home/.cache";
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$out.out" or die;
        open STDERR, '>', "$out.err" or die;
        setpgrp(0, 0);
        exec @cmd or POSIX::_exit(127);
    }
    my $end = time + 120;
    my $rc;
    while (time < $end) {
        if (waitpid($pid, WNOHANG) == $pid) { $rc = $? >> 8; last }
        sleep 0.1;
    }
    if (!defined $rc) {
        kill 'KILL', -$pid;
        waitpid $pid, 0;
        $rc = 'timeout';
    }
    return ($rc, read_file("$out.out") // '', read_file("$out.err") // '');
}

my ($rc, $dom, $err) = chromium("$dir/dom", '--dump-dom');
is($rc, 0, 'chromium --dump-dom exits 0') or diag $err;
like($dom, qr/<body[^>]*data-state="ready"/, 'the page finished its first refresh')
    or diag $dom;

# No script error: none reported into the page, none on the console.
ok($dom =~ /<div id="js-errors"[^>]*hidden[^>]*><\/div>/, 'no script error on the page')
    or diag $dom =~ /(<div id="js-errors".*?<\/div>)/s;
my @console = grep { /CONSOLE/ } split /\n/, $err;
is(scalar @console, 0, 'nothing on the browser console (no uncaught error, no CSP refusal)')
    or diag join "\n", @console;
ok($err !~ /Refused to|violates the following Content Security Policy|Uncaught/,
   'no CSP refusal or uncaught exception in the log');

# One card per family, most urgent first.
my @cards = $dom =~ /(<article class="family[^"]*" data-family="[^"]*">.*?<\/article>)/gs;
my %card = map { /data-family="([^"]*)"/; ($1 => $_) } @cards;
my @order = map { /data-family="([^"]*)"/; $1 } @cards;
is_deeply([sort @order], [qw(burnt flaky murky steady tokens)], 'every family has a card')
    or diag $dom;
is($order[0], 'burnt', 'the exhausted family comes first');
is_deeply([@order[1, 2]], [qw(flaky steady)], 'then by utilization: 64 % before 42 %');
my $text = sub { my $h = shift // ''; $h =~ s/<[^>]*>/ /g; $h =~ s/&lt;/</g; $h =~ s/&gt;/>/g; $h =~ s/&amp;/&/g; $h =~ s/\s+/ /g; $h };

my $steady = $text->($card{steady});
like($steady, qr/580 requests remaining/, 'steady: remaining with its unit');
like($steady, qr/42 % used · 420 of 1,000 requests/, 'steady: bar label with the numbers');
like($card{steady}, qr/class="fill" style="width: 42%;"/, 'steady: the bar is 42 % wide');
like($steady, qr/resets in 2 h 1[34] m/, 'steady: reset countdown');
like($steady, qr/requests_day/, 'steady: names its governing meter');

my $burnt = $text->($card{burnt});
like($burnt, qr/exhausted/, 'burnt: marked exhausted');
like($burnt, qr/0 % remaining/, 'burnt: nothing left');
like($burnt, qr/100 % used/, 'burnt: full bar');
like($burnt, qr/available again: \S+.*\(in 3 h (29|30) m/, 'burnt: available again, with countdown');
like($card{burnt}, qr/class="bar tone-bad"/, 'burnt: red bar');

my $murky = $text->($card{murky});
like($murky, qr/\bunknown\b.*not_reported/, 'murky: "unknown" with the reason');
unlike($card{murky}, qr/class="fill"/, 'murky: no bar drawn for an unknown value');
unlike($murky, qr/\b0 %/, 'murky: no 0 % anywhere');

my $flaky = $text->($card{flaky});
like($flaky, qr/degraded/, 'flaky: degraded');
like($flaky, qr/flaky-backup \(exec\) error/, 'flaky: the failing member');
like($flaky, qr/auth: token expired <b id="injected">for<\/b> demo/,
     'flaky: the provider message, verbatim');
like($card{flaky}, qr/token expired &lt;b id="injected"&gt;for&lt;\/b&gt; demo/,
     'flaky: its markup escaped as text');
unlike($dom, qr/<b id="injected">/, 'no element injected by a provider message');

# Alerts, runway and cost.
like($card{burnt}, qr/class="pill tone-bad">exhausted</, 'burnt: the exhausted badge');
my ($burnt_head) = $card{burnt} =~ /(<div class="family-head">.*?<\/div>)/s;
unlike($burnt_head // '', qr/data-alert=/, 'burnt: no second "exhausted" badge for the family');
like($card{burnt}, qr/<li class="quota-meter" data-provider="burnt" data-meter="five_hour">.*?data-alert="exhausted"/s,
     'burnt: its meter has the exhausted badge');
my $tokens = $text->($card{tokens});
my ($tokens_head) = $card{tokens} =~ /(<div class="family-head">.*?<\/div>)/s;
like($tokens_head // '', qr/data-alert="topup"[^>]*>top up</,
     'tokens: the family badge says top up');
like($card{tokens}, qr/^<article class="family tone-bad"/, 'tokens: a topup family has the urgent colour');
my ($burner_li) = $card{tokens} =~ /(<li class="quota-meter" data-provider="burner".*?<\/li>)/s;
ok($burner_li, 'tokens: a row for the burning meter') or diag $card{tokens};
like($burner_li // '', qr/data-alert="topup"/, 'burner: topup badge');
like($text->($burner_li), qr/runway \d+ h \d+ m, runs out /, 'burner: runway and when it runs out');
like($text->($burner_li), qr/burns [\d,.]+ tokens\/h/, 'burner: its burn rate');
like($tokens, qr/runs out: \S.*\(in \d+ h \d+ m\)/, 'tokens: the family runs out, with a countdown');
like($tokens, qr/cost: \$0\.00 today · \$2\.00 last 7 days/, 'tokens: cost today and over 7 days');
my $st = $text->($card{steady});
like($card{steady}, qr/data-alert="ok"[^>]*>quota ok</, 'steady: ok badge');
like($st, qr/runway unknown: too few samples yet \(too_few_samples\)/,
     'steady: runway "unknown" with its forecast_reason');
like($st, qr/runs out: unknown: too few samples yet \(too_few_samples\)/,
     'steady: the family too');
unlike($st, qr/runway \d/, 'steady: no runway number');
unlike($st, qr/cost:/, 'steady: no usage, no cost line');
like($card{murky}, qr/data-alert="unknown"/, 'murky: alert unknown');
like($text->($card{murky}), qr/runway unknown: no value to forecast from \(no_data\)/,
     'murky: no value, no forecast');

# The chart: 30 days, two known bars, cost shown because the API gives it.
my @bars = $dom =~ /<rect [^>]*data-date="([^"]+)"/g;
is(scalar @bars, 30, 'the chart has 30 days');
my %tokens = $dom =~ /<rect [^>]*data-date="([^"]+)" data-tokens="([^"]+)"/g;
my @nonzero = sort grep { $tokens{$_} ne '0' } keys %tokens;
is_deeply([map { $tokens{$_} } @nonzero], [1500, 2500], 'the two days with usage')
    or diag explain \%tokens;
like($dom, qr/4,000 tokens/, '30-day token total');
like($dom, qr/\$2\.00/, '30-day cost total');

# Restart with steady failing: its last good data comes back from the
# snapshot and, once the live attempt fails, is marked stale; the card
# says so, with the age, and keeps the numbers.
is($d->stop, 0, 'clean stop before the restart');
exec_script($dir, 'steady.sh', "echo 'upstream said no' >&2; exit 3\n");
$d->start;
ok(Meterd::wait_until(sub { my $m = $d->member('steady'); $m && $m->{stale} }, 30),
   'steady: stale after a failed attempt');
my $srow = (grep { $_->{provider} eq 'steady' } @{ $d->usage->{providers} })[0];
($rc, $dom, $err) = chromium("$dir/dom2", '--dump-dom');
is($rc, 0, 'second rendering') or diag $err;
my ($stale_card) = $dom =~ /(<article class="family[^"]*" data-family="steady">.*?<\/article>)/s;
my $stale = $text->($stale_card);
like($stale, qr/stale data/, 'steady: the card has a stale badge');
like($stale, qr/steady \(exec\) error stale, \d+ s old/, 'steady: the member says stale, with its age');
like($stale, qr/upstream said no/, 'steady: and why');
like($stale, qr/580 requests remaining/, 'steady: last good numbers still shown');
if (($srow->{served_from} // '') eq 'snapshot') {
    like($stale, qr/from snapshot, \d+ s old/, 'steady: served from the snapshot, with its age');
} else {
    unlike($stale, qr/from snapshot/, 'steady: no snapshot badge when the API says ' .
                                      ($srow->{served_from} // 'null'));
}
ok($dom =~ /<div id="js-errors"[^>]*hidden[^>]*><\/div>/, 'still no script error');

# Screenshots for people (and the same page must render at both widths).
for my $shot (['dashboard.png', '1280,900'], ['dashboard-phone.png', '390,844']) {
    my $png = root() . "/t/tmp/$shot->[0]";
    unlink $png;
    my ($src, undef, $serr) = chromium("$dir/shot-$shot->[0]", "--screenshot=$png",
                                       "--window-size=$shot->[1]", '--hide-scrollbars');
    ok($src == 0 && -s $png, "screenshot $shot->[0] at $shot->[1]") or diag $serr;
}

is($d->stop, 0, 'clean stop');
done_testing;
