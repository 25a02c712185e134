#!/usr/bin/env bash
# Builds the TypeScript plugins (plugins/ts/examples/*/app.ts) into
# target/ts-plugins/NAME.wasm, with `-` in NAME turned into `_` as cargo does: tsc compiles
# them to JavaScript in target/ts-plugins/js, the SDK's unit tests run, then jco
# componentize bundles each example with the SDK into a component of contract 0.2 (world
# `aggregate` for an example that exports `merge`, else world `plugin`). The npm packages
# pinned by plugins/ts/package-lock.json are installed into target/ts-plugins/node the
# first time (npm's cache: target/npm-cache). A plugin is rebuilt only when its sources,
# the SDK, the packages or the contract changed.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ts="$repo/plugins/ts"
out="$repo/target/ts-plugins"
install="$out/node"
export QUARRY_TS_NODE_MODULES="$install/node_modules"
export npm_config_cache="$repo/target/npm-cache"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "ts-plugins.sh: Node.js and npm are missing; install them (e.g. apt-get install nodejs npm)" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number);
              process.exit(major > 20 || (major === 20 && minor >= 19) ? 0 : 1)'; then
    echo "ts-plugins.sh: jco needs Node.js 20.19 or later; this is $(node --version)" >&2
    exit 1
fi

# Install again only when the lockfile changed since the last successful install. `npm
# install` with the lockfile installs the locked versions; `npm ci` would also insist that
# every platform's optional binary (rolldown's, ...) is in the lockfile, and a registry
# mirror that lacks some of them cannot produce such a lockfile.
mkdir -p "$install"
if ! cmp -s "$ts/package-lock.json" "$install/installed.lock" || [ ! -d "$QUARRY_TS_NODE_MODULES" ]; then
    cp "$ts/package.json" "$ts/package-lock.json" "$install/"
    (cd "$install" && npm install --no-audit --no-fund --loglevel=error)
    cp "$ts/package-lock.json" "$install/installed.lock"
fi

# tsc compiles (and type-checks) the SDK and every example in a second; the SDK's unit
# tests take less.
node "$QUARRY_TS_NODE_MODULES/typescript/bin/tsc" -p "$ts"
(cd "$ts" && node --import ./sdk/test-host.mjs --test --test-reporter=dot "$out/js/sdk/quarry-plugin.test.js")

wit="$repo/plugins/wit/v0.2"
inputs=("$ts/sdk" "$ts/types" "$ts/tsconfig.json" "$ts/build.mjs" "$ts/bundle.config.mjs"
        "$ts/package-lock.json" "$wit")
for dir in "$ts"/examples/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    wasm="$out/${name//-/_}.wasm"
    if [ -f "$wasm" ] && [ -z "$(find "$dir" "${inputs[@]}" -newer "$wasm" -print -quit)" ]; then
        continue
    fi
    app="$out/js/examples/$name/app.js"
    # A plugin exported with exportAggregate has an export called `merge`.
    world="$(node --import "$ts/sdk/test-host.mjs" --input-type=module \
        -e 'console.log("merge" in (await import(process.argv[1])) ? "aggregate" : "plugin")' "$app")"
    echo "jco componentize ($world): $wasm"
    node "$ts/build.mjs" componentize "$app" \
        --bundle --bundle-config "$ts/bundle.config.mjs" \
        --wit "$wit" --world-name "$world" --disable all -o "$wasm" >/dev/null
done
