"""Our ClusterPolicies, run by the real Kyverno engine (the Kyverno CLI).

Schema tests prove the policies are well-formed; this proves they do what the
isolation promise says: in a tenant namespace a privileged, host-network, host-PID,
host-IPC or hostPath pod, an image from an unlisted registry and a NodePort
service are refused, a restricted pod from an allowed registry is admitted, and
the platform namespaces that need host access keep it.

The CLI is built by `make setup-test` (scripts/toolchain/kyverno). The image-signature
policy needs the registry to fetch signatures, so it is covered by the schema
tests only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.isolation.kyverno import API_VERSION, KIND, render_cluster_policies
from stacks.config import load_stack_file
from stacks.config.tenant import TenantConfig
from stacks.platform_isolation import kyverno_args

ROOT = Path(__file__).resolve().parents[3]
SIGNATURE_POLICY = "gpu-caas-verify-nvidia-images"

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


def _kyverno() -> str:
    path = shutil.which("kubectl-kyverno")
    assert path is not None, (
        "kubectl-kyverno is not on PATH: run the tests through `make test` "
        "(`make setup-test` builds it; `. scripts/env.sh` puts it on PATH)"
    )
    return path


def _write_policies(config: TenantConfig, directory: Path) -> list[str]:
    handle = types.SimpleNamespace(provider=None, network_ready=())
    specs = render_cluster_policies(kyverno_args(handle, config))  # type: ignore[arg-type]
    written = []
    for name, spec in specs.items():
        if name == SIGNATURE_POLICY:
            continue
        manifest = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name},
            "spec": spec,
        }
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(manifest))
        written.append(name)
    return written


def _verdicts(
    config: TenantConfig, resources: list[dict[str, Any]], tmp_path: Path
) -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, name) -> {policy/rule: result} as Kyverno reports them."""
    policies, resource_dir = tmp_path / "policies", tmp_path / "resources"
    policies.mkdir()
    resource_dir.mkdir()
    assert len(_write_policies(config, policies)) == 4
    (resource_dir / "resources.yaml").write_text(yaml.safe_dump_all(resources))
    proc = subprocess.run(
        [
            _kyverno(),
            "apply",
            str(policies),
            "--resource",
            str(resource_dir),
            "--policy-report",
            "--output-format",
            "json",
            "--remove-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit code 1 means "some resource failed a policy", which the cases expect.
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    verdicts: dict[tuple[str, str], dict[str, str]] = {}
    for result in report.get("results", []):
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
