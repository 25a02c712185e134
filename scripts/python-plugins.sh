#!/usr/bin/env bash
# Builds the Python plugins (plugins/python/examples/*/app.py) into
# target/python-plugins/NAME.wasm with componentize-py, which it installs into
# target/python-venv on first use, for contract 0.2: world `aggregate` for an example that
# defines `Merge` (export_aggregate), else world `plugin`. First it runs the SDK's unit
# tests natively, with the contract's bindings in target/python-plugins/bindings. A plugin
# is rebuilt only when its sources, the SDK or the contract changed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/target/python-venv"
componentize="$venv/bin/componentize-py"
version=0.25.1

if ! "$componentize" --version 2>/dev/null | grep -q "$version"; then
    if ! command -v python3 >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 keeps venv in a package of its own.
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$version"
fi

out="$repo/target/python-plugins"
mkdir -p "$out"
sdk="$repo/plugins/python"
wit="$repo/plugins/wit/v0.2"
python="$venv/bin/python"
bindings="$out/bindings"
rm -rf "$bindings"
"$componentize" -d "$wit" -w plugin bindings "$bindings" >/dev/null
PYTHONPATH="$bindings" "$python" -B -m unittest discover --quiet -s "$sdk" -p "test_*.py"

for app in "$sdk"/examples/*/app.py; do
    dir="$(dirname "$app")"
    wasm="$out/$(basename "$dir").wasm"
    if [ -f "$wasm" ] && [ -z "$(find "$dir" "$sdk/quarry_plugin.py" "$wit" -newer "$wasm" -print -quit)" ]; then
        continue
    fi
    # An example exported with export_aggregate defines `Merge`, the merge interface's export.
    world="$(cd "$dir" && PYTHONPATH=".:$sdk:$bindings" "$python" -B -c \
        'import app; print("aggregate" if hasattr(app, "Merge") else "plugin")')"
    echo "componentize-py ($world): $wasm"
    (cd "$dir" && "$componentize" -d "$wit" -w "$world" componentize app -p . -p "$sdk" -o "$wasm" >/dev/null)
done
