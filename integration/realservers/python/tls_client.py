# A real TLS client (Debian python3's ssl, OpenSSL) driven through memory BIOs, so the test
# controls how its bytes reach the socket. Default groups: the first key share is x25519,
# so a P-256-only server answers with a HelloRetryRequest under TLS 1.3.
#
# usage: tls_client.py HOST PORT SNI MODE   (MODE: tls13, tls12, trickle = TLS 1.3 with
# every byte written on its own)
# Prints "port <local port>", then "ok <version> <reply>" or "error <what>".
import socket
import ssl
import sys
import time

host, port, sni, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "tls12":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
sock = socket.create_connection((host, port), timeout=10)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
print("port %d" % sock.getsockname()[1], flush=True)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname=sni)


def flush():
    data = out.read()
    if mode == "trickle":
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(0.001)
    elif data:
        sock.sendall(data)


def pump():
    b = sock.recv(65536)
    if not b:
        raise ConnectionError("closed")
    inc.write(b)


def run(step):
    while True:
        try:
            r = step()
            flush()
            return r
        except ssl.SSLWantReadError:
            flush()
            pump()


try:
    run(tls.do_handshake)
    run(lambda: tls.write(b"hello " + mode.encode() + b"\n"))
    reply = b""
    while not reply.endswith(b"\n"):
        reply += run(lambda: tls.read(4096))
    print("ok %s %s" % (tls.version(), reply.decode().strip()), flush=True)
except Exception as e:
    print("error %s %s" % (type(e).__name__, e), flush=True)
