"""Simulated nodes of a tenant, derived from its stack config (pure; kwok runs them).

One Node per inventory host (control-plane hosts included), and for every autoscaled
group the nodes Karpenter would have launched (at least its `minNodes`). Each Node
carries what the real one would:

* the labels kubelet sets (`kubernetes.io/hostname`, `kubernetes.io/os`,
  `kubernetes.io/arch`), our node-group labels (`components.cluster.labels`, the very
  functions the kubeadm JoinConfiguration and the Karpenter NodePools use), and GPU
  Feature Discovery's (`nvidia.com/gpu.present`, `.count`, `.memory`, `.product`,
  `nvidia.com/mig.capable`); Karpenter's `karpenter.sh/nodepool` on autoscaled nodes;
* our taints (`components.cluster.labels.node_taints`);
* the capacity the device plugins would advertise for the group's sharing mode
  (`device_plugin_resources`) plus one RDMA resource per rail the host is on.

Docs: GFD labels https://github.com/NVIDIA/k8s-device-plugin#catalog-of-labels;
device-plugin sharing https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus;
MIG strategies https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from components.cluster.labels import CONTROL_PLANE_TAINT, node_labels
from components.cluster.types import SshHost, Taint
from components.gpu.catalog import spec
from components.gpu.gpu_operator import NodeGroupGpu, mig_strategy
from components.gpu.network_operator import RDMA_HCA_MAX, rail_resources
from components.services.karpenter import node_pool_name
from sandbox.cluster import KWOK_NODE_ANNOTATION
from stacks import compose
from stacks.config import HostConfig, NodeGroupConfig, TenantConfig
from stacks.platform_gpu import node_group_gpus
from stacks.platform_gpu_network import rail_networks

CPU_NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
"""Capacity of simulated nodes without GPUs (control plane, CPU groups)."""
GPU_NODE_CAPACITY = {"cpu": "128", "memory": "2Ti", "pods": "110", "ephemeral-storage": "8Ti"}
"""Capacity of simulated GPU nodes, before the device plugins' resources."""
SRIOV_VFS_PER_RAIL = 8
"""RDMA virtual functions per rail the simulated SR-IOV device plugin advertises."""


@dataclass(frozen=True)
class SimulatedNode:
    """One simulated node: its name, node group (None: control plane), labels, taints
    and capacity (resource name -> quantity string)."""

    name: str
    node_group: str | None
    labels: Mapping[str, str]
    taints: tuple[dict[str, str], ...]
    capacity: Mapping[str, str]

    def manifest(self) -> dict[str, Any]:
        """The `v1/Node` object kwok adopts (annotation `kwok.x-k8s.io/node: fake`)."""
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": dict(self.labels),
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
            },
            "spec": {"taints": [dict(t) for t in self.taints]},
            "status": {"capacity": dict(self.capacity), "allocatable": dict(self.capacity)},
        }


def device_plugin_resources(group: NodeGroupGpu, gpus: int) -> dict[str, int]:
    """Extended resources the NVIDIA device plugin advertises on one node of `group`.

    Args:
        group: the group's GPU settings, as the GPU Operator gets them.
        gpus: physical GPUs on the node.

    Returns:
        Resource name -> count. No MIG: `nvidia.com/gpu` = gpus. MIG `single`:
        `nvidia.com/gpu` = gpus x instances. MIG `mixed`: `nvidia.com/mig-<profile>` =
        gpus x instances of that profile. Time-slicing and MPS multiply each by the
        replicas (renamed `<name>.shared` with `renameByDefault`). Empty for CPU groups.
    """
    if group.gpu_model is None or gpus <= 0:
        return {}
    strategy = mig_strategy(group)
    layout = dict(group.mig_layout or {})
    if strategy == "mixed":
        base = {f"nvidia.com/mig-{profile}": gpus * n for profile, n in sorted(layout.items())}
    elif strategy == "single":
        base = {"nvidia.com/gpu": gpus * sum(layout.values())}
    else:
        base = {"nvidia.com/gpu": gpus}
    if group.sharing.mode == "exclusive":
        return base
    suffix = ".shared" if group.sharing.rename_by_default else ""
    return {f"{name}{suffix}": count * group.sharing.replicas for name, count in base.items()}


def _gfd_labels(model: str, gpus: int, group: NodeGroupGpu) -> dict[str, str]:
    gpu = spec(model)
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.count": str(gpus),
        "nvidia.com/gpu.memory": str(gpu.memory_gb * 1024),
        "nvidia.com/gpu.product": gpu.product_label,
        "nvidia.com/mig.capable": str(gpu.mig_capable).lower(),
    }
    if group.sharing.mode != "exclusive":
        labels["nvidia.com/gpu.replicas"] = str(group.sharing.replicas)
        labels["nvidia.com/gpu.sharing-strategy"] = group.sharing.mode.replace("-", "")
    if group.mig_layout:
        labels["nvidia.com/mig.strategy"] = mig_strategy(group)
    return labels


def _arch(model: str | None) -> str:
    # Grace-based superchips (GH200, GB200, GB300) are arm64 hosts.
    return "arm64" if model is not None and model.upper().startswith(("GH", "GB")) else "amd64"


def _rdma(config: TenantConfig, rails: tuple[str, ...]) -> dict[str, str]:
    network = config.gpu.network
    if not network.enabled or not rails:
        return {}
    per_rail = RDMA_HCA_MAX if network.rdma.value == "shared-device-plugin" else SRIOV_VFS_PER_RAIL
    by_rail = {r.rail: r for r in rail_networks(network)}
    resources = rail_resources(
        [by_rail[rail] for rail in rails if rail in by_rail], network.rdma.value
    )
    return {name: str(per_rail) for name in resources.values()}


def _taint_dicts(taints: Iterable[Taint]) -> tuple[dict[str, str], ...]:
    return tuple({"key": t.key, "value": t.value, "effect": t.effect} for t in taints)


def _topology(config: TenantConfig, host: HostConfig) -> SshHost:
    """The host as the label functions see them; they never read the SSH key."""
    return compose.ssh_host(config, host, private_key=_NO_KEY)


_NO_KEY = cast("pulumi.Output[str]", "never read")
"""Stand-in for an SSH key: no Pulumi Output can exist outside a program."""


def _node(
    config: TenantConfig,
    name: str,
    group: NodeGroupConfig,
    gpu_group: NodeGroupGpu,
    gpus: int,
    labels: dict[str, str],
    rails: tuple[str, ...],
) -> SimulatedNode:
    model = gpu_group.gpu_model
    labels = {
        **labels,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": _arch(model),
    }
    capacity = dict(CPU_NODE_CAPACITY)
    if model is not None and gpus > 0:
        labels.update(_gfd_labels(model, gpus, gpu_group))
        capacity = dict(GPU_NODE_CAPACITY)
        capacity.update({k: str(v) for k, v in device_plugin_resources(gpu_group, gpus).items()})
    capacity.update(_rdma(config, rails))
    taints = compose.node_group_taints(config, group)
    return SimulatedNode(
        name=name,
        node_group=group.name,
        labels=dict(sorted(labels.items())),
        taints=_taint_dicts(taints),
        capacity=capacity,
    )


def simulated_nodes(config: TenantConfig, *, autoscaled: int = 1) -> list[SimulatedNode]:
    """Every node the tenant would have, as `SimulatedNode`s, in a stable order.

    Args:
        config: the validated tenant config.
        autoscaled: nodes per autoscaled group when its `minNodes` is lower (a
            sandbox has no Karpenter to launch them; never above `maxNodes`).
    """
    gpu_groups = {g.name: g for g in node_group_gpus(config)}
    nodes: list[SimulatedNode] = []
    for host in config.control_plane_hosts:
        nodes.append(
            SimulatedNode(
                name=host.name,
                node_group=None,
                labels={
                    **node_labels(tenant=config.name, node_group=None),
                    "kubernetes.io/hostname": host.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/control-plane": "",
                },
                taints=_taint_dicts([CONTROL_PLANE_TAINT]),
                capacity=dict(CPU_NODE_CAPACITY),
            )
        )
    for group in config.node_groups:
        gpu_group = gpu_groups[group.name]
        group_wide = compose.node_group_labels(config, group)
        if group.autoscale is not None:
            count = min(max(group.autoscale.min_nodes, autoscaled), group.autoscale.max_nodes)
            gpus = group.autoscale.gpu.count if group.autoscale.gpu else 0
            rails = tuple(r.rail for r in config.gpu.network.rails) if gpus else ()
            labels = {
                **group_wide,
                "karpenter.sh/nodepool": node_pool_name(config.name, group.name),
            }
            for index in range(count):
                name = f"{config.name}-{group.name}-{index}"
                nodes.append(_node(config, name, group, gpu_group, gpus, labels, rails))
            continue
        for host_name in group.hosts:
            host = config.host(host_name)
            ssh = _topology(config, host)
            labels = {
                **group_wide,
                **node_labels(tenant=config.name, node_group=group.name, host=ssh),
            }
            gpus = host.gpu.count if host.gpu else 0
            nodes.append(_node(config, host.name, group, gpu_group, gpus, labels, ssh.rails))
    return nodes


def node_taints_of(group: NodeGroupConfig, config: TenantConfig) -> list[dict[str, str]]:
    """A node group's taints as Kubernetes taint objects (for pods' tolerations in tests)."""
    return [dict(t) for t in _taint_dicts(compose.node_group_taints(config, group))]
