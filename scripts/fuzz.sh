#!/usr/bin/env bash
# Runs every cargo fuzz target in fuzz/ for SECONDS each (default 30; scripts/test.sh runs
# them for a bounded time, run it longer by hand: scripts/fuzz.sh 3600). Installs what it
# needs: nightly Rust (minimal profile) and cargo-fuzz, into target/tools.
# Corpora grow in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET and the built plugins);
# a crash leaves its input in fuzz/artifacts/TARGET and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
export PATH="$PWD/target/tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked --root target/tools cargo-fuzz
fi

cd fuzz
cargo +nightly fuzz build
for target in batch_validation cql_guard mongo_guard upload_validation; do
    mkdir -p "corpus/$target" "artifacts/$target"
    cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    if [ "$target" = upload_validation ]; then
        cp -n ../target/wasm32-wasip2/release/*.wasm "corpus/$target/" 2>/dev/null || true
    fi
    echo "== fuzz $target for ${seconds}s"
    status=0
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        > "artifacts/$target.log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)|panicked' "artifacts/$target.log" || true
    if [ "$status" != 0 ] || ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
        tail -40 "artifacts/$target.log" >&2
        echo "fuzz $target found a crash: fuzz/artifacts/$target" >&2
        exit 1
    fi
done
