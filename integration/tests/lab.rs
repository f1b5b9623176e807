//! The lab topology itself: every endpoint reaches the servers over IPv4 and IPv6 from its
//! own address, and dropping the lab removes its namespaces, processes and files.

use l7proxy_integration::lab::{HTTP_PORT, Lab};
use l7proxy_integration::pods::{self, Family, Host};
use l7proxy_integration::require_root;

#[test]
fn lab_connects_every_endpoint_and_cleans_up() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("l7t-lab").unwrap();
    let names: Vec<String> = [&lab.web, &lab.client, &lab.external, &lab.wire]
        .iter()
        .map(|n| n.name().to_string())
        .collect();
    let dir = lab.dir().to_path_buf();
    let pids: Vec<u32> = [&lab.web, &lab.external]
        .iter()
        .flat_map(|n| n.pids())
        .collect();
    assert_eq!(pids.len(), 2, "one lab-server in web and one in external");
    for src in pods::endpoints() {
        for dst in ["web", "external"] {
            let dst = pods::endpoint(dst).unwrap();
            if dst.host == src.host {
                continue;
            }
            for family in Family::BOTH {
                let url = match family {
                    Family::V4 => format!("http://{}/from-{}", dst.v4, src.name),
                    Family::V6 => format!("http://[{}]/from-{}", dst.v6, src.name),
                };
                let ip = src.ip(family).to_string();
                let out = lab
                    .ns(src.host)
                    .exec(
                        "curl",
                        &["-sS", "-g", "--max-time", "5", "--interface", &ip, &url],
                    )
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{} → {url}: {}",
                    src.name,
                    String::from_utf8_lossy(&out.stderr)
                );
                let server = if dst.host == Host::Web {
                    Host::Web
                } else {
                    Host::External
                };
                let seen = lab.server_requests(server);
                assert!(
                    seen.iter().any(|r| r.client_ip == ip
                        && r.path == format!("/from-{}", src.name)
                        && r.local.ends_with(&format!(":{HTTP_PORT}"))),
                    "server did not log {ip}: {seen:?}"
                );
            }
        }
    }
    drop(lab);
    let list = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for n in names {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(n.as_str())),
            "{n} left behind"
        );
    }
    for p in pids {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "server {p} survived"
        );
    }
    assert!(!dir.exists(), "lab directory left behind");
}
