#!/usr/bin/env bash
# Runs Quarry on the embedded demo data: builds the plugins, then runs the delay-stats
# aggregate over all 336,776 flights of 2013 (the demo database is built on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
cargo plugins -j2 --quiet
cargo build --release -j2 --quiet
exec ./target/release/quarry run \
    --plugin target/wasm32-wasip2/release/delay_stats.wasm \
    --query "SELECT carrier, arr_delay FROM flights" "$@"
