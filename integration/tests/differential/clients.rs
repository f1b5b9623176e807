//! No false denials: ordinary clients (curl, Python `requests`, Node 20 `fetch`, Python
//! `http.client`, Go `net/http`, each with its defaults) get their 200 through the proxy
//! from every server.

use l7proxy_integration::lab::Lab;
use l7proxy_integration::realservers::PYTHON;

use super::cases::{ANY_HTTP, APACHE, EXPRESS, HOST_ONLY, NGINX, PYTHON as PY_PORT};

/// Name the client namespace resolves to the `web` Pod (via `/etc/netns/<ns>/hosts`).
pub const WEB_NAME: &str = "foo.bar.com";

/// `(port, path)` of every allowed resource.
pub fn allowed() -> Vec<(u16, &'static str)> {
    vec![
        (APACHE, "/public/ok"),
        (NGINX, "/public/ok"),
        (EXPRESS, "/public/ok"),
        (EXPRESS, "/api/v2/pets"),
        (PY_PORT, "/public/ok"),
        (HOST_ONLY, "/anything"),
        (ANY_HTTP, "/anything/at/all"),
    ]
}

/// The Go `net/http` client `integration/run-tests.sh` builds from
/// `integration/realservers/goclient/main.go` (`L7PROXY_GO_CLIENT` names it).
fn go_client() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var("L7PROXY_GO_CLIENT")
            .unwrap_or_else(|_| "/var/cache/l7proxy-test/goclient/goclient".into())
    })
}

/// `(client, program, args)` fetching `url` and printing the status code.
fn commands(url: &str, port: u16, path: &str) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let port = port.to_string();
    vec![
        (
            "curl",
            "curl",
            s(&[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
                url,
            ]),
        ),
        (
            "python requests",
            PYTHON,
            s(&[
                "-c",
                "import requests, sys; print(requests.get(sys.argv[1], timeout=5).status_code)",
                url,
            ]),
        ),
        (
            "node fetch",
            "node",
            s(&[
                "-e",
                "fetch(process.argv[1]).then(async r => { await r.text(); console.log(r.status) })\
                 .catch(e => { console.log('error ' + (e.cause || e)); process.exit(1) })",
                url,
            ]),
        ),
        ("go net/http", go_client(), s(&[url])),
        (
            "python http.client",
            PYTHON,
            s(&[
                "-c",
                "import http.client, sys\n\
                 c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=5)\n\
                 c.request('GET', sys.argv[3])\n\
                 print(c.getresponse().status)",
                WEB_NAME,
                &port,
                path,
            ]),
        ),
    ]
}

/// Every client against every allowed resource; returns the failures.
pub fn check(lab: &Lab) -> Vec<String> {
    let mut failures = Vec::new();
    for (port, path) in allowed() {
        let url = format!("http://{WEB_NAME}:{port}{path}");
        for (client, prog, args) in commands(&url, port, path) {
            let out = lab.client.exec(prog, &args);
            let (status, detail) = match out {
                Ok(o) => (
                    String::from_utf8_lossy(&o.stdout).trim().to_string(),
                    String::from_utf8_lossy(&o.stderr).trim().to_string(),
                ),
                Err(e) => (String::new(), e.to_string()),
            };
            eprintln!("allowed  {client:<18} {url:<40} -> {status}");
            if status != "200" {
                failures.push(format!(
                    "false denial: {client} GET {url} -> {status:?} {detail}"
                ));
            }
        }
    }
    failures
}
