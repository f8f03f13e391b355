"""Node labels and taints of inventory hosts (applied by kubelet at registration)."""

from __future__ import annotations

import pytest

from components.cluster.labels import (
    CONTROL_PLANE_TAINT,
    kubelet_node_labels,
    node_labels,
    node_taints,
)
from components.cluster.types import SshHost, Taint


def _host(**kw: object) -> SshHost:
    return SshHost(name="n", address="a", user="u", private_key=None, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "kwargs", "expected"),
    [
        (
            _host(),
            {},
            {"gpu-caas.io/node-group": "g", "gpu-caas.io/tenant": "acme"},
        ),
        (
            _host(gpu_product="NVIDIA-H100-80GB-HBM3", rack="r1", rails=("rail-0",)),
            {},
            {
                "gpu-caas.io/node-group": "g",
                "gpu-caas.io/rack": "r1",
                "gpu-caas.io/tenant": "acme",
                "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                "rail.gpu-caas.io/rail-0": "true",
            },
        ),
        (
            # Rail-optimized fabric: one NIC per rail, so one label per rail.
            _host(gpu_product="NVIDIA-H100-80GB-HBM3", rails=("rail-0", "rail-1", "Spine_A.2")),
            {},
            {
                "gpu-caas.io/node-group": "g",
                "gpu-caas.io/tenant": "acme",
                "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                "rail.gpu-caas.io/Spine_A.2": "true",
                "rail.gpu-caas.io/rail-0": "true",
                "rail.gpu-caas.io/rail-1": "true",
            },
        ),
        (
            _host(gpu_product="NVIDIA-GB200", nvlink_domain="nvl72-a", dpu=True),
            {"mig_config": "gpu-caas-g"},
            {
                "gpu-caas.io/dpu": "true",
                "gpu-caas.io/node-group": "g",
                "gpu-caas.io/nvlink-domain": "nvl72-a",
                "gpu-caas.io/tenant": "acme",
                "nvidia.com/gpu.clique": "nvl72-a",
                "nvidia.com/gpu.product": "NVIDIA-GB200",
                "nvidia.com/mig.config": "gpu-caas-g",
            },
        ),
        (
            _host(gpu_product="NVIDIA-H200"),
            {"sharing_config": "gpu-caas-g", "extra": {"team": "ml"}},
            {
                "gpu-caas.io/node-group": "g",
                "gpu-caas.io/tenant": "acme",
                "nvidia.com/device-plugin.config": "gpu-caas-g",
                "nvidia.com/gpu.product": "NVIDIA-H200",
                "team": "ml",
            },
        ),
    ],
)
def test_node_labels(host: SshHost, kwargs: dict[str, object], expected: dict[str, str]) -> None:
    assert node_labels(tenant="acme", node_group="g", host=host, **kwargs) == expected  # type: ignore[arg-type]


def test_group_labels_without_host_use_the_group_product() -> None:
    labels = node_labels(tenant="acme", node_group="g", gpu_product="NVIDIA-B200")
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-B200"
    assert "gpu-caas.io/rack" not in labels


def test_platform_labels_win_over_extra() -> None:
    labels = node_labels(tenant="acme", node_group="g", extra={"gpu-caas.io/tenant": "other"})
    assert labels["gpu-caas.io/tenant"] == "acme"


@pytest.mark.parametrize(
    ("gpu", "gpu_taint", "extra", "expected"),
    [
        (True, True, [], [Taint("nvidia.com/gpu", "present", "NoSchedule")]),
        (True, False, [], []),
        (False, True, [], []),
        (
            True,
            True,
            [Taint("dedicated", "training", "NoExecute")],
            [
                Taint("nvidia.com/gpu", "present", "NoSchedule"),
                Taint("dedicated", "training", "NoExecute"),
            ],
        ),
        (
            True,
            True,
            [Taint("nvidia.com/gpu", "present", "NoSchedule")],
            [Taint("nvidia.com/gpu", "present", "NoSchedule")],
        ),
    ],
)
def test_node_taints(gpu: bool, gpu_taint: bool, extra: list[Taint], expected: list[Taint]) -> None:
    assert node_taints(gpu=gpu, gpu_taint=gpu_taint, extra=extra) == expected


def test_kubelet_node_labels_is_sorted() -> None:
    assert kubelet_node_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert kubelet_node_labels({}) == ""


def test_control_plane_taint_is_kubeadms_default() -> None:
    assert Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule") == CONTROL_PLANE_TAINT
