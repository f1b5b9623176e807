# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # variables and helpers of cluster-e2e.sh, which sources this
# Checks of cluster-e2e.sh (sourced): invalid policies are refused at admission, with Antrea's
# messages.

# refused NAME EXPECTED-MESSAGE-REGEX [kubectl apply flags]: the policy on stdin must be refused.
refused() {
    local name=$1 want=$2 out
    shift 2
    local policy
    policy=$(cat)
    if out=$(k -n "$ns" apply "$@" -f - <<<"$policy" 2>&1); then
        fail "$name: accepted ($out)"
        k -n "$ns" delete -f - --ignore-not-found <<<"$policy" >/dev/null 2>&1 || true
    elif grep -Eq "$want" <<<"$out"; then
        pass "$name: refused ($out)"
    else
        fail "$name: refused without the expected message /$want/: $out"
    fi
}

check_admission() {
    log "admission"
    refused "a layer 7 rule with action Drop" 'layer 7 protocols only support Allow' <<'YAML'
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: l7-rule-with-drop}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
    - {name: bad, action: Drop, l7Protocols: [{http: {path: "/admin/*"}}]}
YAML
    refused "a layer 7 rule with toServices" 'layer 7 protocols can not be used with toServices' <<'YAML'
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: l7-rule-with-to-services}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  egress:
    - {name: bad, action: Allow, toServices: [{name: web}], l7Protocols: [{http: {path: "/"}}]}
YAML
    # Antrea's validator: a policy may only name an existing Tier.
    refused "a policy naming a Tier that does not exist" 'tier .*e2e-no-such-tier.* does not exist|does not exist' <<'YAML'
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: missing-tier}
spec:
  priority: 5
  tier: e2e-no-such-tier
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
    - {name: web, action: Allow, l7Protocols: [{http: {path: "/public/*"}}]}
YAML
    # With --validate=false kubectl sends the typo; it must not be stored as a plain Allow rule
    # (which is what dropping the unknown field would make of it).
    refused "an l7Protocols typo (l7Protocol) sent with --validate=false" '.' --validate=false <<'YAML'
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: l7-typo}
spec:
  priority: 5
  tier: application
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
    - {name: typo, action: Allow, l7Protocol: [{http: {path: "/public/*"}}]}
YAML
}
