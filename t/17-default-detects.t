#!/usr/bin/perl
# The bundled default config finds what the machine has: with Claude Code
# logs under $HOME the claude row appears (claude-logs), with an empty
# home none of the detected instances exists (no row, not unavailable)
# and `meterd -t -v` says nothing was detected; CLAUDE_CONFIG_DIR and
# CODEX_HOME move the paths; a login file enables the subscription
# instance; a directory created later is picked up on SIGHUP.  Nothing is
# written into the home directory.
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use File::Find;
use File::Path qw(make_path);
use Test::More;
use Meterd qw(root tmpdir run_meterd start_meterd read_file write_file json wait_until);

my $root = root();
my $tmp = tmpdir('detect');
# The default config as `make install` writes it, with this tree's plugins.
my $conf = "$tmp/conf";
make_path("$conf/conf.d");
mkdir "$tmp/state", 0700 or die "mkdir $tmp/state: $!";
my $yaml = read_file("$root/conf/meterd.yaml.in");
$yaml =~ s/\@PLUGINDIR\@/$root\/plugins/g;
$yaml =~ s/\@STATEDIR\@/$tmp\/state/g;
$yaml =~ s/\@CONFDIR\@/$root\/conf/g;
$yaml =~ s/^listen: .*$/listen: 127.0.0.1:0/m;
write_file("$conf/meterd.yaml", $yaml);
copy("$root/conf/aliases.yaml", "$conf/aliases.yaml") or die;

my %clean = (CLAUDE_CONFIG_DIR => '', CODEX_HOME => '', XDG_CONFIG_HOME => '', DEEPSEEK_API_KEY => '');
sub check_v {
    my ($home, %env) = @_;
    return run_meterd(args => ['-t', '-v', '-c', "$conf/meterd.yaml"],
                      env => { %clean, HOME => $home, %env });
}
sub files_under {
    my ($dir) = @_;
    my @f;
    find({ no_chdir => 1, wanted => sub { push @f, $File::Find::name } }, $dir);
    return join("\n", sort @f);
}

# ---- an empty home ----
my $empty = "$tmp/empty";
mkdir $empty;
my $r = check_v($empty);
is($r->{rc}, 0, 'the default config validates in an empty home') or diag($r->{err});
like($r->{out}, qr/^# detected: nothing$/m, '-t -v says nothing was detected');
like($r->{out}, qr/^# not detected: \Q$empty\E\/\.claude .*\(claude-logs \[claude_logs\] skipped\)$/m,
     'and what it looked for');
unlike($r->{out}, qr/^  (claude-logs|claude-oauth|codex-logs|codex):$/m, 'no detected instance in the dump');

my $d = start_meterd(dir => "$tmp/d1", args => ['-c', "$conf/meterd.yaml"],
                     env => { %clean, HOME => $empty });
ok($d->wait_runs('local-budget', 1), 'the default runs offline');
my $u = $d->usage;
my %rows = map { $_->{provider} => $_ } @{ $u->{providers} };
is_deeply([sort keys %rows], ['deepseek', 'local-budget'], 'only the always-on rows')
    or diag(explain([sort keys %rows]));
ok(!grep({ /claude|codex|openai/ } @{ $u->{unavailable_providers} || [] }),
   'skipped instances are not unavailable');
my ($st) = $d->get('/api/providers/claude-logs');
is($st, 404, 'a skipped instance does not exist');

# ---- Claude Code appears: SIGHUP picks it up ----
make_path("$empty/.claude/projects/-home-dev-proj");
copy("$root/t/fixtures/claude_logs/claude_code_session.jsonl",
     "$empty/.claude/projects/-home-dev-proj/7c1f3e2a.jsonl") or die;
my $before = files_under($empty);
$d->hup;
my $m = $d->wait_runs('claude-logs', 1);
ok($m, 'after SIGHUP claude-logs exists and ran');
$u = $d->usage;
%rows = map { $_->{provider} => $_ } @{ $u->{providers} };
ok($rows{claude}, 'the claude family row is there');
is_deeply([map { $_->{name} } @{ $rows{claude}{members} || [] }], ['claude-logs'],
          'with claude-logs as its member (no login: claude-oauth stays absent)');
ok(!$rows{openai}, 'no Codex home: no openai row');
is(files_under($empty), $before, 'nothing was written into the home directory');
$d->stop;

$r = check_v($empty);
like($r->{out}, qr/^# detected: \Q$empty\E\/\.claude \(claude-logs \[claude_logs\] enabled\)$/m,
     '-t -v names what was detected');

# ---- CLAUDE_CONFIG_DIR and CODEX_HOME move the paths ----
my $elsewhere = "$tmp/elsewhere";
make_path("$elsewhere/claude", "$elsewhere/codex");
write_file("$elsewhere/claude/.credentials.json", "{}\n");
chmod 0600, "$elsewhere/claude/.credentials.json";
$r = check_v("$tmp/empty-too", CLAUDE_CONFIG_DIR => "$elsewhere/claude", CODEX_HOME => "$elsewhere/codex");
is($r->{rc}, 0, 'validates with CLAUDE_CONFIG_DIR and CODEX_HOME') or diag($r->{err});
like($r->{out}, qr/^# detected: \Q$elsewhere\E\/claude \(claude-logs \[claude_logs\] enabled\)$/m,
     'CLAUDE_CONFIG_DIR honoured for the logs');
like($r->{out}, qr/^# detected: \Q$elsewhere\E\/claude\/\.credentials\.json \(claude-oauth \[anthropic_oauth\] enabled\)$/m,
     'and for the login file');
like($r->{out}, qr/^# detected: \Q$elsewhere\E\/codex \(codex-logs \[codex_logs\] enabled\)$/m,
     'CODEX_HOME honoured');
like($r->{out}, qr/^# not detected: \Q$elsewhere\E\/codex\/auth\.json \(codex \[codex_oauth\] skipped\)$/m,
     'no Codex login: its subscription instance is skipped');
like($r->{out}, qr/^  claude-oauth:\n(?:    .*\n)*?    family: "claude"$/m, 'claude-oauth joins the claude family');
like($r->{out}, qr/^  codex-logs:\n(?:    .*\n)*?    family: "openai"$/m, 'codex-logs joins the openai family');
done_testing();
