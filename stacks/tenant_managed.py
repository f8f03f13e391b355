"""Flavor `tenant-managed`: the NCP hands over bare-metal or VM hosts and the tenant
bootstraps Kubernetes on them with kubeadm over SSH (backend `kubeadm`)."""

from __future__ import annotations

from components.cluster import TenantCluster
from stacks import compose
from stacks.config import Flavor, TenantConfig


def cluster(config: TenantConfig) -> TenantCluster:
    """Declare the tenant cluster of this flavor and its Kubernetes provider (the first
    half of `deploy`; `stacks.compose.with_platform` is the second)."""
    if config.flavor is not Flavor.TENANT_MANAGED:
        raise ValueError(f"tenant_managed cannot deploy flavor {config.flavor.value!r}")
    return compose.tenant_cluster(config)


def deploy(config: TenantConfig) -> dict[str, object]:
    """Create the tenant cluster and its platform; return the stack outputs."""
    return compose.with_platform(config, cluster(config))
