#!/bin/sh
# bench/logs.sh - log-scan correctness and speed against ccusage 20.
#
# For each kind (claude, codex) and size (20M 200M 1G, or up to SIZE):
#  1. generate a deterministic tree with bench/gen-logs (seed $SEED);
#  2. run ccusage 20.0.24 (pinned, installed into bench/.ccusage, --offline)
#     with its two threads and with --single-thread;
#  3. run `meterd report daily --json --tz UTC` with a generated config (one
#     log provider pointed at the tree, private state_dir): cold (empty state,
#     best of RUNS like ccusage, each run from an emptied state_dir) and warm
#     (re-scan of the unchanged tree);
#  4. compare per-day totals: meterd vs ccusage (the target: no mismatch) and
#     ccusage vs the generator's own expectation (a check of the generator);
#  5. print wall time / peak RSS of every run and the ratios.
# Exit status 1 when any per-day total differs, 2 on a usage/set-up error.
#
# Usage: bench/logs.sh [SIZE]       e.g. bench/logs.sh 200M
# Environment: KINDS="claude codex"  SEED=1  RUNS=3 (best wall time of N)
#   TREES=/tmp (trees go to a fresh dir below it, removed at exit unless
#   KEEP_TREES=1)  METERD=./meterd  PLUGIN_DIR=./plugins  CCUSAGE=<binary>
# Needs: /usr/bin/time (Debian package `time`), perl, a C compiler if
# bench/gen-logs is not built (make bench); npm once for ccusage.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
KINDS=${KINDS:-"claude codex"}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
METERD=${METERD:-$TOP/meterd}
PLUGIN_DIR=${PLUGIN_DIR:-$TOP/plugins}
CCV=20.0.24
TIME=/usr/bin/time

die() { echo "bench/logs.sh: $*" >&2; exit 2; }
[ -x $TIME ] || die "needs GNU time: apt-get install time"
command -v perl >/dev/null || die "needs perl"

# Sizes in MiB; SIZE limits the default list (and is added if not in it).
mib() {
	case $1 in
	*[Gg]) echo $(( ${1%[Gg]} * 1024 )) ;;
	*[Mm]) echo "${1%[Mm]}" ;;
	*[!0-9]* | '') die "bad size: $1 (use e.g. 20M, 1G)" ;;
	*) echo "$1" ;;
	esac
}
SIZES="20M 200M 1G"
if [ $# -ge 1 ]; then
	lim=$(mib "$1")
	s=""
	for z in $SIZES; do [ "$(mib "$z")" -le "$lim" ] && s="$s $z"; done
	case " $s " in *" $1 "*) ;; *) [ "$(mib "$1")" -le 0 ] || s="$s $1" ;; esac
	SIZES=$s
fi

mkdir -p bench/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$TOP/bench/results/logs-$STAMP
mkdir -p "$OUT"
W=$(mktemp -d "${TREES:-/tmp}/meterd-logs.XXXXXX")
cleanup() {
	if [ "${KEEP_TREES:-0}" = 1 ]; then echo "trees kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM
SUMMARY=$OUT/summary.txt
say() { echo "$*" | tee -a "$SUMMARY"; }

# ---- the generator --------------------------------------------------------
GEN=$TOP/bench/gen-logs
if [ ! -x "$GEN" ] || [ -n "$(find bench/gen-logs.c -newer "$GEN")" ]; then
	GEN=$W/gen-logs
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -o "$GEN" bench/gen-logs.c || die "cannot build bench/gen-logs"
fi

# ---- ccusage (pinned; offline after install) -------------------------------
CC_BIN=${CCUSAGE:-$TOP/bench/.ccusage/node_modules/@ccusage/ccusage-linux-x64/bin/ccusage}
if [ ! -e "$CC_BIN" ] && [ -z "${CCUSAGE:-}" ]; then
	if command -v npm >/dev/null; then
		echo "installing ccusage@$CCV into bench/.ccusage ..."
		npm install --prefix bench/.ccusage --no-audit --no-fund --loglevel=error "ccusage@$CCV" >"$OUT/npm.log" 2>&1 ||
			echo "npm install ccusage@$CCV failed (see $OUT/npm.log)"
	else
		echo "npm not found"
	fi
fi
# npm unpacks the native binary without its execute bit (the JS wrapper
# would fix that on first use); we call the binary directly.
[ -f "$CC_BIN" ] && [ ! -x "$CC_BIN" ] && chmod +x "$CC_BIN"
if [ -x "$CC_BIN" ] && "$CC_BIN" --version 2>/dev/null | grep -q "$CCV"; then
	HAVE_CC=1
else
	HAVE_CC=0
	say "ccusage $CCV unavailable: skipping the ccusage runs and comparisons"
fi

# ---- meterd ---------------------------------------------------------------
HAVE_METERD=1
if [ ! -x "$METERD" ]; then
	HAVE_METERD=0
	say "meterd binary $METERD not found (make): skipping the meterd runs"
fi

# run OUTFILE RUNS CMD...: best wall time of $RUNS runs (ms, own clock for
# sub-10 ms resolution) and the peak RSS (KiB) of the slowest-RSS run.
# Sets R_MS R_KIB; returns the command's status.
run() {
	out=$1 n=$2
	shift 2
	R_MS="" R_KIB=0
	i=0
	while [ $i -lt "$n" ]; do
		t0=$(date +%s%N)
		if ! $TIME -o "$W/time" -f '%e %M' "$@" >"$out" 2>"$out.err"; then
			return 1
		fi
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000 ))
		kib=$(tail -n 1 "$W/time" | cut -d' ' -f2)
		[ -z "$R_MS" ] || [ "$ms" -lt "$R_MS" ] && R_MS=$ms
		[ "$kib" -gt "$R_KIB" ] && R_KIB=$kib
		i=$((i + 1))
	done
	return 0
}
# microseconds -> "1.234 s" / "12.3 ms"
fmt_t() { awk -v u="$1" 'BEGIN { if (u >= 1e6) printf "%.2f s", u / 1e6; else printf "%.1f ms", u / 1e3 }'; }
fmt_m() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

# Per-day comparison of two JSON reports: prints mismatches, exits 1 if any.
# Formats: "meterd" ({"days":[{"date","tokens_*"}]}), "ccusage" ({"daily":
# [{date,inputTokens,...}]}), "expect" (gen-logs --expect).  A day missing on
# one side counts as zeros there; a null (unknown) bucket never equals a number.
cat >"$W/cmp.pl" <<'PERL'
use strict; use warnings; use JSON::PP;
my ($kind, $fa, $a, $fb, $b) = @ARGV;
my @F = qw(input cache_write cache_read output total);
push @F, 'reasoning' if $kind eq 'codex';
my %map = (
  meterd  => { input => 'tokens_input_uncached', cache_write => 'tokens_cache_write',
               cache_read => 'tokens_cache_read', output => 'tokens_output',
               reasoning => 'tokens_reasoning', total => 'tokens_total' },
  # ccusage 20: Claude inputTokens is uncached input; Codex inputTokens is
  # already net of cached_input_tokens (which is cacheReadTokens) and
  # totalTokens = input incl. cached + output.
  ccusage => { input => 'inputTokens', cache_write => 'cacheCreationTokens',
               cache_read => 'cacheReadTokens', output => 'outputTokens',
               reasoning => 'reasoningOutputTokens', total => 'totalTokens' },
  expect  => { map { $_ => $_ } qw(input cache_write cache_read output reasoning total) },
);
sub load {
  my ($fmt, $file) = @_;
  open my $fh, '<', $file or die "$file: $!"; local $/; my $j = decode_json(<$fh>);
  my $list = $fmt eq 'ccusage' ? $j->{daily} : $j->{days};
  die "$file: no day list\n" unless ref $list eq 'ARRAY';
  my %d;
  for my $e (@$list) {
    for my $f (@F) { my $v = $e->{ $map{$fmt}{$f} }; $d{ $e->{date} }{$f} = defined $v ? $v : 'null'; }
  }
  return \%d;
}
my ($A, $B) = (load($fa, $a), load($fb, $b));
my %dates = map { $_ => 1 } keys %$A, keys %$B;
my $bad = 0;
for my $d (sort keys %dates) {
  for my $f (@F) {
    my $x = exists $A->{$d} ? $A->{$d}{$f} : 0;
    my $y = exists $B->{$d} ? $B->{$d}{$f} : 0;
    next if $x ne 'null' && $y ne 'null' && $x == $y;
    # Codex logs report no cache writes unless the new cache_write field is
    # there: meterd says not applicable (null), ccusage prints 0.  Only that
    # bucket of that kind may differ this way; documented in bench/README.
    next if $kind eq 'codex' && $f eq 'cache_write' &&
            (($x eq 'null' && $y eq '0') || ($x eq '0' && $y eq 'null'));
    printf "    %s %-11s %s=%s %s=%s\n", $d, $f, $fa, $x, $fb, $y unless $bad >= 40;
    $bad++;
  }
}
printf "  %d mismatching day/bucket values (%d days compared)\n", $bad, scalar keys %dates if $bad;
exit($bad ? 1 : 0);
PERL
cmp_reports() { perl "$W/cmp.pl" "$@"; }

# Per-day cost: meterd cost_usd against ccusage's (Claude totalCost, Codex
# costUSD).  A day passes within 0.5 % or $0.01; prints every day that does
# not and the worst relative deviation.  Exit 1 when a day fails.
cat >"$W/cost.pl" <<'PERL'
use strict; use warnings; use JSON::PP;
my ($m, $c) = @ARGV;
sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; decode_json(<$fh>) }
my ($M, $C) = (slurp($m), slurp($c));
my %mc = map { $_->{date} => $_->{cost_usd} } @{ $M->{days} };
my %cc = map { $_->{date} => (defined $_->{totalCost} ? $_->{totalCost} : $_->{costUSD}) } @{ $C->{daily} };
my %dates = map { $_ => 1 } keys %mc, keys %cc;
my ($bad, $worst, $wday) = (0, 0, '-');
for my $d (sort keys %dates) {
  my $y = $cc{$d} // 0;
  my $x = $mc{$d};
  if (!defined $x) { printf "    %s meterd=null ccusage=%.4f\n", $d, $y; $bad++; next; }
  my $dev = abs($x - $y); my $rel = $y ? $dev / $y : ($dev ? 1 : 0);
  ($worst, $wday) = ($rel, $d) if $rel > $worst;
  next if $rel <= 0.005 || $dev <= 0.01;
  printf "    %s meterd=%.4f ccusage=%.4f (%.3f %%)\n", $d, $x, $y, 100 * $rel unless $bad >= 40;
  $bad++;
}
printf "  worst cost deviation %.3f %% (%s), %d of %d days outside 0.5 %% / \$0.01\n",
  100 * $worst, $wday, $bad, scalar keys %dates;
exit($bad ? 1 : 0);
PERL
cmp_costs() { perl "$W/cost.pl" "$@"; }

FAIL=0
say "logs benchmark $STAMP: kinds [$KINDS] sizes [$SIZES] seed $SEED, best of $RUNS runs; $(nproc) CPUs"
say "results in $OUT"
for kind in $KINDS; do
	for size in $SIZES; do
		tag=$kind-$size
		# one tree on disk at a time (a 1 GiB tree per kind adds up)
		[ "${KEEP_TREES:-0}" = 1 ] || rm -rf "$W/t"
		T=$W/t/$tag
		say ""
		say "== $tag"
		t0=$(date +%s%N)
		"$GEN" --kind "$kind" --size "$size" --seed "$SEED" --out "$T" --expect "$OUT/$tag.expect.json" 2>"$OUT/$tag.gen.log" ||
			die "gen-logs failed: $(cat "$OUT/$tag.gen.log")"
		t1=$(date +%s%N)
		say "  generator: $(sed 's/^gen-logs: //' "$OUT/$tag.gen.log") (wall $(fmt_t $(( (t1 - t0) / 1000 ))))"
		cc1_ms="" cc2_ms="" m_cold=""
		if [ $HAVE_CC = 1 ]; then
			if [ "$kind" = claude ]; then env_var=CLAUDE_CONFIG_DIR; else env_var=CODEX_HOME; fi
			if run "$OUT/$tag.ccusage.json" "$RUNS" env "$env_var=$T" "$CC_BIN" "$kind" daily --json --offline -z UTC; then
				cc2_ms=$R_MS
				say "  ccusage 2 threads : $(fmt_t $R_MS), peak RSS $(fmt_m $R_KIB)"
			else
				say "  ccusage failed: $(head -c 300 "$OUT/$tag.ccusage.json.err")"; FAIL=1
			fi
			# only the Claude loader has --single-thread in ccusage 20
			if [ "$kind" = claude ] &&
				run "$OUT/$tag.ccusage1.json" "$RUNS" env "$env_var=$T" "$CC_BIN" "$kind" daily --json --offline -z UTC --single-thread; then
				cc1_ms=$R_MS
				say "  ccusage 1 thread  : $(fmt_t $R_MS), peak RSS $(fmt_m $R_KIB)"
			fi
			if [ -n "$cc2_ms" ]; then
				if cmp_reports "$kind" ccusage "$OUT/$tag.ccusage.json" expect "$OUT/$tag.expect.json" >"$OUT/$tag.selfcheck.txt"; then
					say "  generator self-check: ccusage per-day totals = generator's intended totals ($(grep -c '"date"' "$OUT/$tag.expect.json") days)"
				else
					say "  generator self-check FAILED (ccusage vs gen-logs --expect):"; cat "$OUT/$tag.selfcheck.txt" | tee -a "$SUMMARY"; FAIL=1
				fi
			fi
		fi
		[ $HAVE_METERD = 1 ] || continue
		prov=${kind}_logs
		S=$W/t/state-$tag
		rm -rf "$S"
		mkdir -p "$S" && chmod 700 "$S"   # meterd refuses a state_dir open to others
		cat >"$W/$tag.yaml" <<Y
listen: 127.0.0.1:0
state_dir: $S
plugin_dir: $PLUGIN_DIR
aliases: ""
providers:
  $prov:
    plugin: $prov
    interval: 1h
    timeout: 300s
    roots: ["$T"]
Y
		if [ ! -e "$PLUGIN_DIR/$prov.so" ]; then
			say "  meterd: plugin $PLUGIN_DIR/$prov.so not built: skipped"
			continue
		fi
		set -- "$METERD" report daily -c "$W/$tag.yaml" --provider "$prov" --tz UTC --json
		# Cold: best of $RUNS, as for ccusage, each from an empty state
		# directory (the last run's state stays for the warm runs).
		k=0 m_kib=0 all=""   # (run() uses i)
		while [ $k -lt "$RUNS" ]; do
			rm -rf "$S" && mkdir -p "$S" && chmod 700 "$S"
			if ! run "$OUT/$tag.meterd.json" 1 "$@"; then
				m_cold=""
				break
			fi
			[ -z "$m_cold" ] || [ "$R_MS" -lt "$m_cold" ] && m_cold=$R_MS
			[ "$R_KIB" -gt "$m_kib" ] && m_kib=$R_KIB
			all="$all $(awk -v u="$R_MS" 'BEGIN { printf "%.0f", u / 1e3 }')"
			k=$((k + 1))
		done
		if [ -n "$m_cold" ]; then
			say "  meterd cold       : $(fmt_t $m_cold), peak RSS $(fmt_m $m_kib) (best of $RUNS; ms:$all)"
		else
			say "  meterd report daily failed (subcommand or plugin not ready?):"
			head -c 600 "$OUT/$tag.meterd.json.err" | sed 's/^/    /' | tee -a "$SUMMARY"
			FAIL=1
			continue
		fi
		if run "$OUT/$tag.meterd-warm.json" "$RUNS" "$@"; then
			say "  meterd warm       : $(fmt_t $R_MS), peak RSS $(fmt_m $R_KIB) (re-scan of the unchanged tree)"
			cmp -s "$OUT/$tag.meterd.json" "$OUT/$tag.meterd-warm.json" ||
				{ say "  meterd warm report differs from the cold one"; FAIL=1; }
		fi
		if [ -n "$cc2_ms" ]; then
			say "  cold speed-up vs ccusage: $(ratio "$cc2_ms" "$m_cold") (2 threads)${cc1_ms:+, $(ratio "$cc1_ms" "$m_cold") (1 thread)}"
			if cmp_reports "$kind" meterd "$OUT/$tag.meterd.json" ccusage "$OUT/$tag.ccusage.json" >"$OUT/$tag.compare.txt"; then
				say "  per-day totals: meterd = ccusage on every day"
			else
				say "  per-day totals DIFFER (meterd vs ccusage):"; tee -a "$SUMMARY" <"$OUT/$tag.compare.txt"; FAIL=1
			fi
			if cmp_costs "$OUT/$tag.meterd.json" "$OUT/$tag.ccusage.json" >"$OUT/$tag.cost.txt"; then
				say "  per-day cost: within 0.5 % / \$0.01 of ccusage on every day"
				tail -n 1 "$OUT/$tag.cost.txt" | tee -a "$SUMMARY"
			else
				say "  per-day cost DIFFERS (meterd vs ccusage):"; tee -a "$SUMMARY" <"$OUT/$tag.cost.txt"; FAIL=1
			fi
		fi
	done
done
say ""
[ $FAIL = 0 ] && say "OK" || say "FAILED (see above)"
exit $FAIL
