"""NVIDIA Network Operator: DOCA driver, RDMA device plugin and one secondary network per rail.

What `NetworkOperator` creates on the tenant cluster (all with the tenant provider):

* namespace `nvidia-network-operator`, Pod Security `privileged` (the DOCA driver and
  CNI/device-plugin daemonsets load kernel modules and write host CNI directories);
* the `network-operator` Helm release (values: `render_network_operator_values`);
* the singleton `NicClusterPolicy` (`nic_cluster_policy_spec`): DOCA-OFED driver,
  RDMA shared device plugin *or* SR-IOV device plugin with one resource per rail,
  Multus + CNI plugins (+ IPoIB CNI), and NVIDIA IPAM (nv-ipam);
* per rail: an nv-ipam `IPPool` and one `HostDeviceNetwork`, `MacvlanNetwork` or
  `IPoIBNetwork` (`rail_network`), which the operator turns into a Multus
  NetworkAttachmentDefinition named `rail-<id>`.

Pods attach with `k8s.v1.cni.cncf.io/networks: <networkNamespace>/rail-<id>` and request the
rail's RDMA resource (`rail_resources`), e.g. `rdma/rail-0: 1`.

A node is on a rail when it carries the label `rail.gpu-caas.io/<id>: "true"`
(`components.naming.rail_label`, one per rail the host's NICs connect to). Each rail's
IPPool selects the nodes with its label, so a host on every rail (rail-optimized DGX/HGX
and GB200 fabrics) gets every rail's network.

Everything that becomes a custom resource or Helm value is built by a pure function here
and validated in tests against `../shared/crds/network-operator/` (CRDs and values.yaml
of the pinned release line).

Docs: https://docs.nvidia.com/networking/display/kubernetes2670/ (Network Operator 26.7:
deployment examples "host-device-rdma", "macvlan-rdma-shared", "ipoib-rdma-shared").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.helm import helm_release
from components.mirrors import Mirrors, record_images
from components.naming import GPU_TAINT_KEY, POD_SECURITY_PRIVILEGED, rail_label
from components.placement import parse_tolerations, values_tolerations
from components.versions import DOCA_DRIVER, NETWORK_OPERATOR, HelmChart

TYPE = "gpu-caas:gpu:NetworkOperator"

RdmaMode = Literal["shared-device-plugin", "sriov"]
NetworkType = Literal["host-device", "macvlan", "ipoib"]

NAMESPACE = "nvidia-network-operator"
"""The operator's namespace (the name NVIDIA's docs and OpenShift bundle use)."""
NIC_CLUSTER_POLICY_NAME = "nic-cluster-policy"
"""The operator only reconciles the NicClusterPolicy with this name (it is a singleton)."""

API_VERSION = "mellanox.com/v1alpha1"
NV_IPAM_API_VERSION = "nv-ipam.nvidia.com/v1alpha1"

NVCR_MELLANOX = "nvcr.io/nvidia/mellanox"
"""Registry path of the NicClusterPolicy component images (26.x releases)."""
NVCR_CLOUD_NATIVE = "nvcr.io/nvidia/cloud-native"
"""Registry path of the operator image itself."""

GPU_TOLERATION: dict[str, str] = {
    "key": GPU_TAINT_KEY,
    "operator": "Exists",
    "effect": "NoSchedule",
}
"""GPU nodes carry `nvidia.com/gpu=present:NoSchedule`; the driver and device-plugin
daemonsets must still run there (that is where the rail NICs are)."""

_CONTROL_PLANE_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
)

RDMA_HCA_MAX = 63
"""Pods that may share one HCA through the RDMA shared device plugin (NVIDIA examples use 63)."""
MELLANOX_VENDOR_ID = "15b3"


@dataclass(frozen=True)
class RailNetwork:
    """The secondary network of one rail, as the component needs it."""

    rail: str
    """Rail id (`gpu.network.rails[].rail`); its nodes carry `rail.gpu-caas.io/<id>`."""
    network_type: NetworkType
    interfaces: tuple[str, ...]
    """Rail NIC netdev names on the hosts (RDMA device selector / macvlan+IPoIB parent)."""
    subnet: str
    """IPv4 CIDR of the rail."""
    per_node_block_size: int = 32
    gateway: str | None = None
    exclusions: tuple[tuple[str, str], ...] = ()
    """Inclusive (start, end) ranges nv-ipam must not allocate."""
    mtu: int | None = None
    """macvlan only."""

    @property
    def name(self) -> str:
        """Name of the network CR, the NetworkAttachmentDefinition and the IP pool."""
        return rail_name(self.rail)


@dataclass(frozen=True)
class NetworkOperatorArgs:
    """Inputs of `NetworkOperator` (built by `stacks/platform_gpu_network.py`)."""

    provider: k8s.Provider
    """The tenant cluster's provider; every resource uses it."""
    mirrors: Mirrors
    """Chart and image mirrors (air-gapped sites)."""
    rails: tuple[RailNetwork, ...]
    """One entry per rail; empty installs the driver and plugins without networks."""
    rdma_mode: RdmaMode = "shared-device-plugin"
    doca_driver: bool = True
    """Deploy the DOCA-OFED driver container (off when the host OS ships it)."""
    doca_driver_version: str = DOCA_DRIVER.version
    network_namespace: str = "default"
    """Namespace of the generated NetworkAttachmentDefinitions (pods reference
    `<namespace>/rail-<id>`; Multus allows cross-namespace references)."""
    chart: HelmChart = field(default_factory=lambda: _chart())
    operator_version: str = NETWORK_OPERATOR.version
    depends_on: tuple[pulumi.Resource, ...] = ()
    """E.g. the GPU Operator release: its Node Feature Discovery labels the NICs and
    owns the NodeFeatureRule CRD the Network Operator chart uses."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""
    gpu_node_tolerations: tuple[dict[str, str], ...] = ()
    """Tolerations of the GPU node groups' own taints (`stacks.config.placement.
    gpu_node_tolerations`): the agents every GPU node needs get them."""


def _chart() -> HelmChart:
    if NETWORK_OPERATOR.chart is None:  # pragma: no cover - matrix invariant
        raise ValueError("components.versions.NETWORK_OPERATOR has no chart")
    return NETWORK_OPERATOR.chart


# --------------------------------------------------------------------------- #
# Pure helpers
# --------------------------------------------------------------------------- #


def rail_name(rail: str) -> str:
    """Name of a rail's network, NetworkAttachmentDefinition, IP pool and RDMA resource.

    `0` -> `rail-0`, `rail-1` -> `rail-1`, `Spine_A` -> `rail-spine-a`: rail ids are label
    names, resource names must be DNS labels (config rules reject two rails that map to the
    same name, e.g. `0` and `rail-0`).
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", rail.lower()).strip("-")
    return slug if slug.startswith("rail") else f"rail-{slug}" if slug else "rail"


def rail_resource_name(rail: str) -> str:
    """Device-plugin resource name of a rail (without prefix): the rail name."""
    return rail_name(rail)


def rail_resources(rails: Sequence[RailNetwork], rdma_mode: RdmaMode) -> dict[str, str]:
    """Map rail name -> the extended resource pods request for that rail's RDMA device.

    The shared device plugin advertises `rdma/<name>` (its default prefix); the SR-IOV
    device plugin is configured with the `nvidia.com` prefix, which is also what the
    operator prepends to a HostDeviceNetwork's resourceName.
    """
    prefix = "rdma" if rdma_mode == "shared-device-plugin" else "nvidia.com"
    return {rail.name: f"{prefix}/{rail_resource_name(rail.rail)}" for rail in rails}


def component_version(operator_version: str) -> str:
    """Image tag of the NicClusterPolicy components shipped with an operator release.

    From 25.7 NVIDIA builds every component image per release and tags it
    `network-operator-v<release>` (e.g. k8s-rdma-shared-dev-plugin:network-operator-v26.7.0).
    """
    return f"network-operator-v{operator_version.lstrip('v')}"


def _image(repository: str, image: str, version: str, mirrors: Mirrors) -> dict[str, Any]:
    # NicClusterPolicy splits image references into repository / image / version.
    return {"image": image, "repository": mirrors.image_registry(repository), "version": version}


def component_images(
    rails: Sequence[RailNetwork], rdma_mode: RdmaMode, operator_version: str
) -> list[str]:
    """Upstream image references the NicClusterPolicy pulls (for the mirror list).

    The DOCA driver image is not listed: the operator appends the node's OS and
    architecture to its tag (`<version>-ubuntu24.04-amd64`), so the tags to mirror depend
    on the node images (see docs/networking-dpu-nim.md).
    """
    tag = component_version(operator_version)
    names = ["multus-cni", "plugins", "nvidia-k8s-ipam"]
    names.append(
        "k8s-rdma-shared-dev-plugin"
        if rdma_mode == "shared-device-plugin"
        else "sriov-network-device-plugin"
    )
    if any(rail.network_type == "ipoib" for rail in rails):
        names.append("ipoib-cni")
    return [f"{NVCR_MELLANOX}/{name}:{tag}" for name in sorted(names)]


def render_network_operator_values(
    mirrors: Mirrors, operator_version: str, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """Helm values of the network-operator chart (keys checked against its values.yaml).

    * NFD is off: the GPU Operator already runs Node Feature Discovery and NVIDIA
      requires a single NFD instance per cluster (Network Operator platform support:
      https://docs.nvidia.com/networking/display/kubernetes2612/platform-support.html).
    * The SR-IOV Network Operator and Maintenance Operator subcharts stay off: rails use
      whole devices (PFs) through the SR-IOV *device plugin* in the NicClusterPolicy.
    * No NicClusterPolicy from the chart: we create it as a resource so its spec is
      validated and diffed by Pulumi.
    """
    version = component_version(operator_version)
    return {
        "nfd": {"enabled": False, "deployNodeFeatureRules": True},
        "sriovNetworkOperator": {"enabled": False},
        "maintenanceOperator": {"enabled": False},
        "upgradeCRDs": True,
        "operator": {
            "repository": mirrors.image_registry(NVCR_CLOUD_NATIVE),
            "image": "network-operator",
            # Control plane and GPU nodes, then the tenant's system tolerations.
            "tolerations": values_tolerations(wl.NETWORK_OPERATOR, parse_tolerations(tolerations)),
            "ofedDriver": {
                "initContainer": {
                    "enable": True,
                    "repository": mirrors.image_registry(NVCR_MELLANOX),
                    "image": "network-operator-init-container",
                    "version": version,
                }
            },
        },
    }


def operator_images(operator_version: str) -> list[str]:
    """Upstream images the chart itself deploys (operator + DOCA init container)."""
    version = operator_version.lstrip("v")
    return [
        f"{NVCR_CLOUD_NATIVE}/network-operator:v{version}",
        f"{NVCR_MELLANOX}/network-operator-init-container:{component_version(version)}",
    ]


def rdma_shared_device_plugin_config(rails: Sequence[RailNetwork]) -> str:
    """k8s-rdma-shared-dev-plugin `config` JSON: one resource per rail, selected by ifNames.

    https://github.com/Mellanox/k8s-rdma-shared-dev-plugin#configuration
    """
    config_list = [
        {
            "resourceName": rail_resource_name(rail.rail),
            "rdmaHcaMax": RDMA_HCA_MAX,
            "selectors": {"ifNames": list(rail.interfaces)},
        }
        for rail in sorted(rails, key=lambda r: r.rail)
    ]
    return json.dumps({"configList": config_list}, indent=2, sort_keys=True)


def sriov_device_plugin_config(rails: Sequence[RailNetwork]) -> str:
    """sriov-network-device-plugin `config` JSON: one RDMA resource per rail, by PF name.

    `pfNames` selects the rail's physical function; with `isRdma` the plugin also mounts
    its RDMA character devices. https://github.com/k8snetworkplumbingwg/sriov-network-device-plugin
    """
    resource_list = [
        {
            "resourcePrefix": "nvidia.com",
            "resourceName": rail_resource_name(rail.rail),
            "selectors": {
                "vendors": [MELLANOX_VENDOR_ID],
                "pfNames": list(rail.interfaces),
                "isRdma": True,
            },
        }
        for rail in sorted(rails, key=lambda r: r.rail)
    ]
    return json.dumps({"resourceList": resource_list}, indent=2, sort_keys=True)


def nic_cluster_policy_spec(
    *,
    rails: Sequence[RailNetwork],
    rdma_mode: RdmaMode,
    mirrors: Mirrors,
    operator_version: str,
    doca_driver: bool,
    doca_driver_version: str = DOCA_DRIVER.version,
    gpu_node_tolerations: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The `NicClusterPolicy` spec (validated against mellanox.com_nicclusterpolicies.yaml).

    Args:
        rails: one RDMA resource per rail.
        rdma_mode: `shared-device-plugin` (rdmaSharedDevicePlugin) or `sriov`
            (sriovDevicePlugin); the other plugin is left out.
        mirrors: rewrites every component `repository`.
        operator_version: operator release; component images are tagged after it.
        doca_driver: deploy the DOCA-OFED driver container.
        doca_driver_version: doca-driver tag.
    """
    version = component_version(operator_version)
    spec: dict[str, Any] = {}
    if doca_driver:
        spec["ofedDriver"] = {
            **_image(NVCR_MELLANOX, "doca-driver", doca_driver_version, mirrors),
            # A driver upgrade reloads the NIC kernel modules: drain first, one node at
            # a time, so RDMA jobs are not killed cluster-wide.
            "upgradePolicy": {
                "autoUpgrade": True,
                "maxParallelUpgrades": 1,
                "drain": {
                    "enable": True,
                    "force": True,
                    "deleteEmptyDir": True,
                    "timeoutSeconds": 300,
                },
            },
        }
    if rdma_mode == "shared-device-plugin":
        spec["rdmaSharedDevicePlugin"] = {
            **_image(NVCR_MELLANOX, "k8s-rdma-shared-dev-plugin", version, mirrors),
            "config": rdma_shared_device_plugin_config(rails),
        }
    else:
        spec["sriovDevicePlugin"] = {
            **_image(NVCR_MELLANOX, "sriov-network-device-plugin", version, mirrors),
            "config": sriov_device_plugin_config(rails),
        }
    secondary: dict[str, Any] = {
        "multus": _image(NVCR_MELLANOX, "multus-cni", version, mirrors),
        "cniPlugins": _image(NVCR_MELLANOX, "plugins", version, mirrors),
    }
    if any(rail.network_type == "ipoib" for rail in rails):
        secondary["ipoib"] = _image(NVCR_MELLANOX, "ipoib-cni", version, mirrors)
    spec["secondaryNetwork"] = secondary
    # nv-ipam is the operator's IPAM; the NicClusterPolicy of this release line has no
    # whereabouts (`ipamPlugin`) any more (deprecated in 25.4). The webhook needs
    # cert-manager; pools are validated by our tests instead.
    spec["nvIpam"] = {
        **_image(NVCR_MELLANOX, "nvidia-k8s-ipam", version, mirrors),
        "enableWebhook": False,
    }
    # Every GPU node (the rail NICs are there), whatever else its node group is tainted.
    spec["tolerations"] = values_tolerations(
        wl.NIC_CLUSTER_POLICY, (), parse_tolerations(gpu_node_tolerations)
    )
    return spec


def ipam_config(rail: RailNetwork) -> str:
    """CNI `ipam` JSON of a rail's network: nv-ipam allocating from the rail's IPPool."""
    return json.dumps({"type": "nv-ipam", "poolName": rail.name}, sort_keys=True)


def ip_pool_spec(rail: RailNetwork) -> dict[str, Any]:
    """nv-ipam `IPPool` spec of a rail (nv-ipam.nvidia.com/v1alpha1).

    The IPPool CRD is installed by the operator when the NicClusterPolicy enables
    nv-ipam; it is not among the reference copies in ../shared/crds, so tests check this
    spec against the fields of the upstream CRD listed in docs/networking-dpu-nim.md.
    https://github.com/Mellanox/nvidia-k8s-ipam#ippool-cr
    """
    spec: dict[str, Any] = {
        "subnet": rail.subnet,
        "perNodeBlockSize": rail.per_node_block_size,
        # Only nodes on this rail get a block: a pod scheduled on a node without this
        # rail's NIC fails IP allocation instead of silently using the wrong fabric. A
        # host on several rails carries one label per rail, so every rail's pool selects
        # it. The labels are set from the host's rails when the node joins
        # (components/cluster/labels.py).
        "nodeSelector": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": rail_label(rail.rail), "operator": "In", "values": ["true"]}
                    ]
                }
            ]
        },
    }
    if rail.gateway is not None:
        spec["gateway"] = rail.gateway
    if rail.exclusions:
        spec["exclusions"] = [{"startIP": start, "endIP": end} for start, end in rail.exclusions]
    return spec


_NETWORK_KINDS: Mapping[NetworkType, str] = {
    "host-device": "HostDeviceNetwork",
    "macvlan": "MacvlanNetwork",
    "ipoib": "IPoIBNetwork",
}


def rail_network(
    rail: RailNetwork, rdma_mode: RdmaMode, network_namespace: str
) -> tuple[str, dict[str, Any]]:
    """`(kind, spec)` of a rail's secondary-network CR (cluster-scoped).

    * HostDeviceNetwork: the rail's SR-IOV resource is passed as `resourceName`, so the
      NetworkAttachmentDefinition requests the device for the pod.
    * MacvlanNetwork: bridge-mode macvlan on the rail NIC (RoCE); pods request the
      shared RDMA resource themselves.
    * IPoIBNetwork: IPoIB child interface on the rail's IB port.
    """
    kind = _NETWORK_KINDS[rail.network_type]
    spec: dict[str, Any] = {"networkNamespace": network_namespace, "ipam": ipam_config(rail)}
    if rail.network_type == "host-device":
        spec["resourceName"] = rail_resources([rail], rdma_mode)[rail.name]
    elif rail.network_type == "macvlan":
        spec["master"] = rail.interfaces[0]
        spec["mode"] = "bridge"
        if rail.mtu is not None:
            spec["mtu"] = rail.mtu
    else:
        spec["master"] = rail.interfaces[0]
    return kind, spec


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class NetworkOperator(pulumi.ComponentResource):
    """NVIDIA Network Operator with a NicClusterPolicy and one secondary network per rail."""

    namespace: pulumi.Output[str]
    """Namespace the operator runs in."""
    nic_cluster_policy: pulumi.Output[str]
    """Name of the NicClusterPolicy."""
    networks: pulumi.Output[dict[str, str]]
    """`rail-<id>` -> NetworkAttachmentDefinition reference (`<namespace>/rail-<id>`)."""
    rdma_resources: pulumi.Output[dict[str, str]]
    """`rail-<id>` -> extended resource a pod requests for that rail's RDMA device."""

    def __init__(
        self, name: str, args: NetworkOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        namespace = _create_namespace(name, child)
        release = _create_release(name, args, namespace, child)
        policy = _create_nic_cluster_policy(name, args, release, child)
        networks = _create_rail_networks(name, args, policy, child)

        # Outputs resolve once the objects they describe are registered.
        self.namespace = namespace.metadata.name
        self.nic_cluster_policy = policy.urn.apply(lambda _: NIC_CLUSTER_POLICY_NAME)
        self.networks = pulumi.Output.all(*[n.urn for n in networks]).apply(
            lambda _: {rail.name: f"{args.network_namespace}/{rail.name}" for rail in args.rails}
        )
        self.rdma_resources = policy.urn.apply(lambda _: rail_resources(args.rails, args.rdma_mode))
        self.register_outputs(
            {
                "namespace": self.namespace,
                "nicClusterPolicy": self.nic_cluster_policy,
                "networks": self.networks,
                "rdmaResources": self.rdma_resources,
            }
        )


def _create_namespace(name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAMESPACE,
            # The DOCA driver and CNI daemonsets are privileged host-level agents.
            labels=POD_SECURITY_PRIVILEGED,
        ),
        opts=opts,
    )


def _create_release(
    name: str,
    args: NetworkOperatorArgs,
    namespace: k8s.core.v1.Namespace,
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    record_images(component_images(args.rails, args.rdma_mode, args.operator_version), args.mirrors)
    return helm_release(
        f"{name}-release",
        args.chart,
        render_network_operator_values(args.mirrors, args.operator_version, args.tolerations),
        namespace.metadata.name,
        args.mirrors,
        pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[namespace, *args.depends_on])
        ),
        images=operator_images(args.operator_version),
    )


def _create_nic_cluster_policy(
    name: str,
    args: NetworkOperatorArgs,
    release: k8s.helm.v3.Release,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    spec = nic_cluster_policy_spec(
        rails=args.rails,
        rdma_mode=args.rdma_mode,
        mirrors=args.mirrors,
        operator_version=args.operator_version,
        doca_driver=args.doca_driver,
        doca_driver_version=args.doca_driver_version,
        gpu_node_tolerations=args.gpu_node_tolerations,
    )
    return k8s.apiextensions.CustomResource(
        f"{name}-nic-cluster-policy",
        api_version=API_VERSION,
        kind="NicClusterPolicy",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NIC_CLUSTER_POLICY_NAME),
        spec=spec,
        # The CRD comes with the chart.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[release])),
    )


def _create_rail_networks(
    name: str,
    args: NetworkOperatorArgs,
    policy: k8s.apiextensions.CustomResource,
    opts: pulumi.ResourceOptions,
) -> list[k8s.apiextensions.CustomResource]:
    # IPPool's CRD is installed by the operator once the policy enables nv-ipam, and the
    # networks need Multus from the policy: both wait for the policy.
    after_policy = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy]))
    networks = []
    for rail in args.rails:
        pool = k8s.apiextensions.CustomResource(
            f"{name}-{rail.name}-pool",
            api_version=NV_IPAM_API_VERSION,
            kind="IPPool",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=rail.name, namespace=NAMESPACE),
            spec=ip_pool_spec(rail),
            opts=after_policy,
        )
        kind, spec = rail_network(rail, args.rdma_mode, args.network_namespace)
        networks.append(
            k8s.apiextensions.CustomResource(
                f"{name}-{rail.name}-network",
                api_version=API_VERSION,
                kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=rail.name),
                spec=spec,
                # The network's IPAM names the pool: create the pool first.
                opts=pulumi.ResourceOptions.merge(
                    after_policy, pulumi.ResourceOptions(depends_on=[pool])
                ),
            )
        )
    return networks
