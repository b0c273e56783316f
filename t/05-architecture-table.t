#!/usr/bin/perl
# doc/ARCHITECTURE.md's table "Where each concern lives" is how a newcomer
# finds a concern: it must name every C file of the core by its path, and
# every core path it names must exist, so the table cannot drift from the
# tree when a file is added, split or removed.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Meterd qw(root);

my $root = root();
open my $fh, '<', "$root/doc/ARCHITECTURE.md" or die "ARCHITECTURE.md: $!";
my $doc = do { local $/; <$fh> };
close $fh;

my ($table) = $doc =~ /^## Where each concern lives\n(.*?)(?=^## |\z)/ms;
ok(defined $table, 'ARCHITECTURE.md has the table "Where each concern lives"');
$table //= '';

my %named = map { $_ => 1 } $table =~ m{`(core/[a-z]+/[A-Za-z0-9_]+\.c)`}g;
my @files = map { s{^\Q$root\E/}{}r } glob("$root/core/*/*.c");
cmp_ok(scalar @files, '>', 40, 'the core has its C files where the test looks');

for my $f (sort @files) {
    ok($named{$f}, "the table names $f");
}
for my $f (sort keys %named) {
    ok(-f "$root/$f", "$f, named in the table, exists");
}
done_testing();
