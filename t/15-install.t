#!/usr/bin/perl
# make install DESTDIR=... then make uninstall DESTDIR=...: uninstall
# removes every file install put in place except the operator's
# configuration (meterd.yaml, aliases.yaml), keeps an example the operator
# edited, and the installed man pages and meterd -V carry the version of
# the file VERSION.
use strict;
use warnings;
use lib 't/lib';
use File::Find;
use Test::More;
use Meterd qw(root tmpdir write_file read_file);

my $root = root();
chdir $root or die "chdir $root: $!";

# The inner make must not join the outer make's job server.
delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEFILES)};

sub run_make {
    my ($dest, $target) = @_;
    my $out = `make -s --no-print-directory $target DESTDIR='$dest' 2>&1`;
    return ($? >> 8, $out);
}

# Every file (not directory) under $dir, relative to it, sorted.
sub files_under {
    my ($dir) = @_;
    my @f;
    find({ no_chdir => 1, wanted => sub {
        push @f, substr($File::Find::name, length($dir)) if -f $_ || -l $_;
    } }, $dir) if -d $dir;
    return sort @f;
}

sub make_var {
    my ($name) = @_;
    my $v = `make -s --no-print-directory -f Makefile -f - print-var 2>/dev/null <<'MK'
print-var: ; \@echo \$($name)
MK
`;
    chomp $v;
    return $v;
}

open my $vf, '<', 'VERSION' or die "VERSION: $!";
my $version = <$vf>;
chomp $version;
like($version, qr/^\d+\.\d+\.\d+$/, "VERSION holds MAJOR.MINOR.PATCH ($version)");
is(make_var('VERSION'), $version, 'the Makefile takes its version from VERSION (via configure)');
my $confdir = make_var('confdir');
my $mandir = make_var('mandir');
ok($confdir && $mandir, "install paths known ($confdir, $mandir)");

my $v = `./meterd -V`;
like($v, qr/^meterd \Q$version\E /, 'meterd -V prints the version of VERSION');

my $dest = tmpdir('install');
my ($rc, $out) = run_make($dest, 'install');
is($rc, 0, 'make install DESTDIR=... succeeds') or diag($out);
my @installed = files_under($dest);
ok(scalar(grep { m{/sbin/meterd$} } @installed), 'the daemon is installed');
ok(scalar(grep { m{\.so$} } @installed) >= 5, 'the plugins are installed');
ok(scalar(grep { m{/meterd/plugin\.h$} } @installed), 'the SDK header is installed');

my %pages = ('man8/meterd.8' => 'METERD 8', 'man5/meterd.yaml.5' => 'METERD.YAML 5',
             'man7/meterd-plugin.7' => 'METERD-PLUGIN 7');
for my $page (sort keys %pages) {
    my $text = read_file("$dest$mandir/$page");
    my ($th) = $text =~ /^(\.TH .*)$/m;
    like($th // '', qr/^\.TH \Q$pages{$page}\E .*"meterd \Q$version\E"/,
         "installed $page shows version $version in its .TH line");
    unlike($text, qr/\@VERSION\@/, "installed $page has no placeholder left");
}
for my $src (qw(doc/meterd.8 doc/meterd.yaml.5 doc/meterd-plugin.7)) {
    my ($th) = read_file($src) =~ /^(\.TH .*)$/m;
    unlike($th, qr/\d+\.\d+\.\d+/, "$src does not repeat the version by hand");
}

# The operator edits one example: uninstall must keep that one.
my @examples = grep { m{^\Q$confdir\E/(examples|conf\.d)/} } @installed;
ok(@examples >= 2, 'examples are installed');
my $edited = $dest . $examples[0];
write_file($edited, "# edited by the operator\n");

# Installing again over an existing tree changes no operator file.
write_file("$dest$confdir/meterd.yaml", "# mine\n");
($rc, $out) = run_make($dest, 'install');
is($rc, 0, 'a second make install succeeds') or diag($out);
is(read_file("$dest$confdir/meterd.yaml"), "# mine\n", 'install never overwrites meterd.yaml');

($rc, $out) = run_make($dest, 'uninstall');
is($rc, 0, 'make uninstall DESTDIR=... succeeds') or diag($out);
my @left = files_under($dest);
is_deeply(\@left,
          [sort("$confdir/aliases.yaml", "$confdir/meterd.yaml", $examples[0])],
          'uninstall leaves only the operator configuration and the edited example')
    or diag(join("\n", @left));
ok(!-e "$dest$mandir/man8/meterd.8", 'man pages removed');
ok(!-d "$dest" . make_var('plugindir'), 'the emptied plugin directory is removed');

($rc, $out) = run_make($dest, 'uninstall');
is($rc, 0, 'uninstall twice is harmless') or diag($out);

done_testing();
