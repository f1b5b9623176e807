//! Command lines of the probe tools, kept apart from running them so the demo can print
//! exactly what it runs.

use super::{Probe, Tool, url_host_port};
use crate::error::{Error, Result};
use crate::lab::Lab;
use crate::pods::{Endpoint, Family};

/// `curl` bound to the source Pod's address; `--connect-to` sends the URL's host (Host
/// header, SNI) to the destination endpoint.
pub fn curl(p: &Probe, src: &Endpoint, dst: &Endpoint, family: Family) -> Result<Vec<String>> {
    let ip = dst.ip(family);
    let target = match family {
        Family::V4 => ip.to_string(),
        Family::V6 => format!("[{ip}]"),
    };
    // `-v`: a connection reset right after the handshake (an L4 Drop) makes curl say only
    // "Couldn't connect" (exit 7); the verbose line carries the errno that tells a reset from
    // a refused connection.
    let mut args: Vec<String> = ["-sS", "-v", "-g", "-k", "--max-time", "5", "--interface"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(src.ip(family).to_string());
    if let Some(m) = &p.method {
        args.extend(["-X".into(), m.clone()]);
    }
    for url in &p.url {
        let url = url.replace("{target}", &target);
        let (host, port) =
            url_host_port(&url).ok_or_else(|| Error::Other(format!("bad url {url:?}")))?;
        let connect_to = format!("{host}:{port}:{target}:{}", p.port.unwrap_or(port));
        if !args.contains(&connect_to) {
            args.extend(["--connect-to".into(), connect_to]);
        }
        args.extend([
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_code}\\n".into(),
            url,
        ]);
    }
    Ok(args)
}

/// `openssl s_client` cannot bind a source address, so it speaks as the namespace's
/// primary endpoint; it sends one HTTP request inside TLS.
pub fn openssl(p: &Probe, dst: &Endpoint, family: Family) -> Vec<String> {
    let target = Lab::addr(dst, family, p.port());
    let sni = p.sni.clone().unwrap_or_else(|| "foo.bar.com".into());
    let script = format!(
        "printf 'GET / HTTP/1.1\\r\\nHost: {sni}\\r\\nConnection: close\\r\\n\\r\\n' | timeout 8 openssl s_client -quiet -connect '{target}' -servername '{sni}'"
    );
    vec!["-c".into(), script]
}

/// `lab-client <mode> --connect DST --bind SRC ...`.
pub fn lab_client(p: &Probe, src: &Endpoint, dst: &Endpoint, family: Family) -> Vec<String> {
    let mode = match p.tool {
        Tool::Tls => "tls",
        Tool::Http => "http",
        Tool::Raw => "raw",
        _ => "bulk",
    };
    let mut args: Vec<String> = vec![
        mode.into(),
        "--connect".into(),
        Lab::addr(dst, family, p.port()).to_string(),
        "--bind".into(),
        src.ip(family).to_string(),
        "--timeout-ms".into(),
        "5000".into(),
    ];
    let mut opt = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            args.push(flag.into());
            args.push(v);
        }
    };
    match p.tool {
        Tool::Tls => {
            opt("--sni", p.sni.clone());
            opt("--split-segments", p.split_segments.map(|v| v.to_string()));
            opt("--pause-ms", p.pause_ms.map(|v| v.to_string()));
            opt("--split-records", p.split_records.map(|v| v.to_string()));
            opt("--min-hello", p.min_hello.map(|v| v.to_string()));
        }
        Tool::Raw => opt(
            "--send",
            Some(p.send.clone().unwrap_or_else(|| "hello\n".into())),
        ),
        Tool::Bulk => opt("--bytes", Some(p.bytes.unwrap_or(1 << 20).to_string())),
        _ => {}
    }
    if matches!(p.tool, Tool::Tls | Tool::Http) {
        for r in &p.requests {
            args.push("--req".into());
            args.push(r.clone());
        }
    }
    if p.tool == Tool::Tls && p.tls12 {
        args.push("--tls12".into());
    }
    if p.tool == Tool::Bulk && p.upload {
        args.push("--upload".into());
    }
    if p.tool == Tool::Http && p.pipeline {
        args.push("--pipeline".into());
    }
    if p.tool == Tool::Http
        && let Some(n) = p.pad_header
    {
        args.extend(["--pad-header".into(), n.to_string()]);
    }
    args
}
