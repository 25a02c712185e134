#!/usr/bin/env bash
# Runs the Quarry playground on the embedded demo data: builds the host and the example
# plugins, prints one plugin run over all 336,776 flights of 2013 as a taste of the command
# line, then serves the playground with the examples in its library on
# http://127.0.0.1:8080 (Ctrl+C stops it). Extra arguments go to `quarry serve`, e.g.
# `scripts/demo.sh --bind 0.0.0.0:8080 --auth token` (after `quarry users add`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/toolchain.sh
cargo plugins -j2 --quiet
cargo build --release -j2 --quiet
plugins=target/wasm32-wasip2/release
./target/release/quarry run --plugin $plugins/delay_stats.wasm \
    --query "SELECT carrier, arr_delay FROM flights"
args=()
for example in flights_between units delayed delay_stats mask; do
    args+=(--plugins "$plugins/$example.wasm")
done
exec ./target/release/quarry serve "${args[@]}" "$@"
