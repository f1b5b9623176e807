#!/usr/bin/env bash
# Removes the test cluster up.sh started, completely, and may be run any number of times: Pods'
# containers and sandboxes (their network namespaces), the daemons (by the PIDs up.sh recorded),
# every mount below the cluster's directories, the Pods' cgroups, the node's network namespace and
# the state directories. The caches (binaries, packages, image root filesystems) are kept.
set -uo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "down.sh: run as root" >&2; exit 2; }
ctr_() { timeout 20 "$DEB_ROOT/usr/bin/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# 1. The daemons that would recreate Pods stop first; containerd last but one (it owns the tasks).
stop_pid() { # stop_pid NAME
    local f=$CLUSTER_RUN/pids/$1.pid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    # Only if that PID still runs the daemon (a PID of a daemon that died may have been reused).
    local want=$1
    [ "$want" != dns ] || want=dns.py
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$want"; then
        rm -f "$f"
        return 0
    fi
    # SIGKILL: the state is thrown away, a graceful shutdown would only take time.
    if kill -9 "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
}
for d in kubelet kube-proxy kube-scheduler kube-controller-manager dns; do stop_pid "$d"; done

# 2. Every task (container and sandbox) of this containerd, then the Pods' network namespaces it
# created (read from the sandboxes' specs before they are deleted).
netns_paths=()
if [ -S "$CONTAINERD_SOCK" ]; then
    for c in $(ctr_ containers ls -q 2>/dev/null); do
        p=$(ctr_ containers info "$c" 2>/dev/null | python3 -c '
import json, sys
try:
    spec = json.load(sys.stdin)["Spec"]
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == "network" and ns.get("path"):
            print(ns["path"])
except Exception:
    pass')
        [ -n "$p" ] && netns_paths+=("$p")
        ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1
    done
    sleep 0.5
    for c in $(ctr_ containers ls -q 2>/dev/null); do
        ctr_ tasks delete -f "$c" >/dev/null 2>&1
        ctr_ containers delete "$c" >/dev/null 2>&1
    done
fi
# The shims of this containerd (each records its PID in containerd's state directory).
for f in "$CLUSTER_RUN"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
done
stop_pid containerd
stop_pid etcd
stop_pid kube-apiserver

# 3. Processes still running in the node's network namespace (a container of a dead shim).
if [ -e "/run/netns/$NODE_NETNS" ]; then
    for pid in $(ip netns pids "$NODE_NETNS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
fi
for p in "${netns_paths[@]}"; do
    for pid in $(ip netns pids "$(basename "$p")" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    umount "$p" 2>/dev/null
    rm -f "$p"
done

# 4. Mounts below the cluster's directories (overlay rootfs, volumes, shm), deepest first.
for dir in "$CLUSTER_RUN" "$CLUSTER_STATE"; do
    for _ in 1 2 3; do
        mapfile -t mounts < <(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
        [ ${#mounts[@]} -gt 0 ] || break
        for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    done
done

# 5. The Pods' cgroups (kubelet's cgroupfs hierarchy "kubepods" in every v1 controller, or v2).
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$root" ] || continue
    find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# 6. The node's network namespace and the state.
if [ -e "/run/netns/$NODE_NETNS" ]; then ip netns delete "$NODE_NETNS"; fi
rm -rf "$CLUSTER_STATE" "$CLUSTER_RUN"
left=$(awk -v a="$CLUSTER_STATE/" -v b="$CLUSTER_RUN/" 'index($2, a) == 1 || index($2, b) == 1' /proc/self/mounts | wc -l)
if [ "$left" -ne 0 ] || [ -e "$CLUSTER_STATE" ] || [ -e "/run/netns/$NODE_NETNS" ]; then
    echo "down.sh: could not remove everything ($left mounts left)" >&2
    exit 1
fi
echo "down.sh: test cluster removed"
