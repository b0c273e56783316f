#!/usr/bin/perl
# `meterd report` takes each plugin's descriptor from the probe cache in
# state_dir (probe.h) while the plugin file is the one that was probed:
# a plugin file replaced between two reports is probed again (one that
# declares usage cells, one that does not, one built for another ABI),
# a corrupt cache file is set aside and rebuilt, and a matching entry is
# really what the report believes (an entry edited to declare cells makes
# the report run a plugin whose file does not declare them).
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use Test::More;
use Meterd qw(json root run_meterd tmpdir write_file read_file);

my $root = root();
my $dir = tmpdir('probecache');
mkdir "$dir/plugins", 0700;
my $so = "$dir/plugins/p.so";

sub config {
    my ($state) = @_;
    mkdir $state, 0700;
    return write_file("$dir/" . ($state =~ s{.*/}{}r) . '.yaml', <<"Y", 0600);
listen: 127.0.0.1:0
state_dir: $state
plugin_dir: $dir/plugins
providers:
  p:
    plugin: p
Y
}

# A new file (new inode) with the test plugin's content.
sub install {
    my ($name) = @_;
    unlink $so;
    copy("$root/t/plugins/$name.so", $so) or die "copy $name: $!";
    chmod 0755, $so;
}

my @range = ('--since', '2026-03-01', '--until', '2026-03-31', '--json');
sub report {
    my ($cfg) = @_;
    return run_meterd(args => ['report', 'daily', '-c', $cfg, @range]);
}

sub ran_p {
    my ($r) = @_;
    my $doc = eval { json()->decode($r->{out}) } or return 0;
    for my $day (@{ $doc->{days} || [] }) {
        return 1 if grep { $_->{provider} eq 'p' } @{ $day->{providers} || [] };
    }
    return 0;
}

sub cache_doc {
    my ($state) = @_;
    my $text = read_file("$state/probe-cache.json") // return undef;
    return eval { json()->decode($text) };
}

my $s1 = "$dir/s1";
my $cfg = config($s1);

install('x_logs');
my $r = report($cfg);
is($r->{rc}, 0, 'report with a plugin that declares no usage cells: exit 0') or diag($r->{err});
ok(!ran_p($r), '... and it is not run');
my $doc = cache_doc($s1);
is($doc && $doc->{schema}, 'meterd.probe-cache.v1', 'the probe cache is written in state_dir');
is((stat "$s1/probe-cache.json")[2] & 07777, 0600, '... mode 0600');

install('cellmaker');
$r = report($cfg);
is($r->{rc}, 0, 'the plugin file replaced by one that declares cells: exit 0') or diag($r->{err});
ok(ran_p($r), '... the change is seen: the plugin is probed again and run');

install('abi2');
$r = report($cfg);
like($r->{err}, qr/ABI 2.*will not collect/,
     'replaced by a plugin built for another ABI: probed again, refused with the reason');
my ($entry) = grep { $_->{key}{plugin_path} eq $so } @{ cache_doc($s1)->{entries} || [] };
ok($entry && !$entry->{reply}{loaded}, '... and the cache now says it does not load');

install('cellmaker');
write_file("$s1/probe-cache.json", "{\"schema\": not json", 0600);
$r = report($cfg);
is($r->{rc}, 0, 'a corrupt cache file: the report still works') or diag($r->{err});
ok(ran_p($r), '... and runs the plugin');
$doc = cache_doc($s1);
is($doc && $doc->{schema}, 'meterd.probe-cache.v1', '... the cache is written anew');
opendir my $dh, $s1 or die;
ok((grep { /^probe-cache\.json\.corrupt-/ } readdir $dh), '... the corrupt one set aside');
closedir $dh;

# A matching entry is what the report believes: with x_logs (no
# declaration) in place, an entry edited to declare usage cells makes the
# report run it (x_logs hands over a cell when run).
my $s2 = "$dir/s2";
my $cfg2 = config($s2);
install('x_logs');
$r = report($cfg2);
ok(!ran_p($r), 'second state_dir: x_logs is not run');
$doc = cache_doc($s2);
($entry) = grep { $_->{key}{plugin_path} eq $so } @{ $doc->{entries} || [] };
ok($entry && $entry->{reply}{loaded}, '... its descriptor is cached');
$entry->{reply}{descriptor}{produces} = 2 if $entry;
write_file("$s2/probe-cache.json", json()->encode($doc), 0600);
$r = report($cfg2);
is($r->{rc}, 0, 'an edited entry with the same key: exit 0') or diag($r->{err});
ok(ran_p($r), '... the report took the cached descriptor without probing');

done_testing();
