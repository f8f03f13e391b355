"""Where each platform workload may run: taints, tolerations and node selection (pure).

The placement model. Every workload the platform installs on a tenant cluster is a
`Workload`: its kind, how many nodes it must reach (`Reach`), and the node selector,
required node affinity and tolerations its pods get from the chart defaults (recorded
here as data, with their source, and tested against the upstream `values.yaml` where
`../shared/crds` has it). Every node of the tenant cluster belongs to a `NodePool`
(the kubeadm control plane, one node group, or the nodes an ISV cluster provides) with
its labels and taints. `fits(workload, pool)` follows the scheduler's rules for the
parts that decide whether a pod can land at all: every `NoSchedule`/`NoExecute` taint
tolerated, the node selector and the required node affinity matched
(https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/,
https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/).
Capacity (CPU, memory, pod anti-affinity) is not modelled.

The "system tolerations" of a tenant (the taints of its system capacity, chosen in
`systemCapacity`, see `stacks/config/placement.py`) are added, per workload, to the
chart's own tolerations at the workload's values key: `apply_tolerations` is what the
values renderers call, and `effective` is what the config check evaluates, so both
read the same table. A chart's list is replaced, not merged, by Helm, which is why the
chart default is restated in front of ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from components.naming import GPU_TAINT_KEY

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
"""Label and taint key kubeadm puts on control-plane nodes (value `""`)."""
LEGACY_MASTER_KEY = "node-role.kubernetes.io/master"
"""The pre-1.24 control-plane key some charts still tolerate; no node of ours has it."""
CRITICAL_ADDONS_ONLY = "CriticalAddonsOnly"
"""Taint key managed clusters put on system node pools."""
KARPENTER_NODEPOOL_LABEL = "karpenter.sh/nodepool"
"""Label Karpenter sets on every node it launches (the NodePool's name)."""
OS_LABEL = "kubernetes.io/os"
"""Label kubelet sets on every node (`linux` on ours)."""

SCHEDULING_EFFECTS = ("NoSchedule", "NoExecute")
"""Effects that keep a pod off a node (PreferNoSchedule only discourages it)."""


class Reach(StrEnum):
    """How many nodes a workload needs."""

    ONE = "one"
    """A Deployment, StatefulSet or Job: at least one node must fit, else it stays
    Pending and the Helm release times out."""
    EVERY = "every"
    """A node agent every node needs (pod network, kube-proxy, CSI node plugin): every
    node pool must fit."""
    GPU = "gpu"
    """A node agent every GPU node needs (driver, device plugin, DRA kubelet plugin):
    every GPU node pool must fit."""


@dataclass(frozen=True)
class Taint:
    """A node taint."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __str__(self) -> str:
        return f"{self.key}{'=' + self.value if self.value else ''}:{self.effect}"


@dataclass(frozen=True)
class Toleration:
    """A pod toleration (`operator` `Equal` or `Exists`; empty key with `Exists`
    tolerates every taint, empty effect every effect)."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration matches `taint` (Kubernetes `ToleratesTaint`)."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value

    def to_k8s(self) -> dict[str, str]:
        """The toleration as a pod spec / Helm values entry (empty fields omitted)."""
        out = {"key": self.key, "operator": self.operator, "value": self.value}
        out = {k: v for k, v in out.items() if v}
        if self.operator == "Exists":
            out.pop("value", None)
        if self.effect:
            out["effect"] = self.effect
        return out

    @classmethod
    def from_k8s(cls, item: Mapping[str, Any]) -> Toleration:
        """Parse a toleration from a pod spec / Helm values entry."""
        return cls(
            key=str(item.get("key") or ""),
            operator=str(item.get("operator") or "Equal"),
            value=str(item.get("value") or ""),
            effect=str(item.get("effect") or ""),
        )

    def __str__(self) -> str:
        if not self.key:
            return f"every taint{':' + self.effect if self.effect else ''}"
        value = "" if self.operator == "Exists" else f"={self.value}"
        return f"{self.key}{value}{':' + self.effect if self.effect else ''}"


def tolerate(taint: Taint) -> Toleration:
    """The narrowest toleration of `taint` (its key, value and effect)."""
    if taint.value:
        return Toleration(taint.key, "Equal", taint.value, taint.effect)
    return Toleration(taint.key, "Exists", "", taint.effect)


GPU_TOLERATION = Toleration(GPU_TAINT_KEY, "Exists", "", "NoSchedule")
"""Tolerates the GPU node groups' `nvidia.com/gpu=present:NoSchedule`."""
CONTROL_PLANE_TOLERATION = Toleration(CONTROL_PLANE_LABEL, "Exists", "", "NoSchedule")
"""Tolerates kubeadm's `node-role.kubernetes.io/control-plane:NoSchedule`."""


@dataclass(frozen=True)
class Requirement:
    """One node-affinity match expression (`In`, `NotIn`, `Exists`, `DoesNotExist`)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with `labels` satisfies the expression."""
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        raise ValueError(f"unsupported node affinity operator {self.operator!r}")


@dataclass(frozen=True)
class NodePool:
    """Nodes that share labels and taints: a node group, the control plane, or the
    nodes an ISV cluster provides."""

    name: str
    """How users know it, e.g. `node group 'train'`, `control plane`."""
    labels: Mapping[str, str]
    """Labels every node of the pool carries (the ones selectors may ask for)."""
    taints: tuple[Taint, ...]
    gpu: bool
    """Nodes with NVIDIA GPUs."""
    key_path: str
    """Config key path where the pool is defined (what to change)."""
    gpu_labels_unknown: bool = False
    """GPU nodes whose NFD/GFD labels (`feature.node.kubernetes.io/pci-10de.present`,
    `nvidia.com/gpu.present`) appear only after the GPU Operator runs: selectors on
    those labels count as matched on GPU pools."""

    def blocking_taints(self, tolerations: Iterable[Toleration]) -> list[Taint]:
        """Taints of the pool that keep a pod with `tolerations` off it."""
        held = tuple(tolerations)
        return [
            t
            for t in self.taints
            if t.effect in SCHEDULING_EFFECTS and not any(tol.tolerates(t) for tol in held)
        ]


GPU_DISCOVERY_LABELS = frozenset(
    {
        "feature.node.kubernetes.io/pci-10de.present",
        "nvidia.com/gpu.present",
        "feature.node.kubernetes.io/cpu-model.vendor_id",
    }
)
"""Labels NFD / GPU Feature Discovery put on GPU nodes once they run."""


@dataclass(frozen=True)
class Workload:
    """One platform workload and the scheduling constraints of its pods."""

    component: str
    """The component as the docs name it, e.g. `Kyverno`."""
    name: str
    """The workload within it, e.g. `admission controller`."""
    kind: str
    """`Deployment`, `StatefulSet`, `DaemonSet`, `Job` (Helm hook) ..."""
    reach: Reach
    tolerations: tuple[Toleration, ...] = ()
    """Tolerations without system capacity: the chart default (or, with `ours`, the
    list gpu-caas always sets)."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required: tuple[tuple[Requirement, ...], ...] = ()
    """Required node affinity: terms ORed, expressions within a term ANDed."""
    values_key: str | None = None
    """Dotted Helm values key of the tolerations (None: not configurable)."""
    system: bool = False
    """Gets the tenant's system tolerations at `values_key`."""
    ours: bool = False
    """`tolerations` is the list gpu-caas sets, not the chart's default."""
    source: str = ""
    """Where the default comes from (upstream file or documentation)."""

    @property
    def label(self) -> str:
        """`<component> <name> (<kind>)`."""
        return f"{self.component} {self.name} ({self.kind})"


def effective(
    workload: Workload, system: Sequence[Toleration], gpu_nodes: Sequence[Toleration] = ()
) -> Workload:
    """The workload as deployed on a tenant whose system tolerations are `system` and
    whose GPU node groups carry further taints tolerated by `gpu_nodes` (GPU node agents
    get those: the driver and device plugin must run on every GPU node)."""
    extra: Sequence[Toleration] = ()
    if workload.system:
        extra = system
    elif workload.reach is Reach.GPU:
        extra = gpu_nodes
    if not extra or (workload.values_key is None and not workload.ours):
        return workload
    return replace(workload, tolerations=merged(workload.tolerations, extra))


def merged(base: Sequence[Toleration], extra: Sequence[Toleration]) -> tuple[Toleration, ...]:
    """`base` then the tolerations of `extra` not already in it."""
    out = list(base)
    out.extend(t for t in extra if t not in out)
    return tuple(out)


def fits(workload: Workload, pool: NodePool) -> bool:
    """Whether a pod of `workload` can be scheduled on a node of `pool`."""
    if pool.blocking_taints(workload.tolerations):
        return False
    labels = dict(pool.labels)
    if pool.gpu and pool.gpu_labels_unknown:
        labels.update(dict.fromkeys(GPU_DISCOVERY_LABELS, "true"))
    labels.setdefault(OS_LABEL, "linux")
    if any(labels.get(k) != v for k, v in workload.node_selector.items()):
        return False
    return not workload.required or any(
        all(r.matches(labels) for r in term) for term in workload.required
    )


def why_not(workload: Workload, pool: NodePool) -> str:
    """Why `workload` does not fit `pool` (empty when it does)."""
    blocking = pool.blocking_taints(workload.tolerations)
    if blocking:
        return f"{pool.name}: taint {', '.join(map(str, blocking))} not tolerated"
    if not fits(workload, pool):
        return f"{pool.name}: node selector or required node affinity not matched"
    return ""


@dataclass(frozen=True)
class Placement:
    """Where one workload can run on one tenant."""

    workload: Workload
    pools: tuple[NodePool, ...]
    """Pools it fits."""
    missing: tuple[NodePool, ...]
    """Pools it must reach (by its `Reach`) but does not fit."""

    @property
    def placeable(self) -> bool:
        """False when the workload would stay Pending (or miss nodes it must reach)."""
        if self.workload.reach is Reach.ONE:
            return bool(self.pools)
        return not self.missing

    @property
    def gpu_only(self) -> bool:
        """A `Reach.ONE` workload that fits GPU pools only."""
        return (
            self.workload.reach is Reach.ONE and bool(self.pools) and all(p.gpu for p in self.pools)
        )


def place(
    workloads: Iterable[Workload],
    pools: Sequence[NodePool],
    system: Sequence[Toleration] = (),
    gpu_nodes: Sequence[Toleration] = (),
) -> list[Placement]:
    """Where each workload (with the system / GPU-node tolerations added) can run."""
    out = []
    for workload in workloads:
        deployed = effective(workload, system, gpu_nodes)
        fitting = tuple(p for p in pools if fits(deployed, p))
        if deployed.reach is Reach.EVERY:
            must = tuple(pools)
        elif deployed.reach is Reach.GPU:
            must = tuple(p for p in pools if p.gpu)
        else:
            must = ()
        out.append(Placement(deployed, fitting, tuple(p for p in must if p not in fitting)))
    return out


def values_tolerations(
    workload: Workload, system: Sequence[Toleration], gpu_nodes: Sequence[Toleration] = ()
) -> list[dict[str, str]]:
    """The tolerations list the chart gets at `workload.values_key`."""
    return [t.to_k8s() for t in effective(workload, system, gpu_nodes).tolerations]


def apply_tolerations(
    values: dict[str, Any],
    workloads: Iterable[Workload],
    system: Sequence[Toleration],
    gpu_nodes: Sequence[Toleration] = (),
) -> dict[str, Any]:
    """Set the tolerations of every workload that gets more than its default at its
    values key (in place): `system` for system workloads, `gpu_nodes` for GPU node
    agents.

    Nothing is set where nothing is added (the chart default stays), nor for workloads
    whose key is not configurable. Returns `values`.
    """
    for workload in workloads:
        if workload.values_key is None:
            continue
        deployed = effective(workload, system, gpu_nodes)
        if deployed == workload and not workload.ours:
            continue
        node = values
        *parents, leaf = workload.values_key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = [t.to_k8s() for t in deployed.tolerations]
    return values


def tolerations_k8s(tolerations: Iterable[Toleration]) -> list[dict[str, str]]:
    """Tolerations as pod-spec entries."""
    return [t.to_k8s() for t in tolerations]


def parse_tolerations(items: Iterable[Mapping[str, Any]]) -> tuple[Toleration, ...]:
    """Tolerations from pod-spec / values entries."""
    return tuple(Toleration.from_k8s(item) for item in items)
