"""`nodeGroups`: inventory hosts or autoscaled capacity, GPU sharing, labels, taints."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from stacks.config.base import ConfigModel
from stacks.config.inventory import GpuConfig, check_dns_label, check_label_value
from stacks.config.kubernetes import normalize_kubernetes_version

_QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?"  # optional DNS prefix
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"  # name
)


def check_label_key(key: str) -> str:
    """Validate a label or taint key (`[prefix/]name`)."""
    if len(key.rsplit("/", 1)[-1]) > 63 or not _QUALIFIED_NAME.match(key):
        raise ValueError(
            f"{key!r} is not a valid key: use [dns-prefix/]name, name <= 63 characters"
        )
    return key


# Labels a kubelet may set on its own Node (`--node-labels`): outside the kubernetes.io
# and k8s.io namespaces anything; inside them only these keys and the
# `[*.]kubelet.kubernetes.io` / `[*.]node.kubernetes.io` namespaces. kubelet refuses to
# start with any other (k8s.io/kubelet/pkg/apis/well_known_labels.go `IsKubeletLabel`;
# https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction).
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    }
)
_KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_RESTRICTED_NAMESPACES = ("kubernetes.io", "k8s.io")
_NODE_RESTRICTION_NAMESPACE = "node-restriction.kubernetes.io"
# Karpenter v1.14.1 NodePool CRD, spec.template.metadata.labels CEL rules.
_KARPENTER_DOMAIN = "karpenter.sh"
_KARPENTER_ALLOWED = frozenset({"karpenter.sh/capacity-type"})


def _in_namespace(namespace: str, suffix: str) -> bool:
    return namespace == suffix or namespace.endswith("." + suffix)


def node_label_key_problem(key: str) -> str | None:
    """Why a node group may not set the node label `key`, or None when it may.

    Node-group labels reach the Node through kubelet's `--node-labels` (kubeadm joins,
    Karpenter nodes) or a Karpenter NodePool template, so a key either refuses is
    refused here first: kubelet's own namespaces (`IsKubeletLabel`), the
    `node-restriction.kubernetes.io` namespace kubelets may never set, and the
    `karpenter.sh` domain (NodePool CRD rules).
    """
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if key == "kubernetes.io/hostname":
        return (
            f"{key!r} is each node's own name (kubelet sets it; Karpenter's NodePool refuses "
            "it); select hosts by gpu-caas.io/node-group instead"
        )
    if _in_namespace(namespace, _NODE_RESTRICTION_NAMESPACE):
        return (
            f"{key!r}: kubelets may not set {_NODE_RESTRICTION_NAMESPACE} labels (the "
            "NodeRestriction admission plugin reserves them for the control plane); "
            "set it with kubectl after the node joins, or use your own prefix"
        )
    restricted = any(_in_namespace(namespace, n) for n in _RESTRICTED_NAMESPACES)
    if (
        restricted
        and key not in KUBELET_LABELS
        and not any(_in_namespace(namespace, n) for n in _KUBELET_LABEL_NAMESPACES)
    ):
        return (
            f"{key!r}: kubelet refuses kubernetes.io and k8s.io labels in --node-labels "
            "other than its well-known ones and the kubelet.kubernetes.io / "
            "node.kubernetes.io namespaces, so the node could not join; use your own "
            "prefix (e.g. gpu-caas.io/role) or node.kubernetes.io/<name>"
        )
    if _in_namespace(namespace, _KARPENTER_DOMAIN) and key not in _KARPENTER_ALLOWED:
        return (
            f"{key!r}: the karpenter.sh label domain is restricted (Karpenter sets it); "
            "use your own prefix"
        )
    return None


class SharingMode(StrEnum):
    """How the GPUs of a node group are shared between pods.

    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html
    """

    EXCLUSIVE = "exclusive"
    """One pod per GPU (default)."""
    MIG = "mig"
    """Multi-Instance GPU: hardware partitions (`mig.layout`)."""
    TIME_SLICING = "time-slicing"
    """Oversubscription by time slices (`timeSlicing.replicas`); no isolation."""
    MPS = "mps"
    """CUDA Multi-Process Service (`mps.replicas`); memory limits, shared faults."""


class MigConfig(ConfigModel):
    """MIG layout applied to every GPU of the node group."""

    layout: dict[str, int]
    """Profile name to instances per GPU, e.g. `{"3g.40gb": 2}`; must fit the model."""


class ReplicasConfig(ConfigModel):
    """Replicas per GPU for time-slicing or MPS."""

    replicas: int = Field(ge=2, le=48)
    """Pods sharing one GPU (MPS supports at most 48 clients per GPU)."""


class SharingConfig(ConfigModel):
    """GPU sharing of a node group."""

    mode: SharingMode = SharingMode.EXCLUSIVE
    """How pods share the GPUs."""
    mig: MigConfig | None = None
    """Required when `mode: mig`."""
    time_slicing: ReplicasConfig | None = None
    """Required when `mode: time-slicing`."""
    mps: ReplicasConfig | None = None
    """Required when `mode: mps`."""

    @model_validator(mode="after")
    def _settings_match_mode(self) -> SharingConfig:
        wanted = {
            SharingMode.MIG: "mig",
            SharingMode.TIME_SLICING: "timeSlicing",
            SharingMode.MPS: "mps",
        }.get(self.mode)
        given = {
            "mig": self.mig,
            "timeSlicing": self.time_slicing,
            "mps": self.mps,
        }
        if wanted is not None and given[wanted] is None:
            raise ValueError(f"mode {self.mode.value!r} needs `{wanted}` settings")
        extra = [k for k, v in given.items() if v is not None and k != wanted]
        if extra:
            raise ValueError(
                f"`{extra[0]}` settings only apply to mode "
                f"{ {'mig': 'mig', 'timeSlicing': 'time-slicing', 'mps': 'mps'}[extra[0]]!r}"
                f", not {self.mode.value!r}"
            )
        return self


class TaintEffect(StrEnum):
    """Kubernetes taint effects."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class TaintConfig(ConfigModel):
    """A node taint."""

    key: str
    """Taint key (`[dns-prefix/]name`)."""
    value: str = ""
    """Taint value (a label value)."""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE
    """What the taint does to pods that do not tolerate it."""

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_label_key(value)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        return check_label_value(value)


class NodeClassRef(ConfigModel):
    """Reference to the provider's Karpenter NodeClass (cloud-specific)."""

    group: str
    """API group, e.g. `karpenter.k8s.aws`."""
    kind: str
    """Kind, e.g. `EC2NodeClass`."""
    name: str
    """NodeClass name."""


class RequirementOperator(StrEnum):
    """Node selector requirement operators Karpenter accepts."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class RequirementConfig(ConfigModel):
    """An extra Karpenter NodePool requirement."""

    key: str
    """Node label key, e.g. `karpenter.sh/capacity-type`."""
    operator: RequirementOperator
    """Match operator."""
    values: list[str] = []
    """Values for `In`/`NotIn`/`Gt`/`Lt`."""


class AutoscaleConfig(ConfigModel):
    """Autoscaled capacity (a Karpenter NodePool is built from it)."""

    max_nodes: int = Field(ge=1)
    """Upper bound of nodes in the group."""
    min_nodes: int = Field(default=0, ge=0)
    """Lower bound of nodes. Karpenter NodePools are demand-driven and keep no minimum,
    so a value above 0 is reported as a warning (keep baseline capacity as inventory
    hosts instead)."""
    gpu: GpuConfig | None = None
    """GPUs of each node; omit for CPU-only capacity."""
    node_class: NodeClassRef
    """The provider's NodeClass describing images, networks and disks."""
    instance_types: list[str] = []
    """Allowed instance types (`node.kubernetes.io/instance-type In [...]`)."""
    requirements: list[RequirementConfig] = []
    """Further NodePool requirements."""

    @model_validator(mode="after")
    def _bounds(self) -> AutoscaleConfig:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes ({self.min_nodes}) must be <= maxNodes ({self.max_nodes})")
        return self


class NodeGroupUpgradeConfig(ConfigModel):
    """How the hosts of a node group are upgraded or taken out: drained in batches.

    Each host of the group is cordoned and drained (`kubectl drain --ignore-daemonsets`,
    which evicts through the Eviction API and so honours PodDisruptionBudgets:
    https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/), upgraded,
    and uncordoned once Ready at the target version (a Node someone else cordoned stays
    cordoned); the same drain runs when a host
    leaves the group. Only groups of inventory hosts: Karpenter replaces autoscaled
    nodes itself.
    """

    max_unavailable: int = Field(default=1, ge=1)
    """Hosts of the group drained and upgraded at once (1: one at a time)."""
    drain_timeout_seconds: int = Field(default=600, ge=30, le=86400)
    """Seconds a host's drain may take (`kubectl drain --timeout`) before the rollout
    stops at that host: a PodDisruptionBudget that allows no eviction blocks a drain."""
    delete_empty_dir_data: bool = True
    """Evict pods with `emptyDir` volumes, whose data is lost (`kubectl drain
    --delete-emptydir-data`); false: such a pod stops the drain."""


class NodeGroupConfig(ConfigModel):
    """A set of nodes with the same GPUs, sharing mode, labels and taints."""

    name: str
    """Node group name (DNS label): `gpu-caas.io/node-group` label, resource names."""
    hosts: list[str] = []
    """Names of inventory hosts joined to the cluster (kubeadm join)."""
    autoscale: AutoscaleConfig | None = None
    """Autoscaled capacity instead of `hosts`."""
    sharing: SharingConfig = SharingConfig()
    """GPU sharing mode and its settings."""
    labels: dict[str, str] = {}
    """Extra node labels."""
    taints: list[TaintConfig] = []
    """Extra node taints."""
    gpu_taint: bool = True
    """Taint GPU nodes `nvidia.com/gpu=present:NoSchedule` so only GPU pods land."""
    kubernetes_version: str | None = None
    """Kubelet version of the group's hosts (`"1.34"` means `"1.34.0"`); unset: the
    cluster's `kubernetes.version`. Never newer than `kubernetes.version`, at most 3
    minors older (staged upgrades: pin it, move the control plane, then the group).
    Groups of hosts only: autoscaled nodes run the version of their NodeClass image."""
    upgrade: NodeGroupUpgradeConfig = NodeGroupUpgradeConfig()
    """How the group's hosts are drained and upgraded (groups of hosts only)."""
    team: str | None = None
    """The one team (`teams[].name`) whose pods may run on the group: its nodes get the
    label `gpu-caas.io/team=<team>` and the taint `gpu-caas.io/team=<team>:NoSchedule`,
    pods in the team's namespaces get the toleration, and other teams' pods that tolerate
    it are refused. Required with `sharing.mode` `time-slicing` or `mps` (no memory or
    fault isolation between pods sharing a GPU); optional otherwise (a dedicated group).
    Groups with GPUs only."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("team")
    @classmethod
    def _team(cls, value: str | None) -> str | None:
        return check_dns_label(value) if value is not None else None

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _kubernetes_version(cls, value: object) -> object:
        if isinstance(value, int | float):
            # YAML reads an unquoted 1.34 as a float; 1.4 vs 1.40 would be ambiguous.
            raise ValueError('quote the version, e.g. kubernetesVersion: "1.34.2"')
        return normalize_kubernetes_version(value) if isinstance(value, str) else value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            check_label_key(key)
            problem = node_label_key_problem(key)
            if problem:
                raise ValueError(problem)
            try:
                check_label_value(label)
            except ValueError as error:
                raise ValueError(f"label {key!r}: value {error}") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> NodeGroupConfig:
        # A group with neither is reported once hosts naming it (`hosts[].nodeGroup`,
        # e.g. from an inventory file) are known: stacks.config.host_resolution.
        if self.hosts and self.autoscale is not None:
            raise ValueError("set exactly one of `hosts` (a non-empty list) or `autoscale`")
        return self

    @property
    def autoscaled(self) -> bool:
        """True for Karpenter-managed capacity."""
        return self.autoscale is not None
