"""Stand-in Helm charts for the live test cluster, built from `../shared/crds`.

The live test cluster cannot pull the real charts, so each chart pinned in
`components/versions.py` gets a stand-in with the SAME name and version that:

* installs the upstream CRDs the real chart ships (`crds/`, byte-identical copies),
  so the custom resources our components create are validated by the API server;
* carries the upstream `values.yaml` (byte for byte, when `../shared/crds` has the
  chart's own) and a `values.schema.json` derived from the chart's values file
  (`sandbox.values_schema`), so Helm rejects an unknown or mistyped value as the real
  chart would silently ignore it;
* has no workloads (`templates/` holds only a NOTES.txt).

The package is what `helm package` makes (a gzip tar with one `<name>/` top
directory, https://helm.sh/docs/topics/charts/#the-chart-file-structure), with fixed
timestamps and sorted entries so its sha256 digest is stable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import versions
from components.versions import Component, HelmChart
from sandbox import upstream_copies
from sandbox.upstream_copies import UNCHECKED_VALUES, chart_values_file, crd_files, values_oracle
from sandbox.values_schema import SCHEMA_DIALECT, values_schema

STANDIN_ANNOTATION = "gpu-caas.io/stand-in"
"""Chart.yaml annotation marking a stand-in chart (value `"true"`)."""

PACKAGE_MTIME = 946684800
"""Modification time of every packaged file (2000-01-01T00:00:00Z): fixed for stable digests."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class StandinChart:
    """A packaged stand-in chart."""

    chart: HelmChart
    """The upstream chart it stands in for (repository, name, version)."""
    path: Path
    """The `<name>-<version>.tgz` package."""
    digest: str
    """sha256 of the package, lowercase hex (what a Helm index `digest` holds)."""
    metadata: Mapping[str, Any]
    """Its Chart.yaml, parsed."""

    @property
    def name(self) -> str:
        """Chart name."""
        return self.chart.chart

    @property
    def version(self) -> str:
        """Chart version."""
        return self.chart.version


def all_charts() -> list[HelmChart]:
    """Every `HelmChart` pinned in components/versions.py, sorted by name and version.

    Found by walking the module: `HelmChart` constants, `Component.chart` and charts
    inside dicts, lists and tuples (e.g. `KARPENTER_PROVIDER_CHARTS`); duplicates once.
    """
    found: set[HelmChart] = set()

    def visit(value: object) -> None:
        if isinstance(value, HelmChart):
            found.add(value)
        elif isinstance(value, Component) and value.chart is not None:
            found.add(value.chart)
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    for name, value in vars(versions).items():
        if not name.startswith("_"):
            visit(value)
    return sorted(found, key=lambda chart: (chart.chart, chart.version, chart.repository))


def _app_version(chart: HelmChart) -> str | None:
    for value in vars(versions).values():
        if isinstance(value, Component) and value.chart == chart:
            return value.version
    return None


def chart_metadata(chart: HelmChart) -> dict[str, Any]:
    """The stand-in's Chart.yaml, as a dict.

    apiVersion v2, the pin's name and version, type application, the component's
    appVersion when there is one, and the `gpu-caas.io/stand-in: "true"` and
    `gpu-caas.io/upstream-repository` annotations
    (https://helm.sh/docs/topics/charts/#the-chartyaml-file).
    """
    metadata: dict[str, Any] = {
        "apiVersion": "v2",
        "name": chart.chart,
        "version": chart.version,
        "type": "application",
        "description": (
            f"gpu-caas stand-in for {chart.chart} {chart.version} from {chart.repository}: "
            "the upstream CRDs and a values schema, no workloads"
        ),
    }
    app_version = _app_version(chart)
    if app_version is not None:
        metadata["appVersion"] = app_version
    metadata["annotations"] = {
        STANDIN_ANNOTATION: "true",
        "gpu-caas.io/upstream-repository": chart.repository,
    }
    return metadata


def chart_schema(chart: HelmChart, root: Path) -> dict[str, Any]:
    """The stand-in's values.schema.json (draft-07).

    Derived from the chart's values file with `DOCUMENTED_VALUES_KEYS` allowed
    (`sandbox.values_schema.values_schema`); permissive (any map) for charts in
    `UNCHECKED_VALUES`.

    Raises:
        ValueError: when a chart has neither a values file nor an `UNCHECKED_VALUES`
            entry, or as `sandbox.upstream_copies.values_oracle`.
    """
    oracle = values_oracle(chart, root)
    if oracle is None:
        reason = UNCHECKED_VALUES.get(chart.chart)
        if reason is None:
            raise ValueError(
                f"{chart.chart}: no values file in sandbox/upstream_copies.py CHART_COPIES "
                "and no UNCHECKED_VALUES entry saying why"
            )
        return {
            "$schema": SCHEMA_DIALECT,
            "title": f"{chart.chart} {chart.version} values (not checked)",
            "description": f"gpu-caas stand-in: values are not checked: {reason}",
            "type": "object",
        }
    path, allow = oracle
    with path.open(encoding="utf-8") as handle:
        upstream = yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader/CSafeLoader
    schema = values_schema(upstream, allow=allow)
    source = path.relative_to(root) if path.is_relative_to(root) else path
    return {
        "$schema": schema.pop("$schema"),
        "title": f"{chart.chart} {chart.version} values",
        "description": (
            f"gpu-caas stand-in: the keys of {source} plus {list(allow)}; unknown keys and "
            "mistyped values are rejected"
        ),
        **schema,
    }


def chart_files(chart: HelmChart, root: Path) -> dict[str, bytes]:
    """Every file of the stand-in chart, by path inside the chart directory.

    Raises:
        ValueError: as `chart_schema` and `sandbox.upstream_copies.crd_files`.
    """
    files: dict[str, bytes] = {
        "Chart.yaml": yaml.safe_dump(
            chart_metadata(chart), sort_keys=False, default_flow_style=False
        ).encode(),
        "templates/NOTES.txt": (
            f"gpu-caas stand-in for {chart.chart} {chart.version}: upstream CRDs and values "
            "schema only; this release runs no workloads.\n"
        ).encode(),
        "values.schema.json": (
            json.dumps(chart_schema(chart, root), sort_keys=True, separators=(",", ":")) + "\n"
        ).encode(),
    }
    values_file = chart_values_file(chart, root)
    files["values.yaml"] = values_file.read_bytes() if values_file else b"{}\n"
    for crd in crd_files(chart, root):
        files[f"crds/{crd.name}"] = crd.read_bytes()
    return files


def package(name: str, files: Mapping[str, bytes]) -> bytes:
    """A deterministic chart package: gzip tar of `files` under `<name>/`.

    Entries are sorted, owned by 0:0, mode 0644, mtime `PACKAGE_MTIME`; the gzip
    header has no file name and mtime 0. Helm's loader
    (https://github.com/helm/helm/blob/v3.18.6/pkg/chart/loader/archive.go) strips the
    top directory and skips directory entries, so none are written (as `helm package`).
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in sorted(files):
            data = files[relative]
            info = tarfile.TarInfo(f"{name}/{relative}")
            info.size = len(data)
            info.mtime = PACKAGE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def build_standin_chart(chart: HelmChart, out_dir: Path, crds_root: Path | None = None) -> Path:
    """Write the stand-in package `<out_dir>/<name>-<version>.tgz` and return its path.

    Args:
        chart: the pinned upstream chart (name and version are kept).
        out_dir: created if missing; an existing package of the same name is replaced.
        crds_root: reference copies; default `sandbox.upstream.crds_root()`
            (`$GPU_CAAS_UPSTREAM_DIR/crds`, else `<repo>/../shared/crds`, else the
            `make upstream` cache's `crds/`).

    Raises:
        ValueError: when the reference copies are for another version than the pin,
            or a chart has neither a values file nor an `UNCHECKED_VALUES` entry.
    """
    root = crds_root if crds_root is not None else upstream_copies.crds_root()
    data = package(chart.chart, chart_files(chart, root))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{chart.chart}-{chart.version}.tgz"
    path.write_bytes(data)
    return path


def build_standin_charts(
    charts: Iterable[HelmChart], out_dir: Path, crds_root: Path | None = None
) -> list[StandinChart]:
    """`build_standin_chart` for each of `charts` (e.g. `all_charts()`), in order.

    Raises:
        ValueError: as `build_standin_chart`, or when two charts share name and version
            (one package file, one Helm index entry).
    """
    built: list[StandinChart] = []
    seen: set[tuple[str, str]] = set()
    for chart in charts:
        key = (chart.chart, chart.version)
        if key in seen:
            raise ValueError(f"two pinned charts are {chart.chart} {chart.version}")
        seen.add(key)
        path = build_standin_chart(chart, out_dir, crds_root)
        built.append(load_standin_chart(path, chart))
    return built


def load_standin_chart(path: Path, chart: HelmChart | None = None) -> StandinChart:
    """Describe an existing stand-in package (digest, Chart.yaml).

    Args:
        path: a `<name>-<version>.tgz` written by `build_standin_chart`.
        chart: the upstream chart; default: rebuilt from Chart.yaml (name, version and
            the `gpu-caas.io/upstream-repository` annotation).

    Raises:
        ValueError: when the package has no `<name>/Chart.yaml`, or it disagrees with
            `chart`.
    """
    data = path.read_bytes()
    metadata = read_chart_yaml(data)
    name, version = str(metadata["name"]), str(metadata["version"])
    if chart is None:
        repository = str(metadata.get("annotations", {}).get("gpu-caas.io/upstream-repository", ""))
        chart = HelmChart(repository, name, version)
    if (chart.chart, chart.version) != (name, version):
        raise ValueError(f"{path}: Chart.yaml is {name} {version}, expected {chart}")
    return StandinChart(chart, path, hashlib.sha256(data).hexdigest(), metadata)


def read_chart_yaml(package_bytes: bytes) -> dict[str, Any]:
    """Chart.yaml of a chart package (the only `<top>/Chart.yaml` entry).

    Raises:
        ValueError: when there is none.
    """
    with tarfile.open(fileobj=io.BytesIO(package_bytes), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    loaded = yaml.safe_load(handle.read())
                    if isinstance(loaded, dict):
                        return loaded
    raise ValueError("chart package has no <name>/Chart.yaml")
