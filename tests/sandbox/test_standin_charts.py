"""Stand-in charts: the pins, the upstream files, the values schema Helm will enforce."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components import versions
from components.versions import HelmChart
from sandbox.helm_values import coalesce, exclude_nulls
from sandbox.standin_charts import (
    PACKAGE_MTIME,
    STANDIN_ANNOTATION,
    StandinChart,
    all_charts,
    build_standin_chart,
    build_standin_charts,
    load_standin_chart,
)
from sandbox.upstream_copies import (
    CHART_COPIES,
    UNCHECKED_VALUES,
    UPSTREAM_DIR_ENV,
    copies_for,
    crds_root,
)
from sandbox.values_schema import SCHEMA_DIALECT, is_leaf
from tests.support.examples import STACK_FILES, example_platform
from tests.support.upstream import CRDS_ROOT

RELEASE = "kubernetes:helm.sh/v3:Release"

EXPECTED_CRDS: dict[str, dict[str, str]] = {
    # chart -> crds/<file> -> source under ../shared/crds
    "gpu-operator": {
        name: f"gpu-operator/{name}"
        for name in (
            "nvidia.com_clusterpolicies.yaml",
            "nvidia.com_gpuclusters.yaml",
            "nvidia.com_nvidiadrivers.yaml",
            "resource.nvidia.com_computedomaincliques.yaml",
            "resource.nvidia.com_computedomains.yaml",
        )
    },
    "network-operator": {
        **{
            name: f"network-operator/{name}"
            for name in (
                "mellanox.com_hostdevicenetworks.yaml",
                "mellanox.com_ipoibnetworks.yaml",
                "mellanox.com_macvlannetworks.yaml",
                "mellanox.com_nicclusterpolicies.yaml",
                "mellanox.com_nicnodepolicies.yaml",
            )
        },
        "nv-ipam.nvidia.com_cidrpools.yaml": "nv-ipam/nv-ipam.nvidia.com_cidrpools.yaml",
        "nv-ipam.nvidia.com_ippools.yaml": "nv-ipam/nv-ipam.nvidia.com_ippools.yaml",
    },
    "k8s-nim-operator": {
        **{
            name: f"k8s-nim-operator/{name}"
            for name in (
                "apps.nvidia.com_nemocustomizers.yaml",
                "apps.nvidia.com_nemodatastores.yaml",
                "apps.nvidia.com_nemoentitystores.yaml",
                "apps.nvidia.com_nemoevaluators.yaml",
                "apps.nvidia.com_nemoguardrails.yaml",
                "apps.nvidia.com_nimbuilds.yaml",
                "apps.nvidia.com_nimcaches.yaml",
            )
        },
        # the v3.1.2 release copies, not main's
        **{
            name: f"k8s-nim-operator/v3.1.2/{name}"
            for name in ("apps.nvidia.com_nimpipelines.yaml", "apps.nvidia.com_nimservices.yaml")
        },
    },
    "kai-scheduler": {
        name: f"kai-scheduler/{name}"
        for name in (
            "kai.scheduler_topologies.yaml",
            "scheduling.run.ai_bindrequests.yaml",
            "scheduling.run.ai_podgroups.yaml",
            "scheduling.run.ai_queues.yaml",
        )
    },
    "kyverno": {
        name: f"kyverno/{name}"
        for name in (
            "kyverno.io_clusterpolicies.yaml",
            "kyverno.io_policies.yaml",
            "policies.kyverno.io_validatingpolicies.yaml",
        )
    },
    "karpenter": {
        name: f"karpenter/v1.14.1/{name}"
        for name in (
            "karpenter.sh_nodeclaims.yaml",
            "karpenter.sh_nodeoverlays.yaml",
            "karpenter.sh_nodepools.yaml",
        )
    },
    "kamaji": {
        name: f"kamaji/{name}"
        for name in (
            "kamaji.clastix.io_datastores.yaml",
            "kamaji.clastix.io_tenantcontrolplanes.yaml",
        )
    },
    "dpf-operator": {
        name: f"doca-platform/{name}"
        for name in (
            "operator.dpu.nvidia.com_dpfoperatorconfigs.yaml",
            "provisioning.dpu.nvidia.com_bfbs.yaml",
            "provisioning.dpu.nvidia.com_dpuclusters.yaml",
            "provisioning.dpu.nvidia.com_dpuflavors.yaml",
            "provisioning.dpu.nvidia.com_dpus.yaml",
            "provisioning.dpu.nvidia.com_dpusets.yaml",
            "svc.dpu.nvidia.com_dpudeployments.yaml",
            "svc.dpu.nvidia.com_dpuserviceconfigurations.yaml",
            "svc.dpu.nvidia.com_dpuservices.yaml",
            "svc.dpu.nvidia.com_dpuservicetemplates.yaml",
        )
    },
    "kube-prometheus-stack": {
        name: f"kube-prometheus-stack/{name}"
        for name in (
            "crd-podmonitors.yaml",
            "crd-prometheusrules.yaml",
            "crd-servicemonitors.yaml",
        )
    },
    "dra-driver-nvidia-gpu": {
        name: f"k8s-dra-driver-gpu/{name}"
        for name in (
            "resource.nvidia.com_computedomaincliques.yaml",
            "resource.nvidia.com_computedomains.yaml",
        )
    },
}
"""The CRDs each real chart ships, as copied into ../shared/crds (others: none)."""

CHART_VALUES = {
    "gpu-operator": "gpu-operator/values.yaml",
    "network-operator": "network-operator/values.yaml",
    "k8s-nim-operator": "k8s-nim-operator/v3.1.2/values.yaml",
    "kyverno": "kyverno/values.yaml",
    "kube-prometheus-stack": "kube-prometheus-stack/values.yaml",
}
"""Charts whose own values.yaml is in ../shared/crds (shipped byte for byte)."""


@dataclass(frozen=True)
class Unpacked:
    """A stand-in package, read back."""

    chart: StandinChart
    members: list[tarfile.TarInfo]
    files: dict[str, bytes]
    """By path inside the chart directory."""

    @property
    def schema(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.files["values.schema.json"])
        return loaded

    @property
    def values(self) -> dict[str, Any]:
        return yaml.safe_load(self.files["values.yaml"]) or {}


def _unpack(chart: StandinChart) -> Unpacked:
    with tarfile.open(chart.path, mode="r:gz") as tar:
        members = tar.getmembers()
        files = {}
        for member in members:
            handle = tar.extractfile(member)
            assert handle is not None, member.name
            files[member.name.split("/", 1)[1]] = handle.read()
    return Unpacked(chart, members, files)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Unpacked]:
    charts = build_standin_charts(all_charts(), tmp_path_factory.mktemp("standins"))
    return {chart.name: _unpack(chart) for chart in charts}


# --------------------------------------------------------------------------- #
# Which charts, which files
# --------------------------------------------------------------------------- #


def test_every_pinned_chart_gets_a_stand_in() -> None:
    charts = all_charts()
    names = [chart.chart for chart in charts]
    assert len(names) == len(set(names))
    components = [c for c in vars(versions).values() if isinstance(c, versions.Component)]
    expected = {c.chart for c in components if c.chart is not None}
    expected |= set(versions.KARPENTER_PROVIDER_CHARTS.values())
    assert set(charts) == expected
    assert versions.DRA_DRIVER.helm in charts
    assert versions.KARPENTER_PROVIDER_CHARTS["aws"] in charts


def test_every_chart_is_value_checked_or_says_why_not() -> None:
    pinned = {chart.chart for chart in all_charts()}
    checked = {name for name, copies in CHART_COPIES.items() if copies.values}
    assert checked.isdisjoint(UNCHECKED_VALUES)
    assert checked | set(UNCHECKED_VALUES) == pinned
    assert set(CHART_COPIES) <= pinned
    assert all(reason for reason in UNCHECKED_VALUES.values())


def test_reference_copies_are_for_the_pinned_versions() -> None:
    for chart in all_charts():
        copies_for(chart)  # raises on a version mismatch


def test_copies_of_another_version_are_refused(tmp_path: Path) -> None:
    bumped = HelmChart(versions.GPU_OPERATOR.helm.repository, "gpu-operator", "v99.0.0")
    with pytest.raises(ValueError, match="reference copies in ../shared/crds are for v26.7.0"):
        build_standin_chart(bumped, tmp_path)


def test_a_chart_nobody_decided_about_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no UNCHECKED_VALUES entry"):
        build_standin_chart(HelmChart("https://example.invalid", "mystery", "1.0.0"), tmp_path)


def test_reference_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The variable names the upstream root (crds/ and conformance/ in it); the rest of
    # the resolution is tested in tests/sandbox/test_upstream.py.
    monkeypatch.setenv(UPSTREAM_DIR_ENV, str(tmp_path))
    assert crds_root() == tmp_path.resolve() / "crds"


# --------------------------------------------------------------------------- #
# The package
# --------------------------------------------------------------------------- #


def test_layout(built: dict[str, Unpacked]) -> None:
    for name, unpacked in built.items():
        chart = unpacked.chart
        assert chart.path.name == f"{name}-{chart.version}.tgz"
        assert chart.path.read_bytes()[:3] == b"\x1f\x8b\x08"  # what Helm's loader checks
        crds = {f"crds/{crd}" for crd in EXPECTED_CRDS.get(name, {})}
        expected = {"Chart.yaml", "values.yaml", "values.schema.json", "templates/NOTES.txt"}
        assert set(unpacked.files) == expected | crds, name
        names = [member.name for member in unpacked.members]
        assert names == sorted(names)
        for member in unpacked.members:
            assert member.isfile() and member.name.startswith(f"{name}/"), member.name
            assert (member.mtime, member.mode, member.uid, member.gid) == (
                PACKAGE_MTIME,
                0o644,
                0,
                0,
            )
            assert member.size < 5 * 1024 * 1024  # Helm's MaxDecompressedFileSize


def test_chart_yaml_equals_the_pin(built: dict[str, Unpacked]) -> None:
    for chart in all_charts():
        metadata = yaml.safe_load(built[chart.chart].files["Chart.yaml"])
        assert metadata["apiVersion"] == "v2"
        assert (metadata["name"], metadata["version"]) == (chart.chart, chart.version)
        assert metadata["type"] == "application"
        assert "stand-in" in metadata["description"]
        assert "values schema" in metadata["description"]
        assert "no workloads" in metadata["description"]
        assert metadata["annotations"][STANDIN_ANNOTATION] == "true"
        assert metadata == built[chart.chart].chart.metadata
    assert yaml.safe_load(built["gpu-operator"].files["Chart.yaml"])["appVersion"] == "v26.7.0"


def test_crds_are_byte_identical_to_the_upstream_copies(built: dict[str, Unpacked]) -> None:
    for name, crds in EXPECTED_CRDS.items():
        for crd, source in crds.items():
            assert built[name].files[f"crds/{crd}"] == (CRDS_ROOT / source).read_bytes(), crd


def test_values_yaml_is_the_upstream_file_or_empty(built: dict[str, Unpacked]) -> None:
    for name, unpacked in built.items():
        source = CHART_VALUES.get(name)
        expected = (CRDS_ROOT / source).read_bytes() if source else b"{}\n"
        assert unpacked.files["values.yaml"] == expected, name


def test_values_schemas(built: dict[str, Unpacked]) -> None:
    for name, unpacked in built.items():
        schema = unpacked.schema
        assert schema["$schema"] == SCHEMA_DIALECT
        jsonschema.Draft7Validator.check_schema(schema)
        validator = jsonschema.Draft7Validator(schema)
        # The chart's own defaults are valid (Helm validates values coalesced over them).
        assert validator.is_valid(unpacked.values), name
        if name in UNCHECKED_VALUES:
            assert validator.is_valid({"anyKey": {"at": ["all"]}})
            assert UNCHECKED_VALUES[name] in schema["description"]
        else:
            assert not validator.is_valid({"zzTypo": True}), name
            assert schema["additionalProperties"] is False


def test_packages_are_deterministic(tmp_path: Path) -> None:
    charts = [versions.GPU_OPERATOR.helm, versions.KYVERNO.helm, versions.CILIUM.helm]
    first = build_standin_charts(charts, tmp_path / "a")
    second = build_standin_charts(charts, tmp_path / "b")
    assert [c.digest for c in first] == [c.digest for c in second]
    for one, two in zip(first, second, strict=True):
        assert one.path.read_bytes() == two.path.read_bytes()
        assert one.digest == hashlib.sha256(one.path.read_bytes()).hexdigest()
        with gzip.GzipFile(fileobj=io.BytesIO(one.path.read_bytes())) as gz:
            gz.read()
            assert gz.mtime == 0


def test_a_package_describes_itself(tmp_path: Path) -> None:
    path = build_standin_chart(versions.KAI_SCHEDULER.helm, tmp_path)
    loaded = load_standin_chart(path)
    assert loaded.chart == versions.KAI_SCHEDULER.helm  # repository from the annotation
    with pytest.raises(ValueError, match="expected"):
        load_standin_chart(path, versions.GPU_OPERATOR.helm)


# --------------------------------------------------------------------------- #
# Every Helm release of every example stack passes its stand-in's schema as Helm
# will check it: provider drops nulls, Helm coalesces over values.yaml, validates.
# --------------------------------------------------------------------------- #


@cache
def _example_releases(stack_file: Path) -> list[tuple[str, str, dict[str, Any]]]:
    releases = []
    for resource in example_platform(stack_file).resources:
        if resource.type == RELEASE:
            chart = str(resource.inputs["chart"]).rsplit("/", 1)[-1]
            releases.append((chart, str(resource.inputs["version"]), resource.inputs["values"]))
    return releases


def _helm_errors(unpacked: Unpacked, values: Mapping[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(unpacked.schema)
    merged = coalesce(unpacked.values, exclude_nulls(values))
    return sorted(
        f"{'.'.join(map(str, error.absolute_path)) or '.'}: {error.message}"
        for error in validator.iter_errors(merged)
    )


def _typo_paths(values: Mapping[str, Any]) -> Iterator[tuple[str, ...]]:
    """Where a typo'd key goes: the top level, and under the first nested option map."""
    yield ()
    for key, value in values.items():
        if isinstance(value, Mapping) and value and not is_leaf((key,)):
            yield (key,)
            return


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[path.stem for path in STACK_FILES])
def test_example_releases_pass_the_stand_in_schemas(
    stack_file: Path, built: dict[str, Unpacked]
) -> None:
    releases = _example_releases(stack_file)
    assert releases
    for chart, version, values in releases:
        unpacked = built[chart]
        assert unpacked.chart.version == version, f"{chart}: release {version}, pin differs"
        assert _helm_errors(unpacked, values) == [], chart


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[path.stem for path in STACK_FILES])
def test_a_typo_in_example_values_fails_the_schema(
    stack_file: Path, built: dict[str, Unpacked]
) -> None:
    checked = 0
    for chart, _version, values in _example_releases(stack_file):
        if chart in UNCHECKED_VALUES:
            continue
        for path in _typo_paths(values):
            typo = json.loads(json.dumps(values))
            target = typo
            for key in path:
                target = target[key]
            target["replicaCuont"] = 1
            errors = _helm_errors(built[chart], typo)
            assert any("replicaCuont" in error for error in errors), (chart, path, errors)
            checked += 1
    assert checked
