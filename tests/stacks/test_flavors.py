"""Each flavor under mocks: the tenant cluster, the platform seam and the stack outputs."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pulumi
import pytest

import stacks
from components.cluster import TenantCluster
from stacks import deployed, isv_managed, ncp_managed, tenant_managed
from stacks.config import TenantConfig, parse_tenant
from stacks.platform_handle import ClusterHandle
from tests.components.cluster.helpers import TENANT_KUBECONFIG, command_outputs
from tests.stacks.samples import ISV_KUBECONFIG, SECRETS, sample
from tests.support.mocks import RecordingMocks, run

PLATFORM = ("platform_services", "platform_isolation", "platform_gpu", "platform_services")
"""Modules of the platform steps, in the order `stacks.platform.install` runs them."""
STEPS = (
    ("platform_services", "install_network", "network_ready"),
    ("platform_isolation", "install", "tenant_ready"),
    ("platform_gpu", "install", "gpu_ready"),
    ("platform_services", "install", None),
)
"""(module, function, the `ClusterHandle` field the step fills in, if any)."""


@pytest.fixture
def platform_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[str, ClusterHandle, TenantConfig]]:
    """Replace the platform steps with recorders (their own tests cover them).

    A step that fills in a `*_ready` field returns the handle with a marker resource
    there, so the test sees each later step receive it.
    """
    calls: list[tuple[str, ClusterHandle, TenantConfig]] = []
    for module, function, ready in STEPS:

        def step(
            handle: ClusterHandle,
            config: TenantConfig,
            _m: str = module,
            _f: str = function,
            _ready: str | None = ready,
        ) -> Any:
            calls.append((_m, handle, config))
            outputs = {f"{_m}.{_f}Summary": pulumi.Output.from_input(_m)}
            if _ready is None:
                return outputs
            marker: tuple[pulumi.Resource, ...] = (
                pulumi.ComponentResource("test:marker:Ready", f"{_m}-{_ready}"),
            )
            fields: dict[str, Any] = {_ready: marker}
            return replace(handle, **fields), outputs

        monkeypatch.setattr(f"stacks.{module}.{function}", step)
    return calls


def _deploy(config: TenantConfig, mocks: RecordingMocks) -> dict[str, Any]:
    captured: dict[str, Any] = {}

    def program() -> dict[str, Any]:
        captured.update(stacks.deploy(config))
        return captured

    resolved = run(program, mocks)
    return {"raw": captured, "resolved": resolved}


@pytest.mark.parametrize("flavor", ["tenant-managed", "ncp-managed", "isv-managed"])
def test_flavor_wires_the_cluster_handle_into_every_platform_module(
    flavor: str, platform_calls: list[tuple[str, ClusterHandle, TenantConfig]]
) -> None:
    config = parse_tenant(sample(flavor))
    mocks = RecordingMocks(command_outputs)
    result = _deploy(config, mocks)
    assert [m for m, _, _ in platform_calls] == list(PLATFORM)
    cluster = mocks.one("gpu-caas:cluster:TenantCluster", "acme")
    provider = mocks.one("pulumi:providers:kubernetes", "acme-k8s")
    for _, handle, seen in platform_calls:
        assert seen is config
        assert handle.name == "acme"
        assert handle.kubernetes_version == config.kubernetes.version
        assert isinstance(handle.parent, TenantCluster)
        assert handle.provider is handle.parent.provider
    # Each step gets what the earlier steps made ready, and only that.
    ready = [
        tuple(bool(getattr(h, f)) for f in ("network_ready", "tenant_ready", "gpu_ready"))
        for _, h, _ in platform_calls
    ]
    assert ready == [
        (False, False, False),
        (True, False, False),
        (True, True, False),
        (True, True, True),
    ]
    assert provider.parent == cluster.urn
    outputs = result["resolved"]
    assert set(outputs) == {
        "kubeconfig",
        "apiEndpoint",
        "kubernetesVersion",
        "flavor",
        "nodeGroups",
        "summary",
        "deployed",
        "mirrorList",
        "platform_services.install_networkSummary",
        "platform_isolation.installSummary",
        "platform_gpu.installSummary",
        "platform_services.installSummary",
    }
    assert outputs["kubeconfig"].secret
    assert outputs["flavor"].value == flavor
    assert outputs["kubernetesVersion"].value == config.kubernetes.version
    # The platform steps are stubbed: nothing recorded, so the digest of an empty list.
    assert outputs["mirrorList"].value == {
        "charts": 0,
        "images": 0,
        "sha256": hashlib.sha256(b'{"charts":[],"images":[]}').hexdigest(),
        "fullList": "python -m stacks mirror-list Pulumi.test.yaml",
    }
    assert set(outputs["summary"].value) == {"nodeGroups", "teams"}
    for secret in SECRETS:
        assert mocks.leaks(secret) == [], secret


NOW = datetime(2026, 11, 30, 19, 42, tzinfo=UTC)
WINDOW = "window 2026-11-30T19:00Z"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Join tokens are renewed per UTC hour: pin the clock."""
    monkeypatch.setattr(deployed, "utc_now", lambda: NOW)


def test_tenant_managed_resources(platform_calls: list[Any]) -> None:
    mocks = RecordingMocks(command_outputs)
    result = _deploy(parse_tenant(sample("tenant-managed")), mocks)
    assert sorted(mocks.names("command:remote:Command")) == [
        "acme-control-plane-init",
        "acme-control-plane-join-token",
        "acme-control-plane-upgrade-cp-0",
        "acme-inference-join-gpu-1",
        "acme-inference-upgrade-gpu-1",
        "acme-train-join-gpu-0",
        "acme-train-upgrade-gpu-0",
    ]
    # Drains and Node steps run locally with the admin kubeconfig, never on a host.
    assert sorted(n for n in mocks.names("command:local:Command") if "-drain-" in n) == [
        "acme-control-plane-drain-cp-0",
        "acme-inference-drain-gpu-1",
        "acme-train-drain-gpu-0",
    ]
    nodes = result["resolved"]["nodeGroups"].value
    assert nodes["inference"]["nodes"] == ["gpu-1"]
    assert nodes["inference"]["labels"]["nvidia.com/mig.config"] == "gpu-caas-inference"
    # Non-HA kubeadm: the first control-plane host's address, known from the config
    # (the mocked kubeconfig says api.acme.example; the config decides).
    assert result["resolved"]["apiEndpoint"].value == "https://10.0.0.10:6443"
    assert result["resolved"]["apiEndpoint"].known
    # A first deployment: every host still to join, a token of this hour's window.
    token = mocks.one("command:remote:Command", "acme-control-plane-join-token")
    assert token.inputs["triggers"] == ["cp-0", "gpu-0", "gpu-1", WINDOW]
    # The record lists the hosts whose init/join exists after the update.
    assert result["resolved"]["deployed"].value["joinedHosts"] == ["cp-0", "gpu-0", "gpu-1"]


def _record_of(config: TenantConfig, joined: list[str] | None) -> dict[str, Any]:
    record = deployed.deployed_output(config, {})
    if joined is not None:
        record["joinedHosts"] = joined
    return {"organization/gpu-caas/test": {"deployed": record}}


@pytest.mark.parametrize(
    ("joined", "triggers"),
    [
        # gpu-1's join failed in the last update: a fresh token for it alone.
        (["cp-0", "gpu-0"], ["gpu-1", WINDOW]),
        # Everyone joined: the hosts (ignored against the state: no new token).
        (["cp-0", "gpu-0", "gpu-1"], ["cp-0", "gpu-0", "gpu-1"]),
        # A record from before `joinedHosts`: nobody known to have joined, so the first
        # update after upgrading gpu-caas mints a token once.
        (None, ["cp-0", "gpu-0", "gpu-1", WINDOW]),
    ],
)
def test_join_token_follows_the_recorded_joins(
    platform_calls: list[Any], joined: list[str] | None, triggers: list[str]
) -> None:
    config = parse_tenant(sample("tenant-managed"))
    mocks = RecordingMocks(command_outputs, stack_references=_record_of(config, joined))
    _deploy(config, mocks)
    token = mocks.one("command:remote:Command", "acme-control-plane-join-token")
    assert token.inputs["triggers"] == triggers


def test_an_ignored_record_renews_the_token_every_window(
    platform_calls: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_tenant(sample("tenant-managed"))
    monkeypatch.setenv("GPU_CAAS_IGNORE_DEPLOYED_RECORD", "1")
    record = _record_of(config, ["cp-0", "gpu-0", "gpu-1"])
    mocks = RecordingMocks(command_outputs, stack_references=record)
    _deploy(config, mocks)
    token = mocks.one("command:remote:Command", "acme-control-plane-join-token")
    assert token.inputs["triggers"] == ["cp-0", "gpu-0", "gpu-1", WINDOW]


def _two_host_train_group() -> TenantConfig:
    raw = sample("tenant-managed")
    raw["hosts"].append(
        {**raw["hosts"][1], "name": "gpu-2", "address": "10.0.1.12", "topology": {"rack": "r1"}}
    )
    raw["nodeGroups"][0]["hosts"] = ["gpu-0", "gpu-2"]
    raw["teams"][0]["gpuQuota"] = 16
    return parse_tenant(raw)


@pytest.mark.parametrize(
    ("record", "ignored"),
    [("none", False), ("record", False), ("legacy", False), ("none", True)],
)
def test_workers_wait_for_their_turn_from_the_first_bring_up_on(
    platform_calls: list[Any], monkeypatch: pytest.MonkeyPatch, record: str, ignored: bool
) -> None:
    """Also a stack without outputs keeps the rollout order: gpu-caas cannot tell a new
    cluster from a stack created again over hosts that run one (their init and join
    steps find the cluster and carry on), so a version that differs from the hosts'
    must never drain them all at once."""
    config = _two_host_train_group()
    if ignored:
        monkeypatch.setenv("GPU_CAAS_IGNORE_DEPLOYED_RECORD", "1")
    references = {
        "none": {},
        "record": _record_of(config, ["cp-0", "gpu-0", "gpu-1", "gpu-2"]),
        "legacy": {"organization/gpu-caas/test": {"kubeconfig": "apiVersion: v1"}},
    }[record]
    mocks = RecordingMocks(command_outputs, stack_references=references)
    _deploy(config, mocks)
    drain = mocks.one("command:local:Command", "acme-train-drain-gpu-2")
    waits = {mocks.by_urn(urn).name for urn in drain.dependencies}
    assert {"acme-train-node-gpu-0", "acme-train-join-gpu-2"} <= waits


def test_mirrored_registries_are_configured_on_every_host_before_kubeadm(
    platform_calls: list[Any],
) -> None:
    raw = sample("tenant-managed")
    raw["mirrors"] = {"imageRegistries": {"nvcr.io": "harbor.acme.example/nvcr"}}
    mocks = RecordingMocks(command_outputs)
    _deploy(parse_tenant(raw), mocks)
    commands = {c.name: c for c in mocks.of_type("command:remote:Command")}
    for kubeadm_step, host in (
        ("acme-control-plane-init", "cp-0"),
        ("acme-train-join-gpu-0", "gpu-0"),
        ("acme-inference-join-gpu-1", "gpu-1"),
    ):
        mirror_name = next(n for n in commands if n.endswith(f"-registry-mirrors-{host}"))
        mirror = commands[mirror_name]
        assert "/etc/containerd/certs.d/nvcr.io/hosts.toml" in mirror.inputs["create"]
        assert "https://harbor.acme.example/v2/nvcr" in mirror.inputs["create"]
        assert "rm -f '/etc/containerd/certs.d/nvcr.io/hosts.toml'" in mirror.inputs["delete"]
        assert mirror.urn in commands[kubeadm_step].dependencies, kubeadm_step


def test_no_mirror_commands_without_mirrors(platform_calls: list[Any]) -> None:
    mocks = RecordingMocks(command_outputs)
    _deploy(parse_tenant(sample("tenant-managed")), mocks)
    assert not [n for n in mocks.names("command:remote:Command") if "registry-mirrors" in n]


def test_ncp_managed_resources(platform_calls: list[Any]) -> None:
    mocks = RecordingMocks(command_outputs)
    result = _deploy(parse_tenant(sample("ncp-managed")), mocks)
    tcp = mocks.one(
        "kubernetes:kamaji.clastix.io/v1alpha1:TenantControlPlane", "acme-control-plane-tcp"
    )
    assert tcp.inputs["spec"]["kubernetes"]["version"] == "v1.34.0"
    assert tcp.inputs["spec"]["controlPlane"]["deployment"]["replicas"] == 3
    assert sorted(mocks.names("command:remote:Command")) == [
        "acme-join-token",
        "acme-system-join-sys-0",
        "acme-system-upgrade-sys-0",
        "acme-train-join-gpu-0",
        "acme-train-upgrade-gpu-0",
    ]
    # Workers upgrade only once Kamaji reports the new version.
    upgraded = mocks.one("command:local:Command", "acme-control-plane-upgraded")
    assert upgraded.inputs["triggers"] == ["1.34.0"]
    # The platform's controllers run on the CPU node group: Kamaji's konnectivity agent
    # tolerates its default taint and the GPU taint (it must reach every node).
    agent = tcp.inputs["spec"]["addons"]["konnectivity"]["agent"]
    assert agent["tolerations"] == [
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
    burst = result["resolved"]["nodeGroups"].value["burst"]
    assert burst == {
        "nodes": [],
        "labels": {
            "gpu-caas.io/node-group": "burst",
            "gpu-caas.io/tenant": "acme",
            "nvidia.com/device-plugin.config": "gpu-caas-burst",
            "nvidia.com/gpu.product": "NVIDIA-H200",
            "nvidia.com/mig.config": "all-disabled",
        },
    }


def test_isv_managed_from_a_stack_reference(platform_calls: list[Any]) -> None:
    data = sample("isv-managed")
    data["controlPlane"]["external"] = {
        "stackReference": {"name": "isv/platform/prod", "output": "tenantKubeconfig"}
    }
    mocks = RecordingMocks(
        command_outputs,
        stack_references={"isv/platform/prod": {"tenantKubeconfig": ISV_KUBECONFIG}},
    )
    result = _deploy(parse_tenant(data), mocks)
    ref = mocks.one("pulumi:pulumi:StackReference", "acme-isv-stack")
    assert ref.inputs["name"] == "isv/platform/prod"
    ready = mocks.one("command:local:Command", "acme-control-plane-readyz")
    assert ready.is_secret("environment.KUBECONFIG_DATA")
    assert ready.inputs["environment"]["KUBECONFIG_DATA"] == ISV_KUBECONFIG
    assert result["resolved"]["kubeconfig"].secret
    assert result["resolved"]["apiEndpoint"].value == "https://isv.example:6443"


@pytest.mark.parametrize(
    ("module", "flavor"),
    [
        (ncp_managed, "isv-managed"),
        (isv_managed, "tenant-managed"),
        (tenant_managed, "ncp-managed"),
    ],
)
def test_flavor_modules_refuse_other_flavors(module: Any, flavor: str) -> None:
    with pytest.raises(ValueError, match="cannot deploy flavor"):
        module.deploy(parse_tenant(sample(flavor)))


@pytest.mark.parametrize("flavor", ["tenant-managed", "ncp-managed", "isv-managed"])
def test_with_the_real_platform_every_kubernetes_resource_uses_an_explicit_provider(
    flavor: str,
) -> None:
    """Integration with the platform modules: no resource falls back to a default provider."""
    mocks = RecordingMocks(command_outputs)
    _deploy(parse_tenant(sample(flavor)), mocks)
    tenant = mocks.one("pulumi:providers:kubernetes", "acme-k8s").urn
    for resource in mocks.resources:
        if resource.custom and not resource.type.startswith(
            ("pulumi:providers:", "pulumi:pulumi:")
        ):
            assert resource.provider, f"{resource.type} {resource.name} uses a default provider"
        if resource.type.startswith("kubernetes:") and "control-plane" not in resource.name:
            assert resource.provider_urn == tenant, f"{resource.type} {resource.name}"


def test_kubeconfig_stays_secret_through_the_stack(platform_calls: list[Any]) -> None:
    mocks = RecordingMocks(command_outputs)
    result = _deploy(parse_tenant(sample("tenant-managed")), mocks)
    assert result["resolved"]["kubeconfig"].value == TENANT_KUBECONFIG
    assert result["resolved"]["kubeconfig"].secret


def test_mirrors_helper_carries_every_mirror_setting() -> None:
    from stacks.compose import mirrors

    data = sample("tenant-managed")
    data["mirrors"] = {
        "chartRepositories": {"https://helm.ngc.nvidia.com/nvidia": "oci://m.example/nvidia"},
        "defaultChartRepository": "https://charts.m.example",
        "imageRegistries": {"nvcr.io": "m.example/nvcr"},
    }
    result = mirrors(parse_tenant(data))
    assert result.chart_repositories == {
        "https://helm.ngc.nvidia.com/nvidia": "oci://m.example/nvidia"
    }
    assert result.default_chart_repository == "https://charts.m.example"
    assert result.image_registries == {"nvcr.io": "m.example/nvcr"}


def test_every_platform_release_uses_the_default_chart_mirror() -> None:
    """One mirrors helper (`compose.mirrors`) for every platform module: the default
    chart mirror reaches the GPU, services and isolation releases alike."""
    data = sample("tenant-managed")
    data["mirrors"] = {"defaultChartRepository": "https://charts.m.example/all"}
    mocks = RecordingMocks(command_outputs)
    _deploy(parse_tenant(data), mocks)
    releases = mocks.of_type("kubernetes:helm.sh/v3:Release")
    charts = {r.inputs["chart"] for r in releases}
    # One release from each platform module at least.
    assert {"gpu-operator", "cilium", "kyverno"} <= charts, charts
    for release in releases:
        assert release.inputs["repositoryOpts"]["repo"] == "https://charts.m.example/all", (
            release.name
        )


def test_a_failed_host_never_holds_a_token_back(platform_calls: list[Any]) -> None:
    # gpu-1 failed: it joined before and never joins again, so it is never pending.
    raw = sample("tenant-managed")
    next(h for h in raw["hosts"] if h["name"] == "gpu-1")["state"] = "failed"
    config = parse_tenant(raw)
    for record, triggers in (
        (None, ["cp-0", "gpu-0", WINDOW]),
        (_record_of(config, ["cp-0", "gpu-0"]), ["cp-0", "gpu-0"]),
    ):
        mocks = RecordingMocks(command_outputs, stack_references=record)
        _deploy(config, mocks)
        token = mocks.one("command:remote:Command", "acme-control-plane-join-token")
        assert token.inputs["triggers"] == triggers


@pytest.mark.parametrize(
    ("joined", "triggers"),
    [
        (None, ["gpu-0", "sys-0", WINDOW]),  # first deployment
        (["sys-0"], ["gpu-0", WINDOW]),  # gpu-0's join failed last time
        (["gpu-0", "sys-0"], ["gpu-0", "sys-0"]),  # everyone joined: ignored
    ],
)
def test_hosted_backend_renews_the_worker_token_the_same_way(
    platform_calls: list[Any], joined: list[str] | None, triggers: list[str]
) -> None:
    config = parse_tenant(sample("ncp-managed"))
    record = _record_of(config, joined) if joined is not None else None
    mocks = RecordingMocks(command_outputs, stack_references=record)
    _deploy(config, mocks)
    token = mocks.one("command:remote:Command", "acme-join-token")
    assert token.inputs["triggers"] == triggers
