"""KAI scheduler: gang scheduling with one GPU queue per team and topology awareness.

Creates, on the tenant cluster:

* the `kai-scheduler` namespace and the KAI Helm release (chart pinned in
  `components/versions.py`);
* a department `Queue` named after the tenant whose GPU quota is the sum of the team
  quotas, and one leaf `Queue` per team (`scheduling.run.ai/v2`, cluster scoped).
  Workloads pick a queue with the `kai.scheduler/queue: <team>` label. A queue quota is
  in KAI's GPU units, which differ from physical GPUs under MIG and ignore time-sliced
  and MPS replicas (`kai_gpu_units`); the stack converts each team's `gpuQuota` with it
  (`stacks.config.gpu_quota.kai_queue_quota`);
* a `Topology` (`kai.scheduler/v1alpha1`) whose levels are the node labels the host
  inventory carries (NVLink domain, rack, hostname), so gang jobs can ask for
  `kai.scheduler/topology-required-placement: gpu-caas.io/nvlink-domain`. Rails are no
  level: a host on a rail-optimized fabric is on every rail, not inside one.

Upstream references (validated in tests against ../shared/crds/kai-scheduler):
https://github.com/NVIDIA/KAI-Scheduler/blob/main/docs/fairness/README.md and
https://github.com/NVIDIA/KAI-Scheduler/blob/main/docs/topology/README.md
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.gpu.advertised import GPU, mig_resource
from components.helm import helm_release
from components.mirrors import Mirrors
from components.placement import apply_tolerations, parse_tolerations
from components.services._common import child_opts, cr_metadata, namespace_metadata
from components.versions import KAI_SCHEDULER

TYPE = "gpu-caas:services:KaiScheduler"
NAMESPACE = "kai-scheduler"
QUEUE_API_VERSION = "scheduling.run.ai/v2"
TOPOLOGY_API_VERSION = "kai.scheduler/v1alpha1"
TOPOLOGY_NAME = "gpu-caas"
"""Name workloads reference with the `kai.scheduler/topology` annotation."""
QUEUE_LABEL = "kai.scheduler/queue"
"""Pod/workload label that selects a team queue (KAI podgrouper `queueLabelKey`)."""
HOSTNAME_LABEL = "kubernetes.io/hostname"
_UPSTREAM_REGISTRY = "ghcr.io/nvidia/kai-scheduler"
_IMAGES = (
    "operator",
    "podgrouper",
    "podgroupcontroller",
    "binder",
    "resourcereservation",
    "scheduler",
    "queuecontroller",
    "admission",
    "nodescaleadjuster",
    "scalingpod",
    "crd-upgrader",
)
"""Image names of the v0.13.0 chart (values.yaml `*.image.name`), all under
`global.registry` with the chart's app version as tag."""
UNLIMITED = -1
"""KAI's "no limit" value for `quota`/`limit` (chart defaultQueue values)."""


_MIG_PROFILE = re.compile(r"^(\d+)g\.\d+gb$")
"""`<compute slices>g.<memory>gb`, the profile names KAI parses (mig.go)."""


def kai_gpu_units(resources: Mapping[str, int]) -> int:
    """GPUs KAI's queue accounting counts for `resources`, `{extended resource or DRA
    DeviceClass: count}` (e.g. what one physical GPU advertises,
    `components.gpu.advertised.advertised_per_gpu`).

    A KAI `Queue` holds one GPU number (`spec.resources.gpu`, "GPU resources in
    fractions" in the scheduling.run.ai/v2 CRD), and KAI v0.13.0 converts every request
    into it:

    * `nvidia.com/gpu`: 1 each. Whole GPUs, but also MIG instances under the `single`
      strategy, which the device plugin advertises under the same name: KAI cannot tell
      them apart (pkg/scheduler/api/resource_info/resource_requirment.go
      `RequirementsFromResourceList`).
    * `nvidia.com/mig-<g>g.<mem>gb` (`mixed` strategy): `<g>` each, the instance's
      compute slices read from the name (pkg/scheduler/api/common_info/resources/mig.go
      `ExtractGpuAndMemoryFromMigResourceName`, summed by
      pkg/scheduler/api/resource_info/gpu_resource_requirment.go `GetGpusQuota`): one
      H100 split 7 x `1g.10gb` counts 7, split 2 x `3g.40gb` counts 6.
    * a device of a DRA DeviceClass whose name contains `gpu` (`gpu.nvidia.com`): 1
      each (pkg/common/resources/dra.go `IsGPUDeviceClass`); `mig.nvidia.com`: 0.
    * anything else: 0, time-sliced and MPS replicas among them (`nvidia.com/gpu.shared`
      under `renameByDefault`). KAI takes only the GPU names above as GPUs; any other
      extended resource is a plain scalar its queues neither guarantee nor cap, so a
      shared node group is bounded by the team's ResourceQuota alone.

    Sources under https://github.com/NVIDIA/KAI-Scheduler/blob/v0.13.0/ (the pinned
    chart's version).
    """
    units = 0
    mig_prefix = mig_resource("")
    for name, count in resources.items():
        if name == GPU:
            units += count
        elif name.startswith(mig_prefix):
            profile = _MIG_PROFILE.match(name.removeprefix(mig_prefix))
            units += int(profile.group(1)) * count if profile else 0
        elif "/" not in name and "gpu" in name.lower():
            units += count
    return units


@dataclass(frozen=True)
class TeamQueue:
    """One team's queue."""

    name: str
    """Queue name (the team name; also the `kai.scheduler/queue` label value)."""
    gpu_quota: float
    """GPUs guaranteed to the team, in KAI's GPU units (`kai_gpu_units`; fractions
    allowed: 0.5 = half a GPU)."""
    gpu_limit: float | None = None
    """Hard cap; None follows `QueueSettings.burst_beyond_quota`."""
    display_name: str | None = None


@dataclass(frozen=True)
class QueueSettings:
    """Settings shared by every team queue."""

    over_quota_weight: float = 1.0
    burst_beyond_quota: bool = True
    priority: int = 100
    preempt_min_runtime: str | None = None
    reclaim_min_runtime: str | None = None


@dataclass(frozen=True)
class KaiSchedulerArgs:
    """Inputs of `KaiScheduler`."""

    provider: k8s.Provider
    """The tenant cluster's explicit provider."""
    mirrors: Mirrors
    tenant: str
    """Tenant name; names the department queue."""
    teams: tuple[TeamQueue, ...] = ()
    queue_settings: QueueSettings = QueueSettings()
    placement_strategy: str = "binpack"
    create_default_queue: bool = True
    topology_labels: tuple[str, ...] = ()
    """Node label keys of the Topology levels, widest first; empty: no Topology."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the Helm release waits for (the CNI: `ClusterHandle.network_ready`)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""


# --------------------------------------------------------------------------- #
# Pure rendering
# --------------------------------------------------------------------------- #


def render_values(
    mirrors: Mirrors,
    *,
    placement_strategy: str,
    create_default_queue: bool,
    tolerations: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Helm values of the KAI chart (keys from the v0.13.0 chart's values.yaml).

    `tolerations` (the tenant's system tolerations) go to `global.tolerations`: in
    v0.13.0 the operator and its CRD-upgrade hook read no other key, and the operator
    passes them on to the components it deploys."""
    values: dict[str, Any] = {
        # Air-gap: every KAI image is `<global.registry>/<name>:<tag>`.
        "global": {"registry": mirrors.image_registry(_UPSTREAM_REGISTRY)},
        "scheduler": {"placementStrategy": placement_strategy},
        # AICR (recipes/components/kai-scheduler/values.yaml): GPU Operator >= 25.10
        # makes nvidia the default containerd runtime, and KAI injecting
        # runtimeClassName=nvidia switches GPU pods to the CDI path, which fails with
        # "unresolvable CDI devices". Empty disables the injection (fixed in v0.13.0).
        "admission": {"gpuPodRuntimeClassName": ""},
        # AICR: the post-delete hook Job does not inherit tolerations and hangs Pending
        # on clusters whose nodes are all tainted (our GPU nodes are); helm uninstall
        # removes what it would delete anyway.
        "postCleanup": {"enabled": False},
        "defaultQueue": {"createDefaultQueue": create_default_queue},
    }
    return apply_tolerations(values, wl.KAI_SCHEDULER, parse_tolerations(tolerations))


def images() -> list[str]:
    """Upstream images the chart pulls (for the mirror list)."""
    tag = KAI_SCHEDULER.version
    return [f"{_UPSTREAM_REGISTRY}/{name}:{tag}" for name in _IMAGES]


def _resource(quota: float, limit: float, weight: float) -> dict[str, float]:
    return {"quota": quota, "limit": limit, "overQuotaWeight": weight}


def _untracked() -> dict[str, float]:
    # CPU and memory are not what teams are sized on; like KAI's own default queues,
    # no guarantee and no cap, so CPU-only pods still schedule (reclaimable).
    return _resource(0, UNLIMITED, 1)


def queue_spec(
    *,
    gpu_quota: float,
    gpu_limit: float,
    settings: QueueSettings,
    parent: str | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """The `spec` of one `Queue` (scheduling.run.ai/v2)."""
    spec: dict[str, Any] = {
        "resources": {
            "gpu": _resource(gpu_quota, gpu_limit, settings.over_quota_weight),
            "cpu": _untracked(),
            "memory": _untracked(),
        },
        "priority": settings.priority,
    }
    if parent is not None:
        spec["parentQueue"] = parent
    if display_name:
        spec["displayName"] = display_name
    if settings.preempt_min_runtime:
        spec["preemptMinRuntime"] = settings.preempt_min_runtime
    if settings.reclaim_min_runtime:
        spec["reclaimMinRuntime"] = settings.reclaim_min_runtime
    return spec


def render_queues(
    tenant: str, teams: Sequence[TeamQueue], settings: QueueSettings
) -> dict[str, dict[str, Any]]:
    """Queue name -> spec: the tenant's department queue, then one leaf per team.

    KAI divides GPUs top-down (quota first, then over-quota by weight), so the
    department's quota is the sum of its teams' quotas and it has no cap: a tenant
    cluster is dedicated, the department may use every GPU.

    Raises:
        ValueError: when a team is named like the department queue or twice.
    """
    names = [team.name for team in teams]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"team queue names must be unique; repeated: {', '.join(duplicates)}")
    if tenant in names:
        raise ValueError(
            f"team {tenant!r} has the tenant's name, which is the department queue's name"
        )
    queues: dict[str, dict[str, Any]] = {
        tenant: queue_spec(
            gpu_quota=sum(team.gpu_quota for team in teams),
            gpu_limit=UNLIMITED,
            settings=QueueSettings(priority=settings.priority),
            display_name=tenant,
        )
    }
    for team in teams:
        if team.gpu_limit is not None:
            limit = team.gpu_limit
        elif settings.burst_beyond_quota:
            limit = UNLIMITED
        else:
            limit = team.gpu_quota
        queues[team.name] = queue_spec(
            gpu_quota=team.gpu_quota,
            gpu_limit=limit,
            settings=settings,
            parent=tenant,
            display_name=team.display_name,
        )
    return queues


def render_topology(labels: Sequence[str]) -> dict[str, Any]:
    """The `spec` of the KAI `Topology`: one level per node label, widest first.

    Raises:
        ValueError: on an empty or repeated level, or hostname not last (the CRD's
            CEL rules, which the API server would reject).
    """
    if not labels:
        raise ValueError("a Topology needs at least one level")
    if len(set(labels)) != len(labels):
        raise ValueError(f"topology levels must be unique: {list(labels)}")
    if HOSTNAME_LABEL in labels and labels[-1] != HOSTNAME_LABEL:
        raise ValueError(f"{HOSTNAME_LABEL} can only be the lowest topology level")
    return {"levels": [{"nodeLabel": label} for label in labels]}


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class KaiScheduler(pulumi.ComponentResource):
    """KAI scheduler release, team queues and the cluster topology."""

    namespace: pulumi.Output[str]
    """Namespace of the scheduler."""
    queue_names: list[str]
    """Queues created: the department queue first, then the teams."""
    topology_name: str | None
    """Name to put in `kai.scheduler/topology`, or None without a Topology."""

    def __init__(
        self, name: str, args: KaiSchedulerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        # Render first: invalid input fails before any resource is registered.
        values = render_values(
            args.mirrors,
            placement_strategy=args.placement_strategy,
            create_default_queue=args.create_default_queue,
        )
        queues = render_queues(args.tenant, args.teams, args.queue_settings)
        topology = render_topology(args.topology_labels) if args.topology_labels else None

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            # Scheduler controllers need no host access.
            metadata=namespace_metadata(NAMESPACE, args.tenant, "baseline"),
            opts=child_opts(self, args.provider),
        )
        release = helm_release(
            f"{name}-release",
            KAI_SCHEDULER.helm,
            values,
            namespace.metadata.name,
            args.mirrors,
            child_opts(self, args.provider, namespace, *args.depends_on),
            images=images(),
        )
        # Queue/Topology CRDs come with the chart: create CRs after the release.
        _create_queues(self, name, args, queues, release)
        if topology is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-topology",
                api_version=TOPOLOGY_API_VERSION,
                kind="Topology",
                metadata=cr_metadata(TOPOLOGY_NAME, args.tenant),
                spec=topology,
                opts=child_opts(self, args.provider, release),
            )

        self.namespace = namespace.metadata.name
        self.queue_names = list(queues)
        self.topology_name = TOPOLOGY_NAME if topology is not None else None
        self.register_outputs(
            {
                "namespace": self.namespace,
                "queueNames": self.queue_names,
                "topologyName": self.topology_name,
            }
        )


def _create_queues(
    parent: pulumi.Resource,
    name: str,
    args: KaiSchedulerArgs,
    queues: Mapping[str, dict[str, Any]],
    release: pulumi.Resource,
) -> list[k8s.apiextensions.CustomResource]:
    created: list[k8s.apiextensions.CustomResource] = []
    for queue_name, spec in queues.items():
        # The department queue comes first; a leaf is only admitted once its parent
        # exists, so leaves depend on it as well as on the release (CRDs).
        depends = [release] if not created else [release, created[0]]
        created.append(
            k8s.apiextensions.CustomResource(
                f"{name}-queue-{queue_name}",
                api_version=QUEUE_API_VERSION,
                kind="Queue",
                metadata=cr_metadata(queue_name, args.tenant),
                spec=spec,
                opts=child_opts(parent, args.provider, *depends),
            )
        )
    return created
