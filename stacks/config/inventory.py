"""`hosts`: the bare-metal or VM inventory handed over by the provider."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator

from components.gpu.catalog import GpuModel
from components.naming import is_dns_label
from stacks.config.base import ConfigModel
from stacks.config.secret import Secret

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.:-]*)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def check_label_value(value: str) -> str:
    """Validate a Kubernetes label value (topology ids become node labels)."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            "must be a label value: <= 63 characters, alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return value


def check_dns_label(value: str) -> str:
    """Validate an RFC 1123 DNS label (names become resource and node names)."""
    if not is_dns_label(value):
        raise ValueError(
            "must be a DNS label: <= 63 lowercase alphanumerics or '-', starting and "
            "ending with an alphanumeric"
        )
    return value


class HostRole(StrEnum):
    """What a host runs."""

    CONTROL_PLANE = "control-plane"
    """A kubeadm control-plane node (API server, etcd)."""
    WORKER = "worker"


class SshConfig(ConfigModel):
    """How to reach a host over SSH."""

    user: str
    """Login user; needs passwordless sudo unless it is root."""
    private_key: Secret = Field(exclude=True)
    """SSH private key (secret)."""
    port: int = Field(default=22, ge=1, le=65535)
    """SSH port."""


class GpuConfig(ConfigModel):
    """GPUs of one host (or of each autoscaled node)."""

    model: GpuModel
    """GPU model (see the catalog in components/gpu/catalog.py)."""
    count: int = Field(ge=1, le=16)
    """GPUs per node."""


class TopologyConfig(ConfigModel):
    """Where a host sits: drives topology-aware scheduling labels."""

    rack: str | None = None
    """Rack id (`gpu-caas.io/rack`)."""
    rail: str | None = None
    """Network rail id for rail-aligned fabrics (`gpu-caas.io/rail`)."""
    nvlink_domain: str | None = None
    """Multi-node NVLink domain, e.g. the NVL72 rack (`nvidia.com/gpu.clique`)."""

    @field_validator("rack", "rail", "nvlink_domain")
    @classmethod
    def _label_value(cls, value: str | None) -> str | None:
        return None if value is None else check_label_value(value)


class HostConfig(ConfigModel):
    """One host of the inventory; its name becomes the Kubernetes node name."""

    name: str
    """Host name (DNS label); becomes the Kubernetes node name."""
    address: str
    """IP address or DNS name reachable over SSH."""
    ssh: SshConfig
    """SSH access."""
    role: HostRole = HostRole.WORKER
    """`control-plane` (kubeadm backend) or `worker`."""
    gpu: GpuConfig | None = None
    """GPUs of the host; omit for CPU-only hosts."""
    dpu: bool = False
    """The host has a BlueField DPU."""
    topology: TopologyConfig = TopologyConfig()
    """Rack, network rail and NVLink domain (node labels)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(
                "must be an IP address or DNS name, without scheme, user, port or path"
            )
        return value
