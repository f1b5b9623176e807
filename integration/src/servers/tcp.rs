//! Raw TCP servers: echo (returns what it reads, honours half-close) and bulk (sends a
//! deterministic byte stream of a requested length so the receiver can check it end to end).

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::log::{RequestLog, RequestRecord};
use crate::bulk::{Pattern, expected_sha256, hex};

/// Echo every byte back; on the client's FIN, finish writing and close.
pub async fn serve_echo(listener: TcpListener, log: RequestLog) -> std::io::Result<()> {
    loop {
        let (mut stream, peer) = listener.accept().await?;
        let local = stream.local_addr()?;
        let log = log.clone();
        tokio::spawn(async move {
            let mut record = RequestRecord::new("echo", peer, local);
            let (mut r, mut w) = stream.split();
            let n = tokio::io::copy(&mut r, &mut w).await.unwrap_or(0);
            let _ = w.shutdown().await;
            record.bytes = n;
            log.write(&record);
        });
    }
}

/// Bulk server. The client writes one line: `N` (the server sends N bytes of [`Pattern`]
/// and closes) or `up N` (the client sends N bytes of the pattern, then half-closes; the
/// server answers `ok` when every byte matched, else `bad <sha256>`).
pub async fn serve_bulk(listener: TcpListener, log: RequestLog) -> std::io::Result<()> {
    loop {
        let (mut stream, peer) = listener.accept().await?;
        let local = stream.local_addr()?;
        let log = log.clone();
        tokio::spawn(async move {
            let mut record = RequestRecord::new("bulk", peer, local);
            let Some(line) = read_line(&mut stream).await else {
                return;
            };
            let (upload, number) = match line.strip_prefix("up ") {
                Some(n) => (true, n),
                None => (false, line.as_str()),
            };
            let Ok(total) = number.trim().parse::<u64>() else {
                return;
            };
            record.method = if upload { "up" } else { "down" }.into();
            record.bytes = if upload {
                receive(&mut stream, total).await
            } else {
                send(&mut stream, total).await
            };
            let _ = stream.shutdown().await;
            log.write(&record);
        });
    }
}

async fn read_line(stream: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 32 {
        match stream.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => return String::from_utf8(line).ok(),
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
    None
}

async fn send(stream: &mut TcpStream, total: u64) -> u64 {
    let mut pattern = Pattern::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        pattern.fill(&mut buf[..n]);
        if stream.write_all(&buf[..n]).await.is_err() {
            break;
        }
        left -= n as u64;
    }
    total - left
}

async fn receive(stream: &mut TcpStream, total: u64) -> u64 {
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                got += n as u64;
            }
        }
    }
    let sha = hex(&hasher.finalize());
    let reply = if got == total && sha == expected_sha256(total) {
        "ok\n".to_string()
    } else {
        format!("bad {got} bytes sha256 {sha}\n")
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    got
}
