//! Request log of the lab servers: one JSON object per line, flushed at once, so a test can
//! read which client address reached the real server (the proxy must preserve it).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One request (or connection, for raw servers) as the server saw it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// `http`, `https`, `echo`, `bulk`.
    pub server: String,
    pub client_ip: String,
    pub client_port: u16,
    pub local: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub sni: String,
    #[serde(default)]
    pub bytes: u64,
}

impl RequestRecord {
    pub fn new(server: &str, peer: SocketAddr, local: SocketAddr) -> RequestRecord {
        RequestRecord {
            server: server.to_string(),
            client_ip: peer.ip().to_canonical().to_string(),
            client_port: peer.port(),
            local: local.to_string(),
            method: String::new(),
            path: String::new(),
            host: String::new(),
            sni: String::new(),
            bytes: 0,
        }
    }
}

/// Shared log sink: a file, or stdout when none is given.
#[derive(Clone)]
pub struct RequestLog {
    file: Option<Arc<Mutex<File>>>,
}

impl RequestLog {
    pub fn open(path: Option<&Path>) -> std::io::Result<RequestLog> {
        let file = match path {
            Some(p) => Some(Arc::new(Mutex::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            ))),
            None => None,
        };
        Ok(RequestLog { file })
    }

    pub fn write(&self, record: &RequestRecord) {
        let Ok(line) = serde_json::to_string(record) else {
            return;
        };
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = writeln!(f, "{line}");
                }
            }
            None => println!("{line}"),
        }
    }
}

/// Read every record of a log file (missing file = no records).
pub fn read_log(path: &Path) -> Vec<RequestRecord> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
