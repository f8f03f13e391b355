"""`kubernetes`: the tenant cluster's Kubernetes version and networks."""

from __future__ import annotations

import re
from ipaddress import IPv4Network

from pydantic import field_validator

from components.cluster.types import MIN_KUBERNETES_VERSION
from stacks.config.base import ConfigModel

__all__ = ["MIN_KUBERNETES_VERSION", "KubernetesConfig", "normalize_kubernetes_version"]


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


def normalize_kubernetes_version(value: str) -> str:
    """Normalize `"1.34"`/`"v1.34.2"` to `"1.34.0"`/`"1.34.2"`; reject < 1.34.

    Raises:
        ValueError: the version is malformed or older than 1.34 (message says why).
    """
    match = _VERSION.match(value.strip())
    if match is None:
        raise ValueError(
            f'{value!r} is not a Kubernetes version; use MAJOR.MINOR[.PATCH], e.g. "1.34.2"'
        )
    major, minor, patch = int(match[1]), int(match[2]), int(match[3] or 0)
    if (major, minor) < MIN_KUBERNETES_VERSION:
        need = ".".join(map(str, MIN_KUBERNETES_VERSION))
        raise ValueError(
            f"Kubernetes {major}.{minor} is not supported: gpu-caas needs {need} or later, "
            "where Dynamic Resource Allocation (DRA) is GA"
        )
    return f"{major}.{minor}.{patch}"


class KubernetesConfig(ConfigModel):
    """Kubernetes of the tenant cluster."""

    version: str
    """Kubernetes version, `1.34` or later (`"1.34"` means `"1.34.0"`)."""
    pod_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    """Pod network (kubeadm `networking.podSubnet`, Kamaji `networkProfile.podCidr`)."""
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/16")
    """Service network (kubeadm `networking.serviceSubnet`, Kamaji `serviceCidr`)."""

    @field_validator("version", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> object:
        if isinstance(value, int | float):
            # YAML reads an unquoted 1.34 as a float; 1.4 vs 1.40 would be ambiguous.
            raise ValueError('quote the version, e.g. version: "1.34.2"')
        return normalize_kubernetes_version(value) if isinstance(value, str) else value
