#!/usr/bin/perl
# A helper's stdout and stderr never reach the daemon's log raw: each
# line is labelled with the instance, control characters are escaped,
# and at most 8 KiB per collection is logged, the rest counted in one
# line.  20 MiB of junk with a forged log line and terminal escapes
# leaves the log small, the forgery labelled and no raw escape byte.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(start_meterd wait_until);

my $d = start_meterd(config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
providers:
  noisy:
    plugin: @ROOT@/t/plugins/junk.so
    interval: 1h
    timeout: 20s
Y
my $m = $d->wait_runs('noisy', 1, 30);
is($m && $m->{status}, 'ok', 'the collection itself succeeds');
ok(wait_until(sub { $d->log_text =~ /more bytes not logged/ }, 10), 'the cut is logged');
my $log = $d->log_text;
cmp_ok(length $log, '<', 64 * 1024, sprintf('the log stays small (%d bytes after 20 MiB of output)', length $log));
unlike($log, qr/^error: meterd: FORGED-LINE/m, 'a forged log line does not start a line of the log');
like($log, qr/noisy: plugin output: error: meterd: FORGED-LINE/, '... it is labelled with the instance');
unlike($log, qr/\x1b|\a/, 'no raw escape or bell byte reaches the log');
like($log, qr/\\x1b|\\e|\\033|\\u001b/i, 'the escape is shown escaped');
like($log, qr/noisy: plugin output: (\d+) more bytes not logged/, 'the rest is counted in one line');
$d->stop;
done_testing;
