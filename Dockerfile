# syntax=docker/dockerfile:1
# The single l7proxy image: `l7proxy controller` (admission webhooks), `l7proxy redirect install`
# (init container; needs iptables and iproute2) and `l7proxy run` (proxy sidecar).
#
#   docker build -t l7proxy:0.1.0 .

FROM rust:1-bookworm AS build
# cmake: for crates that build bundled C libraries (e.g. aws-lc-sys behind rustls).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and target caches only speed up rebuilds; the binary is copied out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package l7proxy --bin l7proxy \
    && install -D -m 0755 target/release/l7proxy /out/l7proxy

FROM debian:bookworm-slim
# iptables: iptables-restore/ip6tables-restore (nft and legacy backends) for the init container;
# iproute2: `ip rule` / `ip route` for the policy routing; libcap2-bin for setcap below (it stays:
# iproute2 depends on it, purging it would remove iproute2 too).
# integration/cluster/images.sh assembles the same runtime image without a builder, reading this
# stage (dockerfile_image.py): keep its packages, COPY, setcap, USER and ENTRYPOINT in this form.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        iptables iproute2 ca-certificates libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/l7proxy /usr/local/bin/l7proxy
# The proxy sidecar runs as uid 1337 with only CAP_NET_RAW (IP_TRANSPARENT and SO_MARK need it):
# Kubernetes gives a non-root container no effective capability from `capabilities.add`, so the
# binary carries it as a file capability (the sidecar keeps allowPrivilegeEscalation: true, since
# no_new_privs voids file capabilities). A container that runs the binary must keep NET_RAW in its
# bounding set, or the kernel refuses the exec with EPERM.
RUN setcap cap_net_raw+ep /usr/local/bin/l7proxy \
    && getcap /usr/local/bin/l7proxy | grep -q cap_net_raw
USER 1337:1337
ENTRYPOINT ["/usr/local/bin/l7proxy"]
CMD ["--help"]
