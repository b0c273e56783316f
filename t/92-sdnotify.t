#!/usr/bin/perl
# Readiness notification (Type=notify): READY=1 only once the HTTP
# listener answers and the snapshot is loaded; RELOADING=1 (with
# MONOTONIC_USEC) then READY=1 around SIGHUP; STOPPING=1 on SIGTERM; the
# abstract-namespace form of NOTIFY_SOCKET; helpers do not inherit it.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_DGRAM);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use Meterd qw(start_meterd exec_script tmpdir write_file read_file json root wait_until);

my $dir = tmpdir('sdnotify');
exec_script($dir, 'seed.sh', qq(env >$dir/helper-env\necho '{"status":"ok","metrics":[{"id":"w","kind":"quota_window","unit":"percent","utilization":42}]}'\n));

# A snapshot to load: one daemon run that collected once.
my $seed = start_meterd(dir => $dir, config => <<"Y");
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: ${\ root()}/plugins
providers:
  seed:
    plugin: exec
    interval: 1h
    command: ["$dir/seed.sh"]
Y
$seed->wait_runs('seed', 1, 30) or BAIL_OUT('seed did not collect');
is($seed->stop, 0, 'first run stopped, snapshot saved');
unlink "$dir/helper-env";

# The next run's provider hangs, so whatever it serves comes from the
# snapshot.
write_file("$dir/hang.yaml", <<"Y");
listen: 127.0.0.1:0
state_dir: $dir/state
plugin_dir: ${\ root()}/plugins
providers:
  seed:
    plugin: ${\ root()}/t/plugins/hang.so
    interval: 1h
    timeout: 60s
  envdump:
    plugin: exec
    interval: 1h
    command: ["$dir/seed.sh"]
Y

sub listener {
    my ($name) = @_;
    return IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $name)
        || die "notify socket $name: $!";
}

# Next datagram, or undef after $timeout seconds.
sub next_msg {
    my ($sock, $timeout) = @_;
    return undef unless IO::Select->new($sock)->can_read($timeout // 20);
    my $buf;
    defined $sock->recv($buf, 4096) or return undef;
    return $buf;
}

sub spawn {
    my ($notify, $log) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $ENV{NOTIFY_SOCKET} = $notify;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or die;
        open STDERR, '>>', $log or die;
        exec(root() . '/meterd', '-c', "$dir/hang.yaml") or POSIX::_exit(127);
    }
    return $pid;
}

my $pid;
END { if ($pid && kill 0, $pid) { kill 'KILL', $pid; waitpid $pid, 0 } }

sub stop_pid {
    my ($pid) = @_;
    kill 'TERM', $pid;
    wait_until(sub { waitpid($pid, WNOHANG) == $pid }, 20) or do { kill 'KILL', $pid; waitpid $pid, 0 };
    return $?;
}

my $path = "$dir/notify.sock";
my $sock = listener($path);
my $log = "$dir/notify.log";
$pid = spawn($path, $log);

my $ready = next_msg($sock);
like($ready // '', qr/^READY=1$/m, 'READY=1 arrives');
like($ready // '', qr/^STATUS=listening on 127\.0\.0\.1:\d+$/m, 'with a STATUS line naming the address');
# Right now, with no waiting: the listener must already answer and serve
# the snapshot's data.
my ($addr) = (read_file($log) // '') =~ m{listening on http://(\S+)};
ok($addr, 'the daemon had logged its address before READY');
my $http = HTTP::Tiny->new(timeout => 5);
my $h = $addr ? $http->get("http://$addr/healthz") : {};
is($h->{status}, 200, '/healthz answers at READY');
my $u = $addr ? eval { json->decode($http->get("http://$addr/api/automation/usage")->{content}) } : undef;
my ($row) = grep { $_->{provider} eq 'seed' } @{ $u->{providers} || [] };
is($row && $row->{usage_remaining}, 58, 'the snapshot is loaded at READY');
is($row && $row->{served_from}, 'snapshot', 'and served as such');
is(next_msg($sock, 1), undef, 'READY is sent once');

# Helpers (and the commands they run) do not inherit NOTIFY_SOCKET.
wait_until(sub { -s "$dir/helper-env" }, 20);
my $env = read_file("$dir/helper-env") // '';
ok(length $env, 'the exec helper ran');
unlike($env, qr/^NOTIFY_SOCKET=/m, 'without NOTIFY_SOCKET in its environment');

# Reload: RELOADING=1 with the monotonic clock, then READY=1.
my $before = int(clock_gettime(CLOCK_MONOTONIC) * 1e6);
kill 'HUP', $pid;
my $reloading = next_msg($sock) // '';
my $after = int(clock_gettime(CLOCK_MONOTONIC) * 1e6);
like($reloading, qr/^RELOADING=1$/m, 'SIGHUP: RELOADING=1 first');
my ($usec) = $reloading =~ /^MONOTONIC_USEC=(\d+)$/m;
ok(defined $usec && $usec >= $before && $usec <= $after,
   'with MONOTONIC_USEC taken during the reload') or diag "$before <= $usec <= $after";
like(next_msg($sock) // '', qr/^READY=1$/m, 'then READY=1');

# A refused reload is still a finished reload for the service manager.
my $good = read_file("$dir/hang.yaml");
write_file("$dir/hang.yaml", "providers: [\n");
kill 'HUP', $pid;
like(next_msg($sock) // '', qr/^RELOADING=1$/m, 'bad config: RELOADING=1');
like(next_msg($sock) // '', qr/^READY=1$/m, 'then READY=1 (running config kept)');
write_file("$dir/hang.yaml", $good);

kill 'TERM', $pid;
like(next_msg($sock) // '', qr/^STOPPING=1$/m, 'SIGTERM: STOPPING=1');
is(stop_pid($pid), 0, 'and it exits 0');
close $sock;

# The abstract namespace: NOTIFY_SOCKET=@name.
my $name = "meterd-test-$$-" . int(rand(1e9));
my $abs = listener("\0$name");
$pid = spawn("\@$name", $log);
like(next_msg($abs) // '', qr/^READY=1$/m, 'READY=1 over an abstract socket (@name)');
kill 'TERM', $pid;
like(next_msg($abs) // '', qr/^STOPPING=1$/m, 'STOPPING=1 too');
stop_pid($pid);
done_testing;
