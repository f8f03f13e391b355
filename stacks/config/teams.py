"""`teams`: the tenant's teams, their namespaces, GPU quotas and IdP groups."""

from __future__ import annotations

from pydantic import Field, field_validator

from stacks.config.base import ConfigModel
from stacks.config.inventory import check_dns_label


class TeamConfig(ConfigModel):
    """A team of the tenant organisation."""

    name: str
    """Team name (DNS label)."""
    namespaces: list[str] = []
    """Namespaces of the team; default: one namespace named like the team."""
    gpu_quota: int | None = Field(default=None, ge=0)
    """Physical GPUs each namespace of the team may hold, in every sharing mode: one
    ResourceQuota line per GPU resource the cluster advertises (whole GPUs, each MIG
    profile, time-sliced and MPS replicas, DRA devices), each this many GPUs converted
    (docs/gpu-platform.md#gpu-quotas). The team's KAI queue gets the same in KAI's
    units, once for the team. Unset: no GPU quota."""
    idp_groups: list[str] = []
    """Identity-provider groups bound to the team's namespaces (OIDC `groups` claim)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        for namespace in value:
            check_dns_label(namespace)
        return value

    @property
    def effective_namespaces(self) -> list[str]:
        """`namespaces`, or `[name]` when none are given."""
        return list(self.namespaces) or [self.name]
