#!/usr/bin/env bash
# Runs gosan's runtime benchmarks and, when `go` is installed, the same programs in
# Go (benches/go), with and without -race, and prints gosan/Go ratios (lower is
# better) against the targets of the foundation and race-detector issues.
#
# Go runs at GOMAXPROCS=1: gosan's deterministic mode is one thread, and Go at
# GOMAXPROCS=2 would pay for cross-thread wake-ups that gosan never has (which flatters
# gosan). Every benchmark has a history row (`*_hist`: after a tenth of the same work in
# the same run) and the spawn_after_N rows spawn a batch after N goroutines finished
# and were waited for, so a cost that grows with the run's history shows.
#
# Usage: benches/compare.sh     (GO=/path/to/go picks the toolchain; GOSAN_BENCH_RUNS=5
#        Go runs per benchmark, median; BENCH_SAMPLES=5 gosan samples per benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-$(command -v go || ls /usr/lib/go-1.23/bin/go 2>/dev/null || true)}
RUNS=${GOSAN_BENCH_RUNS:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== gosan (deterministic mode) =="
# Peak RSS only grows within a process: the RSS row gets a process of its own.
cargo bench -q --bench runtime 2>/dev/null | grep -v '^rss_' | tee "$out/gosan.txt"
cargo bench -q --bench runtime -- rss_100k_race 2>/dev/null | tee -a "$out/gosan.txt"

if [ -z "$GO" ]; then
  echo "go not installed: no ratios (../shared/tools/install-go-1.23.sh installs Go 1.23)"
  exit 0
fi
export GOMAXPROCS=1
echo "== Go ($($GO version | awk '{print $3}'), GOMAXPROCS=$GOMAXPROCS) =="
declare -A n=([Pingpong]=200000x [Buffered]=1000000x [Spawn]=100000x [Mutex]=1000000x
  [Shared]=1000000x [SpawnAfter0]=10000x [SpawnAfter10k]=10000x [SpawnAfter100k]=10000x
  [SpawnAfter1m]=10000x)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gobench() { # $1 = bench, $2 = benchtime, $3 = extra flags
  for _ in $(seq "$RUNS"); do
    (cd benches/go && "$GO" test $3 -run '^$' -bench "^Benchmark$1\$" -benchtime "$2" -count 1 .) |
      awk -v b="$1" '$1 ~ "^Benchmark"b"(-[0-9]+)?$" {print $3}'
  done | median
}
# gosan's row names: pingpong, pingpong_hist, spawn_after_10k, …
key() { echo "$1" | sed -e 's/Hist$/_hist/' -e 's/After/_after_/' | tr A-Z a-z; }
for b in Pingpong Buffered Spawn Mutex Shared; do
  for v in "" Hist; do
    k=$(key "$b$v")
    printf "%-24s %10.1f ns/op\n" "$k" "$(gobench "$b$v" "${n[$b]}" "")" | tee -a "$out/go.txt"
    printf "%-24s %10.1f ns/op\n" "${k/_hist/}_race${v:+_hist}" "$(gobench "$b$v" "${n[$b]}" -race)" |
      tee -a "$out/go.txt"
  done
done
for a in 0 10k 100k 1m; do
  b=SpawnAfter$a
  printf "%-24s %10.1f ns/op\n" "spawn_after_$a" "$(gobench "$b" "${n[$b]}" "")" | tee -a "$out/go.txt"
  printf "%-24s %10.1f ns/op\n" "spawn_after_${a}_race" "$(gobench "$b" "${n[$b]}" -race)" |
    tee -a "$out/go.txt"
done
(cd benches/go/rss && "$GO" build -o "$out/rss" . && "$GO" build -race -o "$out/rss_race" .)
printf "%-24s %10s KiB\n" rss_100k "$("$out/rss")" | tee -a "$out/go.txt"
printf "%-24s %10s KiB\n" rss_100k_race "$("$out/rss_race")" | tee -a "$out/go.txt"

g() { awk -v k="$1" '$1 == k {print $2}' "$out/gosan.txt"; }
o() { awk -v k="$1" '$1 == k {print $2}' "$out/go.txt"; }
ratio() { # name, gosan key, go key, target (empty: none)
  awk -v n="$1" -v a="$(g "$2")" -v b="$(o "$3")" -v t="$4" 'BEGIN {
    if (a == "" || b == "" || b == 0) { printf "%-48s n/a\n", n; exit }
    r = a / b; printf "%-48s %8.3f", n, r
    if (t != "") printf "  (target <= %s) %s", t, (r <= t ? "met" : "NOT met")
    printf "\n" }'
}
growth() { # name, gosan key at N, gosan key at 0, bound
  awk -v n="$1" -v a="$(g "$2")" -v b="$(g "$3")" -v t="$4" 'BEGIN {
    if (a == "" || b == "" || b == 0) { printf "%-48s n/a\n", n; exit }
    r = a / b; printf "%-48s %8.3f  (bound <= %s) %s\n", n, r, t, (r <= t ? "met" : "NOT met") }'
}
echo "== ratios gosan/Go at P=1 (lower is better) =="
for h in "" _hist; do
  w=${h:+" (history)"}
  ratio "pingpong, detector off / Go$w"              "pingpong$h" "pingpong$h" 0.3
  ratio "buffered cap-128, detector off / Go$w"      "buffered$h" "buffered$h" 0.5
  ratio "spawn+done, detector off / Go$w"            "spawn$h" "spawn$h" 0.1
  ratio "contended Mutex, detector off / Go$w"       "mutex$h" "mutex$h" 1.0
  ratio "pingpong, detector on / Go$w"               "pingpong_race$h" "pingpong$h" 1.0
  ratio "buffered cap-128, detector on / Go$w"       "buffered_race$h" "buffered$h" 1.0
  ratio "spawn+done, detector on / Go$w"             "spawn_race$h" "spawn$h" 0.3
  ratio "spawn+done, detector on / Go -race$w"       "spawn_race$h" "spawn_race$h" ""
  ratio "contended Mutex, detector on / Go -race$w"  "mutex_race$h" "mutex_race$h" 0.25
  ratio "Shared read+write, on / Go -race pair$w"    "shared_race$h" "shared_race$h" 0.5
done
for a in 0 10k 100k 1m; do
  ratio "spawn after $a, detector off / Go"          "spawn_after_$a" "spawn_after_$a" ""
  ratio "spawn after $a, detector on / Go -race"     "spawn_after_${a}_race" "spawn_after_${a}_race" ""
done
echo "== growth with history (gosan, per spawn, N=1M / N=0) =="
growth "spawn after 1M / after 0, detector off"   spawn_after_1m spawn_after_0 1.5
growth "spawn after 1M / after 0, detector on"    spawn_after_1m_race spawn_after_0_race 1.5
ratio "peak RSS 100k goroutines, on / Go -race"   rss_100k_race rss_100k_race 0.5
