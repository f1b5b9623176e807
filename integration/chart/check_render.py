#!/usr/bin/env python3
"""Semantic checks of a rendered l7proxy chart that a schema cannot express.

  check_render.py render FILE [--expect-arg ARG]... [--expect-kind KIND]... [--absent-kind KIND]...
      The webhook certificate chain (caBundle = Secret ca.crt, which signed tls.crt for the
      Service's DNS name, verified with openssl), webhook clientConfig -> Service -> controller
      Pod port wiring, the controller's hardening, read-only RBAC, and expected controller flags.
  check_render.py fixture RENDER FIXTURE
      The injected-Pod fixture agrees with the flags the chart passes to `l7proxy controller`.
  check_render.py readme CHART_DIR
      The chart README's values table documents every key of values.yaml.
  check_render.py init-args FILE
      Prints, one per line, `redirect render` plus the init container's options: taken from the
      fixture Pod's init container, or built from a render's controller flags as the webhook does.
  check_render.py controller-flags FILE
      Prints the names (--name) of the flags the render passes to `l7proxy controller`.
  check_render.py admission RENDER FIXTURE
      Which Pods the API server sends to the injection webhook, decided as the API server does:
      namespaceSelector, objectSelector and the CEL matchConditions (evaluated with cel-python).
  check_render.py image REPO_DIR
      The Dockerfile (parsed with BuildKit's parser) builds the binary the chart runs: a locked
      release build in rust:1-bookworm, debian:bookworm-slim with iptables and iproute2, the binary
      at /usr/local/bin/l7proxy with cap_net_raw+ep as the exec-form ENTRYPOINT (the chart passes
      only args), and a .dockerignore that keeps every workspace member in the build context.

Exit status 0 when every check passed; each failure is printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile

import yaml

READ_VERBS = {"get", "list", "watch"}
FAILURES: list[str] = []


def check(condition: bool, message: str) -> None:
    if not condition:
        FAILURES.append(message)


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


def find(objs: list[dict], kind: str, suffix: str = "") -> list[dict]:
    return [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]


def one(objs: list[dict], kind: str, suffix: str = "") -> dict:
    found = find(objs, kind, suffix)
    if len(found) != 1:
        raise SystemExit(f"expected exactly one {kind} named *{suffix}, found {len(found)}")
    return found[0]


def flags(args: list[str]) -> dict[str, str]:
    """`--name=value` arguments as a mapping; bare `--name` maps to ''."""
    out = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            out[name] = value
    return out


def controller_container(objs: list[dict]) -> dict:
    deploy = one(objs, "Deployment", "-controller")
    return deploy["spec"]["template"]["spec"]["containers"][0]


def openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def check_certificates(objs: list[dict]) -> None:
    secret = one(objs, "Secret", "-webhook-tls")
    service = one(objs, "Service", "-webhook")
    svc_dns = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    ca_b64 = secret["data"]["ca.crt"]
    configs = find(objs, "MutatingWebhookConfiguration") + find(objs, "ValidatingWebhookConfiguration")
    check(bool(configs), "no webhook configuration rendered")
    for config in configs:
        for hook in config["webhooks"]:
            where = f"{config['kind']} {hook['name']}"
            check(hook["clientConfig"]["caBundle"] == ca_b64, f"{where}: caBundle is not the Secret's ca.crt")
            ref = hook["clientConfig"]["service"]
            check(
                ref["name"] == service["metadata"]["name"]
                and ref["namespace"] == service["metadata"]["namespace"],
                f"{where}: clientConfig.service does not name the rendered Service",
            )
            ports = {p["port"]: p for p in service["spec"]["ports"]}
            check(ref.get("port", 443) in ports, f"{where}: Service has no port {ref.get('port', 443)}")
            check(hook["sideEffects"] == "None", f"{where}: sideEffects must be None")
            if config["kind"] == "MutatingWebhookConfiguration":
                conditions = " ".join(c["expression"] for c in hook.get("matchConditions", []))
                check("object.spec.hostNetwork" in conditions, f"{where}: hostNetwork Pods must never be injected")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for key in ("ca.crt", "tls.crt", "tls.key"):
            paths[key] = os.path.join(tmp, key)
            with open(paths[key], "wb") as handle:
                handle.write(base64.b64decode(secret["data"][key]))
        verify = openssl("verify", "-CAfile", paths["ca.crt"], paths["tls.crt"])
        check(verify.returncode == 0, f"tls.crt is not signed by ca.crt: {verify.stdout}{verify.stderr}")
        text = openssl("x509", "-in", paths["tls.crt"], "-noout", "-ext", "subjectAltName").stdout
        check(f"DNS:{svc_dns}" in text, f"tls.crt has no subjectAltName DNS:{svc_dns} ({text.strip()})")
        mod_crt = openssl("x509", "-in", paths["tls.crt"], "-noout", "-pubkey").stdout
        mod_key = openssl("pkey", "-in", paths["tls.key"], "-pubout").stdout
        check(bool(mod_crt) and mod_crt == mod_key, "tls.key does not match tls.crt")

    # Service -> controller Pod wiring.
    deploy = one(objs, "Deployment", "-controller")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    check(all(pod_labels.get(k) == v for k, v in selector.items()), "webhook Service selects no controller Pod")
    container = controller_container(objs)
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in service["spec"]["ports"]:
        check(port["targetPort"] in named, f"Service targetPort {port['targetPort']} is not a controller port")
    listen = flags(container["args"]).get("webhook-addr", "")
    check(listen.endswith(f":{named.get('webhook')}"), f"--webhook-addr {listen} is not the webhook port")


def check_controller_hardening(objs: list[dict]) -> None:
    deploy = one(objs, "Deployment", "-controller")
    pod = deploy["spec"]["template"]["spec"]
    container = controller_container(objs)
    sc = container["securityContext"]
    check(pod["securityContext"].get("runAsNonRoot") is True, "controller Pod must set runAsNonRoot")
    check(pod["securityContext"].get("runAsUser", 0) != 0, "controller must not run as UID 0")
    check(sc.get("readOnlyRootFilesystem") is True, "controller needs readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, "controller needs allowPrivilegeEscalation: false")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], "controller must drop ALL capabilities")
    check(
        set(sc.get("capabilities", {}).get("add", [])) <= {"NET_RAW"},
        "controller may only keep NET_RAW in its bounding set (to exec the binary's file capability)",
    )
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    opt_out = one(objs, "MutatingWebhookConfiguration")["webhooks"][0]["objectSelector"]["matchExpressions"][0]
    check(labels.get(opt_out["key"]) == "disabled", "controller Pods must opt out of injection")


def check_rbac(objs: list[dict]) -> None:
    for role in find(objs, "ClusterRole") + find(objs, "Role"):
        for rule in role.get("rules", []):
            verbs = set(rule.get("verbs", []))
            where = f"{role['kind']} {role['metadata']['name']}"
            # The one write: Events about policies the proxy cannot enforce as written.
            if rule.get("apiGroups") == ["events.k8s.io"] and rule.get("resources") == ["events"]:
                check(verbs <= {"create", "patch"}, f"{where}: Events: only create and patch")
                continue
            check(verbs <= READ_VERBS, f"{where}: verbs {sorted(verbs - READ_VERBS)} exceed read-only")
            for field in ("apiGroups", "resources", "verbs"):
                check("*" not in rule.get(field, []), f"{where}: wildcard in {field}")
            check("secrets" not in rule.get("resources", []), f"{where}: must not read Secrets")


def check_test_hooks(objs: list[dict]) -> None:
    """Test resources other than their Namespace must be `helm test` hooks: created at install,
    the workload's Pods could be admitted before the injection webhook is registered."""
    for obj in objs:
        meta = obj["metadata"]
        if meta.get("labels", {}).get("app.kubernetes.io/component") != "tests" or obj["kind"] == "Namespace":
            continue
        annotations = meta.get("annotations", {})
        check(annotations.get("helm.sh/hook") == "test", f"{describe(obj)} is not a helm test hook")
        check(
            annotations.get("helm.sh/hook-delete-policy") == "before-hook-creation",
            f"{describe(obj)} must be replaced when the test is re-run",
        )
    # The curl Pod runs after the workload and the policy were created (hooks run by weight).
    hooks = [o for o in objs if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    weight = lambda o: int(o["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))  # noqa: E731
    for pod in (o for o in hooks if o["kind"] == "Pod"):
        for other in (o for o in hooks if o["kind"] != "Pod"):
            check(weight(other) < weight(pod), f"{describe(other)} must come before the test {describe(pod)}")


def describe(obj: dict) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def check_render(args: argparse.Namespace) -> None:
    objs = load(args.file)
    check_test_hooks(objs)
    check_certificates(objs)
    check_controller_hardening(objs)
    check_rbac(objs)
    rendered_args = controller_container(objs)["args"]
    for expected in args.expect_arg:
        check(expected in rendered_args, f"controller args lack {expected!r}: {rendered_args}")
    kinds = {o["kind"] for o in objs}
    for kind in args.expect_kind:
        check(kind in kinds, f"expected a {kind} in the render")
    for kind in args.absent_kind:
        check(kind not in kinds, f"expected no {kind} in the render")


def check_fixture(args: argparse.Namespace) -> None:
    ctl = flags(controller_container(load(args.render))["args"])
    pod = one(load(args.fixture), "Pod")
    inits = pod["spec"]["initContainers"]
    check([c["name"] for c in inits[:2]] == ["l7proxy-init", "l7proxy"], "the two injected containers come first")
    init, sidecar = inits[0], inits[1]
    init_flags, proxy_flags = flags(init["args"]), flags(sidecar["args"])

    check(init["args"][:2] == ["redirect", "install"], "init container must run `redirect install`")
    check(sidecar["args"][:2] == ["run", "--kubernetes"], "sidecar must run `run --kubernetes`")
    for name in ("inbound-port", "outbound-port", "mark"):
        check(init_flags.get(name) == ctl[name], f"init --{name} {init_flags.get(name)} != chart {ctl[name]}")
        check(proxy_flags.get(name) == ctl[name], f"sidecar --{name} {proxy_flags.get(name)} != chart {ctl[name]}")
    check(init_flags.get("metrics-port") == ctl["metrics-port"], "init --metrics-port differs from the chart")
    # The kubelet probes the sidecar on the Pod IP: the endpoint must listen on every address.
    check(
        proxy_flags.get("metrics-addr") == f"0.0.0.0:{ctl['metrics-port']}",
        f"sidecar --metrics-addr {proxy_flags.get('metrics-addr')} != 0.0.0.0:{ctl['metrics-port']}",
    )
    check(proxy_flags.get("pod") == "$(POD_NAMESPACE)/$(POD_NAME)", "sidecar --pod must name its own Pod")
    for name in ("proxy-uid", "ipv6"):
        check(init_flags.get(name) == ctl[name], f"init --{name} {init_flags.get(name)} != chart {ctl[name]}")
    check(proxy_flags.get("log-dir") == ctl["log-dir"], "sidecar --log-dir differs from the chart")
    # Probe ports of the Pod (resolved from named ports) are added to the chart's exclusions.
    probe_ports = set()
    for container in pod["spec"]["containers"]:
        named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            action = container.get(probe, {}).get("httpGet") or container.get(probe, {}).get("tcpSocket")
            if action:
                port = action["port"]
                probe_ports.add(str(named.get(port, port)))
    chart_excluded = set(filter(None, ctl.get("exclude-inbound-ports", "").split(",")))
    got = set(filter(None, init_flags.get("exclude-inbound-ports", "").split(",")))
    check(got == chart_excluded | probe_ports, f"init --exclude-inbound-ports {sorted(got)} != chart + probe ports")
    for name in ("exclude-outbound-ports", "exclude-outbound-cidrs"):
        check(init_flags.get(name, "") == ctl.get(name, ""), f"init --{name} differs from the chart")

    for container in (init, sidecar):
        check(container["image"] == ctl["proxy-image"], f"{container['name']} image != --proxy-image")
        check(container["imagePullPolicy"] == ctl["proxy-image-pull-policy"], f"{container['name']} pull policy")
    check(sidecar.get("restartPolicy") == "Always", "the proxy must be a native sidecar (restartPolicy: Always)")
    check(init.get("restartPolicy") is None, "the init container must run to completion")
    check(json.loads(ctl["proxy-resources"]) == sidecar["resources"], "sidecar resources != --proxy-resources")
    check(json.loads(ctl["init-resources"]) == init["resources"], "init resources != --init-resources")

    ssc, isc = sidecar["securityContext"], init["securityContext"]
    check(str(ssc.get("runAsUser")) == ctl["proxy-uid"], "sidecar runAsUser != --proxy-uid")
    check(ssc.get("runAsNonRoot") is True, "sidecar must be non-root")
    check(ssc["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}, "sidecar capabilities must be NET_RAW only")
    check(ssc.get("allowPrivilegeEscalation") is True, "sidecar needs allowPrivilegeEscalation (file caps)")
    check(ssc.get("readOnlyRootFilesystem") is True, "sidecar needs readOnlyRootFilesystem")
    check(isc.get("runAsUser") == 0, "init container runs as root")
    check(set(isc["capabilities"].get("add", [])) == {"NET_ADMIN", "NET_RAW"}, "init caps: NET_ADMIN, NET_RAW")
    check(isc["capabilities"].get("drop") == ["ALL"], "init container drops ALL other capabilities")

    env = {e["name"]: e for e in sidecar["env"]}
    for name, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        check(env.get(name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == field,
              f"sidecar env {name} must come from the downward API ({field})")
    check(env.get("RUST_LOG", {}).get("value") == ctl["proxy-log-level"], "sidecar RUST_LOG != --proxy-log-level")
    metrics = int(ctl["metrics-port"])
    for probe in ("readinessProbe", "startupProbe"):
        get = sidecar.get(probe, {}).get("httpGet", {})
        check(get.get("path") == "/readyz" and get.get("port") == metrics, f"sidecar {probe}: /readyz on {metrics}")
    check(any(p["containerPort"] == metrics for p in sidecar["ports"]), "sidecar exposes the metrics port")
    mounts = {m["mountPath"] for m in sidecar["volumeMounts"]}
    check(ctl["log-dir"] in mounts, "sidecar mounts a volume at --log-dir")
    check(pod["metadata"]["annotations"].get("l7proxy.io/status") == "injected", "injected marker annotation")
    # The sidecar carries its own API credentials (see the fixture's header).
    token_mount = next(
        (m for m in sidecar["volumeMounts"] if m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"), None
    )
    check(token_mount is not None, "sidecar mounts a ServiceAccount token at the in-cluster path")
    if token_mount:
        volume = next((v for v in pod["spec"]["volumes"] if v["name"] == token_mount["name"]), {})
        sources = volume.get("projected", {}).get("sources", [])
        check(any("serviceAccountToken" in src for src in sources), "sidecar token volume projects a token")
        check(token_mount["name"].startswith("l7proxy-"), "sidecar token volume is the injector's own")


def check_readme(args: argparse.Namespace) -> None:
    with open(os.path.join(args.chart, "values.yaml"), encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    with open(os.path.join(args.chart, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    # Documented as a whole rather than key by key.
    whole = {"proxy.resources", "proxy.initResources", "controller.resources"}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = prefix + key
            if isinstance(value, dict) and value and path not in whole:
                walk(value, path + ".")
            else:
                check(f"| `{path}` |" in readme, f"README.md does not document the value {path}")

    walk(values, "")


def check_image(args: argparse.Namespace) -> None:
    import fnmatch
    import tomllib

    import dockerfile

    binary = "/usr/local/bin/l7proxy"
    commands = dockerfile.parse_file(os.path.join(args.repo, "Dockerfile"))
    stages: list[list] = []
    for cmd in commands:
        if cmd.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(cmd)
    check(len(stages) >= 2, "the Dockerfile must be multi-stage")
    if len(stages) < 2:
        return
    build, final = stages[0], stages[-1]
    check(build[0].value[:1] == ("rust:1-bookworm",), f"build stage FROM {build[0].value}")
    check(final[0].value[:1] == ("debian:bookworm-slim",), f"runtime stage FROM {final[0].value}")
    runs = lambda stage: " ".join(" ".join(c.value) for c in stage if c.cmd == "RUN")  # noqa: E731
    check("cargo build --release --locked" in runs(build), "build stage runs cargo build --release --locked")
    installs = runs(final)
    for package in ("iptables", "iproute2"):
        check(f" {package} " in f" {installs} ", f"runtime stage installs {package}")
    check(f"setcap cap_net_raw+ep {binary}" in installs, f"runtime stage sets cap_net_raw+ep on {binary}")
    copies = [c for c in final if c.cmd == "COPY" and "--from=build" in c.flags]
    check(any(c.value[-1] == binary for c in copies), f"runtime stage copies the binary to {binary}")
    entry = [c for c in final if c.cmd == "ENTRYPOINT"]
    check(bool(entry) and entry[-1].json and list(entry[-1].value) == [binary], f"ENTRYPOINT [\"{binary}\"]")

    with open(os.path.join(args.repo, "Cargo.toml"), "rb") as handle:
        cargo = tomllib.load(handle)
    bins = [b.get("name") for b in cargo.get("bin", [])] or [cargo["package"]["name"]]
    check("l7proxy" in bins, f"Cargo.toml builds no l7proxy binary ({bins})")
    with open(os.path.join(args.repo, ".dockerignore"), encoding="utf-8") as handle:
        ignored = [line.strip().rstrip("/") for line in handle if line.strip() and not line.startswith("#")]
    needed = ["Cargo.toml", "Cargo.lock", "src/main.rs"]
    for member in cargo.get("workspace", {}).get("members", []):
        needed.append(os.path.normpath(os.path.join(member, "Cargo.toml")))
    for path in needed:
        hit = [p for p in ignored if fnmatch.fnmatch(path, p) or path.startswith(p.strip("*") + "/")]
        check(not hit, f".dockerignore excludes {path}, which the build needs ({hit})")


def selector_matches(selector: dict, labels: dict) -> bool:
    """A metav1.LabelSelector against a label set (an empty selector matches everything)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def webhook_called(hook: dict, pod: dict, namespace_labels: dict) -> bool:
    import celpy

    if not selector_matches(hook.get("namespaceSelector") or {}, namespace_labels):
        return False
    if not selector_matches(hook.get("objectSelector") or {}, pod["metadata"].get("labels") or {}):
        return False
    env = celpy.Environment()
    for condition in hook.get("matchConditions") or []:
        program = env.program(env.compile(condition["expression"]))
        if not program.evaluate({"object": celpy.json_to_cel(pod)}):
            return False
    return True


def check_admission(args: argparse.Namespace) -> None:
    import copy

    objs = load(args.render)
    hook = one(objs, "MutatingWebhookConfiguration")["webhooks"][0]
    ns_label = hook["namespaceSelector"]["matchLabels"]
    opt_out = hook["objectSelector"]["matchExpressions"][0]["key"]
    # The webhook's input: the fixture Pod without what the webhook added.
    app = copy.deepcopy(one(load(args.fixture), "Pod"))
    app["spec"]["initContainers"] = app["spec"]["initContainers"][2:]
    app["metadata"]["annotations"].pop("l7proxy.io/status", None)

    def variant(change) -> dict:
        pod = copy.deepcopy(app)
        change(pod)
        return pod

    cases = [
        ("an app Pod in a labelled namespace", app, ns_label, True),
        ("an app Pod in an unlabelled namespace", app, {}, False),
        ("a Pod labelled for opt-out", variant(lambda p: p["metadata"]["labels"].update({opt_out: "disabled"})),
         ns_label, False),
        ("a Pod annotated for opt-out",
         variant(lambda p: p["metadata"]["annotations"].update({opt_out: "disabled"})), ns_label, False),
        ("a Pod without annotations", variant(lambda p: p["metadata"].pop("annotations")), ns_label, True),
        ("a hostNetwork Pod", variant(lambda p: p["spec"].update({"hostNetwork": True})), ns_label, False),
    ]
    controller = one(objs, "Deployment", "-controller")["spec"]["template"]
    cases.append(("a controller Pod, even in a labelled namespace", controller, ns_label, False))
    tests_ns = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in find(objs, "Namespace")}
    for pod in find(objs, "Pod"):
        labels = tests_ns.get(pod["metadata"]["namespace"], ns_label)
        cases.append((f"the helm test Pod {pod['metadata']['name']}", pod, labels, False))
    for deploy in find(objs, "Deployment", "-test-web"):
        labels = tests_ns.get(deploy["metadata"]["namespace"], ns_label)
        cases.append(("the test web Pod in the test namespace", deploy["spec"]["template"], labels, True))
    for what, pod, labels, expected in cases:
        got = webhook_called(hook, pod, labels)
        check(got == expected, f"{what}: injection webhook {'called' if got else 'not called'}")


REDIRECT_FLAGS = (
    "inbound-port", "outbound-port", "mark", "proxy-uid", "metrics-port", "ipv6",
    "exclude-inbound-ports", "exclude-outbound-ports", "exclude-outbound-cidrs",
)


def print_init_args(args: argparse.Namespace) -> None:
    objs = load(args.file)
    pods = find(objs, "Pod")
    if pods and pods[0]["spec"].get("initContainers"):
        init = pods[0]["spec"]["initContainers"][0]["args"]
        options = init[2:]
    else:
        ctl = flags(controller_container(objs)["args"])
        options = [f"--{name}={ctl[name]}" for name in REDIRECT_FLAGS if name in ctl]
    print("redirect\nrender")
    for option in options:
        print(option)


def print_controller_flags(args: argparse.Namespace) -> None:
    for name in flags(controller_container(load(args.file))["args"]):
        print(f"--{name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render")
    render.add_argument("file")
    render.add_argument("--expect-arg", action="append", default=[])
    render.add_argument("--expect-kind", action="append", default=[])
    render.add_argument("--absent-kind", action="append", default=[])
    fixture = sub.add_parser("fixture")
    fixture.add_argument("render")
    fixture.add_argument("fixture")
    readme = sub.add_parser("readme")
    readme.add_argument("chart")
    image = sub.add_parser("image")
    image.add_argument("repo")
    admission = sub.add_parser("admission")
    admission.add_argument("render")
    admission.add_argument("fixture")
    sub.add_parser("init-args").add_argument("file")
    sub.add_parser("controller-flags").add_argument("file")
    args = parser.parse_args()
    commands = {
        "render": check_render,
        "fixture": check_fixture,
        "readme": check_readme,
        "image": check_image,
        "admission": check_admission,
        "init-args": print_init_args,
        "controller-flags": print_controller_flags,
    }
    commands[args.command](args)
    for failure in FAILURES:
        print(f"FAIL {failure}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
