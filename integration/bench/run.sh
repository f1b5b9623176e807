#!/usr/bin/env bash
# End-to-end benchmark of l7proxy on the netns lab: direct (D), HAProxy 2.6 (H) and
# l7proxy (P), interleaved in one run; prints min/median/max per mode and the P/D and P/H
# ratios. Run as root from anywhere:
#
#   integration/bench/run.sh [--rounds N] [--duration S] [--modes DHP] [--no-tls] [--no-idle]
#
# Builds release binaries first (l7proxy and lab-bench). Needs: haproxy, wrk, h2load, iptables,
# iproute2, util-linux (taskset, setpriv); installs the missing ones with apt-get.
# Whatever happens (error, Ctrl-C, SIGTERM), namespaces, processes and rules are removed.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: run as root (network namespaces, iptables, transparent sockets)" >&2
    exit 2
fi

missing=()
for tool in haproxy:haproxy wrk:wrk h2load:nghttp2-client iptables:iptables ip:iproute2 taskset:util-linux setpriv:util-linux; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

cargo build --release --locked -p l7proxy -p l7proxy-integration --bin l7proxy --bin lab-bench >&2

target="${CARGO_TARGET_DIR:-target}/release"
child=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        # The runner removes everything itself on SIGTERM; give it time, then sweep.
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$child" 2>/dev/null || true
    fi
    if [ -n "$child" ]; then
        # Sweep what a killed runner may have left: its namespaces (and their processes).
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^l7b-${child}-" || true); do
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
            rm -rf "/etc/netns/$ns"
        done
        rm -rf /tmp/l7b-"${child}"-* 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT INT TERM HUP

"$target/lab-bench" run --l7proxy "$target/l7proxy" "$@" &
child=$!
wait "$child"
