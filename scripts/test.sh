#!/usr/bin/env bash
# Runs Quarry's whole test suite on a fresh machine: installs what is missing (the
# wasm32-wasip2 Rust target and clang for the script runner; PostgreSQL and Chromium
# when run as root; Apache Cassandra from Maven Central; FerretDB from the Go module
# proxy; the MongoDB emulator from npm; componentize-py and Schemathesis from PyPI),
# starts the servers, builds every plugin (Rust, the script runner, Python), then runs
# every test, and fuzzes each cargo fuzz target beside them for a bounded time (QUARRY_FUZZ_SECONDS,
# default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

# A build from scratch gains nothing from incremental compilation, and its caches
# take gigabytes of disk; CI builds from scratch.
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi
# Free disk space, shown at each step: the test binaries take several GB.
disk() { df -h . | awk 'NR == 2 { print "   (disk: " $4 " free)" }'; }
disk

# The wasm32-wasip2 target, and the C compiler for the script runner's QuickJS.
bash scripts/toolchain.sh

# PostgreSQL for the source tests: set up locally when we may (root), unless a URL is given.
if [ -z "${QUARRY_TEST_POSTGRES_URL:-}" ] && [ "$(id -u)" = 0 ]; then
    echo "== PostgreSQL"
    QUARRY_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    export QUARRY_TEST_POSTGRES_URL QUARRY_TEST_POSTGRES_RESTART="pg_ctlcluster $version main restart"
    export QUARRY_TEST_POSTGRES_CA=/var/lib/postgresql/quarry-tls/ca.crt
fi

# Apache Cassandra 5.0 (Maven Central, Java 17) for the CQL source tests, started in the
# background now: it takes a minute to answer, which the plugin builds below cover.
# FerretDB (Go module proxy) for the live MongoDB-wire tests. Both are stopped at exit.
servers=()
stop_servers() {
    for s in "${servers[@]}"; do bash "scripts/$s.sh" stop || true; done
}
trap stop_servers EXIT
if [ -z "${QUARRY_TEST_CASSANDRA_URI:-}" ] && command -v java >/dev/null && command -v mvn >/dev/null; then
    echo "== Apache Cassandra (starting in the background)"
    servers+=(cassandra)
    bash scripts/cassandra.sh > target/cassandra.out 2> target/cassandra.err &
    cassandra_starting=$!
fi
if [ -z "${QUARRY_TEST_MONGODB_URI:-}" ] && command -v go >/dev/null; then
    echo "== FerretDB"
    servers+=(ferretdb)
    QUARRY_TEST_MONGODB_URI=$(bash scripts/ferretdb.sh | tail -1)
    export QUARRY_TEST_MONGODB_URI QUARRY_TEST_FERRETDB_CONTROL="bash $PWD/scripts/ferretdb.sh"
    echo "   $QUARRY_TEST_MONGODB_URI"
fi

# The MongoDB wire-protocol emulator for the driver-path tests (needs Node.js and npm).
if [ -z "${QUARRY_TEST_MONGO_EMULATOR_URI:-}" ] && command -v node >/dev/null && command -v npm >/dev/null; then
    echo "== MongoDB emulator"
    bash scripts/mongo-emulator.sh target/mongo-emulator
    port=27018
    PORT=$port node target/mongo-emulator/server.mjs > target/mongo-emulator/server.log 2>&1 &
    emulator=$!
    trap 'kill $emulator 2>/dev/null || true; stop_servers' EXIT
    for _ in $(seq 1 50); do grep -q listening target/mongo-emulator/server.log && break; sleep 0.2; done
    export QUARRY_TEST_MONGO_EMULATOR_URI="mongodb://127.0.0.1:$port/?directConnection=true"
fi

# Chromium and chromedriver for the browser test, nginx as the load balancer of the
# several-hosts test (Debian's packages; root installs them).
if { ! command -v chromedriver >/dev/null || ! [ -x /usr/sbin/nginx ]; } && [ "$(id -u)" = 0 ]; then
    echo "== Chromium and nginx"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver nginx >/dev/null
fi


# The page's bundled front-end libraries (web/static/editor.js) must be what web/src and
# the lockfile build (npm).
echo "== the front-end bundle (scripts/web.sh --check)"
bash scripts/web.sh --check

echo "== building plugins (cargo plugins)"
cargo plugins -j2
disk
echo "== Schemathesis, for the OpenAPI conformance test (PyPI)"
QUARRY_TEST_SCHEMATHESIS=$(bash scripts/schemathesis.sh)
export QUARRY_TEST_SCHEMATHESIS
echo "== building the Python plugins (componentize-py)"
bash scripts/python-plugins.sh
echo "== building the TypeScript plugins (jco)"
bash scripts/ts-plugins.sh
disk
if [ -n "${cassandra_starting:-}" ]; then
    echo "== waiting for Apache Cassandra"
    if ! wait "$cassandra_starting"; then
        cat target/cassandra.err >&2
        exit 1
    fi
    QUARRY_TEST_CASSANDRA_URI=$(tail -1 target/cassandra.out)
    export QUARRY_TEST_CASSANDRA_URI QUARRY_TEST_CASSANDRA_CONTROL="bash $PWD/scripts/cassandra.sh"
    echo "   $QUARRY_TEST_CASSANDRA_URI"
fi
echo "== plugin SDK and example unit tests"
cargo test -j2 --manifest-path plugins/Cargo.toml --workspace --exclude not-a-plugin
echo "== building the host and its tests"
cargo test -j2 --workspace --no-run
disk
# The fuzz targets build and run beside the tests, at the lowest priority: the database
# tests mostly wait on their servers, which leaves a core idle. Their own target directory
# keeps cargo's lock on target/ free.
echo "== fuzzing in the background (each cargo fuzz target for a bounded time; scripts/fuzz.sh 3600 runs longer)"
CARGO_TARGET_DIR="$PWD/target/fuzz-build" nice -n 19 \
    bash scripts/fuzz.sh "${QUARRY_FUZZ_SECONDS:-20}" > target/fuzz.log 2>&1 &
fuzzing=$!
trap 'kill $fuzzing 2>/dev/null || true; kill ${emulator:-} 2>/dev/null || true; stop_servers' EXIT
echo "== host unit and integration tests"
cargo test -j2 --workspace
disk
# The benchmarks, each run once (divan's test mode): they still build and work.
cargo test -j2 --workspace --benches
disk
echo "== fuzzing (waiting for the background run)"
if ! wait "$fuzzing"; then
    tail -60 target/fuzz.log >&2
    exit 1
fi
grep -E '^(== fuzz|Done|stat::number_of_executed_units)' target/fuzz.log || true
