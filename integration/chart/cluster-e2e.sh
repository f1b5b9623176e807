#!/usr/bin/env bash
# End-to-end check of l7proxy on a real Kubernetes cluster (>= 1.29), with curl.
#
#   integration/chart/cluster-e2e.sh [--image REPO:TAG] [--web-image IMG] [--curl-image IMG]
#                                    [--pull-policy P] [--restart-apiserver CMD] [--keep]
#
# 1. installs charts/l7proxy (with its test resources; its CRDs unless the cluster has them) and
#    runs `helm test` (allowed -> 200, denied -> reset);
# 2. labels a fresh namespace for injection, deploys `web` (nginx: HTTP 8080, TLS 8443, health 8081)
#    and curl clients with the labels the spec's examples select, checks they were injected;
# 3. applies each example of the spec (integration/manifests/spec/*.yaml) on its own and probes it
#    with curl as the example's comments say (allowed -> HTTP 200, denied -> connection reset);
# 4. live changes: a client's labels and a policy's rules change under running Pods; egress to a
#    ClusterIP Service with and without ready endpoints;
# 5. admission: invalid policies are refused with Antrea's messages (Drop with L7, a missing Tier,
#    an L7 field typo sent with --validate=false);
# 6. robustness: a bad policy stored in another namespace does not stop a new deny from being
#    enforced; after an API-server restart (--restart-apiserver CMD) a policy change is enforced
#    within seconds; a proxy whose ServiceAccount may not read the API stays unready and fails
#    closed; events are logged;
# 7. `helm upgrade` keeps the webhook CA; `helm uninstall` leaves no webhook behind.
#
# Prints one line per check (PASS ... / FAIL ...), then "N passed, M failed"; exits non-zero on any
# failure. Needs kubectl and helm (KUBECTL / HELM), openssl, a kubeconfig whose current context is
# the target cluster, nodes whose kernel has TPROXY (xt_TPROXY / nft_tproxy) and the images on the
# nodes or pullable (the l7proxy image built from the Dockerfile; a web server with nginx's
# /etc/nginx/conf.d layout running as uid 101; an image with curl and sleep). integration/cluster/
# runs it on a local single-node cluster (integration/cluster/e2e.sh). Do not run it against a
# cluster whose CNI is Antrea with its own L7 engine enabled.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart="$root/charts/l7proxy"
examples_dir="$root/integration/manifests/spec"
KUBECTL=${KUBECTL:-kubectl}
HELM=${HELM:-helm}
image=${E2E_IMAGE:-"l7proxy:$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart/Chart.yaml")"}
web_image=${E2E_WEB_IMAGE:-nginxinc/nginx-unprivileged:1.27-alpine}
curl_image=${E2E_CURL_IMAGE:-curlimages/curl:8.11.1}
pull_policy=${E2E_PULL_POLICY:-IfNotPresent}
restart_apiserver=${E2E_RESTART_APISERVER:-}
keep=0
release=l7proxy-e2e
release_ns="l7proxy-e2e-$$-system"
ns="l7proxy-e2e-$$"
other_ns="l7proxy-e2e-$$-other"
norbac_ns="l7proxy-e2e-$$-norbac"
test_ns="l7proxy-test-$$"
wait_s=${E2E_WAIT_SECONDS:-30}

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --image) image=$2; shift 2 ;;
        --web-image) web_image=$2; shift 2 ;;
        --curl-image) curl_image=$2; shift 2 ;;
        --pull-policy) pull_policy=$2; shift 2 ;;
        --restart-apiserver) restart_apiserver=$2; shift 2 ;;
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
    [ "$uninstalled" -eq 1 ] || "$HELM" uninstall "$release" -n "$release_ns" --wait --timeout 3m || true
    for n in "$ns" "$other_ns" "$norbac_ns" "$test_ns"; do k delete namespace "$n" --ignore-not-found --wait=false || true; done
    for f in "${applied_cluster_scoped[@]}"; do k delete -f "$f" --ignore-not-found || true; done
    k delete namespace "$release_ns" --ignore-not-found --wait=false || true
    return "$rc"
}
# Only what this run created is removed (all names carry this run's PID).
installed=0
uninstalled=0
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
# The chart installs the crd.antrea.io CRDs unless the cluster has them (Antrea's, or an earlier
# installation's: the chart keeps them on uninstall).
crds_install=true
if k get crd networkpolicies.crd.antrea.io clusternetworkpolicies.crd.antrea.io tiers.crd.antrea.io \
    >/dev/null 2>&1; then
    crds_install=false
fi
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
helm_values=(
    --set image.repository="$image_repo" --set image.tag="$image_tag"
    --set image.pullPolicy="$pull_policy" --set crds.install="$crds_install"
    --set tests.enabled=true --set tests.namespace="$test_ns"
    --set tests.webImage="$web_image" --set tests.curlImage="$curl_image"
    --set "proxy.rbac.namespaces={$ns}"
)

# ---------------------------------------------------------------------------------------------
log "helm install $release ($image) and helm test"
installed=1
"$HELM" install "$release" "$chart" -n "$release_ns" --create-namespace --wait --timeout 5m "${helm_values[@]}"
# Not `helm test --logs`: it also asks for logs of the test hooks that are not Pods, and fails.
if "$HELM" test "$release" -n "$release_ns" --timeout 5m; then
    pass "helm test"
else
    fail "helm test"
fi
k -n "$test_ns" logs -l l7proxy.io/test-role=client --tail=-1 2>&1 | sed 's/^/    | /' || true

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
          imagePullPolicy: $pull_policy
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
          imagePullPolicy: $pull_policy
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
# The init container ran `l7proxy redirect install` in the Pod's network namespace and exited 0;
# the sidecar runs `l7proxy run --kubernetes` and is ready (synced with the API).
init_exit=$(k -n "$ns" get pod "$web_pod" -o jsonpath='{.status.initContainerStatuses[?(@.name=="l7proxy-init")].state.terminated.exitCode}')
init_args=$(k -n "$ns" get pod "$web_pod" -o jsonpath='{.spec.initContainers[?(@.name=="l7proxy-init")].args}')
if [ "$init_exit" = 0 ] && [[ "$init_args" == *redirect*install* ]]; then
    pass "web's init container ran l7proxy redirect install and exited 0"
else
    fail "web's init container: exit code '$init_exit', args $init_args"
fi
proxy_args=$(k -n "$ns" get pod "$web_pod" -o jsonpath='{.spec.initContainers[?(@.name=="l7proxy")].args}')
proxy_ready=$(k -n "$ns" get pod "$web_pod" -o jsonpath='{.status.initContainerStatuses[?(@.name=="l7proxy")].ready}')
if [ "$proxy_ready" = true ] && [[ "$proxy_args" == *--kubernetes* ]]; then
    pass "web's proxy sidecar runs with --kubernetes and is ready"
else
    fail "web's proxy sidecar: ready '$proxy_ready', args $proxy_args"
fi
k -n "$ns" run optout --image "$curl_image" --image-pull-policy "$pull_policy" --restart Never --annotations l7proxy.io/inject=disabled \
    --command -- sleep 1 >/dev/null
if [ -z "$(k -n "$ns" get pod optout -o jsonpath='{.spec.initContainers[*].name}')" ]; then
    pass "a Pod annotated l7proxy.io/inject=disabled is not injected"
else
    fail "a Pod annotated l7proxy.io/inject=disabled was injected"
fi
k -n "$ns" delete pod optout --wait=false >/dev/null

# ---------------------------------------------------------------------------------------------
# probe CLIENT allow|reset DESCRIPTION CURL-ARGS...: curl from the client's Pod, retried until it
# gives the expected outcome (policies reach the proxies asynchronously) or E2E_WAIT_SECONDS (or
# $probe_limit) pass. allow = HTTP 200; reset = curl fails and reports "Connection reset by peer".
probe() {
    local from=$1 want=$2 what=$3
    shift 3
    local started=$SECONDS
    local deadline=$((SECONDS + ${probe_limit:-$wait_s})) out rc
    while :; do
        rc=0
        out=$(k -n "$ns" exec "deploy/$from" -c curl -- \
            curl -sS -k -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>&1) || rc=$?
        out=${out//$'\n'/ }
        case $want in
            allow) [ "$rc" -eq 0 ] && [ "$out" = 200 ] && break ;;
            reset) [ "$rc" -ne 0 ] && grep -qi 'reset' <<<"$out" && break ;;
        esac
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "$from: $what: expected $want within ${probe_limit:-$wait_s}s, got curl exit $rc: $out"
            return 0
        fi
        sleep 1
    done
    if [ "$want" = reset ]; then
        pass "$from: $what -> reset (curl exit $rc: $out; after $((SECONDS - started))s)"
    else
        pass "$from: $what -> HTTP 200 (after $((SECONDS - started))s)"
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
checks="$root/integration/cluster/checks"
# shellcheck source=integration/cluster/checks/live.sh
. "$checks/live.sh"
# shellcheck source=integration/cluster/checks/admission.sh
. "$checks/admission.sh"
# shellcheck source=integration/cluster/checks/robust.sh
. "$checks/robust.sh"
check_live_labels
check_live_policy
check_service_egress
check_admission
check_bad_object_and_upgrade
check_no_rbac
# Last before the events: controllers (the ServiceAccount one too) take a while to catch up after it.
check_apiserver_restart

log "events"
web_pod=$(k -n "$ns" get pod -l app=web -o jsonpath='{.items[0].metadata.name}')
events=$(k -n "$ns" exec "$web_pod" -c l7proxy -- sh -c 'cat /var/log/l7proxy/*.json' 2>/dev/null || true)
for type in http alert; do
    if grep -q "\"event_type\": *\"$type\"" <<<"$events"; then
        pass "web's proxy logged $type events in /var/log/l7proxy"
    else
        fail "web's proxy logged no $type event in /var/log/l7proxy"
    fi
done

check_uninstall

log "summary"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
