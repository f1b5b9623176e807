#!/usr/bin/env python3
"""Stand-in for the cluster DNS of the single-node test cluster (no CoreDNS image is available).

Answers A queries for `SERVICE.NAMESPACE.svc.DOMAIN` with the Service's ClusterIP, looked up in the
API server on every query (so a Service is resolvable as soon as it exists), NXDOMAIN for any other
name in DOMAIN and REFUSED for everything else: nothing is forwarded, nothing leaves the node.
AAAA and other types of a known Service get an empty answer (the cluster is IPv4-only).

    dns.py LISTEN_IP API_URL CA_FILE CERT_FILE KEY_FILE [DOMAIN]
"""

import json
import socket
import ssl
import struct
import sys
import urllib.error
import urllib.request

NOERROR, NXDOMAIN, REFUSED = 0, 3, 5
TYPE_A = 1


def parse_question(packet):
    """Returns (id, flags, labels, qtype, end offset of the question)."""
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        raise ValueError("one question expected")
    pos, labels = 12, []
    while packet[pos]:
        n = packet[pos]
        labels.append(packet[pos + 1 : pos + 1 + n].decode("ascii", "replace").lower())
        pos += 1 + n
    qtype, _qclass = struct.unpack("!HH", packet[pos + 1 : pos + 5])
    return qid, flags, labels, qtype, pos + 5


def answer(packet, rcode, ip=None):
    qid, flags, _labels, _qtype, end = parse_question(packet)
    rd = flags & 0x0100
    header = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, 1 if ip else 0, 0, 0)
    body = packet[12:end]
    if ip:
        body += struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, 5, 4) + socket.inet_aton(ip)
    return header + body


class Api:
    def __init__(self, url, ca, cert, key):
        self.url = url.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)

    def cluster_ip(self, namespace, name):
        """The Service's ClusterIP, "" for a headless one, None when there is no such Service."""
        req = f"{self.url}/api/v1/namespaces/{namespace}/services/{name}"
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=2) as resp:
                spec = json.load(resp).get("spec", {})
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        ip = spec.get("clusterIP", "")
        return "" if ip == "None" else ip


def resolve(api, labels, qtype, domain):
    suffix = domain.split(".")
    if labels[-len(suffix) :] != suffix:
        return REFUSED, None
    rest = labels[: -len(suffix)]
    if len(rest) != 3 or rest[2] != "svc":
        return NXDOMAIN, None
    ip = api.cluster_ip(rest[1], rest[0])
    if ip is None or ip == "":
        return NXDOMAIN, None
    return NOERROR, (ip if qtype == TYPE_A else None)


def main():
    listen, url, ca, cert, key = sys.argv[1:6]
    domain = sys.argv[6] if len(sys.argv) > 6 else "cluster.local"
    api = Api(url, ca, cert, key)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen, 53))
    while True:
        packet, peer = sock.recvfrom(512)
        try:
            _qid, _flags, labels, qtype, _end = parse_question(packet)
            rcode, ip = resolve(api, labels, qtype, domain)
            sock.sendto(answer(packet, rcode, ip), peer)
        except Exception as err:  # a malformed query or an API error: no answer, keep serving
            print(f"dns.py: {peer}: {err}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
