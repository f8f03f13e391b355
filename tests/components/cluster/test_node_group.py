"""`NodeGroup` under mocks: kubeadm joins with labels/taints, or declared autoscaling."""

from __future__ import annotations

import pulumi
import pytest
import yaml

from components.cluster import AutoscaleSpec, JoinParameters, NodeGroup, NodeGroupArgs, Taint
from components.cluster.node_group import group_labels, group_taints
from tests.components.cluster.helpers import (
    CA_HASH,
    SECRETS,
    TENANT_KUBECONFIG,
    TOKEN,
    command_outputs,
    host,
)
from tests.support.mocks import RecordingMocks, run

NG = "gpu-caas:cluster:NodeGroup"
REMOTE = "command:remote:Command"
PRODUCT = "NVIDIA-GB200"


def _args(**kw: object) -> NodeGroupArgs:
    defaults: dict[str, object] = {
        "cluster_name": "acme",
        "group_name": "nvl72",
        "kubernetes_version": "1.34.2",
        "gpu_product": PRODUCT,
    }
    defaults.update(kw)
    return NodeGroupArgs(**defaults)  # type: ignore[arg-type]


def _join() -> pulumi.Output[JoinParameters]:
    return pulumi.Output.secret(JoinParameters("api.acme.example:6443", TOKEN, CA_HASH))


def test_joins_every_host_with_its_labels_and_taints() -> None:
    mocks = RecordingMocks(command_outputs)

    def program():
        hosts = [
            host("gb200-a-00", "10.1.0.10", gpu_product=PRODUCT, nvlink_domain="nvl72-a", dpu=True),
            host(
                "gb200-a-01",
                "10.1.0.11",
                gpu_product=PRODUCT,
                nvlink_domain="nvl72-a",
                rails=("rail-0", "rail-1"),
            ),
        ]
        group = NodeGroup(
            "acme-nvl72",
            _args(
                hosts=hosts,
                join=_join(),
                kubeconfig=pulumi.Output.secret(TENANT_KUBECONFIG),
                mig_config="gpu-caas-nvl72",
                labels={"fabric": "nvl72"},
                taints=[Taint("dedicated", "training", "NoExecute")],
            ),
        )
        return {"nodes": group.node_names}

    out = run(program, mocks)
    group = mocks.one(NG, "acme-nvl72")
    # Registered props the platform-safety pack reads (not inferred from labels).
    assert group.inputs == {
        "tenant": "acme",
        "nodeGroup": "nvl72",
        "hosts": ["gb200-a-00", "gb200-a-01"],
        "failedHosts": [],
    }
    assert sorted(n for n in mocks.names(REMOTE) if "-join-" in n) == [
        "acme-nvl72-join-gb200-a-00",
        "acme-nvl72-join-gb200-a-01",
    ]
    first = mocks.one(REMOTE, "acme-nvl72-join-gb200-a-00")
    assert first.parent == group.urn
    assert first.is_secret("stdin") and first.is_secret("connection")
    assert "kubeadm join" in first.inputs["create"]
    assert "kubeadm reset" in first.inputs["delete"]
    registration = yaml.safe_load(first.inputs["stdin"])["nodeRegistration"]
    assert registration["name"] == "gb200-a-00"
    assert registration["taints"] == [
        {"key": "nvidia.com/gpu", "effect": "NoSchedule", "value": "present"},
        {"key": "dedicated", "effect": "NoExecute", "value": "training"},
    ]
    labels = dict(kv.split("=") for kv in registration["kubeletExtraArgs"][0]["value"].split(","))
    assert labels == {
        "fabric": "nvl72",
        "gpu-caas.io/dpu": "true",
        "gpu-caas.io/node-group": "nvl72",
        "gpu-caas.io/nvlink-domain": "nvl72-a",
        "gpu-caas.io/tenant": "acme",
        "nvidia.com/gpu.clique": "nvl72-a",
        "nvidia.com/gpu.product": PRODUCT,
        "nvidia.com/mig.config": "gpu-caas-nvl72",
    }
    second = yaml.safe_load(mocks.one(REMOTE, "acme-nvl72-join-gb200-a-01").inputs["stdin"])
    node_labels = second["nodeRegistration"]["kubeletExtraArgs"][0]["value"].split(",")
    assert {"rail.gpu-caas.io/rail-0=true", "rail.gpu-caas.io/rail-1=true"} <= set(node_labels)
    assert out["nodes"].value == ["gb200-a-00", "gb200-a-01"]
    for secret in SECRETS:
        assert mocks.leaks(secret) == [], secret


def test_autoscaled_group_only_declares_capacity() -> None:
    mocks = RecordingMocks(command_outputs)
    args = _args(
        gpu_product="NVIDIA-H200",
        autoscale=AutoscaleSpec(
            min_nodes=0,
            max_nodes=4,
            node_class={"group": "g", "kind": "K", "name": "n"},
            gpu_count=8,
        ),
        sharing_config="gpu-caas-nvl72",
    )
    captured: dict[str, NodeGroup] = {}

    def program():
        captured["group"] = NodeGroup("acme-nvl72", args)
        return {"nodes": captured["group"].node_names}

    out = run(program, mocks)
    assert [r.type for r in mocks.resources] == [NG]
    assert mocks.one(NG, "acme-nvl72").inputs == {
        "tenant": "acme",
        "nodeGroup": "nvl72",
        "hosts": [],
        "failedHosts": [],
    }
    assert out["nodes"].value == []
    group = captured["group"]
    assert group.labels == {
        "gpu-caas.io/node-group": "nvl72",
        "gpu-caas.io/tenant": "acme",
        "nvidia.com/device-plugin.config": "gpu-caas-nvl72",
        "nvidia.com/gpu.product": "NVIDIA-H200",
    }
    assert group.labels == group_labels(args)
    assert group.taints == group_taints(args) == [Taint("nvidia.com/gpu", "present", "NoSchedule")]


def test_cpu_group_has_no_gpu_taint() -> None:
    args = _args(gpu_product=None, group_name="system")
    assert group_taints(args) == []
    assert "nvidia.com/gpu.product" not in group_labels(args)


def test_hosts_need_join_parameters() -> None:
    def program():
        NodeGroup("acme-nvl72", _args(hosts=[host("gpu-0", "10.0.0.1")]))

    with pytest.raises(ValueError, match="needs join parameters"):
        run(program, RecordingMocks())
