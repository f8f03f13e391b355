"""Everything the example stacks apply to a tenant cluster, validated by a real API server.

For every example stack, the platform (`stacks.platform.install`) runs under mocks
and every Kubernetes object it registers is turned back into a manifest. A real
kube-apiserver 1.34 (with the upstream CRDs from ../shared/crds installed) then
checks them with a strict server-side dry run: unknown fields, which Kubernetes
would otherwise prune silently, schema violations and the CRDs' CEL rules are
all errors. This complements the JSON-Schema oracle (tests/support/upstream.py),
which cannot evaluate CEL.

Not covered here, each for a stated reason:
  - Helm releases: their charts cannot be fetched offline; their values are checked
    against the charts' values.yaml (tests/support/upstream.py).
  - `*Patch` resources (ServiceAccountPatch): partial objects by design.
  - Kinds whose CRD is not in ../shared/crds (UNVERIFIED_KINDS): checked against our
    documented schemas in the component tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sandbox.cluster import LocalCluster, running_cluster
from tests.support.examples import STACK_FILES, example_platform
from tests.support.mocks import Registered
from tests.support.upstream import crd_path

# Kinds we emit whose CRD is not among the upstream files in ../shared/crds.
UNVERIFIED_KINDS = {
    ("monitoring.coreos.com", "PrometheusRule"),  # kube-prometheus-stack CRD
    ("nv-ipam.nvidia.com", "IPPool"),  # NVIDIA IPAM (network operator) CRD
}
# When a CRD ships in several projects, the one we pin.
CRD_PROJECT = {("resource.nvidia.com", "ComputeDomain"): "k8s-dra-driver-gpu"}

pytestmark = pytest.mark.engine


def _group_version_kind(type_token: str) -> tuple[str, str, str]:
    """`kubernetes:networking.k8s.io/v1:NetworkPolicy` -> (group, version, kind)."""
    _, group_version, kind = type_token.split(":")
    group, _, version = group_version.rpartition("/")
    return ("" if group == "core" else group), version, kind


def _is_crd_group(group: str) -> bool:
    """Custom resource groups are dotted and not Kubernetes' own (`*.k8s.io`, `apps`)."""
    return "." in group and not group.endswith(".k8s.io")


def _group_kind(manifest: dict[str, Any]) -> tuple[str, str]:
    return manifest["apiVersion"].rpartition("/")[0], manifest["kind"]


def _manifests(resources: list[Registered]) -> Iterator[dict[str, Any]]:
    for resource in resources:
        if not resource.type.startswith("kubernetes:") or not resource.custom:
            continue
        group, version, kind = _group_version_kind(resource.type)
        if group == "helm.sh" or kind.endswith("Patch"):
            continue
        manifest = {k: v for k, v in resource.inputs.items() if v is not None}
        manifest["apiVersion"] = f"{group}/{version}" if group else version
        manifest["kind"] = kind
        metadata = dict(manifest.get("metadata") or {})
        metadata.setdefault("name", resource.name)  # Pulumi would autoname it
        manifest["metadata"] = metadata
        yield manifest


@pytest.fixture(scope="module")
def objects() -> dict[str, list[dict[str, Any]]]:
    return {path.name: list(_manifests(example_platform(path).resources)) for path in STACK_FILES}


@pytest.fixture(scope="module")
def apiserver(
    tmp_path_factory: pytest.TempPathFactory, objects: dict[str, list[dict[str, Any]]]
) -> Iterator[LocalCluster]:
    kinds = {
        _group_kind(m)
        for manifests in objects.values()
        for m in manifests
        if _is_crd_group(_group_kind(m)[0])
    }
    with running_cluster(tmp_path_factory.mktemp("apiserver"), controllers=False) as server:
        crds = sorted(
            {crd_path(g, k, CRD_PROJECT.get((g, k))) for g, k in kinds - UNVERIFIED_KINDS}
        )
        for crd in crds:
            applied = server.kubectl("apply", "--server-side", "-f", str(crd))
            assert applied.returncode == 0, f"{crd}: {applied.stderr}"
        names = [yaml.safe_load(path.read_text())["metadata"]["name"] for path in crds]
        ready = server.kubectl(
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "120s",
            *[f"crd/{name}" for name in names],
        )
        assert ready.returncode == 0, ready.stderr
        yield server


def test_every_emitted_kind_is_verified_or_listed(objects: dict[str, list[dict[str, Any]]]) -> None:
    for manifests in objects.values():
        for manifest in manifests:
            group, kind = _group_kind(manifest)
            if _is_crd_group(group) and (group, kind) not in UNVERIFIED_KINDS:
                crd_path(group, kind, CRD_PROJECT.get((group, kind)))  # raises if missing


@pytest.mark.parametrize("stack_file", [p.name for p in STACK_FILES])
def test_the_api_server_accepts_every_object_strictly(
    stack_file: str, objects: dict[str, list[dict[str, Any]]], apiserver: LocalCluster
) -> None:
    manifests = [m for m in objects[stack_file] if _group_kind(m) not in UNVERIFIED_KINDS]
    assert len(manifests) >= 15, [m["kind"] for m in manifests]
    # Namespaces exist for real, so namespaced objects can be checked in them.
    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    others = [m for m in manifests if m["kind"] != "Namespace"]
    created = apiserver.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "gpu-caas",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(namespaces),
    )
    assert created.returncode == 0, created.stderr
    for name in {m["metadata"].get("namespace") for m in others} - {None}:
        apiserver.kubectl("create", "namespace", name)  # platform namespaces made by charts
    checked = apiserver.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "--field-manager",
        "gpu-caas",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(others),
    )
    assert checked.returncode == 0, f"{stack_file}:\n{checked.stderr}"
    assert checked.stdout.count("(server dry run)") == len(others), checked.stdout


def test_a_typo_is_rejected_not_pruned(
    objects: dict[str, list[dict[str, Any]]], apiserver: LocalCluster
) -> None:
    """The check is strict: an unknown field fails instead of being dropped silently."""
    samples: dict[str, dict[str, Any]] = {}
    for manifests in objects.values():
        for manifest in manifests:
            if (
                manifest["kind"] in ("ClusterPolicy", "Queue", "NetworkPolicy")
                and "spec" in manifest
            ):
                samples.setdefault(manifest["kind"], manifest)
    assert set(samples) == {"ClusterPolicy", "Queue", "NetworkPolicy"}
    for kind, manifest in samples.items():
        typo = {**manifest, "spec": {**manifest["spec"], "specTypo": True}}
        namespace = typo["metadata"].get("namespace")
        if namespace:
            apiserver.kubectl("create", "namespace", namespace)
        checked = apiserver.kubectl(
            "apply",
            "--server-side",
            "--dry-run=server",
            "--validate=strict",
            "-f",
            "-",
            stdin=yaml.safe_dump(typo),
        )
        assert checked.returncode != 0, f"{kind} with an unknown field was accepted"
        assert "specTypo" in checked.stderr, checked.stderr
