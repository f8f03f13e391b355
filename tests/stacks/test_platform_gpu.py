"""stacks/platform_gpu.py: config -> component Args, and what `install` creates."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import mirrors
from components.gpu.gpu_operator import Sharing
from stacks import compose, platform_gpu
from stacks.config import TenantConfig
from stacks.platform_handle import ClusterHandle
from tests.support.mocks import RecordingMocks, run

NODE_CLASS = {"group": "karpenter.example", "kind": "NodeClass", "name": "gpu"}


def _group(
    name: str, model: str | None = None, sharing: dict[str, Any] | None = None
) -> dict[str, Any]:
    group: dict[str, Any]
    group = {"name": name, "autoscale": {"maxNodes": 2, "nodeClass": NODE_CLASS}}
    if model:
        group["autoscale"]["gpu"] = {"model": model, "count": 8}
    if sharing:
        group["sharing"] = sharing
    return group


TENANT: dict[str, Any] = {
    "name": "acme",
    "flavor": "ncp-managed",
    "kubernetes": {"version": "1.34.2"},
    "mirrors": {
        "chartRepositories": {
            "https://helm.ngc.nvidia.com/nvidia": "oci://mirror.ncp.internal/ngc"
        },
        "imageRegistries": {"nvcr.io": "mirror.ncp.internal/nvcr"},
    },
    "nodeGroups": [
        _group("system"),
        _group("train", "H100-80GB"),
        _group("infer", "A100-80GB", {"mode": "time-slicing", "timeSlicing": {"replicas": 4}}),
        _group("mps", "H200-141GB", {"mode": "mps", "mps": {"replicas": 8}}),
        _group("mig", "H100-80GB", {"mode": "mig", "mig": {"layout": {"1g.10gb": 7}}}),
        _group("gb200", "GB200-186GB"),
    ],
    "gpu": {
        "operator": {"driver": {"kernelModuleType": "open"}, "toolkit": {"version": "v1.20.0"}},
        "dra": {
            "enabled": True,
            "computeDomains": True,
            "domains": [{"name": "nvl72", "namespace": "team-a", "nodeGroup": "gb200"}],
        },
        "network": {"enabled": True, "docaDriver": {"enabled": False}},
    },
}


def _config(**overrides: Any) -> TenantConfig:
    raw = {**TENANT, **overrides}
    return TenantConfig.model_validate(raw)


class TestSettings:
    def test_node_groups(self):
        groups = {g.name: g for g in platform_gpu.node_group_gpus(_config())}
        assert groups["system"].gpu_model is None
        assert groups["train"].sharing == Sharing()
        assert groups["infer"].sharing == Sharing("time-slicing", 4, rename_by_default=True)
        assert groups["mps"].sharing == Sharing("mps", 8, rename_by_default=True)
        assert groups["mig"].mig_layout == {"1g.10gb": 7}
        assert groups["mig"].sharing.mode == "exclusive"

    def test_gpu_operator_settings(self):
        settings = platform_gpu.gpu_operator_settings(_config())
        assert settings.chart.version == "v26.7.0"
        assert settings.driver.kernel_module_type == "open"
        assert settings.driver.version == "595.91.07"
        # GPUDirect RDMA with the host's DOCA-OFED (the Network Operator does not ship it).
        assert settings.driver.rdma and settings.driver.use_host_mofed
        assert settings.toolkit_version == "v1.20.0"

    @pytest.mark.parametrize(
        ("prometheus", "enabled", "labels"),
        [
            ({"mode": "stack"}, True, {}),
            ({"mode": "off"}, False, {}),
            ({"mode": "external", "monitorLabels": {"prometheus": "c"}}, True, {"prometheus": "c"}),
        ],
    )
    def test_the_dcgm_service_monitor_follows_the_prometheus_mode(
        self, prometheus, enabled, labels
    ):
        config = _config(services={"observability": {"prometheus": prometheus}})
        settings = platform_gpu.gpu_operator_settings(config)
        assert settings.service_monitor is enabled
        assert dict(settings.service_monitor_labels) == labels

    def test_operator_version_override_keeps_the_chart_source(self):
        gpu = {**TENANT["gpu"], "operator": {"version": "v26.3.1"}}
        settings = platform_gpu.gpu_operator_settings(_config(gpu=gpu))
        assert (settings.chart.chart, settings.chart.version) == ("gpu-operator", "v26.3.1")

    def test_dra_settings_follow_the_backend(self):
        settings = platform_gpu.dra_driver_settings(_config())
        assert settings.control_plane_nodes is False  # hosted (Kamaji): no control-plane nodes
        assert settings.driver_root == "/run/nvidia/driver"
        assert [(d.name, d.namespace) for d in settings.domains] == [("nvl72", "team-a")]

    def test_mirrors(self):
        # One helper for every platform module (stacks.compose.mirrors); no local copies.
        assert not hasattr(platform_gpu, "mirrors_from_config")
        m = compose.mirrors(_config())
        assert m.image_registry("nvcr.io/nvidia") == "mirror.ncp.internal/nvcr/nvidia"


class _Cluster(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("gpu-caas:cluster:TenantCluster", name)
        self.register_outputs({})


def _install(
    config: TenantConfig, mocks: RecordingMocks, handles: list[ClusterHandle] | None = None
) -> dict[str, Any]:
    """Run `platform_gpu.install` after stand-ins for the CNI release and the tenant
    namespaces (`network_ready`, `tenant_ready`); collect the handle it returns."""
    mirrors.reset_stack_mirror_list()
    keys: list[str] = []

    def program() -> dict[str, Any]:
        cluster = _Cluster("acme")
        provider = k8s.Provider(
            "acme-provider", kubeconfig="{}", opts=pulumi.ResourceOptions(parent=cluster)
        )
        on_cluster = pulumi.ResourceOptions(parent=cluster, provider=provider)
        handle = ClusterHandle(
            "acme",
            provider,
            cluster,
            "1.34.2",
            network_ready=(k8s.core.v1.ConfigMap("acme-cni-stand-in", opts=on_cluster),),
            tenant_ready=(k8s.core.v1.ConfigMap("acme-namespaces-stand-in", opts=on_cluster),),
        )
        after, outputs = platform_gpu.install(handle, config)
        if handles is not None:
            handles.append(after)
        keys.extend(outputs)
        return outputs

    result = run(program, mocks)
    assert set(result) == set(keys)
    return {key: resolved.value for key, resolved in result.items()}


def test_install_creates_the_gpu_components():
    mocks = RecordingMocks()
    outputs = _install(_config(), mocks)
    # networkOperator comes from stacks/platform_gpu_network.py (gpu.network.enabled).
    assert set(outputs) == {"gpuOperator", "draDriver", "networkOperator"}
    cluster = mocks.one("gpu-caas:cluster:TenantCluster", "acme")
    provider = mocks.one("pulumi:providers:kubernetes", "acme-provider")
    gpu_operator = mocks.one("gpu-caas:gpu:GpuOperator", "acme-gpu-operator")
    dra = mocks.one("gpu-caas:gpu:DraDriver", "acme-dra-driver")
    network = mocks.one("gpu-caas:gpu:NetworkOperator", "acme-network-operator")
    for component in (gpu_operator, dra, network):
        assert component.parent == cluster.urn
    # Every release waits for the CNI; the DRA driver and the Network Operator also for
    # the GPU Operator's release.
    cni = mocks.one("kubernetes:core/v1:ConfigMap", "acme-cni-stand-in")
    gpu_release = mocks.one("kubernetes:helm.sh/v3:Release", "acme-gpu-operator-release")
    assert cni.urn in gpu_release.dependencies
    for component in (dra, network):
        releases = [
            r for r in mocks.of_type("kubernetes:helm.sh/v3:Release") if r.parent == component.urn
        ]
        assert releases, component.name
        assert all(gpu_release.urn in r.dependencies for r in releases), component.name
        assert all(cni.urn in r.dependencies for r in releases), component.name
    # ComputeDomains live in tenant namespaces: they wait for them (and so for Kyverno).
    namespaces = mocks.one("kubernetes:core/v1:ConfigMap", "acme-namespaces-stand-in")
    domain = mocks.one(
        "kubernetes:resource.nvidia.com/v1beta1:ComputeDomain", "acme-dra-driver-cd-team-a-nvl72"
    )
    dra_release = mocks.one("kubernetes:helm.sh/v3:Release", "acme-dra-driver-release")
    assert {namespaces.urn, dra_release.urn} <= set(domain.dependencies)
    # ...but no platform operator waits for the tenant namespaces (or Kyverno).
    for release in mocks.of_type("kubernetes:helm.sh/v3:Release"):
        assert namespaces.urn not in release.dependencies, release.name
    for r in mocks.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider_urn == provider.urn, r.name
    assert "acme-dra-driver-cd-team-a-nvl72" in mocks.names(
        "kubernetes:resource.nvidia.com/v1beta1:ComputeDomain"
    )
    assert outputs["gpuOperator"]["migLayouts"] == ["mig"]
    assert outputs["draDriver"]["computeDomains"] == ["team-a/nvl72"]
    charts = {c.chart: c for c in mirrors.stack_mirror_list().charts}
    assert charts["gpu-operator"].repository == "oci://mirror.ncp.internal/ngc"
    assert {"gpu-operator", "dra-driver-nvidia-gpu", "network-operator"} <= set(charts)


def test_disabled_platform_creates_nothing():
    mocks = RecordingMocks()
    handles: list[ClusterHandle] = []
    assert _install(_config(gpu={"enabled": False}), mocks, handles) == {}
    created = [r for r in mocks.resources if r.type.startswith(("kubernetes:", "gpu-caas:gpu"))]
    assert {r.name for r in created} == {"acme-cni-stand-in", "acme-namespaces-stand-in"}
    assert handles[0].gpu_ready == ()  # nothing for node health to wait for


def test_install_hands_the_gpu_operator_release_on():
    handles: list[ClusterHandle] = []
    _install(_config(), RecordingMocks(), handles)
    [after] = handles
    assert [type(r).__name__ for r in after.gpu_ready] == ["Release"]
    assert len(after.network_ready) == len(after.tenant_ready) == 1  # passed through
