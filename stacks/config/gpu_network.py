"""Stack config for RDMA networking, BlueField DPUs and NIM inference.

Three models live under `tenant.gpu` (`GpuPlatformConfig` in `stacks/config/gpu.py`):

* `network: NetworkOperatorConfig` - NVIDIA Network Operator: DOCA driver, RDMA device
  plugin (shared or SR-IOV), Multus secondary networks, one network per rail.
* `dpu: DpuConfig` - DOCA Platform Framework (DPF) for BlueField DPUs.
* `nim: NimConfig` - NIM Operator and one `NIMCache` + `NIMService` per model.

`network_rules(tenant)` holds the cross-field rules of this area (rails that no host
is on, hosts on rails without a network, DPF without DPU hosts, NIM without an NGC key,
...). It is pure, runs after model parsing and returns every problem at once as
`(full key path, message)`.

Rails: a host is on every rail in `hosts[].topology.rails` (`host_rails`). On
rail-optimized fabrics (DGX/HGX, GB200) every GPU host has one NIC per rail, so a GPU
host that lists no rails is on every rail of `gpu.network.rails`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Protocol

from pydantic import Field, field_validator, model_validator

from components.gpu.network_operator import rail_name
from components.naming import LABEL_DPU
from stacks.config.base import ConfigModel
from stacks.config.errors import closest_match, did_you_mean, key_path
from stacks.config.inventory import HostConfig, RailId
from stacks.config.node_groups import NodeGroupConfig
from stacks.config.secret import ApiKey

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
# Linux interface names: at most 15 characters, no '/', no whitespace (IFNAMSIZ - 1).
_IFNAME = r"^[A-Za-z0-9_.:\-]{1,15}$"

DnsLabel = Annotated[str, Field(pattern=_DNS_LABEL, max_length=63)]
Quantity = Annotated[str, Field(pattern=_QUANTITY)]
InterfaceName = Annotated[str, Field(pattern=_IFNAME)]


# --------------------------------------------------------------------------- #
# Network Operator
# --------------------------------------------------------------------------- #


class RdmaMode(StrEnum):
    """How RDMA devices are handed to pods.

    * `shared-device-plugin`: k8s-rdma-shared-dev-plugin; many pods share one HCA
      (pairs with `macvlan` and `ipoib` networks).
    * `sriov`: SR-IOV network device plugin; each pod gets a whole device (VF or PF)
      (pairs with `host-device` networks).
    """

    SHARED_DEVICE_PLUGIN = "shared-device-plugin"
    SRIOV = "sriov"


class SecondaryNetworkType(StrEnum):
    """Network Operator secondary-network CR created for a rail.

    https://docs.nvidia.com/networking/display/kubernetes2670/ (quick-start guides:
    host-device-rdma, macvlan-rdma-shared, ipoib-rdma-shared).
    """

    HOST_DEVICE = "host-device"
    """`HostDeviceNetwork`: moves a whole (SR-IOV) device into the pod. RoCE or IB."""
    MACVLAN = "macvlan"
    """`MacvlanNetwork`: macvlan on the rail NIC + shared RDMA device. RoCE."""
    IPOIB = "ipoib"
    """`IPoIBNetwork`: IP-over-InfiniBand child interface + shared RDMA device. IB."""


_COMPATIBLE_RDMA: dict[SecondaryNetworkType, RdmaMode] = {
    SecondaryNetworkType.HOST_DEVICE: RdmaMode.SRIOV,
    SecondaryNetworkType.MACVLAN: RdmaMode.SHARED_DEVICE_PLUGIN,
    SecondaryNetworkType.IPOIB: RdmaMode.SHARED_DEVICE_PLUGIN,
}
"""The RDMA mode each network type needs. host-device CNI moves a device out of the host
namespace, so it needs a device-per-pod plugin (SR-IOV); macvlan and IPoIB create child
interfaces and share the HCA through the RDMA shared device plugin."""


class IpRange(ConfigModel):
    """An inclusive IPv4 range, e.g. addresses reserved for switches or gateways."""

    start: IPv4Address
    end: IPv4Address

    @model_validator(mode="after")
    def _ordered(self) -> IpRange:
        if self.end < self.start:
            raise ValueError("end must not be lower than start")
        return self


class RailIpamConfig(ConfigModel):
    """IP addresses of one rail, allocated by NVIDIA IPAM (nv-ipam).

    nv-ipam hands each node a block of `perNodeBlockSize` addresses from `subnet` and
    allocates pod addresses from the node's block. Whereabouts is deprecated since
    Network Operator 25.4 and the pinned NicClusterPolicy has no `ipamPlugin` field, so
    nv-ipam is the only IPAM the operator deploys.
    https://docs.nvidia.com/networking/display/kubernetes2670/ (release notes, 25.4 upgrade notes)
    """

    subnet: IPv4Network
    """Rail subnet, e.g. 192.168.0.0/16. Rails need disjoint subnets."""
    gateway: IPv4Address | None = None
    """Optional gateway inside `subnet` (rail networks are usually flat L2/L3 without one)."""
    per_node_block_size: int = Field(default=32, ge=2)
    """Addresses reserved per node; at least the number of RDMA pods a node runs."""
    exclusions: list[IpRange] = Field(default_factory=list)
    """Addresses inside `subnet` that nv-ipam must never allocate."""

    @model_validator(mode="after")
    def _inside_subnet(self) -> RailIpamConfig:
        if self.gateway is not None and self.gateway not in self.subnet:
            raise ValueError(f"gateway must be inside subnet {self.subnet}")
        for index, excluded in enumerate(self.exclusions):
            if excluded.start not in self.subnet or excluded.end not in self.subnet:
                raise ValueError(f"exclusions[{index}] must be inside subnet {self.subnet}")
        if self.per_node_block_size >= self.subnet.num_addresses:
            raise ValueError(
                f"perNodeBlockSize must be smaller than the subnet "
                f"({self.subnet.num_addresses} addresses)"
            )
        return self


class RailNetworkConfig(ConfigModel):
    """The secondary network of one rail: the hosts on this rail (`topology.rails`, by
    default every GPU host) and the NIC that connects them to it. Pods on the rail's nodes
    attach to it as `rail-<id>`."""

    rail: RailId
    """Rail id (a label name, e.g. `0` or `rail-a`); hosts on it carry the node label
    `rail.gpu-caas.io/<id>: "true"`."""
    interfaces: list[InterfaceName] = Field(min_length=1)
    """Netdev names of this rail's NIC on the hosts (e.g. `ens1f0np0`, `ibp24s0`).
    Selects the RDMA device and is the macvlan/IPoIB parent interface. Several names
    (hosts that differ) only work for `host-device`, whose device plugin matches any of
    them; macvlan and IPoIB networks have a single parent interface."""
    network_type: SecondaryNetworkType | None = None
    """Overrides `network.networkType` for this rail."""
    ipam: RailIpamConfig
    mtu: int | None = Field(default=None, ge=576, le=9216)
    """macvlan only: interface MTU (None = the parent NIC's MTU)."""


class DocaDriverConfig(ConfigModel):
    """DOCA-OFED driver container deployed by the Network Operator.

    Turn it off when the host OS already ships DOCA-OFED/MLNX_OFED (then the GPU
    Operator must use the host driver stack for GPUDirect RDMA, `driver.rdma.useHostMofed`).
    """

    enabled: bool = True
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    """Overrides the pinned doca-driver image tag (without the OS/arch suffix)."""


class NetworkOperatorConfig(ConfigModel):
    """NVIDIA Network Operator: RDMA, secondary networks per rail."""

    enabled: bool = False
    rdma: RdmaMode = RdmaMode.SHARED_DEVICE_PLUGIN
    network_type: SecondaryNetworkType = SecondaryNetworkType.MACVLAN
    """Default secondary-network type of every rail."""
    rails: list[RailNetworkConfig] = Field(default_factory=list)
    """One secondary network per rail. GPU hosts without `topology.rails` are on all."""
    doca_driver: DocaDriverConfig = Field(default_factory=DocaDriverConfig)

    def network_type_of(self, rail: RailNetworkConfig) -> SecondaryNetworkType:
        """The effective network type of `rail` (its override or the default)."""
        return rail.network_type or self.network_type


# --------------------------------------------------------------------------- #
# DPU (DOCA Platform Framework)
# --------------------------------------------------------------------------- #


class DpuClusterType(StrEnum):
    """How DPF gets the Kubernetes control plane the DPUs join (`DPUCluster.spec.type`)."""

    KAMAJI = "kamaji"
    """DPF creates a Kamaji control plane inside the tenant cluster."""
    STATIC = "static"
    """An existing control plane; its admin kubeconfig must be in a Secret."""


class KeepalivedConfig(ConfigModel):
    """Virtual IP of the DPU cluster API server (Kamaji), held by keepalived."""

    interface: InterfaceName
    """Host interface keepalived announces the VIP on (the OOB/management NIC)."""
    vip: IPv4Address
    virtual_router_id: int = Field(ge=1, le=255)
    """VRRP router id; unique in the management L2 domain."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Labels of the nodes that run keepalived (default: every node)."""


class DpuClusterConfig(ConfigModel):
    """The DPU cluster (`DPUCluster`): the control plane the DPUs join as nodes."""

    type: DpuClusterType = DpuClusterType.KAMAJI
    version: str = Field(default="v1.33.4", pattern=r"^v\d+\.\d+\.\d+$")
    """Kubernetes version of the DPU control plane. It must be supported by the kubelet
    in the BFB; check the DOCA/BFB release notes when changing the BFB."""
    max_nodes: int | None = Field(default=None, ge=1, le=1000)
    """Upper bound of DPU nodes (default: the number of hosts with a DPU)."""
    keepalived: KeepalivedConfig | None = None
    kubeconfig_secret: str | None = Field(default=None, pattern=_DNS_LABEL)
    """`static` only: Secret (in the DPF namespace) holding the admin kubeconfig."""


class DpuFlavorConfig(ConfigModel):
    """Settings applied to every DPU when it is provisioned (`DPUFlavor`).

    Empty lists keep the BFB defaults.
    """

    grub_kernel_parameters: list[str] = Field(default_factory=list)
    sysctl_parameters: list[str] = Field(default_factory=list)
    nvconfig_parameters: list[str] = Field(default_factory=list)
    """mlxconfig parameters, e.g. `PF_TOTAL_SF=20`."""


class DpuConfig(ConfigModel):
    """BlueField DPU provisioning with the DOCA Platform Framework (DPF)."""

    enabled: bool = False
    bfb_url: str | None = Field(default=None, pattern=r"^(http|https)://.+\.bfb$")
    """BlueField bundle (BFB) to flash, e.g. an internal mirror of
    https://content.mellanox.com/BlueField/BFBs/... (air-gapped: a local HTTP server)."""
    bfb_storage_class: str | None = None
    """Storage class of the BFB cache PVC; must support ReadWriteMany (e.g. NFS)."""
    bfb_storage_size: Quantity = "10Gi"
    host_node_labels: dict[str, str] = Field(default_factory=lambda: {LABEL_DPU: "true"})
    """Labels of the hosts whose DPUs DPF provisions (`DPUSet.spec.nodeSelector`). The
    default is the label gpu-caas sets on hosts with `dpu: true` when they join."""
    cluster: DpuClusterConfig = Field(default_factory=DpuClusterConfig)
    flavor: DpuFlavorConfig = Field(default_factory=DpuFlavorConfig)
    drain_hosts: bool = True
    """Drain the host before its DPU is flashed (DPF `nodeEffect.drain`); off = no effect."""


# --------------------------------------------------------------------------- #
# NIM
# --------------------------------------------------------------------------- #


class VolumeAccessMode(StrEnum):
    """Access mode of the model-cache PVC."""

    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_WRITE_MANY = "ReadWriteMany"


class NimModelConfig(ConfigModel):
    """One NIM (model + inference server) the tenant serves."""

    name: DnsLabel
    """Name of the NIMCache and NIMService (and the Service pods are reached through)."""
    image: str = Field(pattern=r"^[a-z0-9.\-:/_]+$")
    """NIM image repository, e.g. `nvcr.io/nim/meta/llama-3.1-8b-instruct`."""
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
    gpus: int = Field(default=1, ge=1, le=16)
    """GPUs per replica (`nvidia.com/gpu`)."""
    replicas: int = Field(default=1, ge=0)
    storage_class: str | None = None
    """Storage class of the model cache (default: `nim.storageClass`)."""
    cache_size: Quantity = "50Gi"
    volume_access_mode: VolumeAccessMode = VolumeAccessMode.READ_WRITE_ONCE
    """ReadWriteMany is needed when replicas run on several nodes."""
    profiles: list[str] = Field(default_factory=list)
    """NIM profile ids to cache (empty = let the NIM select profiles for the GPUs)."""
    engine: str | None = None
    """Profile filter, e.g. `tensorrt_llm` or `vllm` (ignored when `profiles` is set)."""
    tensor_parallelism: int | None = Field(default=None, ge=1)
    """Profile filter (ignored when `profiles` is set); defaults to `gpus`."""
    shared_memory_size: Quantity | None = None
    """Size of /dev/shm for multi-GPU NIMs (NCCL needs more than the 64Mi default)."""


class NimConfig(ConfigModel):
    """NVIDIA NIM Operator and the tenant's NIM models."""

    enabled: bool = False
    namespace: DnsLabel = "nim"
    """Namespace of the NIMCaches, NIMServices and NGC secrets."""
    ngc_api_key: ApiKey | None = Field(default=None, exclude=True)
    """NGC API key: pulls NIM images from nvcr.io and model weights from NGC. Pulumi
    `secure:` value; never printed."""
    storage_class: str | None = None
    """Default storage class of model caches (None = the cluster default)."""
    http_proxy: str | None = None
    """Proxy for model downloads (air-gapped sites without an NGC mirror)."""
    no_proxy: str | None = None
    models: list[NimModelConfig] = Field(default_factory=list)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[NimModelConfig]) -> list[NimModelConfig]:
        names = [model.name for model in models]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        return models


# --------------------------------------------------------------------------- #
# Cross-field rules
# --------------------------------------------------------------------------- #

Problem = tuple[str, str]
"""`(full key path, message)`, e.g. `("gpu-caas:tenant.gpu.nim.ngcApiKey", "...")`."""


# Structural types instead of `TenantConfig`/`GpuPlatformConfig`: those modules import
# this one, so importing them here would be circular.


class _GpuSection(Protocol):
    """The part of `GpuPlatformConfig` these rules read."""

    @property
    def network(self) -> NetworkOperatorConfig: ...

    @property
    def dpu(self) -> DpuConfig: ...

    @property
    def nim(self) -> NimConfig: ...


class _Tenant(Protocol):
    """The part of `TenantConfig` these rules read."""

    @property
    def gpu(self) -> _GpuSection: ...

    @property
    def hosts(self) -> Sequence[HostConfig]: ...

    @property
    def node_groups(self) -> Sequence[NodeGroupConfig]: ...


def network_rules(config: _Tenant) -> list[Problem]:
    """Return every cross-field problem of `tenant.gpu.network`, `.dpu` and `.nim`.

    Pure (no Pulumi, no I/O); runs after model parsing so all problems are reported
    at once.

    Args:
        config: the parsed `TenantConfig`.

    Returns:
        One `(full key path, message)` per problem; empty when consistent.
    """
    gpu = config.gpu
    return [
        *network_operator_rules(gpu.network, config.hosts),
        *dpu_rules(gpu.dpu, config.hosts),
        *nim_rules(gpu.nim, max_gpus_per_node(config)),
    ]


def max_gpus_per_node(config: _Tenant) -> int | None:
    """The most GPUs any node can have (inventory hosts and autoscaled groups), or None."""
    counts = [host.gpu.count for host in config.hosts if host.gpu is not None]
    counts += [
        group.autoscale.gpu.count
        for group in config.node_groups
        if group.autoscale is not None and group.autoscale.gpu is not None
    ]
    return max(counts) if counts else None


def host_rails(host: HostConfig, network: NetworkOperatorConfig) -> tuple[str, ...]:
    """The rails `host` is on: its `topology.rails`, else (GPU hosts) every configured rail.

    On rail-optimized fabrics (DGX/HGX H100/H200/B200, GB200) NIC i of every GPU host is
    cabled to rail i, so a GPU host that lists no rails is on every rail of
    `gpu.network.rails`. Hosts cabled to only some rails list them (`[]`: none); hosts
    without GPUs are on no rail unless they list some.
    """
    if host.topology.rails is not None:
        return tuple(host.topology.rails)
    if host.gpu is None:
        return ()
    return tuple(dict.fromkeys(rail.rail for rail in network.rails))


def network_operator_rules(
    network: NetworkOperatorConfig, hosts: Sequence[HostConfig]
) -> list[Problem]:
    """Rules of `gpu.network`: rails exist on hosts, RDMA mode fits the network types."""
    if not network.enabled:
        return []
    problems: list[Problem] = []
    used = sorted({rail for host in hosts for rail in host_rails(host, network)})
    if not network.rails:
        hint = f" (hosts list rails {_join(used)})" if used else ""
        problems.append(
            (
                key_path("gpu", "network", "rails"),
                "the Network Operator is enabled but no rail networks are listed; add one "
                f"entry per rail the hosts' NICs connect to{hint}",
            )
        )
    first_index: dict[str, int] = {}
    slugs: dict[str, int] = {}
    subnets: list[tuple[int, IPv4Network]] = []
    # A rail that a host's unknown rail looks like a typo of is not also reported as
    # unused: the host's rail is reported, with "did you mean".
    configured = [rail.rail for rail in network.rails]
    meant = {
        match
        for rail in used
        if rail not in configured and (match := closest_match(rail, configured)) is not None
    }
    for index, rail in enumerate(network.rails):
        problems += _rail_problems(
            network, rail, index, used, first_index, slugs, subnets, meant=meant
        )
    if network.rails:
        problems += _host_rail_problems(hosts, first_index)
    return problems


def _host_rail_problems(hosts: Sequence[HostConfig], configured: Iterable[str]) -> list[Problem]:
    """Hosts listing a rail that has no network in `gpu.network.rails`."""
    known = list(configured)
    return [
        (
            key_path("hosts", index, "topology", "rails", position),
            f"rail {rail} has no network in gpu.network.rails (configured: {_join(known)}); "
            + (f"{hint} " if (hint := did_you_mean(rail, known, quote="")) else "")
            + "add one for it or remove the rail from the host",
        )
        for index, host in enumerate(hosts)
        for position, rail in enumerate(host.topology.rails or ())
        if rail not in known
    ]


def _rail_problems(
    network: NetworkOperatorConfig,
    rail: RailNetworkConfig,
    index: int,
    used: Sequence[str],
    first_index: dict[str, int],
    slugs: dict[str, int],
    subnets: list[tuple[int, IPv4Network]],
    *,
    meant: Collection[str] = (),
) -> list[Problem]:
    problems: list[Problem] = []
    if rail.rail in first_index:
        problems.append(
            (
                key_path("gpu", "network", "rails", index, "rail"),
                f"rail {rail.rail} is already configured in rails[{first_index[rail.rail]}]",
            )
        )
    else:
        first_index[rail.rail] = index
        slug = rail_name(rail.rail)
        if slug in slugs:
            problems.append(
                (
                    key_path("gpu", "network", "rails", index, "rail"),
                    f"rail {rail.rail} has the same resource name ({slug}) as "
                    f"rails[{slugs[slug]}]; use rail ids that differ in more than case, "
                    "'_' or '.'",
                )
            )
        slugs.setdefault(slug, index)
    if rail.rail not in used and rail.rail not in meant:
        problems.append(
            (
                key_path("gpu", "network", "rails", index, "rail"),
                f"no host is on rail {rail.rail}; add it to hosts[].topology.rails of the "
                "hosts cabled to it (GPU hosts without topology.rails are on every rail). "
                f"Rails hosts are on: {_join(used) if used else 'none'}",
            )
        )
    network_type = network.network_type_of(rail)
    needed = _COMPATIBLE_RDMA[network_type]
    if needed is not network.rdma:
        where = (
            key_path("gpu", "network", "rails", index, "networkType")
            if rail.network_type
            else key_path("gpu", "network", "networkType")
        )
        usable = _join(t.value for t, mode in _COMPATIBLE_RDMA.items() if mode is network.rdma)
        problems.append(
            (
                where,
                f"{network_type.value} networks need rdma: {needed.value}, but gpu.network.rdma "
                f"is {network.rdma.value} (which works with {usable})",
            )
        )
    if network_type is not SecondaryNetworkType.HOST_DEVICE and len(rail.interfaces) > 1:
        # MacvlanNetwork/IPoIBNetwork take a single `master` interface for every node.
        problems.append(
            (
                key_path("gpu", "network", "rails", index, "interfaces"),
                f"{network_type.value} networks have one parent interface on every host; "
                f"list one name (got {len(rail.interfaces)}) and name the rail NIC the same "
                "on all hosts of the rail",
            )
        )
    if rail.mtu is not None and network_type is not SecondaryNetworkType.MACVLAN:
        problems.append(
            (
                key_path("gpu", "network", "rails", index, "mtu"),
                f"mtu applies to macvlan networks only, not {network_type.value}",
            )
        )
    for other_index, other in subnets:
        if rail.ipam.subnet.overlaps(other):
            problems.append(
                (
                    key_path("gpu", "network", "rails", index, "ipam", "subnet"),
                    f"{rail.ipam.subnet} overlaps rails[{other_index}].ipam.subnet {other}; "
                    "rails need disjoint subnets",
                )
            )
    subnets.append((index, rail.ipam.subnet))
    return problems


def dpu_rules(dpu: DpuConfig, hosts: Sequence[HostConfig]) -> list[Problem]:
    """Rules of `gpu.dpu`: DPU hosts exist, BFB set, cluster type settings consistent."""
    if not dpu.enabled:
        return []
    problems: list[Problem] = []
    dpu_hosts = sum(1 for host in hosts if host.dpu)
    if dpu_hosts == 0:
        problems.append(
            (
                key_path("gpu", "dpu", "enabled"),
                "DPF is enabled but no host has a BlueField DPU; set hosts[].dpu: true on "
                "the hosts that have one, or disable gpu.dpu",
            )
        )
    if dpu.bfb_url is None:
        problems.append(
            (
                key_path("gpu", "dpu", "bfbUrl"),
                "DPF needs the BlueField bundle to flash: set the http(s) URL of a .bfb file",
            )
        )
    cluster = dpu.cluster
    if cluster.type is DpuClusterType.STATIC and cluster.kubeconfig_secret is None:
        problems.append(
            (
                key_path("gpu", "dpu", "cluster", "kubeconfigSecret"),
                "a static DPU cluster needs the Secret that holds its admin kubeconfig",
            )
        )
    if cluster.type is not DpuClusterType.STATIC and cluster.kubeconfig_secret is not None:
        problems.append(
            (
                key_path("gpu", "dpu", "cluster", "kubeconfigSecret"),
                "kubeconfigSecret is only used with type: static (Kamaji creates its own)",
            )
        )
    if cluster.max_nodes is not None and cluster.max_nodes < dpu_hosts:
        problems.append(
            (
                key_path("gpu", "dpu", "cluster", "maxNodes"),
                f"maxNodes {cluster.max_nodes} is below the {dpu_hosts} hosts with a DPU",
            )
        )
    if not dpu.host_node_labels:
        problems.append(
            (
                key_path("gpu", "dpu", "hostNodeLabels"),
                "at least one label must select the DPU hosts (an empty selector would "
                "provision the DPU of every node)",
            )
        )
    return problems


def nim_rules(nim: NimConfig, max_gpus: int | None = None) -> list[Problem]:
    """Rules of `gpu.nim`: NGC key present, models consistent and schedulable.

    Args:
        nim: the `gpu.nim` config.
        max_gpus: the most GPUs a node has (None when unknown: no GPU nodes declared).
    """
    if not nim.enabled:
        return []
    problems: list[Problem] = []
    if nim.ngc_api_key is None:
        problems.append(
            (
                key_path("gpu", "nim", "ngcApiKey"),
                "the NIM Operator is enabled but ngcApiKey is missing (it pulls NIM images "
                "and model weights); set it with "
                f"{ApiKey.set_hint(key_path('gpu', 'nim', 'ngcApiKey'))}",
            )
        )
    if not nim.models:
        problems.append(
            (
                key_path("gpu", "nim", "models"),
                "the NIM Operator is enabled but no models are listed",
            )
        )
    for index, model in enumerate(nim.models):
        if model.replicas > 1 and model.volume_access_mode is VolumeAccessMode.READ_WRITE_ONCE:
            problems.append(
                (
                    key_path("gpu", "nim", "models", index, "volumeAccessMode"),
                    f"{model.replicas} replicas share one model cache; use ReadWriteMany "
                    "(a ReadWriteOnce volume mounts on one node only)",
                )
            )
        if max_gpus is not None and model.gpus > max_gpus:
            # A NIMService replica is one pod: its GPUs must all be on one node.
            problems.append(
                (
                    key_path("gpu", "nim", "models", index, "gpus"),
                    f"{model.gpus} GPUs per replica, but no node has more than {max_gpus}; "
                    "a replica runs on one node",
                )
            )
        if model.tensor_parallelism is not None and model.tensor_parallelism > model.gpus:
            problems.append(
                (
                    key_path("gpu", "nim", "models", index, "tensorParallelism"),
                    f"tensorParallelism {model.tensor_parallelism} needs as many GPUs per "
                    f"replica; the model has gpus: {model.gpus}",
                )
            )
    return problems


def _join(items: Iterable[object]) -> str:
    return ", ".join(str(item) for item in items)
