#!/usr/bin/env bash
# A Python environment with each database's own client, for `quarry bench --clients`:
# psycopg2 (PostgreSQL), cassandra-driver (Cassandra/ScyllaDB) and pymongo (MongoDB), from
# PyPI, in target/bench-venv. Prints the interpreter to pass to --clients.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import cassandra, pymongo, psycopg2" 2>/dev/null; then
    echo "== installing the Python clients into $venv (PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "cassandra-driver==3.30.1" "pymongo==4.20.1" "psycopg2-binary==2.9.13" >&2
fi
echo "$PWD/$venv/bin/python"
