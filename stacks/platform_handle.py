"""The seam between the tenant cluster and the platform installed on it.

`stacks/<flavor>.py` builds a `TenantCluster`, wraps what the platform needs in a
`ClusterHandle`, and passes it with the validated config to `stacks.platform.install`,
which runs the platform modules (`stacks/platform_services.py`,
`stacks/platform_isolation.py`, `stacks/platform_gpu.py`) in dependency order. Each step
creates its components and returns the stack outputs it wants exported; a step that
others must wait for also returns the handle with its `*_ready` field filled in.

The `*_ready` fields are the install order, made explicit: resources listed there go
into the `depends_on` of what must come after them (and Pulumi deletes in the reverse
order). Nothing else orders the platform; everything not chained here installs in
parallel.
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
    network_ready: tuple[pulumi.Resource, ...] = ()
    """Pod networking: the CNI's Helm release when the platform installs the CNI (empty
    with `services.cni.plugin: external`). Every other Helm release of the platform
    depends on it: Helm waits for pods to become ready, which needs the CNI."""
    gpu_ready: tuple[pulumi.Resource, ...] = ()
    """The GPU Operator's Helm release (driver, device plugin, DCGM) when the GPU platform
    is enabled. GPU consumers depend on it: the DRA driver, Network Operator, DPF, NIM and
    node health (NVSentinel reads DCGM)."""
    tenant_ready: tuple[pulumi.Resource, ...] = ()
    """The tenant namespaces with their guardrails, created after Kyverno's Enforce
    policies. Workloads the platform puts into tenant namespaces (ComputeDomains) depend
    on it; platform operators do not (Kyverno exempts their namespaces)."""
