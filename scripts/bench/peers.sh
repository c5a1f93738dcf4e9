#!/usr/bin/env bash
# Installs the two peers from Debian and starts them on loopback, configured in a temp dir:
#   nginx + nchan (one worker): publish POST http://127.0.0.1:8091/pub, subscribe (EventSource)
#     GET http://127.0.0.1:8091/sub, channel `bench`, a 20,000-message buffer for resume;
#   Pushpin: proxy on 127.0.0.1:8092 routed to a tiny GRIP backend (grip_backend.py on 8093),
#     HTTP publish endpoint http://127.0.0.1:5561/publish/, channel `bench`.
# Usage: peers.sh start nchan|pushpin DIR [WORKERS]   (prints the server PIDs, one a line)
#        peers.sh stop DIR
#        peers.sh install
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

install() {
    if ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ] \
        || ! command -v pushpin >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq nginx libnginx-mod-nchan pushpin >/dev/null
    fi
}

wait_port() { # PORT: until something listens (bounded: 10 s)
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

start_nchan() { # DIR WORKERS
    local dir=$1 workers=${2:-1}
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $workers;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 19900; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    nchan_max_reserved_memory 512M;
    server {
        listen 127.0.0.1:8091 backlog=4096 reuseport;
        location = /pub {
            nchan_publisher;
            nchan_channel_id bench;
            nchan_message_buffer_length 20000;
            nchan_message_timeout 30m;
        }
        location = /sub {
            nchan_subscriber eventsource;
            nchan_subscriber_first_message newest;
            nchan_channel_id bench;
            nchan_message_buffer_length 20000;
            nchan_message_timeout 30m;
        }
    }
}
CONF
    nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/master.pid"
    wait_port 8091
    sleep 0.5
    cat "$dir/master.pid"
    pgrep -P "$(cat "$dir/master.pid")"
}

start_pushpin() { # DIR
    local dir=$1
    mkdir -p "$dir/run" "$dir/log"
    python3 "$here/grip_backend.py" 8093 >"$dir/backend.log" 2>&1 &
    echo $! >"$dir/backend.pid"
    echo "* 127.0.0.1:8093" >"$dir/routes"
    # Debian's Pushpin: run zurl itself (services=…zurl…) and point the proxy at that zurl's
    # sockets in this run dir (the packaged internal.conf points at /var/run/zurl).
    sed -e "s#zurl_out_specs=.*#zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in#" \
        -e "s#zurl_out_stream_specs=.*#zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream#" \
        -e "s#zurl_in_specs=.*#zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out#" \
        /usr/lib/pushpin/internal.conf >"$dir/internal.conf"
    cat >"$dir/pushpin.conf" <<CONF
[global]
include=$dir/internal.conf
rundir=$dir/run
ipc_prefix=bench-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:8092
logdir=$dir/log
log_level=1
client_buffer_size=8192
client_maxconn=19000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=$dir/routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=changeme
upstream_key=
updates_check=off

[handler]
push_in_spec=tcp://127.0.0.1:5560
push_in_sub_specs=tcp://127.0.0.1:5562
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=5561
push_in_http_max_headers_size=10000
push_in_http_max_body_size=1000000
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:5563
message_rate=100000
message_hwm=200000
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
CONF
    pushpin --config "$dir/pushpin.conf" >"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/runner.pid"
    wait_port 8092
    wait_port 5561
    wait_port 8093
    sleep 1
    cat "$dir/runner.pid"
    pgrep -P "$(cat "$dir/runner.pid")"
}

stop() { # DIR: the processes this script started there, by their PIDs
    local dir=$1 f
    for f in master.pid runner.pid backend.pid; do
        if [ -f "$dir/$f" ]; then
            kill "$(cat "$dir/$f")" 2>/dev/null || true
        fi
    done
    for f in master.pid runner.pid backend.pid; do
        if [ -f "$dir/$f" ]; then
            for _ in $(seq 50); do kill -0 "$(cat "$dir/$f")" 2>/dev/null || break; sleep 0.1; done
            rm -f "$dir/$f"
        fi
    done
}

case "${1:-}" in
    install) install ;;
    start)
        case "${2:-}" in
            nchan) start_nchan "$3" "${4:-1}" ;;
            pushpin) start_pushpin "$3" ;;
            *) echo "usage: $0 start nchan|pushpin DIR [WORKERS]" >&2; exit 2 ;;
        esac ;;
    stop) stop "$2" ;;
    *) echo "usage: $0 install | start nchan|pushpin DIR [WORKERS] | stop DIR" >&2; exit 2 ;;
esac
