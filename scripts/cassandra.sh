#!/usr/bin/env bash
# A single-node Apache Cassandra 5.0 on loopback for Quarry's tests and benchmarks.
#
# Installs (once) cassandra-all and its runtime classpath from Maven Central into
# target/cassandra/lib (scripts/cassandra/pom.xml), writes a minimal cassandra.yaml (data
# under target/cassandra), starts org.apache.cassandra.service.CassandraDaemon on Java 17
# with the JVM options Cassandra ships for it (conf/jvm17-server.options), and waits until
# `SELECT release_version FROM system.local` answers. Its last line of stdout is the
# contact point, 127.0.0.1:9042. Run again, it reuses the server that is running.
#
#   scripts/cassandra.sh          start (or reuse) the server; print the contact point
#   scripts/cassandra.sh stop     stop it (by the PID it recorded)
#   scripts/cassandra.sh nodetool ARGS...   Cassandra's nodetool against it (local JMX)
#
# CASSANDRA_HEAP (default 2G) sets the heap; CASSANDRA_DIR moves target/cassandra.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${CASSANDRA_DIR:-$PWD/target/cassandra}
port=9042
pidfile=$dir/cassandra.pid
log=$dir/cassandra.log

. scripts/pidfile.sh

if [ "${1:-}" = stop ]; then
    stop_server "$pidfile" Cassandra 30
    exit 0
fi

# Java 17: Cassandra 5.0 supports 11 and 17, not the newer JDKs some machines also have.
java=java
if [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]; then
    java=/usr/lib/jvm/java-17-openjdk-amd64/bin/java
fi
if ! "$java" -version 2>&1 | grep -q '"17\.'; then
    echo "Cassandra 5.0 needs Java 17; $java is: $("$java" -version 2>&1 | head -1)" >&2
    exit 1
fi

# The module opens of conf/jvm17-server.options (Cassandra's tools need them too).
jpms=(
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
)

if [ "${1:-}" = nodetool ]; then
    shift
    exec "$java" -Xss256k "${jpms[@]}" -cp "$dir/lib/*" -Dlogback.configurationFile=file://"$dir"/logback.xml \
        -Dcassandra.logdir="$dir" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p 7199 "$@"
fi

# Answers when the native protocol serves queries (scripts/cassandra/probe.py speaks just
# enough CQL for one SELECT, with Python's standard library).
probe() {
    python3 scripts/cassandra/probe.py "$port" >/dev/null 2>&1
}

mkdir -p "$dir"
if running "$pidfile" && probe; then
    echo "Cassandra is already running (pid $(cat "$pidfile"))" >&2
    echo "127.0.0.1:$port"
    exit 0
fi

# The classpath, once: cassandra-all and its runtime dependencies.
if [ ! -f "$dir/lib/.complete" ]; then
    echo "== downloading Apache Cassandra's classpath from Maven Central (once)" >&2
    command -v mvn >/dev/null || { echo "Maven (mvn) is needed to install Cassandra" >&2; exit 1; }
    rm -rf "$dir/lib"
    mvn -q -B -f scripts/cassandra/pom.xml \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$dir/lib" \
        -Dmaven.repo.local="$dir/m2" >"$dir/maven.log" 2>&1 \
        || { cat "$dir/maven.log" >&2; exit 1; }
    touch "$dir/lib/.complete"
fi
jamm=$(ls "$dir"/lib/jamm-*.jar | head -1)

mkdir -p "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints" "$dir/cdc_raw"
cat > "$dir/cassandra.yaml" <<YAML
cluster_name: quarry-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: 7000
native_transport_port: $port
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:7000"
data_file_directories:
  - $dir/data
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
auto_snapshot: false
snapshot_before_compaction: false
# Quarry's timeout tests need a server that times a read out on its own.
read_request_timeout: 5000ms
range_request_timeout: 10000ms
YAML
cat > "$dir/logback.xml" <<'XML'
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML

# conf/jvm-server.options and conf/jvm17-server.options of Cassandra 5.0, minus what is
# for production machines (AlwaysPreTouch, NUMA, heap dumps), plus a heap for 2 cores.
heap=${CASSANDRA_HEAP:-2G}
jvm_options=(
    -ea -da:net.openhft...
    -XX:+UseThreadPriorities -Xss256k -XX:+UseTLAB -XX:+ResizeTLAB -XX:+PerfDisableSharedMem
    -Djava.net.preferIPv4Stack=true
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
    -XX:G1HeapRegionSize=16m -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300
    -XX:InitiatingHeapOccupancyPercent=70
    "${jpms[@]}"
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    # bin/cassandra.in.sh: the jamm agent measures objects; 5.0 refuses to start without it.
    -javaagent:"$jamm"
    -Xms"$heap" -Xmx"$heap" -XX:+ExitOnOutOfMemoryError
    -Dcassandra.config=file://"$dir"/cassandra.yaml
    -Dcassandra.logdir="$dir"
    -Dcassandra.storagedir="$dir"
    -Dlogback.configurationFile=file://"$dir"/logback.xml
    -Dcassandra-foreground=yes
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.ring_delay_ms=0
    # A throwaway test node: skip the fsyncs of system tables.
    -Dcassandra.unsafesystem=true
    -Dcassandra.jmx.local.port=7199
)

echo "== starting Apache Cassandra $(ls "$dir"/lib/cassandra-all-*.jar | sed 's/.*cassandra-all-//; s/\.jar//') on 127.0.0.1:$port (log: $log)" >&2
nohup "$java" "${jvm_options[@]}" -cp "$dir/lib/*" \
    org.apache.cassandra.service.CassandraDaemon > "$log" 2>&1 < /dev/null &
echo $! > "$pidfile"

# Ready when a query answers (about a minute on 2 busy cores; up to 4 allowed).
for i in $(seq 1 240); do
    if ! running "$pidfile"; then
        echo "Cassandra exited while starting; the end of $log:" >&2
        tail -30 "$log" >&2
        exit 1
    fi
    if probe; then
        echo "Cassandra answers after ${i}s" >&2
        echo "127.0.0.1:$port"
        exit 0
    fi
    sleep 1
done
echo "Cassandra did not answer within 4 minutes; the end of $log:" >&2
tail -30 "$log" >&2
exit 1
