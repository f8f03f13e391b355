"""Stack config of the GPU platform: GPU Operator, DRA driver and ComputeDomains, and the
network/DPU/NIM sub-sections (those live in `stacks/config/gpu_network.py`).

`tenant.gpu` in `Pulumi.<stack>.yaml`:

```yaml
gpu:
  operator:
    driver:
      kernelModuleType: open        # auto | open | proprietary
      usePrecompiled: false
      upgradePolicy:                # the GPU Operator's driver upgrade controller
        maxParallelUpgrades: 1
        maxUnavailable: 25%
        waitForCompletion: {podSelector: "", timeoutSeconds: 0}
        gpuPodDeletion: {timeoutSeconds: 300, deleteEmptyDir: true}
        drain: {enable: false}
    dcgmExporter: {serviceMonitor: true}
  dra:
    enabled: true
    computeDomains: true
    domains: [{name: nvl72-a, namespace: team-a, nodeGroup: gb200}]
  network: {...}                    # stacks/config/gpu_network.py
```

GPU sharing (exclusive, MIG, time-slicing, MPS) is per node group
(`nodeGroups[].sharing`, stacks/config/node_groups.py); the GPU Operator renders it.

`gpu_rules(tenant)` holds this area's cross-field rules: version constraints from
`components/versions.py` (the Kubernetes window of every component the tenant installs,
`tenant_components`; CVE-2025-23266 floors, known-bad GPU/Network Operator pairs for
RDMA, open kernel modules on Blackwell), the MIG
manager being on when a node group uses MIG, and ComputeDomains only on
multi-node-NVLink node groups. It is pure and returns every problem as
`(full key path, message)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, TypedDict

from pydantic import Field, field_validator, model_validator

from components import versions
from stacks.config.base import ConfigModel
from stacks.config.errors import did_you_mean, plural
from stacks.config.gpu_network import DpuConfig, NetworkOperatorConfig, NimConfig
from stacks.config.services import effective_cni_plugin

ROOT = "gpu-caas:tenant"
"""Key-path prefix of every problem reported by `gpu_rules`."""

_VERSION = r"^v?\d+(\.\d+)*(-[0-9A-Za-z.\-]+)?$"
# Percentage or absolute count, as the GPU Operator's upgradePolicy.maxUnavailable takes.
_INT_OR_PERCENT = r"^\d+%?$"

VersionString = Annotated[str, Field(pattern=_VERSION)]


class KernelModuleType(StrEnum):
    """Which NVIDIA kernel modules the driver container loads (`driver.kernelModuleType`).

    `auto` lets the GPU Operator choose by driver branch and GPU (open modules on
    Turing and newer with R560+). Blackwell (B200, GB200) requires `open`.
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html
    """

    AUTO = "auto"
    OPEN = "open"
    PROPRIETARY = "proprietary"


class DrainConfig(ConfigModel):
    """Node drain during a driver upgrade (`driver.upgradePolicy.drain`): the fallback
    when deleting the GPU pods (`gpuPodDeletion`) fails. A drain evicts every pod of the
    node, GPU or not (honouring PodDisruptionBudgets). Defaults: the chart's.
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-driver-upgrades.html
    """

    enable: bool = False
    """Drain when GPU pod deletion fails (off: the node's upgrade fails instead, its
    `nvidia.com/gpu-driver-upgrade-state` label says `upgrade-failed`)."""
    force: bool = False
    """Also delete pods not managed by a controller (nothing recreates them)."""
    pod_selector: str = ""
    """Label selector of the pods to drain (empty = all)."""
    timeout_seconds: int = Field(default=300, ge=0)
    """Seconds before the drain gives up (0 waits forever; NVIDIA recommends a timeout)."""
    delete_empty_dir: bool = False
    """Allow evicting pods with emptyDir volumes (their data is lost)."""


class GpuPodDeletionConfig(ConfigModel):
    """Deleting the pods that use GPUs before the driver is reloaded
    (`driver.upgradePolicy.gpuPodDeletion`; the ClusterPolicy's `podDeletion`).

    Only pods with GPUs allocated (`nvidia.com/gpu`, MIG resources) are deleted; their
    controllers recreate them on a schedulable node. When one cannot be deleted the node
    goes to `drain` if enabled, else its upgrade fails.
    """

    force: bool = False
    """Also delete GPU pods not managed by a controller (bare pods are gone for good)."""
    timeout_seconds: int = Field(default=300, ge=0)
    """Seconds to wait for the pods to terminate (0 waits forever)."""
    delete_empty_dir: bool = True
    """Also delete GPU pods with emptyDir volumes. The chart's default is false; ours is
    true because a GPU pod loses its emptyDir whenever it is deleted anyway, and most
    training pods mount one at /dev/shm (NCCL, PyTorch data loaders): with false, the
    upgrade of every node running one fails (NVIDIA/k8s-operator-libs pod manager tests:
    'should fail to delete all standalone gpu pods with emptyDir when ...
    deleteEmptyDir=false'). It matches `nodeGroups[].upgrade.deleteEmptyDirData`."""


class WaitForCompletionConfig(ConfigModel):
    """Pods (typically Jobs) a node waits for before its GPU pods are deleted
    (`driver.upgradePolicy.waitForCompletion`). Defaults: the chart's (no waiting)."""

    pod_selector: str = ""
    """Label selector of the pods to wait for, e.g. `kai.scheduler/queue=team-a`; empty
    skips the wait (NVIDIA/k8s-operator-libs `ProcessWaitForJobsRequiredNodes`)."""
    timeout_seconds: int = Field(default=0, ge=0)
    """Seconds to wait before deleting them anyway; 0 waits until they complete, so a
    job that never ends holds the node's upgrade (cordoned) forever."""

    @model_validator(mode="after")
    def _timeout_needs_selector(self) -> WaitForCompletionConfig:
        if self.timeout_seconds and not self.pod_selector:
            raise ValueError(
                "timeoutSeconds has no effect without podSelector (with an empty selector the "
                "upgrade controller waits for nothing); set podSelector to the pods to wait "
                "for, or remove timeoutSeconds"
            )
        return self


class DriverUpgradePolicyConfig(ConfigModel):
    """Rolling driver upgrades by the GPU Operator's upgrade controller
    (`driver.upgradePolicy`), which runs when the driver image changes: a new
    `driver.version`, a GPU Operator release with a new driver or driver manager.

    Per node: cordon, wait for `waitForCompletion` pods, delete the GPU pods
    (`gpuPodDeletion`; `drain` when that fails), restart the driver pod, validate,
    uncordon. Defaults are the chart's except `gpuPodDeletion.deleteEmptyDir`.
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-driver-upgrades.html
    """

    auto_upgrade: bool = True
    """Let the upgrade controller roll driver changes node by node. Off: the other keys
    are ignored and a new driver version reaches a node only when its driver pod is
    deleted by hand (the driver DaemonSet is `OnDelete`); use it to pause a roll-out."""
    max_parallel_upgrades: int = Field(default=1, ge=0)
    """Nodes upgraded at once; 0 means no limit (all nodes together)."""
    max_unavailable: Annotated[str, Field(pattern=_INT_OR_PERCENT)] = "25%"
    """Nodes with the driver (count, or percent of them rounded up) that may be
    unavailable at once, counting nodes already cordoned for any reason; it caps
    `maxParallelUpgrades`."""
    wait_for_completion: WaitForCompletionConfig = Field(default_factory=WaitForCompletionConfig)
    gpu_pod_deletion: GpuPodDeletionConfig = Field(default_factory=GpuPodDeletionConfig)
    drain: DrainConfig = Field(default_factory=DrainConfig)

    @field_validator("max_unavailable")
    @classmethod
    def _some_node_may_go(cls, value: str) -> str:
        amount = int(value.rstrip("%"))
        if amount == 0:
            raise ValueError(
                "must allow at least one node (1 or a percentage above 0%): with none, no "
                "driver upgrade ever starts; set autoUpgrade: false to pause upgrades"
            )
        if value.endswith("%") and amount > 100:
            raise ValueError("must be a percentage of at most 100%")
        return value


class DriverConfig(ConfigModel):
    """NVIDIA data-center driver, deployed as a container by the GPU Operator."""

    enabled: bool = True
    """Off when the host image ships the driver (then the toolkit uses the host driver)."""
    version: VersionString | None = None
    """Overrides the pinned driver (`components.versions.NVIDIA_DRIVER`)."""
    kernel_module_type: KernelModuleType = KernelModuleType.AUTO
    use_precompiled: bool = False
    """Use precompiled driver images (no compilation on the node; the image tag is
    `<branch>-<kernel>-<os>`). Only for supported kernels; see the precompiled-drivers page."""
    os_tags: list[Annotated[str, Field(pattern=r"^[a-z]+[0-9.]+$")]] = Field(
        default_factory=lambda: ["ubuntu24.04"], min_length=1
    )
    """OS suffixes of the driver images the nodes pull (`595.91.07-ubuntu24.04`);
    only used for the mirror list, the operator picks the tag from the node's OS."""
    upgrade_policy: DriverUpgradePolicyConfig = Field(default_factory=DriverUpgradePolicyConfig)
    allow_branch_downgrade: bool = False
    """Accept a `version` on an older branch than the deployed driver's (e.g. R580 after
    R595; `stacks.config.operator_upgrades`). CUDA applications built for the newer
    branch's CUDA release may not run on the older one: set it for the deployment that
    rolls back, once the workloads are known to run there, then remove it."""


class ToolkitConfig(ConfigModel):
    """NVIDIA Container Toolkit, configured into containerd by the GPU Operator."""

    enabled: bool = True
    """Off when the host image ships the toolkit."""
    version: VersionString | None = None
    """Overrides the pinned toolkit; must be >= 1.17.8 (CVE-2025-23266)."""


class DcgmExporterConfig(ConfigModel):
    """DCGM exporter: GPU metrics for Prometheus."""

    enabled: bool = True
    service_monitor: bool | None = None
    """Create a Prometheus Operator ServiceMonitor (needs the ServiceMonitor CRD).
    Default: on unless `services.observability.prometheus.mode` is `off`, where no
    Prometheus Operator (and no ServiceMonitor CRD) exists."""
    interval: Annotated[str, Field(pattern=r"^\d+(ms|s|m)$")] = "15s"
    """Scrape interval."""


class GpuOperatorConfig(ConfigModel):
    """NVIDIA GPU Operator (ClusterPolicy rendered from Helm values)."""

    version: VersionString | None = None
    """Overrides the pinned GPU Operator chart (`components.versions.GPU_OPERATOR`)."""
    driver: DriverConfig = Field(default_factory=DriverConfig)
    toolkit: ToolkitConfig = Field(default_factory=ToolkitConfig)
    cdi: bool = True
    """Container Device Interface: inject GPUs by CDI spec instead of the legacy hook."""
    device_plugin: bool = True
    """The device plugin (`nvidia.com/gpu` extended resource). Turn it off only when GPUs
    are allocated through DRA instead (`dra.gpuResources`)."""
    gpu_feature_discovery: bool = True
    node_feature_discovery: bool = True
    """Deploy NFD with the operator (off when NFD is already in the cluster)."""
    dcgm_exporter: DcgmExporterConfig = Field(default_factory=DcgmExporterConfig)
    mig_manager: bool = True
    """Deploy the MIG manager (needed for any node group with a MIG layout)."""


class ComputeDomainAllocationMode(StrEnum):
    """IMEX channels a ComputeDomain hands a workload (`channel.allocationMode`)."""

    SINGLE = "Single"
    ALL = "All"


class ComputeDomainConfig(ConfigModel):
    """One ComputeDomain: an IMEX domain across the nodes of a multi-node-NVLink group.

    Workloads join it by referencing the ResourceClaimTemplate `name` (in `namespace`).
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/dra-cds.html
    """

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    """Name of the ComputeDomain and of the ResourceClaimTemplate it generates."""
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    """Namespace of the workloads (a team namespace)."""
    node_group: str
    """Node group whose GPUs form the NVLink domain (must be multi-node NVLink)."""
    allocation_mode: ComputeDomainAllocationMode = ComputeDomainAllocationMode.SINGLE
    num_nodes: int = Field(default=0, ge=0)
    """Deprecated upstream; 0 (the default) lets IMEX daemons start as nodes join."""


class DraDriverConfig(ConfigModel):
    """DRA driver for NVIDIA GPUs (Kubernetes >= 1.34.2, its v0.4.0 prerequisite)."""

    enabled: bool = False
    gpu_resources: bool = False
    """Publish GPUs as DRA devices (`gpu.nvidia.com`). Off by default: the device plugin
    also advertises them, and using both on one node can over-admit pods."""
    compute_domains: bool = False
    """Run the ComputeDomain controller (IMEX across nodes) for multi-node NVLink racks."""
    domains: list[ComputeDomainConfig] = Field(default_factory=list)
    """ComputeDomains created with the platform (workloads may also create their own)."""


class GpuPlatformConfig(ConfigModel):
    """GPU platform: NVIDIA operators, sharing, RDMA, DPUs, NIM."""

    enabled: bool = True
    """Install the GPU platform (off only for CPU-only clusters)."""
    operator: GpuOperatorConfig = Field(default_factory=GpuOperatorConfig)
    dra: DraDriverConfig = Field(default_factory=DraDriverConfig)
    network: NetworkOperatorConfig = Field(default_factory=NetworkOperatorConfig)
    dpu: DpuConfig = Field(default_factory=DpuConfig)
    nim: NimConfig = Field(default_factory=NimConfig)


# --------------------------------------------------------------------------- #
# Cross-field rules
# --------------------------------------------------------------------------- #

Problem = tuple[str, str]
"""`(full key path, message)`."""


def node_group_gpu_model(tenant: Any, group: Any) -> str | None:
    """The GPU model of a node group (`autoscale.gpu.model` or its first host's), or None.

    The model as configured: a `GpuModel`, or a `DeclaredGpuModel` carrying the facts
    its host stated (both are `str`), so `catalog.spec` of it works for either.
    Mixed models inside one group are reported by the node-group rules
    (stacks/config/rules.py); here the first host decides.
    """
    if getattr(group, "autoscale", None) is not None:
        gpu = group.autoscale.gpu
        declared: str | None = None if gpu is None else gpu.model
        return declared
    lookup = getattr(tenant, "host", None)  # TenantConfig.host: an indexed lookup
    hosts = {} if callable(lookup) else {h.name: h for h in getattr(tenant, "hosts", [])}
    for name in getattr(group, "hosts", []):
        try:
            host = lookup(name) if callable(lookup) else hosts.get(name)
        except KeyError:
            host = None
        if host is not None and host.gpu is not None:
            model: str = host.gpu.model
            return model
    return None


def node_group_mig_layout(group: Any) -> Mapping[str, int] | None:
    """The per-GPU MIG layout of a node group (`sharing.mig.layout` in mode `mig`)."""
    sharing = getattr(group, "sharing", None)
    if sharing is None or str(getattr(sharing.mode, "value", sharing.mode)) != "mig":
        return None
    return None if sharing.mig is None else dict(sharing.mig.layout)


def gpu_rules(tenant: Any) -> list[Problem]:
    """Return every cross-field problem of `tenant.gpu`; empty when consistent.

    Args:
        tenant: the parsed `TenantConfig` (reads `kubernetes.version`, `nodeGroups`
            and `gpu`).
    """
    gpu: GpuPlatformConfig = tenant.gpu
    groups: list[Any] = list(getattr(tenant, "node_groups", []) or [])
    return gpu_platform_rules(
        gpu,
        kubernetes_version=str(tenant.kubernetes.version),
        components=tenant_components(tenant),
        node_groups={
            str(g.name): (node_group_gpu_model(tenant, g), node_group_mig_layout(g)) for g in groups
        },
        team_namespaces=[
            ns for team in getattr(tenant, "teams", []) or [] for ns in team.effective_namespaces
        ],
    )


def gpu_platform_rules(
    gpu: GpuPlatformConfig,
    *,
    kubernetes_version: str,
    node_groups: Mapping[str, tuple[str | None, Mapping[str, int] | None]],
    team_namespaces: Iterable[str] | None = None,
    components: Iterable[versions.Component] | None = None,
) -> list[Problem]:
    """The rules of `gpu_rules` on plain inputs (table-testable without a whole tenant).

    Args:
        gpu: the `tenant.gpu` section.
        kubernetes_version: the cluster's Kubernetes version.
        node_groups: node-group name -> (GPU model or None, MIG layout or None).
        team_namespaces: every team namespace the platform creates; a ComputeDomain's
            namespace must be one of them (nothing else creates it). None skips that
            check (table tests of other rules).
        components: the pinned components the cluster runs (`tenant_components`); the
            Kubernetes version must be inside their window, reported at
            `kubernetes.version`. None: a default config's set with `gpu`'s operators.
    """
    if components is None:
        components = _gpu_components(gpu)
    window = [
        (f"{ROOT}.kubernetes.version", message)
        for message in versions.kubernetes_problems(kubernetes_version, components)
    ]
    if not gpu.enabled:
        return window + _gpu_disabled_problems(node_groups)
    base = f"{ROOT}.gpu"
    problems: list[Problem] = list(window)
    op = gpu.operator
    problems += _driver_version_problems(op.driver, f"{base}.operator.driver")

    # Version constraints (components/versions.py), each reported at the key that set it.
    cd_groups = [d.node_group for d in gpu.dra.domains if d.node_group in node_groups]
    paths = {
        "kubernetes": f"{ROOT}.kubernetes.version",
        "gpu_operator": f"{base}.operator.version",
        "container_toolkit": f"{base}.operator.toolkit.version",
        "network_operator": f"{base}.network.enabled",
        "kernel_module_type": f"{base}.operator.driver.kernelModuleType",
    }
    known = 0
    for i, domain in enumerate(gpu.dra.domains):
        if domain.node_group in node_groups:
            paths[f"compute_domain_gpu_models[{known}]"] = f"{base}.dra.domains[{i}].nodeGroup"
            known += 1
    for argument, message in versions.compatibility_problems(
        kubernetes=kubernetes_version,
        gpu_operator=op.version or versions.GPU_OPERATOR.version,
        container_toolkit=op.toolkit.version or versions.CONTAINER_TOOLKIT.version,
        network_operator=versions.NETWORK_OPERATOR.version if gpu.network.enabled else None,
        rdma=gpu.network.enabled and op.driver.enabled,
        dra_driver=gpu.dra.enabled,
        compute_domain_gpu_models=[
            node_groups[name][0] or "a CPU-only node group" for name in cd_groups
        ],
        kernel_module_type=op.driver.kernel_module_type.value if op.driver.enabled else "auto",
        gpu_models=[model for model, _ in node_groups.values() if model],
    ):
        if argument != "kubernetes":  # the window, above
            problems.append((paths[argument], message))

    # MIG layouts themselves are validated by the node-group rules (stacks/config/rules.py);
    # here: the MIG manager that applies them must be on.
    mig_groups = sorted(name for name, (_, layout) in node_groups.items() if layout)
    if mig_groups and not op.mig_manager:
        problems.append(
            (
                f"{base}.operator.migManager",
                f"{plural(len(mig_groups), 'node group', counted=False)} "
                f"{', '.join(mig_groups)} {plural(len(mig_groups), 'uses', 'use', counted=False)} "
                f"MIG; the MIG manager must be enabled to apply "
                f"{plural(len(mig_groups), 'its layout', 'their layouts', counted=False)}",
            )
        )

    # ComputeDomains: DRA driver on, and only multi-node-NVLink node groups.
    dra = gpu.dra
    if dra.compute_domains and not dra.enabled:
        problems.append((f"{base}.dra.computeDomains", "ComputeDomains need dra.enabled: true"))
    if dra.gpu_resources and not dra.enabled:
        problems.append((f"{base}.dra.gpuResources", "DRA GPU resources need dra.enabled: true"))
    if dra.gpu_resources and op.device_plugin:
        # Both would advertise every GPU; the scheduler could admit more GPU pods than
        # there are GPUs (AICR recipes/components/nvidia-dra-driver-gpu/values.yaml).
        problems.append(
            (
                f"{base}.dra.gpuResources",
                "GPUs cannot be advertised by both DRA and the device plugin (pods would be "
                "over-admitted); set gpu.operator.devicePlugin: false to allocate GPUs with "
                "DRA, or dra.gpuResources: false to keep the device plugin",
            )
        )
    if dra.domains and not dra.compute_domains:
        problems.append((f"{base}.dra.domains", "set dra.computeDomains: true to create them"))
    namespaces = None if team_namespaces is None else sorted(set(team_namespaces))
    seen: dict[tuple[str, str], int] = {}
    for i, domain in enumerate(dra.domains):
        path = f"{base}.dra.domains[{i}]"
        if domain.node_group not in node_groups:
            problems.append(
                (
                    f"{path}.nodeGroup",
                    f"no node group named {domain.node_group!r}; "
                    + _hint(domain.node_group, node_groups)
                    + f"node groups: {_names(node_groups)}",
                )
            )
        if namespaces is not None and domain.namespace not in namespaces:
            problems.append(
                (
                    f"{path}.namespace",
                    f"{domain.namespace!r} is not a team namespace, and nothing else creates "
                    f"it; team namespaces: {_names(namespaces)} (add it to a team's "
                    "namespaces, or use one of them)",
                )
            )
        key = (domain.namespace, domain.name)
        if key in seen:
            problems.append(
                (
                    f"{path}.name",
                    f"{domain.namespace}/{domain.name} is already dra.domains[{seen[key]}]",
                )
            )
        seen.setdefault(key, i)
    return problems


def _gpu_disabled_problems(
    node_groups: Mapping[str, tuple[str | None, Mapping[str, int] | None]],
) -> list[Problem]:
    """With the GPU platform off nothing applies a MIG layout (the MIG manager is part
    of it), so a layout would silently stay unapplied."""
    mig_groups = sorted(name for name, (_, layout) in node_groups.items() if layout)
    if not mig_groups:
        return []
    return [
        (
            f"{ROOT}.gpu.enabled",
            f"{plural(len(mig_groups), 'node group', counted=False)} {', '.join(mig_groups)} "
            f"{plural(len(mig_groups), 'sets', 'set', counted=False)} a MIG layout, which the "
            "GPU platform's MIG manager applies; set gpu.enabled: true or remove "
            f"{plural(len(mig_groups), 'its mig layout', 'their mig layouts', counted=False)}",
        )
    ]


def _driver_version_problems(driver: DriverConfig, path: str) -> list[Problem]:
    """A driver version that names no image in the chosen mode.

    Compiled driver images are tagged `<version>-<os>` (`595.91.07-ubuntu24.04`),
    precompiled ones `<branch>-<kernel>-<os>`; the component derives the branch from a
    full version (`components.gpu.gpu_operator.driver_version_value`), but a bare branch
    cannot name a compiled image. https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/precompiled-drivers.html
    """
    version = driver.version
    if not driver.enabled or version is None or driver.use_precompiled:
        return []
    if "." not in version.split("-")[0]:
        return [
            (
                f"{path}.version",
                f"{version!r} is a driver branch; compiled driver images are tagged with the "
                "full version (e.g. 595.91.07): give the full version, or set "
                "usePrecompiled: true to use the branch's precompiled images",
            )
        ]
    return []


class _GpuOperatorFlags(TypedDict):
    gpu: bool
    network_operator: bool
    nim_operator: bool
    dra_driver: bool
    dpf: bool


def _gpu_operator_flags(gpu: GpuPlatformConfig) -> _GpuOperatorFlags:
    """`versions.installed_components` switches of the GPU operators `gpu` turns on."""
    return {
        "gpu": gpu.enabled,
        "network_operator": gpu.network.enabled,
        "nim_operator": gpu.nim.enabled,
        "dra_driver": gpu.dra.enabled,
        "dpf": gpu.dpu.enabled,
    }


def _gpu_components(gpu: GpuPlatformConfig) -> tuple[versions.Component, ...]:
    """A default config's components with the GPU operators `gpu` turns on."""
    return versions.installed_components(**_gpu_operator_flags(gpu))


def tenant_components(tenant: Any) -> tuple[versions.Component, ...]:
    """The pinned components `tenant` runs (`versions.installed_components`).

    Follows what `stacks/platform*.py` installs: the GPU operators their sections turn
    on, KAI when `services.scheduler.enabled`, Karpenter when autoscaling is on and a
    node group is autoscaled, the chosen CNI (none when `external`), Kamaji for the
    hosted backend, the node-health engine, kube-prometheus-stack in Prometheus mode
    `stack`, the OTel collector when enabled, the NFS CSI driver for NFS shared
    datasets and local-path-provisioner for `local-path` scratch.
    """
    gpu: GpuPlatformConfig = tenant.gpu
    services = tenant.services
    csi = services.csi
    return versions.installed_components(
        **_gpu_operator_flags(gpu),
        kai_scheduler=services.scheduler.enabled,
        karpenter=services.autoscaling.enabled
        and any(g.autoscale is not None for g in tenant.node_groups),
        cni=effective_cni_plugin(tenant).value,
        kamaji=tenant.backend.value == "hosted",
        node_health=services.node_health.engine.value,
        prometheus_stack=services.observability.prometheus.mode.value == "stack",
        otel_collector=services.observability.otel.enabled,
        nfs_csi=csi.shared_datasets.driver.value == "nfs",
        local_path=csi.local_scratch.driver.value == "local-path",
    )


def gpu_warnings(tenant: Any) -> list[Problem]:
    """Kubernetes ranges recorded but not enforced (`KubernetesSupport.enforced=False`,
    e.g. DPF's) that `kubernetes.version` is outside of, at that key."""
    return [
        (f"{ROOT}.kubernetes.version", message)
        for message in versions.kubernetes_warnings(
            str(tenant.kubernetes.version), tenant_components(tenant)
        )
    ]


def _hint(name: str, known: Iterable[str]) -> str:
    """`"did you mean 'x'? "` for a misspelt reference, else ""."""
    hint = did_you_mean(name, sorted(known))
    return f"{hint} " if hint else ""


def _names(groups: Iterable[str]) -> str:
    names = sorted(groups)
    return ", ".join(names) if names else "none"
