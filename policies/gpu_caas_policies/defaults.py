"""Pack defaults, taken from the project's single sources of truth.

Platform namespaces, host-access exemptions and registries come from
`stacks.config.isolation` (what the cluster enforces with Kyverno); chart repositories,
CVE floors and the minimum Kubernetes version come from `components.versions`. A pack
configured with nothing therefore agrees with what the program deploys.
"""

from __future__ import annotations

from components.versions import (
    CVE_2025_23266_GPU_OPERATOR_FLOOR,
    CVE_2025_23266_TOOLKIT_FLOOR,
    KUBERNETES_MINIMUM,
    MATRIX,
)
from stacks.config.isolation import (
    DEFAULT_ALLOWED_REGISTRIES,
    DEFAULT_PLATFORM_NAMESPACES,
    DEFAULT_PRIVILEGED_NAMESPACES,
)

PLATFORM_NAMESPACES: tuple[str, ...] = DEFAULT_PLATFORM_NAMESPACES
PRIVILEGED_NAMESPACES: tuple[str, ...] = tuple(DEFAULT_PRIVILEGED_NAMESPACES)
ALLOWED_REGISTRIES: tuple[str, ...] = DEFAULT_ALLOWED_REGISTRIES
ALLOWED_CHART_REPOSITORIES: tuple[str, ...] = tuple(
    sorted({c.chart.repository.rstrip("/") for c in MATRIX if c.chart is not None})
)
"""Every repository a chart in the compatibility matrix is published in."""
GPU_OPERATOR_MIN_VERSION = CVE_2025_23266_GPU_OPERATOR_FLOOR
CONTAINER_TOOLKIT_MIN_VERSION = CVE_2025_23266_TOOLKIT_FLOOR
KUBERNETES_MIN_VERSION = KUBERNETES_MINIMUM
CLUSTER_ADMIN_SUBJECTS: tuple[str, ...] = ("system:masters",)
"""Non-ServiceAccount subjects allowed to hold cluster-admin (Kubernetes' own group)."""
ALLOWED_CAPABILITIES: tuple[str, ...] = ("NET_BIND_SERVICE",)
"""Capabilities a tenant container may add: the one Pod Security "restricted" allows.
https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"""

MANAGEMENT_PROVIDERS: tuple[str, ...] = ("*-management",)
"""Kubernetes providers for the provider's management cluster (components/cluster/
control_plane.py names the Kamaji one `<control plane>-management`)."""
