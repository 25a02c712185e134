#!/usr/bin/env bash
# Builds Quarry's plugins, the Extism guest and the peer bench, then runs the bench over the
# demo's flights. Everything builds into the repository's one target/ directory.
#
#   peers/extism/run.sh [bench flags, e.g. --rounds 9]
set -euo pipefail

peer="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$peer/../.." && pwd)"
export CARGO_TARGET_DIR="$repo/target"

for target in wasm32-wasip2 wasm32-unknown-unknown; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

# Shared dependencies resolve to the versions the root build uses; cargo adds Extism's.
[ -f "$peer/Cargo.lock" ] || cp "$repo/Cargo.lock" "$peer/Cargo.lock"

(cd "$repo" && cargo plugins -j2)
(cd "$peer" && cargo build -j2 --profile plugin -p units-extism --target wasm32-unknown-unknown)
(cd "$peer" && cargo build -j2 --release -p extism-peer)

cd "$repo"
exec "$CARGO_TARGET_DIR/release/extism-peer" \
    --data-dir "${QUARRY_DATA:-$repo/quarry-data}" \
    --quarry-plugin "$CARGO_TARGET_DIR/wasm32-wasip2/release/units.wasm" \
    --extism-plugin "$CARGO_TARGET_DIR/wasm32-unknown-unknown/plugin/units_extism.wasm" \
    "$@"
