#!/usr/bin/env bash
# End-to-end check of l7proxy on a real Kubernetes cluster (kind or any other, >= 1.29), with curl.
#
#   integration/chart/cluster-e2e.sh [--image REPO:TAG] [--kind CLUSTER] [--keep]
#
# 1. installs charts/l7proxy (with its test resources) and runs `helm test` (allowed -> 200,
#    denied -> reset);
# 2. labels a fresh namespace for injection, deploys `web` (nginx: HTTP 8080, TLS 8443, health 8081)
#    and curl clients with the labels the spec's examples select, checks they were injected;
# 3. applies each example of the spec (integration/manifests/spec/*.yaml) on its own and probes it
#    with curl as the example's comments say (allowed -> HTTP 200, denied -> connection reset);
# 4. checks that an invalid L7 policy is refused at admission and that events were logged;
# 5. uninstalls everything (unless --keep).
#
# Needs: kubectl and helm on PATH (or KUBECTL / HELM), openssl, a kubeconfig whose current context
# is the target cluster, nodes whose kernel has TPROXY (xt_TPROXY / nft_tproxy), the l7proxy image
# (built from the Dockerfile) pullable by the nodes or loaded with --kind, and the crd.antrea.io
# CRDs: when missing they are applied from ANTREA_CRDS (a file or URL of Antrea's CRD manifests).
# Do not run it against a cluster whose CNI is Antrea with its own L7 engine enabled.
# It cannot run on a machine without an API server; test.sh checks it statically.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart="$root/charts/l7proxy"
examples_dir="$root/integration/manifests/spec"
KUBECTL=${KUBECTL:-kubectl}
HELM=${HELM:-helm}
image="l7proxy:$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart/Chart.yaml")"
kind_cluster=""
keep=0
release=l7proxy-e2e
release_ns="l7proxy-e2e-$$-system"
ns="l7proxy-e2e-$$"
test_ns="l7proxy-test-$$"
wait_s=${E2E_WAIT_SECONDS:-30}
curl_image=curlimages/curl:8.11.1
web_image=nginxinc/nginx-unprivileged:1.27-alpine

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --image) image=$2; shift 2 ;;
        --kind) kind_cluster=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "cluster-e2e.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

passed=0
failed=0
log() { printf '\n==> %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
die() { echo "cluster-e2e.sh: $*" >&2; exit 2; }
k() { "$KUBECTL" "$@"; }

cleanup() {
    local rc=$?
    if [ "$keep" -eq 1 ]; then
        echo "kept: namespaces $ns, $test_ns and release $release in $release_ns"
        return "$rc"
    fi
    [ "$installed" -eq 1 ] || return "$rc"
    log "cleanup"
    k delete namespace "$ns" --ignore-not-found --wait=false || true
    for f in "${applied_cluster_scoped[@]}"; do k delete -f "$f" --ignore-not-found || true; done
    "$HELM" uninstall "$release" -n "$release_ns" --wait --timeout 3m || true
    k delete namespace "$release_ns" --ignore-not-found --wait=false || true
    return "$rc"
}
# Only what this run created is removed (all names carry this run's PID).
installed=0
applied_cluster_scoped=()
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
log "preflight"
command -v "$KUBECTL" >/dev/null || die "kubectl not found (set KUBECTL)"
command -v "$HELM" >/dev/null || die "helm not found (set HELM)"
command -v openssl >/dev/null || die "openssl not found"
k version
k get nodes -o wide
shopt -s nullglob
examples=("$examples_dir"/*.yaml)
[ ${#examples[@]} -gt 0 ] || die "no spec examples in $examples_dir"
for crd in networkpolicies clusternetworkpolicies tiers; do
    if ! k get crd "$crd.crd.antrea.io" >/dev/null 2>&1; then
        [ -n "${ANTREA_CRDS:-}" ] || die "CRD $crd.crd.antrea.io is missing: set ANTREA_CRDS to Antrea's CRD manifests"
        k apply --server-side -f "$ANTREA_CRDS"
        k wait --for condition=established --timeout 60s crd/networkpolicies.crd.antrea.io \
            crd/clusternetworkpolicies.crd.antrea.io crd/tiers.crd.antrea.io
        break
    fi
done
# Two installations would both inject the same Pods.
if k get mutatingwebhookconfigurations -o jsonpath='{.items[*].webhooks[*].name}' | tr ' ' '\n' |
    grep -qx 'inject.l7proxy.io'; then
    die "l7proxy is already installed in this cluster (webhook inject.l7proxy.io): uninstall it first"
fi
image_repo=${image%:*}
image_tag=${image##*:}
if [ "$image_repo" = "$image" ] || [[ "$image_tag" == */* ]]; then
    die "--image must be REPOSITORY:TAG (got $image)"
fi
if [ -n "$kind_cluster" ]; then
    command -v kind >/dev/null || die "kind not found (needed by --kind)"
    kind load docker-image "$image" --name "$kind_cluster"
fi

# ---------------------------------------------------------------------------------------------
log "helm install $release ($image) and helm test"
installed=1
"$HELM" install "$release" "$chart" -n "$release_ns" --create-namespace --wait --timeout 5m \
    --set image.repository="$image_repo" --set image.tag="$image_tag" \
    --set crds.install=false \
    --set tests.enabled=true --set tests.namespace="$test_ns" \
    --set "proxy.rbac.namespaces={$ns}"
if "$HELM" test "$release" -n "$release_ns" --logs --timeout 5m; then
    pass "helm test"
else
    fail "helm test"
fi

# ---------------------------------------------------------------------------------------------
log "namespace $ns (labelled for injection), web and clients"
k create namespace "$ns"
k label namespace "$ns" l7proxy.io/inject=enabled pod-security.kubernetes.io/enforce=privileged
tls_dir=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=foo.bar.com" \
    -addext "subjectAltName=DNS:foo.bar.com,DNS:*.bar.com" \
    -keyout "$tls_dir/tls.key" -out "$tls_dir/tls.crt" 2>/dev/null
k -n "$ns" create secret tls web-tls --cert "$tls_dir/tls.crt" --key "$tls_dir/tls.key"
rm -rf "$tls_dir"

client() { # client NAME LABELS...
    local name=$1
    shift
    local labels="app.kubernetes.io/part-of: l7proxy-e2e"
    for l in "$@"; do labels="$labels, ${l%%=*}: ${l#*=}"; done
    cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $name}
spec:
  replicas: 1
  selector: {matchLabels: {e2e-client: $name}}
  template:
    metadata:
      labels: {e2e-client: $name, $labels}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 100, runAsGroup: 101, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: curl
          image: $curl_image
          command: ["sleep", "86400"]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}
EOF
}

{
    cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data:
  default.conf: |
    server {
        listen 8080;
        location / { default_type text/plain; return 200 "web http \$request_method \$host \$uri\n"; }
    }
    server {
        listen 8443 ssl;
        ssl_certificate /etc/web-tls/tls.crt;
        ssl_certificate_key /etc/web-tls/tls.key;
        location / { default_type text/plain; return 200 "web tls \$ssl_server_name \$uri\n"; }
    }
    server {
        listen 8081;
        location = /healthz { default_type text/plain; return 200 "ok\n"; }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: web
          image: $web_image
          ports:
            - {name: http, containerPort: 8080}
            - {name: https, containerPort: 8443}
            - {name: health, containerPort: 8081}
          readinessProbe: {httpGet: {path: /healthz, port: health}, periodSeconds: 2}
          securityContext: {runAsUser: 101, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}
          volumeMounts:
            - {name: conf, mountPath: /etc/nginx/conf.d, readOnly: true}
            - {name: tls, mountPath: /etc/web-tls, readOnly: true}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - {name: conf, configMap: {name: web}}
        - {name: tls, secret: {secretName: web-tls}}
        - {name: tmp, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 8080, targetPort: http}
    - {name: https, port: 8443, targetPort: https}
EOF
    client client app=client
    client admin role=admin
    client other
    client egress-http egress-restriction=internal-domain-only
    client egress-tls egress-restriction=internal-tls-only
} | k -n "$ns" apply -f -
k -n "$ns" wait --for condition=Available deployment --all --timeout 5m

web_pod=$(k -n "$ns" get pod -l app=web -o jsonpath='{.items[0].metadata.name}')
inits=$(k -n "$ns" get pod "$web_pod" -o jsonpath='{range .spec.initContainers[*]}{.name}:{.restartPolicy}{" "}{end}')
if [[ "$inits" == "l7proxy-init: l7proxy:Always "* ]]; then
    pass "web Pod injected (init containers: $inits)"
else
    fail "web Pod not injected as expected (init containers: '$inits')"
fi
k -n "$ns" run optout --image "$curl_image" --restart Never --annotations l7proxy.io/inject=disabled \
    --command -- sleep 1 >/dev/null
if [ -z "$(k -n "$ns" get pod optout -o jsonpath='{.spec.initContainers[*].name}')" ]; then
    pass "a Pod annotated l7proxy.io/inject=disabled is not injected"
else
    fail "a Pod annotated l7proxy.io/inject=disabled was injected"
fi
k -n "$ns" delete pod optout --wait=false >/dev/null

# ---------------------------------------------------------------------------------------------
# probe CLIENT allow|reset DESCRIPTION CURL-ARGS...: curl from the client's Pod, retried until it
# gives the expected outcome (policies reach the proxies asynchronously) or E2E_WAIT_SECONDS pass.
# allow = HTTP 200; reset = curl fails and reports "Connection reset by peer".
probe() {
    local from=$1 want=$2 what=$3
    shift 3
    local deadline=$((SECONDS + wait_s)) out rc
    while :; do
        rc=0
        out=$(k -n "$ns" exec "deploy/$from" -c curl -- \
            curl -sS -k -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>&1) || rc=$?
        case $want in
            allow) [ "$rc" -eq 0 ] && [ "$out" = 200 ] && break ;;
            reset) [ "$rc" -ne 0 ] && grep -qi 'reset' <<<"$out" && break ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "$from: $what: expected $want, got curl exit $rc: $out"
            return 0
        fi
        sleep 1
    done
    if [ "$want" = reset ]; then
        pass "$from: $what -> reset (curl exit $rc: $out)"
    else
        pass "$from: $what -> HTTP 200"
    fi
}
http() { echo "http://web:8080$1"; }
# tls SNI: curl resolves SNI to the web Service's TLS port, so the ClientHello carries SNI.
tls() { echo "--connect-to" "$1:443:web:8443" "https://$1/"; }

run_example() {
    case $1 in
        ingress-allow-http-request-to-api-v2)
            probe client allow "GET /api/v2/users Host foo.bar.com" -H 'Host: foo.bar.com' "$(http /api/v2/users)"
            probe client reset "GET /api/v1/users Host foo.bar.com" -H 'Host: foo.bar.com' "$(http /api/v1/users)"
            probe client reset "POST /api/v2/users" -X POST -d x -H 'Host: foo.bar.com' "$(http /api/v2/users)"
            probe client reset "GET /api/v2/users Host evil.com" -H 'Host: evil.com' "$(http /api/v2/users)"
            probe other reset "GET /api/v2/users from a Pod without app=client" -H 'Host: foo.bar.com' "$(http /api/v2/users)"
            ;;
        allow-privileged-url-to-admin-role)
            probe admin allow "GET /admin/index.html" "$(http /admin/index.html)"
            probe admin allow "GET /public/index.html" "$(http /public/index.html)"
            probe other allow "GET /public/index.html" "$(http /public/index.html)"
            probe other reset "GET /admin/index.html" "$(http /admin/index.html)"
            probe client reset "GET /admin/index.html" "$(http /admin/index.html)"
            ;;
        allow-web-access-to-internal-domain)
            probe egress-http allow "egress GET Host www.bar.com" -H 'Host: www.bar.com' "$(http /)"
            probe egress-http reset "egress GET Host www.example.com" -H 'Host: www.example.com' "$(http /)"
            # shellcheck disable=SC2046 # tls prints several curl arguments
            probe egress-http reset "egress TLS (not HTTP)" $(tls www.bar.com)
            probe client allow "egress of an unrestricted Pod" -H 'Host: www.example.com' "$(http /)"
            ;;
        allow-http-only)
            probe other allow "GET /anything" "$(http /anything)"
            # shellcheck disable=SC2046
            probe other reset "TLS (not HTTP)" $(tls foo.bar.com)
            ;;
        ingress-allow-tls-handshake)
            # shellcheck disable=SC2046
            probe client allow "TLS SNI foo.bar.com" $(tls foo.bar.com)
            # shellcheck disable=SC2046
            probe client reset "TLS SNI evil.bar.com" $(tls evil.bar.com)
            probe client reset "plain HTTP" "$(http /)"
            # shellcheck disable=SC2046
            probe other reset "TLS SNI foo.bar.com from a Pod without app=client" $(tls foo.bar.com)
            ;;
        allow-tls-handshake-to-internal)
            # shellcheck disable=SC2046
            probe egress-tls allow "egress TLS SNI www.bar.com" $(tls www.bar.com)
            # shellcheck disable=SC2046
            probe egress-tls reset "egress TLS SNI www.example.com" $(tls www.example.com)
            probe egress-tls reset "egress plain HTTP" "$(http /)"
            ;;
        allow-tls-only)
            # shellcheck disable=SC2046
            probe other allow "TLS SNI www.example.com" $(tls www.example.com)
            probe other reset "plain HTTP" "$(http /)"
            ;;
        *)
            fail "no expectations for example policy $1"
            ;;
    esac
}

log "spec examples (${#examples[@]} files)"
for f in "${examples[@]}"; do
    echo "--- $(basename "$f")"
    names=$(k -n "$ns" apply -f "$f" -o name)
    if grep -q '^clusternetworkpolicy' <<<"$names"; then applied_cluster_scoped+=("$f"); fi
    for name in $names; do
        run_example "${name##*/}"
    done
    k -n "$ns" delete -f "$f" --wait
done

# ---------------------------------------------------------------------------------------------
log "admission and events"
bad_policy='apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: l7-rule-with-drop}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
    - {name: bad, action: Drop, l7Protocols: [{http: {path: "/admin/*"}}]}'
# Antrea's admission message for it, which the validating webhook reproduces.
if out=$(k -n "$ns" apply -f - <<<"$bad_policy" 2>&1); then
    fail "a layer 7 rule with action Drop was accepted: $out"
    k -n "$ns" delete networkpolicies.crd.antrea.io l7-rule-with-drop --ignore-not-found
elif grep -q 'layer 7 protocols only support Allow' <<<"$out"; then
    pass "a layer 7 rule with action Drop is refused at admission: $out"
else
    fail "a layer 7 rule with action Drop was refused without Antrea's message: $out"
fi
web_pod=$(k -n "$ns" get pod -l app=web -o jsonpath='{.items[0].metadata.name}')
events=$(k -n "$ns" exec "$web_pod" -c l7proxy -- sh -c 'cat /var/log/l7proxy/*.json' 2>/dev/null || true)
for type in http alert; do
    if grep -q "\"event_type\": *\"$type\"" <<<"$events"; then
        pass "web's proxy logged $type events in /var/log/l7proxy"
    else
        fail "web's proxy logged no $type event in /var/log/l7proxy"
    fi
done

log "summary"
echo "cluster-e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
