//! Load generators, all run from the client namespace on the load CPU: wrk for closed-loop
//! throughput, and small purpose-built clients where wrk cannot say what we need (resets
//! counted as outcomes, open-loop latency at a fixed rate, byte-counted bulk transfers,
//! thousands of idle connections).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::topo::{Topology, WEB_HOST};
use crate::error::{Error, Result};

/// Pin the calling thread to one CPU.
pub fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// A GET request for `path` (keep-alive unless `close`).
pub fn request(path: &str, close: bool) -> String {
    let conn = if close { "close" } else { "keep-alive" };
    format!("GET {path} HTTP/1.1\r\nHost: {WEB_HOST}\r\nConnection: {conn}\r\n\r\n")
}

/// What wrk reported.
#[derive(Debug, Default, Clone)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub errors: u64,
    pub non_2xx: u64,
    /// wrk's `Socket errors:` line, for the log.
    pub error_detail: String,
}

/// Run wrk from the client namespace on the load CPU.
pub fn wrk(
    topo: &Topology,
    url: &str,
    conns: usize,
    duration: Duration,
    close: bool,
) -> Result<WrkResult> {
    let cpu = topo.cpus.load.to_string();
    let mut args: Vec<String> = vec![
        "-c".into(),
        cpu,
        "wrk".into(),
        "-t1".into(),
        format!("-c{conns}"),
        format!("-d{}s", duration.as_secs().max(1)),
        "--timeout".into(),
        "2s".into(),
    ];
    if close {
        args.extend(["-H".into(), "Connection: close".into()]);
    }
    args.push(url.into());
    let out = topo.client.exec("taskset", &args)?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Error::Other(format!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse_wrk(&text).ok_or_else(|| Error::Other(format!("cannot read wrk output:\n{text}")))
}

/// Read `Requests/sec`, socket errors and non-2xx responses from wrk's report.
pub fn parse_wrk(text: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut seen = false;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            r.requests_per_sec = v.trim().parse().ok()?;
            seen = true;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            r.error_detail = v.trim().to_string();
            // connect 0, read 12, write 0, timeout 0
            r.errors = v
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().ok()?;
        }
    }
    seen.then_some(r)
}

/// Outcomes of one-request connections.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnOutcomes {
    /// A 200 response arrived.
    pub ok: u64,
    /// The connection was reset (ECONNRESET) before a response.
    pub reset: u64,
    /// Closed (FIN) without a response, or a non-200 response.
    pub refused: u64,
    /// Connect errors and timeouts.
    pub failed: u64,
    pub elapsed: Duration,
}

impl ConnOutcomes {
    /// Denied attempts (reset or refused) per second.
    pub fn denied_per_sec(&self) -> f64 {
        (self.reset + self.refused) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Open connections back to back (`concurrency` at a time) for `duration`, each sending one
/// `Connection: close` request for `path`, and count how each ended.
pub fn conn_loop(
    topo: &Topology,
    path: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<ConnOutcomes> {
    let cpu = topo.cpus.load;
    let req = request(path, true);
    topo.client.block_on(move || async move {
        pin(cpu);
        let dst = Topology::web_addr(super::topo::HTTP_PORT);
        let deadline = Instant::now() + duration;
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let req = req.clone();
            set.spawn(async move {
                let mut out = ConnOutcomes::default();
                while Instant::now() < deadline {
                    match one_request(dst, req.as_bytes()).await {
                        Outcome::Ok => out.ok += 1,
                        Outcome::Reset => out.reset += 1,
                        Outcome::Refused => out.refused += 1,
                        Outcome::Failed => out.failed += 1,
                    }
                }
                out
            });
        }
        let mut total = ConnOutcomes::default();
        while let Some(r) = set.join_next().await {
            if let Ok(o) = r {
                total.ok += o.ok;
                total.reset += o.reset;
                total.refused += o.refused;
                total.failed += o.failed;
            }
        }
        total.elapsed = start.elapsed();
        total
    })
}

enum Outcome {
    Ok,
    Reset,
    Refused,
    Failed,
}

async fn one_request(dst: SocketAddr, req: &[u8]) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let Ok(mut s) = tokio::net::TcpStream::connect(dst).await else {
            return Outcome::Failed;
        };
        let _ = s.set_nodelay(true);
        if let Err(e) = s.write_all(req).await {
            return classify_err(&e);
        }
        let mut buf = [0u8; 4096];
        let mut head = Vec::new();
        loop {
            match s.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if head.len() < 16 {
                        head.extend_from_slice(&buf[..n.min(16)]);
                    }
                }
                Err(e) => {
                    if head.starts_with(b"HTTP/1.1 200") {
                        return Outcome::Ok;
                    }
                    return classify_err(&e);
                }
            }
        }
        if head.starts_with(b"HTTP/1.1 200") {
            Outcome::Ok
        } else {
            Outcome::Refused
        }
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .unwrap_or(Outcome::Failed)
}

fn classify_err(e: &std::io::Error) -> Outcome {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => Outcome::Reset,
        _ => Outcome::Failed,
    }
}

/// Latencies of an open-loop run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub achieved_rps: f64,
    pub errors: u64,
    /// Requests answered over the whole probe, warm-up included (for CPU per request).
    pub requests: u64,
}

/// Open-loop probe: `conns` keep-alive connections each send on their own fixed schedule,
/// together `rate` requests/s. Latency runs from the *scheduled* send time to the last
/// byte of the response, so a stall delays every request queued behind it and shows in the
/// percentiles (no coordinated omission). The first `warmup` is not recorded.
pub fn latency_probe(
    topo: &Topology,
    rate: f64,
    conns: usize,
    duration: Duration,
    warmup: Duration,
) -> Result<Latency> {
    let cpu = topo.cpus.load;
    let dst = Topology::web_addr(super::topo::HTTP_PORT);
    let req = request(super::policy::ALLOWED_PATH, false);
    let res = topo.client.run_in(move || {
        pin(cpu);
        let start = Instant::now() + Duration::from_millis(50);
        let period = Duration::from_secs_f64(conns as f64 / rate);
        let handles: Vec<_> = (0..conns)
            .map(|i| {
                let req = req.clone();
                std::thread::spawn(move || {
                    let _ = nix::sys::prctl::set_timerslack(1);
                    let offset = period.mul_f64(i as f64 / conns as f64);
                    probe_conn(
                        dst,
                        req.as_bytes(),
                        start + offset,
                        period,
                        duration,
                        warmup,
                    )
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        let mut sent = 0u64;
        let mut requests = 0u64;
        for h in handles {
            match h.join() {
                Ok(Ok((lat, n, total))) => {
                    all.extend(lat);
                    sent += n;
                    requests += total;
                }
                _ => errors += 1,
            }
        }
        (all, errors, sent, requests)
    })?;
    let (mut all, errors, sent, requests) = res;
    if all.is_empty() {
        return Err(Error::Other("latency probe got no responses".into()));
    }
    all.sort_by(f64::total_cmp);
    Ok(Latency {
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        achieved_rps: sent as f64 / duration.as_secs_f64(),
        errors,
        requests,
    })
}

/// One connection of the probe: returns recorded latencies (µs), requests sent after the
/// warm-up, and requests answered in all.
fn probe_conn(
    dst: SocketAddr,
    req: &[u8],
    first: Instant,
    period: Duration,
    duration: Duration,
    warmup: Duration,
) -> std::io::Result<(Vec<f64>, u64, u64)> {
    let mut s = TcpStream::connect_timeout(&dst, Duration::from_secs(2))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let record_from = first + warmup;
    let end = first + warmup + duration;
    let mut lat = Vec::with_capacity((duration.as_secs_f64() / period.as_secs_f64()) as usize + 16);
    let mut buf = vec![0u8; 8192];
    let mut due = first;
    let mut sent = 0;
    let mut answered = 0;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        s.write_all(req)?;
        read_response(&mut s, &mut buf)?;
        answered += 1;
        let done = Instant::now();
        if due >= record_from {
            lat.push(done.duration_since(due).as_secs_f64() * 1e6);
            sent += 1;
        }
        due += period;
    }
    Ok((lat, sent, answered))
}

/// Read one HTTP/1.1 response with a Content-Length body.
fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    loop {
        let n = s.read(&mut buf[filled..])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = resp.parse(&buf[..filled]) {
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0);
            let mut have = filled - head;
            while have < len {
                let n = s.read(buf)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                have += n;
            }
            return Ok(());
        }
        if filled == buf.len() {
            return Err(std::io::Error::other("response head too large"));
        }
    }
}

/// Sorted-slice percentile (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

/// Download `bytes` from the bulk port `count` times, one after another; Gbit/s overall.
pub fn bulk(topo: &Topology, bytes: u64, count: usize) -> Result<f64> {
    let cpu = topo.cpus.load;
    let dst = Topology::web_addr(super::topo::BULK_PORT);
    topo.client.run_in(move || -> Result<f64> {
        pin(cpu);
        let mut buf = vec![0u8; 256 * 1024];
        let start = Instant::now();
        for _ in 0..count {
            let mut s = TcpStream::connect_timeout(&dst, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(format!("{bytes}\n").as_bytes())?;
            let mut got = 0u64;
            loop {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            if got != bytes {
                return Err(Error::Other(format!("bulk: got {got} of {bytes} bytes")));
            }
        }
        Ok((bytes * count as u64) as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
    })?
}

/// Open `count` keep-alive connections (spread over `sources`), send one allowed request on
/// each and read its response, then call `measure` while all of them are open and idle.
pub fn with_idle_connections<T: Send>(
    topo: &Topology,
    count: usize,
    sources: &[IpAddr],
    measure: impl FnOnce() -> T + Send,
) -> Result<T> {
    let cpu = topo.cpus.load;
    let sources = sources.to_vec();
    let dst = Topology::web_addr(super::topo::HTTP_PORT);
    let req = request(super::policy::ALLOWED_PATH, false);
    topo.client.run_in(move || -> Result<T> {
        pin(cpu);
        let mut conns = Vec::with_capacity(count);
        let mut buf = vec![0u8; 8192];
        for i in 0..count {
            let src = SocketAddr::new(sources[i % sources.len()], 0);
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            sock.bind(&src.into())?;
            sock.connect_timeout(&dst.into(), Duration::from_secs(2))?;
            let mut s: TcpStream = sock.into();
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(req.as_bytes())?;
            read_response(&mut s, &mut buf)
                .map_err(|e| Error::Other(format!("idle connection {i}: {e}")))?;
            conns.push(s);
            if i % 1000 == 0 {
                super::stop::check()?;
            }
        }
        // Let the proxy settle (buffers released after the first exchange).
        std::thread::sleep(Duration::from_millis(500));
        let value = measure();
        drop(conns);
        Ok(value)
    })?
}
