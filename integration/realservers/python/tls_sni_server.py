# OpenSSL-backed TLS server (Debian python3's ssl) for the TLS differential tests, and a
# plaintext line server beside it.
#
# TLS port: accepts only P-256 for key exchange (set_ecdh_curve), so a TLS 1.3 client whose
# first key share is x25519 gets a HelloRetryRequest. Its SNI callback logs every
# server_name of every ClientHello (OpenSSL runs it again for the second hello after a
# retry): "sni <client port> <name>". After the handshake it reads one line and answers
# "echo <line>", logging "data <client port> <version> <line>".
# Line port: says "ready" first (as SMTP or FTP servers do), then logs every line received:
# "line <client port> <line>".
#
# usage: tls_sni_server.py TLS_PORT LINE_PORT CERT KEY LOG
import socket
import ssl
import sys
import threading

tls_port, line_port, cert, key, log_path = (
    int(sys.argv[1]),
    int(sys.argv[2]),
    sys.argv[3],
    sys.argv[4],
    sys.argv[5],
)
lock = threading.Lock()


def log(text):
    with lock:
        with open(log_path, "a") as f:
            f.write(text + "\n")


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    return s


def read_line(read):
    data = b""
    while not data.endswith(b"\n") and len(data) < 4096:
        b = read(1)
        if not b:
            break
        data += b
    return data


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(cert, key)
ctx.set_ecdh_curve("prime256v1")


def on_sni(sslobj, name, _ctx):
    try:
        port = sslobj.getpeername()[1]
    except OSError:
        port = 0
    log("sni %d %s" % (port, name))


ctx.sni_callback = on_sni


def serve_tls(conn, peer):
    conn.settimeout(10)
    tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
    try:
        tls.do_handshake()
        line = read_line(tls.recv).rstrip(b"\r\n")
        log("data %d %s %s" % (peer[1], tls.version(), line.decode("latin-1")))
        tls.sendall(b"echo " + line + b"\n")
    except (OSError, ssl.SSLError) as e:
        log("fail %d %s" % (peer[1], type(e).__name__))
    finally:
        tls.close()


def serve_lines(conn, peer):
    conn.settimeout(10)
    try:
        conn.sendall(b"ready\n")
        while True:
            line = read_line(conn.recv)
            if not line:
                break
            log("line %d %s" % (peer[1], line.rstrip(b"\r\n").decode("latin-1")))
    except OSError:
        pass
    finally:
        conn.close()


def accept(listener, handler):
    while True:
        conn, peer = listener.accept()
        threading.Thread(target=handler, args=(conn, peer), daemon=True).start()


tls_l, line_l = listen(tls_port), listen(line_port)
threading.Thread(target=accept, args=(line_l, serve_lines), daemon=True).start()
accept(tls_l, serve_tls)
