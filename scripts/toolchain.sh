#!/usr/bin/env bash
# Installs what `cargo plugins` needs beyond Rust: the wasm32-wasip2 target, and for the
# script runner (QuickJS is C) Debian's clang-19, llvm-19 (llvm-ar-19) and wasi-libc's
# headers; .cargo/config.toml points the C build at them. Does nothing when all are there.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

if command -v clang-19 >/dev/null && command -v llvm-ar-19 >/dev/null \
    && [ -f /usr/include/wasm32-wasi/stdlib.h ]; then
    exit 0
fi
packages="clang-19 llvm-19 wasi-libc"
if [ "$(id -u)" = 0 ]; then
    sudo=""
elif command -v sudo >/dev/null; then
    sudo="sudo"
else
    echo "The script runner needs a C compiler for WebAssembly: install $packages" \
        "(e.g. apt-get install $packages) and run this again." >&2
    exit 1
fi
echo "Installing $packages (the C compiler the script runner's QuickJS needs)…" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >/dev/null
