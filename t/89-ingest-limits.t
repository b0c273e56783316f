#!/usr/bin/perl
# POST /api/telemetry limits past which data is refused or held: an event
# time more than a day in the future is a 400; two large counts sum to
# 2^53 (known, with a note), not to an infinity stored as unknown.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use POSIX qw(strftime);
use Meterd qw(start_gateway json);

my $d = start_gateway(name => 'ingestlimits');
sub post { $d->post_telemetry($_[0], timeout => 20) }
sub at { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + $_[0])) }

my ($st, $doc) = post({ provider => 'openai-gw', at => at(86400 + 600),
                        usage => { prompt_tokens => 1, completion_tokens => 1 } });
is($st, 400, 'an event more than a day in the future is refused');
like($doc->{error}{message} // '', qr/future/, '... saying so') or diag explain $doc;
($st) = post({ provider => 'openai-gw', at => at(23 * 3600),
               usage => { prompt_tokens => 1, completion_tokens => 1 } });
is($st, 200, 'an event 23 h ahead (a skewed clock) is accepted');

for my $id (qw(big-1 big-2)) {
    ($st, $doc) = post({ provider => 'openai-gw', id => $id, model => 'm', at => '2026-03-10T10:00:00Z',
                         usage => { prompt_tokens => 9e15, completion_tokens => 1 } });
    is($st, 200, "$id accepted");
}
ok((grep { /2\^53/ } @{ $doc->{records}[0]{notes} || [] }), 'the second notes that its sum is held at 2^53')
    or diag explain $doc;
my ($dst, $daily) = $d->get('/api/usage/daily?provider=openai-gw&since=2026-03-10&until=2026-03-10');
cmp_ok($daily->{days}[0]{tokens_total} // -1, '==', 9007199254740992, '9e15 + 9e15 is held at 2^53, known') or diag explain $daily;
is($d->stop, 0, 'clean stop');
done_testing;
