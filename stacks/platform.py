"""The tenant platform, installed in dependency order on the tenant cluster.

Every flavor (`stacks/ncp_managed.py`, `isv_managed.py`, `tenant_managed.py`) builds
its `TenantCluster` and calls `install(handle, config)`. The steps run one after the
other in the program, and each step that others must wait for returns the
`ClusterHandle` with a `*_ready` field filled in (see `stacks/platform_handle.py`);
later steps put those resources into `depends_on`. The resulting graph:

    CNI ─┬─> GPU Operator ─┬─> DRA driver, Network Operator, DPF, NIM
         │                 └─> node health (NVSentinel reads DCGM)
         ├─> Kyverno + Enforce policies ─> tenant namespaces ─> ComputeDomains
         └─> storage, KAI, Karpenter, observability

Platform operators never wait for Kyverno (the policies exempt their namespaces), so a
slow policy engine does not hold the GPU platform back.
"""

from __future__ import annotations

from typing import Any

import pulumi

from stacks import platform_gpu, platform_isolation, platform_services
from stacks.config import TenantConfig
from stacks.platform_handle import ClusterHandle


def install(handle: ClusterHandle, config: TenantConfig) -> dict[str, pulumi.Output[Any]]:
    """Install services, isolation and the GPU platform; return the outputs to export."""
    outputs: dict[str, pulumi.Output[Any]] = {}
    # 1. Pod networking (handle.network_ready): every Helm release waits for it.
    handle, step = platform_services.install_network(handle, config)
    outputs.update(step)
    # 2. Guardrails (handle.tenant_ready): Kyverno, its policies, the tenant namespaces.
    handle, isolation = platform_isolation.install(handle, config)
    outputs.update(isolation)
    # 3. The GPU platform (handle.gpu_ready: the GPU Operator release).
    handle, gpu = platform_gpu.install(handle, config)
    outputs.update(gpu)
    # 4. The other services; node health waits for the GPU Operator.
    outputs.update(platform_services.install(handle, config))
    return outputs
