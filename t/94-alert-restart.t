#!/usr/bin/perl
# Alert state survives a restart (table alert_state of meterd.db): a meter
# still in its class is not re-announced, a class changed while down is
# announced exactly once from the restored class, a pending leave keeps
# its start (alert_hold counts across the restart), a restored state
# whose meter is gone is dropped, and a kill -9 restarts from the last
# committed state.  Everything through the notify command, the daemon's
# restarts and the sqlite3 CLI.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Meterd qw(start_meterd exec_script tmpdir json wait_until write_file read_file);

plan skip_all => 'needs the sqlite3 CLI' if system('sqlite3 -version >/dev/null 2>&1') != 0;

my $dir = tmpdir('alert-restart');
my $db = "$dir/state/meterd.db";
sub sql {
    my ($q) = @_;
    my $out = `sqlite3 -cmd '.timeout 5000' '$db' "$q"`;
    chomp $out;
    return $out;
}

# Each provider prints the credits meters of its file: "id remaining" lines.
sub meters {
    my ($name, %m) = @_;
    write_file("$dir/$name.m", join('', map { "$_ $m{$_}\n" } sort keys %m));
}
for my $p (qw(bal held)) {
    exec_script($dir, "$p.sh", <<SH);
awk 'BEGIN { printf "{\\"status\\":\\"ok\\",\\"metrics\\":[" }
  { printf "%s{\\"id\\":\\"%s\\",\\"kind\\":\\"credits\\",\\"unit\\":\\"usd\\",\\"remaining\\":%s}", (NR > 1 ? "," : ""), \$1, \$2 }
  END { print "]}" }' "$dir/$p.m"
SH
}
exec_script($dir, 'notify.sh', <<'SH');
cat >> "$(dirname "$0")/notified"
SH
meters('bal', a => 5, b => 50);     # topup_below 10: a topup, b ok
meters('held', h => 5);

my $HOLD = 6;
my $conf = <<Y;
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
forecast: {topup_below: 10, min_samples: 100000, alert_hold: 0s}
notify:
  command: ["$dir/notify.sh"]
  timeout: 5s
providers:
  bal: {plugin: exec, interval: 500ms, timeout: 450ms, command: ["$dir/bal.sh"]}
  held:
    plugin: exec
    interval: 500ms
    timeout: 450ms
    command: ["$dir/held.sh"]
    forecast: {alert_hold: ${HOLD}s}
Y
my $d = start_meterd(dir => $dir, config => $conf);

sub lines { [ map { json->decode($_) } split /\n/, read_file("$dir/notified") // '' ] }
sub keyed { [ map { "$_->{provider}/$_->{meter}:$_->{from}>$_->{to}" } @{ $_[0] } ] }
sub row { sql("SELECT class, out_since IS NOT NULL FROM alert_state WHERE provider = '$_[0]' AND meter = '$_[1]'") }
sub alert_of {
    my ($p, $m) = @_;
    my ($st, $doc) = $d->get('/api/quotas');
    return undef unless $st == 200;
    my ($e) = grep { $_->{provider} eq $p && $_->{meter} eq $m } @{ $doc->{quotas} };
    return $e ? $e->{alert} : undef;
}
# Runs after a (re)start: a few collections of both providers.
sub settle {
    my $b = $d->member('bal') // {};
    my $h = $d->member('held') // {};
    my ($nb, $nh) = (($b->{runs} // 0) + 3, ($h->{runs} // 0) + 3);
    ok($d->wait_runs('bal', $nb, 30) && $d->wait_runs('held', $nh, 30), $_[0]);
}

# ---- first classes, committed ----
ok(wait_until(sub { @{ lines() } >= 2 && row('held', 'h') eq 'topup|0' }, 30), 'first transitions notified');
is_deeply([ sort @{ keyed(lines()) } ], ['bal/a:unknown>topup', 'held/h:unknown>topup'],
          'unknown -> topup once each; b first seen ok is no news');
ok(wait_until(sub { row('bal', 'a') eq 'topup|0' && row('bal', 'b') eq 'ok|0' }, 10),
   'classes committed to alert_state');

# ---- restart with the meters in their class: nothing new ----
is($d->stop, 0, 'stopped');
$d->start;
settle('collected after the restart');
is(scalar @{ lines() }, 2, 'restart with a meter still in topup: no new notification');
is(alert_of('bal', 'a'), 'topup', 'and it is shown topup (restored)');

# ---- a class changed while down, a meter gone ----
$d->stop;
meters('bal', b => 5);
$d->start;
ok(wait_until(sub { @{ lines() } >= 3 }, 20), 'a notification after the restart');
settle('collected after the second restart');
my @new = @{ keyed(lines()) }[2 .. $#{ lines() }];
is_deeply(\@new, ['bal/b:ok>topup'], 'changed while down: exactly one, from the restored class');
ok(wait_until(sub { row('bal', 'a') eq '' }, 10), 'the state of a meter that is gone is dropped');

# ---- the hold survives a restart ----
meters('held', h => 50);
ok(wait_until(sub { row('held', 'h') eq 'topup|1' }, 20), 'leaving topup: held, its start committed');
my $left = time;
is(scalar @{ lines() }, 3, 'not notified while held');
$d->stop;
sleep($left + $HOLD + 0.5 - time) if $left + $HOLD + 0.5 > time;
my $restart = time;
$d->start;
ok(wait_until(sub { @{ lines() } >= 4 }, 20), 'notified after the restart');
my $l = lines()->[3];
is(keyed([$l])->[0], 'held/h:topup>ok', 'topup -> ok, from the restored class');
cmp_ok(Meterd::epoch($l->{at}), '<', $restart + $HOLD - 2,
       'at once: the hold counted from before the restart (not restarted)');
ok(wait_until(sub { row('held', 'h') eq 'ok|0' }, 10), 'committed ok');

# ---- kill -9 ----
meters('bal', b => 50);
ok(wait_until(sub { @{ lines() } >= 5 && row('bal', 'b') eq 'ok|0' }, 20), 'b topup -> ok notified and committed');
$d->kill9;
$d->start;
settle('collected after kill -9');
is(scalar @{ lines() }, 5, 'kill -9 after the commit: restored to it, nothing re-announced');
is(alert_of('bal', 'b'), 'ok', 'shown ok');

# Killed between a transition and its commit, the database still holds
# the class before it: that is what a restart restores and announces
# from (the snapshot says nothing about it).
$d->kill9;
sql("UPDATE alert_state SET class = 'topup' WHERE provider = 'bal' AND meter = 'b'");
$d->start;
ok(wait_until(sub { @{ lines() } >= 6 }, 20), 'the uncommitted transition is announced again');
settle('collected');
is_deeply([ @{ keyed(lines()) }[5 .. $#{ lines() }] ], ['bal/b:topup>ok'],
          'once, from the last committed class');
is($d->stop, 0, 'stopped cleanly');

done_testing;
