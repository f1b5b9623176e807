"""Python http.server for the differential lab.

`httpserver.py PORT LOGFILE TUNNELFILE`: HTTP/1.1 keep-alive, every request line appended
to LOGFILE. Like http.server itself it never reads a GET body, so bytes hidden in one are
parsed as the next request. CONNECT answers 200 and appends every tunnelled byte to
TUNNELFILE.
"""
import http.server
import socketserver
import sys

PORT, LOG, TUNNEL = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def append(path, data):
    with open(path, "ab") as f:
        f.write(data)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def parse_request(self):
        ok = super().parse_request()
        append(LOG, (self.requestline + "\n").encode("latin-1", "replace"))
        return ok

    def _answer(self):
        body = b"python ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_DELETE = _answer

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def do_CONNECT(self):
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            data = self.connection.recv(65536)
            if not data:
                return
            append(TUNNEL, data)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("0.0.0.0", PORT), Handler).serve_forever()
