"""What the tenant gets, in one readable stack output (`summary`).

`tenant_summary(config)` is pure: it reads only the validated config, so every value
is known at the first preview and the same function can be table-tested. Shape:

    {
        "nodeGroups": {"<group>": "<one line>", ...},
        "teams": {"<team>": "<one line>", ...},
    }

One line per node group: its hosts (or the autoscaling bounds), the GPU model and
count per node (and the total for inventory hosts), and how the GPUs are shared (MIG
layout per GPU, time-slicing or MPS replicas). One line per team: its namespaces, the
GPU ResourceQuota of each namespace, and the KAI scheduler queue workloads pick with
the `kai.scheduler/queue` label. `pulumi preview` shows a mapping of short strings
as one line per key, which reads better than nested structures or a multi-line
string (which the CLI re-parses as YAML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stacks.config import NodeGroupConfig, SharingMode, TeamConfig, TenantConfig
from stacks.config.gpu import node_group_gpu_model, node_group_mig_layout
from stacks.config.host_states import active_hosts, failed_hosts

SEPARATOR = "; "
"""Between the parts of one summary line."""
MAX_LISTED_HOSTS = 6
"""Node groups with more hosts show the count, the first three and the last."""


def tenant_summary(config: TenantConfig) -> dict[str, dict[str, str]]:
    """The `summary` stack output of `config` (shape in the module docstring)."""
    scheduler = config.services.scheduler
    return {
        "nodeGroups": {group.name: node_group_line(config, group) for group in config.node_groups},
        "teams": {
            team.name: team_line(team, queue=team.name if scheduler.enabled else None)
            for team in config.teams
        },
    }


def node_group_line(config: TenantConfig, group: NodeGroupConfig) -> str:
    """One node group: capacity, GPUs and sharing, e.g.
    `hosts gpu-0, gpu-1; 8x H100-80GB per node (16 GPUs); exclusive`."""
    model = node_group_gpu_model(config, group)
    if group.autoscale is not None:
        scale = group.autoscale
        capacity = f"autoscaled {scale.min_nodes}-{scale.max_nodes} nodes"
        counts = [scale.gpu.count] if scale.gpu is not None else []
        total = None
    else:
        # Failed hosts are out of service: named, never counted as capacity.
        active = active_hosts(config, group)
        failed = failed_hosts(config, group)
        capacity = hosts_text(active) if active else "no host in service"
        if failed:
            capacity += f" (failed: {', '.join(failed)})"
        # The model and per-node count come from every listed host (a group whose hosts
        # all failed is still a GPU group); the total only from those in service.
        gpus = [config.host(name).gpu for name in [*active, *failed]]
        counts = [gpu.count for gpu in gpus if gpu is not None]
        total = sum(g.count for g in (config.host(n).gpu for n in active) if g is not None)
    if model is None or not counts:
        return SEPARATOR.join([capacity, "CPU only"])
    low, high = min(counts), max(counts)
    per_node = f"{low}x" if low == high else f"{low}-{high}x"
    gpu = f"{per_node} {model} per node"
    if total is not None:
        gpu += f" ({_plural(total, 'GPU')})"
    parts = [capacity, gpu, sharing_text(group)]
    if not config.gpu.enabled:
        parts.append("GPU platform off (gpu.enabled: false)")
    return SEPARATOR.join(parts)


def sharing_text(group: NodeGroupConfig) -> str:
    """How a node group's GPUs are shared: `exclusive`, `MIG per GPU: 1x 3g.40gb + ...`,
    `time-slicing: 4 pods per GPU` or `MPS: 4 clients per GPU`."""
    sharing = group.sharing
    if sharing.mode is SharingMode.MIG:
        return "MIG per GPU: " + mig_layout_text(node_group_mig_layout(group) or {})
    if sharing.mode is SharingMode.TIME_SLICING and sharing.time_slicing is not None:
        return f"time-slicing: {sharing.time_slicing.replicas} pods per GPU"
    if sharing.mode is SharingMode.MPS and sharing.mps is not None:
        return f"MPS: {sharing.mps.replicas} clients per GPU"
    return "exclusive"


def mig_layout_text(layout: Mapping[str, int]) -> str:
    """`{"3g.40gb": 1, "1g.10gb": 2}` -> `1x 3g.40gb + 2x 1g.10gb` (largest slice first)."""
    ordered = sorted(layout.items(), key=lambda item: (-_slice_size(item[0]), item[0]))
    return " + ".join(f"{count}x {profile}" for profile, count in ordered)


def _slice_size(profile: str) -> int:
    """Compute slices of a MIG profile name (`3g.40gb` -> 3; unparsable -> 0)."""
    head = profile.split("g.", 1)[0]
    return int(head) if head.isdigit() else 0


def team_line(team: TeamConfig, queue: str | None) -> str:
    """One team: namespaces, GPU quota and scheduler queue, e.g.
    `namespace ml; quota 16 GPUs per namespace; KAI queue ml`."""
    namespaces = team.effective_namespaces
    label = "namespace" if len(namespaces) == 1 else "namespaces"
    quota = (
        "no GPU quota"
        if team.gpu_quota is None
        else f"quota {_plural(team.gpu_quota, 'GPU')} per namespace"
    )
    scheduler = f"KAI queue {queue}" if queue is not None else "no scheduler queue (KAI off)"
    return SEPARATOR.join([f"{label} {', '.join(namespaces)}", quota, scheduler])


def hosts_text(hosts: Sequence[str]) -> str:
    """`host gpu-0`, `hosts gpu-0, gpu-1`; more than `MAX_LISTED_HOSTS`: the count, the
    first three and the last (`64 hosts h-00, h-01, h-02, ..., h-63`)."""
    if len(hosts) == 1:
        return f"host {hosts[0]}"
    if len(hosts) <= MAX_LISTED_HOSTS:
        return f"hosts {', '.join(hosts)}"
    return f"{len(hosts)} hosts {', '.join(hosts[:3])}, ..., {hosts[-1]}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
