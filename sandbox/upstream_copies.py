"""Which upstream reference files (`../shared/crds`) belong to which pinned chart.

`../shared/crds` holds byte-for-byte copies of upstream CRDs and values files
(provenance in its SOURCES.md; every file locked in upstream.lock.json, and
`sandbox.upstream.crds_root()` says where the copy is: `$GPU_CAAS_UPSTREAM_DIR/crds`,
`../shared/crds` or the `make upstream` cache). A stand-in chart (`sandbox.standin_charts`) ships
the CRDs of the chart it stands in for and checks values against the chart's values
file; this module says which files those are, per chart name, and for which chart
version the copies were taken. Charts without a values file here are listed in
`UNCHECKED_VALUES` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from components.versions import HelmChart
from sandbox.documented_values import DOCUMENTED_VALUES_KEYS
from sandbox.upstream import UPSTREAM_DIR_ENV as UPSTREAM_DIR_ENV
from sandbox.upstream import crds_root as crds_root

_CRD_KIND = re.compile(r"^kind:\s*CustomResourceDefinition\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CrdSource:
    """CRD files of one directory under the reference root (not recursive)."""

    directory: str
    pattern: str = "*.yaml"


@dataclass(frozen=True)
class UpstreamCopies:
    """The reference files of one chart."""

    version: str
    """Chart version the copies belong to; must equal the pin in components/versions.py."""
    crds: tuple[CrdSource, ...] = ()
    """Where the chart's `crds/` files are; when two sources hold a file of the same
    name, the first wins (release copies before main-branch copies)."""
    values: str | None = None
    """Values file our values are key-checked against, relative to the root."""
    values_is_chart_default: bool = False
    """True when `values` is the chart's own values.yaml (the stand-in ships it); False
    for an override file such as an NVIDIA AICR recipe (the stand-in ships `{}`)."""


CHART_COPIES: dict[str, UpstreamCopies] = {
    # Byte-identical to tag v26.7.0 (SOURCES.md).
    "gpu-operator": UpstreamCopies(
        "v26.7.0", (CrdSource("gpu-operator"),), "gpu-operator/values.yaml", True
    ),
    # main after v26.7.0-beta.5 (chart 26.7.0-rc.1): the copy components/versions.py
    # validates the 26.7.0 pin against. nv-ipam serves the IPPool/CIDRPool CRDs.
    "network-operator": UpstreamCopies(
        "26.7.0",
        (CrdSource("network-operator"), CrdSource("nv-ipam")),
        "network-operator/values.yaml",
        True,
    ),
    # v3.1.2/ holds the files that differ on main; the other CRDs are identical to v3.1.2.
    "k8s-nim-operator": UpstreamCopies(
        "v3.1.2",
        (CrdSource("k8s-nim-operator/v3.1.2"), CrdSource("k8s-nim-operator")),
        "k8s-nim-operator/v3.1.2/values.yaml",
        True,
    ),
    # CRDs byte-identical to v0.4.0; values: AICR's recipe (keys the component tests
    # check against, plus DOCUMENTED_VALUES_KEYS).
    "dra-driver-nvidia-gpu": UpstreamCopies(
        "0.4.0",
        (CrdSource("k8s-dra-driver-gpu"),),
        "aicr/recipes/components/nvidia-dra-driver-gpu/values.yaml",
    ),
    "kai-scheduler": UpstreamCopies(
        "v0.13.0",
        (CrdSource("kai-scheduler"),),
        "aicr/recipes/components/kai-scheduler/values.yaml",
    ),
    # Kyverno v1.19.0 = chart 3.9.0.
    "kyverno": UpstreamCopies("3.9.0", (CrdSource("kyverno"),), "kyverno/values.yaml", True),
    "karpenter": UpstreamCopies("1.14.1", (CrdSource("karpenter/v1.14.1"),)),
    "kamaji": UpstreamCopies("26.8.2-edge", (CrdSource("kamaji"),)),
    "dpf-operator": UpstreamCopies("v24.10.0-rc.6", (CrdSource("doca-platform"),)),
    "kube-prometheus-stack": UpstreamCopies(
        "82.8.0",
        (CrdSource("kube-prometheus-stack", "crd-*.yaml"),),
        "kube-prometheus-stack/values.yaml",
        True,
    ),
}
"""Chart name -> its reference files. Pinned charts not listed ship no CRDs."""

UNCHECKED_VALUES: dict[str, str] = {
    "karpenter": "no values.yaml of aws/karpenter-provider-aws in ../shared/crds; keys are "
    "checked against tests/components/services/documented_values.py KARPENTER_AWS_KEYS",
    "kamaji": "no kamaji values.yaml in ../shared/crds (and no component installs the chart)",
    "dpf-operator": "no DPF values.yaml in ../shared/crds; components/gpu/dpu_operator.py "
    "passes no values",
    "cilium": "no cilium values.yaml in ../shared/crds; keys are checked against "
    "documented_values.CILIUM_KEYS",
    "tigera-operator": "no tigera-operator values.yaml in ../shared/crds; keys are checked "
    "against documented_values.CALICO_KEYS",
    "nvsentinel": "no nvsentinel values.yaml in ../shared/crds; keys are checked against "
    "documented_values.NVSENTINEL_KEYS",
    "cert-manager": "no cert-manager values.yaml in ../shared/crds (and no component "
    "installs the chart)",
    "opentelemetry-collector": "no opentelemetry-collector values.yaml in ../shared/crds; "
    "keys are checked against documented_values.OTEL_KEYS",
    "csi-driver-nfs": "no csi-driver-nfs values.yaml in ../shared/crds; keys are checked "
    "against documented_values.CSI_NFS_KEYS",
}
"""Chart name -> why its stand-in has a permissive values schema (no values file to
derive one from). Keys in tests/components/services/documented_values.py are read
from the charts' docs, not enforced by Helm on the live cluster."""


def copies_for(chart: HelmChart) -> UpstreamCopies | None:
    """The reference files of `chart`, or None when `../shared/crds` has none.

    Raises:
        ValueError: when the copies belong to another version than the pin: the
            stand-in would ship CRDs and values of the wrong release. Re-copy the
            files (SOURCES.md) and update `CHART_COPIES` together with the pin.
    """
    copies = CHART_COPIES.get(chart.chart)
    if copies is not None and copies.version != chart.version:
        raise ValueError(
            f"{chart.chart} is pinned to {chart.version} but the reference copies in "
            f"../shared/crds are for {copies.version}; update sandbox/upstream_copies.py"
        )
    return copies


def crd_files(chart: HelmChart, root: Path) -> list[Path]:
    """The CRD files `chart` ships, sorted by file name (empty when it has none).

    A file counts when it holds a top-level `kind: CustomResourceDefinition` (values
    files and other data next to the CRDs are skipped).

    Raises:
        ValueError: as `copies_for`, or when a listed directory is missing or empty.
    """
    copies = copies_for(chart)
    if copies is None:
        return []
    chosen: dict[str, Path] = {}
    for source in copies.crds:
        directory = root / source.directory
        found = sorted(directory.glob(source.pattern)) if directory.is_dir() else []
        crds = [path for path in found if _CRD_KIND.search(path.read_text(encoding="utf-8"))]
        if not crds:
            raise ValueError(f"{chart.chart}: no CRD files matching {source} under {root}")
        for path in crds:
            chosen.setdefault(path.name, path)
    return [chosen[name] for name in sorted(chosen)]


def values_oracle(chart: HelmChart, root: Path) -> tuple[Path, tuple[str, ...]] | None:
    """`(values file, allowed extra key patterns)` to check `chart`'s values against.

    None for charts in `UNCHECKED_VALUES`.

    Raises:
        ValueError: as `copies_for`, or when the values file is missing.
    """
    copies = copies_for(chart)
    if copies is None or copies.values is None:
        return None
    path = root / copies.values
    if not path.is_file():
        raise ValueError(f"{chart.chart}: values file {path} is missing")
    return path, DOCUMENTED_VALUES_KEYS.get(chart.chart, ())


def chart_values_file(chart: HelmChart, root: Path) -> Path | None:
    """The chart's own upstream values.yaml (shipped byte for byte), or None."""
    copies = copies_for(chart)
    if copies is None or copies.values is None or not copies.values_is_chart_default:
        return None
    return root / copies.values
