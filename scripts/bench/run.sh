#!/usr/bin/env bash
# Runs the benchmark scenarios of SPEC §10 against buoycast and the two peers (nginx + nchan,
# Pushpin), one server at a time, each scenario bounded to about two minutes, and writes every
# result as JSON under $OUT (default target/bench/<date>). Then `report.py $OUT` makes the
# tables and plots of docs/BENCHMARKS.md.
#
# Usage: scripts/bench/run.sh [SCENARIO…]   (default: all below `scenarios`; also live-100k-1-dist:
#        100,000 streams over 6 `serve` processes with PostgreSQL and Redis, 1 ev/s; and
#        idle-10k-parked: idle streams with 1 s heartbeats, parked with the shard writers)
#        SERVERS="buoycast nchan" scripts/bench/run.sh live-1k-20
# BC=PATH benchmarks another buoycast binary (e.g. an earlier build, for before/after figures);
# BC_ARGS="…" adds arguments to each buoycast `run` (e.g. BC_ARGS="--worker-threads 1").
# SERVER_CPUS=0 LOADGEN_CPUS=1 pins the servers (and everything they start) and the load
# generator to separate CPUs (`taskset -c` lists), so that neither takes the other's CPU: the
# nearest this one machine comes to clients on another host. A server pinned to one CPU runs as
# one worker (buoycast's default is a thread per CPU it may use; nginx runs one worker).
# Needs: a release build (`cargo build --release -p buoycast -p buoycast-loadgen`), and the peers
# (`scripts/bench/peers.sh install`). Targets loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here="$root/scripts/bench"
OUT=${OUT:-$root/target/bench/$(date -u +%Y%m%d-%H%M%S)}
SERVERS=${SERVERS:-"buoycast nchan pushpin"}
LG="$root/target/release/buoycast-loadgen"
BC=${BC:-"$root/target/release/buoycast"}
# The commands servers and the load generator run under (empty: no pinning).
server_cpus=()
[ -n "${SERVER_CPUS:-}" ] && server_cpus=(taskset -c "$SERVER_CPUS")
loadgen_cpus=()
[ -n "${LOADGEN_CPUS:-}" ] && loadgen_cpus=(taskset -c "$LOADGEN_CPUS")
TOKEN=bench-token
mkdir -p "$OUT"
work=$(mktemp -d /tmp/buoycast-bench.XXXXXX)
trap 'stop_server; stop_services; rm -rf "$work"' EXIT

ulimit -n "$(ulimit -Hn)"

# The same event for every server: the observation JSON buoycast streams (16 fields, ~390 bytes),
# with the sequence number and the send time (µs) carried in stationId.
EVENT='{"stationId":"S{seq}T{ts}","timestamp":"{iso}","waveHeightM":1.25,"windSpeedMps":7.5,"windDirDeg":240.0,"waterTempC":12.25,"pressureHpa":1013.5,"gustMps":9.5,"dominantWavePeriodS":8.0,"averageWavePeriodS":6.0,"meanWaveDirDeg":250.0,"airTempC":10.5,"dewPointC":null,"visibilityNmi":null,"pressureTendencyHpa":null,"tideFt":null}'
printf '%s\n' "$EVENT" >"$work/event.json"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
event = open(f"{work}/event.json").read().strip()
content = "event: observation\ndata: " + event + "\n\n"
body = {"items": [{"channel": "bench", "formats": {"http-stream": {"content": content}}}]}
open(f"{work}/pushpin.json", "w").write(json.dumps(body, separators=(",", ":")) + "\n")
PY

pids=()
server=""
# Builds from before the per-address connection cap have no flag for it.
conn_cap=()
if "$BC" run --help 2>/dev/null | grep -q -- --max-connections-per-client; then
    conn_cap=(--max-connections-per-client 0)
fi
wait_health() { # until buoycast answers on 127.0.0.1:8090 (at most 10 s)
    for _ in $(seq 100); do
        curl -sf http://127.0.0.1:8090/health >/dev/null 2>&1 && return
        sleep 0.1
    done
}
start_server() { # NAME [PROCS [BUOYCAST ARGS…]]
    server=$1
    local procs=${2:-1}
    local extra=("${@:3}") bc_args=()
    read -ra bc_args <<<"${BC_ARGS:-}"
    rm -rf "$work/srv" && mkdir -p "$work/srv"
    case $1 in
        buoycast)
            pids=()
            local i reuse=()
            # Several processes share the port; one keeps the runtime's default of a thread per
            # CPU (with --reuse-port it would get one thread).
            [ "$procs" -gt 1 ] && reuse=(--reuse-port)
            for i in $(seq "$procs"); do
                "${server_cpus[@]}" "$BC" run --listen 127.0.0.1:8090 "${reuse[@]}" "${extra[@]}" "${bc_args[@]}" --source none \
                    --database-url "sqlite://$work/srv/b$i.db" --publish-token "$TOKEN" \
                    --max-streams-per-client 0 "${conn_cap[@]}" --max-replay 50000 \
                    >"$work/srv/buoycast-$i.log" 2>&1 &
                pids+=($!)
            done
            wait_health
            sleep 0.5
            ;;
        nchan) mapfile -t pids < <("${server_cpus[@]}" "$here/peers.sh" start nchan "$work/srv" "$procs") ;;
        pushpin) mapfile -t pids < <("${server_cpus[@]}" "$here/peers.sh" start pushpin "$work/srv") ;;
    esac
}
# Distributed mode: PostgreSQL and Redis (Debian's postgresql and redis-server) on loopback,
# and PROCS `serve` processes sharing the port.
svc_pids=()
start_distributed() { # PROCS
    local procs=$1 d="$work/srv"
    rm -rf "$d" && mkdir -p "$d/pg"
    local pgbin
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    local as_pg=()
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root: its own user must reach and own its directory.
        chmod a+x "$work" "$d"
        chown -R postgres:postgres "$d/pg"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$pgbin/initdb" -D "$d/pg/data" -A trust -U postgres --no-sync >"$d/initdb.log" 2>&1
    "${as_pg[@]}" "$pgbin/postgres" -D "$d/pg/data" -p 5441 -k "$d/pg" \
        -c listen_addresses=127.0.0.1 -c max_connections=200 >"$d/postgres.log" 2>&1 &
    svc_pids+=($!)
    redis-server --port 6391 --bind 127.0.0.1 --save "" --appendonly no >"$d/redis.log" 2>&1 &
    svc_pids+=($!)
    local db=postgres://postgres@127.0.0.1:5441/postgres
    for _ in $(seq 100); do
        "$BC" migrate --database-url "$db" >/dev/null 2>&1 && break
        sleep 0.2
    done
    server=buoycast
    pids=()
    local i
    for i in $(seq "$procs"); do
        "$BC" serve --listen 127.0.0.1:8090 --reuse-port --database-url "$db" \
            --redis-url redis://127.0.0.1:6391 --publish-token "$TOKEN" \
            --max-streams-per-client 0 "${conn_cap[@]}" >"$d/buoycast-$i.log" 2>&1 &
        pids+=($!)
    done
    wait_health
    sleep 1
}
stop_services() {
    local p
    for p in "${svc_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${svc_pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    svc_pids=()
}
stop_server() {
    case $server in
        buoycast)
            local p
            for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
            for p in "${pids[@]}"; do
                for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            done ;;
        nchan | pushpin) "$here/peers.sh" stop "$work/srv" ;;
    esac
    server=""
    pids=()
    sleep 1
}

targs=()
target_args() { # SERVER: sets targs to the subscribe and publish arguments of the load generator
    case $1 in
        buoycast) targs=(--url http://127.0.0.1:8090/v1/observations/stream
            --publish-url http://127.0.0.1:8090/v1/observations
            --publish-header "Authorization: Bearer $TOKEN"
            --publish-body-file "$work/event.json") ;;
        nchan) targs=(--url http://127.0.0.1:8091/sub --publish-url http://127.0.0.1:8091/pub
            --publish-body-file "$work/event.json") ;;
        pushpin) targs=(--url http://127.0.0.1:8092/sub
            --publish-url http://127.0.0.1:5561/publish/
            --publish-body-file "$work/pushpin.json") ;;
    esac
}

loadgen() { # SERVER SCENARIO ARGS…
    local s=$1 name=$2
    shift 2
    local pid_args=()
    local p
    for p in "${pids[@]}"; do pid_args+=(--server-pid "$p"); done
    echo "== $s $name ($(uptime | sed 's/.*load average/load average/'))"
    target_args "$s"
    timeout 170 "${loadgen_cpus[@]}" "$LG" --label "$s" "${targs[@]}" "${pid_args[@]}" \
        --json "$OUT/$name.$s.json" "$@" | tee "$OUT/$name.$s.txt" || echo "($s $name failed: $?)"
}

# Each scenario: start a fresh server, run, stop.
scenario() { # NAME SERVER
    local name=$1 s=$2
    case $name in
        live-1k-20) start_server "$s"; loadgen "$s" "$name" --clients 1000 --rate 20 --duration-secs 30 ;;
        live-1k-100) start_server "$s"; loadgen "$s" "$name" --clients 1000 --rate 100 --duration-secs 30 ;;
        live-10k-5) start_server "$s"; loadgen "$s" "$name" --clients 10000 --rate 5 --duration-secs 30 ;;
        live-10k-10) start_server "$s"; loadgen "$s" "$name" --clients 10000 --rate 10 --duration-secs 30 ;;
        live-10k-100) start_server "$s"; loadgen "$s" "$name" --clients 10000 --rate 100 --duration-secs 30 ;;
        idle-10k) start_server "$s"; loadgen "$s" "$name" --mode idle --clients 10000 --connect-rate 5000 --hold-secs 3 ;;
        idle-10k-parked)
            # Idle streams that have written twice (greeting, a heartbeat a second) and parked
            # with the shard writers before their memory is read.
            if [ "$s" != buoycast ]; then
                echo "== $s $name: skipped (buoycast's heartbeats)"
                return
            fi
            start_server "$s" 1 --heartbeat-secs 1
            loadgen "$s" "$name" --mode idle --clients 10000 --connect-rate 2000 --hold-secs 4 ;;
        idle-50k | idle-100k)
            local k=${name#idle-}
            local n=$((${k%k} * 1000))
            if [ "$s" = pushpin ]; then
                echo "== pushpin $name: skipped (one condure process holds the connections; 20,000 files per process)"
                return
            fi
            start_server "$s" 6
            loadgen "$s" "$name" --mode idle --clients "$n" --procs 6 --connect-rate 5000 --hold-secs 3 ;;
        connect-1000) start_server "$s"; loadgen "$s" "$name" --mode idle --clients 10000 --connect-rate 1000 --hold-secs 2 ;;
        live-100k-1-dist)
            if [ "$s" != buoycast ]; then
                echo "== $s $name: skipped (buoycast's distributed mode: PostgreSQL, Redis, 6 processes)"
                return
            fi
            start_distributed 6
            loadgen "$s" "$name" --clients 100000 --procs 6 --connect-rate 5000 --rate 1 \
                --duration-secs 30 --drain-secs 20
            stop_server
            stop_services ;;
        resume-10k)
            if [ "$s" = pushpin ]; then
                echo "== pushpin $name: skipped (Pushpin keeps no history; resume is the GRIP backend's job)"
                return
            fi
            start_server "$s"
            local batch=1
            [ "$s" = buoycast ] && batch=1000
            loadgen "$s" "$name" --mode resume --resume-events 10000 --publish-batch "$batch" --seq-field stationId ;;
        *) echo "unknown scenario $name" >&2; return 2 ;;
    esac
    stop_server
}

scenarios=${*:-"live-1k-20 live-1k-100 live-10k-5 live-10k-10 live-10k-100 connect-1000 resume-10k idle-10k idle-50k idle-100k"}
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "kernel: $(uname -srm)"
    free -h
    echo "load before: $(uptime)"
    echo "buoycast: $(git -C "$root" rev-parse --short HEAD) (+ working tree)"
    nginx -v 2>&1
    dpkg-query -W -f='${Package} ${Version}\n' libnginx-mod-nchan pushpin condure zurl 2>/dev/null || true
} >"$OUT/machine.txt"
for name in $scenarios; do
    for s in $SERVERS; do
        scenario "$name" "$s"
    done
done
echo "load after: $(uptime)" >>"$OUT/machine.txt"
echo "results in $OUT"
