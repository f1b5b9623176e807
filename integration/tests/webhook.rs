//! End-to-end tests of `l7proxy controller`: the real binary serves the admission webhooks
//! over HTTPS on loopback with a CA-signed certificate (as the chart generates one), and real
//! AdmissionReview JSON goes over a verified TLS connection. No root needed.
//!
//! The patched Pod is checked against the Kubernetes schema with `kubernetes-validate` when it
//! is installed (on PATH, or where `integration/chart/test.sh` caches it); without it that one
//! check is skipped with a message, unless `CI` is set.
//!
//! Build the binary first: `cargo build`.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use l7proxy_integration::env::{l7proxy_bin, workspace_dir};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

/// The flags `charts/l7proxy/templates/deployment.yaml` passes with default values (the
/// listen addresses and certificate paths are the test's).
const CHART_FLAGS: &[&str] = &[
    "--opt-out-key=l7proxy.io/inject",
    "--proxy-image=l7proxy:0.1.0",
    "--proxy-image-pull-policy=IfNotPresent",
    "--inbound-port=15006",
    "--outbound-port=15001",
    "--metrics-port=15020",
    "--mark=0x539",
    "--proxy-uid=1337",
    "--log-dir=/var/log/l7proxy",
    "--proxy-log-level=info",
    "--ipv6=auto",
    r#"--proxy-resources={"limits":{"memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}}"#,
    r#"--init-resources={"limits":{"memory":"64Mi"},"requests":{"cpu":"10m","memory":"16Mi"}}"#,
];

/// A running controller, killed (by PID) when dropped.
struct Controller {
    child: Child,
    webhook: SocketAddr,
    metrics: SocketAddr,
    ca: CertificateDer<'static>,
    dir: tempfile::TempDir,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a serving certificate for `localhost` signed by it, like the chart's. Each file
/// is replaced atomically (rename), as the kubelet updates a Secret volume.
fn write_certs(dir: &Path) -> CertificateDer<'static> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "l7proxy-webhook-ca");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    for (name, pem) in [("tls.key", key.serialize_pem()), ("tls.crt", leaf.pem())] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, pem).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
    ca.der().clone()
}

fn start() -> Controller {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_certs(dir.path());
    let mut child = Command::new(l7proxy_bin())
        .arg("controller")
        .arg("--webhook-listen=127.0.0.1:0")
        .arg("--metrics-listen=127.0.0.1:0")
        .arg(format!(
            "--tls-cert-file={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-key-file={}",
            dir.path().join("tls.key").display()
        ))
        .args(CHART_FLAGS)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The controller logs the addresses it bound (port 0 picks free ones). The reader keeps
    // draining stderr so the child never blocks on a full pipe.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("controller: {line}");
            let _ = tx.send(line);
        }
    });
    let (mut webhook, mut metrics) = (None, None);
    while webhook.is_none() || metrics.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("controller did not log its listen addresses"));
        let addr = line
            .split_once("listen.addr=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|a| a.parse::<SocketAddr>().ok());
        match addr {
            Some(a) if line.contains("HTTPS") => webhook = Some(a),
            Some(a) => metrics = Some(a),
            None => {}
        }
    }
    Controller {
        child,
        webhook: webhook.unwrap(),
        metrics: metrics.unwrap(),
        ca,
        dir,
    }
}

/// One request over a fresh connection, TLS verified against the test CA when `ca` is set.
async fn send(
    addr: SocketAddr,
    ca: Option<&CertificateDer<'static>>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    macro_rules! exchange {
        ($io:expr) => {{
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($io))
                .await
                .unwrap();
            tokio::spawn(conn);
            let resp = sender.send_request(req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }};
    }
    match ca {
        None => exchange!(tcp),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.clone()).unwrap();
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let name = ServerName::try_from("localhost").unwrap();
            exchange!(connector.connect(name, tcp).await.unwrap())
        }
    }
}

/// POSTs an AdmissionReview for `object` and returns its `response`.
async fn review(c: &Controller, path: &str, kind: Value, operation: &str, object: &Value) -> Value {
    let uid = format!("uid-{}-{}", std::process::id(), rand_suffix());
    let body = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": kind,
            "operation": operation,
            "namespace": object["metadata"]["namespace"].as_str().unwrap_or("default"),
            "name": object["metadata"]["name"],
            "object": object,
            "dryRun": false
        }
    });
    let (status, text) = send(c.webhook, Some(&c.ca), "POST", path, &body.to_string()).await;
    assert_eq!(status, 200, "{text}");
    let resp: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(resp["kind"], "AdmissionReview");
    assert_eq!(resp["response"]["uid"], uid, "the uid must be echoed");
    resp["response"].clone()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn pod_kind() -> Value {
    json!({"group": "", "version": "v1", "kind": "Pod"})
}

/// The chart's documented injected Pod without what the injection adds: the webhook's input.
fn input_pod() -> Value {
    let path = workspace_dir().join("integration/chart/fixtures/injected-pod.yaml");
    let mut pod: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    pod["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let spec = pod["spec"].as_object_mut().unwrap();
    spec.remove("initContainers");
    spec["volumes"]
        .as_array_mut()
        .unwrap()
        .retain(|v| !v["name"].as_str().unwrap().starts_with("l7proxy-"));
    pod
}

fn apply_patch(pod: &Value, response: &Value) -> Value {
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&raw).unwrap();
    let mut out = pod.clone();
    json_patch::patch(&mut out, &patch).unwrap();
    out
}

/// `kubernetes-validate` from PATH, or from the cache `integration/chart/test.sh` fills.
fn kubernetes_validate() -> Option<(PathBuf, Option<PathBuf>)> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let bin = dir.join("kubernetes-validate");
            if bin.is_file() {
                return Some((bin, None));
            }
        }
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(c) => PathBuf::from(c),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    }
    .join("l7proxy/chart-tools");
    std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-kv"))
        })
        .find(|p| p.join("bin/kubernetes-validate").is_file())
        .map(|lib| (lib.join("bin/kubernetes-validate"), Some(lib)))
}

fn validate_against_schema(pod: &Value) {
    let Some((bin, pythonpath)) = kubernetes_validate() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "kubernetes-validate is not installed and CI is set (run integration/chart/test.sh once)"
            );
        }
        eprintln!(
            "SKIPPED: schema check of the patched Pod: kubernetes-validate not found (run integration/chart/test.sh once to install it)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("patched-pod.yaml");
    std::fs::write(&file, serde_yaml::to_string(pod).unwrap()).unwrap();
    // Native sidecars need 1.29; the chart supports 1.29 through 1.33.
    for version in ["1.29", "1.33"] {
        let mut cmd = Command::new(&bin);
        cmd.args(["--strict", "-k", version]).arg(&file);
        if let Some(lib) = &pythonpath {
            cmd.env("PYTHONPATH", lib);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "patched Pod fails the Kubernetes {version} schema:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn injection_patch_applies_validates_and_is_idempotent() {
    let c = start();
    let pod = input_pod();
    let resp = review(&c, "/inject", pod_kind(), "CREATE", &pod).await;
    let patched = apply_patch(&pod, &resp);

    let inits = patched["spec"]["initContainers"].as_array().unwrap();
    let names: Vec<&str> = inits.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["l7proxy-init", "l7proxy"]);
    let (init, sidecar) = (&inits[0], &inits[1]);
    let init_args: Vec<&str> = init["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(init_args[..2], ["redirect", "install"]);
    assert!(
        init_args.contains(&"--exclude-inbound-ports=8081"),
        "probe port (named `health`) excluded: {init_args:?}"
    );
    assert!(init_args.contains(&"--mark=0x539"));
    assert_eq!(init["securityContext"]["runAsUser"], 0);
    assert_eq!(
        init["securityContext"]["capabilities"],
        json!({"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]})
    );
    assert!(init.get("restartPolicy").is_none());

    assert_eq!(sidecar["restartPolicy"], "Always", "native sidecar");
    assert_eq!(sidecar["args"][0], "run");
    assert_eq!(sidecar["args"][1], "--kubernetes");
    let sc = &sidecar["securityContext"];
    assert_eq!(sc["runAsUser"], 1337);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(
        sc["allowPrivilegeEscalation"], true,
        "file capabilities need it"
    );
    assert_eq!(
        sc["capabilities"],
        json!({"drop": ["ALL"], "add": ["NET_RAW"]})
    );
    assert_eq!(
        sidecar["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": 15020})
    );
    let env: Vec<(&str, &str)> = sidecar["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?,
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(
        env,
        [
            ("POD_NAME", "metadata.name"),
            ("POD_NAMESPACE", "metadata.namespace")
        ]
    );
    let mounts = sidecar["volumeMounts"].to_string();
    assert!(mounts.contains("/var/log/l7proxy"), "{mounts}");
    assert_eq!(
        patched["metadata"]["annotations"]["l7proxy.io/status"],
        "injected"
    );
    // The app container and its volumes are untouched.
    assert_eq!(patched["spec"]["containers"], pod["spec"]["containers"]);

    validate_against_schema(&patched);

    // Reinvocation or a replayed admission: no patch at all.
    let again = review(&c, "/inject", pod_kind(), "CREATE", &patched).await;
    assert_eq!(again["allowed"], true);
    assert!(
        again.get("patch").is_none() && again.get("patchType").is_none(),
        "{again}"
    );

    // `/mutate` is the same webhook.
    let resp = review(&c, "/mutate", pod_kind(), "CREATE", &pod).await;
    assert_eq!(apply_patch(&pod, &resp), patched);
}

#[tokio::test]
async fn opted_out_pod_gets_no_patch() {
    let c = start();
    let mut pod = input_pod();
    pod["metadata"]["annotations"] = json!({"l7proxy.io/inject": "disabled"});
    let resp = review(&c, "/inject", pod_kind(), "CREATE", &pod).await;
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("patch").is_none(), "{resp}");
}

fn antrea_kind(kind: &str) -> Value {
    json!({"group": "crd.antrea.io", "version": "v1beta1", "kind": kind})
}

fn spec_documents() -> Vec<(String, Value)> {
    let dir = workspace_dir().join("integration/manifests/spec");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if v["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("crd.antrea.io/"))
            {
                docs.push((file.display().to_string(), v));
            }
        }
    }
    docs
}

#[tokio::test]
async fn l7_rule_with_drop_is_denied_with_antreas_message() {
    let c = start();
    let (_, mut policy) = spec_documents()
        .into_iter()
        .find(|(f, _)| f.contains("1-ingress"))
        .unwrap();
    policy["spec"]["ingress"][0]["action"] = json!("Drop");
    let resp = review(
        &c,
        "/validate",
        antrea_kind("NetworkPolicy"),
        "CREATE",
        &policy,
    )
    .await;
    assert_eq!(resp["allowed"], false, "{resp}");
    let message = resp["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("layer 7 protocols only support Allow"),
        "{message}"
    );
    assert!(message.contains("spec.ingress[0].action"), "{message}");
    // The same on UPDATE.
    let resp = review(
        &c,
        "/validate",
        antrea_kind("NetworkPolicy"),
        "UPDATE",
        &policy,
    )
    .await;
    assert_eq!(resp["allowed"], false, "{resp}");
}

#[tokio::test]
async fn spec_examples_are_allowed() {
    let c = start();
    let docs = spec_documents();
    assert!(
        docs.len() >= 7,
        "expected the spec's examples, found {}",
        docs.len()
    );
    for (file, policy) in docs {
        let kind = policy["kind"].as_str().unwrap().to_owned();
        let resp = review(&c, "/validate", antrea_kind(&kind), "CREATE", &policy).await;
        assert_eq!(resp["allowed"], true, "{file}: {resp}");
    }
}

#[tokio::test]
async fn health_metrics_and_bad_requests() {
    let c = start();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            send(c.metrics, None, "GET", path, "").await.0,
            200,
            "{path}"
        );
        assert_eq!(
            send(c.webhook, Some(&c.ca), "GET", path, "").await.0,
            200,
            "{path} over HTTPS"
        );
    }
    let (status, text) = send(c.webhook, Some(&c.ca), "POST", "/validate", "{\"kind\":").await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        send(c.webhook, Some(&c.ca), "GET", "/inject", "").await.0,
        405
    );
    // Admission is served over TLS only.
    assert_eq!(send(c.metrics, None, "POST", "/inject", "{}").await.0, 404);

    let pod = input_pod();
    review(&c, "/inject", pod_kind(), "CREATE", &pod).await;
    let (status, metrics) = send(c.metrics, None, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            r#"l7proxy_controller_admission_reviews_total{webhook="inject",outcome="injected"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"l7proxy_controller_admission_reviews_total{webhook="validate",outcome="bad_request"} 1"#),
        "{metrics}"
    );
}

/// Whether a TLS handshake verified against `ca` succeeds.
async fn handshake_ok(addr: SocketAddr, ca: &CertificateDer<'static>) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.is_ok()
}

#[tokio::test]
async fn rotated_certificate_is_served_without_restart_and_sigterm_stops() {
    let mut c = start_with(&["--cert-reload-interval=100ms"]);
    assert!(handshake_ok(c.webhook, &c.ca).await);
    let new_ca = write_certs(c.dir.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !handshake_ok(c.webhook, &new_ca).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !handshake_ok(c.webhook, &c.ca).await,
        "the old certificate is no longer served"
    );
    c.ca = new_ca;
    let pod = input_pod();
    let resp = review(&c, "/inject", pod_kind(), "CREATE", &pod).await;
    assert_eq!(resp["allowed"], true);

    // A broken update keeps the current certificate.
    std::fs::write(c.dir.path().join("tls.key"), "garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(handshake_ok(c.webhook, &c.ca).await);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = c.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGTERM did not stop the controller"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn refuses_to_start_without_a_usable_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(l7proxy_bin())
        .arg("controller")
        .arg("--webhook-listen=127.0.0.1:0")
        .arg("--metrics-listen=127.0.0.1:0")
        .arg(format!(
            "--tls-cert-file={}",
            dir.path().join("missing.crt").display()
        ))
        .arg(format!(
            "--tls-key-file={}",
            dir.path().join("missing.key").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.crt"), "{stderr}");
}
