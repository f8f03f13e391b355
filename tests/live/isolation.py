"""Isolation checks the API server itself enforces: RBAC, Pod Security, quotas.

Team members are impersonated (`kubectl --as <user> --as-group <idp group>`), as an
OIDC login with that `groups` claim would authenticate them. Pod Security is checked
with Kubernetes' own `restricted` conformance fixtures (../shared/conformance): every
`fail/` pod must be refused in a tenant namespace and every `pass/` pod admitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sandbox.cluster import LocalCluster
from tests.support.upstream import CONFORMANCE_ROOT

CONFORMANCE = CONFORMANCE_ROOT / "pod-security" / "restricted-v1.37"
"""Kubernetes' Pod Security `restricted` fixtures (../shared/conformance/pod-security/
SOURCES.md; locked in upstream.lock.json)."""

PASS_FROM: dict[str, tuple[tuple[int, int], str]] = {
    # ../shared/conformance/pod-security/SOURCES.md: "pass/sysctls1.yaml now uses two
    # sysctls that the safe list accepts from v1.37 on".
    "sysctls1.yaml": ((1, 37), "forbidden sysctls"),
}
"""`pass/` fixtures admitted only from a Pod Security version on: at an older pinned
version they must be refused, for the stated reason."""

INVALID_BEFORE: dict[str, tuple[tuple[int, int], str]] = {
    # SOURCES.md: "procmount0/1 switched to hostUsers: true (v1.35)"; before 1.35 the
    # API's own validation refuses Unmasked /proc with host user namespaces.
    "procmount0.yaml": ((1, 35), "`hostUsers` must be false"),
    "procmount1.yaml": ((1, 35), "`hostUsers` must be false"),
}
"""`fail/` fixtures an older API server refuses as invalid before Pod Security sees them."""

OWN_NAMESPACE_ALLOWED = (
    ("create", "pods"),
    ("create", "deployments.apps"),
    ("create", "jobs.batch"),
    ("get", "pods/log"),
    ("list", "resourcequotas"),
)
OWN_NAMESPACE_DENIED = (
    ("update", "resourcequotas"),
    ("delete", "limitranges"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("patch", "networkpolicies.networking.k8s.io"),
    ("update", "namespaces"),
)
CLUSTER_WRITES = (
    ("create", "namespaces"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("patch", "nodes"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "clusterpolicies.kyverno.io"),
)
OTHER_NAMESPACE_DENIED = (("get", "pods"), ("create", "pods"), ("get", "secrets"))


def can_i(
    cluster: LocalCluster, user: str, group: str, verb: str, resource: str, namespace: str | None
) -> bool:
    """`kubectl auth can-i` as `user` in `group` (True: allowed)."""
    args = ["auth", "can-i", verb, resource]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    answer = cluster.kubectl(*args, as_user=user, as_groups=[group, "system:authenticated"])
    return answer.stdout.strip() == "yes"


def assert_rbac_isolates_teams(
    cluster: LocalCluster,
    team: str,
    group: str,
    other_team: str,
    platform_namespaces: list[str],
) -> None:
    """A member of `team` may use its namespace as tenant-admin grants, nothing else."""
    user = f"{team}-member"
    problems = []
    for verb, resource in OWN_NAMESPACE_ALLOWED:
        if not can_i(cluster, user, group, verb, resource, team):
            problems.append(f"denied {verb} {resource} in own namespace {team}")
    for verb, resource in OWN_NAMESPACE_DENIED:
        if can_i(cluster, user, group, verb, resource, team):
            problems.append(f"allowed {verb} {resource} in own namespace {team}")
    for namespace in [other_team, *platform_namespaces]:
        for verb, resource in OTHER_NAMESPACE_DENIED:
            if can_i(cluster, user, group, verb, resource, namespace):
                problems.append(f"allowed {verb} {resource} in {namespace}")
    for verb, resource in CLUSTER_WRITES:
        if can_i(cluster, user, group, verb, resource, None):
            problems.append(f"allowed cluster-wide {verb} {resource}")
    assert problems == [], problems


def _fixture(path: Path, namespace: str) -> dict[str, Any]:
    pod: dict[str, Any] = yaml.safe_load(path.read_text())
    # Keep the fixture's metadata: some checks read annotations (AppArmor's legacy ones).
    pod["metadata"] = {
        **(pod.get("metadata") or {}),
        "name": f"psa-{path.stem.replace('_', '-')}",
        "namespace": namespace,
    }
    return pod


def pod_security_verdicts(
    cluster: LocalCluster, namespace: str, user: str, group: str
) -> dict[str, dict[str, str]]:
    """Server dry-run of every conformance fixture in `namespace`: name -> stderr/ok."""
    verdicts: dict[str, dict[str, str]] = {"pass": {}, "fail": {}}
    for outcome in ("pass", "fail"):
        for path in sorted((CONFORMANCE / outcome).glob("*.yaml")):
            pod = _fixture(path, namespace)
            done = cluster.kubectl(
                "create", "--dry-run=server", "-f", "-",
                stdin=yaml.safe_dump(pod), as_user=user, as_groups=[group],
            )  # fmt: skip
            verdicts[outcome][path.name] = "admitted" if done.returncode == 0 else done.stderr
    return verdicts


def enforced_version(cluster: LocalCluster, namespace: str) -> tuple[int, int]:
    """The namespace's `pod-security.kubernetes.io/enforce-version` as (major, minor)."""
    label = cluster.kubectl(
        "get", "namespace", namespace,
        "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce-version}",
    ).stdout  # fmt: skip
    major, minor = label.removeprefix("v").split(".")[:2]
    return int(major), int(minor)


def assert_pod_security_enforced(cluster: LocalCluster, namespace: str, group: str) -> None:
    """Every `restricted` fail fixture is refused by Pod Security; every pass one admitted
    (but those only newer Pod Security versions admit, `PASS_FROM`)."""
    assert (CONFORMANCE / "fail").is_dir(), f"conformance fixtures not found at {CONFORMANCE}"
    verdicts = pod_security_verdicts(cluster, namespace, f"{namespace}-member", group)
    pinned = enforced_version(cluster, namespace)
    for name, (since, reason) in PASS_FROM.items():
        if pinned < since:
            verdict = verdicts["pass"].pop(name)
            assert "violates PodSecurity" in verdict and reason in verdict, (name, verdict)
    for name, (since, reason) in INVALID_BEFORE.items():
        if pinned < since:
            verdict = verdicts["fail"].pop(name)
            assert "is invalid" in verdict and reason in verdict, (name, verdict)
    wrongly_refused = {k: v for k, v in verdicts["pass"].items() if v != "admitted"}
    wrongly_admitted = [k for k, v in verdicts["fail"].items() if v == "admitted"]
    not_by_psa = {
        k: v
        for k, v in verdicts["fail"].items()
        if v != "admitted" and "violates PodSecurity" not in v
    }
    assert wrongly_refused == {}, wrongly_refused
    assert wrongly_admitted == [], wrongly_admitted
    assert not_by_psa == {}, not_by_psa
    named = ["privileged0.yaml", "hostpathvolumes0.yaml", "hostnamespaces0.yaml"]
    named.append("capabilities_baseline0.yaml")
    assert all(name in verdicts["fail"] for name in named)


def gpu_pod(
    name: str, resources: dict[str, str], *, tolerate_gpu_taint: bool = True
) -> dict[str, Any]:
    """A `restricted`-compliant pod requesting `resources` (GPUs or MIG slices)."""
    container_security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "cuda",
                "image": "nvcr.io/nvidia/cuda:12.9.0-base-ubuntu24.04",
                "resources": {"requests": dict(resources), "limits": dict(resources)},
                "securityContext": container_security,
            }
        ],
    }
    if tolerate_gpu_taint:
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
