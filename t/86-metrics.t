#!/usr/bin/perl
# GET /metrics on a daemon with good, failing, unknown-valued and
# over-quota providers: promtool check metrics accepts it, the values are
# those of the usage JSON, unknown values have no sample, and the usage
# counters count ingested tokens and do not go down across a restart.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX qw(strftime);
use Meterd qw(json tmpdir write_file wait_until);
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
($rc, $out) = promtool_check(scrape($d)->{content});
is($rc, 0, 'promtool still happy with usage counters') or diag $out;
is($d->stop, 0, 'clean stop');
ok(-f $d->state_dir . '/usage-counters.json', 'totals persisted at shutdown');
$d->start;
$d->wait_runs('good', 1, 30);
$got = samples(scrape($d)->{content})->{$key};
is($got, 300, 'after a restart the counter is the same (store not counted twice)');
is($d->stop, 0, 'clean stop');
done_testing;
