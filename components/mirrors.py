"""Air-gap support: redirect chart repositories and image registries to mirrors.

GPU clouds often run tenant clusters without internet access. Every chart and image
the platform installs must then come from the provider's mirror, and the provider
needs the exact list of what to copy into it. This module is pure (no Pulumi
resources):

* `Mirrors` rewrites chart repositories (exact URL map, plus an optional default
  mirror for every other repository) and image registries (longest-prefix map on
  registry/path boundaries, e.g. `nvcr.io -> mirror.ncp.internal/nvcr`).
* `MirrorList` collects every chart (repository, chart, version) and image a stack
  needs, both upstream and after rewriting, deterministically ordered, so the stack
  can export it as `mirrorList` and a provider can script `helm pull` /
  `skopeo copy` from it.
* A module-level stack mirror list (`record_chart`, `record_images`,
  `stack_mirror_list`, `reset_stack_mirror_list`) that `components.helm.helm_release`
  and every platform module write to; the flavor composition exports it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.versions import HelmChart

_DOCKER_HUB = "docker.io"


def normalize_image(reference: str) -> str:
    """Return `reference` fully qualified: `kyverno/kyverno:v1` -> `docker.io/kyverno/kyverno:v1`.

    Follows the Docker reference grammar: the first path component is a registry only
    when it contains a `.` or `:` or is `localhost`; single-name images live under
    `docker.io/library/`.
    """
    reference = reference.strip()
    if not reference:
        raise ValueError("empty image reference")
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return reference
    if not rest:
        return f"{_DOCKER_HUB}/library/{reference}"
    return f"{_DOCKER_HUB}/{reference}"


def _strip_slash(value: str) -> str:
    return value.rstrip("/")


@dataclass(frozen=True)
class Mirrors:
    """Where charts and images come from, for one tenant stack.

    An empty `Mirrors()` changes nothing (connected clusters).
    """

    chart_repositories: Mapping[str, str] = field(default_factory=dict)
    """Exact upstream chart repository URL -> mirror URL (https or `oci://`)."""
    default_chart_repository: str | None = None
    """Mirror for every chart repository not in `chart_repositories`, or None to keep
    upstream. For an https mirror the chart must be in that repository's index; for an
    `oci://` mirror the chart is pulled from `<mirror>/<chart>`."""
    image_registries: Mapping[str, str] = field(default_factory=dict)
    """Upstream registry (or registry/path prefix) -> mirror prefix, e.g.
    `{"nvcr.io": "mirror.ncp.internal/nvcr"}`. The longest matching prefix wins."""

    def chart(self, chart: HelmChart) -> HelmChart:
        """Return `chart` with its repository redirected to the mirror (version unchanged)."""
        upstream = _strip_slash(chart.repository)
        for source, target in self.chart_repositories.items():
            if _strip_slash(source) == upstream:
                return HelmChart(_strip_slash(target), chart.chart, chart.version)
        if self.default_chart_repository:
            return HelmChart(
                _strip_slash(self.default_chart_repository), chart.chart, chart.version
            )
        return HelmChart(upstream, chart.chart, chart.version)

    def image_registry(self, repository: str) -> str:
        """Rewrite an image repository prefix as charts spell it in values.

        `nvcr.io/nvidia` -> `mirror.ncp.internal/nvcr/nvidia` with the example map.
        Charts put the registry in different keys (`repository`, `image.registry`,
        `global.imageRegistry`); each component renders its own keys from this.
        """
        candidate = _strip_slash(repository)
        best: tuple[str, str] | None = None
        for source, target in self.image_registries.items():
            prefix = _strip_slash(source)
            if (candidate == prefix or candidate.startswith(prefix + "/")) and (
                best is None or len(prefix) > len(best[0])
            ):
                best = (prefix, _strip_slash(target))
        if best is None:
            return candidate
        return best[1] + candidate[len(best[0]) :]

    def image(self, reference: str) -> str:
        """Rewrite a full image reference (`registry/path:tag` or `@digest`)."""
        full = normalize_image(reference)
        name, separator, suffix = _split_reference(full)
        return self.image_registry(name) + separator + suffix

    @property
    def is_air_gapped(self) -> bool:
        """True when anything is redirected."""
        return bool(
            self.chart_repositories or self.default_chart_repository or self.image_registries
        )


def _split_reference(reference: str) -> tuple[str, str, str]:
    """Split `host/path:tag@digest` into (name, first separator, rest)."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        name_part, sep, tag = _split_tag(name)
        return (name_part, sep, f"{tag}@{digest}") if sep else (name, "@", digest)
    return _split_tag(reference)


def _split_tag(reference: str) -> tuple[str, str, str]:
    last_slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > last_slash:
        return reference[:colon], ":", reference[colon + 1 :]
    return reference, "", ""


@dataclass(frozen=True, order=True)
class ChartEntry:
    """One chart a stack installs."""

    repository: str
    """Repository Helm pulls from (after mirroring)."""
    chart: str
    version: str
    upstream_repository: str
    """Where the chart is published; what a provider copies into the mirror."""

    def as_dict(self) -> dict[str, str]:
        """camelCase dict for the `mirrorList` stack output."""
        return {
            "repository": self.repository,
            "chart": self.chart,
            "version": self.version,
            "upstreamRepository": self.upstream_repository,
        }


@dataclass(frozen=True, order=True)
class ImageEntry:
    """One image a stack's workloads pull."""

    image: str
    """Fully qualified reference the cluster pulls (after mirroring)."""
    upstream: str
    """Fully qualified upstream reference; what a provider copies into the mirror."""

    def as_dict(self) -> dict[str, str]:
        """camelCase dict for the `mirrorList` stack output."""
        return {"image": self.image, "upstream": self.upstream}


class MirrorList:
    """Every chart and image a stack needs; deduplicated and sorted on output."""

    def __init__(self) -> None:
        self._charts: set[ChartEntry] = set()
        self._images: set[ImageEntry] = set()

    def add_chart(self, chart: HelmChart, mirrors: Mirrors) -> ChartEntry:
        """Record `chart` (upstream) as pulled through `mirrors`; return the entry."""
        mirrored = mirrors.chart(chart)
        entry = ChartEntry(
            repository=mirrored.repository,
            chart=chart.chart,
            version=chart.version,
            upstream_repository=_strip_slash(chart.repository),
        )
        self._charts.add(entry)
        return entry

    def add_images(self, images: Iterable[str], mirrors: Mirrors) -> list[ImageEntry]:
        """Record upstream image references as pulled through `mirrors`."""
        entries = [
            ImageEntry(image=mirrors.image(ref), upstream=normalize_image(ref)) for ref in images
        ]
        self._images.update(entries)
        return entries

    def merge(self, other: MirrorList) -> None:
        """Add everything `other` holds."""
        self._charts.update(other._charts)
        self._images.update(other._images)

    @property
    def charts(self) -> list[ChartEntry]:
        """Charts, sorted."""
        return sorted(self._charts)

    @property
    def images(self) -> list[ImageEntry]:
        """Images, sorted."""
        return sorted(self._images)

    def to_output(self) -> dict[str, Any]:
        """The `mirrorList` stack output: `{"charts": [...], "images": [...]}`."""
        return {
            "charts": [entry.as_dict() for entry in self.charts],
            "images": [entry.as_dict() for entry in self.images],
        }

    def __len__(self) -> int:
        return len(self._charts) + len(self._images)


# --------------------------------------------------------------------------- #
# The stack's mirror list.
#
# A Pulumi program builds one stack per process, so one module-level list is the
# simplest way for every platform module to contribute without threading it through
# every Args class. `helm_release` records its chart and images here; modules that
# create plain manifests call `record_images`. The flavor composition exports
# `stack_mirror_list().to_output()` as `mirrorList` once, after all modules ran.
# Tests call `reset_stack_mirror_list()` between cases.
# --------------------------------------------------------------------------- #

_STACK_MIRROR_LIST = MirrorList()


def stack_mirror_list() -> MirrorList:
    """The mirror list of the stack being built in this process."""
    return _STACK_MIRROR_LIST


def record_chart(chart: HelmChart, mirrors: Mirrors) -> ChartEntry:
    """Add a chart to the stack's mirror list."""
    return _STACK_MIRROR_LIST.add_chart(chart, mirrors)


def record_images(images: Iterable[str], mirrors: Mirrors) -> list[ImageEntry]:
    """Add upstream image references to the stack's mirror list."""
    return _STACK_MIRROR_LIST.add_images(images, mirrors)


def reset_stack_mirror_list() -> None:
    """Empty the stack's mirror list (tests; a fresh program run starts empty)."""
    global _STACK_MIRROR_LIST
    _STACK_MIRROR_LIST = MirrorList()
