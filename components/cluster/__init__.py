"""Tenant cluster components: `ControlPlane`, `NodeGroup`, `TenantCluster`."""

from components.cluster.control_plane import ControlPlane
from components.cluster.node_group import NodeGroup
from components.cluster.tenant_cluster import TenantCluster, TenantClusterArgs
from components.cluster.types import (
    AutoscaleSpec,
    ControlPlaneArgs,
    ControlPlaneBackend,
    ControlPlaneSize,
    ExternalArgs,
    HostedArgs,
    JoinParameters,
    KubeadmArgs,
    NodeGroupArgs,
    Rollout,
    SshHost,
    Taint,
)

__all__ = [
    "AutoscaleSpec",
    "ControlPlane",
    "ControlPlaneArgs",
    "ControlPlaneBackend",
    "ControlPlaneSize",
    "ExternalArgs",
    "HostedArgs",
    "JoinParameters",
    "KubeadmArgs",
    "NodeGroup",
    "NodeGroupArgs",
    "Rollout",
    "SshHost",
    "Taint",
    "TenantCluster",
    "TenantClusterArgs",
]
