#!/usr/bin/perl
# The plugin boundary is enforced, not just documented: a plugin reaches
# the core only through md_host and links the SDK archive for helpers.
#   - An in-tree plugin that references a daemon symbol does not link
#     (plugins link with -z defs), and the SDK archive's symbols stay
#     inside the plugin (only meterd_plugin_entry is exported).
#   - The daemon exports no symbol (no -rdynamic), so a plugin built
#     without -z defs that calls one (t/plugins/daemon_sym.so calls
#     xstrdup) is refused at load time with error class abi and a message
#     that names the symbol: through `meterd -t` and in a running daemon.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(root run_meterd start_meterd tmpdir write_file);

my $root = root();
chdir $root or die "chdir $root: $!";

sub make_print {
    my $f = `make -s --no-print-directory $_[0] 2>/dev/null`;
    chomp $f;
    return $f;
}
my $cflags = make_print('layer-cflags-plugins');
my $ldflags = make_print('plugin-ldflags');
ok(length $cflags && length $ldflags, 'make prints the plugin compile and link flags');
like($ldflags, qr/-z,defs/, 'plugins link with -z defs');

my $dir = tmpdir('boundary');
sub links {
    my ($body, $extra) = @_;
    $extra //= '';
    write_file("$dir/probe.c", <<"C");
#include "meterd/plugin.h"
#include "meterd/util.h"
char *xstrdup(const char *s);
static int probe_collect(const md_host *h, md_ctx *ctx, void *st)
{
    (void)st;
    $body
    return 0;
}
static const md_plugin probe = {MD_PLUGIN_HEADER, .name = "probe",
                                .collect = probe_collect};
MD_PLUGIN_DEFINE(probe)
C
    my $rc = system("cc $cflags $extra -o $dir/probe.so $dir/probe.c $ldflags >$dir/probe.log 2>&1");
    return $rc == 0;
}
ok(links('md_num n = mdu_add(MD_NUM(1), MD_NUM(2)); (void)n; (void)h; (void)ctx;'),
   'a probe plugin using the SDK archive links with the plugin flags');
ok(!links('(void)xstrdup(h->instance(ctx));'),
   'the same probe calling the daemon\'s xstrdup does not link');
like(Meterd::read_file("$dir/probe.log") // '', qr/xstrdup/, '... and the linker names the symbol');
# (under WERROR=1 the flags carry -Werror: the warning must stay a warning)
ok(links('md_num n = mdu_num_ex(h, NULL, 1); (void)n; (void)ctx;',
         '-Wno-error=deprecated-declarations'),
   'a plugin still calling the deprecated mdu_num_ex builds and links');
like(Meterd::read_file("$dir/probe.log") // '', qr/deprecated.*mdu_num_value/,
     '... with a warning that names its new name, mdu_num_value');

# What a built plugin and the daemon export.
my @exp = map { (split ' ')[-1] } grep { /\s[TDBW]\s/ } `nm -D --defined-only plugins/claude_logs.so`;
is_deeply(\@exp, ['meterd_plugin_entry'],
          'claude_logs.so exports only meterd_plugin_entry (SDK symbols are hidden)');
my @core = grep { /\s(xstrdup|log_msg|mdu_add|plugin_open)$/ } `nm -D --defined-only meterd`;
is(scalar @core, 0, 'the daemon exports no core symbol') or diag(@core);

# Load-time refusal: meterd -t ...
my $careless = "$root/t/plugins/daemon_sym.so";
ok(-e $careless, 'the daemon_sym test plugin is built');
write_file("$dir/check.yaml", <<"Y");
listen: 127.0.0.1:0
state_dir: $dir/state
providers:
  careless:
    plugin: $careless
Y
mkdir "$dir/state", 0700;
my $r = run_meterd(args => ['-t', '-c', "$dir/check.yaml"]);
is($r->{rc}, 1, 'meterd -t refuses a plugin that needs a daemon symbol');
like($r->{err}, qr/plugin 'careless' .*needs symbol 'xstrdup'/, '... naming the missing symbol');
like($r->{err}, qr/plugins may use only the SDK header .*libmeterd-plugin\.a/,
     '... and saying what a plugin may use');

# ... and in a running daemon (the provider row carries class abi).
my $d = start_meterd(config => <<'Y');
listen: 127.0.0.1:0
state_dir: @STATE@
providers:
  careless:
    plugin: @ROOT@/t/plugins/daemon_sym.so
    interval: 2s
    timeout: 1s
  fine:
    plugin: @ROOT@/t/plugins/good.so
    interval: 1s
    timeout: 900ms
Y
my $row = $d->wait_runs('careless', 1);
ok($row, 'the daemon runs with the careless provider configured');
is($row->{error}{class}, 'abi', 'its provider row has error class abi');
like($row->{error}{message}, qr/needs symbol 'xstrdup'.*libmeterd-plugin/,
     'with the symbol and the rule in the message');
ok($d->wait_runs('fine', 1), 'the other provider collects meanwhile');
$d->stop;

done_testing();
