"""What a chart mirror serves for a set of chart packages: a Helm index and OCI artifacts.

Pure functions (bytes in, bytes out); `sandbox.chart_mirror` serves them.

* Helm chart repository: `index.yaml` (apiVersion v1; per chart the Chart.yaml
  metadata plus `urls`, `digest` = sha256 of the package, `created`), packages
  relative to the index URL, which Helm resolves against the repository URL
  (https://helm.sh/docs/topics/chart_repository/#the-index-file;
  `repo.ResolveReferenceURL` in https://github.com/helm/helm/blob/v3.18.6/pkg/repo/chartrepo.go).
* OCI registry, as Helm v3 pushes charts (https://helm.sh/docs/topics/registries/):
  an image manifest (`application/vnd.oci.image.manifest.v1+json`, schemaVersion 2)
  whose config blob is the Chart.yaml metadata as JSON
  (`application/vnd.cncf.helm.config.v1+json`) and whose one layer is the package
  (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`); `Client.Pull` skips
  every other media type (https://github.com/helm/helm/blob/v3.18.6/pkg/registry/client.go,
  constants.go). Tags are chart versions with `+` written `_` (reference.go).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from sandbox.standin_charts import StandinChart

INDEX_CREATED = "2000-01-01T00:00:00Z"
"""`created`/`generated` of every index entry: fixed, so the index is deterministic."""

OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


@dataclass(frozen=True)
class Blob:
    """Content addressed by its digest."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        """`sha256:<hex>`, the OCI digest of `data`."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        """The OCI descriptor pointing at this blob."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class OciChart:
    """One chart as an OCI artifact: manifest, config and chart layer."""

    repository: str
    """Repository path inside the registry, e.g. `charts/kai-scheduler`."""
    tag: str
    manifest: Blob
    config: Blob
    layer: Blob

    def blobs(self) -> dict[str, Blob]:
        """Config and layer by digest (what `GET /v2/<repo>/blobs/<digest>` serves)."""
        return {self.config.digest: self.config, self.layer.digest: self.layer}


def oci_tag(version: str) -> str:
    """The OCI tag Helm uses for a chart version: `+` is not allowed in tags, so `_`."""
    return version.replace("+", "_")


def index_yaml(charts: Iterable[StandinChart]) -> bytes:
    """A Helm repository `index.yaml` listing `charts` (URLs relative to the index).

    Entries are in name and version order (Helm re-sorts them on load, `SortEntries`).
    """
    entries: dict[str, list[dict[str, object]]] = {}
    for chart in sorted(charts, key=lambda c: (c.name, c.version)):
        entry: dict[str, object] = dict(chart.metadata)
        entry.update(
            {
                "created": INDEX_CREATED,
                "digest": chart.digest,
                "urls": [chart.path.name],
            }
        )
        entries.setdefault(chart.name, []).append(entry)
    index = {"apiVersion": "v1", "entries": entries, "generated": INDEX_CREATED}
    return yaml.safe_dump(index, sort_keys=True, default_flow_style=False).encode()


def oci_chart(chart: StandinChart, prefix: str) -> OciChart:
    """`chart` as Helm's registry client pushes it, under `<prefix>/<name>:<tag>`.

    Raises:
        ValueError: when `prefix` is not a lowercase OCI repository path.
    """
    if not prefix or prefix != prefix.lower() or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"OCI prefix {prefix!r}: expected a lowercase path like 'charts'")
    config = Blob(
        HELM_CONFIG_MEDIA_TYPE,
        json.dumps(dict(chart.metadata), sort_keys=True, separators=(",", ":")).encode(),
    )
    layer = Blob(HELM_CHART_MEDIA_TYPE, chart.path.read_bytes())
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
        "annotations": {
            "org.opencontainers.image.created": INDEX_CREATED,
            "org.opencontainers.image.description": str(chart.metadata.get("description", "")),
            "org.opencontainers.image.title": chart.name,
            "org.opencontainers.image.version": chart.version,
        },
    }
    manifest = Blob(
        OCI_MANIFEST_MEDIA_TYPE,
        json.dumps(manifest_doc, sort_keys=True, separators=(",", ":")).encode(),
    )
    return OciChart(f"{prefix}/{chart.name}", oci_tag(chart.version), manifest, config, layer)
