#!/usr/bin/perl
# Unknown stays null end to end (plugin -> API -> snapshot -> restart -> API),
# kill -9 and restart serves the snapshot, a corrupt snapshot is moved aside.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd exec_script tmpdir write_file read_file wait_until json);

my $dir = tmpdir('unknown');
exec_script($dir, 'u.sh', <<'S');
cat <<'J'
{"status":"ok","metrics":[
 {"id":"credits","kind":"credits","unit":"usd","used":null,"limit":null,"remaining":3.25},
 {"id":"zero","kind":"usage","unit":"requests","used":0},
 {"id":"local","kind":"usage","unit":"tokens","used":"n/a","limit":"n/a"}],
 "notes":["hello"]}
J
S
my $config = <<'Y';
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  acme:
    plugin: exec
    interval: 1h
    command: ["@DIR@/u.sh"]
Y

sub check_metrics {
    my ($u, $label) = @_;
    my %m = map { $_->{id} => $_ } @{ $u->{providers}[0]{metrics} };
    ok(exists $m{credits}{used} && !defined $m{credits}{used}, "$label: unknown used is null");
    ok(exists $m{credits}{limit} && !defined $m{credits}{limit}, "$label: unknown limit is null");
    ok(exists $m{credits}{utilization} && !defined $m{credits}{utilization}, "$label: nothing derived from unknown");
    is($m{credits}{remaining}, 3.25, "$label: known remaining");
    ok(defined $m{zero}{used} && $m{zero}{used} == 0, "$label: a reported 0 stays 0");
    ok(!defined $m{local}{used}, "$label: not applicable renders null");
    is_deeply([sort @{ $m{local}{not_applicable} }], [qw(limit used)], "$label: and is listed as not applicable");
    for my $k (qw(id label kind unit used limit remaining utilization window_seconds resets_at confidence source collected_at)) {
        ok(exists $m{credits}{$k}, "$label: key $k present") or last;
    }
}

my $d = start_meterd(dir => $dir, config => $config);
ok($d->wait_runs('acme', 1), 'collected');
my $u = $d->usage;
check_metrics($u, 'live');
is($u->{providers}[0]{members}[0]{served_from}, 'live', 'served live');
my $snap = read_file($d->state_dir . '/snapshot.json');
ok($snap, 'snapshot written');
my $sdoc = json->decode($snap);
my ($sm) = grep { $_->{id} eq 'credits' } @{ $sdoc->{providers}[0]{data}{metrics} };
ok(exists $sm->{used} && !defined $sm->{used}, 'unknown is null in the snapshot file too');

# kill -9, make the provider fail, restart: the snapshot is served, marked.
$d->kill9;
exec_script($dir, 'u.sh', "echo broken >&2; exit 3\n");
$d->start;
$u = $d->usage;
is($u->{providers}[0]{members}[0]{served_from}, 'snapshot', 'after restart: served from snapshot');
ok(defined $u->{providers}[0]{members}[0]{age_seconds}, 'with age_seconds');
check_metrics($u, 'snapshot');
# The failing live attempt keeps the last good records, marked stale.
ok(wait_until(sub { ($d->member('acme') || {})->{status} eq 'error' }), 'provider now in error');
$u = $d->usage;
my $mem = $u->{providers}[0]{members}[0];
is($mem->{error}{class}, 'internal', 'non-zero exit is classed');
like($mem->{error}{message}, qr/broken/, 'error quotes stderr');
ok($mem->{stale}, 'last good data marked stale');
is($u->{providers}[0]{usage_remaining}, 3.25, 'last good data still served');
check_metrics($u, 'stale');
is($d->stop, 0, 'clean stop');

# Corrupt snapshot: moved aside, daemon starts empty.
write_file($d->state_dir . '/snapshot.json', "{ this is not json");
$d->start;
my @aside = glob($d->state_dir . '/snapshot.json.corrupt-*');
is(scalar @aside, 1, 'corrupt snapshot moved aside');
like($d->log_text, qr/warning: meterd: .*corrupt/i, 'with a warning');
$u = $d->usage;
is($u->{providers}[0]{members}[0]{served_from}, 'none', 'starts with no data');
is($d->stop, 0, 'clean stop');
done_testing;
