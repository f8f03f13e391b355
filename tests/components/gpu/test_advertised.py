"""What one physical GPU advertises in each sharing mode."""

from __future__ import annotations

import pytest

from components.gpu.advertised import (
    advertised_per_gpu,
    advertised_per_node,
    is_soft_shared,
    mig_resource,
)
from components.gpu.gpu_operator import NodeGroupGpu, Sharing

H100 = "H100-80GB"


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (NodeGroupGpu("cpu"), {}),
        (NodeGroupGpu("train", H100), {"nvidia.com/gpu": 1}),
        (NodeGroupGpu("single", H100, mig_layout={"1g.10gb": 7}), {"nvidia.com/gpu": 7}),
        (
            NodeGroupGpu("mixed", H100, mig_layout={"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}),
            {
                "nvidia.com/mig-1g.10gb": 2,
                "nvidia.com/mig-2g.20gb": 1,
                "nvidia.com/mig-3g.40gb": 1,
            },
        ),
        (
            NodeGroupGpu("ts", H100, Sharing("time-slicing", 4, rename_by_default=True)),
            {"nvidia.com/gpu.shared": 4},
        ),
        (
            NodeGroupGpu("ts-plain", H100, Sharing("time-slicing", 4)),
            {"nvidia.com/gpu": 4},
        ),
        (
            NodeGroupGpu("mps", H100, Sharing("mps", 2, rename_by_default=True)),
            {"nvidia.com/gpu.shared": 2},
        ),
        (
            NodeGroupGpu(
                "ts-mig",
                H100,
                Sharing("time-slicing", 2, rename_by_default=True),
                mig_layout={"3g.40gb": 2},
            ),
            {"nvidia.com/gpu.shared": 4},
        ),
        (
            NodeGroupGpu(
                "ts-mixed",
                H100,
                Sharing("time-slicing", 3, rename_by_default=True),
                mig_layout={"3g.40gb": 1, "1g.10gb": 4},
            ),
            {"nvidia.com/mig-1g.10gb.shared": 12, "nvidia.com/mig-3g.40gb.shared": 3},
        ),
    ],
)
def test_advertised_per_gpu(group: NodeGroupGpu, expected: dict[str, int]) -> None:
    assert advertised_per_gpu(group) == expected


def test_per_node_scales_with_the_gpu_count() -> None:
    group = NodeGroupGpu("ts", H100, Sharing("time-slicing", 4, rename_by_default=True))
    assert advertised_per_node(group, 8) == {"nvidia.com/gpu.shared": 32}


def test_zero_replicas_are_refused() -> None:
    with pytest.raises(ValueError, match="replicas"):
        advertised_per_gpu(NodeGroupGpu("ts", H100, Sharing("time-slicing", 0)))


@pytest.mark.parametrize(
    ("group", "soft"),
    [
        (NodeGroupGpu("train", H100), False),
        (NodeGroupGpu("mig", H100, mig_layout={"1g.10gb": 7}), False),
        (NodeGroupGpu("ts", H100, Sharing("time-slicing", 2)), True),
        (NodeGroupGpu("mps", H100, Sharing("mps", 2)), True),
        (NodeGroupGpu("cpu", None, Sharing("time-slicing", 2)), False),
    ],
)
def test_soft_shared(group: NodeGroupGpu, soft: bool) -> None:
    assert is_soft_shared(group) is soft


def test_mig_resource() -> None:
    assert mig_resource("1g.10gb") == "nvidia.com/mig-1g.10gb"
