#!/usr/bin/env bash
# Brings up a single-node Kubernetes (v1.32) on this machine, as root, for the cluster end-to-end
# tests: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, containerd (runc,
# CNI ptp + host-local + portmap), kube-proxy (iptables) and a stand-in DNS (dns.py), each in the
# background with its own state directory, all inside the network namespace l7k-node, which has
# no route out. Then builds and imports the test images (images.sh).
#
#   integration/cluster/up.sh          # then: . integration/cluster/env.sh; kubectl get nodes
#   integration/cluster/down.sh        # removes all of it
#
# A failed up.sh tears down what it started. Binaries: see fetch.sh (KUBE_BIN_DIR overrides the
# Kubernetes server binaries).
set -euo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "up.sh: run as root" >&2; exit 2; }
if [ -e "$CLUSTER_STATE" ] || [ -e "/run/netns/$NODE_NETNS" ]; then
    echo "up.sh: a test cluster is already there ($CLUSTER_STATE, netns $NODE_NETNS): run down.sh first" >&2
    exit 2
fi
start=$SECONDS
step() { printf '==> [%3ss] %s\n' "$((SECONDS - start))" "$*"; }

# kube-proxy drives the node's iptables (inside the node's namespace) with the host's binaries.
for cmd in iptables-restore ip6tables-restore openssl python3 xz nsenter; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if [ -n "${missing[*]:-}" ]; then
    step "installing iptables iproute2 openssl xz-utils util-linux (missing: ${missing[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables iproute2 openssl xz-utils util-linux
fi

step "binaries"
"$cluster_here/fetch.sh"
kube_bin=${KUBE_BIN_DIR:-${KUBEBUILDER_ASSETS:-$CLUSTER_CACHE/kube-$KUBE_VERSION}}
pause_bin=$CLUSTER_CACHE/kube-$KUBE_VERSION/pause

ok=0
teardown() { [ "$ok" -eq 1 ] || { echo "up.sh: failed; tearing down" >&2; "$cluster_here/down.sh" >&2 || true; }; }
trap teardown EXIT

mkdir -p "$CLUSTER_STATE"/{log,etcd,containerd,kubelet,cni/net.d,cni/ipam,config} "$CLUSTER_RUN"/{pids,containerd}
log_dir=$CLUSTER_STATE/log
pki=$CLUSTER_STATE/pki
step "certificates"
"$cluster_here/pki.sh" "$pki"

step "node network namespace $NODE_NETNS ($NODE_IP, no route out)"
ip netns add "$NODE_NETNS"
node ip link set lo up
# A veth pair with both ends in the namespace (kubelet refuses a loopback node IP; this kernel has
# no dummy interfaces): the node's address, and nothing behind it.
node ip link add "$NODE_IF" type veth peer name "${NODE_IF}p"
node ip addr add "$NODE_IP/32" dev "$NODE_IF"
node ip link set "${NODE_IF}p" up
node ip link set "$NODE_IF" up
# ClusterIPs are translated by kube-proxy; whatever is not is dropped here, never routed on.
node ip route add blackhole "$SERVICE_CIDR"
node sysctl -qw net.ipv4.ip_forward=1

# bg NAME CMD...: start CMD in the node's namespace, in the background, logging to log/NAME.log.
bg() {
    local name=$1
    shift
    nsenter --net="/run/netns/$NODE_NETNS" -- "$@" >"$log_dir/$name.log" 2>&1 </dev/null &
    echo $! >"$CLUSTER_RUN/pids/$name.pid"
}
# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
    local what=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "up.sh: $what not ready after ${limit}s; last log lines:" >&2
            tail -n 20 "$log_dir"/*.log >&2 || true
            return 1
        fi
        sleep 0.5
    done
}
kubectl_admin() { node "$TOOLS_DIR/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

step "etcd"
bg etcd "$DEB_ROOT/usr/bin/etcd" --name l7k --data-dir "$CLUSTER_STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster l7k=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn

step "kube-apiserver"
# The API server's flags are kept in a file so that the tests can restart it (restart-apiserver.sh).
cat >"$CLUSTER_STATE/config/apiserver.args" <<ARGS
--etcd-servers=http://127.0.0.1:2379
--advertise-address=$NODE_IP
--bind-address=0.0.0.0
--secure-port=6443
--service-cluster-ip-range=$SERVICE_CIDR
--client-ca-file=$pki/ca.crt
--tls-cert-file=$pki/apiserver.crt
--tls-private-key-file=$pki/apiserver.key
--kubelet-client-certificate=$pki/apiserver-kubelet-client.crt
--kubelet-client-key=$pki/apiserver-kubelet-client.key
--kubelet-certificate-authority=$pki/ca.crt
--service-account-key-file=$pki/sa.pub
--service-account-signing-key-file=$pki/sa.key
--service-account-issuer=https://kubernetes.default.svc.$CLUSTER_DOMAIN
--authorization-mode=Node,RBAC
--enable-admission-plugins=NodeRestriction
--enable-aggregator-routing=true
--kubelet-preferred-address-types=InternalIP
--allow-privileged=true
--profiling=false
--v=1
ARGS
"$cluster_here/restart-apiserver.sh" start
wait_for "kube-apiserver" 60 kubectl_admin get --raw /readyz

step "kube-controller-manager, kube-scheduler"
bg kube-controller-manager "$kube_bin/kube-controller-manager" \
    --kubeconfig "$pki/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$pki/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$pki/controller-manager.kubeconfig" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials=true --leader-elect=false \
    --controllers='*,-nodeipam,-cloud-node-lifecycle' --bind-address 127.0.0.1 --v=1
bg kube-scheduler "$kube_bin/kube-scheduler" --kubeconfig "$pki/scheduler.kubeconfig" \
    --authentication-kubeconfig "$pki/scheduler.kubeconfig" \
    --authorization-kubeconfig "$pki/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --v=1

step "containerd"
cat >"$CLUSTER_STATE/cni/net.d/10-l7k.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "l7k",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$CLUSTER_STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
# restrict_oom_score_adj: this VM's bounding set lacks CAP_SYS_RESOURCE (without it every sandbox
# fails with "can't get final child's PID from pipe"). Cgroups v1 with cgroupfs, no AppArmor.
cat >"$CLUSTER_STATE/config/containerd.toml" <<TOML
version = 2
root = "$CLUSTER_STATE/containerd"
state = "$CLUSTER_RUN/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CLUSTER_RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/l7k-pause:$KUBE_VERSION"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CLUSTER_STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$DEB_ROOT/usr/sbin/runc"
        SystemdCgroup = false
TOML
PATH=$DEB_ROOT/usr/bin:$PATH bg containerd "$DEB_ROOT/usr/bin/containerd" --config "$CLUSTER_STATE/config/containerd.toml"
ctr_() { "$DEB_ROOT/usr/bin/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
wait_for containerd 30 ctr_ version

step "images"
"$cluster_here/images.sh" "$pause_bin"

step "kubelet"
echo "nameserver $DNS_IP" >"$CLUSTER_STATE/config/resolv.conf"
cat >"$CLUSTER_STATE/config/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: AlwaysAllow}
address: "$NODE_IP"
tlsCertFile: "$pki/kubelet-serving.crt"
tlsPrivateKeyFile: "$pki/kubelet-serving.key"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
clusterDNS: ["$DNS_IP"]
clusterDomain: "$CLUSTER_DOMAIN"
resolvConf: "$CLUSTER_STATE/config/resolv.conf"
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
serializeImagePulls: false
# The host's disk is shared: never evict a test Pod or collect a locally built image for disk use.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 24h
syncFrequency: 10s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
YAML
bg kubelet "$kube_bin/kubelet" --config "$CLUSTER_STATE/config/kubelet.yaml" \
    --kubeconfig "$pki/kubelet.kubeconfig" --root-dir "$CLUSTER_STATE/kubelet" \
    --cert-dir "$CLUSTER_STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1

step "kube-proxy, dns"
cat >"$CLUSTER_STATE/config/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$pki/kube-proxy.kubeconfig"}
hostnameOverride: "$NODE_NAME"
clusterCIDR: "$POD_CIDR"
bindAddress: "$NODE_IP"
healthzBindAddress: "127.0.0.1:10256"
metricsBindAddress: "127.0.0.1:10249"
# Leave the kernel's conntrack settings (global ones included) as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {syncPeriod: 10s, minSyncPeriod: 0s}
YAML
bg kube-proxy "$kube_bin/kube-proxy" --config "$CLUSTER_STATE/config/kube-proxy.yaml" --v=1
bg dns python3 "$cluster_here/dns.py" "$DNS_IP" "https://$NODE_IP:6443" "$pki/ca.crt" \
    "$pki/admin.crt" "$pki/admin.key" "$CLUSTER_DOMAIN"

wait_for "node $NODE_NAME Ready" 90 kubectl_admin wait --for condition=Ready "node/$NODE_NAME" --timeout 2s
wait_for "default ServiceAccount" 30 kubectl_admin -n default get serviceaccount default
ok=1
step "cluster up (kubeconfig $KUBECONFIG_ADMIN; . integration/cluster/env.sh)"
