#!/usr/bin/perl
# The plugin SDK as an operator's build sees it: make install into a
# staging tree (DESTDIR) under a non-default prefix installs
# meterd-plugin.pc, the example plugin and man pages that name that
# prefix's paths; the installed example builds out of tree with nothing
# but pkg-config, loads in the daemon and reports its two meters; make
# uninstall removes all of it.
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy);
use File::Find;
use Test::More;
use Meterd qw(root tmpdir write_file read_file start_meterd);

my $root = root();
chdir $root or die "chdir $root: $!";
delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEFILES)};

my $tmp = tmpdir('sdk');
my $prefix = '/opt/meterd-sdk-t';
# Every directory follows the prefix, as a packager passes them.
my @dirs = ("prefix=$prefix", "sysconfdir=$prefix/etc", "localstatedir=$prefix/var",
            "libdir=$prefix/lib", "plugindir=$prefix/lib/meterd",
            "includedir=$prefix/include", "mandir=$prefix/share/man",
            "docdir=$prefix/share/doc/meterd", "pkgconfigdir=$prefix/lib/pkgconfig");
my $dest = "$tmp/dest";
sub run_make {
    my ($target) = @_;
    my $out = `make -s --no-print-directory $target DESTDIR='$dest' @dirs 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $out) = run_make('install');
is($rc, 0, 'make install DESTDIR=... prefix=... succeeds') or diag($out);
my $staged = "$dest$prefix";

# ---- man pages name the installed paths ----
my %want = ('man8/meterd.8' => ["$prefix/etc/meterd/meterd.yaml", "$prefix/var/lib/meterd/snapshot.json",
                                "$prefix/lib/meterd/*.so"],
            'man5/meterd.yaml.5' => ["$prefix/etc/meterd/conf.d/", "$prefix/var/lib/meterd"],
            'man7/meterd-plugin.7' => ["$prefix/include/meterd/plugin.h", "$prefix/lib/libmeterd\\-plugin.a",
                                       "$prefix/lib/pkgconfig/meterd\\-plugin.pc",
                                       "$prefix/share/doc/meterd/examples/plugin"]);
for my $page (sort keys %want) {
    my $text = read_file("$staged/share/man/$page") // '';
    my @missing = grep { index($text, $_) < 0 } @{ $want{$page} };
    ok(!@missing, "installed $page names the prefix's paths") or diag("missing: @missing");
    unlike($text, qr/\@[A-Z]+\@/, "installed $page has no placeholder left");
    # systemd's StateDirectory= is always under /var/lib, whatever the prefix.
    (my $own = $text) =~ s/^.*StateDirectory=.*$//mg;
    unlike($own, qr{/usr/local/(etc|lib|include|var)|(?<!\Q$prefix\E)(/etc/meterd|/var/lib/meterd)},
           "installed $page names no other prefix's paths");
}

# ---- the .pc file ----
my $pcdir = "$staged/lib/pkgconfig";
ok(-f "$pcdir/meterd-plugin.pc", 'meterd-plugin.pc installed into pkgconfigdir');
# The staged tree is not where the .pc says it is: --define-prefix takes
# the prefix from the file's location (lib/pkgconfig -> two levels up).
# PKG_CONFIG_SYSROOT_DIR would not do: it prepends to every package's
# paths (jansson's too) and keeps the prefix configure wrote into the .pc.
local $ENV{PKG_CONFIG_PATH} = $pcdir;
my $pc = 'pkg-config --define-prefix';
sub pc { my $v = `$pc @_ meterd-plugin 2>&1`; chomp $v; $v =~ s/\s+$//; return $v }
my ($version) = read_file('VERSION') =~ /^(\S+)/;
is(pc('--modversion'), $version, 'Version is the one of VERSION');
my $hdr = read_file('include/meterd/plugin.h');
my ($maj) = $hdr =~ /^#define MD_ABI_MAJOR (\d+)$/m;
my ($min) = $hdr =~ /^#define MD_ABI_MINOR (\d+)$/m;
is(pc('--variable=abi_major') . '.' . pc('--variable=abi_minor'), "$maj.$min",
   "abi_major/abi_minor are the header's ($maj.$min)");
like(`./meterd -V`, qr/plugin ABI \Q$maj.$min\E\b/, 'and the daemon\'s');
is(pc('--variable=plugindir'), "$staged/lib/meterd", 'plugindir relocates with the prefix');
my $libs = pc('--libs');
like($libs, qr/-L\Q$staged\E\/lib\b.*-lmeterd-plugin/, 'plain --libs links the helper library')
    or diag($libs);
like($libs, qr/-ljansson/, 'and, the library being static, what it needs (jansson) without --static');
like(pc('--cflags'), qr/-I\Q$staged\E\/include\b/, 'Cflags: the SDK include directory');

# ---- the installed example, built out of tree ----
my $exdir = "$staged/share/doc/meterd/examples/plugin";
ok(-f "$exdir/Makefile" && -f "$exdir/README" && -f "$exdir/lab_quota.c",
   'the example plugin is installed under docdir');
my $build = "$tmp/build";
mkdir $build or die;
copy("$exdir/$_", "$build/$_") or die "copy $_: $!" for qw(Makefile lab_quota.c lab.json);
$out = `make -C '$build' PKG_CONFIG='$pc' 2>&1`;
is($? >> 8, 0, 'the example builds with pkg-config alone') or diag($out);
ok(-f "$build/lab_quota.so", 'lab_quota.so built');
my $exports = `nm -D --defined-only '$build/lab_quota.so' 2>&1`;
is(join(',', $exports =~ /^\S+ T (\S+)$/mg), 'meterd_plugin_entry', 'only the entry point is exported');
$out = `make -C '$build' PKG_CONFIG='$pc' install 2>&1`;
is($? >> 8, 0, 'its install target succeeds') or diag($out);
ok(-f "$staged/lib/meterd/lab_quota.so", 'and puts it into pkg-config\'s plugindir');
$out = `env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR=$tmp/none make -C '$build' 2>&1`;
like($out, qr/meterd-plugin\.pc not found/, 'without the .pc the example says what is missing');

# ---- loaded by the daemon ----
my $d = start_meterd(config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
providers:
  lab:
    plugin: $build/lab_quota.so
    file: $build/lab.json
    interval: 1h
Y
my $m = $d->wait_runs('lab', 1);
ok($m && !$m->{error}, 'the daemon loads and runs the example') or diag(explain($m));
my %mm = map { $_->{id} => $_ } @{ $m ? $m->{metrics} : [] };
is($mm{gpu_hours}{used}, 42, 'gpu_hours used');
is($mm{gpu_hours}{limit}, 100, 'gpu_hours limit');
is($mm{storage_gb}{remaining}, 190, 'storage_gb remaining derived by the core');
is($mm{storage_gb}{unit}, 'gb', 'storage_gb unit');
$d->stop;

# ---- uninstall removes it all ----
unlink "$staged/lib/meterd/lab_quota.so"; # the operator's plugin, not make's
($rc, $out) = run_make('uninstall');
is($rc, 0, 'make uninstall succeeds') or diag($out);
ok(!-e "$pcdir/meterd-plugin.pc" && !-d $pcdir, 'the .pc file and its emptied directory are gone');
ok(!-d "$staged/share/doc/meterd", 'the example and the doc directory are gone');
done_testing();
