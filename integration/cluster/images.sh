#!/usr/bin/env bash
# Builds the test cluster's images as OCI archives (no registry, no container builder) and imports
# them into its containerd (namespace k8s.io) under fully qualified names:
#   docker.io/library/l7proxy:APPVERSION      the Dockerfile's runtime image: its Debian packages
#                                              (dockerfile_image.py reads them from the Dockerfile),
#                                              the release binary with its file capability, USER,
#                                              ENTRYPOINT, CMD
#   docker.io/library/l7proxy-test-web:1      nginx (Debian) + busybox, listening as configured in
#                                              /etc/nginx/conf.d, pid and temp files in /tmp
#   docker.io/library/l7proxy-test-curl:1     curl (Debian) + busybox
#   docker.io/library/l7k-pause:v1.32.0       the sandbox image
# Root filesystems are Debian packages resolved by apt (as on an empty system) and unpacked with
# dpkg-deb; they are cached by package list.
#
#   images.sh PAUSE_BINARY     (L7PROXY_BIN: the binary to ship; default target/release/l7proxy,
#                               built with `cargo build --release --locked -p l7proxy` if missing)
set -euo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
pause_bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/l7k-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
ctr_() { "$DEB_ROOT/usr/bin/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo_root/charts/l7proxy/Chart.yaml")
L7PROXY_IMAGE=docker.io/library/l7proxy:$app_version

# packages_rootfs DIR PACKAGES...: the packages and their dependencies (no recommends), unpacked.
packages_rootfs() {
    local dir=$1
    shift
    local key
    key=$(printf '%s\n' "$@" | sort | sha256sum | cut -c1-16)
    local cached=$CLUSTER_CACHE/rootfs/$key
    if [ ! -f "$cached/.complete" ]; then
        local apt=$work/apt-$key
        mkdir -p "$apt/archives/partial"
        : >"$apt/status"
        apt-get -q -o Dir::State::status="$apt/status" -o Dir::Cache::archives="$apt/archives" \
            -o Debug::NoLocking=1 --download-only -y --no-install-recommends install "$@" 2>&1 |
            grep -E '^E:' >&2 || true
        rm -rf "$cached.tmp"
        mkdir -p "$cached.tmp"
        for deb in "$apt"/archives/*.deb; do dpkg-deb -x "$deb" "$cached.tmp"; done
        # What maintainer scripts would do: /bin/sh, and iptables' default (nft) alternatives.
        [ -e "$cached.tmp/bin/sh" ] || { [ ! -e "$cached.tmp/bin/dash" ] || ln -s dash "$cached.tmp/bin/sh"; }
        if [ -e "$cached.tmp/usr/sbin/xtables-nft-multi" ]; then
            for t in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
                ln -sf xtables-nft-multi "$cached.tmp/usr/sbin/$t"
            done
        fi
        mkdir -p "$cached.tmp/tmp" "$cached.tmp/etc" "$cached.tmp/proc" "$cached.tmp/sys" "$cached.tmp/dev"
        chmod 1777 "$cached.tmp/tmp"
        rm -rf "$cached.tmp/usr/share/doc" "$cached.tmp/usr/share/man" "$cached.tmp/usr/share/locale"
        touch "$cached.tmp/.complete"
        rm -rf "$cached"
        mv "$cached.tmp" "$cached"
    fi
    cp -a "$cached/." "$dir/"
    rm -f "$dir/.complete"
}
# busybox_in DIR: busybox-static with its applets as /bin links (those not already there).
busybox_in() {
    mkdir -p "$1/bin"
    cp "$DEB_ROOT/bin/busybox" "$1/bin/busybox"
    for applet in $("$DEB_ROOT/bin/busybox" --list); do
        [ -e "$1/bin/$applet" ] || [ -e "$1/usr/bin/$applet" ] || [ -e "$1/usr/sbin/$applet" ] ||
            ln -s busybox "$1/bin/$applet"
    done
}
# users_in DIR: /etc/passwd and /etc/group with root, the test UIDs (100, 101) and nobody.
users_in() {
    printf 'root:x:0:0:root:/root:/bin/sh\ncurl:x:100:101::/tmp:/bin/sh\nnginx:x:101:101::/tmp:/bin/sh\nl7proxy:x:1337:1337::/tmp:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n' >"$1/etc/passwd"
    printf 'root:x:0:\nnginx:x:101:\nl7proxy:x:1337:\nnogroup:x:65534:\n' >"$1/etc/group"
}
import() { # import NAME ROOTFS OCI-ARGS...
    local name=$1 rootfs=$2
    shift 2
    python3 "$cluster_here/oci.py" --rootfs "$rootfs" --name "$name" --out "$work/image.tar" "$@"
    ctr_ images import "$work/image.tar" >/dev/null
    rm -rf "$rootfs" "$work/image.tar"
    echo "  image: $name"
}

# --- pause --------------------------------------------------------------------------------------
mkdir -p "$work/pause"
install -m 0755 "$pause_bin" "$work/pause/pause"
import "docker.io/library/l7k-pause:$KUBE_VERSION" "$work/pause" --entrypoint '["/pause"]' --user 65535:65535

# --- l7proxy, as the Dockerfile defines it ------------------------------------------------------
bin=${L7PROXY_BIN:-$repo_root/target/release/l7proxy}
if [ ! -x "$bin" ]; then
    echo "  building $bin (cargo build --release --locked -p l7proxy --bin l7proxy)"
    (cd "$repo_root" && cargo build --release --locked --package l7proxy --bin l7proxy)
fi
python3 "$cluster_here/dockerfile_image.py" "$repo_root/Dockerfile" >"$work/l7proxy.json"
jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if isinstance(v,str) else json.dumps(v))' "$work/l7proxy.json" "$1"; }
mapfile -t pkgs < <(jq_ '"\n".join(d["packages"])')
mkdir -p "$work/l7proxy"
packages_rootfs "$work/l7proxy" dash coreutils "${pkgs[@]}"
dest=$(jq_ 'd["copy"][0]["dest"]')
install -D -m 0755 "$bin" "$work/l7proxy$dest"
caps=()
while read -r path cap; do caps+=(--file-cap "$path=$cap"); done < <(jq_ '"\n".join(k+" "+v for k,v in d["file_caps"].items())')
import "$L7PROXY_IMAGE" "$work/l7proxy" "${caps[@]}" --user "$(jq_ 'd["user"]')" \
    --entrypoint "$(jq_ 'd["entrypoint"]')" --cmd "$(jq_ 'd.get("cmd", [])')"

# --- test web server ------------------------------------------------------------------------------
mkdir -p "$work/web"
packages_rootfs "$work/web" nginx
busybox_in "$work/web"
users_in "$work/web"
rm -rf "$work/web/etc/nginx/sites-enabled" "$work/web/etc/nginx/modules-enabled"
mkdir -p "$work/web/etc/nginx/conf.d"
cat >"$work/web/etc/nginx/nginx.conf" <<'NGINX'
# Runs as any non-root user with a read-only root filesystem: everything written goes to /tmp.
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    include /etc/nginx/mime.types;
    include /etc/nginx/conf.d/*.conf;
}
NGINX
import docker.io/library/l7proxy-test-web:1 "$work/web" --user 101:101 \
    --entrypoint '["/usr/sbin/nginx", "-g", "daemon off;"]'

# --- test curl client -----------------------------------------------------------------------------
mkdir -p "$work/curl"
packages_rootfs "$work/curl" curl ca-certificates
busybox_in "$work/curl"
users_in "$work/curl"
import docker.io/library/l7proxy-test-curl:1 "$work/curl" --user 100:101 --entrypoint '["/usr/bin/curl"]'
