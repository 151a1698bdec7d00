#!/usr/bin/env bash
# Runs gosan's runtime benchmarks and, when `go` is installed, the same programs in
# Go (benches/go), in one go, and prints gosan/Go per benchmark (lower is better).
# Usage: benches/compare.sh            (GO=/path/to/go to choose the toolchain)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-$(command -v go || ls /usr/lib/go-1.23/bin/go 2>/dev/null || true)}

echo "== gosan (deterministic mode, detector off) =="
cargo bench -q --bench runtime 2>/dev/null | tee /tmp/gosan-bench.txt

if [ -z "$GO" ]; then
  echo "go not installed: no ratios (../shared/tools/install-go-1.23.sh installs Go 1.23)"
  exit 0
fi
echo "== Go ($($GO version | awk '{print $3}'), GOMAXPROCS=${GOMAXPROCS:-$(nproc)}) =="
declare -A n=([Pingpong]=200000x [Buffered]=1000000x [Spawn]=100000x [Mutex]=1000000x)
: > /tmp/go-bench.txt
for b in Pingpong Buffered Spawn Mutex; do
  for _ in 1 2 3 4 5; do
    (cd benches/go && "$GO" test -run '^$' -bench "^Benchmark$b\$" -benchtime "${n[$b]}" -count 1 .) |
      awk -v b="$b" '$1 ~ "^Benchmark"b {print tolower(b), $3}'
  done | sort -k2 -g | awk 'NR==3 {printf "%-10s %10.1f ns/op\n", $1, $2}' | tee -a /tmp/go-bench.txt
done

echo "== ratio gosan/Go (lower is better) =="
join <(awk '{print $1, $2}' /tmp/gosan-bench.txt | sort) <(awk '{print $1, $2}' /tmp/go-bench.txt | sort) |
  awk '{printf "%-10s gosan %8.1f ns  go %8.1f ns  ratio %.3f\n", $1, $2, $3, $2/$3}'
