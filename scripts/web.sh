#!/usr/bin/env bash
# Bundles the playground's front-end libraries (web/src: the code editors, CodeMirror; the
# charts, Observable Plot; with the versions web/package.json
# pins and web/package-lock.json locks) into web/static/, where the server embeds them.
# The bundle is committed, so `cargo build` needs no Node; run this after changing
# web/src or the lockfile. With --check, builds into target/ and fails if the committed
# bundle is not what the lockfile builds (CI runs this).
#
# Node.js and npm come from the system; the packages are installed in target/web.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
web="$repo/web"
install="$repo/target/web"
export npm_config_cache="$repo/target/npm-cache"

mkdir -p "$install"
# Install again only when the lockfile changed since the last install.
if ! cmp -s "$web/package-lock.json" "$install/installed.lock" || [ ! -d "$install/node_modules" ]; then
    cp "$web/package.json" "$web/package-lock.json" "$install/"
    (cd "$install" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$web/package-lock.json" "$install/installed.lock"
fi

out="$web/static"
if [ "${1:-}" = --check ]; then
    out="$install/check"
    mkdir -p "$out"
fi
bundle() {
    # NODE_PATH: the packages installed in target/web, for the sources in web/src.
    NODE_PATH="$install/node_modules" "$install/node_modules/.bin/esbuild" "$web/src/$1" \
        --bundle --format=esm --minify --legal-comments=none --target=es2020 \
        --log-level=warning --outfile="$out/$1"
}
bundle editor.js
bundle chart.js

if [ "${1:-}" = --check ]; then
    for file in editor.js chart.js; do
        if ! cmp -s "$out/$file" "$web/static/$file"; then
            echo "web/static/$file is not what web/src and web/package-lock.json build:" \
                "run scripts/web.sh and commit the result" >&2
            exit 1
        fi
    done
    echo "web/static bundles match the lockfile"
fi
