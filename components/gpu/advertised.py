"""What a GPU node advertises to the scheduler, per physical GPU (pure, tested).

One physical GPU appears under a different extended resource, and a different count,
in every sharing mode the device plugin offers
(https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus,
https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html):

| mode | resource | per physical GPU |
|---|---|---|
| exclusive | `nvidia.com/gpu` | 1 |
| MIG, `single` strategy (one profile) | `nvidia.com/gpu` | instances of the profile |
| MIG, `mixed` strategy | `nvidia.com/mig-<profile>` | instances of each profile |
| time-slicing / MPS (`renameByDefault: true`) | `<resource>.shared` | replicas x the above |

gpu-caas renames shared resources (`renameByDefault: true`): a time-sliced or MPS
replica is then never confused with a whole GPU, by the scheduler, by a team's
ResourceQuota or by a Karpenter NodePool limit. Quotas, NodePool limits, NodeOverlays
and capacity warnings all derive their numbers from `advertised_per_gpu`.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.gpu.gpu_operator import NodeGroupGpu, mig_strategy

GPU = "nvidia.com/gpu"
SHARED_SUFFIX = ".shared"
"""Suffix the device plugin appends with `renameByDefault: true`."""


def mig_resource(profile: str) -> str:
    """`1g.10gb` -> `nvidia.com/mig-1g.10gb` (the mixed strategy's resource name)."""
    return f"nvidia.com/mig-{profile}"


def _unshared(group: NodeGroupGpu) -> dict[str, int]:
    layout: Mapping[str, int] = group.mig_layout or {}
    strategy = mig_strategy(group)
    if strategy == "single":
        ((_, count),) = layout.items()
        return {GPU: count}
    if strategy == "mixed":
        return {mig_resource(profile): count for profile, count in sorted(layout.items())}
    return {GPU: 1}


def advertised_per_gpu(group: NodeGroupGpu) -> dict[str, int]:
    """`{extended resource: units}` one physical GPU of `group` advertises; empty for a
    CPU-only group.

    Raises:
        ValueError: a time-slicing or MPS group with fewer than 1 replica.
    """
    if group.gpu_model is None:
        return {}
    base = _unshared(group)
    if group.sharing.mode == "exclusive":
        return base
    if group.sharing.replicas < 1:
        raise ValueError(f"node group {group.name!r}: replicas must be >= 1")
    suffix = SHARED_SUFFIX if group.sharing.rename_by_default else ""
    return {f"{name}{suffix}": units * group.sharing.replicas for name, units in base.items()}


def advertised_per_node(group: NodeGroupGpu, gpus_per_node: int) -> dict[str, int]:
    """`advertised_per_gpu` times the node's GPU count."""
    return {name: units * gpus_per_node for name, units in advertised_per_gpu(group).items()}


def is_soft_shared(group: NodeGroupGpu) -> bool:
    """Time-slicing or MPS: pods share a GPU without memory or fault isolation
    (NVIDIA's time-slicing docs say so), unlike MIG or whole GPUs."""
    return group.gpu_model is not None and group.sharing.mode in ("time-slicing", "mps")
