//! Raw TCP servers: echo (returns what it reads, honours half-close) and bulk (sends a
//! deterministic byte stream of a requested length so the receiver can check it end to end).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::log::{RequestLog, RequestRecord};
use crate::bulk::Pattern;

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

/// Bulk sender: the client writes a decimal length and a newline; the server sends that many
/// bytes of [`Pattern`] and closes.
pub async fn serve_bulk(listener: TcpListener, log: RequestLog) -> std::io::Result<()> {
    loop {
        let (mut stream, peer) = listener.accept().await?;
        let local = stream.local_addr()?;
        let log = log.clone();
        tokio::spawn(async move {
            let mut record = RequestRecord::new("bulk", peer, local);
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while line.len() < 32 {
                match stream.read(&mut byte).await {
                    Ok(1) if byte[0] == b'\n' => break,
                    Ok(1) => line.push(byte[0]),
                    _ => return,
                }
            }
            let Some(total) = std::str::from_utf8(&line)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
            else {
                return;
            };
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
            let _ = stream.shutdown().await;
            record.bytes = total - left;
            log.write(&record);
        });
    }
}
