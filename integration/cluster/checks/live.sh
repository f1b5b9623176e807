# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # variables and helpers of cluster-e2e.sh, which sources this
# Checks of cluster-e2e.sh (sourced): changes under running Pods, and egress to ClusterIP Services.
# Uses its helpers (k, probe, pass, fail, http) and namespace $ns with web and the clients.

# policy NAME INGRESS-RULES-YAML: an Antrea NetworkPolicy on web (tier application).
web_policy() {
    cat <<YAML
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: $1}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
$2
YAML
}
path_rule() { printf '    - {name: only-%s, action: Allow, l7Protocols: [{http: {path: "%s"}}]}\n' "${1//[^a-z0-9]/}" "$1"; }

check_live_labels() {
    log "live change: a client's labels"
    k -n "$ns" apply -f "$examples_dir/2-allow-privileged-url-to-admin-role.yaml" >/dev/null
    probe other reset "GET /admin/index.html before the label" "$(http /admin/index.html)"
    local pod
    pod=$(k -n "$ns" get pod -l e2e-client=other -o jsonpath='{.items[0].metadata.name}')
    k -n "$ns" label pod "$pod" role=admin >/dev/null
    probe other allow "GET /admin/index.html once the client Pod is labelled role=admin" "$(http /admin/index.html)"
    k -n "$ns" label pod "$pod" role- >/dev/null
    probe other reset "GET /admin/index.html once the label is removed again" "$(http /admin/index.html)"
    k -n "$ns" delete -f "$examples_dir/2-allow-privileged-url-to-admin-role.yaml" --wait >/dev/null
}

check_live_policy() {
    log "live change: a policy's rules"
    web_policy e2e-live "$(path_rule '/v1/*')" | k -n "$ns" apply -f - >/dev/null
    probe client allow "GET /v1/x (policy allows /v1/*)" "$(http /v1/x)"
    probe client reset "GET /v2/x (policy allows /v1/*)" "$(http /v2/x)"
    web_policy e2e-live "$(path_rule '/v2/*')" | k -n "$ns" apply -f - >/dev/null
    probe client allow "GET /v2/x once the policy allows /v2/* instead" "$(http /v2/x)"
    probe client reset "GET /v1/x once the policy allows /v2/* instead" "$(http /v1/x)"
    k -n "$ns" delete networkpolicies.crd.antrea.io e2e-live --wait >/dev/null
    probe client allow "GET /v1/x once the policy is deleted" "$(http /v1/x)"
}

check_service_egress() {
    log "egress to a ClusterIP Service, with and without ready endpoints"
    # The client's proxy decides on the endpoint Pod behind the VIP: the rule selects web's Pods.
    k -n "$ns" apply -f - >/dev/null <<'YAML'
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: e2e-egress-to-web}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {e2e-client: client}}}]
  egress:
    - name: web-get-only
      action: Allow
      to: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{protocol: TCP, port: 8080}]
      l7Protocols: [{http: {method: GET}}]
---
apiVersion: v1
kind: Service
metadata: {name: no-endpoints}
spec:
  selector: {app: nothing-has-this-label}
  ports: [{name: http, port: 8080, targetPort: 8080}]
YAML
    probe client allow "egress GET to the web Service (rule selects its Pods)" "$(http /x)"
    probe client reset "egress POST to the web Service (rule allows GET)" -X POST -d x "$(http /x)"
    probe client reset "egress to a Service without ready endpoints" "http://no-endpoints:8080/"
    local pod events
    pod=$(k -n "$ns" get pod -l e2e-client=client -o jsonpath='{.items[0].metadata.name}')
    events=$(k -n "$ns" exec "$pod" -c l7proxy -- sh -c 'cat /var/log/l7proxy/*.json' 2>/dev/null || true)
    if grep -q 'has no ready endpoints' <<<"$events"; then
        pass "the client's proxy logged an alert: service ... has no ready endpoints"
    else
        fail "no 'has no ready endpoints' alert in the client's event log"
    fi
    k -n "$ns" delete networkpolicies.crd.antrea.io e2e-egress-to-web --wait >/dev/null
    k -n "$ns" delete service no-endpoints >/dev/null
}
