"""Simulated nodes: what the device plugins advertise, and nodes derived from the examples."""

from __future__ import annotations

import pytest

from components import naming
from components.gpu.gpu_operator import NodeGroupGpu, Sharing
from sandbox.cluster import KWOK_NODE_ANNOTATION
from sandbox.nodes import device_plugin_resources, simulated_nodes
from stacks.config import parse_tenant
from stacks.config.loader import load_stack_file
from tests.stacks.samples import sample
from tests.support.examples import STACK_FILES

H100 = "H100-80GB"


@pytest.mark.parametrize(
    ("group", "gpus", "expected"),
    [
        (NodeGroupGpu("cpu"), 0, {}),
        (NodeGroupGpu("cpu", gpu_model=None), 8, {}),
        (NodeGroupGpu("x", gpu_model=H100), 8, {"nvidia.com/gpu": 8}),
        (
            NodeGroupGpu("x", gpu_model=H100, sharing=Sharing("time-slicing", replicas=4)),
            2,
            {"nvidia.com/gpu": 8},
        ),
        (
            NodeGroupGpu(
                "x", gpu_model=H100, sharing=Sharing("time-slicing", 4, rename_by_default=True)
            ),
            2,
            {"nvidia.com/gpu.shared": 8},
        ),
        (
            NodeGroupGpu("x", gpu_model=H100, sharing=Sharing("mps", replicas=2)),
            8,
            {"nvidia.com/gpu": 16},
        ),
        # MIG single: every GPU split into one profile, still `nvidia.com/gpu`.
        (NodeGroupGpu("x", gpu_model=H100, mig_layout={"1g.10gb": 7}), 8, {"nvidia.com/gpu": 56}),
        # MIG mixed: one resource per profile.
        (
            NodeGroupGpu("x", gpu_model=H100, mig_layout={"3g.40gb": 1, "1g.10gb": 2}),
            4,
            {"nvidia.com/mig-1g.10gb": 8, "nvidia.com/mig-3g.40gb": 4},
        ),
        (
            NodeGroupGpu(
                "x",
                gpu_model=H100,
                mig_layout={"3g.40gb": 1, "1g.10gb": 2},
                sharing=Sharing("time-slicing", replicas=2),
            ),
            1,
            {"nvidia.com/mig-1g.10gb": 4, "nvidia.com/mig-3g.40gb": 2},
        ),
    ],
)
def test_device_plugin_resources(group: NodeGroupGpu, gpus: int, expected: dict[str, int]) -> None:
    assert device_plugin_resources(group, gpus) == expected


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_every_example_node_matches_its_group(stack_file: object) -> None:
    config = load_stack_file(stack_file)  # type: ignore[arg-type]
    nodes = simulated_nodes(config)
    assert nodes
    names = [node.name for node in nodes]
    assert len(names) == len(set(names))
    for node in nodes:
        manifest = node.manifest()
        assert manifest["metadata"]["annotations"] == {KWOK_NODE_ANNOTATION: "fake"}
        labels = manifest["metadata"]["labels"]
        assert labels[naming.LABEL_TENANT] == config.name
        assert labels["kubernetes.io/hostname"] == node.name
        if node.node_group is None:
            assert "node-role.kubernetes.io/control-plane" in labels
            continue
        assert labels[naming.LABEL_NODE_GROUP] == node.node_group
        gpu_resources = {k for k in node.capacity if k.startswith("nvidia.com/")}
        if labels.get("nvidia.com/gpu.present") == "true":
            assert gpu_resources, node
            assert {"key": naming.GPU_TAINT_KEY, "value": naming.GPU_TAINT_VALUE,
                    "effect": "NoSchedule"} in node.taints  # fmt: skip
        else:
            assert not gpu_resources, node


def test_autoscaled_groups_get_nodes_up_to_max() -> None:
    stack_file = next(p for p in STACK_FILES if p.name == "Pulumi.isv-inference.yaml")
    config = load_stack_file(stack_file)
    by_group: dict[str | None, int] = {}
    for node in simulated_nodes(config, autoscaled=3):
        by_group[node.node_group] = by_group.get(node.node_group, 0) + 1
        assert node.labels["karpenter.sh/nodepool"] == f"{config.name}-{node.node_group}"
    # embeddings has maxNodes: 2.
    assert by_group == {"llm": 3, "small-models": 3, "embeddings": 2}


def test_mixed_mig_example_advertises_per_profile_resources() -> None:
    stack_file = next(p for p in STACK_FILES if p.name == "Pulumi.dev.yaml")
    nodes = {n.name: n for n in simulated_nodes(load_stack_file(stack_file))}
    # dev's gpu-1: 8x H100-80GB with {3g.40gb: 1, 2g.20gb: 1, 1g.10gb: 2} per GPU.
    assert {k: v for k, v in nodes["gpu-1"].capacity.items() if "mig" in k} == {
        "nvidia.com/mig-1g.10gb": "16",
        "nvidia.com/mig-2g.20gb": "8",
        "nvidia.com/mig-3g.40gb": "8",
    }
    assert "nvidia.com/gpu" not in nodes["gpu-1"].capacity
    assert nodes["gpu-0"].capacity["nvidia.com/gpu"] == "8"


@pytest.mark.parametrize(
    ("gpu", "product", "memory", "mig"),
    [
        ({"model": "L40S-48GB"}, "NVIDIA-L40S", "49152", "false"),
        ({"model": "A30-24GB"}, "NVIDIA-A30", "24576", "true"),
        (
            {"model": "L20-48GB", "productLabel": "NVIDIA-L20", "memoryGb": 48, "mig": False},
            "NVIDIA-L20",
            "49152",
            "false",
        ),
    ],
)
def test_gfd_labels_follow_the_catalog_or_the_stated_facts(
    gpu: dict[str, object], product: str, memory: str, mig: str
) -> None:
    data = sample("tenant-managed")
    data["hosts"][2]["gpu"] = {"count": 4, **gpu}
    data["nodeGroups"][1]["sharing"] = {"mode": "exclusive"}
    [node] = [n for n in simulated_nodes(parse_tenant(data)) if n.name == data["hosts"][2]["name"]]
    labels = node.labels
    assert (
        labels["nvidia.com/gpu.product"],
        labels["nvidia.com/gpu.memory"],
        labels["nvidia.com/mig.capable"],
        labels["nvidia.com/gpu.count"],
    ) == (product, memory, mig, "4")


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_simulated_nodes_carry_the_taints_the_placement_model_assumes(stack_file: object) -> None:
    """The live cluster's nodes are tainted like the real ones, so what the placement
    check accepts is what the real scheduler in the sandbox sees."""
    from components.placement import Taint
    from stacks.config.placement import node_pools

    config = load_stack_file(stack_file)  # type: ignore[arg-type]
    pools = {pool.name: pool for pool in node_pools(config)}
    for node in simulated_nodes(config):
        name = "control plane" if node.node_group is None else f"node group {node.node_group!r}"
        assert tuple(Taint(t["key"], t["value"], t["effect"]) for t in node.taints) == (
            pools[name].taints
        ), node.name
