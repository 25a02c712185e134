#!/usr/bin/env bash
# FerretDB 1.24, a MongoDB wire-protocol server, on loopback for Quarry's tests and
# benchmarks: installed (once) from the Go module proxy into target/ferretdb, started with
# its SQLite handler (data under target/ferretdb/data) and telemetry disabled: this machine
# makes no outside connections. Its last line of stdout is the URI to connect with.
#
#   scripts/ferretdb.sh          start (or reuse) the server; print the URI
#   scripts/ferretdb.sh stop     stop it (by the PID it recorded)
#
# FERRETDB_PORT (default 27027) sets the port; FERRETDB_DIR moves target/ferretdb.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v1.24.2
dir=${FERRETDB_DIR:-$PWD/target/ferretdb}
port=${FERRETDB_PORT:-27027}
pidfile=$dir/ferretdb.pid
log=$dir/ferretdb.log
uri="mongodb://127.0.0.1:$port/?directConnection=true"

. scripts/pidfile.sh
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if [ "${1:-}" = stop ]; then
    stop_server "$pidfile" FerretDB 10
    exit 0
fi

mkdir -p "$dir"
if running "$pidfile" && answers; then
    echo "FerretDB is already running (pid $(cat "$pidfile"))" >&2
    echo "$uri"
    exit 0
fi

# The binary, once. `go install …/cmd/ferretdb@v1.24.2` builds one that panics at start:
# the module lacks build/version/version.txt, which FerretDB's own build task generates.
# So: the module's source from the proxy, that file written, then `go build`. The module
# and build caches stay inside target/ too.
if [ ! -x "$dir/bin/ferretdb" ]; then
    command -v go >/dev/null || { echo "Go is needed to install FerretDB" >&2; exit 1; }
    echo "== building FerretDB $version from the Go module proxy (once; a few minutes)" >&2
    export GOMODCACHE="$dir/go/mod" GOCACHE="$dir/go/cache" GOFLAGS=-modcacherw CGO_ENABLED=0
    module=$(cd "$dir" && go mod download -json "github.com/FerretDB/FerretDB@$version" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    rm -rf "$dir/src"
    cp -r "$module" "$dir/src"
    chmod -R u+w "$dir/src"
    echo "$version" > "$dir/src/build/version/version.txt"
    (cd "$dir/src" && go build -trimpath -o "$dir/bin/ferretdb" ./cmd/ferretdb) >&2
fi

mkdir -p "$dir/data" "$dir/state"
echo "== starting FerretDB $version on 127.0.0.1:$port (log: $log)" >&2
nohup "$dir/bin/ferretdb" \
    --handler=sqlite --sqlite-url="file:$dir/data/" \
    --listen-addr="127.0.0.1:$port" --state-dir="$dir/state" \
    --debug-addr=- --telemetry=disable --log-level=warn \
    > "$log" 2>&1 < /dev/null &
echo $! > "$pidfile"

for _ in $(seq 1 100); do
    if ! running "$pidfile"; then
        echo "FerretDB exited while starting; the end of $log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    if answers; then
        echo "$uri"
        exit 0
    fi
    sleep 0.1
done
echo "FerretDB did not listen within 10 s; the end of $log:" >&2
tail -20 "$log" >&2
exit 1
