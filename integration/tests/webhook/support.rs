//! Shared helpers of the webhook tests: the controller process, an HTTPS client, review
//! requests and the schema validator.

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

pub use l7proxy_integration::chart::CHART_FLAGS;

/// A running controller, killed (by PID) when dropped.
pub struct Controller {
    pub child: Child,
    pub webhook: SocketAddr,
    pub metrics: SocketAddr,
    pub ca: CertificateDer<'static>,
    pub dir: tempfile::TempDir,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a serving certificate for `localhost` signed by it, like the chart's. Each file
/// is replaced atomically (rename), as the kubelet updates a Secret volume.
pub fn write_certs(dir: &Path) -> CertificateDer<'static> {
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

pub fn start() -> Controller {
    start_with(&[])
}

pub fn start_with(extra: &[&str]) -> Controller {
    let flags: Vec<String> = CHART_FLAGS
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    spawn(&flags)
}

/// Flags whose values the test decides: loopback addresses with free ports, and its own
/// certificate files.
pub const TEST_OWNED_FLAGS: &[&str] = &[
    "--webhook-addr",
    "--webhook-listen",
    "--metrics-addr",
    "--metrics-listen",
    "--tls-cert-file",
    "--tls-key-file",
];

/// Starts `l7proxy controller` with `flags` (minus [`TEST_OWNED_FLAGS`]) and waits until it
/// has bound both listeners.
pub fn spawn(flags: &[String]) -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_certs(dir.path());
    let flags = flags.iter().filter(|f| {
        let name = f.split('=').next().unwrap_or_default();
        !TEST_OWNED_FLAGS.contains(&name)
    });
    let mut child = Command::new(l7proxy_bin())
        .arg("controller")
        .arg("--webhook-addr=127.0.0.1:0")
        .arg("--metrics-addr=127.0.0.1:0")
        .arg(format!(
            "--tls-cert-file={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-key-file={}",
            dir.path().join("tls.key").display()
        ))
        .args(flags)
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
pub async fn send(
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
            let config = client_config(roots);
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let name = ServerName::try_from("localhost").unwrap();
            exchange!(connector.connect(name, tcp).await.unwrap())
        }
    }
}

/// An explicit provider: the process-wide default is ambiguous when the workspace enables
/// more than one rustls crypto backend.
pub fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// POSTs an AdmissionReview for `object` and returns its `response`.
pub async fn review(
    c: &Controller,
    path: &str,
    kind: Value,
    operation: &str,
    object: &Value,
) -> Value {
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

pub fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn pod_kind() -> Value {
    json!({"group": "", "version": "v1", "kind": "Pod"})
}

/// The chart's documented injected Pod without what the injection adds: the webhook's input.
pub fn input_pod() -> Value {
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

pub fn apply_patch(pod: &Value, response: &Value) -> Value {
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
pub fn kubernetes_validate() -> Option<(PathBuf, Option<PathBuf>)> {
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

pub fn validate_against_schema(pod: &Value) {
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

pub fn antrea_kind(kind: &str) -> Value {
    json!({"group": "crd.antrea.io", "version": "v1beta1", "kind": kind})
}

pub fn spec_documents() -> Vec<(String, Value)> {
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

/// Whether a TLS handshake verified against `ca` succeeds.
pub async fn handshake_ok(addr: SocketAddr, ca: &CertificateDer<'static>) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = client_config(roots);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.is_ok()
}
