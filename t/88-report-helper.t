#!/usr/bin/perl
# `meterd report` runs its collection in a helper forked from the report
# before it read its configuration (runner.h: the spare helper), not in
# an exec'd `meterd --worker`.  The isolation is the same: a plugin that
# dies of SIGSEGV, exits without a result or hangs past the provider's
# timeout costs the report that provider's collection only (a warning,
# exit 0, the table printed), the hang is ended at the timeout, no
# process is left behind, and the helper's environment is scrubbed (a
# variable the plugin does not declare is neither in its environment
# nor in its /proc/PID/environ) while a declared one reaches it.  The
# collection of a plugin that does no HTTP does not map libcurl (meterd
# is linked without it and loads it at the first request).
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use Time::HiRes qw(time);
use Test::More;
use Meterd qw(json root run_meterd tmpdir write_file);

my $root = root();
my $dir = tmpdir('report-helper');
mkdir "$dir/plugins", 0700;
copy("$root/t/plugins/cellcrash.so", "$dir/plugins/cellcrash.so") or die "copy: $!";
chmod 0755, "$dir/plugins/cellcrash.so";

my $n = 0;
sub report {
    my ($mode) = @_;
    my $state = "$dir/state" . $n++;
    mkdir $state, 0700;
    my $yaml = write_file("$dir/c$n.yaml", <<"Y", 0600);
listen: 127.0.0.1:0
state_dir: $state
plugin_dir: $dir/plugins
providers:
  cc:
    plugin: cellcrash
    timeout: 2s
Y
    my $t0 = time;
    my $r = run_meterd(args => ['report', 'daily', '-c', $yaml, '--json',
                                '--since', '2026-03-01', '--until', '2026-03-31'],
                       env => {CELLCRASH_MODE => $mode, CELLCRASH_SECRET => 'hush-1234'});
    $r->{secs} = time - $t0;
    $r->{doc} = eval { json()->decode($r->{out}) };
    return $r;
}

# Processes whose command line names this test's directory.
sub leftovers {
    my @left;
    for my $p (glob '/proc/[0-9]*') {
        open my $fh, '<', "$p/cmdline" or next;
        my $cmd = do { local $/; <$fh> } // '';
        push @left, $p if index($cmd, $dir) >= 0;
    }
    return scalar @left;
}

my $ok = report('cells');
is($ok->{rc}, 0, 'a healthy plugin: exit 0') or diag $ok->{err};
my $day = $ok->{doc} && $ok->{doc}{days}[0];
is($day && $day->{date}, '2026-03-10', 'its cell is reported');
is($day && $day->{tokens_output}, 100,
   'output 100: the undeclared variable reached neither getenv nor /proc/self/environ, and libcurl is not mapped');

my %want = (
    segv => qr/collection failed \(crashed\): helper process died of SIGSEGV/,
    exit => qr/collection failed \(crashed\): helper process exited with status 3 without a result/,
    hang => qr/collection failed \(timeout\): collection exceeded its timeout of 2000 ms/,
);
for my $mode (qw(segv exit hang)) {
    my $r = report($mode);
    is($r->{rc}, 0, "$mode: the report still exits 0") or diag $r->{err};
    is($r->{signal}, 0, "$mode: the report was not killed");
    like($r->{err}, $want{$mode}, "$mode: the warning names what happened");
    ok($r->{doc} && ref $r->{doc}{days} eq 'ARRAY', "$mode: the report is printed");
    is(scalar @{ $r->{doc}{days} || [1] }, 0, "$mode: no usage from the failed run");
    is(leftovers(), 0, "$mode: no helper left running");
    if ($mode eq 'hang') {
        cmp_ok($r->{secs}, '>=', 1.9, 'hang: ended at the timeout, not before');
        cmp_ok($r->{secs}, '<', 10, 'hang: ended soon after the timeout');
    }
}

done_testing();
