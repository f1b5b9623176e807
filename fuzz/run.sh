#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 10), seeded from the unit-test fixtures.
# Works on a stable toolchain: cargo-fuzz needs nightly-only rustc flags, which
# RUSTC_BOOTSTRAP=1 unlocks (verified with rustc 1.95 stable and cargo-fuzz 0.13).
# Needs `cargo install cargo-fuzz`. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
secs="${1:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export RUSTC_BOOTSTRAP=1
targets=(client_hello http_request chunked canonical_path manifest tls_framing tls_retry h2_frames)
mkdir -p seeds/client_hello seeds/http_request seeds/chunked seeds/canonical_path seeds/manifest
mkdir -p seeds/tls_framing seeds/tls_retry seeds/h2_frames
cp ../src/classify/testdata/*.bin seeds/client_hello/
cp ../src/classify/testdata/*.bin seeds/tls_retry/
# tls_framing: the first byte is where the stream is cut.
for f in ../src/classify/testdata/*.bin; do
    { printf '\x03'; cat "$f"; printf '\x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x02ab'; } >"seeds/tls_framing/$(basename "$f")"
done
printf '\x07\x16\x03\x01\x00\x01\x01GET /admin HTTP/1.1\r\n\r\n' >seeds/tls_framing/plaintext
printf '\x02\x18\x03\x03\x00\x03\x01\x00\x00' >seeds/tls_framing/heartbeat
# tls_retry: a HelloRetryRequest (random = SHA-256("HelloRetryRequest")), then a CCS.
printf '\x16\x03\x03\x00\x38\x02\x00\x00\x34\x03\x03\xcf\x21\xad\x74\xe5\x9a\x61\x11\xbe\x1d\x8c\x02\x1e\x65\xb8\x91\xc2\xa2\x11\x16\x7a\xbb\x8c\x5e\x07\x9e\x09\xe2\xc8\xa8\x33\x9c\x00\x13\x01\x00\x00\x0c\x00\x2b\x00\x02\x03\x04\x00\x33\x00\x02\x00\x17\x14\x03\x03\x00\x01\x01' >seeds/tls_retry/hrr
cp ../integration/manifests/spec/*.yaml seeds/manifest/
printf 'GET /a/../b?x HTTP/1.1\r\nHost: a\r\n\r\n' >seeds/http_request/get
printf 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' >seeds/http_request/post
printf 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n' >seeds/http_request/resp
printf 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n' >seeds/http_request/upgrade2
printf 'GET http://a.b./x;p/y?q HTTP/1.1\r\nHost: a.b\r\nX_Original_URL: /z\r\nExpect: 100-continue\r\n\r\n' >seeds/http_request/override
printf 'GET /a/%%2e%%2E/b//c%%41%%2f%%5c HTTP/1.1\r\nHost: a..b\r\nHost: a\r\n\r\n' >seeds/http_request/noncanonical
printf '\x055\r\nhello\r\n0\r\nT: x\r\n\r\n' >seeds/chunked/body
printf '/public/%%2e%%2e//admin?q' >seeds/canonical_path/dots
printf 'http://Foo.bar.com./a/..;x/b#f' >seeds/canonical_path/absolute
printf '[..12]' >seeds/canonical_path/v6literal
# h2_frames: after the preface, SETTINGS then a HEADERS frame (GET http://web.test/a/../b,
# HPACK literals) and a CONTINUATION without END_HEADERS.
printf '\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x15\x01\x05\x00\x00\x00\x01\x82\x86\x04\x07/a/../b\x01\x08web.test\x00\x00\x00\x09\x00\x00\x00\x00\x01' >seeds/h2_frames/headers
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t (${secs}s)"
    if ! cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -rss_limit_mb=2048; then
        echo "!! $t failed" >&2
        status=1
    fi
done
exit "$status"
