#!/usr/bin/env python3
"""Validate rendered Kubernetes manifests against the Kubernetes schemas of several versions.

Every object of a built-in kind is checked with kubernetes-validate in strict mode (unknown fields
are errors) for each requested Kubernetes version. kubernetes-validate only warns, and succeeds,
for a kind it has no schema for; here such an object is an error unless its apiVersion/kind is
listed with --schemaless, and then it still gets a structural check: metadata against the strict
ObjectMeta schema, a mapping `spec`, and no top-level fields other than those of a custom object.

All files and versions are checked in one process: schemas are parsed once per version.
Exit status: 0 when every object passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections import Counter

import jsonschema
import yaml
from referencing import Registry, Resource
from kubernetes_validate import utils

# kubernetes-validate re-reads and re-parses each schema file (the shared definitions file is
# ~1.4 MB) for every object; the files never change, so parse each once.
utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)

CUSTOM_OBJECT_FIELDS = {"apiVersion", "kind", "metadata", "spec", "status"}


def load_objects(path: str) -> list[tuple[str, dict]]:
    """Documents of a multi-document YAML file, each with a readable location."""
    with open(path, encoding="utf-8") as handle:
        docs = list(yaml.safe_load_all(handle))
    out = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        out.append((f"{path}#{index}", doc))
    return out


def describe(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "<no name>")
    return f"{obj.get('kind', '<no kind>')} {ns + '/' if ns else ''}{name}"


@functools.lru_cache(maxsize=None)
def object_meta_validator(version: str) -> jsonschema.Validator:
    """Strict ObjectMeta schema of `version`, for objects of kinds without a schema."""
    schema_dir = f"kubernetes-json-schema/v{version_dir(version)}-local-strict"
    defs = utils.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(defs) @ Registry()
    schema = {"$ref": f"{defs['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def version_dir(version: str) -> str:
    """The schema directory kubernetes-validate uses for `version` (newest not after it)."""
    wanted = utils.major_minor(version)
    candidates = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted]
    if not candidates:
        raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {version}")
    return candidates[-1]


def check_structural(obj: dict, version: str) -> list[str]:
    errors = []
    extra = sorted(set(obj) - CUSTOM_OBJECT_FIELDS)
    if extra:
        errors.append(f"unexpected top-level field(s) {', '.join(extra)}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        errors.append("metadata.name is missing")
    else:
        for err in object_meta_validator(version).iter_errors(meta):
            path = ".".join(str(p) for p in err.absolute_path)
            errors.append(f"metadata.{path}: {err.message}" if path else f"metadata: {err.message}")
    if "spec" in obj and not isinstance(obj["spec"], dict):
        errors.append("spec is not a mapping")
    return errors


def validate_object(obj: dict, version: str, schemaless: set[str]) -> tuple[str, list[str]]:
    """('schema'|'structural'|'error', messages)."""
    if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
        return "error", ["not a Kubernetes object (apiVersion and kind are required)"]
    try:
        utils.validate(obj, version, strict=True)
        return "schema", []
    except utils.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        return "error", [f"{path}: {err.message}" if path else err.message]
    except utils.SchemaNotFoundError:
        key = f"{obj['apiVersion']}/{obj['kind']}"
        if key not in schemaless:
            return "error", [f"no schema for {key} in Kubernetes {version} (unknown kind or apiVersion)"]
        errors = check_structural(obj, version)
        return ("error" if errors else "structural"), errors
    except utils.VersionNotSupportedError:
        raise SystemExit(f"kubernetes-validate does not support Kubernetes {version}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--kubernetes-version", action="append", required=True)
    parser.add_argument(
        "--schemaless",
        action="append",
        default=[],
        metavar="APIVERSION/KIND",
        help="custom kind without a schema that gets a structural check, e.g. crd.antrea.io/v1beta1/Tier",
    )
    parser.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    objects = []
    for path in args.files:
        try:
            objects.extend(load_objects(path))
        except (OSError, yaml.YAMLError) as err:
            print(f"ERROR {path}: cannot read YAML: {err}")
            return 1

    failures = 0
    tally: Counter[str] = Counter()
    # Two objects with the same kind/namespace/name in one file would clash when applied.
    for path in args.files:
        seen = Counter(
            (o.get("apiVersion"), describe(o)) for loc, o in objects if loc.rsplit("#", 1)[0] == path
        )
        for (api, what), count in seen.items():
            if count > 1:
                print(f"ERROR {path}: {api} {what} is rendered {count} times")
                failures += 1

    schemaless = set(args.schemaless)
    for version in args.kubernetes_version:
        for location, obj in objects:
            outcome, messages = validate_object(obj, version, schemaless)
            tally[outcome] += 1
            if outcome == "error":
                failures += 1
                for message in messages:
                    print(f"ERROR k8s {version} {location} {describe(obj)}: {message}")
            elif not args.quiet:
                print(f"ok    k8s {version} {location} {describe(obj)} ({outcome})")

    versions = ", ".join(args.kubernetes_version)
    print(
        f"validated {len(objects)} object(s) x {len(args.kubernetes_version)} version(s) ({versions}): "
        f"{tally['schema']} schema-checked (strict), {tally['structural']} structural-only "
        f"(custom kinds without a schema), {failures} failure(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
