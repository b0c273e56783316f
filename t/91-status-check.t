#!/usr/bin/perl
# meterd status and meterd check against a real daemon (tcp and unix
# socket), and against its snapshot once it has stopped: one line per
# family, unknown printed as "unknown", failing members listed, colours
# only on a terminal, and every exit code of check.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::IP;
use POSIX qw(strftime);
use Meterd qw(start_meterd run_meterd exec_script tmpdir write_file json root wait_until);

my $dir = tmpdir('status');
my $now = time;
my $at = sub { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($now + $_[0])) };
my %metrics = (
    good  => { id => 'w', kind => 'quota_window', unit => 'percent', utilization => 30,
               resets_at => $at->(2 * 3600 + 14 * 60 + 30) },
    low   => { id => 'rpm', kind => 'rate_limit', unit => 'requests', remaining => 5,
               resets_at => $at->(3600 + 30) },
    spent => { id => 'day', kind => 'quota_window', unit => 'requests', limit => 50,
               remaining => 0, used => 50, resets_at => $at->(3 * 3600 + 30) },
    blind => { id => 'w', kind => 'quota_window', unit => 'percent' },
    local => { id => 'tok', kind => 'usage', unit => 'tokens', used => 10, limit => 'n/a',
               remaining => 'n/a', utilization => 'n/a' },
);
my $providers = '';
for my $p (sort keys %metrics) {
    my $out = json->encode({ status => 'ok', metrics => [ $metrics{$p} ] });
    exec_script($dir, "$p.sh", "cat <<'J'\n$out\nJ\n");
    $providers .= "  $p:\n    plugin: exec\n    interval: 1h\n    command: [\"$dir/$p.sh\"]\n";
}
exec_script($dir, 'broken.sh', qq(echo '{"status":"error","error":{"class":"auth","message":"token expired"}}'\n));
$providers .= "  broken:\n    plugin: exec\n    interval: 1h\n    command: [\"$dir/broken.sh\"]\n";

my $d = start_meterd(config => "listen: 127.0.0.1:0\nstate_dir: \@STATE\@\n"
                              . "plugin_dir: \@ROOT\@/plugins\nproviders:\n$providers");
$d->wait_runs($_, 1, 30) or BAIL_OUT("$_ did not run") for (sort(keys %metrics), 'broken');
my $cfg = $d->dir . '/meterd.yaml';
my @url = ('--url', $d->base);
sub status { run_meterd(args => ['status', '-c', $cfg, @_]) }
sub check  { run_meterd(args => ['check', '-c', $cfg, @_]) }

# ---- status from the daemon ----
my $r = status(@url);
is($r->{rc}, 0, 'status exits 0') or diag $r->{err};
my @lines = split /\n/, $r->{out};
like($lines[0], qr/^FAMILY\s+STATUS\s+REMAINING\s+GOVERNING\s+UTILIZATION\s+RESETS IN\s+AGE$/,
     'a header line first (the daemon answered: no notice)');
my %row = map { /^(\S+)\s/ ? ($1 => $_) : () } grep { !/^\s/ } @lines[1 .. $#lines];
is_deeply([sort keys %row], [sort(keys(%metrics), 'broken')], 'one line per family');
like($row{good}, qr/^good\s+ok\s+70%\s+good\/w\s+30%\s+2h1[34]m\s+\d+s$/,
     'good: status, remaining with unit, governing meter, utilization, resets in, age');
like($row{low}, qr/^low\s+ok\s+5 requests\s+low\/rpm\s+unknown\s+(59m|1h)\s/,
     'low: remaining in its unit; a utilization the provider did not give is unknown');
like($row{blind}, qr/^blind\s+ok\s+unknown \(not_reported\)\s+none\s+unknown\s+unknown\s/,
     'unknown values print "unknown" with the reason, never 0');
unlike($row{blind}, qr/\b0%?\s/, 'and no 0 stands in for them');
like($row{broken}, qr/^broken\s+unavailable\s+unknown \(collection_failed\)\s+none\s/,
     'a family with no data');
like($r->{out}, qr/^broken\s.*\n\s+! broken: auth: token expired$/m,
     'its failing member is listed under it with error class and message');
unlike($r->{out}, qr/\e\[/, 'no colours when standard output is not a terminal');

$r = status(@url, '--json');
my $doc = eval { json->decode($r->{out}) };
my $api = $d->usage;
is($doc && $doc->{schema}, 'meterd.usage.v1', '--json prints the usage document');
is_deeply([map { $_->{provider} } @{ $doc->{providers} }],
          [map { $_->{provider} } @{ $api->{providers} }], 'as the API serves it');

# Colours on a terminal (script(1) gives the command a pty), not with
# NO_COLOR or --no-color.
SKIP: {
    skip 'script(1) not installed', 3 unless -x '/usr/bin/script';
    my $bin = root() . '/meterd';
    my $tty = sub { my ($env, @a) = @_;
        `env $env script -qec "$bin status -c $cfg @url @a" /dev/null 2>&1` };
    like($tty->('NO_COLOR='), qr/\e\[32mok\e\[0m/, 'colours on a terminal');
    unlike($tty->('NO_COLOR=1'), qr/\e\[/, 'none with NO_COLOR set');
    unlike($tty->('NO_COLOR=', '--no-color'), qr/\e\[/, 'none with --no-color');
}

# ---- check from the daemon: every exit code ----
my %want = (
    'good'                           => [0, qr/^good: usable: 70% left$/],
    'good --min-remaining 20%'       => [0, qr/^good: usable: 70% left >= 20%$/],
    'good --min-remaining 70%'       => [0, qr/usable/],
    'good --min-remaining 71%'       => [1, qr/^good: below threshold: 70% left < 71% \(resets at \S+, in 2h1[34]m\)$/],
    'low --min-remaining 5'          => [0, qr/^low: usable: 5 requests left >= 5 requests$/],
    'low --min-remaining 6'          => [1, qr/^low: below threshold: 5 requests left < 6 requests/],
    'low --min-remaining 10%'        => [2, qr/^low: unknown: remaining percentage of the governing meter is not reported$/],
    'spent --min-remaining 10%'      => [1, qr/^spent: exhausted/],
    'spent'                          => [1, qr/^spent: exhausted \(available again at \S+, in (2h59m|3h)\)$/],
    'spent --min-remaining 0'        => [1, qr/exhausted/],
    'blind'                          => [2, qr/^blind: unknown: no governing meter \(not_reported\)$/],
    'blind --min-remaining 1'        => [2, qr/^blind: unknown: no governing meter/],
    'broken'                         => [2, qr/^broken: unknown: every member failing/],
    'nosuch'                         => [2, qr/^nosuch: unknown: no such family$/],
    'local'                          => [0, qr/^local: usable: no quota applies$/],
);
for my $args (sort keys %want) {
    $r = check(@url, split(' ', $args));
    is($r->{rc}, $want{$args}[0], "check $args exits $want{$args}[0]") or diag $r->{out}, $r->{err};
    like($r->{out}, $want{$args}[1], "check $args says why");
}
$r = check(@url, 'spent', '--quiet');
is($r->{rc}, 1, '--quiet keeps the exit code');
is($r->{out} . $r->{err}, '', 'and prints nothing');
for my $bad (['good', '--min-remaining', 'abc'], ['good', '--min-remaining', '150%'],
             ['good', '--min-remaining', '-1'], [], ['a', 'b'], ['good', '--bogus'],
             ['good', '--url', 'ftp://x']) {
    $r = check(@$bad);
    is($r->{rc}, 3, "usage error (@$bad) exits 3");
}

# The commands once more under AddressSanitizer + LeakSanitizer (the
# t/meterd-asan build of the same sources): same exit code, no report.
my $asan = root() . '/t/meterd-asan';
sub asan_ok {
    my ($want, @args) = @_;
    SKIP: {
        skip 't/meterd-asan not built', 2 unless -x $asan;
        local $ENV{METERD_BIN} = $asan;
        my $a = run_meterd(args => \@args);
        is($a->{rc}, $want, "under ASan: @args[0,1] ... exits $want");
        unlike($a->{err} // '', qr/Sanitizer/, 'with no sanitizer report') or diag $a->{err};
    }
}
asan_ok(0, 'status', '-c', $cfg, @url);
asan_ok(1, 'check', '-c', $cfg, @url, 'good', '--min-remaining', '80%');

# ---- the address from the config: unix socket, host:port ----
my $sock = "$dir/m.sock";
my $d2 = start_meterd(config => "listen: unix:$sock\nstate_dir: \@STATE\@\n"
                               . "plugin_dir: \@ROOT\@/plugins\nproviders:\n$providers");
wait_until(sub { $r = run_meterd(args => ['check', '-c', $d2->dir . '/meterd.yaml', 'good']); $r->{rc} == 0 }, 30);
is($r->{rc}, 0, 'check reaches the daemon on the unix socket named by listen');
$r = run_meterd(args => ['status', '-c', $d2->dir . '/meterd.yaml']);
like($r->{out}, qr/^FAMILY/, 'so does status (no snapshot notice)');
$r = run_meterd(args => ['status', '-c', $cfg, '--url', "unix:$sock"]);
like($r->{out}, qr/^FAMILY.*\ngood\s+ok/s, 'and --url unix:/path');
$d2->stop;

for my $host ('127.0.0.1', '[::1]') {
    my $probe = IO::Socket::IP->new(Listen => 1, LocalHost => $host eq '[::1]' ? '::1' : $host,
                                    LocalPort => 0);
    SKIP: {
        skip "no $host here", 1 unless $probe;
        my $port = $probe->sockport;
        close $probe;
        my $d3 = eval { start_meterd(config => "listen: \"$host:$port\"\nstate_dir: \@STATE\@\n"
                                     . "plugin_dir: \@ROOT\@/plugins\nproviders:\n$providers") };
        skip "port $port taken meanwhile", 1 unless $d3;
        my $c3 = $d3->dir . '/meterd.yaml';
        wait_until(sub { $r = run_meterd(args => ['check', '-c', $c3, 'good']); $r->{rc} == 0 }, 30);
        is($r->{rc}, 0, "check reaches the daemon at listen $host:PORT");
        $d3->stop;
    }
}

# ---- the snapshot when no daemon answers ----
my $live = $d->usage;
is($d->stop, 0, 'daemon stopped (snapshot saved)');
my $dead = IO::Socket::IP->new(Listen => 1, LocalHost => '127.0.0.1', LocalPort => 0);
my $dead_port = $dead->sockport;
close $dead;   # nothing listens there now
my @dead = ('--url', "http://127.0.0.1:$dead_port");
$r = status(@dead);
is($r->{rc}, 0, 'status without a daemon exits 0 (snapshot)') or diag $r->{err};
like((split /\n/, $r->{out})[0],
     qr/^daemon not reachable at http:\/\/127\.0\.0\.1:$dead_port \(.+\); showing snapshot from \d{4}-\d\d-\d\dT\S+Z \(age \d+s\)$/,
     'the first line says the daemon is not reachable and how old the snapshot is');
like($r->{out}, qr/^good\s+ok\s+70%\s+good\/w\s+30%/m, 'the rows follow');
$r = status(@dead, '--json');
my $snap = eval { json->decode($r->{out}) };
is($snap && $snap->{meta}{data_source}, 'snapshot_fallback', '--json: data_source snapshot_fallback');
like($r->{err}, qr/^daemon not reachable/, 'and the notice on standard error');
my @keys = qw(provider status usage_remaining usage_remaining_unit usage_remaining_reason
              governing_metric available_again_at actual_current_usage actual_current_usage_unit
              metrics notes);
my $proj = sub { [ map { my $row = $_; +{ map { $_ => $row->{$_} } @keys } } @{ $_[0]{providers} } ] };
is_deeply($proj->($snap), $proj->($live), 'the snapshot rows are those the daemon served');
is_deeply([map { [map { [$_->{name}, $_->{error}] } @{ $_->{members} }] } @{ $snap->{providers} }],
          [map { [map { [$_->{name}, $_->{error}] } @{ $_->{members} }] } @{ $live->{providers} }],
          'with the same member errors');

$r = check(@dead, 'good', '--min-remaining', '50%');
is($r->{rc}, 0, 'check on the snapshot: usable');
like($r->{out}, qr/\[from the snapshot: daemon not reachable\]$/, 'and says where it looked');
$r = check(@dead, 'spent');
is($r->{rc}, 1, 'check on the snapshot: exhausted');
asan_ok(0, 'status', '-c', $cfg, @dead);
asan_ok(2, 'check', '-c', $cfg, @dead, 'blind');

# listen 127.0.0.1:0 in the config names no port to ask: snapshot.
$r = status();
like($r->{out}, qr/^daemon not reachable at \(no address\) \(listen 127\.0\.0\.1:0: .*pass --url\)/,
     'a config listening on port 0: the snapshot, and why');

# Neither daemon nor snapshot.
my $empty = tmpdir('nostate');
write_file("$empty/m.yaml", "listen: 127.0.0.1:$dead_port\nstate_dir: $empty/state\n"
                          . "plugin_dir: ${\ root()}/plugins\nproviders: {}\n");
$r = run_meterd(args => ['check', '-c', "$empty/m.yaml", 'good']);
is($r->{rc}, 3, 'check with neither daemon nor snapshot exits 3');
like($r->{err}, qr/daemon not reachable at http:\/\/127\.0\.0\.1:$dead_port .*no snapshot at/,
     'and says both');
$r = run_meterd(args => ['status', '-c', "$empty/m.yaml"]);
is($r->{rc}, 3, 'status too');
$r = run_meterd(args => ['check', '-c', '/nonexistent/meterd.yaml', @dead, 'good']);
is($r->{rc}, 3, 'an unreachable --url and no config: 3');
done_testing;
