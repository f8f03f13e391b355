"""Flavor `tenant-managed`: the NCP hands over bare-metal or VM hosts and the tenant
bootstraps Kubernetes on them with kubeadm over SSH (backend `kubeadm`)."""

from __future__ import annotations

from stacks import compose, platform
from stacks.config import Flavor, TenantConfig


def deploy(config: TenantConfig) -> dict[str, object]:
    """Create the tenant cluster and its platform; return the stack outputs."""
    if config.flavor is not Flavor.TENANT_MANAGED:
        raise ValueError(f"tenant_managed cannot deploy flavor {config.flavor.value!r}")
    cluster = compose.tenant_cluster(config)
    handle = compose.cluster_handle(config, cluster)
    return compose.stack_outputs(config, cluster, platform.install(handle, config))
