#!/usr/bin/env bash
# Starts, stops or restarts the test cluster's kube-apiserver (with the flags up.sh wrote), so that
# tests can check how clients live through an API-server restart. `restart` asks it to shut down
# (SIGTERM: it closes its watches and drains) and starts it again; `crash` kills it (SIGKILL: no
# watch is closed) and starts it again; `outage SECONDS` stops it, keeps it down that long (clients
# back off while it is away) and starts it again.
#   restart-apiserver.sh start|stop|restart|crash|outage SECONDS
set -euo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
kube_bin=${KUBE_BIN_DIR:-${KUBEBUILDER_ASSETS:-$CLUSTER_CACHE/kube-$KUBE_VERSION}}
pidfile=$CLUSTER_RUN/pids/kube-apiserver.pid

stop() { # stop [SIGNAL]
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -"${1:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}
start() {
    mapfile -t args <"$CLUSTER_STATE/config/apiserver.args"
    nsenter --net="/run/netns/$NODE_NETNS" -- "$kube_bin/kube-apiserver" "${args[@]}" \
        >>"$CLUSTER_STATE/log/kube-apiserver.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
}
case ${1:-} in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    crash) stop KILL; start ;;
    outage) stop; sleep "${2:?outage SECONDS}"; start ;;
    *) echo "usage: restart-apiserver.sh start|stop|restart|crash|outage SECONDS" >&2; exit 2 ;;
esac
