# shellcheck shell=bash
# Source it to use the test cluster from a shell:  . integration/cluster/env.sh
# The API server is reachable only inside the node's network namespace: kubectl and helm below are
# functions that run there.
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export KUBECONFIG=$KUBECONFIG_ADMIN
kubectl() { node "$TOOLS_DIR/kubectl" "$@"; }
helm() { node "$TOOLS_DIR/helm" "$@"; }
