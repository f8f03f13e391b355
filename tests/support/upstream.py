"""Test oracles: validate what we emit against the upstream CRDs and chart values.

Kubernetes silently prunes unknown custom-resource fields and Helm silently ignores
unknown values, so a typo ships a misconfigured cluster. These oracles make such a
typo fail a test instead. They read the byte-for-byte upstream copies in
`../shared/crds` (provenance in its SOURCES.md).

* `validate_custom_resource(api_version, kind, spec_or_manifest)` validates a spec
  (or a whole manifest) against the CRD's `openAPIV3Schema`, made strict: every
  object that the API server would prune (no `x-kubernetes-preserve-unknown-fields`,
  no `additionalProperties`) rejects unknown fields.
* `assert_values_keys_known(values, values_yaml, allow=...)` fails on any values key
  path that the chart's `values.yaml` does not have.

Parsed files are cached per process (the Kyverno CRDs are 1.4 MB each).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sandbox.upstream import conformance_root, crds_root
from sandbox.values_schema import FREE_FORM_KEYS as FREE_FORM_KEYS
from sandbox.values_schema import FREE_FORM_PATHS as FREE_FORM_PATHS
from sandbox.values_schema import is_leaf, leads_to_allowed

CRDS_ROOT = crds_root()
"""The upstream CRDs, values and recipes: `crds/` of the upstream root, which is
`$GPU_CAAS_UPSTREAM_DIR`, else `../shared` next to the repository, else the `make upstream`
cache (one definition, `sandbox.upstream.upstream_root`; tests/conftest.py stops the
session first when that copy does not match upstream.lock.json)."""
CONFORMANCE_ROOT = conformance_root()
"""Kubernetes' Pod Security conformance fixtures: `conformance/` beside `CRDS_ROOT`."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# --------------------------------------------------------------------------- #
# CRDs
# --------------------------------------------------------------------------- #

_GROUP_RE = re.compile(r"^\s{2}group:\s*(\S+)\s*$", re.MULTILINE)
_KIND_RE = re.compile(r"^\s{4}kind:\s*(\S+)\s*$", re.MULTILINE)
_VERSIONED_DIR = re.compile(r"^v\d+(\.\d+)*")


@functools.cache
def _crd_index() -> dict[tuple[str, str], tuple[Path, ...]]:
    """Map (group, kind) -> CRD files, reading only each file's header.

    controller-gen writes `spec.group` and `spec.names.kind` in the first lines, so
    the 1.4 MB Kyverno files are not parsed just to index them.
    """
    index: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(CRDS_ROOT.rglob("*.yaml")):
        if path.name == "values.yaml" or "aicr" in path.relative_to(CRDS_ROOT).parts:
            continue
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
        if "kind: CustomResourceDefinition" not in head:
            continue
        group, kind = _GROUP_RE.search(head), _KIND_RE.search(head)
        if group and kind:
            index.setdefault((group[1], kind[1]), []).append(path)
    return {key: tuple(paths) for key, paths in index.items()}


def crd_path(group: str, kind: str, project: str | None = None) -> Path:
    """Find the CRD file for `group`/`kind`.

    Args:
        group: API group, e.g. `nvidia.com`.
        kind: resource kind, e.g. `ClusterPolicy`.
        project: top-level directory under shared/crds to pick from when several
            projects ship the CRD (ComputeDomain is in gpu-operator/ and
            k8s-dra-driver-gpu/).

    When one copy sits in a release subdirectory (`karpenter/v1.14.1/`), that pinned
    release copy wins over the main-branch copy.
    """
    candidates = list(_crd_index().get((group, kind), ()))
    if project is not None:
        candidates = [p for p in candidates if p.relative_to(CRDS_ROOT).parts[0] == project]
    if not candidates:
        raise AssertionError(f"no CRD for {kind}.{group} (project={project}) under {CRDS_ROOT}")
    if len(candidates) > 1:
        released = [
            p
            for p in candidates
            if any(_VERSIONED_DIR.match(part) for part in p.relative_to(CRDS_ROOT).parts[1:-1])
        ]
        if len(released) == 1:
            return released[0]
        names = ", ".join(str(p.relative_to(CRDS_ROOT)) for p in candidates)
        raise AssertionError(f"{kind}.{group} is in several files ({names}); pass project=")
    return candidates[0]


@functools.cache
def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader/CSafeLoader


def strict_schema(schema: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Convert a structural CRD schema into a strict JSON Schema (Draft 4).

    * objects without `x-kubernetes-preserve-unknown-fields: true` and without
      `additionalProperties` get `additionalProperties: false` (what the API server
      prunes, we reject);
    * `x-kubernetes-int-or-string` becomes `anyOf: [integer, string]`;
    * `x-kubernetes-embedded-resource` objects accept `apiVersion`, `kind` and
      `metadata` (the API server validates those itself);
    * `nullable: true` also accepts null;
    * `x-kubernetes-validations` (CEL) are dropped: they are not evaluated here, so
      tests of CEL-guarded fields must assert the rule themselves;
    * with `partial=True`, `required` is dropped too, to validate a fragment (the
      fields we set) without the fields a chart or controller fills in.
    """
    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "x-kubernetes-validations" or (partial and key == "required"):
            continue
        if key == "properties":
            node[key] = {
                name: strict_schema(child, partial=partial) for name, child in value.items()
            }
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            node[key] = strict_schema(value, partial=partial)
        elif key in ("allOf", "anyOf", "oneOf"):
            node[key] = [strict_schema(child, partial=partial) for child in value]
        else:
            node[key] = copy.deepcopy(value)

    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]

    preserve = bool(node.pop("x-kubernetes-preserve-unknown-fields", False))
    if node.pop("x-kubernetes-embedded-resource", False):
        props = node.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})

    is_object = node.get("type") == "object" or "properties" in node
    if is_object and not preserve and "additionalProperties" not in node:
        node["additionalProperties"] = False

    if node.pop("nullable", False) and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    return node


@functools.cache
def _version_schema(path: Path, version: str, partial: bool = False) -> dict[str, Any]:
    crd = _load_yaml(path)
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            if not entry.get("served", False):
                raise AssertionError(f"{path.name}: version {version} is not served")
            return strict_schema(entry["schema"]["openAPIV3Schema"], partial=partial)
    served = [entry["name"] for entry in crd["spec"]["versions"] if entry.get("served")]
    raise AssertionError(f"{path.name}: no version {version!r}; served versions: {served}")


def _is_integer(_checker: Any, instance: Any) -> bool:
    # JSON has one number type: the API server accepts 2.0 for an integer field, and the
    # Pulumi engine turns ints into floats on the wire (protobuf Struct), so an integral
    # float is an integer here. Booleans are not.
    if isinstance(instance, bool):
        return False
    return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft4Validator,
    type_checker=jsonschema.Draft4Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def _format_error(error: jsonschema.ValidationError) -> str:
    location = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    return f"{location or '.'}: {error.message}"


def validate_custom_resource(
    api_version: str,
    kind: str,
    spec_or_manifest: Mapping[str, Any],
    *,
    project: str | None = None,
    partial: bool = False,
) -> None:
    """Assert that a custom resource is valid against its upstream CRD.

    Args:
        api_version: `group/version`, e.g. `resource.nvidia.com/v1beta1`.
        kind: e.g. `ComputeDomain`.
        spec_or_manifest: either the `spec` alone, or a whole manifest (a mapping
            with `apiVersion` and `kind`), which is validated from the root.
        project: shared/crds directory to read when several ship the CRD.
        partial: validate a fragment: unknown fields and wrong types still fail,
            missing required fields do not.

    Raises:
        AssertionError: listing every error with its path, e.g.
            `.spec.numNodes: 'two' is not of type 'integer'`.
    """
    group, _, version = api_version.rpartition("/")
    schema = _version_schema(crd_path(group, kind, project), version, partial)
    if "apiVersion" in spec_or_manifest and "kind" in spec_or_manifest:
        instance: Mapping[str, Any] = spec_or_manifest
        problems: list[str] = []
        if spec_or_manifest["apiVersion"] != api_version or spec_or_manifest["kind"] != kind:
            problems.append(
                f".: manifest is {spec_or_manifest['apiVersion']}/{spec_or_manifest['kind']}, "
                f"expected {api_version}/{kind}"
            )
        # The API server validates ObjectMeta itself; the CRD only says `type: object`.
        root = dict(schema)
        root["properties"] = dict(schema.get("properties", {}))
        root["properties"]["metadata"] = {"type": "object"}
        validator = _Validator(root)
    else:
        instance = spec_or_manifest
        problems = []
        spec_schema = schema.get("properties", {}).get("spec")
        if spec_schema is None:
            raise AssertionError(f"{kind}.{group}/{version} has no spec in its schema")
        validator = _Validator(spec_schema)
    problems += sorted(_format_error(error) for error in validator.iter_errors(instance))
    if problems:
        raise AssertionError(
            f"{kind} ({api_version}) is invalid against {crd_path(group, kind, project).name}:\n  "
            + "\n  ".join(problems)
        )


# --------------------------------------------------------------------------- #
# Helm values
# --------------------------------------------------------------------------- #

# The key rules (`FREE_FORM_KEYS`, `FREE_FORM_PATHS`, `allow` patterns: `is_leaf`,
# `leads_to_allowed`) live in `sandbox.values_schema`, shared with the stand-in charts'
# values.schema.json, so this oracle and the schema Helm enforces on the live test
# cluster cannot drift (tests/sandbox/test_values_schema.py compares the two).


def _walk(ours: Any, theirs: Any, path: tuple[str, ...], allow: tuple[str, ...]) -> Iterator[str]:
    if path and is_leaf(path, allow):
        return
    dotted = ".".join(path) or "."
    if isinstance(ours, Mapping):
        if theirs is None:
            return  # upstream `key: null` / `key: ~` accepts anything
        if not isinstance(theirs, Mapping):
            yield f"{dotted}: upstream is a {type(theirs).__name__}, we set a map"
            return
        for key, value in ours.items():
            child = (*path, str(key))
            if key not in theirs:
                if is_leaf(child, allow):
                    continue
                if leads_to_allowed(child, allow):
                    # An allowed path lies below: only it may be set under this key.
                    yield from _walk(value, {}, child, allow)
                    continue
                yield f"{'.'.join(child)}: unknown key (not in the chart's values.yaml)"
                continue
            yield from _walk(value, theirs[key], child, allow)
    elif isinstance(ours, list):
        if isinstance(theirs, Mapping) and theirs:
            yield f"{dotted}: upstream is a map, we set a list"
            return
        # Lists are leaves unless upstream shows map items: then our items may only
        # use keys some upstream item uses.
        upstream_items = [
            item
            for item in (theirs if isinstance(theirs, list) else [])
            if isinstance(item, Mapping)
        ]
        if not upstream_items:
            return
        known: dict[str, Any] = {}
        for item in upstream_items:
            known.update(item)
        for index, item in enumerate(ours):
            if isinstance(item, Mapping):
                yield from _walk(item, known, (*path[:-1], f"{path[-1]}[{index}]"), allow)
    elif isinstance(theirs, Mapping) and theirs:
        yield f"{dotted}: upstream is a map, we set a {type(ours).__name__}"


def assert_values_keys_known(
    values: Mapping[str, Any],
    chart_values_yaml_path: Path | str,
    allow: Iterable[str] = (),
) -> None:
    """Assert every key path in `values` exists in the chart's `values.yaml`.

    Args:
        values: the values we pass to the chart.
        chart_values_yaml_path: upstream `values.yaml`; relative paths are taken
            under `shared/crds` (e.g. `"gpu-operator/values.yaml"`).
        allow: extra dotted paths that are valid although not in values.yaml, each
            documented at the call site (keys the chart reads but only shows in a
            comment, subchart values). A pattern matches a path suffix; `*` matches
            one segment; a leading `^` anchors at the root. Everything below an
            allowed path is accepted.

    Raises:
        AssertionError: listing every unknown or mistyped key path.
    """
    path = Path(chart_values_yaml_path)
    if not path.is_absolute():
        path = CRDS_ROOT / path
    upstream = _load_yaml(path.resolve()) or {}
    problems = list(_walk(values, upstream, (), tuple(allow)))
    if problems:
        raise AssertionError(
            f"values are not valid for {path.relative_to(CRDS_ROOT)}:\n  " + "\n  ".join(problems)
        )
