#!/usr/bin/perl
# A real Prometheus server (loopback only, its own temporary storage, one
# target: the daemon) scrapes GET /metrics every second; its query API
# then holds the values the usage JSON shows, no series for a value
# that is unknown, and PromQL over the alert state sets answers with the
# class /api/quotas shows.  Prometheus is killed at the end, and on failure.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);
use Meterd qw(json tmpdir write_file wait_until);
use MetricsFixture qw(start_fixture);

my $prometheus = $ENV{PROMETHEUS} // '/usr/bin/prometheus';
plan skip_all => "no $prometheus (tools/setup installs prometheus)" unless -x $prometheus;

my $prom_pid;
sub stop_prometheus {
    return unless $prom_pid;
    kill 'TERM', $prom_pid;
    for (1 .. 100) {
        last if waitpid($prom_pid, WNOHANG) == $prom_pid;
        sleep 0.1;
    }
    if (kill 0, $prom_pid) {
        kill 'KILL', $prom_pid;
        waitpid $prom_pid, 0;
    }
    undef $prom_pid;
}
END { stop_prometheus() }
$SIG{__DIE__} = sub { stop_prometheus() unless $^S };   # not for dies inside eval

# A free loopback port for Prometheus's own listener.
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
        or die "socket: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

my $d = start_fixture();
(my $target = $d->base) =~ s{^http://}{};
my $dir = tmpdir('prometheus');
mkdir "$dir/data", 0700;
write_file("$dir/prometheus.yml", <<"Y");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meterd
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['$target']
Y
my $port = free_port();
$prom_pid = fork // die "fork: $!";
if (!$prom_pid) {
    open STDOUT, '>', "$dir/prometheus.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec $prometheus, "--config.file=$dir/prometheus.yml", "--storage.tsdb.path=$dir/data",
         "--web.listen-address=127.0.0.1:$port", '--log.level=warn'
        or POSIX::_exit(127);
}
my $http = HTTP::Tiny->new(timeout => 5);
sub query {
    my ($q) = @_;
    my $r = $http->get("http://127.0.0.1:$port/api/v1/query?query=" . _esc($q));
    return undef unless $r->{success};
    my $doc = eval { json()->decode($r->{content}) } or return undef;
    return $doc->{status} eq 'success' ? $doc->{data}{result} : undef;
}
sub _esc { my $s = shift; $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge; $s }
sub value_of { my ($res) = @_; return $res && @$res == 1 ? $res->[0]{value}[1] : undef }

# Wait (bounded) until a scrape of the daemon succeeded and its series are in.
my $up = wait_until(sub {
    return 'DEAD' if waitpid($prom_pid, WNOHANG) == $prom_pid;
    my $res = query('up{job="meterd"} == 1 and on() count(meterd_provider_info) == 4');
    return $res && @$res ? 1 : undef;
}, 90);
if (!$up || $up eq 'DEAD') {
    undef $prom_pid if $up && $up eq 'DEAD';
    diag(Meterd::read_file("$dir/prometheus.log") // '');
    BAIL_OUT('Prometheus did not scrape the daemon in 90 s');
}
pass('Prometheus scraped the daemon');

my $u = $d->usage;
my %rows = map { $_->{provider} => $_ } @{ $u->{providers} };
is(value_of(query('meterd_family_usage_remaining{family="alpha"}')), $rows{alpha}{usage_remaining},
   'alpha usage_remaining in Prometheus = the usage JSON');
my $res = query('meterd_family_usage_remaining{family="alpha"}');
is($res->[0]{metric}{unit}, $rows{alpha}{usage_remaining_unit}, 'with the unit of the JSON');
is(value_of(query('meterd_family_usage_remaining{family="gamma"}')), $rows{gamma}{usage_remaining},
   'gamma (over quota) usage_remaining = the usage JSON');
ok(!defined $rows{beta}{usage_remaining}, 'beta usage_remaining is unknown in the JSON');
is_deeply(query('meterd_family_usage_remaining{family="beta"}'), [], '... and has no series in Prometheus');
is(value_of(query('meterd_provider_info{provider="blind"}')), 1, 'blind is scraped (its info is there)');
is_deeply(query('meterd_meter_remaining{provider="blind"}'), [], "... but its unknown meter has no series");
my %member = map { $_->{name} => $_ } map { @{ $_->{members} } } @{ $u->{providers} };
for my $p (qw(good broken blind over)) {
    is(value_of(query(qq(meterd_up{provider="$p"}))), $member{$p}{status} eq 'ok' ? 1 : 0,
       "meterd_up{provider=\"$p\"} matches status $member{$p}{status}");
}
is(value_of(query('meterd_family_utilization_ratio{family="gamma"}')), '1.2', 'over-quota ratio 1.2 stored');

# Alert state sets: "== 1" picks the current class.
my (undef, $quotas) = $d->get('/api/quotas');
my ($over) = grep { $_->{provider} eq 'over' } @{ $quotas->{quotas} };
is($over->{alert}, 'exhausted', 'precondition: over is exhausted in /api/quotas');
$res = query('meterd_meter_alert{provider="over"} == 1');
is(scalar @{ $res // [] }, 1, 'one current class for over/requests_day');
is($res->[0]{metric}{alert}, $over->{alert}, '... and it is the class of /api/quotas');
is($res->[0]{metric}{meter}, 'requests_day', '... of its meter');
$res = query('meterd_family_alert == 1');
my %fam = map { $_->{metric}{family} => $_->{metric}{alert} } @{ $res // [] };
is_deeply(\%fam, { alpha => 'ok', gamma => 'exhausted' },
          'family classes: alpha ok, gamma exhausted, beta (unknown) absent');
is(value_of(query('count(meterd_meter_alert{provider="good"})')), 15,
   'good: 3 meters x 5 classes');
is(value_of(query('sum(meterd_meter_alert{alert="exhausted"})')), 1, 'one meter exhausted in all');
is_deeply(query('meterd_meter_alert{provider="blind"}'), [], 'blind (class unknown): no alert series');
is_deeply(query('meterd_meter_runway_seconds'), [], 'no forecast known yet: no runway series');

stop_prometheus();
ok(!$prom_pid, 'Prometheus stopped');
is($d->stop, 0, 'clean stop');
done_testing;
