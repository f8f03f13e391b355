"""Tenant isolation settings: platform namespaces, host-access exemptions, image trust.

The promise this config backs: no team reaches another team's GPUs, data or network,
and no tenant workload escapes onto the hosts. `components/isolation/` turns it into
Kubernetes objects and Kyverno ClusterPolicies; `policies/` checks the same rules with
CrossGuard at `pulumi preview`. The defaults here are also the policy packs' defaults
(`policies/gpu_caas_policies/defaults.py` imports them), so the cluster and the packs
agree on which namespaces are "platform" unless someone configures them apart.

Cross-field rules live in `isolation_rules(config)`: pure, run after model parsing,
returning every problem at once as `(path, message)` pairs.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from pydantic import Field, field_validator

from stacks.config.base import ConfigModel

if TYPE_CHECKING:
    from collections.abc import Sequence

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kubernetes resource.Quantity, e.g. "500m", "2", "1.5", "4Gi", "512Mi".
# https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_PEM_PUBLIC_KEY = re.compile(
    r"^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$"
)

CONFIG_PATH = "gpu-caas:tenant.isolation"
"""Key path of this model in the stack config, used in problem paths."""


class HostAccess(StrEnum):
    """A host-level capability a pod can ask for (Pod Security Standards "baseline" controls).

    https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline
    """

    PRIVILEGED = "privileged"
    HOST_PATH = "hostPath"
    HOST_NETWORK = "hostNetwork"
    HOST_PID = "hostPID"
    HOST_IPC = "hostIPC"


ALL_HOST_ACCESS: tuple[HostAccess, ...] = tuple(HostAccess)

DEFAULT_PLATFORM_NAMESPACES: tuple[str, ...] = (
    # Kubernetes itself.
    "kube-system",
    "kube-public",
    "kube-node-lease",
    # NVIDIA operators and GPU scheduling.
    "gpu-operator",
    "nvidia-network-operator",
    "nvidia-dra-driver-gpu",
    "nim-operator",
    # NIMCaches/NIMServices the provider runs from config (components/gpu/nim_operator.py).
    "nim",
    "kai-scheduler",
    "dpf-operator-system",
    # Autoscaling, policy engine, observability.
    "karpenter",
    "kyverno",
    # Node health: NVSentinel, or the medik8s operators' OLM namespace.
    "nvsentinel",
    "operators",
    "monitoring",
    "observability",
    # CNI / CSI operators that run in their own namespaces.
    "cilium",
    "calico-system",
    "calico-apiserver",
    "tigera-operator",
    "cert-manager",
    "ingress-nginx",
)
"""Namespaces the provider operates. Tenants get no rights in them, and the tenant
guardrails (restricted Pod Security, default-deny, quota) do not apply to them."""

DEFAULT_PRIVILEGED_NAMESPACES: dict[str, tuple[HostAccess, ...]] = {
    # CNI agents, kube-proxy, CSI node plugins run here: host network and host paths.
    "kube-system": ALL_HOST_ACCESS,
    # GPU Operator operands (driver, container toolkit, device plugin, DCGM, MIG manager)
    # load kernel modules and write the host's container runtime config; they need
    # privileged, hostPID, hostIPC and hostPath.
    # https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/security.html
    "gpu-operator": ALL_HOST_ACCESS,
    # Network Operator: MOFED driver, RDMA shared device plugin, SR-IOV, host networking.
    "nvidia-network-operator": ALL_HOST_ACCESS,
    # DRA kubelet plugin: privileged, host paths for CDI specs and the plugin socket.
    "nvidia-dra-driver-gpu": ALL_HOST_ACCESS,
    # DOCA Platform Framework (DPU provisioning) runs host-level agents.
    "dpf-operator-system": ALL_HOST_ACCESS,
    # Node exporter reads /proc and /sys of the host with host network and PID.
    "monitoring": (HostAccess.HOST_PATH, HostAccess.HOST_NETWORK, HostAccess.HOST_PID),
    # CNI operators' agents (when the CNI is not in kube-system).
    "cilium": ALL_HOST_ACCESS,
    "calico-system": ALL_HOST_ACCESS,
    "tigera-operator": (HostAccess.HOST_NETWORK, HostAccess.HOST_PATH),
    # NVSentinel health monitors read host devices and logs; its janitor reboots nodes
    # with a privileged Job (components/services/node_health.py).
    "nvsentinel": ALL_HOST_ACCESS,
    # medik8s self-node-remediation agents (OLM's default namespace) arm the host
    # watchdog and reboot unhealthy nodes: privileged with host PID.
    "operators": ALL_HOST_ACCESS,
}
"""Platform namespaces whose workloads may use the listed host access, and only those."""

DEFAULT_ALLOWED_REGISTRIES: tuple[str, ...] = (
    "nvcr.io",
    "registry.k8s.io",
    "reg.kyverno.io",
    "ghcr.io",
    "quay.io",
    "docker.io",
    "public.ecr.aws",
)
"""Registries images may come from, besides the configured mirror."""

DEFAULT_VERIFIED_IMAGES: tuple[str, ...] = ("nvcr.io/nvidia/*",)
"""Image patterns whose signatures are verified (Kyverno `imageReferences` globs)."""

DEFAULT_DRA_DEVICE_CLASSES: tuple[str, ...] = ("gpu.nvidia.com", "mig.nvidia.com")
"""DeviceClasses of NVIDIA's DRA driver that count against a team's GPU quota."""


class ImageVerificationConfig(ConfigModel):
    """Signature verification of NVIDIA images at admission (Kyverno `verifyImages`).

    NVIDIA signs its operator images with a cosign key, not keyless, and without a
    transparency-log entry (gpu-operator issue #2432), so verification is key-based and
    skips the Rekor/CT-log checks.
    """

    enabled: bool = True
    """Verify signatures. Turning it off is an explicit, visible choice."""
    public_key: str | None = None
    """Cosign public key (PEM, "-----BEGIN PUBLIC KEY-----"). Public, so not a secret."""
    image_references: list[str] = Field(default_factory=lambda: list(DEFAULT_VERIFIED_IMAGES))
    """Image patterns to verify; mirrored copies of them are verified too."""
    mutate_digest: bool = True
    """Rewrite tags to the verified digest, so the running image is the verified one."""
    verify_digest: bool = True
    """Reject matching images that are not referenced by digest after mutation."""

    @field_validator("public_key")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None and not _PEM_PUBLIC_KEY.match(value.strip() + "\n"):
            raise ValueError("must be a PEM public key starting with '-----BEGIN PUBLIC KEY-----'")
        return value


class LimitRangeConfig(ConfigModel):
    """Per-container defaults in tenant namespaces (Kubernetes LimitRange).

    Defaults make every container count against the namespace ResourceQuota even when
    its author set no requests: https://kubernetes.io/docs/concepts/policy/limit-range/
    """

    default_request_cpu: str = "100m"
    default_request_memory: str = "256Mi"
    default_limit_cpu: str = "2"
    default_limit_memory: str = "4Gi"

    @field_validator("*")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError("must be a Kubernetes quantity such as '500m', '2' or '4Gi'")
        return value


class NamespaceQuotaConfig(ConfigModel):
    """Non-GPU ResourceQuota of each tenant namespace (GPU quota comes from the team)."""

    requests_cpu: str = "64"
    requests_memory: str = "512Gi"
    pods: int = Field(default=200, ge=1)
    load_balancers: int = Field(default=0, ge=0)
    """`services.loadbalancers`; 0 by default: expose through the platform ingress."""
    persistent_volume_claims: int = Field(default=50, ge=0)

    @field_validator("requests_cpu", "requests_memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not _QUANTITY.match(value):
            raise ValueError("must be a Kubernetes quantity such as '64' or '512Gi'")
        return value


class KyvernoConfig(ConfigModel):
    """Kyverno installation settings."""

    admission_replicas: int = Field(default=3, ge=1)
    """Admission controller replicas; Kyverno recommends 3 for HA. With failurePolicy
    Fail, an unavailable admission controller blocks pod creation cluster-wide."""


class IsolationConfig(ConfigModel):
    """Tenant isolation: platform namespaces, host-access exemptions, image trust."""

    platform_namespaces: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PLATFORM_NAMESPACES)
    )
    """Provider-operated namespaces (replaces the default list)."""
    additional_platform_namespaces: list[str] = Field(default_factory=list)
    """Extra provider-operated namespaces, added to `platformNamespaces`."""
    privileged_namespaces: dict[str, list[HostAccess]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PRIVILEGED_NAMESPACES.items()}
    )
    """Platform namespaces exempt from the host-access rules, per control."""
    allowed_registries: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_REGISTRIES))
    """Registries images may come from; the configured image mirrors are always allowed."""
    image_verification: ImageVerificationConfig = Field(default_factory=ImageVerificationConfig)
    limit_range: LimitRangeConfig = Field(default_factory=LimitRangeConfig)
    namespace_quota: NamespaceQuotaConfig = Field(default_factory=NamespaceQuotaConfig)
    dra_device_classes: list[str] = Field(default_factory=lambda: list(DEFAULT_DRA_DEVICE_CLASSES))
    """DRA DeviceClasses whose devices count against the team GPU quota, so a team cannot
    bypass `requests.nvidia.com/gpu` by claiming GPUs through ResourceClaims."""
    pod_security_version: str | None = None
    """Pod Security Standards version label (`v1.34`); default: the cluster's minor."""
    kyverno: KyvernoConfig = Field(default_factory=KyvernoConfig)

    @field_validator("platform_namespaces", "additional_platform_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        bad = [ns for ns in value if not _DNS1123_LABEL.match(ns)]
        if bad:
            raise ValueError(f"namespace names must be DNS-1123 labels, got {bad}")
        return value

    @field_validator("pod_security_version")
    @classmethod
    def _psa_version(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(v1\.[0-9]+|latest)$", value):
            raise ValueError("must be 'latest' or a Kubernetes minor such as 'v1.34'")
        return value

    @property
    def all_platform_namespaces(self) -> list[str]:
        """`platformNamespaces` + `additionalPlatformNamespaces`, deduplicated, in order."""
        return list(
            dict.fromkeys([*self.platform_namespaces, *self.additional_platform_namespaces])
        )


class _Team(Protocol):
    @property
    def namespaces(self) -> Sequence[str]: ...

    @property
    def effective_namespaces(self) -> list[str]: ...


class _TenantLike(Protocol):
    """What `isolation_rules` reads from the root `TenantConfig`."""

    @property
    def isolation(self) -> IsolationConfig: ...

    @property
    def teams(self) -> Sequence[_Team]: ...


# Namespaces every cluster starts with, and the prefix Kubernetes reserves for its own:
# https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/#initial-namespaces
INITIAL_NAMESPACES = frozenset({"default", "kube-node-lease", "kube-public", "kube-system"})
RESERVED_NAMESPACE_PREFIX = "kube-"


def reserved_namespace(namespace: str) -> str | None:
    """Why a team may not own `namespace` (Kubernetes creates or reserves it), or None.

    The platform creates each team namespace with its guardrails; a namespace the API
    server already created would fail `pulumi up` with "already exists", and `kube-*`
    is reserved for Kubernetes system namespaces.
    """
    if namespace in INITIAL_NAMESPACES:
        return (
            f"namespace {namespace!r} exists in every cluster (Kubernetes creates it), so the "
            "platform cannot create it with the team's guardrails; give the team its own "
            "namespace"
        )
    if namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        return (
            f"namespace {namespace!r}: the {RESERVED_NAMESPACE_PREFIX}* prefix is reserved for "
            "Kubernetes system namespaces; give the team a name without it"
        )
    return None


def isolation_rules(config: _TenantLike) -> list[tuple[str, str]]:
    """Cross-field isolation rules over the validated root config.

    Returns `(path, message)` problems, all at once; empty when the config is sound.
    """
    iso = config.isolation
    problems: list[tuple[str, str]] = []
    platform = set(iso.all_platform_namespaces)

    for i, team in enumerate(config.teams):
        for j, namespace in enumerate(team.effective_namespaces):
            # A team without `namespaces` gets one named like the team.
            where = f"namespaces[{j}]" if team.namespaces else "name"
            if namespace in platform:
                problems.append(
                    (
                        f"gpu-caas:tenant.teams[{i}].{where}",
                        f"namespace {namespace!r} is a platform namespace; give the team its "
                        "own namespace (tenants get no rights in platform namespaces)",
                    )
                )
            elif reason := reserved_namespace(namespace):
                problems.append((f"gpu-caas:tenant.teams[{i}].{where}", reason))

    for ns in iso.privileged_namespaces:
        if ns not in platform:
            problems.append(
                (
                    f"{CONFIG_PATH}.privilegedNamespaces.{ns}",
                    f"only platform namespaces may be exempt from the host-access rules; add "
                    f"{ns!r} to isolation.additionalPlatformNamespaces or remove the exemption",
                )
            )

    verification = iso.image_verification
    if verification.enabled and verification.public_key is None:
        problems.append(
            (
                f"{CONFIG_PATH}.imageVerification.publicKey",
                "set NVIDIA's cosign public key (PEM) to verify NVIDIA images, or set "
                "isolation.imageVerification.enabled: false to run them unverified",
            )
        )
    if verification.enabled and not verification.image_references:
        problems.append(
            (
                f"{CONFIG_PATH}.imageVerification.imageReferences",
                "list at least one image pattern to verify, e.g. 'nvcr.io/nvidia/*'",
            )
        )
    return problems
