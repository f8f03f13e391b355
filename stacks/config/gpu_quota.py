"""One definition of a team's GPU quota, in every sharing mode (pure, tested).

`teams[].gpuQuota` is physical GPUs, per namespace of the team. One physical GPU appears
under a different resource, and count, in every sharing mode
(`components.gpu.advertised.advertised_per_gpu`), and a Kubernetes ResourceQuota holds
one number per resource name and cannot add different names up
(https://kubernetes.io/docs/concepts/policy/resource-quotas/). So the quota becomes one
line per resource the cluster advertises, each the same `gpuQuota` physical GPUs
converted to that resource's units:

* `requests.<resource>` for what the device plugin advertises: whole GPUs and MIG
  instances of the `single` strategy (`nvidia.com/gpu`), each MIG profile of the
  `mixed` strategy (`nvidia.com/mig-<profile>`), time-sliced and MPS replicas
  (`nvidia.com/gpu.shared`, x MIG instances where combined);
* `<class>.deviceclass.resource.k8s.io/devices` for each DRA DeviceClass of
  `isolation.draDeviceClasses`: the devices one GPU yields in that class when the DRA
  driver publishes GPUs (`gpu.dra.gpuResources`), else 0, so no ResourceClaim bypasses
  the quota.

A team may use every node group except those dedicated to another team
(`nodeGroups[].team`); resources only such groups advertise get a 0 line, so the team
cannot even ask for them. `requests.nvidia.com/gpu` is always at least `gpuQuota`: GPU
nodes outside every node group get the device plugin's default config, whole GPUs.

`team_quota` gives a team's lines (the ResourceQuota of each of its namespaces,
`stacks/platform_isolation.py`), `kai_queue_quota` its KAI queue quota in KAI's GPU
units (`stacks/platform_services.py`), `cluster_capacity` what the node groups advertise
at most, and `quota_warnings` (a `stacks.config.rules` warning) says when the teams'
quotas cannot all be met at once (more GPUs than the node groups hold, or namespaces
competing for one resource). docs/gpu-platform.md#gpu-quotas has the table and the bound
a quota gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.gpu.advertised import GPU, advertised_per_gpu
from components.isolation.tenant_namespaces import device_class_quota_key, quota_key
from components.services.kai_scheduler import kai_gpu_units
from stacks.config.errors import Problem, key_path, plural
from stacks.config.host_states import active_hosts
from stacks.config.node_groups import NodeGroupConfig
from stacks.config.teams import TeamConfig
from stacks.config.tenant import TenantConfig

GPU_DEVICE_CLASS = "gpu.nvidia.com"
"""NVIDIA DRA driver DeviceClass of whole GPUs."""
MIG_DEVICE_CLASS = "mig.nvidia.com"
"""NVIDIA DRA driver DeviceClass of MIG devices."""


@dataclass(frozen=True)
class GroupGpus:
    """What one node group holds and publishes, per physical GPU."""

    name: str
    """Node-group name; empty for GPU nodes outside every node group (`_unlisted`)."""
    team: str | None
    """The one team allowed on the group (`nodeGroups[].team`); None: every team."""
    gpus: int
    """Physical GPUs the group holds at most: its active hosts' GPUs, or `maxNodes` x
    GPUs per node."""
    resources: Mapping[str, int]
    """`{extended resource: units}` one GPU advertises through the device plugin; empty
    when the device plugin is off."""
    devices: Mapping[str, int]
    """`{DRA DeviceClass: devices}` one GPU yields, for every class of
    `isolation.draDeviceClasses`; 0 when the DRA driver publishes no GPUs."""

    def quota_lines(self) -> dict[str, int]:
        """`resources` and `devices` under their ResourceQuota keys (units per GPU)."""
        lines = {quota_key(name): units for name, units in self.resources.items()}
        lines.update({device_class_quota_key(name): count for name, count in self.devices.items()})
        return lines

    def usable_by(self, team: str) -> bool:
        """True unless the group is dedicated to another team."""
        return self.team is None or self.team == team


def dra_devices_per_gpu(mig_layout: Mapping[str, int] | None, device_class: str) -> int:
    """Devices one GPU yields in DRA DeviceClass `device_class` while the NVIDIA DRA
    driver publishes GPUs.

    The driver publishes a GPU without MIG as one `gpu.nvidia.com` device, and a GPU
    with MIG mode on as its MIG devices only (`mig.nvidia.com`), never as a whole GPU
    (https://github.com/kubernetes-sigs/dra-driver-nvidia-gpu/blob/v0.4.0/cmd/gpu-kubelet-plugin/nvlib.go,
    statically configured MIG devices). A class gpu-caas does not know counts one device
    per GPU.

    Args:
        mig_layout: the group's per-GPU MIG layout `{profile: instances}`, None without MIG.
        device_class: DeviceClass name.
    """
    instances = sum((mig_layout or {}).values())
    if device_class == MIG_DEVICE_CLASS:
        return instances
    if device_class == GPU_DEVICE_CLASS:
        return 0 if instances else 1
    return 1


def _device_plugin_on(config: TenantConfig) -> bool:
    return config.gpu.enabled and config.gpu.operator.device_plugin


def _dra_gpus_on(config: TenantConfig) -> bool:
    return config.gpu.enabled and config.gpu.dra.enabled and config.gpu.dra.gpu_resources


def _devices(config: TenantConfig, mig_layout: Mapping[str, int] | None) -> dict[str, int]:
    on = _dra_gpus_on(config)
    return {
        device_class: dra_devices_per_gpu(mig_layout, device_class) if on else 0
        for device_class in config.isolation.dra_device_classes
    }


def _physical_gpus(config: TenantConfig, group: NodeGroupConfig) -> int:
    if group.autoscale is not None:
        gpu = group.autoscale.gpu
        return 0 if gpu is None else group.autoscale.max_nodes * gpu.count
    total = 0
    for name in active_hosts(config, group):
        try:
            host = config.host(name)
        except KeyError:
            continue  # a host missing from the inventory: the rules report it
        if host.gpu is not None:
            total += host.gpu.count
    return total


def group_gpus(config: TenantConfig) -> tuple[GroupGpus, ...]:
    """Every GPU node group of `config`, in config order (CPU-only groups left out)."""
    # Imported here: stacks.platform_gpu imports stacks.config, whose rules import this
    # module; `node_group_gpus` stays the one builder of `NodeGroupGpu`s.
    from stacks.platform_gpu import node_group_gpus

    device_plugin = _device_plugin_on(config)
    found = []
    for group, gpu in zip(config.node_groups, node_group_gpus(config), strict=True):
        if gpu.gpu_model is None:
            continue
        found.append(
            GroupGpus(
                name=group.name,
                team=group.team,
                gpus=_physical_gpus(config, group),
                resources=advertised_per_gpu(gpu) if device_plugin else {},
                devices=_devices(config, gpu.mig_layout),
            )
        )
    return tuple(found)


def _unlisted(config: TenantConfig) -> GroupGpus:
    """GPU nodes outside every node group: the device plugin's default config (whole
    GPUs, `components.gpu.gpu_operator.DEFAULT_DEVICE_PLUGIN_CONFIG`), no MIG. Counted in
    no capacity; it keeps `requests.nvidia.com/gpu` and the DRA lines in every quota."""
    return GroupGpus(
        name="",
        team=None,
        gpus=0,
        resources={GPU: 1} if _device_plugin_on(config) else {},
        devices=_devices(config, None),
    )


def _team_quota(
    groups: Sequence[GroupGpus], unlisted: GroupGpus, team: TeamConfig
) -> dict[str, int]:
    quota = team.gpu_quota
    usable = [group for group in groups if group.usable_by(team.name)]
    per_gpu: dict[str, int] = {}
    for group in usable if quota is None else (unlisted, *usable):
        for key, units in group.quota_lines().items():
            per_gpu[key] = max(per_gpu.get(key, 0), units)
    lines = {} if quota is None else {key: quota * units for key, units in per_gpu.items()}
    offered = {key for key, units in per_gpu.items() if units > 0}
    for group in groups:
        if not group.usable_by(team.name):
            for key, units in group.quota_lines().items():
                if units > 0 and key not in offered:
                    lines[key] = 0
    return dict(sorted(lines.items()))


def team_quota(config: TenantConfig, team: TeamConfig) -> dict[str, int]:
    """The GPU lines of the ResourceQuota of each namespace of `team`,
    `{quota key: count}`, sorted by key.

    Each line is `team.gpuQuota` physical GPUs times the units one GPU advertises in
    that resource, over the node groups the team may use. Where several groups advertise
    one resource with different units per GPU (`nvidia.com/gpu` from an exclusive group,
    1 per GPU, and from a MIG `single` group, 7 per GPU), the line takes the most: a
    ResourceQuota holds one number per resource, not per node group, and any smaller
    number would keep the team below `gpuQuota` GPUs on the group that advertises more.
    The price is on the other group: there the same line lets the team hold more than
    `gpuQuota` GPUs (docs/gpu-platform.md#gpu-quotas, "the bound").

    Without `gpuQuota` only the 0 lines are there: resources that only node groups
    dedicated to other teams advertise.

    Args:
        config: a parsed tenant (after `parse_tenant`).
        team: one of `config.teams`.
    """
    return _team_quota(group_gpus(config), _unlisted(config), team)


def kai_queue_quota(config: TenantConfig, team: TeamConfig) -> int:
    """The GPU quota of `team`'s KAI queue, in KAI's GPU units: `gpuQuota` x the most
    units one GPU of a node group the team may use counts for
    (`components.services.kai_scheduler.kai_gpu_units`); 0 without `gpuQuota`.

    The same conversion as `team_quota`, in KAI's units: a whole GPU counts 1; a MIG
    GPU counts its instances (`single` strategy) or their compute slices (`mixed`:
    `1g.10gb` x 7 counts 7, `3g.40gb` x 2 counts 6); time-sliced and MPS replicas count
    0, so KAI guarantees and caps none of them (the ResourceQuota still does). Every
    team's quota is scaled by the same factor where the teams see the same groups, so
    KAI divides GPUs between teams in the ratio of their `gpuQuota`s. The queue is the
    team's as a whole: not multiplied by its namespaces.
    """
    if not team.gpu_quota:
        return 0
    usable = [group for group in group_gpus(config) if group.usable_by(team.name)]
    units = max(
        kai_gpu_units({**group.resources, **group.devices})
        for group in (_unlisted(config), *usable)
    )
    return team.gpu_quota * units


def _capacity(groups: Sequence[GroupGpus]) -> dict[str, int]:
    total: dict[str, int] = {}
    for group in groups:
        for key, units in group.quota_lines().items():
            total[key] = total.get(key, 0) + group.gpus * units
    return dict(sorted(total.items()))


def cluster_capacity(config: TenantConfig) -> dict[str, int]:
    """What the node groups advertise at most, `{quota key: count}` (keyed like the
    quota lines, so the two compare directly), sorted by key.

    Per group: its physical GPUs (groups of hosts: the GPUs of its active hosts, failed
    ones left out, `stacks.config.host_states.active_hosts`; autoscaled groups:
    `maxNodes` x GPUs per node) times what one GPU advertises.
    """
    return _capacity(group_gpus(config))


def quota_warnings(config: TenantConfig) -> list[Problem]:
    """Warnings (at `teams`) when the teams' quotas cannot all be met at once; empty
    when they can.

    * Physical GPUs: the teams' `gpuQuota` x namespaces add up to more than the GPUs of
      the node groups (`GroupGpus.gpus`).
    * Per resource: the namespaces' lines add up to more than `cluster_capacity`, each
      line counted at most at that capacity. A namespace alone is never over: its line
      is a cap, and a line above what the cluster advertises just does not bind (a team
      of 64 GPUs on a cluster with 8 MIG GPUs has a MIG line above the cluster's MIG
      slices, and still gets 64 GPUs). Several namespaces whose lines add up to more
      compete for that resource: one of them meets the cluster's end before its quota.

    Each warning names the resource, the teams with their namespaces x line, the sum
    and what the node groups hold.
    """
    groups = group_gpus(config)
    unlisted = _unlisted(config)
    capacity = _capacity(groups)
    problems = []
    held = sum(group.gpus for group in groups)
    asked = [
        (team.name, len(team.effective_namespaces), team.gpu_quota)
        for team in config.teams
        if team.gpu_quota
    ]
    total = sum(namespaces * quota for _, namespaces, quota in asked)
    if total > held:
        problems.append(
            Problem(
                key_path("teams"),
                f"the team GPU quotas add up to {total} physical GPUs ({_who(asked)}) but "
                f"the node groups hold at most {plural(held, 'GPU')}; not every quota can be "
                "met at once (docs/gpu-platform.md#gpu-quotas)",
            )
        )
    lines: dict[str, list[tuple[str, int, int]]] = {}
    for team in config.teams:
        namespaces = len(team.effective_namespaces)
        for key, count in _team_quota(groups, unlisted, team).items():
            if count > 0:
                lines.setdefault(key, []).append((team.name, namespaces, count))
    for key, teams in sorted(lines.items()):
        have = capacity.get(key, 0)
        together = sum(namespaces * min(count, have) for _, namespaces, count in teams)
        if together > have:
            problems.append(
                Problem(
                    key_path("teams"),
                    f"the team GPU quotas let {plural(sum(n for _, n, _ in teams), 'namespace')}"
                    f" take {together} `{key}` together ({_who(teams)}, each at most what "
                    f"there is) but the node groups advertise at most {have}; not every "
                    "quota can be met at once (docs/gpu-platform.md#gpu-quotas)",
                )
            )
    return problems


def _who(teams: Sequence[tuple[str, int, int]]) -> str:
    """`research: 2 namespaces x 8, inference: 1 namespace x 8`."""
    return ", ".join(
        f"{name}: {plural(namespaces, 'namespace')} x {count}" for name, namespaces, count in teams
    )
