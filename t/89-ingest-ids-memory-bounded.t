#!/usr/bin/perl
# The remembered ingest ids stay small in memory: 10 000 unique ids (the
# most the daemon remembers) grow its RSS by a few MiB, not by the
# ~50 MiB it took to keep each id's first answer as a jansson tree with
# its raw request.  The newest INGEST_KEEP_RESPONSES (1000) replay their
# first answer; older ones answer {"id", "duplicate": true}, as ids of an
# earlier run do.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use Meterd qw(start_gateway);

plan skip_all => 'RSS figures need glibc malloc, not a sanitizer or valgrind'
    if $ENV{METERD_WRAPPER} || ($ENV{METERD_BIN} // '') =~ /asan/;

my $d = start_gateway(name => 'ingestmem', meters => 0);
sub post { $d->post_telemetry($_[0], timeout => 60) }
sub turn {
    my ($id) = @_;
    return { provider => 'openai-gw', model => 'gpt-5.2', id => $id, at => '2026-03-10T13:58:05Z',
             usage => { prompt_tokens => 2000, completion_tokens => 300,
                        prompt_tokens_details => { cached_tokens => 1920 } },
             headers => { 'x-ratelimit-limit-requests' => '60',
                          'x-ratelimit-remaining-requests' => '42',
                          'x-ratelimit-reset-requests' => '6m0s' } };
}
sub rss_kb {
    open my $f, '<', '/proc/' . $d->pid . '/status' or return undef;
    while (<$f>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return undef;
}

# warm up: the first POSTs allocate what every later one reuses
my ($st) = post([map { turn("warm-$_") } 1 .. 1000]);
is($st, 200, 'a POST of 1000 items accepted');
my $before = rss_kb();
my $all = 1;
for my $k (1 .. 10) {
    ($st) = post([map { turn("id-$k-$_") } 1 .. 1000]);
    $all &&= $st == 200;
}
ok($all, '10 more POSTs of 1000 unique ids accepted');
my $after = rss_kb();
ok(defined $before && defined $after, "RSS read from /proc ($before -> $after kB)");
cmp_ok($after - $before, '<', 8 * 1024,
       'RSS grew by less than 8 MiB over 10 000 remembered ids');

my $doc;
($st, $doc) = post([turn('id-10-1000'), turn('id-9-1'), turn('id-1-1')]);
is($st, 200, 'replays accepted');
my @r = @{ $doc->{records} || [] };
ok($r[0]{duplicate} && $r[0]{model} && $r[0]{model} eq 'gpt-5.2',
   'the newest id replays its first answer');
ok($r[1]{duplicate} && $r[2]{duplicate}, 'older ones are still known (duplicates)');
is_deeply([sort keys %{ $r[2] }], [qw(duplicate id)],
          'an id older than the newest 1000 answers {"id", "duplicate"} only');
is($r[2]{id}, 'id-1-1', '... with its id');
done_testing;
