#!/usr/bin/perl
# StrictModes and the state directory, as root: meterd -t, start-up and
# reload refuse a configuration file, drop-in, alias map, plugin directory
# or plugin .so that someone else can change (by its mode, its owner, or a
# directory above it), naming the file and the reason as file:0:0; a
# state_dir open to group or others is refused too.  Fixed modes pass.
# Also, end to end: an exec provider over quota (100.4 %, and used past
# its limit) makes an exhausted family row with remaining 0.
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use Test::More;
use Meterd qw(start_meterd run_meterd exec_script tmpdir write_file wait_until root);

plan skip_all => 'StrictModes apply only when meterd runs as root' if $> != 0;

my $dir = tmpdir('strict');
chmod 0755, $dir;
mkdir "$dir/plugins", 0755;
copy(root() . '/plugins/exec.so', "$dir/plugins/exec.so") or die "copy: $!";
chmod 0755, "$dir/plugins/exec.so";
mkdir "$dir/state", 0700;
mkdir "$dir/conf.d", 0755;
my $script = exec_script($dir, 'over.sh', <<'SH');
cat <<'JSON'
{"status": "ok", "metrics": [
  {"id": "weekly", "kind": "quota_window", "unit": "percent", "utilization": 100.4},
  {"id": "spend", "kind": "budget", "unit": "usd", "used": 120, "limit": 100}
]}
JSON
SH
my $conf = "$dir/meterd.yaml";
my $yaml = <<"Y";
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: $dir/plugins
include: conf.d/*.yaml
aliases: $dir/aliases.yaml
providers:
  over:
    plugin: exec
    command: ["$script"]
    interval: 1h
Y
write_file($conf, $yaml, 0644);
write_file("$dir/conf.d/a.yaml", "timeout: 5s\n", 0644);
write_file("$dir/aliases.yaml", "families:\n  meter: [over]\n", 0644);

sub check_t { run_meterd(args => ['-t', '-c', $conf]) }

my $r = check_t();
is($r->{rc}, 0, '-t: root-owned files without group/other write pass') or diag $r->{err};

# Each file the configuration trusts, made writable by others in turn.
for my $case (['meterd.yaml', 0664, qr{\Q$conf\E:0:0: refused: is writable by group \(mode 0664\)}],
              ['conf.d/a.yaml', 0646, qr{conf\.d/a\.yaml:0:0: refused: is writable by others \(mode 0646\)}],
              ['aliases.yaml', 0666, qr{aliases\.yaml:0:0: refused: is writable by group and others}],
              ['plugins/exec.so', 0775, qr{plugins/exec\.so:0:0: plugin of provider 'over' refused: is writable by group \(mode 0775\)}],
              ['plugins', 0777, qr{\Q$dir\E/plugins:0:0: plugin directory refused: is writable by group and others \(mode 0777\)}]) {
    my ($f, $mode, $re) = @$case;
    my $old = (stat "$dir/$f")[2] & 07777;
    chmod $mode, "$dir/$f";
    $r = check_t();
    is($r->{rc}, 1, sprintf('-t: %s at mode %04o is refused', $f, $mode));
    like($r->{err}, $re, "-t: ... the message names $f and the reason") or diag $r->{err};
    chmod $old, "$dir/$f";
}

# Owned by another user; a directory above owned by another user.
chown 4242, 4242, "$dir/conf.d/a.yaml";
$r = check_t();
is($r->{rc}, 1, '-t: a drop-in owned by uid 4242 is refused');
like($r->{err}, qr{conf\.d/a\.yaml:0:0: refused: is owned by uid 4242}, '-t: ... named, with the owner');
chown 0, 0, "$dir/conf.d/a.yaml";
chown 4242, 4242, "$dir/plugins";
$r = check_t();
is($r->{rc}, 1, '-t: a plugin below a directory owned by uid 4242 is refused');
like($r->{err}, qr{exec\.so:0:0: plugin of provider 'over' refused: directory \Q$dir\E/plugins is owned by uid 4242},
     '-t: ... naming the directory');
chown 0, 0, "$dir/plugins";

# A world-writable directory above the main file: refused unless it is
# sticky and root's (as /tmp is), and refused when sticky but another
# user's.
my $sub = "$dir/open";
mkdir $sub;
chmod 0777, $sub;
write_file("$sub/m.yaml", "listen: 127.0.0.1:0\nstate_dir: $dir/state\n", 0644);
$r = run_meterd(args => ['-t', '-c', "$sub/m.yaml"]);
is($r->{rc}, 1, '-t: a config in a world-writable directory is refused');
like($r->{err}, qr{m\.yaml:0:0: refused: directory \Q$sub\E is writable by group and others \(mode 0777\)},
     '-t: ... naming the directory and its mode');
chmod 01777, $sub;
$r = run_meterd(args => ['-t', '-c', "$sub/m.yaml"]);
unlike($r->{err}, qr{refused}, '-t: a root-owned sticky directory (as /tmp) is accepted');
chown 4242, 4242, $sub;
$r = run_meterd(args => ['-t', '-c', "$sub/m.yaml"]);
like($r->{err}, qr{refused: directory \Q$sub\E is owned by uid 4242},
     '-t: a sticky directory of another user is refused');
chown 0, 0, $sub;

# state_dir open to group or others: -t and start-up refuse it.
chmod 0755, "$dir/state";
$r = check_t();
is($r->{rc}, 1, '-t: a state_dir at 0755 is refused');
like($r->{err}, qr{state_dir \Q$dir\E/state is open to group or others \(mode 0755\)}, '-t: ... with a clear message');
$r = run_meterd(args => ['-c', $conf]);
is($r->{rc}, 1, 'start-up: a state_dir at 0755 is refused');
like($r->{err}, qr{state_dir \Q$dir\E/state is open to group or others}, 'start-up: ... with the same message');
chmod 0700, "$dir/state";

# A missing state_dir is created 0700.
my $fresh = "$dir/fresh";
write_file("$dir/fresh.yaml", "listen: 127.0.0.1:0\nstate_dir: $fresh/state\n", 0644);
my $d2 = start_meterd(dir => tmpdir('fresh'), config => "listen: 127.0.0.1:0\nstate_dir: $fresh/state\n");
is((stat "$fresh/state")[2] & 07777, 0700, 'start-up creates a missing state_dir 0700');
$d2->stop;

# Running daemon: over quota end to end, then a refused reload.
my $d = start_meterd(dir => $dir, args => []);
ok($d->wait_runs('over', 1, 30), 'over collected');
my ($st, $u) = $d->get('/api/automation/usage');
my ($row) = grep { $_->{provider} eq 'meter' } @{ $u->{providers} };
ok($row, 'the family row is there') or diag explain $u;
is($row->{governing_metric}{reason}, 'exhausted', 'over quota: the family row governs as exhausted') or diag explain $row;
is($row->{usage_remaining}, 0, 'over quota: remaining 0, never negative');
my %m = map { $_->{id} => $_ } @{ $row->{metrics} };
is($m{weekly}{utilization}, 100.4, 'a reported 100.4 % is kept as 100.4');
is($m{spend}{remaining}, 0, 'used 120 of 100: remaining 0');
is($m{spend}{utilization}, 120, 'used 120 of 100: utilization 120');
is_deeply([sort @{ $m{spend}{derived} }], [qw(remaining utilization)], 'both derived');

chmod 0664, "$dir/conf.d/a.yaml";
$d->hup;
ok(wait_until(sub { $d->log_text =~ /reload failed; keeping the running configuration/ }),
   'reload: a group-writable drop-in is refused, the running configuration kept');
like($d->log_text, qr{conf\.d/a\.yaml:0:0: refused: is writable by group}, 'reload: ... the log names it');
($st) = $d->get('/api/automation/usage');
is($st, 200, 'still serving');
chmod 0644, "$dir/conf.d/a.yaml";
done_testing();
