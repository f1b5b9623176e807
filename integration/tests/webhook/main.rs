//! End-to-end tests of `l7proxy controller`: the real binary serves the admission webhooks
//! over HTTPS on loopback with a CA-signed certificate (as the chart generates one), and real
//! AdmissionReview JSON goes over a verified TLS connection. No root needed.
//!
//! The patched Pod is checked against the Kubernetes schema with `kubernetes-validate` when it
//! is installed (on PATH, or where `integration/chart/test.sh` caches it); without it that one
//! check is skipped with a message, unless `CI` is set.
//!
//! Build the binary first: `cargo build`.

mod chart;
mod support;

use std::process::Command;
use std::time::Duration;

use l7proxy_integration::env::l7proxy_bin;
use serde_json::json;

use support::*;

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

#[tokio::test]
async fn rotated_certificate_is_served_without_restart_and_sigterm_drains() {
    let mut c = start_with(&["--cert-reload-interval=100ms", "--drain-timeout=2s"]);
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
    // Draining: not ready, but reviews are still answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while send(c.metrics, None, "GET", "/readyz", "").await.0 != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz still 200 after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resp = review(&c, "/inject", pod_kind(), "CREATE", &pod).await;
    assert_eq!(resp["allowed"], true);
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
