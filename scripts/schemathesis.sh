#!/usr/bin/env bash
# Schemathesis, the OpenAPI conformance fuzzer the API test runs against a live
# `quarry serve` (tests/server/openapi.rs), from PyPI into target/schemathesis-venv.
# Prints the path of its `st` command.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/schemathesis-venv
version=4.32.5
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
    echo "== installing Schemathesis $version into $venv (PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version" >&2
fi
echo "$PWD/$venv/bin/st"
