//! The chart's own flags: render `charts/l7proxy` with helm (default values and the custom
//! values set of `integration/chart/values/`), start the controller with exactly the
//! arguments its Deployment passes, and check that every value reaches the injected
//! containers. Skipped with a message when helm is not installed, unless `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use l7proxy_integration::env::workspace_dir;
use serde_json::{Value, json};

use super::support::*;

/// helm from PATH, or the one `integration/chart/test.sh` caches.
fn helm() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH")
        && let Some(bin) = std::env::split_paths(&path)
            .map(|d| d.join("helm"))
            .find(|b| b.is_file())
    {
        return Some(bin);
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(c) => PathBuf::from(c),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    }
    .join("l7proxy/chart-tools");
    std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("helm"))
        .find(|b| b.is_file())
}

/// `args` of the controller container in the render, and the render.
fn rendered_controller_args(helm: &PathBuf, values: Option<&str>) -> (Vec<String>, String) {
    let root = workspace_dir();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(helm);
    cmd.args(["template", "l7"])
        .arg(root.join("charts/l7proxy"))
        .args(["-n", "l7proxy-system", "--kube-version", "1.33.0"]);
    if let Some(values) = values {
        cmd.arg("-f").arg(root.join(values));
    }
    // helm must not read or write the user's configuration.
    for var in ["HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"] {
        cmd.env(var, home.path().join(var));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "helm template failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).unwrap();
        let name = v["metadata"]["name"].as_str().unwrap_or_default();
        if v["kind"] == "Deployment" && name.ends_with("-controller") {
            let args = &v["spec"]["template"]["spec"]["containers"][0]["args"];
            return (serde_json::from_value(args.clone()).unwrap(), text.clone());
        }
    }
    panic!("no controller Deployment in the render");
}

/// `--name=value` arguments as a map (bare `--name` maps to "").
fn flags<'a>(args: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    args.into_iter()
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn args_of(container: &Value) -> BTreeMap<String, String> {
    flags(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap()),
    )
}

/// The chart's own check of an injected Pod against its render
/// (`integration/chart/check_render.py fixture`), run on the Pod the webhook produced.
fn chart_fixture_check(render: &str, patched: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let (render_file, pod_file) = (dir.path().join("render.yaml"), dir.path().join("pod.yaml"));
    std::fs::write(&render_file, render).unwrap();
    std::fs::write(&pod_file, serde_yaml::to_string(patched).unwrap()).unwrap();
    let script = workspace_dir().join("integration/chart/check_render.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg("fixture")
        .arg(&render_file)
        .arg(&pod_file);
    // PyYAML comes with kubernetes-validate when the system python lacks it.
    if let Some((_, Some(lib))) = kubernetes_validate() {
        cmd.env("PYTHONPATH", lib);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "check_render.py fixture refuses the injected Pod:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn csv(list: Option<&String>) -> BTreeSet<String> {
    list.map(|l| {
        l.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

#[tokio::test]
async fn chart_rendered_flags_reach_the_injected_containers() {
    let Some(helm) = helm() else {
        if std::env::var_os("CI").is_some() {
            panic!("helm is not installed and CI is set (run integration/chart/test.sh once)");
        }
        eprintln!(
            "SKIPPED: chart flag test: helm not found (run integration/chart/test.sh once to install it)"
        );
        return;
    };
    for values in [None, Some("integration/chart/values/custom.yaml")] {
        let (args, render) = rendered_controller_args(&helm, values);
        assert_eq!(args[0], "controller");
        let ctl = flags(args[1..].iter().map(String::as_str));
        let c = spawn(&args[1..]);
        let pod = input_pod();
        let resp = review(&c, "/inject", pod_kind(), "CREATE", &pod).await;
        let patched = apply_patch(&pod, &resp);
        validate_against_schema(&patched);
        chart_fixture_check(&render, &patched);

        let inits = &patched["spec"]["initContainers"];
        let (init, sidecar) = (&inits[0], &inits[1]);
        let (i, p) = (args_of(init), args_of(sidecar));
        let case = values.unwrap_or("default values");
        for name in ["inbound-port", "outbound-port", "mark"] {
            assert_eq!(i.get(name), ctl.get(name), "{case}: init --{name}");
            assert_eq!(p.get(name), ctl.get(name), "{case}: sidecar --{name}");
        }
        for name in ["metrics-port", "proxy-uid", "ipv6"] {
            assert_eq!(i.get(name), ctl.get(name), "{case}: init --{name}");
        }
        assert_eq!(p.get("log-dir"), ctl.get("log-dir"), "{case}");
        let metrics_addr = &p["metrics-addr"];
        assert!(
            metrics_addr.ends_with(&format!(":{}", ctl["metrics-port"])),
            "{case}: sidecar --metrics-addr={metrics_addr}"
        );
        // The Pod's probe port (8081) joins the chart's exclusions.
        let mut expected = csv(ctl.get("exclude-inbound-ports"));
        expected.insert("8081".to_owned());
        assert_eq!(csv(i.get("exclude-inbound-ports")), expected, "{case}");
        for name in ["exclude-outbound-ports", "exclude-outbound-cidrs"] {
            assert_eq!(i.get(name), ctl.get(name), "{case}: init --{name}");
        }
        for container in [init, sidecar] {
            assert_eq!(container["image"], ctl["proxy-image"].as_str(), "{case}");
            let policy = ctl["proxy-image-pull-policy"].as_str();
            assert_eq!(container["imagePullPolicy"], policy, "{case}");
        }
        let json_flag = |name: &str| -> Value { serde_json::from_str(&ctl[name]).unwrap() };
        assert_eq!(sidecar["resources"], json_flag("proxy-resources"), "{case}");
        assert_eq!(init["resources"], json_flag("init-resources"), "{case}");
        let uid: u64 = ctl["proxy-uid"].parse().unwrap();
        assert_eq!(sidecar["securityContext"]["runAsUser"], uid, "{case}");
        let rust_log = sidecar["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "RUST_LOG")
            .map(|e| e["value"].clone());
        assert_eq!(rust_log, Some(json!(ctl["proxy-log-level"])), "{case}");

        // The chart's opt-out key leaves a Pod alone.
        let mut opted_out = pod.clone();
        opted_out["metadata"]["annotations"] = json!({ ctl["opt-out-key"].as_str(): "disabled" });
        let resp = review(&c, "/inject", pod_kind(), "CREATE", &opted_out).await;
        assert!(resp.get("patch").is_none(), "{case}: {resp}");
    }
}
