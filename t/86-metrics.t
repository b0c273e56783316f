#!/usr/bin/perl
# GET /metrics on a daemon with good, failing, unknown-valued and
# over-quota providers: promtool check metrics accepts it, the values are
# those of the usage JSON, unknown values have no sample, alert classes
# are state sets matching /api/quotas (none for an unknown class), a
# forecast is there only when /api/quotas has one (a live burning meter:
# runway, exhausts_at and burn as in the JSON), the usage counters count
# ingested tokens and do not go down across a restart, and cost has no
# sample while nothing is priced.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Time::HiRes ();
use POSIX qw(strftime);
use Meterd qw(json tmpdir write_file wait_until start_meterd exec_script);
use MetricsFixture qw(start_fixture OVER_RESET GOOD_RESET);

my $promtool = $ENV{PROMTOOL} // '/usr/bin/promtool';
plan skip_all => "no $promtool (tools/setup installs prometheus)" unless -x $promtool;

sub scrape {
    my ($d) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->get($d->base . '/metrics');
    return $r;
}

# series name{labels} => value, for the samples of a text
sub samples {
    my ($text) = @_;
    my %s;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        /^(\S+?(?:\{.*\})?) (\S+)$/ or next;
        $s{$1} = $2;
    }
    return \%s;
}

sub promtool_check {
    my ($text) = @_;
    my $dir = tmpdir('promtool');
    write_file("$dir/m.txt", $text);
    my $out = `$promtool check metrics < '$dir/m.txt' 2>&1`;
    return ($? >> 8, $out);
}

my $d = start_fixture();
my $r = scrape($d);
is($r->{status}, 200, 'GET /metrics 200');
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8', 'format 0.0.4 content type');
my ($rc, $out) = promtool_check($r->{content});
is($rc, 0, 'promtool check metrics passes') or diag $out;
is($out, '', 'and has nothing to say (no lint problem)') or diag $out;

my $s = samples($r->{content});
my $u = $d->usage;
my %rows = map { $_->{provider} => $_ } @{ $u->{providers} };
is($s->{'meterd_up{provider="good",plugin="exec"}'}, 1, 'good is up');
is($s->{'meterd_up{provider="broken",plugin="exec"}'}, 0, 'broken is down');
is($s->{'meterd_collections_total{provider="broken",result="auth"}'}, 1, 'the auth failure is counted');
is($s->{'meterd_family_status{family="alpha",status="degraded"}'}, 1, 'alpha degraded');
ok(!exists $s->{'meterd_family_status{family="alpha",status="ok"}'}, 'only the current status has a sample');
is($s->{'meterd_family_usage_remaining{family="alpha",unit="percent"}'}, $rows{alpha}{usage_remaining},
   'alpha remaining as in the usage JSON');
is($s->{'meterd_family_usage_remaining{family="gamma",unit="requests"}'}, $rows{gamma}{usage_remaining},
   'gamma remaining (0) as in the usage JSON');
is($s->{'meterd_family_utilization_ratio{family="gamma"}'}, 1.2, 'over quota: ratio 1.2');
is($s->{'meterd_family_available_again_timestamp_seconds{family="gamma"}'}, OVER_RESET, 'available again at the reset');
is($s->{'meterd_meter_reset_timestamp_seconds{provider="good",family="alpha",meter="hours",kind="quota_window",unit="hours"}'},
   GOOD_RESET, 'meter reset time');
is($s->{'meterd_meter_used{provider="good",family="alpha",meter="odd",kind="usage",unit="k\\"b\\\\s"}'}, 7,
   'a unit with a quote and a backslash is escaped');
ok(!defined $rows{beta}{usage_remaining}, 'beta: usage_remaining unknown in the JSON');
ok(!grep({ /family="beta"/ && !/^meterd_(family_status|provider_info)/ } keys %$s), 'beta: no family value sample');
ok(!grep({ /provider="blind"/ && /^meterd_meter_/ } keys %$s), 'blind: its unknown meter has no sample');
ok(!grep({ /provider="broken"/ && /^meterd_(meter_|data_age|last_success)/ } keys %$s),
   'broken: no data, no data samples');
unlike($r->{content}, qr/NaN/, 'no NaN');

# Alerts: one sample per known class, 1 for the class /api/quotas shows.
my ($qst, $quotas) = $d->get('/api/quotas');
is($qst, 200, 'GET /api/quotas');
my %entry = map { ("$_->{provider}/$_->{meter}" => $_) } @{ $quotas->{quotas} };
is($entry{'over/requests_day'}{alert}, 'exhausted', 'precondition: over is exhausted in /api/quotas');
is($entry{'blind/credits'}{alert}, 'unknown', 'precondition: blind is unknown in /api/quotas');
my @classes = qw(exhausted topup use_or_lose watch ok);
for my $e (@{ $quotas->{quotas} }) {
    my $base = qq(meterd_meter_alert{provider="$e->{provider}",family="$e->{family}",meter="$e->{meter}");
    my @got = grep { index($_, $base) == 0 } keys %$s;
    if ($e->{alert} eq 'unknown') {
        is(scalar @got, 0, "$e->{provider}/$e->{meter}: class unknown, no alert sample");
        next;
    }
    is(scalar @got, 5, "$e->{provider}/$e->{meter}: one alert sample per known class");
    is_deeply([grep { $s->{qq($base,alert="$_"})} } @classes], [$e->{alert}],
              "$e->{provider}/$e->{meter}: 1 only for $e->{alert}");
}
is($s->{'meterd_family_alert{family="gamma",alert="exhausted"}'}, 1, 'family gamma: exhausted');
is($s->{'meterd_family_alert{family="gamma",alert="ok"}'}, 0, 'family gamma: ok is 0');
is($s->{'meterd_family_alert{family="alpha",alert="ok"}'}, 1, 'family alpha: ok');
ok(!grep({ /^meterd_family_alert\{family="beta"/ } keys %$s), 'family beta (unknown): no alert sample');
is($s->{'meterd_alert_transitions_total'}, $quotas->{alert_transitions},
   'transitions as in /api/quotas');
# One collection each: no burn rate yet, so no forecast sample at all.
ok(!grep({ !defined $_->{runway_seconds} ? 0 : 1 } @{ $quotas->{quotas} }),
   'precondition: no runway known in /api/quotas');
ok(!grep({ /^meterd_meter_(runway_seconds|exhausts_at_timestamp_seconds|burn_per_second|projected_utilization_at_reset_ratio)\{/ } keys %$s),
   'unknown forecasts have no sample (not 0)');
ok(!grep({ /^meterd_family_exhausts_at_timestamp_seconds\{/ } keys %$s),
   'no family exhausts_at sample either');

my ($hst) = $d->get('/metrics', method => 'HEAD');
is($hst, 200, 'HEAD /metrics 200');
my ($pst) = $d->get('/metrics', method => 'POST');
is($pst, 405, 'POST /metrics 405');

# usage counters: an ingested turn adds, a restart keeps the total
my $now = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - 60));
my $post = HTTP::Tiny->new(timeout => 10)->post($d->base . '/api/telemetry', {
    content => json()->encode({ provider => 'good', dialect => 'openai', id => 't1', at => $now,
                                usage => { prompt_tokens => 2000, completion_tokens => 300 } }),
    headers => { 'Content-Type' => 'application/json' } });
is($post->{status}, 200, 'usage posted') or diag $post->{content};
my $key = 'meterd_usage_tokens_total{provider="good",bucket="output"}';
my $got = wait_until(sub { samples(scrape($d)->{content})->{$key} }, 10);
is($got, 300, 'the ingested output tokens are counted');
ok(!grep({ /^meterd_usage_cost_usd_total\{provider="good"/ } keys %{ samples(scrape($d)->{content}) }),
   'usage of no known model: no cost sample (unpriced is not $0)');
($rc, $out) = promtool_check(scrape($d)->{content});
is($rc, 0, 'promtool still happy with usage counters') or diag $out;
is($d->stop, 0, 'clean stop');
ok(-f $d->state_dir . '/usage-counters.json', 'totals persisted at shutdown');
$d->start;
$d->wait_runs('good', 1, 30);
$got = samples(scrape($d)->{content})->{$key};
is($got, 300, 'after a restart the counter is the same (store not counted twice)');
is($d->stop, 0, 'clean stop');

# A meter burning in real time: once /api/quotas has its forecast,
# /metrics has the same numbers in base units, and promtool accepts them.
my $fdir = tmpdir('metrics-forecast');
write_file("$fdir/t0", sprintf("%.6f\n", Time::HiRes::time()));
my $reset = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 86400));
# used = 10 tokens per second since t0, stamped with its own instant (awk:
# sh has no floating point); 100000 last under 3 h, before the reset.
exec_script($fdir, 'burner.sh', <<SH);
d=\$(dirname "\$0")
set -- \$(date -u '+%s.%N %Y-%m-%dT%H:%M:%S.%NZ')
awk -v now="\$1" -v at="\$2" -v t0="\$(cat \$d/t0)" 'BEGIN {
  printf "{\\"status\\":\\"ok\\",\\"metrics\\":[{\\"id\\":\\"tokens\\",\\"kind\\":\\"quota_window\\",\\"unit\\":\\"tokens\\",\\"used\\":%.6f,\\"limit\\":100000,\\"resets_at\\":\\"$reset\\",\\"collected_at\\":\\"%s\\"}]}\\n", (now - t0) * 10, at }'
SH
my $fd = start_meterd(dir => $fdir, config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
sample_every: 1s
forecast:
  min_samples: 3
  min_span: 2s
providers:
  burner: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["@DIR@/burner.sh"]}
Y
my $burner = wait_until(sub {
    my ($st, $doc) = $fd->get('/api/quotas');
    my ($e) = $st == 200 ? grep({ $_->{provider} eq 'burner' } @{ $doc->{quotas} }) : ();
    $e && $e->{alert} eq 'topup' && defined $e->{runway_seconds} ? $e : undef }, 60);
ok($burner, 'burner: topup with a runway in /api/quotas') or diag explain [$fd->get('/api/quotas')];
$burner //= {};
my $fr = scrape($fd);
($rc, $out) = promtool_check($fr->{content});
is($rc, 0, 'promtool check metrics passes with forecasts') or diag $out;
is($out, '', '... and has nothing to say') or diag $out;
my $fs = samples($fr->{content});
my $lab = '{provider="burner",family="burner",meter="tokens",kind="quota_window",unit="tokens"}';
is($fs->{'meterd_meter_alert{provider="burner",family="burner",meter="tokens",alert="topup"}'}, 1,
   'burner: topup is 1');
is($fs->{'meterd_family_alert{family="burner",alert="topup"}'}, 1, 'its family: topup is 1');
sub near { my ($got, $want, $tol) = @_; defined $got && defined $want && abs($got - $want) <= $tol }
# The JSON and the scrape are up to a few collections apart.
ok(near($fs->{"meterd_meter_runway_seconds$lab"}, $burner->{runway_seconds}, 0.1 * $burner->{runway_seconds}),
   "runway_seconds as in the JSON ($fs->{\"meterd_meter_runway_seconds$lab\"} vs $burner->{runway_seconds})");
ok(near($fs->{"meterd_meter_exhausts_at_timestamp_seconds$lab"},
        Meterd::epoch($burner->{exhausts_at}), 600),
   'exhausts_at as in the JSON, as Unix time');
my $burn_lab = '{provider="burner",family="burner",meter="tokens",kind="quota_window",unit="tokens",basis="used"}';
ok(near($fs->{"meterd_meter_burn_per_second$burn_lab"}, 10, 1),
   'burn per second: the true 10 tokens/s, within 10 %')
    or diag $fs->{"meterd_meter_burn_per_second$burn_lab"};
ok(near($fs->{'meterd_family_exhausts_at_timestamp_seconds{family="burner"}'},
        $fs->{"meterd_meter_exhausts_at_timestamp_seconds$lab"}, 0),
   'family exhausts_at = its only meter\'s');
ok(near($fs->{"meterd_meter_projected_utilization_at_reset_ratio$lab"},
        ($burner->{projected_utilization_at_reset} // -1) / 100, 0.1 * ($burner->{projected_utilization_at_reset} // 0) / 100),
   'projected utilization at the reset as a ratio');
ok($fs->{'meterd_alert_transitions_total'} >= 1, 'the transition to topup is counted');
my $mdoc = Meterd::read_file(Meterd::root() . '/doc/metrics.md') // '';
my %documented = map { $_ => 1 } $mdoc =~ /`(meterd_[a-z_]+)`/g;
my @undocumented = grep { !$documented{$_} } $fr->{content} =~ /^# TYPE (\S+)/mg;
is_deeply(\@undocumented, [], 'every family of series is documented in doc/metrics.md');
is($fd->stop, 0, 'clean stop');
done_testing;
