"""`hosts`: the bare-metal or VM inventory handed over by the provider."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from components.gpu.catalog import GpuModel
from components.naming import is_dns_label, is_label_name
from stacks.config.base import ConfigModel
from stacks.config.secret import SshPrivateKey

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


def check_label_name(value: str) -> str:
    """Validate the name part of a label key (rail ids become `rail.gpu-caas.io/<id>`)."""
    if not is_label_name(value):
        raise ValueError(
            "must be a label name: 1-63 characters, alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return value


RailId = Annotated[str, AfterValidator(check_label_name)]
"""A network rail id (`hosts[].topology.rails[]`, `gpu.network.rails[].rail`): a label
name, because each rail is the node label `rail.gpu-caas.io/<id>`."""


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
    private_key: SshPrivateKey = Field(exclude=True)
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
    rails: list[RailId] | None = None
    """Network rails this host's NICs connect to; one node label
    `rail.gpu-caas.io/<rail>: "true"` each, which selects the rail's secondary network
    (`gpu.network.rails`). On rail-optimized fabrics every GPU host is on every rail
    (DGX/HGX H100: NIC i of every host goes to leaf switch i). Unset: a GPU host is on
    every rail of `gpu.network.rails`, a host without GPUs on none; list the rails of
    hosts cabled to only some of them, `[]` for a GPU host on no rail."""
    nvlink_domain: str | None = None
    """Multi-node NVLink domain, e.g. the NVL72 rack (`nvidia.com/gpu.clique`)."""

    @model_validator(mode="before")
    @classmethod
    def _no_single_rail(cls, data: Any) -> Any:
        # `rail: <id>` was the pre-multi-rail key; say what replaces it instead of
        # pydantic's bare "unknown key".
        if isinstance(data, dict) and "rail" in data:
            raise ValueError(
                "`rail` was replaced by `rails`, a list: a host has one NIC per rail, and "
                "on rail-optimized fabrics every GPU host is on every rail. Write "
                f"`rails: [{data['rail']}]`, or leave `rails` out to put a GPU host on every "
                "rail of gpu.network.rails"
            )
        return data

    @field_validator("rack", "nvlink_domain")
    @classmethod
    def _label_value(cls, value: str | None) -> str | None:
        return None if value is None else check_label_value(value)

    @field_validator("rails")
    @classmethod
    def _unique_rails(cls, rails: list[str] | None) -> list[str] | None:
        if rails is None:
            return None
        repeated = sorted({rail for rail in rails if rails.count(rail) > 1})
        if repeated:
            raise ValueError(f"rails must be unique; repeated: {', '.join(repeated)}")
        return rails


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
    """Rack, network rails and NVLink domain (node labels)."""

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
