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
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

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
