#!/usr/bin/perl
# max_concurrent_collections bounds how many helpers run at once: 24
# providers whose commands each take 0.5 s never overlap more than 4 at
# a time with the limit 4, and every one of them still runs promptly
# (waiting for a slot, not for its interval).  A start that fails for
# lack of descriptors is retried in seconds: with a descriptor limit too
# small for the helpers, every provider still collects.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd exec_script tmpdir wait_until read_file);

my $n = 24;
my $dir = tmpdir('conc');
exec_script($dir, 'slow.sh', <<'S');
echo "+ $(date +%s.%N)" >> "$1"
sleep 0.5
echo "- $(date +%s.%N)" >> "$1"
echo '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":5}]}'
S
my $providers = join '', map { "  p$_:\n    plugin: exec\n    interval: 1h\n    timeout: 20s\n"
                                 . "    command: [\"\@DIR\@/slow.sh\", \"\@DIR\@/events\"]\n" } 1 .. $n;
my $d = start_meterd(dir => $dir, config => <<"Y" . $providers);
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
max_concurrent_collections: 4
providers:
Y
my $all = wait_until(sub { (() = (read_file("$dir/events") // '') =~ /^-/mg) >= $n }, 30);
ok($all, "all $n providers collected");
my @ev = sort { $a->[0] <=> $b->[0] } map { /^([+-]) (\S+)/ ? [$2, $1] : () } split /\n/, read_file("$dir/events") // '';
my ($cur, $max) = (0, 0);
for my $e (@ev) { $cur += $e->[1] eq '+' ? 1 : -1; $max = $cur if $cur > $max }
cmp_ok($max, '<=', 4, "at most 4 commands ran at once (saw $max)");
cmp_ok($max, '>=', 2, "... and they did run in parallel (saw $max)");
my $m = $d->member('p1');
is($m->{failures}, 0, 'no provider failed while waiting for a slot');
$d->stop;

# Descriptors: a limit of 100 leaves room for few helpers besides the
# daemon's own descriptors.
my $dir2 = tmpdir('conc-fd');
local $ENV{METERD_WRAPPER} = 'prlimit --nofile=100:100 --';
exec_script($dir2, 'slow.sh', read_file("$dir/slow.sh") =~ s/^#!\/bin\/sh\n//r);
my $d2 = start_meterd(dir => $dir2, args => [], config => <<"Y" . ($providers =~ s/p(\d+):/q$1:/gr));
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
max_concurrent_collections: 24
providers:
Y
ok(wait_until(sub { (() = (read_file("$dir2/events") // '') =~ /^-/mg) >= $n }, 40),
   "all $n providers collected under a descriptor limit of 100");
my $fails = 0;
for my $i (1 .. $n) { my $x = $d2->member("q$i"); $fails += $x ? $x->{failures} : 1 }
is($fails, 0, 'none failed (descriptors kept in reserve; a failed start retried in seconds)');
$d2->stop;
done_testing;
