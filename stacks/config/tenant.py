"""The root model: one tenant's whole stack config (`gpu-caas:tenant`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from components.naming import tenant_namespace
from stacks.config.base import ConfigModel
from stacks.config.control_plane import ControlPlaneBackend, ControlPlaneConfig
from stacks.config.gpu import GpuPlatformConfig
from stacks.config.gpu_network import host_rails
from stacks.config.inventory import (
    HostConfig,
    HostRole,
    InventoryFileConfig,
    SshKeyConfig,
    check_dns_label,
)
from stacks.config.isolation import IsolationConfig
from stacks.config.kubernetes import KubernetesConfig
from stacks.config.mirrors import MirrorsConfig
from stacks.config.node_groups import NodeGroupConfig
from stacks.config.placement import SystemCapacityConfig
from stacks.config.services import ClusterServicesConfig
from stacks.config.teams import TeamConfig


class Flavor(StrEnum):
    """The three Kubernetes flavors of NVIDIA's Container-as-a-Service RA."""

    NCP_MANAGED = "ncp-managed"
    """The provider runs a dedicated control plane per tenant, hands out a kubeconfig."""
    ISV_MANAGED = "isv-managed"
    """An ISV platform provisions the cluster; we build the GPU platform on it."""
    TENANT_MANAGED = "tenant-managed"
    """The provider hands over hosts; the tenant bootstraps Kubernetes on them."""


DEFAULT_BACKEND: dict[Flavor, ControlPlaneBackend] = {
    Flavor.NCP_MANAGED: ControlPlaneBackend.HOSTED,
    Flavor.ISV_MANAGED: ControlPlaneBackend.EXTERNAL,
    Flavor.TENANT_MANAGED: ControlPlaneBackend.KUBEADM,
}
"""Backend used when `controlPlane.backend` is not set."""

ALLOWED_BACKENDS: dict[Flavor, tuple[ControlPlaneBackend, ...]] = {
    # An NCP may also run the dedicated control plane on its own hosts with kubeadm.
    Flavor.NCP_MANAGED: (ControlPlaneBackend.HOSTED, ControlPlaneBackend.KUBEADM),
    Flavor.ISV_MANAGED: (ControlPlaneBackend.EXTERNAL,),
    Flavor.TENANT_MANAGED: (ControlPlaneBackend.KUBEADM,),
}


class TenantConfig(ConfigModel):
    """One tenant's dedicated GPU Kubernetes cluster (`gpu-caas:tenant`)."""

    name: str
    """Tenant name (DNS label): prefix of every resource name, cluster name."""
    display_name: str | None = None
    """Human-readable tenant name."""
    flavor: Flavor
    """Kubernetes flavor of NVIDIA's CaaS RA; picks the default control-plane backend."""
    kubernetes: KubernetesConfig
    """Kubernetes version and networks."""
    control_plane: ControlPlaneConfig = ControlPlaneConfig()
    """Control plane: availability and size."""
    hosts: list[HostConfig] = []
    """Host inventory (bare metal or VMs) for kubeadm control planes and node groups.
    For large tenants keep it in a file instead (`inventory.file`)."""
    inventory: InventoryFileConfig | None = None
    """Hosts from an inventory file (YAML or JSON, e.g. exported from a CMDB) instead of
    `hosts`, so the stack config stays small at any number of hosts (docs/inventory.md)."""
    ssh_keys: list[SshKeyConfig] = []
    """SSH private keys declared once (Pulumi secrets) and used by many hosts: by name
    (`hosts[].ssh.privateKeyRef`) or by scope (node groups, racks, the whole tenant)."""
    node_groups: list[NodeGroupConfig] = []
    """Node groups: inventory hosts or autoscaled capacity, GPU sharing, labels, taints."""
    mirrors: MirrorsConfig = MirrorsConfig()
    """Chart repository and image registry mirrors (air-gapped providers)."""
    teams: list[TeamConfig] = []
    """The tenant's teams: namespaces, GPU quotas, identity-provider groups."""
    gpu: GpuPlatformConfig = Field(default_factory=GpuPlatformConfig)
    """GPU platform (owner: stacks/config/gpu.py)."""
    services: ClusterServicesConfig = Field(default_factory=ClusterServicesConfig)
    """Cluster services (owner: stacks/config/services.py)."""
    isolation: IsolationConfig = Field(default_factory=IsolationConfig)
    """Tenant isolation (owner: stacks/config/isolation.py)."""
    system_capacity: SystemCapacityConfig = Field(default_factory=SystemCapacityConfig)
    """Where the platform's own controllers run (owner: stacks/config/placement.py)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value)

    @property
    def backend(self) -> ControlPlaneBackend:
        """The control-plane backend: `controlPlane.backend` or the flavor's default."""
        return self.control_plane.backend or DEFAULT_BACKEND[self.flavor]

    @property
    def hosted_namespace(self) -> str:
        """Management-cluster namespace of a hosted control plane."""
        hosted = self.control_plane.hosted
        return (hosted.namespace if hosted else None) or tenant_namespace(self.name)

    def host(self, name: str) -> HostConfig:
        """The inventory host called `name` (KeyError if absent); a dict lookup, so
        looking up every host of a large inventory stays linear."""
        return _hosts_by_name(self.hosts)[name]

    def host_rails(self, host: HostConfig) -> tuple[str, ...]:
        """The network rails `host` is on: its `topology.rails`, else (GPU hosts) every
        rail of `gpu.network.rails` (rail-optimized fabrics; see `gpu_network.host_rails`)."""
        return host_rails(host, self.gpu.network)

    @property
    def control_plane_hosts(self) -> list[HostConfig]:
        """Hosts with role control-plane, in inventory order (the first runs init)."""
        return [h for h in self.hosts if h.role is HostRole.CONTROL_PLANE]

    @property
    def autoscaled_node_groups(self) -> list[NodeGroupConfig]:
        """Node groups backed by autoscaled capacity (Karpenter NodePools)."""
        return [g for g in self.node_groups if g.autoscale is not None]

    @property
    def host_node_groups(self) -> list[NodeGroupConfig]:
        """Node groups made of inventory hosts (joined with kubeadm)."""
        return [g for g in self.node_groups if g.hosts]


_HOST_INDEX: dict[int, tuple[list[HostConfig], dict[str, HostConfig]]] = {}
"""`id(hosts list) -> (the list, name -> host)`: the list is kept so its id is not reused."""


def _hosts_by_name(hosts: list[HostConfig]) -> dict[str, HostConfig]:
    """`name -> host` of an inventory (the first host of a name wins; rules report
    repeated names), built once per list: configs are frozen, and `model_copy` with new
    hosts brings a new list."""
    cached = _HOST_INDEX.get(id(hosts))
    if cached is not None and cached[0] is hosts:
        return cached[1]
    found: dict[str, HostConfig] = {}
    for host in hosts:
        found.setdefault(host.name, host)
    if len(_HOST_INDEX) > 64:
        _HOST_INDEX.clear()
    _HOST_INDEX[id(hosts)] = (hosts, found)
    return found
