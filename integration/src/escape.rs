//! Servers and clients of the connection-escape tests (`tests/escape.rs`): a server that
//! resets right after a complete response, a client that reads slowly, an app bound to the
//! Pod's own address, and a server that holds connections open.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::clients::{Outcome, Verdict};
use crate::lab::Lab;
use crate::pods::{self, Family};

/// The address of lab Pod `name`.
pub fn ip(name: &str, family: Family) -> IpAddr {
    pods::endpoint(name).unwrap().ip(family)
}

/// A server in `web` that, per connection, reads a request (HTTP head or one line), writes
/// 4,000,000 bytes (after a `Content-Length` head in `http` mode), waits until the proxy
/// has acknowledged every byte (`TIOCOUTQ` 0), then resets (`SO_LINGER` 0). Logs one line
/// per connection.
pub const RESETTING_SERVER: &str = r#"
import fcntl, socket, struct, sys, termios, time
addr, port, mode, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
l = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((addr, port))
l.listen(8)
def serve(c, peer):
    end = b'\r\n\r\n' if mode == 'http' else b'\n'
    data = b''
    while end not in data:
        b = c.recv(4096)
        if not b:
            return  # a readiness probe: connected and left
        data += b
    body = b'x' * 4000000
    c.sendall((b'HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n' if mode == 'http' else b'') + body)
    t0 = time.time()
    while True:
        q = struct.unpack('i', fcntl.ioctl(c.fileno(), termios.TIOCOUTQ, b'\0\0\0\0'))[0]
        if q == 0 or time.time() - t0 > 20:
            break
        time.sleep(0.005)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    with open(log, 'a') as f:
        f.write('%s unacked=%d\n' % (peer[0], q))
while True:
    c, peer = l.accept()
    try:
        serve(c, peer)
    except OSError:
        pass
    c.close()
"#;

/// Start [`RESETTING_SERVER`] in `web` on the Pod's IPv4 address; returns its log path.
pub fn resetting_server(lab: &Lab, port: u16, mode: &str) -> PathBuf {
    let script = lab.dir().join("resetting_server.py");
    std::fs::write(&script, RESETTING_SERVER).unwrap();
    let log = lab.dir().join(format!("resetting-{port}.log"));
    let web = ip("web", Family::V4);
    let mut cmd = lab.web.command("python3");
    cmd.arg(&script)
        .args([web.to_string(), port.to_string(), mode.to_string()])
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = lab.web.spawn(cmd).expect("start python server");
    // Killed with the namespace (spawn remembers the PID).
    std::mem::forget(child);
    lab.web
        .wait_tcp_listen(web, port, Duration::from_secs(10))
        .expect("resetting server listens");
    log
}

/// From the `app=client` Pod: send `request`, then read slowly (8 KiB receive buffer, a
/// pause after each read) until EOF, reset or `limit`. Returns how it ended and every byte.
pub fn slow_read(
    lab: &Lab,
    port: u16,
    request: &'static [u8],
    limit: Duration,
) -> (Verdict, Vec<u8>) {
    let dst = SocketAddr::new(ip("web", Family::V4), port);
    let src = ip("client", Family::V4);
    lab.client
        .run_in(move || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_recv_buffer_size(8 * 1024).unwrap();
            s.bind(&SocketAddr::new(src, 0).into()).unwrap();
            s.connect_timeout(&dst.into(), Duration::from_secs(5))
                .unwrap();
            let mut s: TcpStream = s.into();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(request).unwrap();
            let t0 = Instant::now();
            let mut got = Vec::new();
            let mut buf = [0u8; 8 * 1024];
            loop {
                if t0.elapsed() > limit {
                    return (Verdict::Timeout, got);
                }
                match s.read(&mut buf) {
                    Ok(0) => return (Verdict::Closed, got),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => return (Outcome::from_error(&e).result, got),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
        .unwrap()
}

/// What the resetting server logged so far.
pub fn server_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// An app in `web` bound to the Pod's own address on `port` (not a wildcard: the proxy's
/// listeners are on loopback, so it can). It answers `APP` to every connection and records
/// each client's address.
pub fn app_on_pod_ip(lab: &Lab, family: Family, port: u16, seen: &Arc<Mutex<Vec<SocketAddr>>>) {
    let addr = SocketAddr::new(ip("web", family), port);
    let listener = lab
        .web
        .run_in(move || TcpListener::bind(addr))
        .unwrap()
        .unwrap_or_else(|e| panic!("app binds {addr}: {e}"));
    let seen = seen.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            if let Ok(peer) = s.peer_addr() {
                seen.lock().unwrap().push(peer);
            }
            let _ = s.write_all(b"APP\n");
        }
    });
}

/// From Pod `from` to `web:port`: send a request line, read until EOF, reset or 5 s.
pub fn probe(lab: &Lab, from: &str, family: Family, port: u16) -> (Verdict, String) {
    let dst = SocketAddr::new(ip("web", family), port);
    let src = ip(from, family);
    lab.client
        .run_in(move || {
            let s = Socket::new(Domain::for_address(dst), Type::STREAM, None).unwrap();
            s.bind(&SocketAddr::new(src, 0).into()).unwrap();
            if let Err(e) = s.connect_timeout(&dst.into(), Duration::from_secs(5)) {
                return (Outcome::from_error(&e).result, String::new());
            }
            let mut s: TcpStream = s.into();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
            let mut got = Vec::new();
            let v = match s.read_to_end(&mut got) {
                Ok(_) => Verdict::Closed,
                Err(e) => Outcome::from_error(&e).result,
            };
            (v, String::from_utf8_lossy(&got).into_owned())
        })
        .unwrap()
}

/// A server in `web` on `port` that answers `ok` to each connection and holds it open
/// until the client closes.
pub fn holding_server(lab: &Lab, port: u16) {
    let addr = SocketAddr::new(ip("web", Family::V4), port);
    let listener = lab
        .web
        .run_in(move || TcpListener::bind(addr))
        .unwrap()
        .expect("bind holding server");
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.write_all(b"ok\n");
                let _ = s.read_to_end(&mut Vec::new());
            });
        }
    });
}
