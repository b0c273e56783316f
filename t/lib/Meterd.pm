package Meterd;
# Test harness for meterd integration tests: starts the real daemon on an
# ephemeral loopback port, the mock provider server, and talks HTTP.
# Only 127.0.0.1 is ever contacted.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Exporter 'import';

our @EXPORT_OK = qw(root tmpdir write_file read_file wait_until json start_mock
                    start_meterd run_meterd plugin exec_script epoch
                    send_request read_answer gateway_config gateway_script
                    start_gateway gateway_turn);

my $ROOT = abs_path(dirname(__FILE__) . '/../..');
my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my @CLEANUP;

sub root { $ROOT }

# RFC 3339 (UTC 'Z' or offset) -> epoch seconds; undef for undef.
sub epoch {
    my ($t) = @_;
    return undef unless defined $t;
    $t =~ /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/i
        or die "not RFC 3339: $t";
    require Time::Local;
    my $e = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) + ($7 // 0);
    if ($8 ne 'Z' && $8 ne 'z') {
        my ($sign, $h, $m) = $8 =~ /([+-])(\d\d):(\d\d)/;
        $e -= ($sign eq '+' ? 1 : -1) * ($h * 3600 + $m * 60);
    }
    return $e;
}
sub json { $JSON }
sub plugin { "$ROOT/plugins/$_[0].so" }
sub tplugin { "$ROOT/t/plugins/$_[0].so" }

# A fresh scratch directory under t/tmp, removed at exit when tests pass.
sub tmpdir {
    my ($name) = @_;
    $name //= 'test';
    my $dir = "$ROOT/t/tmp/$name-$$-" . int(rand(1e6));
    make_path($dir);
    return $dir;
}

sub write_file {
    my ($path, $content, $mode) = @_;
    make_path(dirname($path));
    open my $fh, '>', $path or die "write $path: $!";
    print $fh $content;
    close $fh;
    chmod $mode, $path if defined $mode;
    return $path;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    local $/;
    my $c = <$fh>;
    return $c;
}

# Write an executable sh script and return its path.
sub exec_script {
    my ($dir, $name, $body) = @_;
    return write_file("$dir/$name", "#!/bin/sh\n$body", 0755);
}

# Poll $cond every 50 ms until it returns true or $timeout seconds pass.
sub wait_until {
    my ($cond, $timeout) = @_;
    $timeout //= 15;
    my $end = time + $timeout;
    while (time < $end) {
        my $r = $cond->();
        return $r if $r;
        sleep 0.05;
    }
    return $cond->();
}

# Run meterd with arguments, capture stdout/stderr/exit code.
sub run_meterd {
    my (%o) = @_;
    my $dir = tmpdir('run');
    my @cmd = ($ENV{METERD_BIN} // "$ROOT/meterd", @{ $o{args} });
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        %ENV = (%ENV, %{ $o{env} || {} });
        open STDOUT, '>', "$dir/out" or die;
        open STDERR, '>', "$dir/err" or die;
        exec @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $? >> 8;
    my %r = (rc => $rc, signal => $? & 127, out => read_file("$dir/out"), err => read_file("$dir/err"));
    remove_tree($dir);
    return \%r;
}

# ---- the mock provider server ----

sub start_mock {
    my (%o) = @_;
    my $dir = tmpdir('mock');
    my @cmd = ("$ROOT/t/mock/mockprov", '--port', '0',
               '--fixtures', $o{fixtures} // "$ROOT/t/fixtures");
    if ($o{routes}) {
        write_file("$dir/routes.json", $JSON->encode($o{routes}));
        push @cmd, '--routes', "$dir/routes.json";
    }
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>', "$dir/mock.log" or die;
        exec @cmd or POSIX::_exit(127);
    }
    close $w;
    my $port = <$r>;
    die "mock server did not start (see $dir/mock.log)" unless defined $port && $port =~ /^(\d+)/;
    $port = $1;
    my $self = bless { pid => $pid, port => $port, dir => $dir, pipe => $r,
                       url => "http://127.0.0.1:$port" }, 'Meterd::Mock';
    push @CLEANUP, $self;
    return $self;
}

# ---- the daemon ----

# start_meterd(config => YAML text (may use @ROOT@, @STATE@, @DIR@),
#              files => {relpath => content}, env => {...}, valgrind => 0)
# Send one HTTP/1.1 request on a connection of its own (Connection:
# close) and leave the answer unread: for requests a test keeps pending
# while it does something else.  Returns the socket, or undef when the
# connection was refused.
sub send_request {
    my ($addr, $method, $path, $body) = @_;
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, Timeout => 5) or return;
    my $head = "$method $path HTTP/1.1\r\nHost: $addr\r\nConnection: close\r\n";
    $head .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
        if defined $body;
    print $s "$head\r\n" . ($body // '');
    $s->flush;
    return $s;
}

# Read the whole answer on $s (the server closes), within $timeout
# seconds; returns (status or 0, the JSON body decoded or undef).
sub read_answer {
    my ($s, $timeout) = @_;
    require IO::Select;
    my ($buf, $end) = ('', time + $timeout);
    my $sel = IO::Select->new($s);
    while (time < $end) {
        next unless $sel->can_read(0.1);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    close $s;
    my ($status) = $buf =~ m{^HTTP/1\.\d (\d{3})};
    my (undef, $content) = split /\r\n\r\n/, $buf, 2;
    return ($status // 0, eval { $JSON->decode($content // '') });
}

sub start_meterd {
    my (%o) = @_;
    my $dir = $o{dir} // tmpdir('meterd');
    my $state = "$dir/state";
    make_path($state, { mode => 0700 });   # meterd refuses a state_dir open to others
    for my $f (sort keys %{ $o{files} || {} }) {
        write_file("$dir/$f", subst($o{files}{$f}, $dir));
    }
    write_file("$dir/meterd.yaml", subst($o{config}, $dir)) if defined $o{config};
    my $self = bless { dir => $dir, env => $o{env} || {}, log => "$dir/meterd.log",
                       args => $o{args} || [] }, 'Meterd::Daemon';
    $self->start;
    push @CLEANUP, $self;
    return $self;
}

# ---- a daemon to POST /api/telemetry to ----

# The config of a daemon whose providers (default: one, openai-gw) are
# exec providers running @DIR@/ok.sh once an hour: the providers a
# gateway's usage is posted against.
sub gateway_config {
    my (@names) = @_;
    @names = ('openai-gw') unless @names;
    return "listen: 127.0.0.1:0\nstate_dir: \@STATE\@\nplugin_dir: \@ROOT\@/plugins\nproviders:\n"
         . join('', map { "  $_:\n    plugin: exec\n    interval: 1h\n    command: [\"\@DIR\@/ok.sh\"]\n" } @names);
}

# Write $dir/ok.sh: one five_hour meter at 10 %, or none with
# meters => 0.
sub gateway_script {
    my ($dir, %o) = @_;
    my $metrics = ($o{meters} // 1)
        ? '[{"id":"five_hour","kind":"quota_window","unit":"percent","utilization":10}]' : '[]';
    return exec_script($dir, 'ok.sh', qq(echo '{"status":"ok","metrics":$metrics}'\n));
}

# Start a daemon with gateway_config(@{providers}) and gateway_script in
# dir (default: a new tmpdir named name); env, args as start_meterd.
sub start_gateway {
    my (%o) = @_;
    my $dir = $o{dir} // tmpdir($o{name} // 'gateway');
    gateway_script($dir, meters => $o{meters});
    return start_meterd(dir => $dir, config => gateway_config(@{ $o{providers} || [] }),
                        map { exists $o{$_} ? ($_ => $o{$_}) : () } qw(env args));
}

# The JSON text of one gateway turn with caller id $id: openai-gw,
# OpenAI dialect, gpt-5.2, 100 prompt and 7 completion tokens at a fixed
# time.
sub gateway_turn {
    my ($id) = @_;
    return $JSON->encode({ provider => 'openai-gw', dialect => 'openai', model => 'gpt-5.2',
        id => $id, at => '2026-03-10T13:58:05Z',
        usage => { prompt_tokens => 100, completion_tokens => 7 } });
}

sub subst {
    my ($text, $dir) = @_;
    $text =~ s/\@ROOT\@/$ROOT/g;
    $text =~ s/\@STATE\@/$dir\/state/g;
    $text =~ s/\@DIR\@/$dir/g;
    return $text;
}

END {
    $_->stop for reverse grep { $_->{pid} } @CLEANUP;
}

package Meterd::Mock;
use Time::HiRes qw(sleep);

sub url { $_[0]{url} }
sub port { $_[0]{port} }

sub _http { HTTP::Tiny->new(timeout => 10) }

sub set_routes {
    my ($self, $routes) = @_;
    my $r = _http()->post("$self->{url}/_mock/routes",
        { content => $JSON->encode($routes), headers => { 'Content-Type' => 'application/json' } });
    die "set_routes: $r->{status} $r->{content}" unless $r->{success};
}

sub requests {
    my ($self, $path) = @_;
    my $r = _http()->get("$self->{url}/_mock/requests");
    die "requests: $r->{status}" unless $r->{success};
    my $list = $JSON->decode($r->{content});
    return [ grep { !defined $path || $_->{path} eq $path } @$list ];
}

sub reset { _http()->post("$_[0]{url}/_mock/reset") }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

package Meterd::Daemon;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

sub start {
    my ($self) = @_;
    my @cmd = ($ENV{METERD_BIN} // "$ROOT/meterd", "-c", "$self->{dir}/meterd.yaml", @{ $self->{args} });
    unshift @cmd, split ' ', $ENV{METERD_WRAPPER} if $ENV{METERD_WRAPPER};
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        %ENV = (%ENV, %{ $self->{env} });
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $self->{log} or die;
        open STDERR, '>>', $self->{log} or die;
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $start_len = -s $self->{log} // 0;
    my $addr = Meterd::wait_until(sub {
        my $log = Meterd::read_file($self->{log}) // '';
        return 'DEAD' if waitpid($pid, WNOHANG) == $pid;
        return substr($log, $start_len) =~ m{listening on http://(\S+)} ? $1 : undef;
    }, 30);
    die "meterd did not start:\n" . (Meterd::read_file($self->{log}) // '') if !$addr || $addr eq 'DEAD';
    $self->{addr} = $addr;
    $self->{base} = "http://$addr";
    return $self;
}

sub base { $_[0]{base} }
sub dir { $_[0]{dir} }
sub state_dir { "$_[0]{dir}/state" }
sub pid { $_[0]{pid} }
sub log_text { Meterd::read_file($_[0]{log}) // '' }

# GET a path; returns (status, decoded JSON or undef, raw body, headers).
sub get {
    my ($self, $path, %o) = @_;
    my $r = HTTP::Tiny->new(timeout => $o{timeout} // 20)->request($o{method} // 'GET', "$self->{base}$path");
    my $doc = eval { $JSON->decode($r->{content}) };
    return wantarray ? ($r->{status}, $doc, $r->{content}, $r->{headers}) : $doc;
}

# POST /api/telemetry: $body a structure (sent as JSON) or a string,
# %o extra request headers and timeout (default 10 s).  Returns (status,
# decoded answer or undef).  One keep-alive client per timeout.
sub post_telemetry {
    my ($self, $body, %o) = @_;
    my $t = delete $o{timeout} // 10;
    my $http = $self->{telemetry_http}{$t} //= HTTP::Tiny->new(timeout => $t);
    my $r = $http->post("$self->{base}/api/telemetry", { content => ref $body ? $JSON->encode($body) : $body,
        headers => { 'Content-Type' => 'application/json', %o } });
    return ($r->{status}, eval { $JSON->decode($r->{content}) });
}

# POST gateway_turn($id) on a connection of its own, its answer left
# unread (read_answer reads it); dies when it cannot connect.
sub post_pending_turn {
    my ($self, $id) = @_;
    return Meterd::send_request($self->{addr}, 'POST', '/api/telemetry', Meterd::gateway_turn($id))
        || die "connect: $!";
}

# $n GETs, each on a new connection, cycling through @paths: returns
# (the slowest in ms, how many were not 200, the slowest one's path).
sub timed_gets {
    my ($self, $n, @paths) = @_;
    my $http = HTTP::Tiny->new(timeout => 5, keep_alive => 0);
    my ($worst, $bad, $worst_path) = (0, 0, '');
    for my $i (1 .. $n) {
        my $path = $paths[($i - 1) % @paths];
        my $t0 = time;
        my $r = $http->get($self->{base} . $path);
        my $ms = (time - $t0) * 1000;
        $bad++ unless $r->{status} == 200;
        ($worst, $worst_path) = ($ms, $path) if $ms > $worst;
    }
    return ($worst, $bad, $worst_path);
}

sub usage {
    my ($self, $query) = @_;
    my ($st, $doc) = $self->get('/api/automation/usage' . ($query ? "?$query" : ''));
    die "usage: HTTP $st" unless $st == 200;
    return $doc;
}

sub member {
    my ($self, $name) = @_;
    my ($st, $doc) = $self->get("/api/providers/$name");
    return $st == 200 ? $doc : undef;
}

# Wait until provider NAME has finished at least $n more runs than now.
sub wait_runs {
    my ($self, $name, $n, $timeout) = @_;
    return Meterd::wait_until(sub {
        my $m = $self->member($name);
        $m && ($m->{runs} // 0) >= $n ? $m : undef;
    }, $timeout // 20);
}

sub hup { kill 'HUP', $_[0]{pid} }

# SIGTERM and wait; returns the exit status (or 'timeout').
sub stop {
    my ($self, $timeout) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    my $end = time + ($timeout // 30);
    while (time < $end) {
        my $r = waitpid $self->{pid}, WNOHANG;
        if ($r == $self->{pid}) {
            delete $self->{pid};
            return $?;
        }
        sleep 0.02;
    }
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
    return 'timeout';
}

sub kill9 {
    my ($self) = @_;
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

1;
