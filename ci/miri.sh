#!/usr/bin/env bash
# Miri: undefined-behaviour check of the code that runs without a goroutine switch.
#
# Miri cannot execute corosensei's inline assembly (every goroutine switch), so the
# runtime and the facade's tests are out of its reach (those parts get loom models
# and sanitizers instead, STYLE.md (b) 20). What it runs:
#   - gosan-detector, all of it: vector clocks, shadow memory, the FastTrack engine,
#     report building and Go-format text, and the differential test against the
#     brute-force model (reduced under cfg(miri): fewer traces, smaller N);
#   - gosan-instrument's lib unit tests (state machines that need no switch).
# No detector test symbolizes a real binary, so none is ignored under Miri.
#
# Needs the nightly toolchain with the miri and rust-src components; installs them
# when rustup can, else prints a SKIP line and exits 0 (exit 1 instead when
# GOSAN_MIRI_REQUIRED=1). Extra Miri flags: MIRIFLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "ci/miri.sh: SKIP: $1" >&2
    if [ "${GOSAN_MIRI_REQUIRED:-0}" = 1 ]; then exit 1; fi
    exit 0
}

command -v rustup >/dev/null 2>&1 || skip "rustup not found (Miri needs the nightly toolchain)"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "ci/miri.sh: installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal --component miri,rust-src \
        || skip "cannot install the nightly toolchain"
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "ci/miri.sh: adding miri and rust-src to nightly" >&2
    rustup component add miri rust-src --toolchain nightly \
        || skip "miri is not available for this nightly"
fi
cargo +nightly miri setup || skip "cargo miri setup failed (no network for the sysroot?)"

cargo +nightly miri --version
cargo +nightly miri test -p gosan-detector
cargo +nightly miri test -p gosan-instrument --lib
