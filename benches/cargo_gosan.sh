#!/usr/bin/env bash
# Per-access cost of `cargo gosan`'s compiler instrumentation: one loop of plain
# reads and writes of a heap array (a data-dependent index, so it cannot be
# vectorized), run
#   - uninstrumented (plain `cargo run --release`),
#   - instrumented, outside any goroutine (the shims' "not in a run" branch),
#   - instrumented, inside a gosan goroutine (every access checked by the detector),
#   - and in Go 1.23, without and with -race, when Go is installed
#     (../shared/tools/install-go-1.23.sh; GO=/path/to/go picks the toolchain).
# Prints ns per iteration (one read and one write of an 8-byte word).
# Usage: benches/cargo_gosan.sh [ITERATIONS]   (default 20000000)
# Before/after numbers of the direct-mapped shadow and the shims' same-epoch fast path
# (in goroutine: 31.5 -> 5.0 ns/iteration, Go 1.23 -race 7.7-7.9): docs/cargo-gosan.md,
# "Cost of an instrumented access".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${1:-20000000}
dir=$root/target/bench-cargo-gosan
mkdir -p "$dir/src" "$dir/go"

cat > "$dir/Cargo.toml" <<TOML
[package]
name = "bench-cargo-gosan"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
gosan = { path = "$root" }

[workspace]
TOML

cat > "$dir/src/main.rs" <<'RS'
use std::time::Instant;

const LEN: usize = 1 << 12;

/// `n` iterations of one read and one write of `v[k]`, `k` from an LCG.
#[inline(never)]
fn work(v: &mut [u64], n: u64) -> u64 {
    let mut j: u64 = 1;
    for _ in 0..n {
        j = j
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let k = (j >> 33) as usize & (LEN - 1);
        v[k] = v[k].wrapping_add(j);
    }
    j
}

fn measure(what: &str, n: u64) {
    let mut v = vec![0u64; LEN];
    work(&mut v, 10_000); // warm-up: code classification, shadow cells
    let t = Instant::now();
    let r = work(std::hint::black_box(&mut v), n);
    let dt = t.elapsed();
    println!(
        "{what:<34} {:>8.2} ns/iteration   (checksum {:x})",
        dt.as_nanos() as f64 / n as f64,
        r ^ v[7]
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(20_000_000, |s| s.parse().unwrap());
    let label = args.next().unwrap_or_default();
    if label == "in-goroutine" {
        let report = gosan::run(move || measure("rust, instrumented, in goroutine", n));
        assert!(report.is_clean(), "{report}");
    } else {
        measure(&label, n);
    }
}
RS

cat > "$dir/go/go.mod" <<'GOMOD'
module benchcargogosan

go 1.23
GOMOD
cat > "$dir/go/main.go" <<'GO'
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const LEN = 1 << 12

//go:noinline
func work(v []uint64, n uint64) uint64 {
	j := uint64(1)
	for i := uint64(0); i < n; i++ {
		j = j*6364136223846793005 + 1442695040888963407
		k := (j >> 33) & (LEN - 1)
		v[k] += j
	}
	return j
}

func main() {
	n, _ := strconv.ParseUint(os.Args[1], 10, 64)
	v := make([]uint64, LEN)
	work(v, 10000)
	t := time.Now()
	r := work(v, n)
	dt := time.Since(t)
	fmt.Printf("%-34s %8.2f ns/iteration   (checksum %x)\n", os.Args[2], float64(dt.Nanoseconds())/float64(n), r^v[7])
}
GO

cargo build -q -p gosan-instrument --bin cargo-gosan
tool=$root/target/debug/cargo-gosan
cd "$dir"
# A user crate has no RUSTFLAGS (this workspace's .cargo/config.toml would add some).
export CARGO_BUILD_RUSTFLAGS=
cargo run -q --release -- "$n" "rust, plain"
"$tool" gosan run -q --release -- "$n" "rust, instrumented, outside a run"
"$tool" gosan run -q --release -- "$n" in-goroutine

GO=${GO:-$(command -v go || ls /usr/lib/go-1.23/bin/go 2>/dev/null || true)}
if [ -z "$GO" ]; then
  echo "go not installed: no Go numbers (../shared/tools/install-go-1.23.sh installs Go 1.23)"
  exit 0
fi
cd go
"$GO" build -o plain . && ./plain "$n" "go $($GO version | awk '{print $3}')"
"$GO" build -race -o race . && ./race "$n" "go -race"
