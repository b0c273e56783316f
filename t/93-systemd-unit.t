#!/usr/bin/perl
# contrib/systemd/meterd.service: configure fills in the installed paths,
# `systemd-analyze verify` accepts the unit (pointed at this build's
# binary, since verify checks that ExecStart exists) and rejects a broken
# copy, and make install puts it in the configured unit directory.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(tmpdir write_file read_file root);

my $root = root();
my $tmpl = read_file("$root/contrib/systemd/meterd.service.in");
ok($tmpl, 'the unit template exists');

my $gen = read_file("$root/contrib/systemd/meterd.service");
ok($gen, 'configure generated the unit');
unlike($gen // '', qr/\@[A-Z]+\@/, 'with every placeholder filled in');
like($gen // '', qr{^ExecStart=/\S+/sbin/meterd -c /\S+/meterd/meterd\.yaml$}m,
     'ExecStart runs the installed binary on the installed config');
for my $line ('Type=notify', 'ExecReload=/bin/kill -HUP $MAINPID', 'DynamicUser=yes',
              'StateDirectory=meterd', 'ProtectSystem=strict', 'ProtectHome=read-only',
              'NoNewPrivileges=yes', 'PrivateTmp=yes',
              'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
              'SystemCallArchitectures=native') {
    like($gen // '', qr/^\Q$line\E$/m, $line);
}

SKIP: {
    my $sa = `command -v systemd-analyze 2>/dev/null`;
    chomp $sa;
    skip 'systemd-analyze not installed', 4 unless $sa;
    my $dir = tmpdir('unit');
    write_file("$dir/meterd.yaml", "providers: {}\n");
    (my $unit = $tmpl) =~ s/\@SBINDIR\@/$root/g;
    $unit =~ s/\@CONFDIR\@/$dir/g;
    # systemd 252 refuses a binary outside the usual directories only by
    # its existence: the build tree's meterd stands in for sbin's.
    write_file("$dir/meterd.service", $unit);
    # Documentation=man:... is checked with man(1): point MANPATH at this
    # tree's pages (or skip that part where man is not installed).
    my $man = '--man=no';
    if (`command -v man 2>/dev/null`) {
        for my $s (5, 7, 8) {
            mkdir "$dir/man"; mkdir "$dir/man/man$s";
            symlink $_, "$dir/man/man$s/" . (split m{/}, $_)[-1] for glob("$root/doc/*.$s");
        }
        $ENV{MANPATH} = "$dir/man";
        $man = '';
    }
    my $out = `$sa verify $man $dir/meterd.service 2>&1`;
    is($?, 0, 'systemd-analyze verify accepts the unit') or diag $out;
    my @about = grep { /meterd\.service/ } split /\n/, $out;
    is_deeply(\@about, [], 'without a warning about it') or diag $out;

    (my $broken = $unit) =~ s/^Type=notify$/Type=notifi/m;
    $broken =~ s/^ProtectSystem=strict$/ProtectSytem=strict/m;
    write_file("$dir/broken/meterd.service", $broken);
    $out = `$sa verify $man $dir/broken/meterd.service 2>&1`;
    like($out, qr/notifi/, 'a bad value is reported (the check can fail)');
    like($out, qr/ProtectSytem/, 'and so is an unknown key');
}

# make install puts the unit in the configured directory (DESTDIR).
my $dest = tmpdir('destdir');
my $out = `make -s -C '$root' install-systemd DESTDIR='$dest' systemdsystemunitdir=/usr/lib/systemd/system 2>&1`;
is($?, 0, 'make install-systemd') or diag $out;
is(read_file("$dest/usr/lib/systemd/system/meterd.service"), $gen,
   'installs the generated unit into DESTDIR + the unit directory');
$dest = tmpdir('destdir-no');
`make -s -C '$root' install-systemd DESTDIR='$dest' systemdsystemunitdir=no 2>&1`;
ok(!-e "$dest/no/meterd.service" && !glob("$dest/*"), '--with-systemdsystemunitdir=no installs none');
done_testing;
