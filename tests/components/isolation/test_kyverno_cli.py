"""Our ClusterPolicies, run by the real Kyverno engine (the Kyverno CLI).

Schema tests prove the policies are well-formed; this proves they do what the
isolation promise says: in a tenant namespace a privileged, host-network, host-PID,
host-IPC or hostPath pod, an image from an unlisted registry and a NodePort
service are refused, a restricted pod from an allowed registry is admitted, and
the platform namespaces that need host access keep it.

Soft-shared GPUs belong to one team: a pod of team A (whose namespaces own a
time-sliced node group) is mutated to tolerate the group's `gpu-caas.io/team=A` taint
and admitted; a pod of team B (or of any other non-platform namespace) that tolerates
it, by value, by `Exists` on the key or by a keyless `Exists`, is refused. Mutation
runs first, then validation on its output, as admission does.

The CLI is built by `make setup-test` (scripts/toolchain/kyverno). The image-signature
policy needs the registry to fetch signatures, so it is covered by the schema
tests only.
"""

from __future__ import annotations

import subprocess
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.isolation.kyverno import render_cluster_policies
from stacks.config import load_stack_file, parse_tenant
from stacks.config.tenant import TenantConfig
from stacks.platform_isolation import kyverno_args
from tests.stacks.samples import sample
from tests.support.kyverno_cli import kyverno, policy_results, write_policies

ROOT = Path(__file__).resolve().parents[3]
SIGNATURE_POLICY = "gpu-caas-verify-nvidia-images"
BASE_POLICIES = {
    "gpu-caas-pod-security",
    "gpu-caas-host-access",
    "gpu-caas-image-registries",
    "gpu-caas-no-nodeport",
}
"""The validate policies every tenant gets (the signature policy is left out, above)."""

pytestmark = pytest.mark.engine

RESTRICTED = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
}
SAFE_CONTAINER = {
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
}
IMAGE = "nvcr.io/nvidia/pytorch:25.01-py3"


def _pod(name: str, namespace: str, image: str = IMAGE, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": image, **SAFE_CONTAINER}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**RESTRICTED, "containers": [container], **spec},
    }


def _service(name: str, namespace: str, type_: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": type_, "ports": [{"port": 80}]},
    }


HOST_PATH: dict[str, Any] = {"volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}]}

# (resource, policy/rule -> expected verdict). Verdicts not listed must not be "fail".
CASES: list[tuple[dict[str, Any], dict[str, str]]] = [
    (_pod("restricted", "ml"), {}),
    (
        _pod("privileged", "ml", container={"securityContext": {"privileged": True}}),
        {
            "gpu-caas-pod-security/restricted": "fail",
            "gpu-caas-host-access/disallow-privileged": "fail",
        },
    ),
    (
        _pod("host-path", "ml", **HOST_PATH),
        {
            "gpu-caas-pod-security/restricted": "fail",
            "gpu-caas-host-access/disallow-hostpath": "fail",
        },
    ),
    (
        _pod("host-network", "ml", hostNetwork=True),
        {
            "gpu-caas-pod-security/restricted": "fail",
            "gpu-caas-host-access/disallow-hostnetwork": "fail",
        },
    ),
    (
        _pod("host-pid", "ml", hostPID=True),
        {
            "gpu-caas-pod-security/restricted": "fail",
            "gpu-caas-host-access/disallow-hostpid": "fail",
        },
    ),
    (
        _pod("host-ipc", "ml", hostIPC=True),
        {
            "gpu-caas-pod-security/restricted": "fail",
            "gpu-caas-host-access/disallow-hostipc": "fail",
        },
    ),
    (
        _pod(
            "added-capability",
            "ml",
            container={
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
                }
            },
        ),
        {"gpu-caas-pod-security/restricted": "fail"},
    ),
    (
        _pod("unlisted-registry", "ml", image="evil.example/miner:1"),
        {"gpu-caas-image-registries/allowed-registries": "fail"},
    ),
    (
        _pod("short-name", "ml", image="nginx:1.27"),
        {"gpu-caas-image-registries/allowed-registries": "fail"},
    ),
    (_service("node-port", "ml", "NodePort"), {"gpu-caas-no-nodeport/no-nodeport": "fail"}),
    (_service("cluster-ip", "ml", "ClusterIP"), {"gpu-caas-no-nodeport/no-nodeport": "pass"}),
    # The GPU Operator's namespace keeps the host access its driver and toolkit need.
    (
        _pod(
            "driver",
            "gpu-operator",
            container={"securityContext": {"privileged": True}},
            hostPID=True,
            **HOST_PATH,
        ),
        {},
    ),
    # A platform namespace without an exemption gets no host access either.
    (
        _pod(
            "privileged-scheduler",
            "kai-scheduler",
            container={"securityContext": {"privileged": True}},
        ),
        {"gpu-caas-host-access/disallow-privileged": "fail"},
    ),
]


def _write_policies(config: TenantConfig, directory: Path, *, mutate: bool = False) -> list[str]:
    """Write the config's validate policies, or with `mutate` its mutate policies."""
    handle = types.SimpleNamespace(provider=None, network_ready=())
    specs = render_cluster_policies(kyverno_args(handle, config))  # type: ignore[arg-type]
    chosen = {
        name: spec
        for name, spec in specs.items()
        if name != SIGNATURE_POLICY and any("mutate" in rule for rule in spec["rules"]) is mutate
    }
    return write_policies(chosen, directory)


def _verdicts(
    config: TenantConfig, resources: list[dict[str, Any]], tmp_path: Path
) -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, name) -> {policy/rule: result} as Kyverno reports them."""
    policies = tmp_path / "policies"
    policies.mkdir()
    assert set(_write_policies(config, policies)) >= BASE_POLICIES
    results = policy_results(policies, resources, tmp_path)
    verdicts: dict[tuple[str, str], dict[str, str]] = {}
    for result in results:
        for resource in result.get("resources", []):
            key = (resource.get("namespace", ""), resource["name"])
            verdicts.setdefault(key, {})[f"{result['policy']}/{result['rule']}"] = result["result"]
    return verdicts


@pytest.fixture(scope="module")
def dev_config() -> TenantConfig:
    return load_stack_file(ROOT / "Pulumi.dev.yaml")


def test_policies_enforce_the_isolation_promise(dev_config: TenantConfig, tmp_path: Path) -> None:
    assert "ml" in {ns for team in dev_config.teams for ns in team.effective_namespaces}
    verdicts = _verdicts(dev_config, [resource for resource, _ in CASES], tmp_path)
    for resource, expected in CASES:
        key = (resource["metadata"]["namespace"], resource["metadata"]["name"])
        got = verdicts.get(key, {})
        for rule, verdict in expected.items():
            assert got.get(rule) == verdict, f"{key} {rule}: expected {verdict}, got {got}"
        unexpected = {r: v for r, v in got.items() if v == "fail" and r not in expected}
        assert not unexpected, f"{key} failed rules it should pass: {unexpected}"


def test_mirrored_images_are_admitted_and_upstream_only_if_listed(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "Pulumi.gb200-baremetal.yaml").read_text())
    config = load_stack_file(ROOT / "Pulumi.gb200-baremetal.yaml")
    mirror = raw["config"]["gpu-caas:tenant"]["mirrors"]["imageRegistries"]["nvcr.io"]
    team_ns = next(iter(config.teams[0].effective_namespaces))
    resources = [
        _pod("from-mirror", team_ns, image=f"{mirror}/nvidia/pytorch:25.01-py3"),
        _pod("unlisted", team_ns, image="evil.example/miner:1"),
    ]
    verdicts = _verdicts(config, resources, tmp_path)
    rule = "gpu-caas-image-registries/allowed-registries"
    assert verdicts[(team_ns, "from-mirror")][rule] == "pass", verdicts
    assert verdicts[(team_ns, "unlisted")][rule] == "fail", verdicts


def _mutated(
    config: TenantConfig, resources: list[dict[str, Any]], tmp_path: Path
) -> list[dict[str, Any]]:
    """`resources` after the config's mutate policies, as the Kyverno CLI writes them."""
    policies, resource_dir, out = (tmp_path / d for d in ("mutate", "to-mutate", "mutated"))
    for directory in (policies, resource_dir, out):
        directory.mkdir()
    assert _write_policies(config, policies, mutate=True)
    (resource_dir / "resources.yaml").write_text(yaml.safe_dump_all(resources))
    proc = subprocess.run(
        [kyverno(), "apply", str(policies), "--resource", str(resource_dir), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    written = {}
    for path in out.glob("*.yaml"):
        # Each file holds the resource followed by `---` (an empty second document).
        *_, resource = (doc for doc in yaml.safe_load_all(path.read_text()) if doc)
        written[resource["metadata"]["name"]] = resource
    # One file per resource, named after it: the cases below have unique names.
    return [written[r["metadata"]["name"]] for r in resources]


TEAM_TAINT_KEY = "gpu-caas.io/team"
A_TOLERATION = {"key": TEAM_TAINT_KEY, "operator": "Equal", "value": "a", "effect": "NoSchedule"}


def _team_config() -> TenantConfig:
    """Teams `a` (namespaces a, a-eval) and `b`; a time-sliced group dedicated to `a`."""
    data = sample("tenant-managed")
    data["teams"] = [{"name": "a", "namespaces": ["a", "a-eval"]}, {"name": "b"}]
    data["nodeGroups"][1]["sharing"] = {"mode": "time-slicing", "timeSlicing": {"replicas": 4}}
    data["nodeGroups"][1]["team"] = "a"
    return parse_tenant(data)


# (pod, tolerations it must end with after mutation, whether a policy refuses it).
TEAM_CASES: list[tuple[dict[str, Any], list[dict[str, str]], bool]] = [
    # Team a's pods get the toleration without editing their spec, and are admitted.
    (_pod("a-plain", "a"), [A_TOLERATION], False),
    (_pod("a-eval-plain", "a-eval"), [A_TOLERATION], False),
    # ... alongside their own tolerations, and not twice.
    (
        _pod("a-gpu", "a", tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]),
        [{"key": "nvidia.com/gpu", "operator": "Exists"}, A_TOLERATION],
        False,
    ),
    (_pod("a-own", "a", tolerations=[A_TOLERATION]), [A_TOLERATION], False),
    # Team b: untouched, and refused whenever it tolerates team a's taint.
    (_pod("b-plain", "b"), [], False),
    (_pod("b-steals", "b", tolerations=[A_TOLERATION]), [A_TOLERATION], True),
    (
        _pod("b-exists", "b", tolerations=[{"key": TEAM_TAINT_KEY, "operator": "Exists"}]),
        [{"key": TEAM_TAINT_KEY, "operator": "Exists"}],
        True,
    ),
    (
        _pod("b-everything", "b", tolerations=[{"operator": "Exists"}]),
        [{"operator": "Exists"}],
        True,
    ),
    # Tolerating only NoExecute taints does not get a pod past a NoSchedule taint.
    (
        _pod("b-noexecute", "b", tolerations=[{"operator": "Exists", "effect": "NoExecute"}]),
        [{"operator": "Exists", "effect": "NoExecute"}],
        False,
    ),
    (
        _pod(
            "b-other-value",
            "b",
            tolerations=[{"key": TEAM_TAINT_KEY, "value": "b", "effect": "NoSchedule"}],
        ),
        [{"key": TEAM_TAINT_KEY, "value": "b", "effect": "NoSchedule"}],
        False,
    ),
    # Namespaces of no team are "another team" too.
    (_pod("stray", "scratch", tolerations=[A_TOLERATION]), [A_TOLERATION], True),
    # The GPU Operator's node agents run on every GPU node, the team's included.
    (
        _pod("device-plugin", "gpu-operator", tolerations=[{"operator": "Exists"}]),
        [{"operator": "Exists"}],
        False,
    ),
]


def test_only_the_owning_team_tolerates_its_soft_shared_gpus(tmp_path: Path) -> None:
    config = _team_config()
    pods = [pod for pod, _, _ in TEAM_CASES]
    mutated = _mutated(config, pods, tmp_path)
    for (pod, tolerations, _), after in zip(TEAM_CASES, mutated, strict=True):
        assert after["spec"].get("tolerations", []) == tolerations, pod["metadata"]["name"]
    verdicts = _verdicts(config, mutated, tmp_path)
    rule = "gpu-caas-team-nodes/a"
    for pod, _, refused in TEAM_CASES:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        got = verdicts.get(key, {})
        failed = {r for r, v in got.items() if v == "fail"}
        if refused:
            assert failed == {rule}, (key, got)
        else:
            assert rule not in failed, (key, got)
            # The platform namespace keeps its own exemptions (no team rule applies).
            assert not failed, (key, got)
