"""Raw-byte recorder for the differential lab.

`recorder.py PORT LOGFILE MODE`: appends every byte received on every connection to LOGFILE.
MODE `silent` answers nothing; `two` answers the first request head of a connection with
TWO complete responses, the second carrying the body STALE-RESPONSE-MARKER (an upstream
that sends bytes nobody asked for); `h2c101` answers it with a 101 switching to h2c,
whatever was asked for.
"""
import socket
import sys
import threading

PORT, LOG, MODE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()

FIRST = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst\n"
STALE = b"HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\nSTALE-RESPONSE-MARKER"
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
ANSWERS = {"two": FIRST + STALE, "h2c101": SWITCH}


def serve(conn):
    seen = b""
    answered = False
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            with lock, open(LOG, "ab") as f:
                f.write(data)
            seen += data
            if MODE in ANSWERS and not answered and b"\r\n\r\n" in seen:
                answered = True
                conn.sendall(ANSWERS[MODE])


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", PORT))
listener.listen(64)
while True:
    c, _ = listener.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
