"""Flavor `ncp-managed`: the NCP runs a dedicated control plane per tenant and hands out
a kubeconfig. Default backend: `hosted` (Kamaji on the provider's management cluster);
`kubeadm` on provider hosts is also allowed."""

from __future__ import annotations

from stacks import compose, platform
from stacks.config import Flavor, TenantConfig


def deploy(config: TenantConfig) -> dict[str, object]:
    """Create the tenant cluster and its platform; return the stack outputs."""
    if config.flavor is not Flavor.NCP_MANAGED:
        raise ValueError(f"ncp_managed cannot deploy flavor {config.flavor.value!r}")
    cluster = compose.tenant_cluster(config)
    handle = compose.cluster_handle(config, cluster)
    return compose.stack_outputs(config, cluster, platform.install(handle, config))
