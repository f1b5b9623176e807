# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # variables and helpers of cluster-e2e.sh, which sources this
# Checks of cluster-e2e.sh (sourced): a bad stored object elsewhere, an API-server restart, a proxy
# without API access; and `helm upgrade` / `helm uninstall`.

webhook_cas() { # the caBundles of both webhook configurations of the release
    k get mutatingwebhookconfigurations,validatingwebhookconfigurations \
        -l "app.kubernetes.io/instance=$release" -o jsonpath='{range .items[*]}{.metadata.name}={.webhooks[0].clientConfig.caBundle}{"\n"}{end}' | sort
}

# A policy the validating webhook refuses, stored while the webhook is away (as one created before
# l7proxy was installed, or by a client that bypassed it): every proxy sees it in its watch. Then
# `helm upgrade` puts the webhook back, with the same CA.
check_bad_object_and_upgrade() {
    log "a bad policy stored in another namespace; helm upgrade"
    local before after vwc
    before=$(webhook_cas)
    vwc=$(k get validatingwebhookconfigurations -l "app.kubernetes.io/instance=$release" -o name)
    k create namespace "$other_ns" >/dev/null
    [ -z "$vwc" ] || k delete "$vwc" >/dev/null
    if k -n "$other_ns" apply -f - >/dev/null 2>&1 <<'YAML'; then
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: names-a-missing-tier}
spec:
  priority: 5
  tier: e2e-no-such-tier
  appliedTo: [{podSelector: {}}]
  ingress:
    - {name: any, action: Allow, l7Protocols: [{http: {path: "/*"}}]}
YAML
        pass "stored a policy naming a missing Tier in $other_ns (validating webhook removed)"
    else
        fail "could not store a policy naming a missing Tier in $other_ns"
    fi
    "$HELM" upgrade "$release" "$chart" -n "$release_ns" --wait --timeout 5m "${helm_values[@]}" >/dev/null
    after=$(webhook_cas)
    if [ -n "$before" ] && [ "$before" = "$after" ] && [ "$(wc -l <<<"$after")" -eq 2 ]; then
        pass "helm upgrade restored the validating webhook and kept the webhook CA"
    else
        fail "helm upgrade: webhook CAs before/after differ or a webhook is missing: before [$before] after [$after]"
    fi

    probe client allow "GET /private/x before a new deny" "$(http /private/x)"
    web_policy e2e-new-deny "$(path_rule '/public/*')" | k -n "$ns" apply -f - >/dev/null
    probe_limit=5 probe client reset "a new deny (only /public/*) enforced within 5s despite the bad policy in $other_ns" "$(http /private/x)"
    probe_limit=5 probe client allow "GET /public/x under the new policy" "$(http /public/x)"
    # Whatever happened above, the next checks start from a consistent state.
    k -n "$other_ns" delete networkpolicies.crd.antrea.io names-a-missing-tier --wait >/dev/null
    probe client reset "the new deny is enforced once the bad policy is deleted" "$(http /private/x)"
}

# After an API-server restart the proxies' watches must come back quickly: a policy change made
# right after the restart is enforced within about 5 s.
check_apiserver_restart() {
    log "API-server restart"
    if [ -z "$restart_apiserver" ]; then
        fail "API-server restart: no --restart-apiserver command given"
        return 0
    fi
    # A Pod without the proxy tells when Pods reach the API server at its Service address
    # again: after a restart the Service's endpoint and kube-proxy's rules come back some
    # seconds after the server itself answers, and every in-cluster client (the proxy
    # included) waits for that.
    k -n "$ns" run apiprobe --image "$curl_image" --image-pull-policy "$pull_policy" --restart Never \
        --annotations l7proxy.io/inject=disabled --command -- sleep 3600 >/dev/null
    k -n "$ns" wait --for=condition=Ready pod/apiprobe --timeout=60s >/dev/null || true
    local t0=$SECONDS
    $restart_apiserver
    until k get --raw /readyz >/dev/null 2>&1; do
        [ $((SECONDS - t0)) -lt 120 ] || { fail "the API server is not ready 120s after its restart"; return 0; }
        sleep 0.2
    done
    pass "API server restarted and ready again (after $((SECONDS - t0))s)"
    local t1=$SECONDS
    # shellcheck disable=SC2016 # expanded inside the Pod
    until k -n "$ns" exec apiprobe -- sh -c \
        'curl -sk --max-time 1 "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/readyz"' 2>/dev/null | grep -qx ok; do
        [ $((SECONDS - t1)) -lt 60 ] || { fail "Pods do not reach the API server at its Service address 60s after it is ready"; break; }
        sleep 0.5
    done
    pass "Pods reach the API server at its Service address again ($((SECONDS - t1))s after it was ready)"
    k -n "$ns" delete pod apiprobe --wait=false >/dev/null
    # Retried: the webhook's own client may also be reconnecting.
    local tries=0
    until web_policy e2e-new-deny "$(path_rule '/private/*')" | k -n "$ns" apply -f - >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 20 ] || { fail "could not change the policy after the restart"; return 0; }
        sleep 0.5
    done
    local changed=$SECONDS before=$failed
    probe_limit=5 probe client allow "policy changed after the restart (/private/*) enforced within 5s" "$(http /private/x)"
    if [ "$failed" -ne "$before" ]; then # how late it comes, for the record (not a check)
        local deadline=$((SECONDS + 120))
        until k -n "$ns" exec deploy/client -c curl -- curl -sf -o /dev/null --max-time 5 "$(http /private/x)" 2>/dev/null; do
            [ "$SECONDS" -lt "$deadline" ] || break
            sleep 1
        done
        echo "    (the change was enforced $((SECONDS - changed))s after it was made, or not within 120s)"
        echo "    web's proxy, its last watch and policy lines:"
        k -n "$ns" logs deploy/web -c l7proxy --since=3m 2>&1 | grep -E 'watch|policy|snapshot' | tail -25 | sed 's/^/    | /' || true
    fi
    probe_limit=5 probe client reset "GET /public/x after the change" "$(http /public/x)"
    k -n "$ns" delete networkpolicies.crd.antrea.io e2e-new-deny --wait >/dev/null
}

# A namespace labelled for injection whose ServiceAccounts may not read the API (not in
# proxy.rbac.namespaces): the proxy cannot sync, stays unready, and lets nothing through.
check_no_rbac() {
    log "a proxy whose ServiceAccount may not read the API"
    k create namespace "$norbac_ns" >/dev/null
    k label namespace "$norbac_ns" l7proxy.io/inject=enabled pod-security.kubernetes.io/enforce=privileged >/dev/null
    local sa_deadline=$((SECONDS + 30))
    until k -n "$norbac_ns" get serviceaccount default >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$sa_deadline" ] || break
        sleep 0.5
    done
    if ! k -n "$norbac_ns" apply -f - >/dev/null <<YAML; then
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data:
  default.conf: |
    server { listen 8080; location / { return 200 "norbac\n"; } }
    server { listen 8081; location = /healthz { return 200 "ok\n"; } }
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: web
      image: $web_image
      imagePullPolicy: $pull_policy
      ports: [{name: http, containerPort: 8080}, {name: health, containerPort: 8081}]
      readinessProbe: {httpGet: {path: /healthz, port: health}, periodSeconds: 2}
      securityContext: {runAsUser: 101, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}
      volumeMounts: [{name: conf, mountPath: /etc/nginx/conf.d, readOnly: true}, {name: tmp, mountPath: /tmp}]
  volumes: [{name: conf, configMap: {name: web}}, {name: tmp, emptyDir: {}}]
YAML
        fail "could not create the Pod without API access"
        return 0
    fi
    local ip="" deadline=$((SECONDS + 60))
    until [ -n "$ip" ]; do
        ip=$(k -n "$norbac_ns" get pod web -o jsonpath='{.status.podIP}' 2>/dev/null || true)
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 1
    done
    sleep 15
    local ready proxy_ready
    ready=$(k -n "$norbac_ns" get pod web -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
    proxy_ready=$(k -n "$norbac_ns" get pod web -o jsonpath='{.status.initContainerStatuses[?(@.name=="l7proxy")].ready}')
    if [ "$ready" = False ] && [ "$proxy_ready" != true ]; then
        pass "the Pod without API access stays unready (Ready=$ready, proxy ready=${proxy_ready:-unset}) after 15s"
    else
        fail "the Pod without API access: Ready=$ready, proxy ready=$proxy_ready"
    fi
    local rc=0 out
    out=$(k -n "$ns" exec deploy/client -c curl -- curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$ip:8080/" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then
        pass "a connection to the Pod without API access fails closed (curl exit $rc: $out)"
    else
        fail "a connection to the Pod without API access got HTTP $out"
    fi
    local log
    log=$(k -n "$norbac_ns" logs web -c l7proxy --tail=50 2>&1 || true)
    if grep -qiE 'forbidden|403' <<<"$log"; then
        pass "its proxy logs that the API refused it (forbidden)"
    else
        fail "its proxy does not log the API's refusal: $(tail -n 3 <<<"$log")"
    fi
    k delete namespace "$norbac_ns" --wait=false >/dev/null
}

check_uninstall() {
    log "helm uninstall"
    "$HELM" uninstall "$release" -n "$release_ns" --wait --timeout 3m >/dev/null
    uninstalled=1
    local left
    left=$(k get mutatingwebhookconfigurations,validatingwebhookconfigurations -o jsonpath='{range .items[*]}{.webhooks[*].name}{"\n"}{end}' | grep -E '(inject|validate)\.l7proxy\.io' || true)
    if [ -z "$left" ]; then
        pass "helm uninstall left no l7proxy webhook behind"
    else
        fail "helm uninstall left webhooks: $left"
    fi
    if k -n "$ns" run after-uninstall --image "$curl_image" --image-pull-policy "$pull_policy" --restart Never \
        --command -- sleep 1 >/dev/null 2>&1 &&
        [ -z "$(k -n "$ns" get pod after-uninstall -o jsonpath='{.spec.initContainers[*].name}')" ]; then
        pass "after uninstall a Pod in the labelled namespace is admitted, not injected"
    else
        fail "after uninstall a Pod in the labelled namespace was refused or injected"
    fi
}
