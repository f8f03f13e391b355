"""Node labels and taints of inventory hosts (pure; applied by kubelet at registration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from components import naming
from components.cluster.types import SshHost, Taint
from components.isolation.tenant_namespaces import LABEL_TEAM

CONTROL_PLANE_TAINT = Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
"""kubeadm's default control-plane taint; restated because an explicit taint list
replaces kubeadm's default."""


def node_labels(
    *,
    tenant: str,
    node_group: str | None,
    host: SshHost | None = None,
    gpu_product: str | None = None,
    mig_config: str | None = None,
    sharing_config: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Labels of one node: tenant, group, GPU product, topology, sharing, then `extra`.

    Without `host` (autoscaled groups) only group-wide labels are returned and the GPU
    product is `gpu_product`. `extra` cannot override platform keys (the config rules
    reject that earlier).
    """
    labels: dict[str, str] = dict(extra or {})
    labels[naming.LABEL_TENANT] = tenant
    if node_group is not None:
        labels[naming.LABEL_NODE_GROUP] = node_group
    product = host.gpu_product if host is not None else gpu_product
    if product is not None:
        labels[naming.LABEL_GPU_PRODUCT] = product
    if host is not None:
        labels.update(_topology_labels(host))
    if mig_config is not None:
        labels[naming.LABEL_MIG_CONFIG] = mig_config
    if sharing_config is not None:
        labels[naming.LABEL_DEVICE_PLUGIN_CONFIG] = sharing_config
    return dict(sorted(labels.items()))


def _topology_labels(host: SshHost) -> dict[str, str]:
    labels = {}
    if host.dpu:
        labels[naming.LABEL_DPU] = "true"
    if host.rack is not None:
        labels[naming.LABEL_RACK] = host.rack
    for rail in host.rails:
        # One label per rail: a rail-optimized host has a NIC on every rail.
        labels[naming.rail_label(rail)] = "true"
    if host.nvlink_domain is not None:
        # Both keys: ours for humans and policies, the DRA driver's for ComputeDomains.
        labels[naming.LABEL_NVLINK_DOMAIN] = host.nvlink_domain
        labels[naming.LABEL_GPU_CLIQUE] = host.nvlink_domain
    return labels


def node_taints(*, gpu: bool, gpu_taint: bool, extra: Sequence[Taint] = ()) -> list[Taint]:
    """Taints of a node group: the GPU taint (unless disabled) then `extra`."""
    taints = []
    if gpu and gpu_taint:
        taints.append(Taint(naming.GPU_TAINT_KEY, naming.GPU_TAINT_VALUE, "NoSchedule"))
    taints.extend(t for t in extra if t not in taints)
    return taints


def team_labels(team: str | None) -> dict[str, str]:
    """Node labels of a group dedicated to `team`: `{gpu-caas.io/team: <team>}`, or none.

    The same key as the team namespaces' label (`tenant_namespaces.LABEL_TEAM`), so a
    pod selects its team's nodes with the label its namespace carries.
    """
    return {LABEL_TEAM: team} if team is not None else {}


def team_taints(team: str | None) -> list[Taint]:
    """Taints of a group dedicated to `team`: `gpu-caas.io/team=<team>:NoSchedule`, or none.

    Only pods tolerating it land there: the team's pods get the toleration from Kyverno
    (`components.isolation.kyverno.render_team_tolerations`), and other teams' pods that
    tolerate it are refused (`render_team_nodes`). NoSchedule, not NoExecute: pods
    already running when a group is dedicated are not evicted.
    """
    return [Taint(LABEL_TEAM, team, "NoSchedule")] if team is not None else []


def kubelet_node_labels(labels: Mapping[str, str]) -> str:
    """The kubelet `--node-labels` value: `k=v,k=v` in key order."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
