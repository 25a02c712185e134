#!/usr/bin/env bash
# Makes a local PostgreSQL ready for Quarry's tests: installs it from Debian when missing,
# starts the cluster, and creates the role `quarry` (password `quarry`) and the database
# `quarry_test` (plus `quarry_seed`, which the seed test fills from empty). Needs root (apt-get, and pg_ctlcluster runs the server as `postgres`).
# Serves TLS with a throwaway CA ($tls/ca.crt below). Prints the URL to use as
# QUARRY_TEST_POSTGRES_URL.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
    pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
    pg_ctlcluster "$version" main start >&2
fi
psql_admin() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtAX "$@"; }
for _ in $(seq 1 30); do psql_admin -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.5; done
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'quarry'")" != 1 ]; then
    psql_admin -c "CREATE ROLE quarry LOGIN PASSWORD 'quarry'" >&2
fi
for db in quarry_test quarry_seed; do
    if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE $db OWNER quarry" >&2
    fi
done
# TLS for the TLS tests: a throwaway CA and a certificate for 127.0.0.1 signed by it.
# The tests read the CA from QUARRY_TEST_POSTGRES_CA (scripts/test.sh sets it).
tls=/var/lib/postgresql/quarry-tls
if [ ! -f "$tls/server.crt" ]; then
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Quarry test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 3650 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null
    chown -R postgres:postgres "$tls"
    chmod 600 "$tls/server.key" "$tls/ca.key"
    chmod 644 "$tls/ca.crt"
fi
if [ "$(psql_admin -c "SHOW ssl_cert_file")" != "$tls/server.crt" ]; then
    psql_admin -c "ALTER SYSTEM SET ssl = on" >&2
    psql_admin -c "ALTER SYSTEM SET ssl_cert_file = '$tls/server.crt'" >&2
    psql_admin -c "ALTER SYSTEM SET ssl_key_file = '$tls/server.key'" >&2
    psql_admin -c "SELECT pg_reload_conf()" >/dev/null
fi
echo "postgresql://quarry:quarry@127.0.0.1:5432/quarry_test"
