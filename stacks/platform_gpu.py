"""Install the GPU platform on the tenant cluster: GPU Operator, DRA driver, then the
network/DPU/NIM part (`stacks/platform_gpu_network.py`).

Order (`stacks.platform.install`): the GPU Operator's release waits for the CNI
(`handle.network_ready`); the DRA driver, Network Operator, DPF and NIM wait for the CNI
and the GPU Operator (`handle.gpu_ready`, which `install` also returns for node health);
ComputeDomains, which live in tenant namespaces, also wait for `handle.tenant_ready`.

Builds component Args from the validated `TenantConfig` (components never read
config) and returns the stack outputs to export. Charts and images are recorded in the
stack's mirror list by `components.helm.helm_release`; the flavor composition exports
`components.mirrors.stack_mirror_list().to_output()` as `mirrorList`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi

from components import versions
from components.gpu.dra_driver import (
    GPU_OPERATOR_DRIVER_ROOT,
    HOST_DRIVER_ROOT,
    ComputeDomain,
    DraDriver,
    DraDriverArgs,
    DraDriverSettings,
)
from components.gpu.gpu_operator import (
    DriverSettings,
    DriverUpgradePolicy,
    GpuOperator,
    GpuOperatorArgs,
    GpuOperatorSettings,
    NodeGroupGpu,
    Sharing,
)
from stacks import compose, platform_gpu_network
from stacks.config import TenantConfig
from stacks.config.gpu import node_group_gpu_model, node_group_mig_layout
from stacks.config.placement import gpu_node_tolerations_k8s, system_tolerations_k8s
from stacks.config.services import PrometheusMode, dcgm_service_monitor
from stacks.platform_handle import ClusterHandle


def node_group_gpus(config: TenantConfig) -> tuple[NodeGroupGpu, ...]:
    """Per-node-group GPU settings (model, sharing, MIG layout) for the GPU Operator."""
    groups = []
    for group in config.node_groups:
        mode = group.sharing.mode.value
        replicas = 1
        if mode == "time-slicing" and group.sharing.time_slicing is not None:
            replicas = group.sharing.time_slicing.replicas
        elif mode == "mps" and group.sharing.mps is not None:
            replicas = group.sharing.mps.replicas
        groups.append(
            NodeGroupGpu(
                name=group.name,
                gpu_model=node_group_gpu_model(config, group),
                sharing=Sharing(
                    mode=mode if mode in ("time-slicing", "mps") else "exclusive",
                    replicas=replicas,
                    # Replicas are advertised as `nvidia.com/gpu.shared`, never as whole
                    # GPUs: quotas and NodePool limits count them apart
                    # (components/gpu/advertised.py).
                    rename_by_default=mode in ("time-slicing", "mps"),
                ),
                mig_layout=node_group_mig_layout(group),
            )
        )
    return tuple(groups)


def gpu_operator_settings(config: TenantConfig) -> GpuOperatorSettings:
    """`GpuOperatorSettings` from `tenant.gpu.operator`, `gpu.network` and `nodeGroups`."""
    op = config.gpu.operator
    policy = op.driver.upgrade_policy
    network = config.gpu.network
    prometheus = config.services.observability.prometheus
    chart = versions.GPU_OPERATOR.helm
    if op.version is not None:
        chart = versions.HelmChart(chart.repository, chart.chart, op.version)
    return GpuOperatorSettings(
        chart=chart,
        driver=DriverSettings(
            enabled=op.driver.enabled,
            version=op.driver.version or versions.NVIDIA_DRIVER.version,
            kernel_module_type=op.driver.kernel_module_type.value,
            use_precompiled=op.driver.use_precompiled,
            os_tags=tuple(op.driver.os_tags),
            upgrade_policy=DriverUpgradePolicy(
                auto_upgrade=policy.auto_upgrade,
                max_parallel_upgrades=policy.max_parallel_upgrades,
                max_unavailable=policy.max_unavailable,
                drain_enable=policy.drain.enable,
                drain_force=policy.drain.force,
                drain_pod_selector=policy.drain.pod_selector,
                drain_timeout_seconds=policy.drain.timeout_seconds,
                drain_delete_empty_dir=policy.drain.delete_empty_dir,
                wait_for_completion_pod_selector=policy.wait_for_completion.pod_selector,
                wait_for_completion_timeout_seconds=policy.wait_for_completion.timeout_seconds,
                pod_deletion_force=policy.gpu_pod_deletion.force,
                pod_deletion_timeout_seconds=policy.gpu_pod_deletion.timeout_seconds,
                pod_deletion_delete_empty_dir=policy.gpu_pod_deletion.delete_empty_dir,
            ),
            # GPUDirect RDMA: nvidia-peermem against the Network Operator's DOCA driver,
            # or against the host's DOCA-OFED when the Network Operator does not ship it.
            rdma=network.enabled,
            use_host_mofed=network.enabled and not network.doca_driver.enabled,
        ),
        toolkit_enabled=op.toolkit.enabled,
        toolkit_version=op.toolkit.version or versions.CONTAINER_TOOLKIT.version,
        cdi=op.cdi,
        device_plugin=op.device_plugin,
        gfd=op.gpu_feature_discovery,
        nfd=op.node_feature_discovery,
        dcgm_exporter=op.dcgm_exporter.enabled,
        service_monitor=dcgm_service_monitor(config),
        service_monitor_labels=(
            dict(prometheus.monitor_labels) if prometheus.mode is PrometheusMode.EXTERNAL else {}
        ),
        scrape_interval=op.dcgm_exporter.interval,
        mig_manager=op.mig_manager,
        node_groups=node_group_gpus(config),
    )


def dra_driver_settings(config: TenantConfig) -> DraDriverSettings:
    """`DraDriverSettings` from `tenant.gpu.dra` and the control-plane backend."""
    dra = config.gpu.dra
    return DraDriverSettings(
        gpu_resources=dra.gpu_resources,
        compute_domains=dra.compute_domains,
        driver_root=(
            GPU_OPERATOR_DRIVER_ROOT if config.gpu.operator.driver.enabled else HOST_DRIVER_ROOT
        ),
        # Only kubeadm clusters have control-plane nodes for the DRA controller.
        control_plane_nodes=config.backend.value == "kubeadm",
        domains=tuple(
            ComputeDomain(
                name=d.name,
                namespace=d.namespace,
                allocation_mode=d.allocation_mode.value,
                num_nodes=d.num_nodes,
            )
            for d in dra.domains
        ),
    )


def install(
    handle: ClusterHandle, config: TenantConfig
) -> tuple[ClusterHandle, dict[str, pulumi.Output[Any]]]:
    """Create the GPU components on the tenant cluster.

    Returns the handle with `gpu_ready` (the GPU Operator's release) and the outputs to
    export; with the GPU platform disabled, the handle unchanged and no outputs.
    """
    if not config.gpu.enabled:
        return handle, {}
    mirrors = compose.mirrors(config)
    opts = pulumi.ResourceOptions(parent=handle.parent)
    gpu_operator = GpuOperator(
        f"{handle.name}-gpu-operator",
        GpuOperatorArgs(
            provider=handle.provider,
            mirrors=mirrors,
            tolerations=system_tolerations_k8s(config),
            gpu_node_tolerations=gpu_node_tolerations_k8s(config),
            settings=gpu_operator_settings(config),
            depends_on=handle.network_ready,
        ),
        opts,
    )
    handle = replace(handle, gpu_ready=(*handle.gpu_ready, gpu_operator.release))
    outputs: dict[str, pulumi.Output[Any]] = {"gpuOperator": gpu_operator.summary}
    if config.gpu.dra.enabled:
        settings = dra_driver_settings(config)
        dra = DraDriver(
            f"{handle.name}-dra-driver",
            DraDriverArgs(
                provider=handle.provider,
                mirrors=mirrors,
                tolerations=system_tolerations_k8s(config),
                gpu_node_tolerations=gpu_node_tolerations_k8s(config),
                settings=settings,
                depends_on=(*handle.network_ready, *handle.gpu_ready),
                domains_depend_on=handle.tenant_ready,
            ),
            opts,
        )
        dra_summary = {
            "chartVersion": settings.chart.version,
            "gpuResources": settings.gpu_resources,
            "computeDomains": [
                f"{d.namespace}/{d.name}" for d in settings.domains if settings.compute_domains
            ],
        }
        urns = [dra.release.urn, *(cd.urn for cd in dra.compute_domains)]
        outputs["draDriver"] = pulumi.Output.all(*urns).apply(lambda _: dra_summary)
    # The Network Operator, DPF and NIM wait for the GPU Operator (NFD, device plugin).
    outputs.update(platform_gpu_network.install(handle, config))
    return handle, outputs
