#!/usr/bin/env bash
# Runs integration/chart/cluster-e2e.sh on the local single-node test cluster: brings it up
# (up.sh, which builds and imports the images), runs the checks inside the node's network
# namespace with the local images, and always tears the cluster down (down.sh), also on failure.
#
#   integration/cluster/e2e.sh [--keep-cluster]     (as root)
#
# With an already running test cluster (up.sh) it uses that one and leaves it running.
set -euo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "e2e.sh: run as root" >&2; exit 2; }
keep_cluster=0
[ "${1:-}" != --keep-cluster ] || keep_cluster=1

# The daemons' logs are copied here before the teardown.
logs_dir=${L7PROXY_CLUSTER_LOGS:-$repo_root/target/cluster-logs}
finish() {
    rm -rf "$logs_dir"
    mkdir -p "$logs_dir"
    cp -a "$CLUSTER_STATE/log/." "$logs_dir/" 2>/dev/null && echo "e2e.sh: daemon logs in $logs_dir"
    [ "$keep_cluster" -eq 1 ] || "$cluster_here/down.sh"
}
started=0
if [ ! -e "$CLUSTER_STATE/config/apiserver.args" ]; then
    started=1
    trap finish EXIT
    "$cluster_here/up.sh"
fi
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo_root/charts/l7proxy/Chart.yaml")
rc=0
node env KUBECONFIG="$KUBECONFIG_ADMIN" KUBECTL="$TOOLS_DIR/kubectl" HELM="$TOOLS_DIR/helm" \
    HELM_CACHE_HOME="$CLUSTER_STATE/helm/cache" HELM_CONFIG_HOME="$CLUSTER_STATE/helm/config" \
    HELM_DATA_HOME="$CLUSTER_STATE/helm/data" \
    "$repo_root/integration/chart/cluster-e2e.sh" \
    --image "l7proxy:$app_version" --pull-policy Never \
    --web-image l7proxy-test-web:1 --curl-image l7proxy-test-curl:1 \
    --restart-apiserver "$cluster_here/restart-apiserver.sh outage ${E2E_APISERVER_OUTAGE_SECONDS:-20}" || rc=$?
[ "$started" -eq 1 ] || echo "e2e.sh: the test cluster was already up and is left running"
exit "$rc"
