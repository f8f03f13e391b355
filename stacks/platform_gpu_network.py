"""Install the RDMA network, DPU and NIM part of the GPU platform.

The config vocabularies (`StrEnum`s in stacks/config/gpu_network.py) and the component
vocabularies (`Literal`s) have the same values (mypy checks the `.value` literals;
tests/components/gpu_network checks the sets).

Called by `stacks/platform_gpu.py` after the GPU Operator is created. Builds the Args of
`NetworkOperator`, `DpuOperator` and `NimOperator` from the validated `TenantConfig`
(components never read config) and returns the stack outputs to export. The config
has passed `stacks.config.gpu_network.network_rules` before this runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pulumi

from components.gpu.dpu_operator import (
    DpuFlavor,
    DpuOperator,
    DpuOperatorArgs,
    Keepalived,
)
from components.gpu.network_operator import (
    NetworkOperator,
    NetworkOperatorArgs,
    RailNetwork,
)
from components.gpu.nim_operator import NimModel, NimOperator, NimOperatorArgs
from components.mirrors import Mirrors
from components.naming import LABEL_NODE_GROUP
from components.placement import Taint, tolerate
from stacks import compose
from stacks.config import TenantConfig
from stacks.config.gpu_network import (
    DpuConfig,
    NetworkOperatorConfig,
    NimConfig,
    NimModelConfig,
    nim_egress,
    nim_gpu,
    nim_namespace,
    nim_node_group,
    nim_team,
)
from stacks.config.inventory import HostState
from stacks.config.placement import gpu_node_tolerations_k8s, system_tolerations_k8s
from stacks.platform_handle import ClusterHandle


def rail_networks(network: NetworkOperatorConfig) -> tuple[RailNetwork, ...]:
    """Component view of `gpu.network.rails` (effective network type per rail)."""
    return tuple(
        RailNetwork(
            rail=rail.rail,
            network_type=network.network_type_of(rail).value,
            interfaces=tuple(rail.interfaces),
            subnet=str(rail.ipam.subnet),
            per_node_block_size=rail.ipam.per_node_block_size,
            gateway=None if rail.ipam.gateway is None else str(rail.ipam.gateway),
            exclusions=tuple((str(r.start), str(r.end)) for r in rail.ipam.exclusions),
            mtu=rail.mtu,
        )
        for rail in network.rails
    )


def network_operator_args(
    config: TenantConfig,
    handle: ClusterHandle,
    mirrors: Mirrors,
    depends_on: Sequence[pulumi.Resource] = (),
) -> NetworkOperatorArgs:
    """`NetworkOperatorArgs` from `tenant.gpu.network`."""
    network = config.gpu.network
    extra: dict[str, Any] = {}
    if network.doca_driver.version is not None:
        extra["doca_driver_version"] = network.doca_driver.version
    return NetworkOperatorArgs(
        provider=handle.provider,
        mirrors=mirrors,
        tolerations=system_tolerations_k8s(config),
        gpu_node_tolerations=gpu_node_tolerations_k8s(config),
        rails=rail_networks(network),
        rdma_mode=network.rdma.value,
        doca_driver=network.doca_driver.enabled,
        depends_on=tuple(depends_on),
        **extra,
    )


def dpu_operator_args(
    config: TenantConfig,
    handle: ClusterHandle,
    mirrors: Mirrors,
    depends_on: Sequence[pulumi.Resource] = (),
) -> DpuOperatorArgs:
    """`DpuOperatorArgs` from `tenant.gpu.dpu` and the hosts that have a DPU."""
    dpu: DpuConfig = config.gpu.dpu
    if dpu.bfb_url is None:  # network_rules reports this before any resource exists
        raise ValueError("gpu.dpu.bfbUrl is required when gpu.dpu is enabled")
    cluster = dpu.cluster
    # Spares and failed hosts run no DPU service: only hosts in service count.
    dpu_hosts = sum(1 for host in config.hosts if host.dpu and host.state is HostState.ACTIVE)
    keepalived = None
    if cluster.keepalived is not None:
        keepalived = Keepalived(
            interface=cluster.keepalived.interface,
            vip=str(cluster.keepalived.vip),
            virtual_router_id=cluster.keepalived.virtual_router_id,
            node_selector=dict(cluster.keepalived.node_selector),
        )
    return DpuOperatorArgs(
        provider=handle.provider,
        mirrors=mirrors,
        bfb_url=dpu.bfb_url,
        cluster_type=cluster.type.value,
        cluster_version=cluster.version,
        max_nodes=cluster.max_nodes or max(dpu_hosts, 1),
        keepalived=keepalived,
        kubeconfig_secret=cluster.kubeconfig_secret,
        host_node_labels=dict(dpu.host_node_labels),
        flavor=DpuFlavor(
            grub_kernel_parameters=tuple(dpu.flavor.grub_kernel_parameters),
            sysctl_parameters=tuple(dpu.flavor.sysctl_parameters),
            nvconfig_parameters=tuple(dpu.flavor.nvconfig_parameters),
        ),
        drain_hosts=dpu.drain_hosts,
        bfb_storage_class=dpu.bfb_storage_class,
        bfb_storage_size=dpu.bfb_storage_size,
        depends_on=tuple(depends_on),
    )


def nim_models(nim: NimConfig) -> tuple[NimModel, ...]:
    """Component view of `gpu.nim.models`."""
    return tuple(
        NimModel(
            name=model.name,
            image=model.image,
            tag=model.tag,
            gpus=model.gpus,
            replicas=model.replicas,
            storage_class=model.storage_class,
            cache_size=model.cache_size,
            volume_access_mode=model.volume_access_mode.value,
            profiles=tuple(model.profiles),
            engine=model.engine,
            tensor_parallelism=model.tensor_parallelism,
            shared_memory_size=model.shared_memory_size,
            cpu=model.cpu,
            memory=model.memory,
        )
        for model in nim.models
    )


def _placed(config: TenantConfig, config_model: NimModelConfig, model: NimModel) -> NimModel:
    """`model` in its team namespace and on its node group (what `nim_placement_rules`
    validated): node selector `gpu-caas.io/node-group`, tolerations of exactly the
    group's taints (`compose.node_group_taints`, what its nodes carry), and the resource
    the group advertises (`nim_gpu`). Clients: the team's namespaces, then
    `gpu.nim.ingressNamespaces`."""
    group = nim_node_group(config, config_model)
    if group is not None:
        taints = compose.node_group_taints(config, group)
        model = replace(
            model,
            node_selector=((LABEL_NODE_GROUP, group.name),),
            tolerations=tuple(tolerate(Taint(t.key, t.value, t.effect)).to_k8s() for t in taints),
        )
        placed = nim_gpu(config, config_model)
        if placed is not None:
            model = replace(model, gpu_resource=placed.resource)
    team = nim_team(config, config_model)
    namespace = nim_namespace(config, config_model)
    if team is not None and namespace is not None:
        clients = (*team.effective_namespaces, *config.gpu.nim.ingress_namespaces)
        model = replace(model, namespace=namespace, clients=tuple(dict.fromkeys(clients)))
    return model


def placed_nim_models(config: TenantConfig) -> tuple[NimModel, ...]:
    """`nim_models`, each in its team's namespace and pinned to its node group."""
    nim = config.gpu.nim
    return tuple(
        _placed(config, config_model, model)
        for config_model, model in zip(nim.models, nim_models(nim), strict=True)
    )


def nim_operator_args(
    config: TenantConfig,
    handle: ClusterHandle,
    mirrors: Mirrors,
    depends_on: Sequence[pulumi.Resource] = (),
) -> NimOperatorArgs:
    """`NimOperatorArgs` from `tenant.gpu.nim`; the NGC key only as `Output.secret`.

    Team models wait for `handle.tenant_ready` (their namespaces, created after Kyverno)
    and get the egress `nim_egress` derives; both only when a model has a team.
    """
    nim = config.gpu.nim
    if nim.ngc_api_key is None:  # network_rules reports this before any resource exists
        raise ValueError("gpu.nim.ngcApiKey is required when gpu.nim is enabled")
    models = placed_nim_models(config)
    extra: dict[str, Any] = {}
    if any(model.namespace is not None for model in models):
        cidrs, port = nim_egress(nim)  # nim_placement_rules reported a missing one
        extra = {
            "egress_cidrs": cidrs,
            "egress_port": port,
            "models_depend_on": tuple(handle.tenant_ready),
        }
    return NimOperatorArgs(
        provider=handle.provider,
        mirrors=mirrors,
        tolerations=system_tolerations_k8s(config),
        ngc_api_key=nim.ngc_api_key.output(),
        models=models,
        namespace=nim.namespace,
        default_storage_class=nim.storage_class,
        http_proxy=nim.http_proxy,
        no_proxy=nim.no_proxy,
        depends_on=tuple(depends_on),
        tenant=config.name,
        **extra,
    )


def install(handle: ClusterHandle, config: TenantConfig) -> dict[str, pulumi.Output[Any]]:
    """Create the Network Operator, DPF and NIM components; return outputs to export.

    Args:
        handle: the tenant cluster (provider, parent, name prefix). The operators' Helm
            releases wait for `handle.network_ready` (the CNI) and `handle.gpu_ready`
            (the GPU Operator: its Node Feature Discovery and device plugin come first);
            NIM models of a team also wait for `handle.tenant_ready` (their namespaces).
        config: the validated tenant config.
    """
    gpu = config.gpu
    mirrors = compose.mirrors(config)
    depends_on = (*handle.network_ready, *handle.gpu_ready)
    opts = pulumi.ResourceOptions(parent=handle.parent)
    outputs: dict[str, pulumi.Output[Any]] = {}
    if gpu.network.enabled:
        network = NetworkOperator(
            f"{handle.name}-network-operator",
            network_operator_args(config, handle, mirrors, depends_on),
            opts,
        )
        outputs["networkOperator"] = pulumi.Output.all(
            networks=network.networks, rdmaResources=network.rdma_resources
        )
    if gpu.dpu.enabled:
        dpu = DpuOperator(
            f"{handle.name}-dpu-operator",
            dpu_operator_args(config, handle, mirrors, depends_on),
            opts,
        )
        outputs["dpu"] = pulumi.Output.all(
            dpuCluster=dpu.dpu_cluster, bfb=dpu.bfb, dpuSet=dpu.dpu_set
        )
    if gpu.nim.enabled:
        nim = NimOperator(
            f"{handle.name}-nim-operator",
            nim_operator_args(config, handle, mirrors, depends_on),
            opts,
        )
        outputs["nim"] = pulumi.Output.all(
            namespace=nim.namespace, namespaces=nim.namespaces, endpoints=nim.endpoints
        )
    return outputs
