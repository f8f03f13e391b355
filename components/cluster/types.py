"""Typed inputs of the cluster components (built by `stacks/` from validated config).

Components never read Pulumi config: everything they need is here, secrets as secret
`pulumi.Output[str]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

import pulumi
import pulumi_command as command

from components.versions import KUBERNETES_MINIMUM

_major, _minor = KUBERNETES_MINIMUM.split(".")[:2]
MIN_KUBERNETES_VERSION = (int(_major), int(_minor))
"""Oldest Kubernetes (major, minor) the platform supports: DRA is GA from 1.34 (NVIDIA
CaaS RA, "Capabilities Required"). Derived from `components.versions`, the one place
versions live."""


DEFAULT_CRI_SOCKET = "unix:///run/containerd/containerd.sock"


def secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """`pulumi.Output.secret` with the type mypy cannot infer."""
    return cast(pulumi.Output[str], pulumi.Output.secret(value))


class ControlPlaneSize(StrEnum):
    """Capacity class of the control plane (API server, controllers, etcd)."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class ControlPlaneBackend(StrEnum):
    """How the control plane is run."""

    HOSTED = "hosted"
    """Kamaji TenantControlPlane on the provider's management cluster."""
    KUBEADM = "kubeadm"
    """kubeadm over SSH on the tenant's control-plane hosts."""
    EXTERNAL = "external"
    """Handed over by an ISV platform (kubeconfig)."""


@dataclass(frozen=True)
class Taint:
    """A node taint (`key=value:effect`)."""

    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class SshHost:
    """An inventory host reachable over SSH, with what its node labels derive from."""

    name: str
    """Host name; also the Kubernetes node name."""
    address: str
    user: str
    private_key: pulumi.Output[str]
    """SSH private key, a secret Output; only ever sent as `connection.privateKey`."""
    port: int = 22
    gpu_product: str | None = None
    """GFD product label value of the host's GPUs (None: no GPUs)."""
    dpu: bool = False
    rack: str | None = None
    rails: tuple[str, ...] = ()
    """Network rails the host's NICs connect to (one `rail.gpu-caas.io/<id>` label each)."""
    nvlink_domain: str | None = None

    def connection(self) -> command.remote.ConnectionArgs:
        """SSH connection; the key is secret, so the whole connection is secret in state."""
        return command.remote.ConnectionArgs(
            host=self.address,
            port=self.port,
            user=self.user,
            private_key=secret(self.private_key),
            # Freshly provisioned hosts may still be booting: retry instead of failing.
            dial_error_limit=30,
            per_dial_timeout=15,
        )


@dataclass(frozen=True)
class JoinParameters:
    """What `kubeadm join` needs (all secret except the endpoint)."""

    endpoint: str
    token: str
    ca_cert_hash: str
    certificate_key: str | None = None
    """Only for control-plane joins (kubeadm HA)."""


@dataclass(frozen=True)
class HostedArgs:
    """Kamaji settings of a hosted control plane."""

    management_kubeconfig: pulumi.Output[str]
    """Kubeconfig of the management cluster (secret)."""
    namespace: str
    service_type: str = "LoadBalancer"
    data_store: str | None = None
    address: str | None = None
    konnectivity_tolerations: Sequence[Mapping[str, str]] = ()
    """Tolerations of Kamaji's konnectivity agent in the tenant cluster (empty: the CRD
    default, `CriticalAddonsOnly` only)."""


@dataclass(frozen=True)
class KubeadmArgs:
    """kubeadm settings of a control plane on the tenant's hosts."""

    hosts: Sequence[SshHost]
    """Control-plane hosts; the first runs `kubeadm init`, the others join."""
    endpoint: str | None = None
    """Stable `host[:port]` of an HA control plane."""
    cri_socket: str = DEFAULT_CRI_SOCKET
    joining_hosts: Sequence[str] = ()
    """Names of every host that joins (control plane and workers): a new bootstrap
    token is minted when this set changes."""
    registry_mirrors: Mapping[str, str] = field(default_factory=dict)
    """Image registry -> mirror, written as containerd hosts.toml before kubeadm runs."""


@dataclass(frozen=True)
class ExternalArgs:
    """A cluster handed over by an ISV platform."""

    kubeconfig: pulumi.Output[str]
    """Its kubeconfig (secret)."""


@dataclass(frozen=True)
class JoinTokenRenewal:
    """When the bootstrap token for joining hosts is minted again.

    Bootstrap tokens expire (`kubeadm.JOIN_TOKEN_TTL`). With a renewal, the token
    command is minted again in every renewal window (`bootstrap.token_window`: the UTC
    hour) in which some joining host has not joined yet, and kept as it is once every
    host has joined (`bootstrap.token_triggers`). Without one, the token is minted again
    only when the set of joining hosts changes.
    """

    joined_hosts: frozenset[str]
    """Hosts whose `kubeadm init` or `kubeadm join` succeeded, as the stack's last
    update recorded (`deployed.joinedHosts`); empty on a first deployment."""
    window: str
    """The current renewal window, e.g. "2026-11-30T19:00Z" (`bootstrap.token_window`)."""


@dataclass(frozen=True)
class ControlPlaneArgs:
    """Inputs of `ControlPlane`: exactly the settings of `backend` are set."""

    cluster_name: str
    kubernetes_version: str
    """Full version, e.g. "1.34.2"."""
    backend: ControlPlaneBackend
    ha: bool = False
    size: ControlPlaneSize = ControlPlaneSize.SMALL
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/16"
    hosted: HostedArgs | None = None
    kubeadm: KubeadmArgs | None = None
    external: ExternalArgs | None = None
    join_token_renewal: JoinTokenRenewal | None = None
    """When join tokens are minted again (kubeadm's, or the hosted backend's for worker
    hosts); None: only when the set of joining hosts changes."""


@dataclass(frozen=True)
class Rollout:
    """How a group's hosts are taken out of service for an upgrade or removal.

    Drains honour PodDisruptionBudgets (`kubectl drain` evicts through the Eviction
    API: https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/).
    """

    max_unavailable: int = 1
    """Hosts of the group drained and upgraded at the same time."""
    drain_timeout_seconds: int = 600
    """How long a drain may wait for evictions (PDBs) before the rollout stops."""
    delete_empty_dir_data: bool = True
    """Evict pods with emptyDir volumes (their scratch data is lost)."""


@dataclass(frozen=True)
class AutoscaleSpec:
    """Declared autoscaled capacity; the services platform builds a Karpenter NodePool."""

    min_nodes: int
    max_nodes: int
    node_class: Mapping[str, str]
    """`{group, kind, name}` of the provider's NodeClass."""
    gpu_count: int | None = None
    instance_types: Sequence[str] = ()
    requirements: Sequence[Mapping[str, object]] = ()


@dataclass(frozen=True)
class NodeGroupArgs:
    """Inputs of `NodeGroup`: inventory hosts to join, or autoscaled capacity."""

    cluster_name: str
    """Tenant name (`gpu-caas.io/tenant`)."""
    group_name: str
    """Node group name (`gpu-caas.io/node-group`)."""
    kubernetes_version: str
    hosts: Sequence[SshHost] = ()
    autoscale: AutoscaleSpec | None = None
    gpu_product: str | None = None
    """GFD product of the group's GPUs (None: CPU-only group)."""
    mig_config: str | None = None
    """mig-manager config name (`nvidia.com/mig.config`) when sharing mode is MIG."""
    sharing_config: str | None = None
    """Device-plugin config name for time-slicing/MPS."""
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Taint] = ()
    gpu_taint: bool = True
    cri_socket: str = DEFAULT_CRI_SOCKET
    registry_mirrors: Mapping[str, str] = field(default_factory=dict)
    """Image registry -> mirror, written as containerd hosts.toml before kubeadm joins."""
    join: pulumi.Output[JoinParameters] | None = None
    """Set by `TenantCluster`: where and how hosts join (secret)."""
    kubeconfig: pulumi.Output[str] | None = None
    """Set by `TenantCluster`: the admin kubeconfig (secret) the local day-2 commands
    (drain, label/taint sync, Node removal) use; it never reaches a host."""
    failed_hosts: Sequence[SshHost] = ()
    """Hosts of the group marked `failed`: kept cordoned and tainted, nothing runs on
    them over SSH, out of the group until returned."""
    rollout: Rollout = field(default_factory=Rollout)
    """How many hosts change at once and how they are drained."""
