"""Stack config for RDMA networking, BlueField DPUs and NIM inference.

Three models live under `tenant.gpu` (`GpuPlatformConfig` in `stacks/config/gpu.py`):

* `network: NetworkOperatorConfig` - NVIDIA Network Operator: DOCA driver, RDMA device
  plugin (shared or SR-IOV), Multus secondary networks, one network per rail.
* `dpu: DpuConfig` - DOCA Platform Framework (DPF) for BlueField DPUs.
* `nim: NimConfig` - NIM Operator and one `NIMCache` + `NIMService` per model.

`network_rules(tenant)` holds the cross-field rules of this area (rails that no host
is on, hosts on rails without a network, DPF without DPU hosts, NIM without an NGC key,
NIM models outside a team namespace or node group, ...). It is pure, runs after model
parsing and returns every problem at once as `(full key path, message)`;
`nim_warnings(tenant)` returns what is valid but will not run as written.

NIM models of a team run in that team's namespace and on their node group: `nim_namespace`,
`nim_node_group`, `nim_gpu` and `nim_egress` resolve them, for the rules here and for the
platform (`stacks/platform_gpu_network.py`), so both read the same answers.

Rails: a host is on every rail in `hosts[].topology.rails` (`host_rails`). On
rail-optimized fabrics (DGX/HGX, GB200) every GPU host has one NIC per rail, so a GPU
host that lists no rails is on every rail of `gpu.network.rails`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING, Annotated, Protocol
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from components.gpu.advertised import advertised_per_gpu, is_soft_shared
from components.gpu.network_operator import rail_name
from components.isolation.tenant_namespaces import LABEL_TEAM
from components.naming import LABEL_DPU
from stacks.config.base import ConfigModel
from stacks.config.errors import closest_match, did_you_mean, key_path
from stacks.config.inventory import HostConfig, RailId
from stacks.config.node_groups import NodeGroupConfig
from stacks.config.secret import ApiKey
from stacks.config.teams import TeamConfig

if TYPE_CHECKING:
    from components.cluster.types import Taint
    from components.gpu.gpu_operator import NodeGroupGpu

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
    team: DnsLabel | None = None
    """Team the model belongs to (required when the tenant has teams): its NIMCache and
    NIMService run in the team's namespace, under its quota, Pod Security `restricted`
    and NetworkPolicies."""
    namespace: DnsLabel | None = None
    """Which of the team's namespaces (default: its first)."""
    node_group: DnsLabel | None = None
    """Node group the model runs on (required when the tenant has GPU node groups): the
    cache job and the NIMService pods get its `gpu-caas.io/node-group` selector,
    tolerate its taints and request the GPU resource it advertises."""
    cpu: Quantity | None = None
    """CPU request and limit of each NIM pod (default: the namespace's LimitRange)."""
    memory: Quantity | None = None
    """Memory request and limit of each NIM pod (default: the namespace's LimitRange,
    `isolation.limitRange.defaultLimitMemory`, too little to load most models)."""


class NimConfig(ConfigModel):
    """NVIDIA NIM Operator and the tenant's NIM models."""

    enabled: bool = False
    namespace: DnsLabel = "nim"
    """Namespace of the NIMCaches, NIMServices and NGC secrets of models without a team
    (tenants without teams); provider-operated, outside the team guardrails."""
    ngc_api_key: ApiKey | None = Field(default=None, exclude=True)
    """NGC API key: pulls NIM images from nvcr.io and model weights from NGC. Pulumi
    `secure:` value; never printed."""
    storage_class: str | None = None
    """Default storage class of model caches (None = the cluster default)."""
    http_proxy: str | None = None
    """Proxy for model downloads (air-gapped sites without an NGC mirror), e.g.
    `http://10.0.0.10:3128`."""
    no_proxy: str | None = None
    egress_cidrs: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    """Where the cache jobs of team models may connect (NetworkPolicy ipBlocks): the
    address ranges of NGC or the model mirror (TCP 443), or of `httpProxy` (its port).
    Needed because team namespaces deny all egress and NetworkPolicy cannot name hosts;
    not needed behind a proxy given by IP address."""
    ingress_namespaces: list[DnsLabel] = Field(default_factory=list)
    """Namespaces besides the team's own whose pods may reach the NIM port (8000), e.g.
    the ingress controller's."""
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

    @property
    def teams(self) -> Sequence[TeamConfig]: ...


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
        *nim_placement_rules(config),
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
        if model.node_group is None and max_gpus is not None and model.gpus > max_gpus:
            # A NIMService replica is one pod: its GPUs must all be on one node. With a
            # node group, `nim_placement_rules` checks that group's nodes instead.
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


# --------------------------------------------------------------------------- #
# NIM models in team namespaces, pinned to node groups
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class NimGpu:
    """What one model's GPUs are on its node group (`nim_gpu`)."""

    resource: str
    """The extended resource a replica requests `gpus` of, e.g. `nvidia.com/gpu.shared`."""
    per_gpu: int
    """Units of `resource` one physical GPU of the group advertises."""
    per_node: int | None
    """Units of `resource` the group's largest node advertises (None: GPU count unknown)."""
    group: NodeGroupGpu
    """The group's GPU settings, as the GPU platform builds them."""


def nim_team(config: _Tenant, model: NimModelConfig) -> TeamConfig | None:
    """The team `model.team` names, or None (no team, or one that does not exist)."""
    return next((team for team in config.teams if team.name == model.team), None)


def nim_namespace(config: _Tenant, model: NimModelConfig) -> str | None:
    """The team namespace of `model`: `namespace` or its team's first; None without a
    (known) team: the model then runs in the shared `gpu.nim.namespace`."""
    team = nim_team(config, model)
    if team is None:
        return None
    return model.namespace or team.effective_namespaces[0]


def nim_node_group(config: _Tenant, model: NimModelConfig) -> NodeGroupConfig | None:
    """The node group `model.nodeGroup` names, or None."""
    return next((g for g in config.node_groups if g.name == model.node_group), None)


def _group_gpus(config: _Tenant) -> dict[str, NodeGroupGpu]:
    # Imported here: stacks.platform_gpu imports the config package, which imports this
    # module. It is the one place GPU settings are derived from config; NIM placement
    # must read the same numbers the GPU Operator's config is made of.
    from stacks.platform_gpu import node_group_gpus

    return {group.name: group for group in node_group_gpus(config)}  # type: ignore[arg-type]


def _gpus_per_node(config: _Tenant, group: NodeGroupConfig) -> int | None:
    """GPUs of the group's largest node (autoscaled: per node; hosts: the most of any)."""
    if group.autoscale is not None:
        return None if group.autoscale.gpu is None else group.autoscale.gpu.count
    hosts = {host.name: host for host in config.hosts}
    counts = [
        hosts[name].gpu.count  # type: ignore[union-attr]
        for name in group.hosts
        if name in hosts and hosts[name].gpu is not None
    ]
    return max(counts) if counts else None


def nim_gpu(config: _Tenant, model: NimModelConfig) -> NimGpu | None:
    """The resource `model` requests on its node group, or None when the group is
    unknown, has no GPUs or advertises several resources (`nim_placement_rules` says
    which). Every number comes from `components.gpu.advertised`."""
    group = nim_node_group(config, model)
    if group is None:
        return None
    gpu = _group_gpus(config).get(group.name)
    if gpu is None:
        return None
    advertised = advertised_per_gpu(gpu)
    if len(advertised) != 1:
        return None
    ((resource, per_gpu),) = advertised.items()
    count = _gpus_per_node(config, group)
    return NimGpu(resource, per_gpu, None if count is None else count * per_gpu, gpu)


def nim_egress(nim: NimConfig) -> tuple[tuple[str, ...], int]:
    """`(ipBlock CIDRs, TCP port)` the cache jobs of team models may connect to.

    Behind `httpProxy` the download goes to the proxy, on its port (URL port, else 80
    for http and 443 for https); to `egressCidrs` when given, else to the proxy's own
    address when the URL names it by IP. Without a proxy: `egressCidrs` on TCP 443 (NGC
    and model mirrors serve HTTPS).

    Raises:
        ValueError: `"<key path>: <message>"` when no destination can be derived (what
            `nim_placement_rules` reports).
    """
    problem = _egress_problem(nim)
    if problem is not None:
        raise ValueError(f"{problem[0]}: {problem[1]}")
    cidrs = tuple(str(cidr) for cidr in nim.egress_cidrs)
    if nim.http_proxy is None:
        return cidrs, 443
    url = urlsplit(nim.http_proxy)
    port = url.port or (443 if url.scheme == "https" else 80)
    if not cidrs:
        cidrs = (str(ip_network(url.hostname or "")),)
    return cidrs, port


def _egress_problem(nim: NimConfig) -> Problem | None:
    cidrs_path = key_path("gpu", "nim", "egressCidrs")
    if nim.http_proxy is not None:
        try:
            url = urlsplit(nim.http_proxy)
            valid = url.scheme in ("http", "https") and bool(url.hostname)
            _ = url.port  # raises on a port that is not a number in range
        except ValueError:
            valid = False
        if not valid:
            return (
                key_path("gpu", "nim", "httpProxy"),
                f"{nim.http_proxy!r} is not a proxy URL; use http(s)://<host>[:<port>], "
                "e.g. http://10.0.0.10:3128",
            )
        if nim.egress_cidrs:
            return None
        try:
            ip_address(url.hostname or "")
        except ValueError:
            return (
                cidrs_path,
                f"the cache jobs of team models reach the proxy {url.hostname} through "
                "their namespace's default-deny egress, and a NetworkPolicy allows "
                "addresses, not host names: list the proxy's address range here, or give "
                "httpProxy with the proxy's IP address",
            )
        return None
    if nim.egress_cidrs:
        return None
    return (
        cidrs_path,
        "the cache jobs of team models download from NGC (api.ngc.nvidia.com and its "
        "CDN) through their namespace's default-deny egress, and a NetworkPolicy allows "
        "addresses, not host names: list the address ranges of NGC or of your model "
        "mirror here (TCP 443), or set httpProxy to a proxy that filters by name",
    )


def nim_placement_rules(config: _Tenant) -> list[Problem]:
    """Rules of `gpu.nim.models[].team`, `.namespace` and `.nodeGroup`, and of the
    egress and ingress of team models.

    * `team` is required when the tenant has teams and must name one; `namespace` must
      be one of that team's.
    * `nodeGroup` is required when the tenant has GPU node groups; it must name a GPU
      group that advertises one resource (not a mixed-strategy MIG group), whose nodes
      advertise at least `gpus` units of it; on time-slicing/MPS groups `gpus` is 1 (the
      device plugin refuses more, `failRequestsGreaterThanOne`); a group tainted for
      another team (`gpu-caas.io/team=<team>`) is refused.
    * Team models need an egress destination (`nim_egress`); `ingressNamespaces` must not
      be another team's namespaces (a NIM is reached by its team only).
    """
    nim = config.gpu.nim
    if not nim.enabled:
        return []
    problems: list[Problem] = []
    teams = [team.name for team in config.teams]
    gpus = _group_gpus(config)
    unresolved = _unresolved_groups(config)
    gpu_groups = [name for name, gpu in gpus.items() if gpu.gpu_model is not None]
    for index, model in enumerate(nim.models):
        problems += _team_problems(config, index, model, teams)
        if model.node_group is None:
            if gpu_groups:
                problems.append(
                    (
                        key_path("gpu", "nim", "models", index, "nodeGroup"),
                        "required: name the GPU node group the model runs on "
                        f"({_join(gpu_groups)}); without it its pods may land on any GPU "
                        "node, e.g. a training group",
                    )
                )
        elif model.node_group not in unresolved:
            problems += _node_group_problems(config, index, model, gpus)
    if any(model.team is not None for model in nim.models):
        problem = _egress_problem(nim)
        if problem is not None:
            problems.append(problem)
    owners = {ns: team.name for team in config.teams for ns in team.effective_namespaces}
    for index, namespace in enumerate(nim.ingress_namespaces):
        if namespace in owners:
            problems.append(
                (
                    key_path("gpu", "nim", "ingressNamespaces", index),
                    f"namespace {namespace!r} belongs to team {owners[namespace]!r}; a "
                    "team model is reached from its own team's namespaces, so list only "
                    "shared ingress namespaces (e.g. the ingress controller's) here",
                )
            )
    return problems


def _unresolved_groups(config: _Tenant) -> set[str]:
    """Node groups whose hosts do not all resolve: their GPUs are unknown (not none) and
    the host reference is reported once, where it is written (stacks/config/rules.py)."""
    from stacks.config.rules import unresolved_host_references

    broken = unresolved_host_references(config)  # type: ignore[arg-type]
    return {config.node_groups[index].name for index in broken}


def _team_problems(
    config: _Tenant, index: int, model: NimModelConfig, teams: Sequence[str]
) -> list[Problem]:
    path = ("gpu", "nim", "models", index)
    if model.team is None:
        found: list[Problem] = []
        if teams:
            found.append(
                (
                    key_path(*path, "team"),
                    f"required: the tenant has teams ({_join(teams)}); the model's NIMCache "
                    "and NIMService run in a namespace of its team, under that team's "
                    "quota, Pod Security and NetworkPolicies",
                )
            )
        if model.namespace is not None:
            found.append(
                (
                    key_path(*path, "namespace"),
                    "names one of the team's namespaces: set `team` too",
                )
            )
        return found
    team = nim_team(config, model)
    if team is None:
        hint = did_you_mean(model.team, teams)
        return [
            (
                key_path(*path, "team"),
                f"team {model.team!r} does not exist"
                + (f"; {hint}" if hint else "")
                + f" (teams: {_join(teams) if teams else 'none'})",
            )
        ]
    namespaces = team.effective_namespaces
    if model.namespace is not None and model.namespace not in namespaces:
        hint = did_you_mean(model.namespace, namespaces)
        return [
            (
                key_path(*path, "namespace"),
                f"namespace {model.namespace!r} is not one of team {team.name!r}'s "
                f"({_join(namespaces)})" + (f"; {hint}" if hint else ""),
            )
        ]
    return []


def _node_group_problems(
    config: _Tenant, index: int, model: NimModelConfig, gpus: dict[str, NodeGroupGpu]
) -> list[Problem]:
    path = ("gpu", "nim", "models", index)
    group = nim_node_group(config, model)
    names = [g.name for g in config.node_groups]
    if group is None:
        hint = did_you_mean(str(model.node_group), names)
        return [
            (
                key_path(*path, "nodeGroup"),
                f"node group {model.node_group!r} does not exist"
                + (f"; {hint}" if hint else "")
                + f" (node groups: {_join(names) if names else 'none'})",
            )
        ]
    gpu = gpus[group.name]
    if gpu.gpu_model is None:
        usable = [name for name, g in gpus.items() if g.gpu_model is not None]
        return [
            (
                key_path(*path, "nodeGroup"),
                f"node group {group.name!r} has no GPUs; a NIM needs one "
                f"(GPU node groups: {_join(usable) if usable else 'none'})",
            )
        ]
    advertised = advertised_per_gpu(gpu)
    if len(advertised) != 1:
        return [
            (
                key_path(*path, "nodeGroup"),
                f"node group {group.name!r} advertises several MIG resources "
                f"({_join(advertised)}); a NIM replica requests one resource: pin the "
                "model to a group with whole GPUs, one MIG profile per GPU, or "
                "time-slicing/MPS",
            )
        ]
    placed = nim_gpu(config, model)
    if placed is None:  # pragma: no cover - advertised has one resource here
        return []
    problems: list[Problem] = []
    if is_soft_shared(gpu) and gpu.sharing.fail_requests_greater_than_one and model.gpus > 1:
        # https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus
        problems.append(
            (
                key_path(*path, "gpus"),
                f"node group {group.name!r} shares its GPUs ({gpu.sharing.mode}): the "
                f"device plugin refuses a pod asking for more than one {placed.resource} "
                "(failRequestsGreaterThanOne), and several replicas of one GPU add no "
                "GPU; use gpus: 1, or a group with whole GPUs",
            )
        )
    elif placed.per_node is not None and model.gpus > placed.per_node:
        # A NIMService replica is one pod: all its GPUs are on one node.
        problems.append(
            (
                key_path(*path, "gpus"),
                f"{model.gpus} {placed.resource} per replica, but a node of group "
                f"{group.name!r} advertises {placed.per_node}; a replica runs on one node",
            )
        )
    dedicated = sorted({t.value for t in _group_taints(config, group) if t.key == LABEL_TEAM})
    if dedicated and model.team not in dedicated:
        problems.append(
            (
                key_path(*path, "nodeGroup"),
                f"node group {group.name!r} belongs to team {_join(dedicated)} (taint "
                f"{LABEL_TEAM}); the model's team {model.team!r} may not run there: pin it "
                "to a group its team may use",
            )
        )
    return problems


def _group_taints(config: _Tenant, group: NodeGroupConfig) -> list[Taint]:
    # Imported here (stacks.compose imports the config package): the same taints the
    # nodes get, so the NIM pods tolerate exactly those.
    from stacks.compose import node_group_taints

    return node_group_taints(config, group)  # type: ignore[arg-type]


def nim_warnings(config: _Tenant) -> list[Problem]:
    """Valid NIM configs that will not run as written.

    * The GPUs the models of one team namespace request (`replicas x gpus` of a resource)
      exceed that namespace's quota line for the resource: the team's `gpuQuota`
      (physical GPUs) times what one GPU of the group advertises. The ResourceQuota
      refuses the replicas beyond it.
    * A team model without `memory`: the namespace's LimitRange gives the NIM container
      `isolation.limitRange.defaultLimitMemory`, too little to load most models.
    """
    nim = config.gpu.nim
    if not nim.enabled:
        return []
    warnings: list[Problem] = []
    demand: dict[tuple[str, str], list[tuple[int, NimModelConfig]]] = {}
    for index, model in enumerate(nim.models):
        namespace = nim_namespace(config, model)
        if namespace is None:
            continue
        placed = nim_gpu(config, model)
        if placed is not None:
            demand.setdefault((namespace, placed.resource), []).append((index, model))
        if model.memory is None:
            warnings.append(
                (
                    key_path("gpu", "nim", "models", index, "memory"),
                    f"unset: in namespace {namespace!r} the LimitRange limits the NIM "
                    "container to isolation.limitRange.defaultLimitMemory, too little to "
                    "load most models; set the memory the model needs",
                )
            )
    for (namespace, resource), models in demand.items():
        first = models[0][1]
        team = nim_team(config, first)
        placed = nim_gpu(config, first)
        if team is None or team.gpu_quota is None or placed is None:
            continue
        line = team.gpu_quota * placed.per_gpu
        needed = sum(model.replicas * model.gpus for _, model in models)
        if needed > line:
            warnings.append(
                (
                    key_path("gpu", "nim", "models", models[-1][0], "replicas"),
                    f"the models in namespace {namespace!r} ({_join(m.name for _, m in models)}) "
                    f"request {needed} {resource} (replicas x gpus), more than team "
                    f"{team.name!r}'s quota for it: gpuQuota {team.gpu_quota} GPUs = {line} "
                    f"{resource}; the ResourceQuota refuses the replicas beyond it",
                )
            )
    return warnings


def _join(items: Iterable[object]) -> str:
    return ", ".join(str(item) for item in items)
