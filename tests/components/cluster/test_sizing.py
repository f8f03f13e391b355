"""Control-plane sizing tables."""

from __future__ import annotations

import pytest

from components.cluster.sizing import (
    api_server_flags,
    hosted_sizing,
    kubeadm_control_plane_hosts,
)
from components.cluster.types import ControlPlaneSize


@pytest.mark.parametrize(
    ("size", "ha", "replicas", "api_cpu", "api_memory", "inflight"),
    [
        (ControlPlaneSize.SMALL, False, 1, "500m", "1Gi", 400),
        (ControlPlaneSize.SMALL, True, 3, "500m", "1Gi", 400),
        (ControlPlaneSize.MEDIUM, False, 1, "1", "4Gi", 800),
        (ControlPlaneSize.MEDIUM, True, 3, "1", "4Gi", 800),
        (ControlPlaneSize.LARGE, True, 3, "2", "8Gi", 1600),
    ],
)
def test_hosted_sizing(
    size: ControlPlaneSize, ha: bool, replicas: int, api_cpu: str, api_memory: str, inflight: int
) -> None:
    sizing = hosted_sizing(size, ha)
    assert sizing.replicas == replicas
    assert (sizing.api_server.cpu, sizing.api_server.memory) == (api_cpu, api_memory)
    assert sizing.flags.max_requests_inflight == inflight
    assert sizing.flags.max_mutating_requests_inflight == inflight // 2


def test_resources_have_no_cpu_limit() -> None:
    resources = hosted_sizing(ControlPlaneSize.SMALL, False).api_server.to_k8s()
    assert resources == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


@pytest.mark.parametrize(("ha", "hosts"), [(False, 1), (True, 3)])
def test_kubeadm_control_plane_hosts(ha: bool, hosts: int) -> None:
    assert kubeadm_control_plane_hosts(ha) == hosts


def test_api_server_flags_grow_with_size() -> None:
    sizes = [api_server_flags(s).max_requests_inflight for s in ControlPlaneSize]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    assert api_server_flags(ControlPlaneSize.SMALL).as_args() == {
        "max-requests-inflight": "400",
        "max-mutating-requests-inflight": "200",
    }
