"""What the live tests read back: objects in state and on the server, planned steps."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sandbox.cluster import LocalCluster
from sandbox.workspace import Run, StackWorkspace

NO_CHANGE_OPS = {"same", "read", "refresh"}


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A Kubernetes object the stack manages."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def kubectl_args(self) -> list[str]:
        """`kubectl get` arguments for this object."""
        group = self.api_version.rpartition("/")[0]
        resource = f"{self.kind.lower()}.{group}" if group else self.kind.lower()
        args = [resource, self.name]
        if self.namespace:
            args += ["-n", self.namespace]
        return args


def _type_gvk(type_token: str) -> tuple[str, str] | None:
    """`kubernetes:apps/v1:Deployment` -> (`apps/v1`, `Deployment`); None for others."""
    if not type_token.startswith("kubernetes:") or type_token.count(":") != 2:
        return None
    _, group_version, kind = type_token.split(":")
    if group_version.startswith("helm.sh/") or kind.endswith("Patch"):
        return None
    if group_version == "apiextensions.k8s.io" or kind == "CustomResource":
        return None
    group, _, version = group_version.rpartition("/")
    return (f"{group}/{version}" if group != "core" else version), kind


def managed_objects(workspace: StackWorkspace) -> list[ObjectRef]:
    """Every Kubernetes object in the stack's state (CRs by their outputs' kind)."""
    refs: set[ObjectRef] = set()
    for resource in workspace.resources():
        outputs = resource.get("outputs") or {}
        gvk = _type_gvk(resource.get("type", ""))
        if gvk is None and resource.get("type", "").startswith("kubernetes:") and "kind" in outputs:
            api_version, kind = str(outputs.get("apiVersion", "")), str(outputs["kind"])
            if api_version.startswith("helm.sh/"):
                continue
            gvk = (api_version, kind)
        if gvk is None:
            continue
        metadata = outputs.get("metadata") or {}
        if not isinstance(metadata, dict) or "name" not in metadata:
            continue
        refs.add(ObjectRef(gvk[0], gvk[1], str(metadata.get("namespace") or ""), metadata["name"]))
    return sorted(refs)


def helm_releases(workspace: StackWorkspace) -> list[tuple[str, str, str, str]]:
    """(namespace, release name, chart, version) of every Helm release in state."""
    releases = []
    for resource in workspace.resources():
        if resource.get("type") != "kubernetes:helm.sh/v3:Release":
            continue
        outputs = resource.get("outputs") or {}
        status = outputs.get("status") or {}
        releases.append(
            (
                str(status.get("namespace") or outputs.get("namespace")),
                str(status.get("name") or outputs.get("name")),
                str(status.get("chart") or outputs.get("chart")),
                str(status.get("version") or outputs.get("version")),
            )
        )
    return sorted(releases)


def missing_on_server(cluster: LocalCluster, refs: list[ObjectRef]) -> list[str]:
    """The objects of `refs` the server does not have."""
    missing = []
    for ref in refs:
        got = cluster.kubectl("get", *ref.kubectl_args(), "-o", "name", timeout=60)
        if got.returncode != 0:
            missing.append(f"{ref}: {got.stderr.strip()}")
    return missing


def present_on_server(cluster: LocalCluster, refs: list[ObjectRef]) -> list[str]:
    """The objects of `refs` the server still has (Terminating ones included)."""
    present = []
    for ref in refs:
        got = cluster.kubectl("get", *ref.kubectl_args(), "-o", "name", timeout=60)
        if got.returncode == 0:
            present.append(str(ref))
        elif "NotFound" not in got.stderr and "not found" not in got.stderr:
            present.append(f"{ref}: cannot tell: {got.stderr.strip()}")
    return present


def planned_steps(run: Run) -> list[dict[str, Any]]:
    """Steps of a `pulumi preview --json` run (`op`, `urn`, `diffReasons`, ...)."""
    document = json.loads(run.stdout)
    return list(document.get("steps") or [])


def changes(run: Run) -> dict[str, list[str]]:
    """URNs by operation, for every step of a `--json` preview that changes something."""
    by_op: dict[str, list[str]] = {}
    for step in planned_steps(run):
        op = str(step.get("op"))
        if op not in NO_CHANGE_OPS:
            by_op.setdefault(op, []).append(str(step.get("urn")))
    return by_op


def explain(run: Run) -> list[str]:
    """One line per changing step: op, kind, name and the properties that differ."""
    lines = []
    for step in planned_steps(run):
        op = str(step.get("op"))
        if op in NO_CHANGE_OPS:
            continue
        urn = str(step.get("urn"))
        keys = step.get("replaceReasons") or step.get("diffReasons") or []
        lines.append(f"{op} {urn_type(urn)} {urn_name(urn)} {sorted(keys)}")
    return lines


def urn_name(urn: str) -> str:
    """The resource name at the end of a URN."""
    return urn.rsplit("::", 1)[-1]


def urn_type(urn: str) -> str:
    """The resource kind of a URN: `...$kubernetes:core/v1:ConfigMap::name` -> `ConfigMap`."""
    return urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1].rsplit(":", 1)[-1]
