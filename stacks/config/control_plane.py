"""`controlPlane`: availability and size only; the backend decides the rest."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from components.cluster.types import DEFAULT_CRI_SOCKET, ControlPlaneBackend, ControlPlaneSize
from stacks.config.base import ConfigModel
from stacks.config.secret import Kubeconfig

__all__ = [
    "ControlPlaneBackend",
    "ControlPlaneConfig",
    "ControlPlaneSize",
    "ExternalControlPlaneConfig",
    "HostedControlPlaneConfig",
    "KubeadmControlPlaneConfig",
    "ServiceType",
    "StackReferenceConfig",
]


class ServiceType(StrEnum):
    """How the hosted API server is exposed on the management cluster."""

    LOAD_BALANCER = "LoadBalancer"
    NODE_PORT = "NodePort"
    CLUSTER_IP = "ClusterIP"


class HostedControlPlaneConfig(ConfigModel):
    """`controlPlane.hosted`: Kamaji on the provider's management cluster."""

    management_kubeconfig: Kubeconfig = Field(exclude=True)
    """Kubeconfig of the management cluster running Kamaji (secret)."""
    namespace: str | None = None
    """Namespace of the TenantControlPlane; default `tenant-<name>` (created)."""
    data_store: str | None = None
    """Kamaji DataStore (etcd) to use; default: Kamaji's default DataStore."""
    service_type: ServiceType = ServiceType.LOAD_BALANCER
    """Service type of the tenant API server."""
    address: str | None = None
    """Fixed API server address (reserved load-balancer IP or DNS name)."""


class KubeadmControlPlaneConfig(ConfigModel):
    """`controlPlane.kubeadm`: kubeadm on the control-plane hosts."""

    endpoint: str | None = None
    """Stable API endpoint `host[:port]` (VIP or DNS of a load balancer in front of the
    control-plane hosts). Required when `ha: true`."""
    cri_socket: str = DEFAULT_CRI_SOCKET
    """Container runtime socket on every host."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and ("://" in value or "/" in value or not value.strip()):
            raise ValueError("give host[:port] without scheme or path, e.g. api.acme.example:6443")
        return value


class StackReferenceConfig(ConfigModel):
    """A kubeconfig published as an output of another Pulumi stack."""

    name: str
    """Fully qualified stack name, e.g. `isv-org/isv-platform/prod`."""
    output: str = "kubeconfig"
    """Name of the stack output holding the kubeconfig."""


class ExternalControlPlaneConfig(ConfigModel):
    """`controlPlane.external`: a cluster handed over by an ISV platform."""

    kubeconfig: Kubeconfig | None = Field(default=None, exclude=True)
    """Kubeconfig of the ISV-provisioned cluster (secret)."""
    stack_reference: StackReferenceConfig | None = None
    """Read the kubeconfig from another stack instead."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ExternalControlPlaneConfig:
        if (self.kubeconfig is None) == (self.stack_reference is None):
            raise ValueError("set exactly one of `kubeconfig` or `stackReference`")
        return self


class ControlPlaneConfig(ConfigModel):
    """`controlPlane`: the user picks availability and size; the backend decides
    replicas, etcd and endpoint."""

    ha: bool = False
    """Highly available: 3 API server replicas / 3 control-plane hosts with etcd."""
    size: ControlPlaneSize = ControlPlaneSize.SMALL
    """Capacity class: small (<= 50 nodes), medium (<= 250), large (more)."""
    backend: ControlPlaneBackend | None = None
    """Override the flavor's default backend."""
    hosted: HostedControlPlaneConfig | None = None
    """Settings of backend `hosted` (required for it)."""
    kubeadm: KubeadmControlPlaneConfig | None = None
    """Settings of backend `kubeadm`."""
    external: ExternalControlPlaneConfig | None = None
    """Settings of backend `external` (required for it)."""
