#!/usr/bin/env bash
# Runs Quarry's whole test suite on a fresh machine: installs what is missing (the
# wasm32-wasip2 Rust target), builds every plugin, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# PostgreSQL for the source tests: set up locally when we may (root), unless a URL is given.
if [ -z "${QUARRY_TEST_POSTGRES_URL:-}" ] && [ "$(id -u)" = 0 ]; then
    echo "== PostgreSQL"
    QUARRY_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    export QUARRY_TEST_POSTGRES_URL QUARRY_TEST_POSTGRES_RESTART="pg_ctlcluster $version main restart"
fi

echo "== building plugins (cargo plugins)"
cargo plugins -j2
echo "== plugin SDK and example unit tests"
cargo test -j2 --manifest-path plugins/Cargo.toml --workspace --exclude not-a-plugin
echo "== host unit and integration tests"
cargo test -j2 --workspace
