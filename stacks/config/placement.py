"""`systemCapacity`: where the platform's own workloads run, and the check that each has
a node.

GPU node groups are tainted `nvidia.com/gpu=present:NoSchedule`, kubeadm control-plane
nodes `node-role.kubernetes.io/control-plane:NoSchedule`, and a hosted (Kamaji) tenant
has no control-plane nodes at all. The platform's controllers (KAI, Kyverno, the
operators, Prometheus, CoreDNS ...) need somewhere to run; `systemCapacity.placement`
says where:

| placement | system capacity | tolerations added (per component) |
|---|---|---|
| `node-group` | a node group without GPUs (CPU hosts) | that group's taints, if any |
| `control-plane` | the kubeadm control-plane hosts | `node-role...control-plane:NoSchedule` |
| `gpu-nodes` | the GPU nodes | `nvidia.com/gpu:NoSchedule` |
| `provided` | the ISV cluster's own nodes (external) | `systemCapacity.provided.taints` |

Default: `node-group` when a node group without GPUs exists (the first such group),
else `control-plane` on kubeadm, `provided` on an external cluster, and nothing on a
hosted tenant (which is then refused: add a CPU node group).

`placement_problems` evaluates the placement model (`components.placement`) on every
workload the platform installs for the config (`platform_workloads`) and every node pool
(`node_pools`): a workload with no node, a node agent that misses nodes it must reach,
is a refusal naming the key to change; controllers that fit only GPU nodes are a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

from components import workloads as wl
from components.cluster.labels import CONTROL_PLANE_TAINT, node_taints, team_labels, team_taints
from components.cluster.types import Taint as ClusterTaint
from components.naming import LABEL_NODE_GROUP, LABEL_TENANT
from components.placement import (
    CONTROL_PLANE_LABEL,
    CONTROL_PLANE_TOLERATION,
    GPU_TOLERATION,
    KARPENTER_NODEPOOL_LABEL,
    NodePool,
    Placement,
    Reach,
    Taint,
    Toleration,
    Workload,
    place,
    tolerate,
    why_not,
)
from stacks.config.base import ConfigModel
from stacks.config.control_plane import ControlPlaneBackend
from stacks.config.errors import Problem, key_path
from stacks.config.node_groups import TaintConfig

if TYPE_CHECKING:
    from stacks.config.node_groups import NodeGroupConfig
    from stacks.config.tenant import TenantConfig


class SystemPlacement(StrEnum):
    """Where the platform's controllers run."""

    NODE_GROUP = "node-group"
    """On a node group without GPUs (`systemCapacity.nodeGroup`, default: the first)."""
    CONTROL_PLANE = "control-plane"
    """On the kubeadm control-plane hosts (the platform tolerates their taint)."""
    GPU_NODES = "gpu-nodes"
    """On GPU nodes (the platform tolerates `nvidia.com/gpu`; a provider's choice)."""
    PROVIDED = "provided"
    """On the nodes the ISV cluster provides (backend `external`)."""


class ProvidedNodesConfig(ConfigModel):
    """`systemCapacity.provided`: the ISV cluster's own nodes that may run the platform."""

    labels: dict[str, str] = {}
    """Labels those nodes carry (informational: used by the placement check)."""
    taints: list[TaintConfig] = []
    """Taints those nodes carry (e.g. `CriticalAddonsOnly=true:NoSchedule`); the
    platform tolerates exactly these."""


class SystemCapacityConfig(ConfigModel):
    """`systemCapacity`: where the platform's own controllers run."""

    placement: SystemPlacement | None = None
    """`node-group`, `control-plane`, `gpu-nodes` or `provided`; default: `node-group`
    if a node group without GPUs exists, else `control-plane` (kubeadm), `provided`
    (external), none (hosted: refused, add a CPU node group)."""
    node_group: str | None = None
    """With `node-group`: the node group (without GPUs); default: the first such group."""
    provided: ProvidedNodesConfig | None = None
    """With `provided`: labels and taints of the ISV cluster's nodes; default: untainted."""


def _path(*parts: str | int) -> str:
    return key_path("systemCapacity", *parts)


def _has_gpu(config: TenantConfig, group: NodeGroupConfig) -> bool:
    from stacks.config.gpu import node_group_gpu_model

    return node_group_gpu_model(config, group) is not None


def cpu_node_groups(config: TenantConfig) -> list[tuple[int, NodeGroupConfig]]:
    """(index, group) of every node group without GPUs."""
    return [(i, g) for i, g in enumerate(config.node_groups) if not _has_gpu(config, g)]


def effective_placement(config: TenantConfig) -> SystemPlacement | None:
    """`systemCapacity.placement`, or its default for the config (None: no system capacity)."""
    chosen = config.system_capacity.placement
    if chosen is not None:
        return chosen
    if cpu_node_groups(config):
        return SystemPlacement.NODE_GROUP
    if config.backend is ControlPlaneBackend.KUBEADM:
        return SystemPlacement.CONTROL_PLANE
    if config.backend is ControlPlaneBackend.EXTERNAL:
        return SystemPlacement.PROVIDED
    return None


def system_node_group(config: TenantConfig) -> tuple[int, NodeGroupConfig] | None:
    """(index, group) of the system node group with placement `node-group`, else None."""
    if effective_placement(config) is not SystemPlacement.NODE_GROUP:
        return None
    name = config.system_capacity.node_group
    if name is None:
        groups = cpu_node_groups(config)
        return groups[0] if groups else None
    for i, group in enumerate(config.node_groups):
        if group.name == name:
            return i, group
    return None


def _taints(items: Sequence[TaintConfig]) -> tuple[Taint, ...]:
    return tuple(Taint(t.key, t.value, t.effect.value) for t in items)


def system_tolerations(config: TenantConfig) -> tuple[Toleration, ...]:
    """The tolerations every platform controller gets (added per component to the chart's
    own, at the component's values key), for the config's system placement."""
    placement = effective_placement(config)
    if placement is SystemPlacement.CONTROL_PLANE:
        return (CONTROL_PLANE_TOLERATION,)
    if placement is SystemPlacement.GPU_NODES:
        return (GPU_TOLERATION,)
    if placement is SystemPlacement.PROVIDED:
        provided = config.system_capacity.provided
        return tuple(tolerate(t) for t in _taints(provided.taints)) if provided else ()
    found = system_node_group(config)
    if found is None:
        return ()
    return tuple(tolerate(t) for t in _taints(found[1].taints))


def system_tolerations_k8s(config: TenantConfig) -> tuple[dict[str, str], ...]:
    """`system_tolerations` as pod-spec entries (what the component Args carry)."""
    return tuple(t.to_k8s() for t in system_tolerations(config))


def gpu_node_tolerations(config: TenantConfig) -> tuple[Toleration, ...]:
    """Tolerations of the GPU node groups' own taints (`nodeGroups[].taints` of groups
    with GPUs): the node agents every GPU node needs (GPU Operator operands, NFD worker,
    DRA kubelet plugin, NicClusterPolicy daemonsets) get them after the GPU taint's."""
    found: list[Toleration] = []
    for group in config.node_groups:
        if _has_gpu(config, group):
            found.extend(tolerate(Taint(t.key, t.value, t.effect)) for t in team_taints(group.team))
            found.extend(tolerate(t) for t in _taints(group.taints))
    return tuple(dict.fromkeys(found))


def gpu_node_tolerations_k8s(config: TenantConfig) -> tuple[dict[str, str], ...]:
    """`gpu_node_tolerations` as pod-spec entries (what the GPU component Args carry)."""
    return tuple(t.to_k8s() for t in gpu_node_tolerations(config))


def konnectivity_tolerations(config: TenantConfig) -> tuple[dict[str, str], ...]:
    """Tolerations of Kamaji's konnectivity agent (TenantControlPlane
    `spec.addons.konnectivity.agent.tolerations`): the CRD default (CriticalAddonsOnly),
    the GPU taint (the agent is a DaemonSet: it then runs on every GPU node too, so the
    API server keeps a path into the cluster with or without a CPU group) and the
    system tolerations."""
    extra = (GPU_TOLERATION, *system_tolerations(config))
    agent = wl.KONNECTIVITY_AGENT
    return tuple(
        t.to_k8s()
        for t in (
            *agent.tolerations,
            *(t for t in dict.fromkeys(extra) if t not in agent.tolerations),
        )
    )


# --------------------------------------------------------------------------- #
# Node pools and workloads of a config
# --------------------------------------------------------------------------- #


def node_pools(config: TenantConfig) -> list[NodePool]:
    """Every kind of node the tenant cluster has: control plane, node groups, and the ISV
    cluster's own nodes (with placement `provided`)."""
    pools = []
    if config.backend is ControlPlaneBackend.KUBEADM and config.control_plane_hosts:
        pools.append(
            NodePool(
                "control plane",
                {CONTROL_PLANE_LABEL: "", LABEL_TENANT: config.name},
                (
                    Taint(
                        CONTROL_PLANE_TAINT.key,
                        CONTROL_PLANE_TAINT.value,
                        CONTROL_PLANE_TAINT.effect,
                    ),
                ),
                gpu=False,
                key_path=key_path("hosts"),
            )
        )
    if (
        config.backend is ControlPlaneBackend.EXTERNAL
        and effective_placement(config) is SystemPlacement.PROVIDED
    ):
        provided = config.system_capacity.provided or ProvidedNodesConfig()
        pools.append(
            NodePool(
                "the ISV cluster's own nodes",
                dict(provided.labels),
                _taints(provided.taints),
                gpu=False,
                key_path=_path("provided", "taints"),
            )
        )
    for i, group in enumerate(config.node_groups):
        gpu = _has_gpu(config, group)
        labels = {
            **group.labels,
            **team_labels(group.team),
            LABEL_TENANT: config.name,
            LABEL_NODE_GROUP: group.name,
        }
        if group.autoscale is not None:
            labels[KARPENTER_NODEPOOL_LABEL] = group.name
        taints = node_taints(
            gpu=gpu,
            gpu_taint=group.gpu_taint,
            extra=[*team_taints(group.team), *(_cluster_taint(t) for t in group.taints)],
        )
        pools.append(
            NodePool(
                f"node group {group.name!r}",
                labels,
                tuple(Taint(t.key, t.value, t.effect) for t in taints),
                gpu=gpu,
                key_path=key_path("nodeGroups", i, "taints"),
                gpu_labels_unknown=gpu,
            )
        )
    return pools


def _cluster_taint(taint: TaintConfig) -> ClusterTaint:
    return ClusterTaint(taint.key, taint.value, taint.effect.value)


def platform_workloads(config: TenantConfig) -> list[Workload]:
    """Every workload the platform installs (or the control plane brings) for `config`."""
    from stacks.config.services import (
        CniPlugin,
        NodeHealthEngine,
        SharedStorageDriver,
        effective_cni_plugin,
    )

    found: list[Workload] = []
    backend = config.backend
    if backend is not ControlPlaneBackend.EXTERNAL:
        found += [wl.COREDNS, wl.KUBE_PROXY]
    if backend is ControlPlaneBackend.HOSTED:
        found.append(wl.KONNECTIVITY_AGENT)
    plugin = effective_cni_plugin(config)
    if plugin is CniPlugin.CILIUM:
        found += wl.CILIUM
    elif plugin is CniPlugin.CALICO:
        found += wl.CALICO
    found += wl.KYVERNO
    services = config.services
    if services.scheduler.enabled:
        found += wl.KAI_SCHEDULER
    autoscaling = services.autoscaling
    if autoscaling.enabled and autoscaling.controller.install and config.autoscaled_node_groups:
        found += wl.KARPENTER
    if services.csi.shared_datasets.driver is SharedStorageDriver.NFS:
        found += wl.CSI_NFS
    observability = services.observability
    if observability.prometheus.mode.value == "stack":
        found += wl.PROMETHEUS_STACK
        if observability.prometheus.grafana:
            found.append(wl.GRAFANA)
    if observability.otel.enabled:
        found.append(wl.OTEL_COLLECTOR)
    if services.node_health.engine is NodeHealthEngine.NVSENTINEL:
        found.append(wl.NVSENTINEL)
    gpu = config.gpu
    if gpu.enabled:
        found += [wl.GPU_OPERATOR, wl.GPU_OPERANDS]
        if gpu.operator.node_feature_discovery:
            found += [wl.NFD_MASTER, wl.NFD_GC, wl.NFD_WORKER]
        if gpu.dra.enabled:
            controller = wl.DRA_CONTROLLER
            if backend is not ControlPlaneBackend.KUBEADM:
                controller = wl.without_control_plane_affinity(controller)
            found += [controller, wl.DRA_KUBELET_PLUGIN]
        if gpu.network.enabled:
            found += [wl.NETWORK_OPERATOR, wl.NIC_CLUSTER_POLICY]
        if gpu.nim.enabled:
            # NIMCache / NIMService pods request GPUs: they run on GPU nodes by design.
            found.append(wl.NIM_OPERATOR)
    return found


def placements(config: TenantConfig) -> list[Placement]:
    """Where every platform workload of `config` can run."""
    return place(
        platform_workloads(config),
        node_pools(config),
        system_tolerations(config),
        gpu_node_tolerations(config),
    )


# --------------------------------------------------------------------------- #
# Rules
# --------------------------------------------------------------------------- #


def system_capacity_problems(config: TenantConfig) -> list[Problem]:
    """`systemCapacity` fits the backend and names a node group without GPUs."""
    problems = []
    system = config.system_capacity
    placement = effective_placement(config)
    backend = config.backend
    if placement is SystemPlacement.CONTROL_PLANE and backend is not ControlPlaneBackend.KUBEADM:
        problems.append(
            Problem(
                _path("placement"),
                f"'control-plane' needs backend 'kubeadm'; backend {backend.value!r} has no "
                "control-plane nodes in the tenant cluster: add a node group without GPUs "
                "and use 'node-group'",
            )
        )
    if placement is SystemPlacement.PROVIDED and backend is not ControlPlaneBackend.EXTERNAL:
        problems.append(
            Problem(
                _path("placement"),
                f"'provided' needs backend 'external' (an ISV cluster with its own nodes); "
                f"backend {backend.value!r} has only the nodes this stack creates: use "
                "'node-group' or 'control-plane'",
            )
        )
    if system.provided is not None and placement is not SystemPlacement.PROVIDED:
        problems.append(
            Problem(_path("provided"), "only applies to placement 'provided'; remove it")
        )
    if system.node_group is not None:
        if placement is not SystemPlacement.NODE_GROUP:
            problems.append(
                Problem(_path("nodeGroup"), "only applies to placement 'node-group'; remove it")
            )
        else:
            names = {g.name: g for g in config.node_groups}
            group = names.get(system.node_group)
            if group is None:
                problems.append(
                    Problem(
                        _path("nodeGroup"),
                        f"unknown node group {system.node_group!r}; node groups: "
                        f"{', '.join(names) or 'none'}",
                    )
                )
            elif _has_gpu(config, group):
                problems.append(
                    Problem(
                        _path("nodeGroup"),
                        f"node group {system.node_group!r} has GPUs; the system node group "
                        "is CPU capacity (a group of hosts without `gpu`); to run the "
                        "platform on GPU nodes set placement: gpu-nodes",
                    )
                )
    elif placement is SystemPlacement.NODE_GROUP and not cpu_node_groups(config):
        problems.append(
            Problem(
                _path("placement"),
                "'node-group' needs a node group without GPUs (CPU hosts): add one to nodeGroups",
            )
        )
    return problems


def _fix(config: TenantConfig) -> str:
    """What to change when platform controllers have no node, for the config's flavor."""
    placement = effective_placement(config)
    backend = config.backend
    if placement is None:
        return (
            "a hosted (Kamaji) tenant has no control-plane nodes: add a node group of CPU "
            "hosts to nodeGroups (it becomes the system node group; placement: gpu-nodes "
            "does not help, Kamaji's CoreDNS tolerates only CriticalAddonsOnly and the "
            "control-plane taint)"
        )
    if placement is SystemPlacement.NODE_GROUP and backend is ControlPlaneBackend.HOSTED:
        return (
            "Kamaji's CoreDNS tolerates only CriticalAddonsOnly and the control-plane "
            "taint: leave the system node group untainted or taint it "
            "CriticalAddonsOnly=true:NoSchedule"
        )
    if placement is SystemPlacement.NODE_GROUP:
        return (
            "give the system node group only taints the platform may tolerate, or add a "
            "node group of CPU hosts"
        )
    if placement is SystemPlacement.PROVIDED:
        return "list the taints of the ISV cluster's nodes in systemCapacity.provided.taints"
    if backend is ControlPlaneBackend.HOSTED:
        return (
            "Kamaji's CoreDNS tolerates only CriticalAddonsOnly and the control-plane "
            "taint: add a node group of CPU hosts (systemCapacity.placement: node-group)"
        )
    return "add a node group of CPU hosts (systemCapacity.placement: node-group)"


def _reasons(placement: Placement, pools: Sequence[NodePool]) -> str:
    reasons = [why_not(placement.workload, p) for p in pools]
    return "; ".join(r for r in reasons if r) or "no nodes"


def placement_problems(config: TenantConfig) -> list[Problem]:
    """Refuse a config in which a platform workload has no node (or a node agent misses
    nodes it must run on); each problem names the key to change."""
    if system_capacity_problems(config):
        return system_capacity_problems(config)
    pools = node_pools(config)
    problems = []
    stranded = [p for p in placements(config) if not p.placeable]
    controllers = [p for p in stranded if p.workload.reach is Reach.ONE]
    if controllers:
        names = ", ".join(p.workload.label for p in controllers)
        first = controllers[0]
        problems.append(
            Problem(
                _path("placement"),
                f"no node for {len(controllers)} platform workload(s): {names}. "
                f"{first.workload.component} {first.workload.name}: {_reasons(first, pools)}. "
                "Its pods would stay Pending and the first `pulumi up` would time out "
                f"waiting for them: {_fix(config)}",
            )
        )
    for p in stranded:
        if p.workload.reach is Reach.ONE:
            continue
        for pool in p.missing:
            problems.append(
                Problem(
                    pool.key_path,
                    f"{p.workload.label} cannot run on {pool.name} "
                    f"({why_not(p.workload, pool)}), and every "
                    f"{'GPU ' if p.workload.reach is Reach.GPU else ''}node needs it: "
                    "remove the taint or give it an effect of PreferNoSchedule",
                )
            )
    return problems


def placement_warnings(config: TenantConfig) -> list[Problem]:
    """Warn when platform controllers can run only on GPU nodes."""
    if system_capacity_problems(config):
        return []
    gpu_only = [p for p in placements(config) if p.placeable and p.gpu_only]
    if not gpu_only:
        return []
    return [
        Problem(
            _path("placement"),
            f"{len(gpu_only)} platform workload(s) can run only on GPU nodes: "
            + ", ".join(p.workload.label for p in gpu_only)
            + ". They take CPU and memory from GPU jobs (and, autoscaled, keep a GPU node "
            "up); add a node group of CPU hosts to give them system capacity",
        )
    ]
