# Sourced by the scripts that run a test server in the background (cassandra.sh,
# ferretdb.sh): the server's PID is kept in a file, and it is stopped by that PID, never
# by name, so no other process of the same program is touched.

# True when the process in pidfile $1 is alive.
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops the process in pidfile $1 (named $2 in the message): SIGTERM, up to $3 seconds
# (default 30) for it to finish, then SIGKILL.
stop_server() {
    local pidfile=$1 name=$2 seconds=${3:-30} pid
    if running "$pidfile"; then
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 1 $((seconds * 4))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        echo "stopped $name (pid $pid)" >&2
    fi
    rm -f "$pidfile"
}
