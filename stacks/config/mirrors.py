"""`mirrors`: redirect chart repositories and image registries (air-gapped providers)."""

from __future__ import annotations

import re

from pydantic import field_validator

from stacks.config.base import ConfigModel

_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?$")


class MirrorsConfig(ConfigModel):
    """Upstream-to-mirror maps; unlisted sources are used as they are."""

    chart_repositories: dict[str, str] = {}
    """Helm repository URL to mirror URL, e.g.
    `https://helm.ngc.nvidia.com/nvidia: https://charts.mirror.example/nvidia`
    (`https://` or `oci://`)."""
    default_chart_repository: str | None = None
    """Mirror for every chart repository not listed in `chartRepositories`
    (`https://` index or `oci://` registry); unset: other repositories stay upstream."""
    image_registries: dict[str, str] = {}
    """Registry host to mirror `host[/path]`, e.g. `nvcr.io: registry.example/nvcr`."""

    @field_validator("chart_repositories")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for upstream, mirror in value.items():
            for url in (upstream, mirror):
                if not url.startswith(("https://", "http://", "oci://")):
                    raise ValueError(
                        f"{url!r} is not a chart repository URL; use https://... or oci://..."
                    )
        return value

    @field_validator("default_chart_repository")
    @classmethod
    def _default_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://", "oci://")):
            raise ValueError("is not a chart repository URL; use https://... or oci://...")
        return value

    @field_validator("image_registries")
    @classmethod
    def _registries(cls, value: dict[str, str]) -> dict[str, str]:
        for upstream, mirror in value.items():
            for ref in (upstream, mirror):
                if not _REGISTRY.match(ref):
                    raise ValueError(
                        f"{ref!r} is not a registry; use host[:port][/path] without a scheme"
                    )
        return value
