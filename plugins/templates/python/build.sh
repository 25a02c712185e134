#!/usr/bin/env bash
# Builds {{name}}.wasm from app.py with componentize-py, against the contract in wit/
# (quarry:plugin@0.2.0), and writes its Python bindings into bindings/ for the unit tests
# (`python3 -m unittest`). componentize-py is $COMPONENTIZE_PY when set, else installed
# into .venv the first time.
set -euo pipefail
cd "$(dirname "$0")"
version=0.25.1
# The contract's world: `aggregate` for a plugin exported with export_aggregate.
world=plugin
componentize="${COMPONENTIZE_PY:-.venv/bin/componentize-py}"
if ! "$componentize" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "componentize-py==$version"
    componentize=.venv/bin/componentize-py
fi
rm -rf bindings
"$componentize" -d wit -w "$world" bindings bindings
"$componentize" -d wit -w "$world" componentize app -p . -o {{name}}.wasm >/dev/null
echo "built {{name}}.wasm"
