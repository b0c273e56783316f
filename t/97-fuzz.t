#!/usr/bin/perl
# Every libFuzzer harness of t/fuzz (doc/fuzzing.md) over its committed
# regression inputs (t/fuzz/regress/<name>: each one crashed a parser once)
# and seed corpus, then a short fuzzing run (FUZZ_CHECK_SECONDS, default 3)
# from that corpus.  A crash, leak, timeout or sanitizer report fails the
# harness's test, which names the reproducer.  Skipped when clang with
# libFuzzer is not installed (tools/setup installs it).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path qw(remove_tree);
use Meterd qw(root);

my $root = root();
my $probe = "printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\\n{ return 0; }\\n' | "
    . "clang -fsanitize=fuzzer -x c -o /dev/null - >/dev/null 2>&1";
plan skip_all => 'clang with libFuzzer not installed' if system($probe) != 0;

# The harnesses are the t/fuzz/*.c files that define the fuzzer entry.
my @names;
for my $c (sort glob("$root/t/fuzz/*.c")) {
    open my $fh, '<', $c or die "$c: $!";
    local $/;
    my $text = <$fh>;
    push @names, $1 if $text =~ /LLVMFuzzerTestOneInput/ && $c =~ m{/([a-z_]+)\.c$};
}
ok(@names >= 9, 'nine harnesses or more: ' . join(' ', @names));
ok((grep { $_ eq 'ingest' } @names), 'the POST /api/telemetry body (ingest) has one');

my $secs = $ENV{FUZZ_CHECK_SECONDS} || 3;
my $tmp = "$root/t/tmp/fuzz";
remove_tree("$tmp/work");   # reproducers in $tmp/crashes are kept
for my $n (@names) {
    ok(-d "$root/t/fuzz/corpus/$n", "$n has a seed corpus");
    my $out = `$root/t/fuzz/run.sh $n $secs $tmp/work/$n $tmp/crashes 2>&1`;
    my $rc = $?;
    chomp $out;
    ok($rc == 0, "$n: regression inputs, corpus and $secs s of fuzzing pass") or diag($out);
    note($out) if $rc == 0;
}
done_testing();
