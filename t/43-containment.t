#!/usr/bin/perl
# Everything a collection starts dies with it: a `sleep 4242 MARKER`
# started by a plugin (or by the exec plugin's command, which runs in a
# process group of its own) is gone, within a bounded wait, after each
# way a collection can end abnormally: the deadline kill of a stalled
# helper, SIGTERM of the daemon, a SIGHUP that removes the provider,
# kill -9 of the daemon, and a child that called setsid() after its
# collection ended normally.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd tmpdir wait_until write_file);

# Each scenario gets its own marker: sleep adds its arguments, so
# "sleep 4242 0.00NNNNN" behaves like any long sleep.
my $seq = 0;
sub new_marker { sprintf('0.00%05d%d', $$ % 100000, ++$seq) }

sub marked {
    my ($marker) = @_;
    my @pids;
    opendir my $dh, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/cmdline" or next;
        local $/;
        my $cmd = <$fh> // '';
        next unless $cmd eq "sleep\0" . "4242\0$marker\0";
        # a zombie is dead; its parent merely has not reaped it yet
        open my $st, '<', "/proc/$pid/stat" or next;
        my $stat = <$st> // '';
        push @pids, $pid unless $stat =~ /^\d+ \(.*\) Z /;
    }
    return @pids;
}

sub cleanup { my @p = @_; kill 'KILL', @p if @p }

sub config_for {
    my ($provider) = @_;
    return "listen: 127.0.0.1:0\nstate_dir: \@STATE\@\n"
         . "plugin_dir: \@ROOT\@/plugins\nproviders:\n$provider";
}

sub spawner {
    my ($marker, %o) = @_;
    my $escape = $o{escape} // 'pgrp';
    my $hang = $o{hang} // 'no';
    my $timeout = $o{timeout} // '30s';
    return "  spawn:\n    plugin: \@ROOT\@/t/plugins/spawner.so\n"
         . "    interval: 1h\n    timeout: $timeout\n"
         . "    marker: \"$marker\"\n    escape: $escape\n    hang: $hang\n";
}

sub exec_sleeper {
    my ($marker) = @_;
    return "  sleeper:\n    plugin: exec\n    interval: 1h\n    timeout: 30s\n"
         . "    command: [\"sleep\", \"4242\", \"$marker\"]\n";
}

sub none_left {
    my ($marker, $what) = @_;
    my $gone = wait_until(sub { !marked($marker) }, 5);
    my @left = marked($marker);
    ok($gone && !@left, "$what: no marked process left") or diag("left: @left");
    cleanup(@left);
}

# 1. The deadline kills a stalled helper whose child leads its own group.
{
    my $m = new_marker();
    my $d = start_meterd(config => config_for(spawner($m, hang => 'yes', timeout => '1500ms')));
    ok(wait_until(sub { marked($m) }, 10), 'deadline: the stalled plugin started its child');
    my $r = wait_until(sub { my $x = $d->member('spawn'); $x && $x->{runs} >= 1 ? $x : undef }, 15);
    is($r && $r->{error}{class}, 'timeout', 'deadline: the collection timed out');
    none_left($m, 'deadline kill of a stalled helper');
    $d->stop;
}

# 2. SIGTERM of the daemon while the exec command runs (own group).
{
    my $m = new_marker();
    my $d = start_meterd(config => config_for(exec_sleeper($m)));
    ok(wait_until(sub { marked($m) }, 10), 'SIGTERM: the exec command runs');
    my $st = $d->stop(15);
    isnt($st, 'timeout', 'SIGTERM: the daemon exits');
    none_left($m, 'SIGTERM of the daemon');
}

# 3. A SIGHUP whose configuration no longer has the provider.
{
    my $m = new_marker();
    my $d = start_meterd(config => config_for(exec_sleeper($m)));
    ok(wait_until(sub { marked($m) }, 10), 'SIGHUP: the exec command runs');
    write_file($d->dir . '/meterd.yaml',
               Meterd::subst(config_for(spawner(new_marker()) =~ s/hang: no/hang: no/r), $d->dir));
    $d->hup;
    none_left($m, 'SIGHUP removing the provider');
    $d->stop;
    cleanup(marked($m));
}

# 4. kill -9 of the daemon while a helper hangs (its child in its own group).
{
    my $m = new_marker();
    my $d = start_meterd(config => config_for(spawner($m, hang => 'yes')));
    ok(wait_until(sub { marked($m) }, 10), 'kill -9: the hung plugin started its child');
    $d->kill9;
    none_left($m, 'kill -9 of the daemon');
}

# 5. A child that calls setsid() and outlives a collection that succeeded.
{
    my $m = new_marker();
    my $d = start_meterd(config => config_for(spawner($m, escape => 'setsid')));
    my $r = wait_until(sub { my $x = $d->member('spawn'); $x && $x->{runs} >= 1 ? $x : undef }, 15);
    is($r && $r->{status}, 'ok', 'setsid: the collection itself succeeded');
    none_left($m, 'a setsid() child after its collection');
    $d->stop;
}

done_testing;
