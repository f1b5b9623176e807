//! Least privilege: after `l7proxy redirect install` (the init container, root), the proxy
//! itself runs as uid 1337 with nothing but CAP_NET_RAW (enough for IP_TRANSPARENT and
//! SO_MARK on kernel >= 5.17) and still enforces; without it, it refuses to start and says
//! which capability it needs.
//!
//! Run as root: `cargo test -p l7proxy-integration --test privilege`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use l7proxy_integration::lab::Lab;
use l7proxy_integration::{ChildGuard, l7proxy_bin, require_root};
use support::*;

const PREFIX: &str = "l7t-priv";
const UID: &str = "1337";
/// Bit of CAP_NET_RAW in the capability sets of /proc/<pid>/status.
const CAP_NET_RAW: u64 = 1 << 13;

/// A lab with [`policy`] and the capture rules installed (as root), its directories
/// readable by uid 1337 and the log directory owned by it.
fn prepared_lab() -> Lab {
    let lab = Lab::new(PREFIX).expect("lab");
    lab.add_manifest("harden.yaml", &policy()).unwrap();
    lab.write_objects().unwrap();
    let bin = l7proxy_bin().display().to_string();
    lab.web
        .exec_checked(&bin, &["redirect", "install"])
        .expect("redirect install");
    for dir in [lab.dir().to_path_buf(), lab.manifests_dir()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let uid = nix::unistd::Uid::from_raw(1337);
    let gid = nix::unistd::Gid::from_raw(1337);
    nix::unistd::chown(&lab.log_dir(), Some(uid), Some(gid)).unwrap();
    lab
}

/// `l7proxy run` in `web` through `setpriv` as uid/gid 1337 whose inheritable, ambient and
/// bounding sets hold only `caps` (e.g. `+net_raw`, or empty for none).
fn spawn_as_1337(lab: &Lab, caps: &str) -> (ChildGuard, PathBuf) {
    let set = format!(
        "-all{}",
        if caps.is_empty() {
            String::new()
        } else {
            format!(",{caps}")
        }
    );
    let stderr = lab.dir().join("proxy-1337.log");
    let mut cmd = lab.web.command("setpriv");
    cmd.args([
        &format!("--reuid={UID}"),
        &format!("--regid={UID}"),
        "--clear-groups",
        &format!("--inh-caps={set}"),
        &format!("--ambient-caps={set}"),
        &format!("--bounding-set={set}"),
        "--",
    ]);
    lab.wrapped_proxy(&mut cmd, &stderr);
    (lab.web.spawn(cmd).expect("spawn setpriv"), stderr)
}

fn status_field(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn runs_as_uid_1337_with_only_cap_net_raw_and_enforces() {
    if !require_root() {
        return;
    }
    let lab = prepared_lab();
    let (mut proxy, log) = spawn_as_1337(&lab, "+net_raw");
    let t0 = Instant::now();
    while lab
        .web
        .wait_tcp_listen(
            "127.0.0.1".parse().unwrap(),
            15006,
            Duration::from_millis(200),
        )
        .is_err()
    {
        if let Some(status) = proxy.try_wait() {
            panic!(
                "proxy exited {status}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "proxy not listening"
        );
    }
    let pid = proxy.id();
    // Exactly the identity and capabilities asked for.
    let uids = status_field(pid, "Uid:");
    assert!(uids.split_whitespace().all(|u| u == UID), "Uid: {uids}");
    let eff = u64::from_str_radix(&status_field(pid, "CapEff:"), 16).unwrap();
    assert_eq!(eff, CAP_NET_RAW, "CapEff {eff:#x}");
    let bnd = u64::from_str_radix(&status_field(pid, "CapBnd:"), 16).unwrap();
    assert_eq!(bnd, CAP_NET_RAW, "CapBnd {bnd:#x}");

    // Allowed: 200 from the real server. Denied: reset, alert written by uid 1337.
    let mut s = connect(&lab, 80);
    let (v, got) = send_and_finish(
        &mut s,
        b"GET /public/priv HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{v:?} {text:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut s = connect(&lab, 80);
    let p = local_port(&s);
    let (v, got) = send_and_finish(
        &mut s,
        b"GET /admin HTTP/1.1\r\nHost: web.test\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_cut("denied as uid 1337", v, &got, &lab);
    let reason = alert_reason(&lab, p);
    assert!(reason.contains("/public/*"), "{reason}");
    // The client's IP is preserved upstream (a transparent bind with CAP_NET_RAW alone).
    let seen = lab.server_requests(l7proxy_integration::pods::Host::Web);
    let rec = format!(
        "{:?}",
        seen.iter()
            .find(|r| format!("{r:?}").contains("/public/priv"))
    );
    assert!(rec.contains(&client_ip().to_string()), "{rec}");
    assert!(proxy.is_running());
}

#[test]
fn refuses_to_start_without_cap_net_raw() {
    if !require_root() {
        return;
    }
    let lab = prepared_lab();
    let (mut proxy, log) = spawn_as_1337(&lab, "");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = proxy.try_wait() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running without capabilities:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let msg = std::fs::read_to_string(&log).unwrap();
    eprintln!("without CAP_NET_RAW: {status}\n{msg}");
    assert!(!status.success(), "{msg}");
    assert!(
        msg.contains("l7proxy needs CAP_NET_RAW (kernel >= 5.17) or CAP_NET_ADMIN"),
        "{msg}"
    );
    assert_eq!(msg.matches("Operation not permitted").count(), 1, "{msg}");
    assert!(!msg.contains("panicked"), "{msg}");
}
