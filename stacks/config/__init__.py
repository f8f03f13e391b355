"""Typed stack config of a gpu-caas tenant (`gpu-caas:tenant`), validated by pydantic.

Public API: `TenantConfig` (root model), `parse_tenant`, `load_stack_file`,
`ConfigError`/`Problem`, `Secret`, and the vocabularies.
"""

from stacks.config.control_plane import (
    ControlPlaneBackend,
    ControlPlaneConfig,
    ControlPlaneSize,
    ExternalControlPlaneConfig,
    HostedControlPlaneConfig,
    KubeadmControlPlaneConfig,
    ServiceType,
    StackReferenceConfig,
)
from stacks.config.errors import ConfigError, Problem
from stacks.config.inventory import GpuConfig, HostConfig, HostRole, SshConfig, TopologyConfig
from stacks.config.kubernetes import MIN_KUBERNETES_VERSION, KubernetesConfig
from stacks.config.loader import load_stack_file, parse_tenant
from stacks.config.mirrors import MirrorsConfig
from stacks.config.node_groups import (
    AutoscaleConfig,
    MigConfig,
    NodeClassRef,
    NodeGroupConfig,
    ReplicasConfig,
    RequirementConfig,
    SharingConfig,
    SharingMode,
    TaintConfig,
    TaintEffect,
)
from stacks.config.secret import ApiKey, Kubeconfig, Secret, SecretUnavailableError, SshPrivateKey
from stacks.config.teams import TeamConfig
from stacks.config.tenant import DEFAULT_BACKEND, Flavor, TenantConfig

__all__ = [
    "DEFAULT_BACKEND",
    "MIN_KUBERNETES_VERSION",
    "ApiKey",
    "AutoscaleConfig",
    "ConfigError",
    "ControlPlaneBackend",
    "ControlPlaneConfig",
    "ControlPlaneSize",
    "ExternalControlPlaneConfig",
    "Flavor",
    "GpuConfig",
    "HostConfig",
    "HostRole",
    "HostedControlPlaneConfig",
    "KubeadmControlPlaneConfig",
    "Kubeconfig",
    "KubernetesConfig",
    "MigConfig",
    "MirrorsConfig",
    "NodeClassRef",
    "NodeGroupConfig",
    "Problem",
    "ReplicasConfig",
    "RequirementConfig",
    "Secret",
    "SecretUnavailableError",
    "ServiceType",
    "SharingConfig",
    "SharingMode",
    "SshConfig",
    "SshPrivateKey",
    "StackReferenceConfig",
    "TaintConfig",
    "TaintEffect",
    "TeamConfig",
    "TenantConfig",
    "TopologyConfig",
    "load_stack_file",
    "parse_tenant",
]
