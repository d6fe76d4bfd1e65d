#!/usr/bin/env bash
# Runs reko's benchmarks (release, one thread per runtime) and writes ../BENCHMARKS.md from criterion's
# results. Settings: CARGO_TARGET_DIR (default /work/target-bench), REKO_BENCH_MODELS_DIR (default
# ../target/test-models), REKO_BENCH_EVAL_DIR (default ../../shared/eval). Extra arguments go to
# `cargo bench` (e.g. `bench/run.sh --bench preprocess`); `bench/run.sh --report-only` rewrites
# BENCHMARKS.md from the last run's results without running anything.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
export REKO_BENCH_NOTES="$CARGO_TARGET_DIR/reko-bench-notes"
criterion_dir="$CARGO_TARGET_DIR/criterion"

if [[ "${1:-}" != "--report-only" ]]; then
    # Fresh results only: no figures from an earlier run may reach the report.
    rm -rf "$criterion_dir" "$REKO_BENCH_NOTES"
    mkdir -p "$REKO_BENCH_NOTES"
    date -u '+%Y-%m-%d %H:%M UTC' > "$REKO_BENCH_NOTES/run-date.txt"
    echo "bench/run.sh${*:+ $*}   # = cargo bench${*:+ $*} in bench/, CARGO_TARGET_DIR=$CARGO_TARGET_DIR" \
        > "$REKO_BENCH_NOTES/run-command.txt"
    cargo bench "$@" 2>&1 | tee "$CARGO_TARGET_DIR/reko-bench.log"
fi

cargo run --quiet --profile bench --bin report -- "$criterion_dir" "$REKO_BENCH_NOTES" "$here/../BENCHMARKS.md"
