#!/usr/bin/perl
# Cost of Claude Code log lines priced one by one, as ccusage does, through
# the public CLI (`meterd report daily --json`): in one 15-minute cell of
# one model, a line that carries its own costUSD keeps that figure, the
# other lines are priced from their tokens, and a line whose cache reads
# pass 200 000 tokens pays the long-context price on the excess of that
# line alone.  A model without a price whose lines all carry costUSD still
# has a cost.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(make_path);
use POSIX qw(strftime);
use Meterd qw(run_meterd tmpdir json write_file);

my $dir = tmpdir('costparts');
make_path("$dir/claude/projects/-home-dev-proj");
mkdir "$dir/state", 0700 or die;
chmod 0700, "$dir/state";
# yesterday (UTC), inside the default retention
my $day = strftime('%Y-%m-%d', gmtime(time - 86400));

my $n = 0;
sub line {
    my (%o) = @_;
    $n++;
    my %l = (
        type => 'assistant', timestamp => "${day}T$o{at}.000Z", sessionId => 's1',
        version => $o{version} // '2.0.14', requestId => "req_$n", cwd => '/home/dev/proj',
        isSidechain => JSON::PP::false, uuid => "u$n",
        message => { id => "msg_$n", model => $o{model}, role => 'assistant', usage => $o{usage} },
    );
    $l{costUSD} = $o{cost} if defined $o{cost};
    return json->encode(\%l) . "\n";
}

my $sonnet = 'claude-sonnet-4-5-20250929';
my $jsonl =
    # (a) an old line with its own cost: $0.50, whatever its tokens would cost
    line(at => '10:00:05', version => '1.0.30', model => $sonnet, cost => 0.5,
         usage => { input_tokens => 100, output_tokens => 1000,
                    cache_creation_input_tokens => 0, cache_read_input_tokens => 0 }) .
    # (b) a normal line: priced from its tokens
    line(at => '10:03:00', model => $sonnet,
         usage => { input_tokens => 10, output_tokens => 2000,
                    cache_creation_input_tokens => 4000, cache_read_input_tokens => 50000,
                    cache_creation => { ephemeral_5m_input_tokens => 3000,
                                        ephemeral_1h_input_tokens => 1000 } }) .
    # (c) a long-context line: 250 000 cache reads in one message
    line(at => '10:07:30', model => $sonnet,
         usage => { input_tokens => 5, output_tokens => 500,
                    cache_creation_input_tokens => 0, cache_read_input_tokens => 250000 }) .
    # (d) a model the table does not price, every line self-priced
    line(at => '11:00:00', version => '1.0.30', model => 'claude-mystery-9', cost => 0.25,
         usage => { input_tokens => 1, output_tokens => 1,
                    cache_creation_input_tokens => 0, cache_read_input_tokens => 0 });
write_file("$dir/claude/projects/-home-dev-proj/s1.jsonl", $jsonl);
write_file("$dir/meterd.yaml", <<Y);
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: ${\ Meterd::root()}/plugins
aliases: ""
providers:
  claude-logs:
    plugin: claude_logs
    roots: ["$dir/claude"]
    interval: 1h
Y

my $r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--provider', 'claude-logs',
                            '--since', $day, '--until', $day, '--tz', 'UTC', '--json']);
is($r->{rc}, 0, 'meterd report daily exits 0') or diag $r->{err};
my $rep = eval { json->decode($r->{out}) } // {};
my $d = $rep->{days}[0] // {};
is($d->{date}, $day, 'the fixture day');
my %m = map { ($_->{model} // '') => $_ } @{ $d->{models} // [] };

# claude-sonnet-4-5 per token (the built-in table, from LiteLLM): input
# $3e-6, output $15e-6, 5-minute cache write $3.75e-6, cache read $0.3e-6;
# above 200k tokens: input $6e-6, output $22.5e-6, cache write $7.5e-6,
# cache read $0.6e-6; one-hour cache write 2 x input = $6e-6.
#   (a) own cost                                            0.500000
#   (b) 10 x 3e-6 = 0.00003, 2000 x 15e-6 = 0.03,
#       3000 x 3.75e-6 = 0.01125, 1000 x 6e-6 = 0.006,
#       50000 x 0.3e-6 = 0.015                              0.062280
#   (c) 5 x 3e-6 = 0.000015, 500 x 15e-6 = 0.0075,
#       200000 x 0.3e-6 + 50000 x 0.6e-6 = 0.09             0.097515
#   sonnet                                                  0.659795
# Priced whole, the cell would cost 0.160095 (the own cost dropped, and
# the mean of 100 000 cache reads per message below the tier).
my $s = $m{$sonnet} // {};
is($s->{events}, 3, 'three sonnet lines in the day');
is($s->{tokens_cache_read}, 300000, 'their cache reads');
ok(defined $s->{cost_usd} && abs($s->{cost_usd} - 0.659795) < 1e-7,
   'sonnet: own cost + tokens priced per line, tier on the long line alone')
    or diag explain $s;
# (d) the unpriced model: its one line carries $0.25
my $x = $m{'claude-mystery-9'} // {};
ok(defined $x->{cost_usd} && abs($x->{cost_usd} - 0.25) < 1e-7,
   'a model without a price costs its lines\' own figures')
    or diag explain $x;
ok(defined $d->{cost_usd} && abs($d->{cost_usd} - 0.909795) < 1e-7,
   'the day: 0.659795 + 0.25')
    or diag explain $d;

# Another zone reads the cells instead of the UTC day rollup: same cost.
$r = run_meterd(args => ['report', 'daily', '-c', "$dir/meterd.yaml", '--provider', 'claude-logs',
                         '--since', $day, '--until', $day, '--tz', 'Europe/Berlin', '--json']);
$rep = eval { json->decode($r->{out}) } // {};
$d = $rep->{days}[0] // {};
ok(defined $d->{cost_usd} && abs($d->{cost_usd} - 0.909795) < 1e-7,
   'the same cost from the cells (Europe/Berlin: 10:00-11:00 UTC is the same day)')
    or diag explain $d;

done_testing;
