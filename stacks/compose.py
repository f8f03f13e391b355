"""Build component Args from the validated config, and the pieces every flavor shares.

Also the seam for other areas: `node_group_args(config, group)` resolves a node
group's labels/taints/GPU product exactly as the cluster applies them (the Karpenter
NodePools of autoscaled groups must use the same).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

import pulumi

from components import naming
from components.cluster import (
    AutoscaleSpec,
    ControlPlaneArgs,
    ExternalArgs,
    HostedArgs,
    KubeadmArgs,
    NodeGroupArgs,
    Rollout,
    SshHost,
    Taint,
    TenantCluster,
    TenantClusterArgs,
)
from components.cluster.kubeadm import endpoint_with_port
from components.cluster.labels import team_labels, team_taints
from components.cluster.node_group import group_labels, group_taints
from components.cluster.types import DEFAULT_CRI_SOCKET
from components.gpu.catalog import spec
from components.mirrors import Mirrors, stack_mirror_list
from stacks import deployed
from stacks.config import (
    ControlPlaneBackend,
    HostConfig,
    NodeGroupConfig,
    TenantConfig,
)
from stacks.config.gpu import node_group_gpu_model, node_group_mig_layout
from stacks.config.host_states import active_hosts
from stacks.config.inventory import HostState
from stacks.config.operator_upgrades import deployed_components
from stacks.config.placement import konnectivity_tolerations
from stacks.mirror_list import mirror_list_output
from stacks.platform_handle import ClusterHandle
from stacks.summary import tenant_summary

CORE_OUTPUTS = (
    "kubeconfig",
    "apiEndpoint",
    "kubernetesVersion",
    "flavor",
    "nodeGroups",
    "summary",
    "deployed",
    "mirrorList",
)


def _cri_socket(config: TenantConfig) -> str:
    settings = config.control_plane.kubeadm
    return settings.cri_socket if settings else DEFAULT_CRI_SOCKET


def mirrors(config: TenantConfig) -> Mirrors:
    """The tenant's chart/image mirrors as `components.mirrors.Mirrors`."""
    return Mirrors(
        chart_repositories=dict(config.mirrors.chart_repositories),
        default_chart_repository=config.mirrors.default_chart_repository,
        image_registries=dict(config.mirrors.image_registries),
    )


def ssh_host(
    config: TenantConfig, host: HostConfig, private_key: pulumi.Output[str] | None = None
) -> SshHost:
    """An inventory host as the components see it (SSH key as a secret Output, the rails
    it is on resolved: GPU hosts without `topology.rails` are on every configured rail).

    `private_key` defaults to the host's configured key; outside a Pulumi program (where
    no Output can exist) pass a stand-in: the label functions never read it.
    """
    return SshHost(
        name=host.name,
        address=host.address,
        user=host.ssh.login(),
        port=host.ssh.port,
        private_key=private_key if private_key is not None else host.ssh.key().output(),
        gpu_product=spec(host.gpu.model).product_label if host.gpu else None,
        dpu=host.dpu,
        rack=host.topology.rack,
        rails=config.host_rails(host),
        nvlink_domain=host.topology.nvlink_domain,
    )


def control_plane_args(
    config: TenantConfig, external_kubeconfig: pulumi.Output[str] | None = None
) -> ControlPlaneArgs:
    """`ControlPlaneArgs` for the config's backend (the flavor passes an ISV kubeconfig)."""
    cp = config.control_plane
    backend = config.backend
    hosted = kubeadm = external = None
    if backend is ControlPlaneBackend.HOSTED and cp.hosted is not None:
        hosted = HostedArgs(
            management_kubeconfig=cp.hosted.management_kubeconfig.output(),
            namespace=config.hosted_namespace,
            service_type=cp.hosted.service_type.value,
            data_store=cp.hosted.data_store,
            address=cp.hosted.address,
            konnectivity_tolerations=konnectivity_tolerations(config),
        )
    elif backend is ControlPlaneBackend.KUBEADM:
        settings = cp.kubeadm
        # Failed hosts joined before and never join again (their join ignores new
        # tokens): they never hold a token back, as on the hosted backend.
        joining = [h.name for h in config.control_plane_hosts] + [
            n for g in config.host_node_groups for n in active_hosts(config, g)
        ]
        kubeadm = KubeadmArgs(
            hosts=[ssh_host(config, h) for h in config.control_plane_hosts],
            endpoint=settings.endpoint if settings else None,
            joining_hosts=joining,
            cri_socket=_cri_socket(config),
            registry_mirrors=dict(config.mirrors.image_registries),
        )
    elif backend is ControlPlaneBackend.EXTERNAL:
        if external_kubeconfig is None:
            raise ValueError("backend 'external' needs the ISV kubeconfig")
        external = ExternalArgs(kubeconfig=external_kubeconfig)
    return ControlPlaneArgs(
        cluster_name=config.name,
        kubernetes_version=config.kubernetes.version,
        backend=backend,
        ha=cp.ha,
        size=cp.size,
        pod_cidr=str(config.kubernetes.pod_cidr),
        service_cidr=str(config.kubernetes.service_cidr),
        hosted=hosted,
        kubeadm=kubeadm,
        external=external,
    )


def node_group_args(config: TenantConfig, group: NodeGroupConfig) -> NodeGroupArgs:
    """`NodeGroupArgs` of one node group (labels, taints, sharing config names)."""
    hosts = [config.host(n) for n in group.hosts]
    return replace(
        _node_group_shape(config, group),
        hosts=[ssh_host(config, h) for h in hosts if h.state is not HostState.FAILED],
        failed_hosts=[ssh_host(config, h) for h in hosts if h.state is HostState.FAILED],
    )


def _node_group_shape(config: TenantConfig, group: NodeGroupConfig) -> NodeGroupArgs:
    """`NodeGroupArgs` without the hosts' SSH connections: everything labels and taints
    are made of. Reads no secret, so it also works on a stack file read offline."""
    if group.autoscale is not None:
        gpu = group.autoscale.gpu
        product = spec(gpu.model).product_label if gpu else None
        autoscale: AutoscaleSpec | None = AutoscaleSpec(
            min_nodes=group.autoscale.min_nodes,
            max_nodes=group.autoscale.max_nodes,
            node_class=group.autoscale.node_class.model_dump(),
            gpu_count=gpu.count if gpu else None,
            instance_types=list(group.autoscale.instance_types),
            requirements=[r.model_dump(mode="json") for r in group.autoscale.requirements],
        )
    else:
        products = {
            spec(host.gpu.model).product_label if host.gpu else None
            for host in (config.host(n) for n in group.hosts)
        }
        product = products.pop() if len(products) == 1 else None
        autoscale = None
    selectors = gpu_config_selectors(config, group)
    return NodeGroupArgs(
        cluster_name=config.name,
        group_name=group.name,
        kubernetes_version=group.kubernetes_version or config.kubernetes.version,
        autoscale=autoscale,
        gpu_product=product,
        mig_config=selectors.get(naming.LABEL_MIG_CONFIG),
        sharing_config=selectors.get(naming.LABEL_DEVICE_PLUGIN_CONFIG),
        # A team-dedicated group's label and taint (`nodeGroups[].team`) ride with the
        # group's own, so joined hosts, the node step and the Karpenter NodePool get them.
        labels={**group.labels, **team_labels(group.team)},
        taints=[
            *team_taints(group.team),
            *(Taint(t.key, t.value, t.effect.value) for t in group.taints),
        ],
        gpu_taint=group.gpu_taint,
        cri_socket=_cri_socket(config),
        registry_mirrors=dict(config.mirrors.image_registries),
        rollout=Rollout(
            max_unavailable=group.upgrade.max_unavailable,
            drain_timeout_seconds=group.upgrade.drain_timeout_seconds,
            delete_empty_dir_data=group.upgrade.delete_empty_dir_data,
        ),
    )


def gpu_config_selectors(config: TenantConfig, group: NodeGroupConfig) -> dict[str, str]:
    """The GPU Operator selector labels of a node group's GPU nodes (empty for CPU groups).

    Same predicates as the GPU platform (`stacks.platform_gpu.node_group_gpus`: GPU model,
    MIG layout) and the same naming function (`components.naming.gpu_config_labels`), so
    every label value is a key of the ConfigMaps the GPU Operator reads.
    """
    if node_group_gpu_model(config, group) is None:
        return {}
    return naming.gpu_config_labels(group.name, mig=bool(node_group_mig_layout(group)))


def node_group_labels(config: TenantConfig, group: NodeGroupConfig) -> dict[str, str]:
    """Group-wide node labels (what a Karpenter NodePool template must set)."""
    return group_labels(_node_group_shape(config, group))


def node_group_taints(config: TenantConfig, group: NodeGroupConfig) -> list[Taint]:
    """Group-wide node taints (what a Karpenter NodePool template must set)."""
    return group_taints(_node_group_shape(config, group))


def tenant_cluster(
    config: TenantConfig, external_kubeconfig: pulumi.Output[str] | None = None
) -> TenantCluster:
    """The tenant's `TenantCluster`, named after the tenant."""
    control_plane = control_plane_args(config, external_kubeconfig)
    if control_plane.backend is not ControlPlaneBackend.EXTERNAL:
        # Hosts join with bootstrap tokens, which expire: mint one again while a host
        # has yet to join (components.cluster.bootstrap.token_triggers).
        control_plane = replace(
            control_plane, join_token_renewal=deployed.current_join_token_renewal(os.environ)
        )
    return TenantCluster(
        config.name,
        TenantClusterArgs(
            control_plane=control_plane,
            node_groups=[node_group_args(config, g) for g in config.node_groups],
        ),
    )


def cluster_handle(config: TenantConfig, cluster: TenantCluster) -> ClusterHandle:
    """What the platform modules get: name, the tenant provider, parent, version."""
    return ClusterHandle(
        name=config.name,
        provider=cluster.provider,
        parent=cluster,
        kubernetes_version=config.kubernetes.version,
    )


def with_platform(config: TenantConfig, cluster: TenantCluster) -> dict[str, object]:
    """Declare the platform on `cluster` (`stacks.platform.install` through its
    `ClusterHandle`); return the stack outputs. The second half of every flavor's
    `deploy`; `stacks.deploy_overlapping` imports the Kubernetes SDK between the two halves
    (`stacks.sdk_preload`)."""
    from stacks import platform

    return stack_outputs(config, cluster, platform.install(cluster_handle(config, cluster), config))


def stack_outputs(
    config: TenantConfig,
    cluster: TenantCluster,
    platform: Mapping[str, pulumi.Output[object]],
) -> dict[str, object]:
    """Core stack outputs plus the platform's; a platform may not shadow a core key.

    `summary` is what the tenant gets (`stacks.summary.tenant_summary`); `mirrorList`
    is short (counts, digest and the command that prints the whole list,
    `stacks.mirror_list`); `apiEndpoint` is the configured address where the config
    determines it (`config_api_endpoint`), else read from the kubeconfig.
    """
    clash = sorted(set(platform) & set(CORE_OUTPUTS))
    if clash:
        raise ValueError(f"platform outputs {clash} shadow core stack outputs")
    endpoint = config_api_endpoint(config)
    outputs: dict[str, object] = {
        "kubeconfig": cluster.kubeconfig,
        "apiEndpoint": endpoint if endpoint is not None else cluster.api_endpoint,
        "kubernetesVersion": cluster.kubernetes_version,
        "flavor": config.flavor.value,
        "nodeGroups": {
            name: {"nodes": group.node_names, "labels": group.labels}
            for name, group in cluster.node_groups.items()
        },
    }
    outputs["summary"] = tenant_summary(config)
    outputs["deployed"] = deployed.deployed_output(
        config, deployed_components(config), cluster.joined_hosts
    )
    outputs.update(platform)
    # Last: every platform module has recorded its charts and images by now.
    outputs["mirrorList"] = mirror_list_output(stack_mirror_list(), pulumi.get_stack())
    return outputs


def config_api_endpoint(config: TenantConfig) -> str | None:
    """The API server URL when the config determines it, else None (read it from the
    kubeconfig then).

    kubeadm writes `https://<controlPlaneEndpoint>` into the admin kubeconfig, and
    gpu-caas sets `controlPlaneEndpoint` to `controlPlane.kubeadm.endpoint` (HA) or the
    first control-plane host's address, with port 6443 unless given
    (`components.cluster.kubeadm.render_init_configuration`). Hosted and external
    control planes get their address from Kamaji or the ISV: None.
    """
    if config.backend is not ControlPlaneBackend.KUBEADM:
        return None
    settings = config.control_plane.kubeadm
    configured = settings.endpoint if settings else None
    if configured:
        return f"https://{endpoint_with_port(configured)}"
    hosts = config.control_plane_hosts
    return f"https://{endpoint_with_port(hosts[0].address)}" if hosts else None
