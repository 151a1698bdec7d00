#!/usr/bin/env bash
# Runs gosan's runtime benchmarks and, when `go` is installed, the same programs in
# Go (benches/go), with and without -race, in one go, and prints gosan/Go ratios
# (lower is better) against the targets of the foundation and race-detector issues.
# Usage: benches/compare.sh     (GO=/path/to/go picks the toolchain; GOSAN_BENCH_RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-$(command -v go || ls /usr/lib/go-1.23/bin/go 2>/dev/null || true)}
RUNS=${GOSAN_BENCH_RUNS:-5}
out=$(mktemp -d)

echo "== gosan (deterministic mode) =="
cargo bench -q --bench runtime 2>/dev/null | tee "$out/gosan.txt"

if [ -z "$GO" ]; then
  echo "go not installed: no ratios (../shared/tools/install-go-1.23.sh installs Go 1.23)"
  exit 0
fi
echo "== Go ($($GO version | awk '{print $3}'), GOMAXPROCS=${GOMAXPROCS:-$(nproc)}) =="
declare -A n=([Pingpong]=200000x [Buffered]=1000000x [Spawn]=100000x [Mutex]=1000000x [Shared]=1000000x)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gobench() { # $1 = bench, $2 = extra flags
  for _ in $(seq "$RUNS"); do
    (cd benches/go && "$GO" test $2 -run '^$' -bench "^Benchmark$1\$" -benchtime "${n[$1]}" -count 1 .) |
      awk -v b="$1" '$1 ~ "^Benchmark"b {print $3}'
  done | median
}
for b in Pingpong Buffered Spawn Mutex Shared; do
  printf "%-14s %10.1f ns/op\n" "$(echo "$b" | tr A-Z a-z)" "$(gobench "$b" "")" | tee -a "$out/go.txt"
  printf "%-14s %10.1f ns/op\n" "$(echo "$b" | tr A-Z a-z)_race" "$(gobench "$b" -race)" | tee -a "$out/go.txt"
done
(cd benches/go/rss && "$GO" build -o "$out/rss" . && "$GO" build -race -o "$out/rss_race" .)
printf "%-14s %10s KiB\n" rss_100k "$("$out/rss")" | tee -a "$out/go.txt"
printf "%-14s %10s KiB\n" rss_100k_race "$("$out/rss_race")" | tee -a "$out/go.txt"

g() { awk -v k="$1" '$1 == k {print $2}' "$out/gosan.txt"; }
o() { awk -v k="$1" '$1 == k {print $2}' "$out/go.txt"; }
ratio() { # name, gosan key, go key, target
  awk -v n="$1" -v a="$(g "$2")" -v b="$(o "$3")" -v t="$4" 'BEGIN {
    if (a == "" || b == "" || b == 0) { printf "%-44s n/a\n", n; exit }
    r = a / b; printf "%-44s %8.3f  (target <= %s) %s\n", n, r, t, (r <= t ? "met" : "NOT met") }'
}
echo "== ratios gosan/Go (lower is better) =="
ratio "pingpong, detector off / Go"              pingpong pingpong 0.3
ratio "buffered cap-128, detector off / Go"      buffered buffered 0.5
ratio "spawn+done, detector off / Go"            spawn spawn 0.1
ratio "contended Mutex, detector off / Go"       mutex mutex 1.0
ratio "pingpong, detector on / Go"               pingpong_race pingpong 1.0
ratio "buffered cap-128, detector on / Go"       buffered_race buffered 1.0
ratio "spawn+done, detector on / Go"             spawn_race spawn 0.3
ratio "contended Mutex, detector on / Go -race"  mutex_race mutex_race 0.25
ratio "Shared read+write, on / Go -race pair"    shared_race shared_race 0.5
ratio "peak RSS 100k goroutines, on / Go -race"  rss_100k_race rss_100k_race 0.5
rm -rf "$out"
