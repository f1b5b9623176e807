//! Injection against the chart's documented injected Pod, flag parsing as the chart passes
//! the flags, the review round trip, and certificate loading.

use clap::Parser as _;
use serde_json::{Value, json};

use super::inject::{InjectError, Outcome, inject};
use super::metrics::{Metrics, Webhook};
use super::routes::{State, answer};
use super::template::{INIT_NAME, SIDECAR_NAME, VOLUMES};
use super::*;
use crate::cli::{Cli, Command};

/// The flags `charts/l7proxy/templates/deployment.yaml` passes with default values, as
/// the webhook end-to-end tests use them too (`integration/src/chart.rs`).
const CHART_FLAGS: &str = include_str!("../../integration/chart/fixtures/controller-flags.txt");

/// The arguments the chart renders with default values: its listen addresses and
/// certificate paths, then [`CHART_FLAGS`].
pub(crate) fn chart_default_args() -> Vec<&'static str> {
    let listen = [
        "controller",
        "--webhook-listen=0.0.0.0:9443",
        "--tls-cert-file=/etc/l7proxy/webhook-tls/tls.crt",
        "--tls-key-file=/etc/l7proxy/webhook-tls/tls.key",
        "--metrics-listen=0.0.0.0:15020",
    ];
    let flags = CHART_FLAGS.lines().filter(|l| !l.trim().is_empty());
    listen.into_iter().chain(flags).collect()
}

const FIXTURE: &str = include_str!("../../integration/chart/fixtures/injected-pod.yaml");

fn parse(args: &[&str]) -> Result<ControllerArgs, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("l7proxy").chain(args.iter().copied()))?;
    match cli.command {
        Command::Controller(a) => Ok(a),
        other => panic!("parsed as {other:?}"),
    }
}

pub(crate) fn chart_args() -> ControllerArgs {
    parse(&chart_default_args()).unwrap()
}

fn patched(args: &ControllerArgs, pod: &Value) -> Value {
    let Outcome::Inject { patch, .. } = inject(args, pod).unwrap() else {
        panic!("expected an injection");
    };
    let mut out = pod.clone();
    json_patch::patch(&mut out, &patch).unwrap();
    out
}

/// The fixture without what the injection (and the API server after it) adds: the
/// webhook's input.
fn fixture_input() -> (Value, Value) {
    let injected: Value = serde_yaml::from_str(FIXTURE).unwrap();
    let mut pod = injected.clone();
    pod["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let spec = pod["spec"].as_object_mut().unwrap();
    spec.remove("initContainers");
    let volumes = spec["volumes"].as_array_mut().unwrap();
    volumes.retain(|v| !VOLUMES.contains(&v["name"].as_str().unwrap()));
    (pod, injected)
}

/// What the API server does after the webhook (`reinvocationPolicy: IfNeeded` re-runs the
/// in-tree ServiceAccount admission): every container without a mount at the token path
/// gets the Pod's `kube-api-access-*` volume there.
fn service_account_admission(mut pod: Value) -> Value {
    const TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let volume = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .find(|n| n.starts_with("kube-api-access-"))
        .map(str::to_owned);
    let Some(volume) = volume else {
        return pod;
    };
    for list in ["initContainers", "containers"] {
        let containers = pod["spec"][list].as_array_mut().into_iter().flatten();
        for c in containers {
            let mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
            if mounts.iter().all(|m| m["mountPath"] != TOKEN_PATH) {
                let mut mounts = mounts;
                mounts.push(json!({"name": volume, "readOnly": true, "mountPath": TOKEN_PATH}));
                c["volumeMounts"] = Value::Array(mounts);
            }
        }
    }
    pod
}

/// The fixture is the Pod as the API server stores it: the webhook's patch, then the
/// ServiceAccount admission re-run.
#[test]
fn chart_fixture_is_reproduced() {
    let (input, expected) = fixture_input();
    let got = service_account_admission(patched(&chart_args(), &input));
    assert_eq!(
        got,
        expected,
        "got:\n{}",
        serde_yaml::to_string(&got).unwrap()
    );
}

#[test]
fn second_admission_changes_nothing() {
    let (input, _) = fixture_input();
    let args = chart_args();
    let once = patched(&args, &input);
    assert_eq!(inject(&args, &once), Ok(Outcome::Skip("already injected")));
    // Even with the marker annotation removed, the containers are recognised.
    let mut stripped = once.clone();
    stripped["metadata"]["annotations"] = json!({});
    assert_eq!(
        inject(&args, &stripped),
        Ok(Outcome::Skip("already has the l7proxy containers"))
    );
}

#[test]
fn opt_out_by_annotation_or_label() {
    let (input, _) = fixture_input();
    let args = chart_args();
    for map in ["annotations", "labels"] {
        let mut pod = input.clone();
        pod["metadata"][map] = json!({"l7proxy.io/inject": "disabled"});
        assert_eq!(inject(&args, &pod), Ok(Outcome::Skip("opted out")));
    }
    let mut pod = input.clone();
    pod["metadata"]["annotations"] = json!({"l7proxy.io/inject": "enabled"});
    assert!(matches!(inject(&args, &pod), Ok(Outcome::Inject { .. })));
    let mut host = input;
    host["spec"]["hostNetwork"] = json!(true);
    assert_eq!(inject(&args, &host), Ok(Outcome::Skip("hostNetwork Pod")));
}

#[test]
fn own_init_containers_run_after_ours_and_lists_are_created() {
    let args = chart_args();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "w-", "annotations": {"a": "b"}},
        "spec": {
            "initContainers": [{"name": "migrate", "image": "m"}],
            "containers": [{"name": "app", "image": "a"}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }
    });
    let out = patched(&args, &pod);
    let names = |list: &str| -> Vec<String> {
        out["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("initContainers"),
        [INIT_NAME, SIDECAR_NAME, "migrate"]
    );
    assert_eq!(
        names("volumes"),
        ["data", "l7proxy-tmp", "l7proxy-logs", "l7proxy-token"]
    );
    assert_eq!(out["metadata"]["annotations"]["a"], "b");
    assert_eq!(
        out["metadata"]["annotations"]["l7proxy.io/status"],
        "injected"
    );
    // No probes: no inbound exclusions beyond the chart's (none).
    let init_args = out["spec"]["initContainers"][0]["args"].to_string();
    assert!(!init_args.contains("exclude"), "{init_args}");

    let bare = json!({"metadata": {}, "spec": {"containers": [{"name": "app", "image": "a"}]}});
    let out = patched(&args, &bare);
    assert_eq!(out["spec"]["initContainers"].as_array().unwrap().len(), 2);
    assert_eq!(out["spec"]["volumes"].as_array().unwrap().len(), 3);
    assert_eq!(
        out["metadata"]["annotations"]["l7proxy.io/status"],
        "injected"
    );
}

#[test]
fn refuses_what_it_cannot_inject() {
    let args = chart_args();
    let pod = json!({"spec": {"containers": [], "volumes": [{"name": "l7proxy-logs"}]}});
    assert!(matches!(
        inject(&args, &pod),
        Err(InjectError::VolumeConflict(v, _)) if v == "l7proxy-logs"
    ));
    for bad in [
        json!("pod"),
        json!({"metadata": {}}),
        json!({"spec": {"containers": 3}}),
    ] {
        assert!(
            matches!(inject(&args, &bad), Err(InjectError::NotAPod(_))),
            "{bad}"
        );
    }
}

/// The injected command lines are accepted by this binary's own parser, so a renamed flag
/// in `redirect` or `run` breaks this test rather than every injected Pod.
#[test]
fn injected_command_lines_parse() {
    let custom = parse(&[
        "controller",
        "--tls-cert-file=c",
        "--tls-key-file=k",
        "--mark=0x2a",
        "--ipv6=on",
        "--exclude-inbound-ports=8081,9100-9110,",
        "--exclude-outbound-ports=5432",
        "--exclude-outbound-cidrs=10.96.0.0/12,fd00::/8",
    ])
    .unwrap();
    let (input, _) = fixture_input();
    for args in [chart_args(), custom] {
        let out = patched(&args, &input);
        let argv = |i: usize| -> Vec<String> {
            out["spec"]["initContainers"][i]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        };
        let init = Cli::try_parse_from(std::iter::once("l7proxy".to_owned()).chain(argv(0)))
            .unwrap_or_else(|e| panic!("{:?}: {e}", argv(0)));
        let Command::Redirect(redirect) = init.command else {
            panic!("not redirect")
        };
        let cfg = redirect.config().unwrap();
        assert_eq!(cfg.proxy_mark, args.capture.mark.get());
        assert!(cfg.exclude_inbound_ports.contains(&PortRange::single(8081)));
        // As the kubelet expands them. `--kubernetes` is the cluster source; where this
        // parser does not have it yet, check the rest with a manifest source.
        let run: Vec<String> = argv(1)
            .into_iter()
            .map(|a| {
                a.replace("$(POD_NAMESPACE)", "ns")
                    .replace("$(POD_NAME)", "name")
            })
            .collect();
        let stripped = run.iter().filter(|a| *a != "--kubernetes").cloned();
        let run = Cli::try_parse_from(["l7proxy".to_owned()].into_iter().chain(run.clone()))
            .or_else(|_| {
                Cli::try_parse_from(
                    ["l7proxy".to_owned()]
                        .into_iter()
                        .chain(stripped)
                        .chain(["--manifests=/dev/null".into()]),
                )
            })
            .unwrap_or_else(|e| panic!("{:?}: {e}", argv(1)));
        let Command::Run(run) = run.command else {
            panic!("not run")
        };
        assert_eq!(run.capture.mark, args.capture.mark);
        assert_eq!(run.metrics_addr.port(), args.metrics_port);
        assert!(run.metrics_addr.ip().is_unspecified());
    }
}

#[test]
fn listen_flags_under_both_names() {
    let old = chart_args();
    assert_eq!(old.webhook_addr, "0.0.0.0:9443".parse().unwrap());
    assert_eq!(old.metrics_addr, "0.0.0.0:15020".parse().unwrap());
    let new = parse(&[
        "controller",
        "--webhook-addr=127.0.0.1:8443",
        "--metrics-addr=127.0.0.1:9090",
        "--tls-cert-file=c",
        "--tls-key-file=k",
    ])
    .unwrap();
    assert_eq!(new.webhook_addr, "127.0.0.1:8443".parse().unwrap());
    assert_eq!(new.metrics_addr, "127.0.0.1:9090".parse().unwrap());
}

#[test]
fn chart_flag_values_are_checked() {
    let with = |extra: &str| parse(&["controller", "--tls-cert-file=c", "--tls-key-file=k", extra]);
    assert!(with("--mark=0").is_err());
    assert!(with("--exclude-inbound-ports=80,x").is_err());
    assert!(with("--exclude-outbound-cidrs=10.0.0.0/33").is_err());
    assert!(with("--proxy-resources=[1]").is_err());
    assert!(with("--proxy-resources={").is_err());
    assert!(with("--log-dir=relative").is_err());
    assert!(with("--proxy-image-pull-policy=Sometimes").is_err());
    assert!(with("--proxy-image-pull-policy=Always").is_ok());
    assert!(
        parse(&["controller"]).is_err(),
        "the certificate is required"
    );
}

pub(crate) fn state() -> State {
    State {
        args: chart_args(),
        metrics: Metrics::new(),
        lookups: Default::default(),
        ready: Default::default(),
    }
}

#[tokio::test]
async fn review_round_trip() {
    use base64::Engine as _;
    let (input, _) = fixture_input();
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": "l7proxy-test", "object": input
        }
    });
    let st = state();
    let resp = answer(&st, Webhook::Inject, body.to_string().as_bytes())
        .await
        .unwrap();
    let review = resp.into_review();
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(
        review["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(review["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut pod = input.clone();
    json_patch::patch(&mut pod, &patch).unwrap();
    assert_eq!(pod, patched(&st.args, &input));
    let metrics = st.metrics.encode();
    assert!(
        metrics.contains(
            r#"l7proxy_controller_admission_reviews_total{webhook="inject",outcome="injected"} 1"#
        ),
        "{metrics}"
    );

    // An UPDATE, or another kind, passes unchanged.
    let mut update = body.clone();
    update["request"]["operation"] = json!("UPDATE");
    let resp = answer(&st, Webhook::Inject, update.to_string().as_bytes())
        .await
        .unwrap();
    assert!(resp.allowed && resp.patch.is_none());

    for bad in [
        "not json".to_owned(),
        json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}}).to_string(),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).to_string(),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": ""}}).to_string(),
    ] {
        assert!(answer(&st, Webhook::Validate, bad.as_bytes()).await.is_err(), "{bad}");
    }
}

mod tls;

#[tokio::test]
async fn unresolved_probe_ports_are_warnings_in_the_response() {
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": "ns",
            "object": {"metadata": {"name": "p"}, "spec": {"containers": [
                {"name": "app", "image": "a", "readinessProbe": {"httpGet": {"port": "nope"}},
                 "securityContext": {"runAsNonRoot": true}}
            ]}}
        }
    });
    let resp = answer(&state(), Webhook::Inject, body.to_string().as_bytes())
        .await
        .unwrap();
    assert!(resp.allowed && resp.patch.is_some());
    assert_eq!(resp.warnings.len(), 1, "{:?}", resp.warnings);
    assert!(resp.warnings[0].contains("nope"));
}

mod tiers;
