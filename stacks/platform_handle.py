"""The seam between the tenant cluster and the platform installed on it.

`stacks/<flavor>.py` builds a `TenantCluster`, wraps what the platform needs in a
`ClusterHandle`, and passes it with the validated config to each platform module
(`stacks/platform_gpu.py`, `stacks/platform_services.py`,
`stacks/platform_isolation.py`). Each module's `install(handle, config)` creates its
components and returns the stack outputs it wants exported.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ClusterHandle:
    """What a platform module needs from the tenant cluster."""

    name: str
    """Resource-name prefix of the tenant cluster (the tenant name)."""
    provider: k8s.Provider
    """The tenant cluster's explicit kubernetes provider. Every resource uses it."""
    parent: pulumi.Resource
    """The component that platform components are parented to."""
    kubernetes_version: str
    """The cluster's Kubernetes version, e.g. "1.34.2"."""
