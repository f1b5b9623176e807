//! Sidecar injection: decide whether a Pod gets the proxy and build the RFC 6902 patch.
//!
//! The MutatingWebhookConfiguration selects namespaces labelled for injection and Pods not
//! labelled out; the checks here repeat the Pod-level ones (the opt-out key may be an
//! annotation, which an objectSelector cannot see) and make the injection idempotent: with
//! `reinvocationPolicy: IfNeeded` the API server may call again with the already patched Pod,
//! which must come back unchanged.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::{Value, json};

use super::ControllerArgs;
use super::probes::probe_ports;
use super::template::{self, INIT_NAME, SIDECAR_NAME, STATUS_ANNOTATION, STATUS_INJECTED, VOLUMES};

mod bypass;

/// The value of the opt-out label/annotation that leaves a Pod alone.
pub const OPT_OUT_VALUE: &str = "disabled";

/// What to do with a Pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Add the proxy with this patch; `warnings` go back to the client (`kubectl` prints them).
    Inject { patch: Patch, warnings: Vec<String> },
    /// Leave the Pod as it is, for this reason (logged).
    Skip(&'static str),
}

/// Pods the webhook refuses rather than silently leaving unprotected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InjectError {
    #[error("the object is not a Pod: {0}")]
    NotAPod(&'static str),
    #[error(
        "cannot inject the l7proxy sidecar: the Pod already has a volume named {0:?}; rename it, or opt the Pod out with the label or annotation {1}: disabled"
    )]
    VolumeConflict(String, String),
    /// A container could bypass the proxy (see [`bypass`]).
    #[error(
        "cannot inject the l7proxy sidecar: container {container:?} {why}, so its traffic would not be enforced; change its securityContext, or opt the Pod out with the label or annotation {opt_out}: disabled"
    )]
    Bypass {
        container: String,
        why: String,
        opt_out: String,
    },
}

/// Decides on one Pod (the `object` of a CREATE review).
pub fn inject(args: &ControllerArgs, pod: &Value) -> Result<Outcome, InjectError> {
    if !pod.is_object() {
        return Err(InjectError::NotAPod("not a JSON object"));
    }
    let meta = pod.get("metadata");
    let meta_value = |map: &str, key: &str| {
        meta.and_then(|m| m.get(map))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
    };
    if ["labels", "annotations"]
        .iter()
        .any(|map| meta_value(map, &args.opt_out_key) == Some(OPT_OUT_VALUE))
    {
        return Ok(Outcome::Skip("opted out"));
    }
    if meta_value("annotations", STATUS_ANNOTATION) == Some(STATUS_INJECTED) {
        return Ok(Outcome::Skip("already injected"));
    }
    let spec = pod
        .get("spec")
        .filter(|s| s.is_object())
        .ok_or(InjectError::NotAPod("no spec"))?;
    // The capture rules would go into the node's own network namespace.
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        return Ok(Outcome::Skip("hostNetwork Pod"));
    }
    let inits = list(spec, "initContainers")?;
    let containers = list(spec, "containers")?;
    let named = |c: &Value| {
        let name = c.get("name").and_then(Value::as_str);
        name == Some(INIT_NAME) || name == Some(SIDECAR_NAME)
    };
    if inits.iter().chain(containers).any(named) {
        return Ok(Outcome::Skip("already has the l7proxy containers"));
    }
    let volumes = list(spec, "volumes")?;
    if let Some(taken) = volumes
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .find(|n| VOLUMES.contains(n))
    {
        return Err(InjectError::VolumeConflict(
            taken.to_owned(),
            args.opt_out_key.clone(),
        ));
    }

    let bypass_warnings = bypass::check(args, spec)?;
    let (ports, mut warnings) = probe_ports(spec);
    warnings.extend(bypass_warnings);
    let mut ops = Vec::new();
    match meta {
        Some(Value::Object(m)) if m.get("annotations").is_some_and(Value::is_object) => {
            ops.push(add(
                &["metadata", "annotations", STATUS_ANNOTATION],
                json!(STATUS_INJECTED),
            ))
        }
        Some(Value::Object(_)) => ops.push(add(
            &["metadata", "annotations"],
            json!({ STATUS_ANNOTATION: STATUS_INJECTED }),
        )),
        _ => ops.push(add(
            &["metadata"],
            json!({"annotations": { STATUS_ANNOTATION: STATUS_INJECTED }}),
        )),
    }
    // First the capture rules, then the proxy: the Pod's own init containers (which may make
    // network calls) start only once the proxy is ready.
    let init = template::init_container(args, &ports);
    let sidecar = template::sidecar(args);
    if spec.get("initContainers").is_some_and(Value::is_array) {
        ops.push(add(&["spec", "initContainers", "0"], init));
        ops.push(add(&["spec", "initContainers", "1"], sidecar));
    } else {
        ops.push(add(&["spec", "initContainers"], json!([init, sidecar])));
    }
    if spec.get("volumes").is_some_and(Value::is_array) {
        for volume in template::volumes() {
            ops.push(add(&["spec", "volumes", "-"], volume));
        }
    } else {
        ops.push(add(&["spec", "volumes"], json!(template::volumes())));
    }
    Ok(Outcome::Inject {
        patch: Patch(ops),
        warnings,
    })
}

/// A list field of the spec; absent and `null` are empty.
fn list<'a>(spec: &'a Value, field: &'static str) -> Result<&'a [Value], InjectError> {
    match spec.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(InjectError::NotAPod(match field {
            "initContainers" => "spec.initContainers is not a list",
            "containers" => "spec.containers is not a list",
            _ => "spec.volumes is not a list",
        })),
    }
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}
