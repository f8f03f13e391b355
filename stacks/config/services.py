"""Cluster services of a tenant cluster: scheduling, autoscaling, CNI, CSI, observability
and node health (`gpu-caas:tenant.services`).

Every section has defaults a platform engineer at a GPU cloud would pick, so
`services: {}` is a working, conservative configuration:

* `scheduler`: KAI scheduler on, one queue per team, topology-aware gang scheduling.
* `autoscaling`: Karpenter off (inventory node groups are the common case on bare metal).
* `cni`: Cilium, VXLAN tunnel, kube-proxy kept (no API endpoint needed at install time);
  none on isv-managed clusters, whose ISV platform ships the pod network.
* `csi`: nothing until the provider names its storage: `shared-datasets` (RWX) from
  the NFS CSI driver or an existing CSI driver, `local-scratch` from a node-local
  provisioner.
* `observability`: kube-prometheus-stack, OpenTelemetry collector, DCGM alert rules.
* `nodeHealth`: NVSentinel, cordon + drain, circuit breaker at 10 % of nodes.

Cross-field rules (`services_rules`, `services_warnings`) are pure functions over the
whole `TenantConfig`, run after parsing so every problem is reported at once. They
return `(path, message)` pairs with the full key path, e.g.
`gpu-caas:tenant.services.cni.apiServerHost`.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator, model_validator

from components.gpu.advertised import advertised_per_node
from components.services.karpenter import needs_node_overlay
from components.versions import KARPENTER, KARPENTER_PROVIDER_CHARTS
from stacks.config.base import ConfigModel
from stacks.config.errors import key_path, plural

if TYPE_CHECKING:  # pragma: no cover - type-only: tenant.py imports this module
    from stacks.config.tenant import TenantConfig

SERVICES_PATH = "gpu-caas:tenant.services"
"""Key path prefix of this section in messages."""

# Go-style durations as Karpenter and KAI accept them (`30m`, `1h30m`, `720h`).
_DURATION_RE = r"^([0-9]+(s|m|h))+$"
_DURATION_OR_NEVER_RE = r"^(([0-9]+(s|m|h))+|Never)$"
# Karpenter budget `nodes`: an integer or a percentage (CRD pattern, v1.14.1).
_BUDGET_NODES_RE = r"^((100|[0-9]{1,2})%|[0-9]+)$"
_DNS_LABEL_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Duration = Annotated[str, Field(pattern=_DURATION_RE)]
DurationOrNever = Annotated[str, Field(pattern=_DURATION_OR_NEVER_RE)]


# --------------------------------------------------------------------------- #
# Scheduling (KAI)
# --------------------------------------------------------------------------- #


class PlacementStrategy(StrEnum):
    """KAI scheduler placement (`scheduler.placementStrategy` in the chart values).

    `binpack` fills nodes before opening new ones, which keeps whole nodes (and whole
    NVLink domains) free for large gang jobs; `spread` trades that for fault spreading.
    """

    BINPACK = "binpack"
    SPREAD = "spread"


class TopologyLevel(StrEnum):
    """A level of the KAI `Topology` CR, from the widest domain to the narrowest.

    Each maps to a node label (`components.naming`): `zone` ->
    `topology.kubernetes.io/zone`, `rack` -> `gpu-caas.io/rack`, `nvlink-domain` ->
    `gpu-caas.io/nvlink-domain` (both set at join from the host inventory), `hostname` ->
    `kubernetes.io/hostname` (always last).

    There is no rail level: KAI levels are a hierarchy (each node sits in exactly one
    domain per level, narrower domains inside wider ones), but a host on a rail-optimized
    fabric has one NIC on every rail, so it is not "under" any single rail. Rails are
    per-rail node labels (`rail.gpu-caas.io/<id>`) that select the rail networks instead.
    """

    ZONE = "zone"
    RACK = "rack"
    NVLINK_DOMAIN = "nvlink-domain"
    HOSTNAME = "hostname"


class QueueDefaults(ConfigModel):
    """Settings applied to every team queue (KAI `Queue`, scheduling.run.ai/v2).

    https://github.com/NVIDIA/KAI-Scheduler/blob/main/docs/fairness/README.md
    """

    over_quota_weight: float = Field(default=1.0, ge=0)
    """Share of idle GPUs a team gets beyond its quota, relative to other teams."""
    burst_beyond_quota: bool = True
    """Let a team use idle GPUs above its quota (reclaimable). False caps usage at the
    quota (`limit` = quota), which wastes idle GPUs but makes usage predictable."""
    priority: int = Field(default=100, ge=0)
    """Queue priority; KAI's own default is 100."""
    preempt_min_runtime: Duration | None = None
    """A job runs at least this long before it can be preempted (KAI min-runtime plugin)."""
    reclaim_min_runtime: Duration | None = None
    """A job runs at least this long before another queue can reclaim its GPUs."""


class SchedulerConfig(ConfigModel):
    """KAI scheduler: gang scheduling, one queue per team, topology awareness."""

    enabled: bool = True
    placement_strategy: PlacementStrategy = PlacementStrategy.BINPACK
    queue_defaults: QueueDefaults = Field(default_factory=QueueDefaults)
    create_default_queue: bool = True
    """Keep the chart's catch-all `default-queue` (quota 0, reclaimable) for workloads
    without a `kai.scheduler/queue` label. Team queues are created regardless."""
    topology_aware: bool = True
    """Create a KAI `Topology` CR from the host inventory's topology labels."""
    topology_levels: tuple[TopologyLevel, ...] = (
        TopologyLevel.NVLINK_DOMAIN,
        TopologyLevel.RACK,
        TopologyLevel.HOSTNAME,
    )
    """Levels, widest first. Inventory levels no host carries are dropped when the CR
    is built. The NVLink domain is listed before the rack because a multi-node NVLink
    domain can span racks (NVL36x2) or equal one (NVL72). `zone` is for cloud nodes
    carrying `topology.kubernetes.io/zone`. There is no `rail` level: a host is on
    several rails at once, which is not a hierarchy level (see `TopologyLevel`)."""

    @field_validator("topology_levels", mode="before")
    @classmethod
    def _no_rail_level(cls, levels: Any) -> Any:
        if isinstance(levels, list | tuple) and "rail" in levels:
            raise ValueError(
                "there is no rail level: topology levels nest (each node in one domain per "
                "level), but on rail-optimized fabrics every GPU host is on every rail. "
                "Remove `rail`; rail networks select nodes by their rail.gpu-caas.io/<rail> "
                "labels"
            )
        return levels

    @field_validator("topology_levels")
    @classmethod
    def _levels_valid(cls, levels: tuple[TopologyLevel, ...]) -> tuple[TopologyLevel, ...]:
        if not levels:
            raise ValueError("needs at least one level, e.g. [rack, hostname]")
        if len(set(levels)) != len(levels):
            raise ValueError("levels must be unique")
        if TopologyLevel.HOSTNAME in levels and levels[-1] is not TopologyLevel.HOSTNAME:
            # KAI Topology CRD rule: kubernetes.io/hostname only at the lowest level.
            raise ValueError("hostname must be the last (narrowest) level")
        return levels


# --------------------------------------------------------------------------- #
# Autoscaling (Karpenter)
# --------------------------------------------------------------------------- #


class KarpenterProvider(StrEnum):
    """Karpenter cloud provider of the tenant's infrastructure.

    Karpenter core has no provider-neutral controller; each provider ships its own
    controller and `NodeClass` kind (https://karpenter.sh/docs/concepts/nodeclasses/).
    """

    AWS = "aws"
    AZURE = "azure"
    CLUSTER_API = "cluster-api"
    CUSTOM = "custom"


KNOWN_NODE_CLASSES: dict[KarpenterProvider, tuple[str, str]] = {
    # aws/karpenter-provider-aws: karpenter.k8s.aws/v1 EC2NodeClass
    KarpenterProvider.AWS: ("karpenter.k8s.aws", "EC2NodeClass"),
    # Azure/karpenter-provider-azure: karpenter.azure.com AKSNodeClass
    KarpenterProvider.AZURE: ("karpenter.azure.com", "AKSNodeClass"),
    # kubernetes-sigs/karpenter-provider-cluster-api: pkg/apis/crds/
    # karpenter.cluster.x-k8s.io_clusterapinodeclasses.yaml
    KarpenterProvider.CLUSTER_API: ("karpenter.cluster.x-k8s.io", "ClusterAPINodeClass"),
}
"""(group, kind) of each provider's NodeClass, checked against every autoscaled node
group's `autoscale.nodeClass` (the NodeClass itself belongs to the provider)."""


class DisruptionReason(StrEnum):
    """Karpenter disruption reasons a budget can target (NodePool CRD v1.14.1)."""

    UNDERUTILIZED = "Underutilized"
    EMPTY = "Empty"
    DRIFTED = "Drifted"


class DisruptionBudget(ConfigModel):
    """One Karpenter disruption budget (`spec.disruption.budgets[]`)."""

    nodes: str = Field(default="10%", pattern=_BUDGET_NODES_RE)
    reasons: tuple[DisruptionReason, ...] = ()
    schedule: str | None = None
    duration: str | None = Field(default=None, pattern=r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$")

    @model_validator(mode="after")
    def _schedule_with_duration(self) -> DisruptionBudget:
        if (self.schedule is None) != (self.duration is None):
            raise ValueError("schedule and duration must be set together")
        return self


class ConsolidationConfig(ConfigModel):
    """How Karpenter removes GPU nodes. Busy GPU nodes are never consolidated:
    every NodePool uses `consolidationPolicy: WhenEmpty`.
    """

    consolidate_after: DurationOrNever = "30m"
    """How long a node must be empty before removal. GPU nodes take minutes to boot and
    load drivers (gpu-operator#707: 3-5 min), and jobs arrive in waves, so a short
    window churns expensive nodes."""
    expire_after: DurationOrNever = "Never"
    """Karpenter's default (720h) recycles nodes every 30 days even mid-training run."""
    termination_grace_period: Duration | None = None
    """Upper bound on draining; None waits for pods (and PDBs) indefinitely."""
    allow_drift_replacement: bool = False
    """False adds a `nodes: "0"` budget for `Drifted`, so a drifted (e.g. new image)
    node is replaced only once it is empty, never by evicting a running job."""
    budgets: tuple[DisruptionBudget, ...] = (DisruptionBudget(nodes="10%"),)


class KarpenterControllerConfig(ConfigModel):
    """The Karpenter controller release (provider specific)."""

    install: bool = False
    """Install the provider's controller chart (pinned in components/versions.py). Most
    GPU clouds run the provider's controller themselves; then leave this off."""
    replicas: int = Field(default=2, ge=1, le=5)
    cluster_name: str | None = None
    """`settings.clusterName` for the AWS chart; defaults to the tenant name."""
    service_account_annotations: dict[str, str] = Field(default_factory=dict)
    """e.g. the IAM role of the controller (`eks.amazonaws.com/role-arn`)."""
    node_overlay_gate: bool = False
    """The provider's own controller (`install: false`) runs with Karpenter's alpha
    feature gate `NodeOverlay=true`, so the NodeOverlays gpu-caas declares for MIG,
    time-slicing and MPS groups take effect (https://karpenter.sh/v1.14/reference/settings/#feature-gates).
    With `install: true` gpu-caas sets the gate itself when an overlay exists."""


class AutoscalingConfig(ConfigModel):
    """Karpenter: one NodePool per autoscaled GPU node group.

    The NodeClass reference, GPU model, instance types, maximum, labels, taints and the
    GPU taint are per node group (`nodeGroups[].autoscale`); this section holds what
    all NodePools of the cluster share.
    """

    enabled: bool = False
    provider: KarpenterProvider = KarpenterProvider.CLUSTER_API
    """Karpenter provider of the infrastructure: picks the NodeClass kind every
    `nodeGroups[].autoscale.nodeClass` must use, the GPU instance label, and the
    controller chart."""
    controller: KarpenterControllerConfig = Field(default_factory=KarpenterControllerConfig)
    consolidation: ConsolidationConfig = Field(default_factory=ConsolidationConfig)


def node_overlay_gate_set(autoscaling: AutoscalingConfig) -> bool:
    """Whether gpu-caas turns Karpenter's `NodeOverlay` feature gate on: only in a
    controller it installs (`controller.install`, a provider with a pinned chart)."""
    return autoscaling.controller.install and (
        autoscaling.provider.value in KARPENTER_PROVIDER_CHARTS
    )


def node_overlay_gate_on(autoscaling: AutoscalingConfig) -> bool:
    """Whether NodeOverlays take effect: gpu-caas sets the gate, or the provider's own
    controller has it (`controller.nodeOverlayGate`)."""
    return node_overlay_gate_set(autoscaling) or autoscaling.controller.node_overlay_gate


def karpenter_sharing_warnings(config: TenantConfig) -> list[tuple[str, str]]:
    """Autoscaled GPU groups whose pending pods Karpenter may never scale up for.

    Karpenter launches a node for a pending pod only if its simulation of the node
    fits the pod's requests, and before a node exists it knows only what the
    provider's instance type reports: whole GPUs (kubernetes-sigs/karpenter#729).

    * MIG, time-slicing, MPS (`needs_node_overlay`): gpu-caas declares what the nodes
      will advertise in a NodeOverlay, an alpha API the controller applies only with
      its `NodeOverlay` feature gate (https://karpenter.sh/v1.14/concepts/nodeoverlays/,
      https://karpenter.sh/v1.14/reference/settings/#feature-gates). Warned when
      gpu-caas does not run the controller, so cannot turn the gate on itself.
    * DRA (`gpu.dra.gpuResources`, ComputeDomains on an autoscaled group): Karpenter
      v1.14.1 ignores pods' DRA requests by default (`IGNORE_DRA_REQUESTS`, default
      true, https://karpenter.sh/v1.14/reference/settings/), and a NodeOverlay adds
      extended resources only, so there is nothing gpu-caas can declare.

    Valid configs (the provider's controller may run with the gate), so warnings.

    Returns:
        `(path, message)` pairs, paths like `gpu-caas:tenant.nodeGroups[2].sharing.mode`.
    """
    # stacks.platform_gpu imports stacks.config: imported at call time, to count
    # exactly what the GPU Operator is told for each group.
    from stacks.platform_gpu import node_group_gpus

    autoscaling = config.services.autoscaling
    if not autoscaling.enabled:
        return []  # autoscaled groups without Karpenter are an error already
    gpus = {gpu.name: gpu for gpu in node_group_gpus(config)}
    gate_set = node_overlay_gate_on(autoscaling)
    warnings: list[tuple[str, str]] = []
    autoscaled: list[str] = []
    for index, group in enumerate(config.node_groups):
        scale = group.autoscale
        if scale is None or scale.gpu is None:
            continue
        autoscaled.append(group.name)
        resources = advertised_per_node(gpus[group.name], scale.gpu.count)
        if gate_set or not needs_node_overlay(resources, scale.gpu.count):
            continue
        names = ", ".join(sorted(resources))
        warnings.append(
            (
                key_path("nodeGroups", index, "sharing", "mode"),
                f"nodes of autoscaled group {group.name!r} ({group.sharing.mode.value}) "
                f"advertise {names}; Karpenter cannot see these on a node that does not "
                "exist yet (kubernetes-sigs/karpenter#729) except through the NodeOverlay "
                "gpu-caas creates, which the controller applies only with its alpha "
                "feature gate NodeOverlay=true (Karpenter >= 1.7, with the NodeOverlay "
                "CRD). gpu-caas sets the gate only in a controller it installs "
                "(services.autoscaling.controller.install: true): enable it in the "
                "provider's controller and say so with "
                "services.autoscaling.controller.nodeOverlayGate: true, or pods requesting "
                "these never trigger a scale-up",
            )
        )
    if not autoscaled:
        return warnings
    dra = config.gpu.dra
    cannot = (
        f"Karpenter {KARPENTER.version} ignores pods' DRA requests by default "
        "(IGNORE_DRA_REQUESTS=true) and a NodeOverlay declares extended resources only, "
        "so such pods never trigger a scale-up"
    )
    if dra.enabled and dra.gpu_resources:
        warnings.append(
            (
                key_path("gpu", "dra", "gpuResources"),
                f"GPUs are allocated through DRA, also on autoscaled "
                f"{plural(len(autoscaled), 'group', counted=False)} "
                f"{', '.join(autoscaled)}: {cannot}; run DRA GPU workloads on inventory "
                "node groups",
            )
        )
    for index, domain in enumerate(dra.domains):
        if dra.enabled and dra.compute_domains and domain.node_group in autoscaled:
            warnings.append(
                (
                    key_path("gpu", "dra", "domains", index, "nodeGroup"),
                    f"ComputeDomain {domain.name!r} is on autoscaled group "
                    f"{domain.node_group!r}, and its pods claim IMEX channels through DRA: "
                    f"{cannot}; put the domain on an inventory node group",
                )
            )
    return warnings


# --------------------------------------------------------------------------- #
# CNI
# --------------------------------------------------------------------------- #


class CniPlugin(StrEnum):
    """Pod network. `external`: the CNI is installed by someone else (ISV-managed)."""

    CILIUM = "cilium"
    CALICO = "calico"
    EXTERNAL = "external"


class Encapsulation(StrEnum):
    """Pod-to-pod traffic between nodes: overlay (`vxlan`) or routed (`native`)."""

    VXLAN = "vxlan"
    NATIVE = "native"


class CniConfig(ConfigModel):
    """Primary pod network. Secondary RDMA networks come from the Network Operator
    (Multus), so the primary CNI must not claim `/etc/cni/net.d` exclusively."""

    plugin: CniPlugin | None = None
    """Default: `external` for `isv-managed` clusters (the ISV platform ships its own
    pod network; installing a second CNI breaks it), `cilium` otherwise."""
    pod_cidr: ipaddress.IPv4Network | None = None
    """Cilium's cluster-pool range. Default: `kubernetes.podCidr`, the cluster's pod
    range; when set it must lie inside that range (pods outside it are unroutable for
    kube-proxy and the API server's view of the cluster)."""
    node_mask_size: int = Field(default=24, ge=16, le=28)
    """Per-node pod CIDR size; /24 gives 254 pods per node."""
    encapsulation: Encapsulation = Encapsulation.VXLAN
    kube_proxy_replacement: bool = False
    """Cilium eBPF kube-proxy replacement. Needs `apiServerHost`: without kube-proxy the
    agent cannot reach the API through the `kubernetes` Service."""
    api_server_host: str | None = None
    api_server_port: int = Field(default=6443, ge=1, le=65535)
    hubble: bool = True
    """Cilium Hubble flow visibility (relay only; no UI is exposed)."""
    multus_compatible: bool = True
    """Leave other CNI configs in place (Cilium `cni.exclusive: false`) for Multus."""


# --------------------------------------------------------------------------- #
# CSI
# --------------------------------------------------------------------------- #


class SharedStorageDriver(StrEnum):
    """Driver behind the `shared-datasets` StorageClass (ReadWriteMany)."""

    NFS = "nfs"
    EXTERNAL = "external"
    NONE = "none"


class ScratchStorageDriver(StrEnum):
    """Driver behind the `local-scratch` StorageClass (node-local NVMe).

    `local-path` and `topolvm` are provisioners the provider installs (no pinned chart
    here: local-path-provisioner publishes no Helm repository); `external` names any
    other provisioner.
    """

    LOCAL_PATH = "local-path"
    TOPOLVM = "topolvm"
    EXTERNAL = "external"
    NONE = "none"


SCRATCH_PROVISIONERS: dict[ScratchStorageDriver, str] = {
    # https://github.com/rancher/local-path-provisioner (provisioner name)
    ScratchStorageDriver.LOCAL_PATH: "rancher.io/local-path",
    # https://github.com/topolvm/topolvm/blob/main/docs/getting-started.md
    ScratchStorageDriver.TOPOLVM: "topolvm.io",
}


class ReclaimPolicy(StrEnum):
    """PersistentVolume reclaim policy."""

    RETAIN = "Retain"
    DELETE = "Delete"


class NfsServerConfig(ConfigModel):
    """The provider's NFS export used by csi-driver-nfs (one subdirectory per PVC)."""

    server: str = Field(min_length=1)
    share: str = Field(pattern=r"^/")
    mount_options: tuple[str, ...] = ("nfsvers=4.1", "hard", "nconnect=8")
    """`nconnect` opens several TCP connections per mount, which dataset reads need."""


class SharedDatasetsConfig(ConfigModel):
    """`shared-datasets`: ReadWriteMany volumes for training data and checkpoints."""

    driver: SharedStorageDriver = SharedStorageDriver.NONE
    """`none` until the provider names its storage: there is no NFS server to guess."""
    nfs: NfsServerConfig | None = None
    provisioner: str | None = Field(default=None, pattern=_DNS_SUBDOMAIN_RE)
    """CSI driver name for `external` (e.g. a parallel file system's CSI driver)."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """Extra StorageClass parameters for `external`."""
    reclaim_policy: ReclaimPolicy = ReclaimPolicy.RETAIN
    """Datasets are expensive to rebuild: keep the data when a claim is deleted."""
    default_class: bool = False


class LocalScratchConfig(ConfigModel):
    """`local-scratch`: node-local volumes, bound where the pod is scheduled."""

    driver: ScratchStorageDriver = ScratchStorageDriver.NONE
    provisioner: str | None = Field(default=None, pattern=_DNS_SUBDOMAIN_RE)
    parameters: dict[str, str] = Field(default_factory=dict)


class CsiConfig(ConfigModel):
    """Storage: a CSI driver and the two platform StorageClasses."""

    shared_datasets: SharedDatasetsConfig = Field(default_factory=SharedDatasetsConfig)
    local_scratch: LocalScratchConfig = Field(default_factory=LocalScratchConfig)


# --------------------------------------------------------------------------- #
# Observability
# --------------------------------------------------------------------------- #


class PrometheusMode(StrEnum):
    """`stack`: install kube-prometheus-stack. `external`: the provider scrapes with its
    own central Prometheus (Prometheus Operator CRDs present); only rules are created.
    `off`: nothing."""

    STACK = "stack"
    EXTERNAL = "external"
    OFF = "off"


class PrometheusConfig(ConfigModel):
    """Metrics stack settings."""

    mode: PrometheusMode = PrometheusMode.STACK
    retention: str = Field(default="15d", pattern=r"^[0-9]+(h|d|w|y)$")
    storage_size: str | None = Field(default="100Gi", pattern=r"^[0-9]+(Mi|Gi|Ti)$")
    """Prometheus PVC size; null keeps metrics in an emptyDir (lost on rescheduling)."""
    storage_class: str | None = Field(default=None, pattern=_DNS_SUBDOMAIN_RE)
    """None uses the cluster's default StorageClass."""
    grafana: bool = False
    """Off by default: tenant dashboards are usually the provider's portal."""
    rule_labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels on the GPU PrometheusRule, so a central Prometheus (`external`)
    with a `ruleSelector` picks it up, e.g. `{prometheus: ncp-central}`."""
    monitor_labels: dict[str, str] = Field(default_factory=dict)
    """`external` only: extra labels on the scrape configs the platform creates (the
    dcgm-exporter ServiceMonitor), so a central Prometheus's `serviceMonitorSelector`
    picks them up. With `stack` the bundled Prometheus selects every monitor."""


class OtelConfig(ConfigModel):
    """OpenTelemetry collector forwarding traces/metrics/logs to the provider."""

    enabled: bool = True
    exporter_endpoint: str | None = None
    """OTLP/gRPC endpoint (`host:port`) of the provider's collector; None keeps data
    in-cluster (debug exporter only)."""
    insecure: bool = False
    """Plain-text OTLP; only for collectors on a trusted network."""


DEFAULT_CRITICAL_XIDS: tuple[int, ...] = (48, 64, 74, 79, 95, 119, 120)
"""XIDs that mean broken hardware or a GPU that needs a reset/reboot: 48 double-bit
ECC, 64 row-remap failure, 74 NVLink error, 79 fallen off the bus, 95 uncontained ECC,
119/120 GSP timeout/error. https://docs.nvidia.com/deploy/xid-errors/index.html"""


class AlertThresholds(ConfigModel):
    """Thresholds of the DCGM alert rules (PrometheusRule `gpu-health`)."""

    gpu_temp_celsius: int = Field(default=87, ge=40, le=120)
    """Data-center GPUs start slowing down around 87-90 C."""
    memory_temp_celsius: int = Field(default=95, ge=40, le=120)
    """HBM temperature; HBM throttles at about 95 C."""
    ecc_sbe_per_hour: int = Field(default=100, ge=1)
    """Corrected (single-bit) ECC errors per hour that suggest failing memory."""
    throttle_fraction: float = Field(default=0.1, gt=0, le=1)
    """Fraction of time a GPU may be thermally or power throttled before alerting."""
    critical_xids: tuple[int, ...] = DEFAULT_CRITICAL_XIDS
    for_duration: str = Field(default="5m", pattern=r"^[0-9]+(s|m|h)$")
    """How long a temperature/throttling condition must hold."""

    @field_validator("critical_xids")
    @classmethod
    def _xids_positive(cls, xids: tuple[int, ...]) -> tuple[int, ...]:
        if any(xid <= 0 for xid in xids):
            raise ValueError("XID codes are positive integers")
        return tuple(sorted(set(xids)))


class ObservabilityConfig(ConfigModel):
    """Prometheus, OpenTelemetry and DCGM GPU alerting."""

    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    otel: OtelConfig = Field(default_factory=OtelConfig)
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)


# --------------------------------------------------------------------------- #
# Node health and break-fix
# --------------------------------------------------------------------------- #


class NodeHealthEngine(StrEnum):
    """Who detects GPU node faults and remediates them.

    `nvsentinel`: NVIDIA NVSentinel (GPU/NVSwitch/syslog monitors, quarantine, drain,
    remediation). `nhc`: medik8s Node Health Check operator (node conditions only;
    installed through OLM by the provider). `off`: nothing.
    """

    NVSENTINEL = "nvsentinel"
    NHC = "nhc"
    OFF = "off"


class RemediationPolicy(StrEnum):
    """How far automatic break-fix goes, each step including the previous ones.

    `cordon-only`: stop new work on a faulty node. `drain`: also evict workloads.
    `reboot`: also reboot/reset through the provider. `replace`: also allow terminating
    the node so the provider replaces it.
    """

    CORDON_ONLY = "cordon-only"
    DRAIN = "drain"
    REBOOT = "reboot"
    REPLACE = "replace"


class DrainMode(StrEnum):
    """How workloads leave a quarantined node (NVSentinel node-drainer modes)."""

    ALLOW_COMPLETION = "allow-completion"
    DELETE_AFTER_TIMEOUT = "delete-after-timeout"
    IMMEDIATE = "immediate"


class NodeHealthConfig(ConfigModel):
    """Node health detection and the cordon/drain/remediation policy."""

    engine: NodeHealthEngine = NodeHealthEngine.NVSENTINEL
    remediation: RemediationPolicy = RemediationPolicy.DRAIN
    drain_mode: DrainMode = DrainMode.DELETE_AFTER_TIMEOUT
    """Training jobs get `drainTimeoutMinutes` to checkpoint, then pods are deleted."""
    drain_timeout_minutes: int = Field(default=60, ge=1, le=24 * 60)
    max_unhealthy_percent: int = Field(default=10, ge=1, le=100)
    """Stop automatic quarantine/remediation when more than this share of nodes is
    unhealthy at once: a fleet-wide event is an infrastructure problem, not N bad GPUs."""
    unhealthy_after: Duration = "300s"
    """NHC: how long a node condition must hold before remediation."""
    dry_run: bool = False
    """NVSentinel logs what it would do without cordoning anything."""
    janitor_provider: str = Field(default="generic", pattern=_DNS_LABEL_RE)
    """NVSentinel janitor provider for `reboot`/`replace`: `generic` reboots bare metal
    through a privileged Job (NVSentinel design 028, as NVIDIA AICR configures it);
    cloud providers (e.g. `aws`, `gcp`, `azure`, `oci`) can also terminate nodes."""
    nhc_operator_namespace: str = Field(default="operators", pattern=_DNS_LABEL_RE)
    """Node Health Check: namespace of the medik8s remediation operators (OLM installs
    operatorhub.io operators into `operators` on vanilla Kubernetes)."""


# --------------------------------------------------------------------------- #
# Root of the section
# --------------------------------------------------------------------------- #


class ClusterServicesConfig(ConfigModel):
    """Cluster services: scheduling, autoscaling, CNI, CSI, observability, node health."""

    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    cni: CniConfig = Field(default_factory=CniConfig)
    csi: CsiConfig = Field(default_factory=CsiConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    node_health: NodeHealthConfig = Field(default_factory=NodeHealthConfig)


# --------------------------------------------------------------------------- #
# Inventory helpers (pure; also used by stacks/platform_services.py)
# --------------------------------------------------------------------------- #


def effective_cni_plugin(config: TenantConfig) -> CniPlugin:
    """`cni.plugin`, or the flavor's default: `external` for isv-managed, else Cilium."""
    if config.services.cni.plugin is not None:
        return config.services.cni.plugin
    return CniPlugin.EXTERNAL if config.flavor.value == "isv-managed" else CniPlugin.CILIUM


def topology_values(config: TenantConfig) -> dict[TopologyLevel, dict[str, set[str]]]:
    """Per topology level: label value -> host names carrying it (inventory only)."""
    values: dict[TopologyLevel, dict[str, set[str]]] = {
        TopologyLevel.RACK: {},
        TopologyLevel.NVLINK_DOMAIN: {},
    }
    for host in config.hosts:
        for level, value in (
            (TopologyLevel.RACK, host.topology.rack),
            (TopologyLevel.NVLINK_DOMAIN, host.topology.nvlink_domain),
        ):
            if value is not None:
                values[level].setdefault(value, set()).add(host.name)
    return values


def effective_topology_levels(config: TenantConfig) -> tuple[TopologyLevel, ...]:
    """Configured levels that the cluster's nodes can carry, widest first.

    Inventory levels (rack, NVLink domain) are kept only when some host has a
    value; `zone` (set by cloud providers on autoscaled nodes) and `hostname` (set by
    kubelet) are kept as configured. A Topology with only `hostname` is pointless, so
    that yields no levels.
    """
    present = topology_values(config)
    levels = tuple(
        level
        for level in config.services.scheduler.topology_levels
        if level in (TopologyLevel.ZONE, TopologyLevel.HOSTNAME) or present.get(level)
    )
    return () if levels in ((), (TopologyLevel.HOSTNAME,)) else levels


# --------------------------------------------------------------------------- #
# Cross-field rules
# --------------------------------------------------------------------------- #


def _path(*parts: str) -> str:
    return ".".join((SERVICES_PATH, *parts))


def _rules_within_services(services: ClusterServicesConfig) -> list[tuple[str, str]]:
    """Rules that only need the services section."""
    problems: list[tuple[str, str]] = []
    autoscaling = services.autoscaling
    if (
        autoscaling.enabled
        and autoscaling.controller.install
        and autoscaling.provider.value not in KARPENTER_PROVIDER_CHARTS
    ):
        pinned = ", ".join(sorted(KARPENTER_PROVIDER_CHARTS)) or "none"
        problems.append(
            (
                _path("autoscaling", "controller", "install"),
                f"no Karpenter controller chart is pinned for provider "
                f"{autoscaling.provider.value} (pinned: {pinned}); install the "
                "provider's controller out of band and set install: false",
            )
        )

    cni = services.cni
    if cni.kube_proxy_replacement and not cni.api_server_host:
        problems.append(
            (
                _path("cni", "apiServerHost"),
                "kube-proxy replacement needs the API server host (without kube-proxy "
                "the agent cannot reach the API through the kubernetes Service)",
            )
        )

    shared = services.csi.shared_datasets
    if shared.driver is SharedStorageDriver.NFS and shared.nfs is None:
        problems.append(
            (
                _path("csi", "sharedDatasets", "nfs"),
                "driver nfs needs the NFS export: {server, share}",
            )
        )
    if shared.driver is not SharedStorageDriver.NFS and shared.nfs is not None:
        problems.append(
            (
                _path("csi", "sharedDatasets", "nfs"),
                f"only applies to driver nfs, but the driver is {shared.driver.value}",
            )
        )
    if shared.driver is SharedStorageDriver.EXTERNAL and not shared.provisioner:
        problems.append(
            (
                _path("csi", "sharedDatasets", "provisioner"),
                "driver external needs the CSI driver name, e.g. csi.weka.io",
            )
        )
    scratch = services.csi.local_scratch
    if scratch.driver is ScratchStorageDriver.EXTERNAL and not scratch.provisioner:
        problems.append(
            (
                _path("csi", "localScratch", "provisioner"),
                "driver external needs the provisioner name, e.g. rancher.io/local-path",
            )
        )

    otel = services.observability.otel
    if (
        otel.enabled
        and otel.exporter_endpoint
        and not re.match(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$", otel.exporter_endpoint)
    ):
        problems.append(
            (
                _path("observability", "otel", "exporterEndpoint"),
                "expected an OTLP/gRPC host:port, e.g. otel.ncp.internal:4317",
            )
        )
    return problems


def dcgm_service_monitor(config: TenantConfig) -> bool:
    """Whether the GPU Operator creates dcgm-exporter's ServiceMonitor: as configured,
    else on unless Prometheus is `off` (no ServiceMonitor CRD then)."""
    exporter = config.gpu.operator.dcgm_exporter
    if exporter.service_monitor is not None:
        return exporter.service_monitor
    return config.services.observability.prometheus.mode is not PrometheusMode.OFF


def _prometheus_mode_problems(config: TenantConfig) -> list[tuple[str, str]]:
    """Settings that only mean something in one Prometheus mode, used in another."""
    prometheus = config.services.observability.prometheus
    problems: list[tuple[str, str]] = []
    exporter = config.gpu.operator.dcgm_exporter
    if (
        prometheus.mode is PrometheusMode.OFF
        and config.gpu.enabled
        and exporter.enabled
        and exporter.service_monitor is True
    ):
        problems.append(
            (
                "gpu-caas:tenant.gpu.operator.dcgmExporter.serviceMonitor",
                "services.observability.prometheus.mode is off, so no ServiceMonitor CRD "
                "exists and the GPU Operator's dcgm-exporter state would fail; remove "
                "serviceMonitor (it follows the mode) or set the mode to stack or external",
            )
        )
    if prometheus.monitor_labels and prometheus.mode is not PrometheusMode.EXTERNAL:
        problems.append(
            (
                _path("observability", "prometheus", "monitorLabels"),
                f"only used with mode external (a central Prometheus selecting monitors by "
                f"label); mode is {prometheus.mode.value}: remove it",
            )
        )
    return problems


def effective_pod_cidr(cni: CniConfig, cluster_pod_cidr: ipaddress.IPv4Network) -> str:
    """The CNI's pod range: `services.cni.podCidr`, else the cluster's `kubernetes.podCidr`."""
    return str(cni.pod_cidr or cluster_pod_cidr)


def _pod_cidr_problems(
    cni: CniConfig, cluster_pod_cidr: ipaddress.IPv4Network
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    pool = cni.pod_cidr or cluster_pod_cidr
    if cni.pod_cidr is not None and not cni.pod_cidr.subnet_of(cluster_pod_cidr):
        problems.append(
            (
                _path("cni", "podCidr"),
                f"{cni.pod_cidr} is outside kubernetes.podCidr {cluster_pod_cidr}, so the CNI "
                "would give pods addresses outside the cluster's pod range; remove "
                "services.cni.podCidr (it follows kubernetes.podCidr) or pick a range inside it",
            )
        )
    if pool.prefixlen >= cni.node_mask_size:
        problems.append(
            (
                _path("cni", "nodeMaskSize"),
                f"node mask /{cni.node_mask_size} must be longer than the pod CIDR "
                f"/{pool.prefixlen}",
            )
        )
    return problems


def services_rules(config: TenantConfig) -> list[tuple[str, str]]:
    """Cross-field errors of the services section; empty when valid.

    Args:
        config: the parsed tenant config.

    Returns:
        `(path, message)` pairs, path like `gpu-caas:tenant.services.cni.apiServerHost`.
    """
    services = config.services
    problems = _rules_within_services(services)
    problems += _pod_cidr_problems(services.cni, config.kubernetes.pod_cidr)
    problems += _prometheus_mode_problems(config)
    plugin = effective_cni_plugin(config)
    if services.cni.kube_proxy_replacement and plugin is not CniPlugin.CILIUM:
        problems.append(
            (
                _path("cni", "kubeProxyReplacement"),
                "kube-proxy replacement is a Cilium feature, and this cluster's CNI is "
                f"{plugin.value} (isv-managed clusters default to external; set "
                "cni.plugin: cilium to install Cilium)",
            )
        )
    autoscaling = services.autoscaling
    autoscaled = [
        (index, group.name, group.autoscale)
        for index, group in enumerate(config.node_groups)
        if group.autoscale is not None
    ]
    if autoscaled and not autoscaling.enabled:
        names = ", ".join(name for _, name, _ in autoscaled)
        problems.append(
            (
                _path("autoscaling", "enabled"),
                f"{plural(len(autoscaled), 'node group', counted=False)} {names} "
                f"{plural(len(autoscaled), 'is', 'are', counted=False)} autoscaled, which "
                "needs Karpenter: set autoscaling.enabled: true (or give "
                f"{plural(len(autoscaled), 'the group', 'the groups', counted=False)} "
                "inventory hosts)",
            )
        )
    expected = KNOWN_NODE_CLASSES.get(autoscaling.provider)
    for index, _, scale in autoscaled:
        base = f"gpu-caas:tenant.nodeGroups[{index}].autoscale"
        ref = scale.node_class
        if autoscaling.enabled and expected is not None and (ref.group, ref.kind) != expected:
            problems.append(
                (
                    f"{base}.nodeClass",
                    f"Karpenter provider {autoscaling.provider.value} uses NodeClass kind "
                    f"{expected[1]} in group {expected[0]}; got {ref.kind} in group "
                    f"{ref.group} (set services.autoscaling.provider: custom for another "
                    "Karpenter provider)",
                )
            )
        if scale.gpu is None:
            problems.append(
                (
                    f"{base}.gpu",
                    "autoscaled node groups are GPU NodePools capped in nvidia.com/gpu: "
                    "give the GPU model and count per node (CPU capacity: use inventory "
                    "hosts)",
                )
            )
    return problems


def services_warnings(config: TenantConfig) -> list[tuple[str, str]]:
    """Cross-field warnings: valid, but probably not what the operator meant."""
    services = config.services
    warnings: list[tuple[str, str]] = []
    # Team GPU quotas above what the node groups advertise: stacks.config.gpu_quota
    # (quota_warnings), per resource in every sharing mode.
    for index, group in enumerate(config.node_groups):
        if group.autoscale is not None and group.autoscale.min_nodes > 0:
            warnings.append(
                (
                    f"gpu-caas:tenant.nodeGroups[{index}].autoscale.minNodes",
                    "Karpenter keeps no minimum for demand-driven NodePools; nodes are "
                    "only launched for pending pods (minNodes is ignored)",
                )
            )
    if services.scheduler.enabled and services.scheduler.topology_aware:
        warnings.extend(_topology_nesting_warnings(config))
    if (
        services.observability.prometheus.mode is PrometheusMode.OFF
        and services.node_health.engine is NodeHealthEngine.OFF
    ):
        warnings.append(
            (
                _path("observability", "prometheus", "mode"),
                "no GPU alerting and no node-health engine: faulty GPUs go unnoticed",
            )
        )
    prometheus = services.observability.prometheus
    no_default_class = not services.csi.shared_datasets.default_class
    if (
        prometheus.mode is PrometheusMode.STACK
        and prometheus.storage_size is not None
        and prometheus.storage_class is None
        and no_default_class
    ):
        warnings.append(
            (
                _path("observability", "prometheus", "storageClass"),
                f"Prometheus claims {prometheus.storage_size} from the cluster's default "
                "StorageClass, which gpu-caas does not create; without one the claim "
                "stays Pending and the install times out. Name a StorageClass, make "
                "csi.sharedDatasets the default class, or set storageSize: null",
            )
        )
    if services.node_health.engine is NodeHealthEngine.NVSENTINEL and no_default_class:
        warnings.append(
            (
                _path("nodeHealth", "engine"),
                "NVSentinel's datastore (MongoDB) claims a volume from the cluster's "
                "default StorageClass; make sure the cluster has one (e.g. "
                "csi.sharedDatasets.defaultClass: true)",
            )
        )
    health = services.node_health
    if (
        health.engine is NodeHealthEngine.NVSENTINEL
        and health.remediation is RemediationPolicy.REPLACE
        and health.janitor_provider == "generic"
    ):
        warnings.append(
            (
                _path("nodeHealth", "janitorProvider"),
                "the generic janitor provider can reboot but not terminate nodes; "
                "replace needs a provider that can (or stays at reboot)",
            )
        )
    if (
        services.node_health.engine is NodeHealthEngine.NHC
        and services.node_health.remediation is RemediationPolicy.CORDON_ONLY
    ):
        warnings.append(
            (
                _path("nodeHealth", "remediation"),
                "Node Health Check always hands unhealthy nodes to a remediation "
                "provider; cordon-only is enforced by pausing remediation",
            )
        )
    return warnings


def _topology_nesting_warnings(config: TenantConfig) -> list[tuple[str, str]]:
    """Each narrower level's domain must sit inside one domain of the wider level."""
    warnings: list[tuple[str, str]] = []
    levels = [
        level
        for level in effective_topology_levels(config)
        if level in (TopologyLevel.RACK, TopologyLevel.NVLINK_DOMAIN)
    ]
    values = topology_values(config)
    for wider, narrower in zip(levels, levels[1:], strict=False):
        for value, hosts in sorted(values[narrower].items()):
            parents = {parent for parent, members in values[wider].items() if members & hosts}
            if len(parents) > 1:
                warnings.append(
                    (
                        _path("scheduler", "topologyLevels"),
                        f"{narrower.value} {value} spans {wider.value}s "
                        f"{', '.join(sorted(parents))}; list the wider level first so "
                        "topology domains nest",
                    )
                )
    return warnings
