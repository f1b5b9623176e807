#!/usr/bin/env bash
# l7proxy demo on a fresh Debian/Ubuntu machine, run as root: installs what the lab needs,
# builds, then shows the Antrea L7 NetworkPolicy spec's example policies enforced on real
# connections in network namespaces (allowed requests, reset connections, and the events),
# and removes everything it created.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "demo.sh: run as root (the demo creates network namespaces and iptables rules)" >&2
    exit 2
fi

packages=(iptables iproute2 curl openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "demo.sh: cargo not found; install Rust first: https://rustup.rs" >&2
    exit 2
fi

echo "==> building (cargo build)"
cargo build --workspace --quiet

status=0
target/debug/lab-demo || status=$?

left=$(ip netns list | grep -c '^l7t-demo-' || true)
echo
if [ "$left" -eq 0 ]; then
    echo "==> cleaned up: no lab namespace left (ip netns list)"
else
    echo "==> warning: $left lab namespace(s) left behind" >&2
    status=1
fi
exit "$status"
