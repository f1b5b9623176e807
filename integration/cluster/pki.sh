#!/usr/bin/env bash
# Certificates of the test cluster (openssl, EC P-256): a CA, the API server's serving certificate,
# client certificates (admin, controller-manager, scheduler, kubelet, kube-proxy, the API server's
# kubelet client), the kubelet's serving certificate, the ServiceAccount signing key, and a
# kubeconfig per client.   pki.sh DIR
set -euo pipefail
# shellcheck source=integration/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
openssl_cnf() { # openssl_cnf SAN EXTKEYUSAGE
    printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "$2"
    [ -z "$1" ] || printf 'subjectAltName=%s\n' "$1"
}
# cert NAME SUBJECT EXTKEYUSAGE [SAN]
cert() {
    key "$1"
    openssl_cnf "${4:-}" "$3" >"$1.cnf"
    openssl req -new -key "$1.key" -subj "$2" -config "$1.cnf" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.cnf" -extensions ext -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.cnf"
}
kubeconfig() { # kubeconfig NAME (uses NAME.crt/NAME.key)
    cat >"$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
  - name: l7k
    cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$dir/ca.crt"}
users:
  - name: $1
    user: {client-certificate: "$dir/$1.crt", client-key: "$dir/$1.key"}
contexts:
  - name: l7k
    context: {cluster: l7k, user: $1}
current-context: l7k
KC
}

key ca
openssl req -x509 -new -key ca.key -subj "/CN=l7k-ca" -days 2 -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
cert kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
cert admin "/O=system:masters/CN=l7k-admin" clientAuth
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
for c in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$c"; done
chmod 600 ./*.key
