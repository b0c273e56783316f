#!/usr/bin/perl
# The build enforces the core's layering (lib < model < host < daemon <
# front) and the plugin boundary: a source in one layer that includes a
# header of a layer above it does not compile, and a plugin cannot include
# a core header at all.  Each refusal is paired with the same probe
# compiled with the flags of the layer that owns the header, so the test
# fails if the probe itself were broken.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(root tmpdir write_file);

my $root = root();
chdir $root or die "chdir $root: $!";
my @layers = qw(lib model host daemon front);

sub flags {
    my ($what) = @_;
    my $f = `make -s --no-print-directory layer-cflags-$what 2>/dev/null`;
    chomp $f;
    return $f;
}

my %flags = map { $_ => flags($_) } @layers, 'plugins';
ok(length $flags{$_}, "make prints the flags of $_") for @layers, 'plugins';

my $dir = tmpdir('layers');
sub compiles {
    my ($flags, $header) = @_;
    write_file("$dir/probe.c", qq(#include "$header"\nint probe_unused;\n));
    my $rc = system("cc $flags -fsyntax-only -o /dev/null $dir/probe.c >/dev/null 2>&1");
    return $rc == 0;
}

# Every header of every layer is visible to its own layer and refused to
# every layer below it.
for my $i (0 .. $#layers) {
    my $owner = $layers[$i];
    my @headers = map { s{.*/}{}r } sort glob("core/$owner/*.h");
    ok(@headers, "core/$owner has headers");
    for my $h (@headers) {
        ok(compiles($flags{$owner}, $h), "core/$owner sees its own $h");
        for my $below (@layers[0 .. $i - 1]) {
            ok(!compiles($flags{$below}, $h),
               "core/$below cannot include $h from core/$owner");
        }
        ok(!compiles($flags{plugins}, $h), "a plugin cannot include $h");
    }
}
ok(compiles($flags{plugins}, 'meterd/plugin.h'), 'a plugin sees the SDK header');

# No source includes a header by a path that walks out of its layer.
my @sneaky = grep { /#include\s+"[^"]*\.\.\// } map { `cat $_` } glob('core/*/*.[ch]');
is(scalar @sneaky, 0, 'no core source includes "../..." paths') or diag(@sneaky);

done_testing();
