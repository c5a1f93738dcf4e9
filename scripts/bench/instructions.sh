#!/usr/bin/env bash
# Counts the user-space instructions a server spends per new stream connection, with callgrind
# (valgrind): immune to the machine's load, unlike wall-clock figures. The server runs under
# callgrind; once it answers, its counters are zeroed, the load generator opens N idle streams
# at RATE per second and holds them 1 s, and 2 s later the counters are dumped: the total over N
# is the cost of one connection, from accept to close (request, response head, first frames,
# log lines, disconnect). An idle server costs next to nothing over the same time (measured:
# ~0.3 M instructions in 14 s for buoycast, ~7 k for nginx).
#
# Usage: scripts/bench/instructions.sh buoycast|nchan [N] [RATE]   (defaults: 2000, 200/s)
#        BC=PATH scripts/bench/instructions.sh buoycast   (another build)
# Writes $OUT/callgrind.<server>.<N> (default OUT: target/bench/instructions) and prints the
# total and the instructions per connection; `callgrind_annotate --inclusive=yes FILE` ranks
# where they went (build with CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for source names).
# Needs valgrind, a release build of the load generator, and nginx + nchan for `nchan`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
server=${1:?buoycast or nchan}
n=${2:-2000}
rate=${3:-200}
OUT=${OUT:-$root/target/bench/instructions}
BC=${BC:-"$root/target/release/buoycast"}
LG=${LG:-"$root/target/release/buoycast-loadgen"}
mkdir -p "$OUT"
work=$(mktemp -d /tmp/buoycast-instructions.XXXXXX)
out="$OUT/callgrind.$server.$n"
rm -f "$out" "$out".*
ulimit -n "$(ulimit -Hn)"
port=8095
case $server in
    buoycast)
        url=http://127.0.0.1:$port/v1/observations/stream
        valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
            "$BC" run --listen 127.0.0.1:$port --source none --database-url "sqlite://$work/b.db" \
            --publish-token bench-token --max-streams-per-client 0 --max-connections-per-client 0 \
            >"$work/server.log" 2>"$work/valgrind.log" &
        ;;
    nchan)
        url=http://127.0.0.1:$port/sub
        mkdir -p "$work/tmp"
        # The configuration of scripts/bench/peers.sh, in one process (no master) on $port.
        sed -n '/cat >"\$dir\/nginx.conf" <<CONF/,/^CONF/p' scripts/bench/peers.sh | sed '1d;$d' |
            sed "s#\$dir#$work#g; s#\$workers#1#; s#master_process on#master_process off#; s#8091#$port#" \
                >"$work/nginx.conf"
        valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
            nginx -c "$work/nginx.conf" -p "$work" >"$work/server.log" 2>"$work/valgrind.log" &
        ;;
    *) echo "usage: $0 buoycast|nchan [N] [RATE]" >&2; exit 2 ;;
esac
pid=$!
trap 'kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do
    curl -s -o /dev/null -m 0.5 "http://127.0.0.1:$port/" && break
    sleep 0.2
done
sleep 1
callgrind_control -z "$pid" >/dev/null
"$LG" --mode idle --url "$url" --clients "$n" --connect-rate "$rate" --hold-secs 1 \
    --publish-url "http://127.0.0.1:$port/pub" | grep -E "connected / failed"
sleep 2
callgrind_control -d "$pid" >/dev/null
sleep 1
total=$(callgrind_annotate "$out".1 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "$server: $total instructions for $n connections: $((total / n)) per connection ($out.1)"
