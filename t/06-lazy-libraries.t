#!/usr/bin/perl
# meterd is linked without libcurl and libmicrohttpd (core/host/curl_lazy.c,
# core/front/mhd_lazy.c): no start of the binary maps them or what they
# pull in (GnuTLS and its eight libraries); the daemon maps libmicrohttpd
# when it starts its server, and serves.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(root start_meterd tmpdir);

my $bin = $ENV{METERD_BIN} // root() . '/meterd';
my @needed = map { /\[(.+)\]/ ? $1 : () } grep { /NEEDED/ } `readelf -d '$bin'`;
ok(@needed >= 3, 'readelf lists what meterd needs: ' . join(' ', @needed));
ok(!(grep { /libcurl|libmicrohttpd|libgnutls/ } @needed),
   'neither libcurl nor libmicrohttpd (nor GnuTLS) is among them');

# what a start of the binary maps: --version under LD_DEBUG=libs
my $libs = `LD_DEBUG=libs '$bin' --version 2>&1 >/dev/null`;
ok($libs =~ /calling init/, 'LD_DEBUG shows the loader at work');
unlike($libs, qr/libmicrohttpd|libgnutls|libcurl/,
       'meterd --version loads none of them');

my $d = start_meterd(config => <<"Y");
listen: 127.0.0.1:0
state_dir: \@STATE\@
plugin_dir: \@ROOT\@/plugins
providers: {}
Y
my ($st) = $d->get('/healthz');
is($st, 200, 'the daemon serves /healthz');
my $maps = do { local (@ARGV, $/) = ("/proc/" . $d->pid . "/maps"); <> } // '';
like($maps, qr/libmicrohttpd\.so\.12/, 'having loaded libmicrohttpd for its server');

done_testing();
