"""Install the cluster services of the tenant platform: CNI, storage, scheduling,
autoscaling, observability and node health.

Builds each component's Args from the validated `TenantConfig` (components never read
config) and returns the stack outputs worth exporting. Two steps of
`stacks.platform.install`: `install_network` (the CNI, first: nothing schedules without
pod networking; it fills `ClusterHandle.network_ready`) and `install` (everything else:
its Helm releases depend on `handle.network_ready`, node health also on
`handle.gpu_ready`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pulumi

from components.gpu.catalog import ModelName
from components.gpu.catalog import spec as gpu_spec
from components.naming import (
    LABEL_NVLINK_DOMAIN,
    LABEL_RACK,
)
from components.services.cni import Cni, CniArgs
from components.services.csi import (
    NfsExport,
    Storage,
    StorageArgs,
    StorageClassSpec,
    local_scratch_class,
)
from components.services.kai_scheduler import (
    HOSTNAME_LABEL,
    KaiScheduler,
    KaiSchedulerArgs,
    QueueSettings,
    TeamQueue,
)
from components.services.karpenter import (
    BudgetSpec,
    ControllerSettings,
    DisruptionSettings,
    GpuNodePool,
    Karpenter,
    KarpenterArgs,
    NodeClassReference,
    Taint,
)
from components.services.node_health import NodeHealth, NodeHealthArgs, RemediationSettings
from components.services.observability import (
    Observability,
    ObservabilityArgs,
    OtelSettings,
    PrometheusSettings,
    Thresholds,
)
from stacks import compose
from stacks.config import TenantConfig
from stacks.config.gpu_quota import kai_queue_quota
from stacks.config.placement import system_tolerations_k8s
from stacks.config.services import (
    SCRATCH_PROVISIONERS,
    CniPlugin,
    KarpenterProvider,
    NodeHealthEngine,
    ScratchStorageDriver,
    SharedStorageDriver,
    TopologyLevel,
    effective_cni_plugin,
    effective_pod_cidr,
    effective_topology_levels,
)
from stacks.platform_gpu import node_group_gpus
from stacks.platform_handle import ClusterHandle

TOPOLOGY_LABELS: dict[TopologyLevel, str] = {
    TopologyLevel.ZONE: "topology.kubernetes.io/zone",
    TopologyLevel.RACK: LABEL_RACK,
    TopologyLevel.NVLINK_DOMAIN: LABEL_NVLINK_DOMAIN,
    TopologyLevel.HOSTNAME: HOSTNAME_LABEL,
}
"""Node label of each topology level (set at join from the host inventory)."""


# --------------------------------------------------------------------------- #
# Args builders (pure: config in, Args out; tested without Pulumi)
# --------------------------------------------------------------------------- #


def cni_args(handle: ClusterHandle, config: TenantConfig) -> CniArgs | None:
    """CNI Args, or None when the CNI is installed by someone else."""
    cni = config.services.cni
    plugin = effective_cni_plugin(config)
    if plugin is CniPlugin.EXTERNAL:
        return None
    return CniArgs(
        provider=handle.provider,
        mirrors=compose.mirrors(config),
        tolerations=system_tolerations_k8s(config),
        tenant=config.name,
        plugin=plugin.value,
        pod_cidr=effective_pod_cidr(cni, config.kubernetes.pod_cidr),
        node_mask_size=cni.node_mask_size,
        encapsulation=cni.encapsulation.value,
        kube_proxy_replacement=cni.kube_proxy_replacement,
        api_server_host=cni.api_server_host,
        api_server_port=cni.api_server_port,
        hubble=cni.hubble,
        multus_compatible=cni.multus_compatible,
    )


def storage_args(handle: ClusterHandle, config: TenantConfig) -> StorageArgs | None:
    """Storage Args, or None when neither StorageClass is wanted."""
    csi = config.services.csi
    shared, scratch = csi.shared_datasets, csi.local_scratch
    nfs = (
        NfsExport(
            server=shared.nfs.server,
            share=shared.nfs.share,
            mount_options=shared.nfs.mount_options,
        )
        if shared.driver is SharedStorageDriver.NFS and shared.nfs is not None
        else None
    )
    external_shared = (
        StorageClassSpec(
            provisioner=shared.provisioner,
            parameters=dict(shared.parameters),
            reclaim_policy=shared.reclaim_policy.value,
            default_class=shared.default_class,
        )
        if shared.driver is SharedStorageDriver.EXTERNAL and shared.provisioner
        else None
    )
    scratch_provisioner = (
        scratch.provisioner
        if scratch.driver is ScratchStorageDriver.EXTERNAL
        else SCRATCH_PROVISIONERS.get(scratch.driver)
    )
    local = (
        local_scratch_class(scratch_provisioner, scratch.parameters)
        if scratch_provisioner
        else None
    )
    if nfs is None and external_shared is None and local is None:
        return None
    return StorageArgs(
        provider=handle.provider,
        mirrors=compose.mirrors(config),
        tolerations=system_tolerations_k8s(config),
        tenant=config.name,
        nfs=nfs,
        shared_datasets=external_shared,
        shared_reclaim_policy=shared.reclaim_policy.value,
        shared_default_class=shared.default_class,
        local_scratch=local,
        depends_on=handle.network_ready,
    )


def kai_args(handle: ClusterHandle, config: TenantConfig) -> KaiSchedulerArgs | None:
    """KAI Args, or None when the scheduler is off. Each team queue's GPU quota is the
    team's `gpuQuota` in KAI's GPU units (`stacks.config.gpu_quota.kai_queue_quota`)."""
    scheduler = config.services.scheduler
    if not scheduler.enabled:
        return None
    defaults = scheduler.queue_defaults
    levels = effective_topology_levels(config) if scheduler.topology_aware else ()
    return KaiSchedulerArgs(
        provider=handle.provider,
        mirrors=compose.mirrors(config),
        tolerations=system_tolerations_k8s(config),
        tenant=config.name,
        teams=tuple(
            TeamQueue(name=team.name, gpu_quota=kai_queue_quota(config, team))
            for team in config.teams
        ),
        queue_settings=QueueSettings(
            over_quota_weight=defaults.over_quota_weight,
            burst_beyond_quota=defaults.burst_beyond_quota,
            priority=defaults.priority,
            preempt_min_runtime=defaults.preempt_min_runtime,
            reclaim_min_runtime=defaults.reclaim_min_runtime,
        ),
        placement_strategy=scheduler.placement_strategy.value,
        create_default_queue=scheduler.create_default_queue,
        topology_labels=tuple(TOPOLOGY_LABELS[level] for level in levels),
        depends_on=handle.network_ready,
    )


_MEMORY_SUFFIX = re.compile(r"-\d+GB\b.*$")


def gpu_family(model: str) -> str:
    """The GPU family of a catalog model name: the part before its memory size.

    `H100-80GB` -> `H100`, `H200-141GB-NVL` -> `H200`, `RTX-PRO-6000-96GB` ->
    `RTX-PRO-6000`; a name without a memory size is its own family.
    """
    return _MEMORY_SUFFIX.sub("", model)


def _gpu_products(model: ModelName, provider: KarpenterProvider) -> tuple[str, ...]:
    """Values of the provider's GPU product label for a GPU model."""
    family = gpu_family(str(model.value))
    if provider is KarpenterProvider.AWS:
        return (family.lower(),)  # karpenter.k8s.aws/instance-gpu-name: h100
    if provider is KarpenterProvider.AZURE:
        return (family,)  # karpenter.azure.com/sku-gpu-name: H100
    # GPU Feature Discovery's nvidia.com/gpu.product, as the provider advertises it:
    # every NVML name of the model (e.g. both GH200 boards' labels).
    spec = gpu_spec(model)
    return tuple(dict.fromkeys(spec.product_labels or (spec.product_label,)))


def karpenter_args(handle: ClusterHandle, config: TenantConfig) -> KarpenterArgs | None:
    """Karpenter Args, or None when autoscaling is off or nothing is autoscaled."""
    autoscaling = config.services.autoscaling
    groups = [(g, g.autoscale) for g in config.node_groups if g.autoscale is not None]
    if not autoscaling.enabled or not groups:
        return None
    # What the GPU Operator gets for each group: NodePool limits and NodeOverlays count
    # the resources its device plugin config makes a node advertise.
    gpus = {gpu.name: gpu for gpu in node_group_gpus(config)}
    pools = []
    for group, scale in groups:
        if scale.gpu is None:
            raise ValueError(f"node group {group.name}: autoscaled groups need `gpu`")
        pools.append(
            GpuNodePool(
                name=group.name,
                max_nodes=scale.max_nodes,
                gpus_per_node=scale.gpu.count,
                gpu_products=_gpu_products(scale.gpu.model, autoscaling.provider),
                instance_types=tuple(scale.instance_types),
                node_class_ref=NodeClassReference(
                    group=scale.node_class.group,
                    kind=scale.node_class.kind,
                    name=scale.node_class.name,
                ),
                requirements=tuple(
                    (req.key, req.operator.value, tuple(req.values)) for req in scale.requirements
                ),
                # Exactly what joined hosts of a group get (tenant, node group, GPU
                # product, GPU Operator config selectors, then the group's own labels and
                # taints): autoscaled nodes look the same to the scheduler, quotas,
                # policies and the GPU Operator.
                labels=compose.node_group_labels(config, group),
                taints=tuple(
                    Taint(key=t.key, value=t.value or None, effect=t.effect)
                    for t in compose.node_group_taints(config, group)
                ),
                gpu_taint=False,  # already in node_group_taints (unless the group opts out)
                gpu=gpus[group.name],
            )
        )
    consolidation = autoscaling.consolidation
    controller = autoscaling.controller
    return KarpenterArgs(
        provider=handle.provider,
        mirrors=compose.mirrors(config),
        tolerations=system_tolerations_k8s(config),
        tenant=config.name,
        cloud_provider=autoscaling.provider.value,
        pools=tuple(pools),
        disruption=DisruptionSettings(
            consolidate_after=consolidation.consolidate_after,
            expire_after=consolidation.expire_after,
            termination_grace_period=consolidation.termination_grace_period,
            allow_drift_replacement=consolidation.allow_drift_replacement,
            budgets=tuple(
                BudgetSpec(
                    nodes=b.nodes,
                    reasons=tuple(r.value for r in b.reasons),
                    schedule=b.schedule,
                    duration=b.duration,
                )
                for b in consolidation.budgets
            ),
        ),
        controller=ControllerSettings(
            provider_name=autoscaling.provider.value,
            cluster_name=controller.cluster_name or config.name,
            replicas=controller.replicas,
            service_account_annotations=dict(controller.service_account_annotations),
        )
        if controller.install
        else None,
        depends_on=handle.network_ready,
    )


def observability_args(handle: ClusterHandle, config: TenantConfig) -> ObservabilityArgs | None:
    """Observability Args, or None when neither Prometheus nor OTel is wanted."""
    obs = config.services.observability
    if obs.prometheus.mode.value == "off" and not obs.otel.enabled:
        return None
    alerts = obs.alerts
    return ObservabilityArgs(
        provider=handle.provider,
        mirrors=compose.mirrors(config),
        tolerations=system_tolerations_k8s(config),
        tenant=config.name,
        prometheus_mode=obs.prometheus.mode.value,
        prometheus=PrometheusSettings(
            retention=obs.prometheus.retention,
            storage_size=obs.prometheus.storage_size,
            storage_class=obs.prometheus.storage_class,
            grafana=obs.prometheus.grafana,
            rule_labels=dict(obs.prometheus.rule_labels),
        ),
        otel=OtelSettings(exporter_endpoint=obs.otel.exporter_endpoint, insecure=obs.otel.insecure)
        if obs.otel.enabled
        else None,
        thresholds=Thresholds(
            gpu_temp_celsius=alerts.gpu_temp_celsius,
            memory_temp_celsius=alerts.memory_temp_celsius,
            ecc_sbe_per_hour=alerts.ecc_sbe_per_hour,
            throttle_fraction=alerts.throttle_fraction,
            critical_xids=alerts.critical_xids,
            for_duration=alerts.for_duration,
        ),
        depends_on=handle.network_ready,
    )


def node_health_args(handle: ClusterHandle, config: TenantConfig) -> NodeHealthArgs | None:
    """Node-health Args, or None when the engine is off."""
    health = config.services.node_health
    if health.engine is NodeHealthEngine.OFF:
        return None
    return NodeHealthArgs(
        provider=handle.provider,
        mirrors=compose.mirrors(config),
        tenant=config.name,
        engine=health.engine.value,
        settings=RemediationSettings(
            policy=health.remediation.value,
            drain_mode=health.drain_mode.value,
            drain_timeout_minutes=health.drain_timeout_minutes,
            max_unhealthy_percent=health.max_unhealthy_percent,
            unhealthy_after=health.unhealthy_after,
            dry_run=health.dry_run,
            janitor_provider=health.janitor_provider,
            nhc_operator_namespace=health.nhc_operator_namespace,
            pod_monitor=config.services.observability.prometheus.mode.value != "off",
        ),
        # NVSentinel's GPU health monitor reads DCGM: the GPU Operator comes first.
        depends_on=(*handle.network_ready, *handle.gpu_ready),
    )


# --------------------------------------------------------------------------- #
# Install
# --------------------------------------------------------------------------- #


def install_network(
    handle: ClusterHandle, config: TenantConfig
) -> tuple[ClusterHandle, dict[str, pulumi.Output[Any]]]:
    """Install the CNI (unless it is external); return the handle with `network_ready`.

    The first platform step (`stacks.platform.install`): every other Helm release waits
    for pods to become ready, which needs pod networking.
    """
    if (args := cni_args(handle, config)) is None:
        return handle, {}
    cni = Cni(f"{handle.name}-cni", args, pulumi.ResourceOptions(parent=handle.parent))
    ready = replace(handle, network_ready=(*handle.network_ready, cni.release))
    return ready, {"cni": pulumi.Output.from_input(cni.plugin)}


def install(handle: ClusterHandle, config: TenantConfig) -> dict[str, pulumi.Output[Any]]:
    """Create the services after the CNI on the tenant cluster; return outputs to export.

    Components are children of `handle.parent`, named `<tenant>-<service>`. Their Helm
    releases depend on `handle.network_ready` (set by `install_network`); node health
    also on `handle.gpu_ready` and on the monitoring stack.
    """
    prefix = handle.name
    base = pulumi.ResourceOptions(parent=handle.parent)
    outputs: dict[str, pulumi.Output[Any]] = {}

    if (storage := storage_args(handle, config)) is not None:
        component = Storage(f"{prefix}-storage", storage, base)
        outputs["storageClasses"] = pulumi.Output.from_input(component.storage_classes)

    if (kai := kai_args(handle, config)) is not None:
        scheduler = KaiScheduler(f"{prefix}-kai-scheduler", kai, base)
        outputs["schedulerQueues"] = pulumi.Output.from_input(scheduler.queue_names)
        outputs["schedulerTopology"] = pulumi.Output.from_input(scheduler.topology_name)

    if (karpenter := karpenter_args(handle, config)) is not None:
        pools = Karpenter(f"{prefix}-karpenter", karpenter, base)
        outputs["nodePools"] = pulumi.Output.from_input(pools.node_pool_names)

    observability: Observability | None = None
    if (obs := observability_args(handle, config)) is not None:
        observability = Observability(f"{prefix}-observability", obs, base)
        outputs["gpuAlertRules"] = pulumi.Output.from_input(observability.prometheus_rule)

    if (health := node_health_args(handle, config)) is not None:
        if observability is not None:
            # NVSentinel's PodMonitors need the Prometheus Operator CRDs from the stack.
            health = replace(health, depends_on=(*health.depends_on, observability))
        node_health = NodeHealth(f"{prefix}-node-health", health, base)
        outputs["nodeHealth"] = pulumi.Output.from_input(
            {"engine": node_health.engine, "remediation": node_health.policy}
        )
    return outputs
