"""Control-plane sizing: the user picks `ha` and `size`, these pure functions decide.

Numbers follow the Kubernetes scalability guidance for API server concurrency
(https://kubernetes.io/docs/concepts/cluster-administration/flow-control/ — the
`--max-requests-inflight` family bounds the APF concurrency pool) and Kamaji's
sizing notes (https://kamaji.clastix.io/guides/) for hosted control-plane pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.cluster.types import ControlPlaneSize

HA_REPLICAS = 3
"""API server replicas / control-plane hosts of an HA control plane (etcd quorum of 3)."""


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one control-plane container."""

    cpu: str
    memory: str
    memory_limit: str

    def to_k8s(self) -> dict[str, dict[str, str]]:
        """As a Kubernetes `ResourceRequirements`.

        No CPU limit: throttling the API server under load makes it slower, not safer.
        """
        return {
            "requests": {"cpu": self.cpu, "memory": self.memory},
            "limits": {"memory": self.memory_limit},
        }


@dataclass(frozen=True)
class ApiServerFlags:
    """API server concurrency limits by size."""

    max_requests_inflight: int
    max_mutating_requests_inflight: int

    def as_args(self) -> dict[str, str]:
        """As `--flag=value` pairs (without dashes)."""
        return {
            "max-requests-inflight": str(self.max_requests_inflight),
            "max-mutating-requests-inflight": str(self.max_mutating_requests_inflight),
        }


@dataclass(frozen=True)
class HostedSizing:
    """Kamaji TenantControlPlane deployment sizing."""

    replicas: int
    api_server: Resources
    controller_manager: Resources
    scheduler: Resources
    flags: ApiServerFlags


_FLAGS: Mapping[ControlPlaneSize, ApiServerFlags] = {
    ControlPlaneSize.SMALL: ApiServerFlags(400, 200),
    ControlPlaneSize.MEDIUM: ApiServerFlags(800, 400),
    ControlPlaneSize.LARGE: ApiServerFlags(1600, 800),
}

_HOSTED: Mapping[ControlPlaneSize, tuple[Resources, Resources, Resources]] = {
    # (api server, controller manager, scheduler)
    ControlPlaneSize.SMALL: (
        Resources("500m", "1Gi", "2Gi"),
        Resources("100m", "256Mi", "512Mi"),
        Resources("100m", "128Mi", "256Mi"),
    ),
    ControlPlaneSize.MEDIUM: (
        Resources("1", "4Gi", "8Gi"),
        Resources("250m", "512Mi", "1Gi"),
        Resources("200m", "256Mi", "512Mi"),
    ),
    ControlPlaneSize.LARGE: (
        Resources("2", "8Gi", "16Gi"),
        Resources("500m", "1Gi", "2Gi"),
        Resources("500m", "512Mi", "1Gi"),
    ),
}


def api_server_flags(size: ControlPlaneSize) -> ApiServerFlags:
    """API server concurrency flags for `size` (both backends)."""
    return _FLAGS[size]


def hosted_sizing(size: ControlPlaneSize, ha: bool) -> HostedSizing:
    """Replicas and resources of a hosted control plane.

    Non-HA runs one replica: Kamaji's rolling update surges a new pod before removing
    the old one, so upgrades stay available; node failures do not.
    """
    api, controller, scheduler = _HOSTED[size]
    return HostedSizing(
        replicas=HA_REPLICAS if ha else 1,
        api_server=api,
        controller_manager=controller,
        scheduler=scheduler,
        flags=_FLAGS[size],
    )


def kubeadm_control_plane_hosts(ha: bool) -> int:
    """Control-plane hosts kubeadm needs: 3 (stacked etcd quorum) for HA, else 1."""
    return HA_REPLICAS if ha else 1
