"""`stacks/platform_gpu_network.install`: config -> components, under mocks."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.gpu import dpu_operator, network_operator, nim_operator
from components.mirrors import reset_stack_mirror_list
from stacks import platform_gpu_network
from stacks.config import TenantConfig
from stacks.platform_handle import ClusterHandle
from tests.support.mocks import RecordingMocks, run

from .test_config import GOOD_DPU, GOOD_NETWORK, GOOD_NIM, host, tenant


class _Cluster(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Cluster", name, None, None)
        self.register_outputs({})


def full_config() -> TenantConfig:
    return tenant(
        {
            "network": {**GOOD_NETWORK, "docaDriver": {"version": "doca3.4.0-test"}},
            "dpu": {
                **GOOD_DPU,
                "cluster": {
                    "keepalived": {"interface": "eno1", "vip": "10.0.0.5", "virtualRouterId": 7}
                },
            },
            "nim": {**GOOD_NIM, "storageClass": "nfs", "httpProxy": "http://proxy:3128"},
        },
        hosts=[host("gpu-0", dpu=True), host("gpu-1", dpu=True)],
    )


def install(config: TenantConfig) -> tuple[RecordingMocks, dict[str, Any]]:
    reset_stack_mirror_list()
    mocks = RecordingMocks()

    def program() -> dict[str, Any]:
        handle = ClusterHandle(
            name="acme",
            provider=k8s.Provider("tenant", kubeconfig="fake"),
            parent=_Cluster("acme"),
            kubernetes_version="1.34.2",
        )
        return platform_gpu_network.install(handle, config)

    outputs = run(program, mocks)
    return mocks, {key: value.value for key, value in outputs.items()}


def test_args_from_config():
    config = full_config()
    assert platform_gpu_network.rail_networks(config.gpu.network) == (
        network_operator.RailNetwork("0", "macvlan", ("ens1f0np0",), "10.10.0.0/16"),
        network_operator.RailNetwork("1", "macvlan", ("ens1f0np0",), "10.11.0.0/16"),
    )
    assert platform_gpu_network.nim_models(config.gpu.nim) == (
        nim_operator.NimModel("llama", "nvcr.io/nim/meta/llama-3.1-8b-instruct", "1.3.3"),
    )


def test_install_creates_enabled_components():
    mocks, outputs = install(full_config())
    assert set(outputs) == {"networkOperator", "dpu", "nim"}

    cluster = mocks.one("test:index:Cluster", "acme")
    provider = mocks.one("pulumi:providers:kubernetes", "tenant")
    components = {
        network_operator.TYPE: "acme-network-operator",
        dpu_operator.TYPE: "acme-dpu-operator",
        nim_operator.TYPE: "acme-nim-operator",
    }
    for type_, name in components.items():
        assert mocks.one(type_, name).parent == cluster.urn
    kubernetes = [r for r in mocks.resources if r.type.startswith("kubernetes:")]
    assert kubernetes and all(r.provider_urn == provider.urn for r in kubernetes)

    policy = mocks.one(
        "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy",
        "acme-network-operator-nic-cluster-policy",
    )
    assert policy.inputs["spec"]["ofedDriver"]["version"] == "doca3.4.0-test"
    dpu_cluster = mocks.one(
        "kubernetes:provisioning.dpu.nvidia.com/v1alpha1:DPUCluster",
        "acme-dpu-operator-dpu-cluster",
    ).inputs["spec"]
    assert dpu_cluster["maxNodes"] == 2  # the two DPU hosts
    assert dpu_cluster["clusterEndpoint"]["keepalived"]["virtualRouterID"] == 7
    cache = mocks.one(
        "kubernetes:apps.nvidia.com/v1alpha1:NIMCache", "acme-nim-operator-llama-cache"
    ).inputs["spec"]
    assert cache["storage"]["pvc"]["storageClass"] == "nfs"
    assert cache["proxy"]["httpProxy"] == "http://proxy:3128"
    assert mocks.leaks("nvapi-do-not-print") == []

    assert outputs["networkOperator"]["rdmaResources"] == {
        "rail-0": "rdma/rail-0",
        "rail-1": "rdma/rail-1",
    }
    assert outputs["dpu"]["dpuCluster"] == "acme-dpu-operator-dpu-cluster"
    assert outputs["nim"]["endpoints"] == {"llama": "http://llama.nim.svc.cluster.local:8000"}


def test_install_with_everything_disabled_creates_nothing():
    mocks, outputs = install(tenant({}))
    assert outputs == {}
    assert [r for r in mocks.resources if r.type.startswith("kubernetes:")] == []


def test_install_refuses_missing_required_values():
    """Rules report these first; install still fails loudly rather than half-deploying."""
    config = tenant({"nim": {"enabled": True, "models": []}})
    with pytest.raises(ValueError, match="ngcApiKey"):
        platform_gpu_network.nim_operator_args(config, None, None)  # type: ignore[arg-type]
    config = tenant({"dpu": {"enabled": True}}, hosts=[host("h", dpu=True)])
    with pytest.raises(ValueError, match="bfbUrl"):
        platform_gpu_network.dpu_operator_args(config, None, None)  # type: ignore[arg-type]
