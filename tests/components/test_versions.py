"""The compatibility matrix: version parsing, rules, and agreement with shared/crds and AICR."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from components.versions import (
    RDMA_INCOMPATIBLE_PAIRS,
    RdmaIncompatibility,
    UpgradePath,
    UpgradePolicy,
    Version,
    check_compatibility,
    compare_versions,
    compatibility_problems,
    is_multi_node_nvlink,
    is_prerelease,
    version_at_least,
)
from tests.support.upstream import CRDS_ROOT

REPO = Path(__file__).resolve().parents[2]


class TestVersionParsing:
    @pytest.mark.parametrize(
        ("text", "release", "pre"),
        [
            ("1.34", (1, 34), ()),
            ("v26.7.0", (26, 7, 0), ()),
            ("595.91.07", (595, 91, 7), ()),
            ("26.7.0-rc.1", (26, 7, 0), ("rc", "1")),
            ("26.8.2-edge", (26, 8, 2), ("edge",)),
            (" v0.4.0 ", (0, 4, 0), ()),
        ],
    )
    def test_parse(self, text, release, pre):
        parsed = Version.parse(text)
        assert (parsed.release, parsed.prerelease) == (release, pre)

    @pytest.mark.parametrize("text", ["", "latest", "1.x", "v", "1..2", "^1.2.3"])
    def test_rejects_non_versions(self, text):
        with pytest.raises(ValueError, match="not a version"):
            Version.parse(text)

    @pytest.mark.parametrize(
        ("left", "right", "expected"),
        [
            ("1.34", "1.34.0", 0),
            ("v26.7.0", "26.7.0", 0),
            ("1.33.9", "1.34.0", -1),
            ("1.17.10", "1.17.8", 1),  # numeric, not lexical
            ("26.7.0-rc.1", "26.7.0", -1),  # pre-release before release
            ("26.7.0-rc.2", "26.7.0-rc.10", -1),  # numeric identifiers compare numerically
            ("26.7.0-beta.5", "26.7.0-rc.1", -1),
            ("25.3.1", "25.3.0", 1),
            ("0.4.0", "25.12.0", -1),
        ],
    )
    def test_compare(self, left, right, expected):
        assert compare_versions(left, right) == expected
        assert compare_versions(right, left) == -expected

    def test_helpers(self):
        assert version_at_least("v1.20.0", "1.17.8")
        assert not version_at_least("1.17.8-rc.1", "1.17.8")
        assert is_prerelease("26.8.2-edge") and not is_prerelease("v26.7.0")
        assert Version.parse("1.35.2").minor == (1, 35)
        assert str(Version.parse("v26.7.0-rc.1")) == "26.7.0-rc.1"


class TestRules:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            pytest.param({"kubernetes": "1.34.2"}, [], id="pinned-defaults-ok"),
            pytest.param({"kubernetes": "1.34.2", "dra_driver": True}, [], id="dra-on-1.34.2-ok"),
            pytest.param(
                {"kubernetes": "1.34.0", "dra_driver": True},
                ["older than 1.34.2, the oldest version DRA driver for NVIDIA GPUs 0.4.0 supports"],
                id="dra-driver-needs-1.34.2",
            ),
            pytest.param(
                {"kubernetes": "1.33.5", "dra_driver": True},
                ["older than 1.34.2, the oldest version DRA driver for NVIDIA GPUs 0.4.0"],
                id="dra-needs-1.34",
            ),
            pytest.param({"kubernetes": "1.34.0"}, [], id="no-dra-platform-floor-ok"),
            pytest.param(
                {"kubernetes": "1.33.5"},
                ["older than 1.34.0, the oldest version gpu-caas supports"],
                id="platform-floor-without-dra",
            ),
            pytest.param(
                {"kubernetes": "1.36.0"},
                ["newer than 1.35, the newest minor Kyverno v1.19.0 supports"],
                id="k8s-newer-than-kyverno",
            ),
            pytest.param(
                {"kubernetes": "1.36.0", "components": [versions.GPU_OPERATOR]},
                [],
                id="gpu-operator-alone-allows-1.36",
            ),
            pytest.param(
                {"kubernetes": "1.37.1", "components": [versions.GPU_OPERATOR]},
                ["newer than 1.36, the newest minor NVIDIA GPU Operator v26.7.0 supports"],
                id="gpu-operator-alone-refuses-1.37",
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "container_toolkit": "1.17.7"},
                ["NVIDIA Container Toolkit 1.17.7 is vulnerable to CVE-2025-23266"],
                id="toolkit-below-cve-floor",
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "container_toolkit": "v1.17.8"}, [], id="toolkit-at-floor"
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "gpu_operator": "v25.3.0"},
                ["GPU Operator v25.3.0 ships a toolkit vulnerable to CVE-2025-23266"],
                id="operator-below-cve-floor",
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "gpu_operator": "v25.3.1"}, [], id="operator-at-floor"
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "network_operator": "26.7.0", "rdma": True},
                [],
                id="pinned-rdma-pair-ok",
            ),
            pytest.param(
                {
                    "kubernetes": "1.34.2",
                    "gpu_operator": "v24.9.2",
                    "network_operator": "25.4.0",
                    "rdma": True,
                },
                [
                    "GPU Operator v24.9.2 ships a toolkit vulnerable",
                    "is a known-bad pair for GPUDirect RDMA",
                ],
                id="rdma-known-bad-pair",
            ),
            pytest.param(
                {
                    "kubernetes": "1.34.2",
                    "gpu_operator": "v24.9.2",
                    "network_operator": "25.4.0",
                    "rdma": False,
                },
                ["GPU Operator v24.9.2 ships a toolkit vulnerable"],
                id="pair-irrelevant-without-rdma",
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "compute_domain_gpu_models": ["GB200-186GB"]},
                [],
                id="compute-domains-on-gb200",
            ),
            pytest.param(
                {"kubernetes": "1.34.2", "compute_domain_gpu_models": ["H100-80GB"]},
                ["ComputeDomains need multi-node NVLink GPUs (GB200, GB300); H100-80GB"],
                id="compute-domains-on-h100",
            ),
        ],
    )
    def test_check_compatibility(self, kwargs, expected):
        problems = check_compatibility(**kwargs)
        assert len(problems) == len(expected), problems
        for problem, fragment in zip(problems, expected, strict=True):
            assert fragment in problem

    def test_problems_are_tagged_by_argument(self):
        tagged = compatibility_problems(
            kubernetes="1.33.0",
            container_toolkit="1.16.0",
            dra_driver=True,
            compute_domain_gpu_models=["GB200-186GB", "A100-80GB"],
        )
        assert [tag for tag, _ in tagged] == [
            "kubernetes",
            "container_toolkit",
            "compute_domain_gpu_models[1]",
        ]

    def test_unparseable_version_raises(self):
        with pytest.raises(ValueError, match="not a version: 'latest'"):
            check_compatibility(kubernetes="1.34.0", gpu_operator="latest")

    def test_incompatibility_ranges_are_half_open(self):
        pair = RdmaIncompatibility("25.0.0", "26.0.0", None, "25.4.0", "reason", "source")
        assert pair.matches("25.0.0", "24.10.0")
        assert pair.matches("v25.10.1", "25.1.0")
        assert not pair.matches("26.0.0", "24.10.0")  # upper bound excluded
        assert not pair.matches("24.9.0", "24.10.0")
        assert not pair.matches("25.0.0", "25.4.0")

    def test_every_known_bad_pair_cites_a_source(self):
        for pair in RDMA_INCOMPATIBLE_PAIRS:
            assert pair.source.startswith("https://"), pair
            assert pair.reason

    @pytest.mark.parametrize(
        ("model", "expected"),
        [
            ("GB200-186GB", True),
            ("gb200-nvl72", True),
            ("GB300", True),
            ("H100-80GB", False),
            ("B200-180GB", False),
            ("A100-40GB", False),
        ],
    )
    def test_multi_node_nvlink(self, model, expected):
        assert is_multi_node_nvlink(model) is expected


class TestMatrix:
    def test_every_pin_is_an_exact_parseable_version(self):
        for component in versions.MATRIX:
            # Image tags, not release versions: DCGM-exporter-flavor, doca<ver>-<release>.
            if component not in (versions.DCGM_EXPORTER, versions.DOCA_DRIVER):
                Version.parse(component.version)
            if component.chart is not None:
                Version.parse(component.chart.version)
                assert component.chart.repository.startswith(("https://", "oci://"))
                assert component.source, component.name

    def test_pinned_set_is_compatible(self):
        assert (
            check_compatibility(
                kubernetes=versions.KUBERNETES.version,
                network_operator=versions.NETWORK_OPERATOR.version,
                rdma=True,
                dra_driver=True,
                compute_domain_gpu_models=["GB200-186GB"],
            )
            == []
        )

    def test_only_dpf_and_kamaji_are_prereleases(self):
        # A pre-release pin must be a deliberate, documented exception.
        pre = {c.name for c in versions.MATRIX if c.chart and is_prerelease(c.chart.version)}
        assert pre == {versions.DPF.name, versions.KAMAJI.name}
        assert "OLD" in versions.DPF.note and "edge" in versions.KAMAJI.note

    def test_helm_property(self):
        assert versions.GPU_OPERATOR.helm.chart == "gpu-operator"
        with pytest.raises(ValueError, match="has no Helm chart"):
            _ = versions.KARPENTER.helm


def _yaml(relative: str) -> Any:
    return yaml.safe_load((CRDS_ROOT / relative).read_text())


class TestAgainstSharedCrds:
    """Our pins are the newest versions in ../shared/crds (SOURCES.md)."""

    def test_gpu_operator_image_pins_are_the_chart_defaults(self):
        values = _yaml("gpu-operator/values.yaml")
        assert values["driver"]["version"] == versions.NVIDIA_DRIVER.version
        assert values["toolkit"]["version"] == versions.CONTAINER_TOOLKIT.version
        assert values["devicePlugin"]["version"] == versions.DEVICE_PLUGIN.version
        assert values["gfd"]["version"] == versions.DEVICE_PLUGIN.version
        assert values["dcgmExporter"]["version"] == versions.DCGM_EXPORTER.version
        assert values["migManager"]["version"] == versions.MIG_MANAGER.version
        assert values["driver"]["manager"]["version"] == versions.DRIVER_MANAGER.version

    def test_release_pins_match_sources(self):
        sources = (CRDS_ROOT / "SOURCES.md").read_text()
        assert f"byte-identical to tag {versions.GPU_OPERATOR.version}" in sources
        assert f"byte-identical to tag {versions.KYVERNO.version}" in sources
        assert f"byte-identical to tag {versions.KAI_SCHEDULER.version}" in sources
        assert f"byte-identical to tag v{versions.DRA_DRIVER.version}" in sources
        assert f"HEAD = tag {versions.KAMAJI.version}" in sources
        assert f"tag {versions.DPF.version}" in sources
        assert (CRDS_ROOT / "k8s-nim-operator" / versions.NIM_OPERATOR.version).is_dir()
        assert (CRDS_ROOT / "karpenter" / f"v{versions.KARPENTER.version}").is_dir()

    def test_network_operator_pin_is_the_release_of_the_shared_snapshot(self):
        values = (CRDS_ROOT / "network-operator/values.yaml").read_text()
        tag = re.search(r"network-operator-v(\d+\.\d+\.\d+)(-[\w.]+)?", values)
        assert tag is not None
        assert tag[1] == versions.NETWORK_OPERATOR.version


def _aicr_component_refs() -> list[tuple[str, str, str]]:
    refs: list[tuple[str, str, str]] = []
    overlays = CRDS_ROOT / "aicr" / "recipes" / "overlays"
    for path in sorted(overlays.glob("*.yaml")):
        for ref in yaml.safe_load(path.read_text())["spec"].get("componentRefs") or []:
            if "version" in ref:
                refs.append((path.name, ref["name"], str(ref["version"])))
    for path in sorted((CRDS_ROOT / "aicr" / "examples" / "recipes").glob("*.yaml")):
        for ref in yaml.safe_load(path.read_text()).get("componentRefs") or []:
            refs.append((path.name, ref["name"], str(ref["version"])))
    registry = _yaml("aicr/recipes/registry.yaml")
    for component in registry["components"]:
        default = (component.get("helm") or {}).get("defaultVersion")
        if default:
            refs.append(("registry.yaml", component["name"], str(default)))
    return refs


AICR_NAMES = {
    "gpu-operator": versions.GPU_OPERATOR,
    "network-operator": versions.NETWORK_OPERATOR,
    "nvidia-dra-driver-gpu": versions.DRA_DRIVER,
    "kai-scheduler": versions.KAI_SCHEDULER,
    "nvsentinel": versions.NVSENTINEL,
    "kube-prometheus-stack": versions.KUBE_PROMETHEUS_STACK,
    "cert-manager": versions.CERT_MANAGER,
}
"""AICR component name -> our matrix entry (components we install that AICR pins)."""


class TestAgainstAicrRecipes:
    """Our pins are >= NVIDIA's AICR v0.11.1 recipe pins, or a documented difference."""

    @pytest.mark.parametrize(
        ("recipe", "name", "aicr_version"),
        [ref for ref in _aicr_component_refs() if ref[1] in AICR_NAMES],
        ids=lambda v: str(v),
    )
    def test_pin_not_older_than_aicr(self, recipe, name, aicr_version):
        ours = AICR_NAMES[name].helm.version
        if compare_versions(ours, aicr_version) < 0:
            assert name in versions.AICR_DIFFERENCES, (
                f"{recipe}: AICR pins {name} {aicr_version}, we pin {ours}; raise our pin or "
                "document the difference in components.versions.AICR_DIFFERENCES"
            )

    def test_documented_differences_are_real(self):
        # Keep AICR_DIFFERENCES honest: every entry must still differ from AICR.
        refs = _aicr_component_refs()
        dra = [v for _, n, v in refs if n == "nvidia-dra-driver-gpu"]
        assert dra and all(compare_versions(versions.DRA_DRIVER.helm.version, v) < 0 for v in dra)
        aicr_driver = _yaml("aicr/recipes/components/gpu-operator/values.yaml")["driver"]["version"]
        assert aicr_driver != versions.NVIDIA_DRIVER.version
        assert compare_versions(versions.NVIDIA_DRIVER.version, aicr_driver) > 0
        assert set(versions.AICR_DIFFERENCES) == {"nvidia-dra-driver-gpu", "driver"}

    def test_kubernetes_minimum_satisfies_every_recipe_constraint(self):
        overlays = CRDS_ROOT / "aicr" / "recipes" / "overlays"
        floors = []
        for path in overlays.glob("*.yaml"):
            for constraint in yaml.safe_load(path.read_text())["spec"].get("constraints") or []:
                if constraint["name"] == "K8s.server.version":
                    floors.append(constraint["value"].removeprefix(">=").strip())
        assert floors
        for floor in floors:
            assert version_at_least(versions.KUBERNETES_MINIMUM, floor), floor


def test_docs_versions_table_is_in_sync():
    docs = (REPO / "docs" / "gpu-platform.md").read_text()
    assert versions.matrix_markdown() in docs, (
        "docs/gpu-platform.md is out of date; paste components.versions.matrix_markdown()"
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("B200-180GB", True),
        ("GB200-186GB", True),
        ("gh200", True),
        ("H200-141GB", False),
        ("H100-80GB", False),
    ],
)
def test_open_kernel_modules_required(model, expected):
    assert versions.requires_open_kernel_modules(model) is expected
    problems = check_compatibility(
        kubernetes="1.34.2", kernel_module_type="proprietary", gpu_models=[model]
    )
    assert len(problems) == int(expected)
    assert (
        check_compatibility(kubernetes="1.34.2", kernel_module_type="open", gpu_models=[model])
        == []
    )


def test_dpf_chart_comes_from_ngc_doca_repository():
    # DPF's guides: `helm repo add dpf-repository https://helm.ngc.nvidia.com/nvidia/doca`
    # then `dpf-repository/dpf-operator` (NVIDIA/doca-platform user guides, `REGISTRY`).
    assert versions.DPF.helm.repository == "https://helm.ngc.nvidia.com/nvidia/doca"
    assert versions.DPF.helm.chart == "dpf-operator"


def test_doca_driver_pin_lives_in_the_matrix():
    from components.gpu import network_operator

    assert versions.DOCA_DRIVER in versions.MATRIX
    assert not hasattr(network_operator, "DOCA_DRIVER_VERSION")
    assert network_operator.NetworkOperatorArgs.__dataclass_fields__[
        "doca_driver_version"
    ].default == (versions.DOCA_DRIVER.version)


# --------------------------------------------------------------------------- #
# The Kubernetes window (issue 9, item 4)
# --------------------------------------------------------------------------- #

IN_CLUSTER = [
    c for c in versions.MATRIX if c is not versions.KUBERNETES and c.name not in versions.OPERANDS
]
"""Every pin that runs in (Kamaji: hosts) a tenant cluster; operands follow their operator."""

DEFAULT_SET = versions.installed_components()


def _next_minor(minor: str) -> str:
    major, number = Version.parse(minor).minor
    return f"{major}.{number + 1}.0"


def _just_below(minimum: str) -> str:
    parsed = Version.parse(minimum)
    major, minor = parsed.minor
    patch = parsed.release[2] if len(parsed.release) > 2 else 0
    return f"{major}.{minor}.{patch - 1}" if patch else f"{major}.{minor - 1}.99"


class TestKubernetesSupportData:
    def test_every_in_cluster_component_has_a_cited_entry(self):
        for component in versions.MATRIX:
            if component is versions.KUBERNETES or component.name in versions.OPERANDS:
                assert component.kubernetes is None, component.name
                continue
            support = component.kubernetes
            assert support is not None, f"{component.name}: add a KubernetesSupport entry"
            assert support.source.strip(), component.name
            # A citation a reviewer can follow: a URL or an owner/repo@ref path.
            assert "https://" in support.source or "@" in support.source, component.name
            if not support.enforced:
                assert support.note, f"{component.name}: say why the range is not enforced"

    def test_operands_follow_an_operator_with_an_entry(self):
        names = {c.name for c in versions.MATRIX}
        for operand, operator in versions.OPERANDS.items():
            assert operand in names
            assert operator.kubernetes is not None

    @pytest.mark.parametrize("component", IN_CLUSTER, ids=lambda c: c.name)
    def test_bounds_parse_and_are_ordered(self, component):
        support = component.kubernetes
        assert support is not None
        for bound in (support.minimum, support.maximum):
            if bound is not None:
                assert Version.parse(bound).minor[0] == 1, bound
        if support.minimum and support.maximum:
            assert Version.parse(support.minimum).minor <= Version.parse(support.maximum).minor

    def test_installed_sets_only_hold_components_with_entries(self):
        every = versions.installed_components(
            network_operator=True,
            nim_operator=True,
            dra_driver=True,
            dpf=True,
            karpenter=True,
            kamaji=True,
            nfs_csi=True,
            local_path=True,
        )
        assert all(c.kubernetes is not None for c in every)
        assert versions.CERT_MANAGER not in every  # nothing gpu-caas installs needs it


class TestKubernetesWindow:
    @pytest.mark.parametrize(
        ("components", "text", "newest_by"),
        [
            pytest.param((), "1.34.0 or later", (), id="platform-floor-only"),
            pytest.param(DEFAULT_SET, "1.34.0 to 1.35.x", ("Kyverno",), id="default-config"),
            pytest.param(
                (versions.GPU_OPERATOR,),
                "1.34.0 to 1.36.x",
                ("NVIDIA GPU Operator",),
                id="gpu-operator",
            ),
            pytest.param(
                (versions.GPU_OPERATOR, versions.KARPENTER, versions.KAMAJI),
                "1.34.0 to 1.36.x",
                ("NVIDIA GPU Operator", "Karpenter (core APIs)", "Kamaji"),
                id="three-tie-at-1.36",
            ),
            pytest.param(
                (versions.GPU_OPERATOR, versions.NETWORK_OPERATOR),
                "1.34.0 to 1.35.x",
                ("NVIDIA Network Operator",),
                id="network-operator",
            ),
            pytest.param(
                (versions.GPU_OPERATOR, versions.CALICO),
                "1.34.0 to 1.35.x",
                ("Calico (Tigera operator)",),
                id="calico",
            ),
            pytest.param(
                (versions.GPU_OPERATOR, versions.DRA_DRIVER),
                "1.34.2 to 1.36.x",
                ("NVIDIA GPU Operator",),
                id="dra-driver-raises-the-floor",
            ),
            pytest.param((versions.CILIUM,), "1.34.0 or later", (), id="cilium-no-bound"),
            pytest.param((versions.DPF,), "1.34.0 or later", (), id="dpf-not-enforced"),
        ],
    )
    def test_window(self, components, text, newest_by):
        window = versions.kubernetes_window(components)
        assert window.text() == text
        assert tuple(c.name for c in window.newest_by) == newest_by
        assert not window.empty

    def test_floor_is_set_by_the_platform_or_the_dra_driver(self):
        assert [c.name for c in versions.kubernetes_window(DEFAULT_SET).oldest_by] == ["gpu-caas"]
        with_dra = versions.kubernetes_window((*DEFAULT_SET, versions.DRA_DRIVER))
        assert [c.name for c in with_dra.oldest_by] == [versions.DRA_DRIVER.name]

    def test_empty_window_says_no_version_fits(self):
        old = versions.Component(
            name="Old",
            version="v1",
            kubernetes=versions.KubernetesSupport("1.29", "1.31", "https://example.invalid"),
        )
        window = versions.kubernetes_window((old,))
        assert window.empty
        (message,) = versions.kubernetes_problems("1.34.2", (old,))
        assert "newer than 1.31, the newest minor Old v1 supports" in message
        assert "no Kubernetes version satisfies them all" in message

    @pytest.mark.parametrize("component", IN_CLUSTER, ids=lambda c: c.name)
    def test_window_with_and_without_the_component(self, component):
        # Adding a component never widens the window; its own bound becomes the window's
        # bound when it is the tightest one.
        others = tuple(c for c in DEFAULT_SET if c is not component)
        without = versions.kubernetes_window(others)
        with_it = versions.kubernetes_window((*others, component))
        support = component.kubernetes
        assert support is not None
        assert Version.parse(with_it.minimum) >= Version.parse(without.minimum)
        if without.maximum and with_it.maximum:
            assert Version.parse(with_it.maximum) <= Version.parse(without.maximum)
        if not support.enforced:
            assert with_it == without
            return
        if support.maximum and (
            without.maximum is None
            or Version.parse(support.maximum).minor <= Version.parse(without.maximum).minor
        ):
            assert with_it.maximum == support.maximum
            assert component in with_it.newest_by
        if support.minimum and Version.parse(support.minimum) >= Version.parse(without.minimum):
            assert Version.parse(with_it.minimum) == Version.parse(support.minimum)

    @pytest.mark.parametrize("component", IN_CLUSTER, ids=lambda c: c.name)
    def test_below_inside_and_above_the_component_range(self, component):
        support = component.kubernetes
        assert support is not None
        alone = (component,)

        def named(version: str) -> bool:
            return any(
                component.label in message
                for message in versions.kubernetes_problems(version, alone)
            )

        inside = "1.35.3" if support.admits("1.35.3") else None
        if support.enforced:
            if inside:
                assert versions.kubernetes_problems(inside, alone) == []
            if support.maximum:
                above = _next_minor(support.maximum)
                assert named(above), above
                assert f"{support.range_text()} ({support.source})" in " ".join(
                    versions.kubernetes_problems(above, alone)
                )
                assert not named(f"{support.maximum}.99")
            if support.minimum:
                assert named(_just_below(support.minimum))
                assert not named(support.minimum)
        else:
            assert not named("1.34.2") and not named("1.99.0")
            outside = "1.34.2"
            assert not support.admits(outside)
            (warning,) = versions.kubernetes_warnings(outside, alone)
            assert component.label in warning and support.source in warning
            assert versions.kubernetes_warnings("1.30.4", alone) == []

    def test_refusal_names_every_limiting_component_tightest_first(self):
        components = versions.installed_components(network_operator=True, karpenter=True)
        (message,) = versions.kubernetes_problems("1.37.1", components)
        assert message.startswith(
            "Kubernetes 1.37.1 is newer than 1.35, the newest minor NVIDIA Network Operator "
            "26.7.0 and Kyverno v1.19.0 support: "
        )
        order = [
            message.index(c.label)
            for c in (versions.NETWORK_OPERATOR, versions.GPU_OPERATOR, versions.KARPENTER)
        ]
        assert order == sorted(order)
        assert versions.KYVERNO.kubernetes is not None
        assert versions.KYVERNO.kubernetes.source in message
        assert message.endswith("; use Kubernetes 1.34.0 to 1.35.x")
        assert versions.KUBE_PROMETHEUS_STACK.label not in message  # no upper bound

    def test_refusal_below_names_the_floor(self):
        (message,) = versions.kubernetes_problems("1.34.1", (versions.DRA_DRIVER,))
        assert message == (
            "Kubernetes 1.34.1 is older than 1.34.2, the oldest version DRA driver for NVIDIA "
            "GPUs 0.4.0 supports: DRA driver for NVIDIA GPUs 0.4.0 supports 1.34.2 or later ("
            + (versions.DRA_DRIVER.kubernetes.source if versions.DRA_DRIVER.kubernetes else "")
            + "); use Kubernetes 1.34.2 or later"
        )

    def test_pinned_default_is_inside_every_example_window(self):
        for components in (
            DEFAULT_SET,
            versions.installed_components(network_operator=True, dra_driver=True, dpf=True),
            versions.installed_components(cni="calico", kamaji=True, karpenter=True),
        ):
            assert versions.kubernetes_problems(versions.KUBERNETES.version, components) == []

    def test_kai_pin_is_behind_and_says_what_a_bump_needs(self):
        # Not bumped: shared/crds holds v0.13.0 only (see the note).
        assert versions.KAI_SCHEDULER.version == "v0.13.0"
        note = versions.KAI_SCHEDULER.note
        for fact in ("v0.14.2", "v0.17.0", "values.yaml", "SOURCES.md", "gpuPodRuntimeClassName"):
            assert fact in note


# --------------------------------------------------------------------------- #
# Upgrade paths (issue 14, operator upgrades)
# --------------------------------------------------------------------------- #

GPU_OP = versions.GPU_OPERATOR.name
NET_OP = versions.NETWORK_OPERATOR.name


def _at(component: versions.Component, version: str) -> versions.Component:
    return replace(component, version=version)


def _semver_chart(path: UpgradePath) -> versions.Component:
    return versions.Component("example", "2.0.0", upgrade=UpgradePolicy(path, source="test"))


class TestUpgradePolicyData:
    RELEASES = [c for c in IN_CLUSTER if c is not versions.PLATFORM]

    @pytest.mark.parametrize("component", RELEASES, ids=lambda c: c.name)
    def test_every_release_has_a_cited_policy(self, component):
        policy = component.upgrade
        assert policy is not None, f"{component.name}: add an UpgradePolicy"
        assert policy.source.strip(), component.name
        if policy.path is not UpgradePath.ANY:
            # A restriction must be checkable: a URL or an owner/repo@ref path.
            assert "https://" in policy.source or "@" in policy.source, component.name

    def test_operands_and_kubernetes_have_none(self):
        for component in versions.MATRIX:
            if component is versions.KUBERNETES or component.name in versions.OPERANDS:
                assert component.upgrade is None, component.name

    @pytest.mark.parametrize(
        "component",
        [c for c in versions.MATRIX if c.upgrade and c.upgrade.releases],
        ids=lambda c: c.name,
    )
    def test_listed_release_lines_are_ordered_and_hold_the_pin(self, component):
        policy = component.upgrade
        lines = [policy.line(release) for release in policy.releases]
        assert lines == sorted(set(lines)), "oldest first, each line once"
        assert policy.line(component.version) in lines, "list the pin's line"

    @pytest.mark.parametrize(
        ("component", "path"),
        [
            (versions.GPU_OPERATOR, UpgradePath.ONE_MAJOR),
            (versions.NETWORK_OPERATOR, UpgradePath.ONE_MAJOR),
            (versions.CILIUM, UpgradePath.ONE_MINOR),
            (versions.CERT_MANAGER, UpgradePath.ONE_MINOR),
            (versions.KUBE_PROMETHEUS_STACK, UpgradePath.ONE_MAJOR),
            (versions.KYVERNO, UpgradePath.ANY),
            (versions.KARPENTER, UpgradePath.ANY),
            (versions.KAI_SCHEDULER, UpgradePath.ANY),
            (versions.KAMAJI, UpgradePath.ANY),
        ],
        ids=lambda v: getattr(v, "name", v),
    )
    def test_documented_paths(self, component, path):
        assert component.upgrade is not None and component.upgrade.path is path


class TestUpgradePolicyLines:
    @pytest.mark.parametrize(
        ("policy", "version", "line", "next_lines"),
        [
            # NVIDIA calendar majors: YY.MM, the next one is the next listed line.
            (versions.GPU_OPERATOR.upgrade, "v25.10.1", (25, 10), ((26, 3),)),
            (versions.GPU_OPERATOR.upgrade, "v26.3.3", (26, 3), ((26, 7),)),
            (versions.GPU_OPERATOR.upgrade, "v26.7.0", (26, 7), ()),  # newest listed
            (versions.GPU_OPERATOR.upgrade, "v26.4.0", (26, 4), ((26, 7),)),  # not listed
            (versions.NETWORK_OPERATOR.upgrade, "26.4.1", (26, 4), ((26, 7),)),
            (versions.CILIUM.upgrade, "1.18.9", (1, 18), ((1, 19), (2, 0))),
            (versions.KUBE_PROMETHEUS_STACK.upgrade, "82.8.0", (82,), ((83,),)),
            (versions.KYVERNO.upgrade, "v1.19.0", (), ()),
        ],
    )
    def test_line_and_next(self, policy, version, line, next_lines):
        assert policy.line(version) == line
        assert policy.next_lines(line) == next_lines


class TestUpgradePathProblems:
    @pytest.mark.parametrize(
        ("previous", "components", "expected"),
        [
            pytest.param({}, DEFAULT_SET, [], id="first-deployment"),
            pytest.param({c.name: c.version for c in DEFAULT_SET}, DEFAULT_SET, [], id="unchanged"),
            pytest.param(
                {GPU_OP: "v26.3.3"}, [versions.GPU_OPERATOR], [], id="gpu-operator-next-major"
            ),
            pytest.param(
                {GPU_OP: "v26.7.0"}, [_at(versions.GPU_OPERATOR, "v26.7.2")], [], id="patch"
            ),
            pytest.param(
                {GPU_OP: "v25.10.1"},
                [versions.GPU_OPERATOR],
                [
                    "NVIDIA GPU Operator v25.10.1 is deployed and this deployment installs "
                    "v26.7.0, which skips 26.3.x: NVIDIA GPU Operator upgrades one major "
                    "release at a time (https://docs.nvidia.com/",
                    "; deploy a gpu-caas release pinning NVIDIA GPU Operator 26.3.x first",
                ],
                id="gpu-operator-skips-a-major",
            ),
            pytest.param(
                {NET_OP: "26.1.2"},
                [versions.NETWORK_OPERATOR],
                ["which skips 26.4.x", "pinning NVIDIA Network Operator 26.4.x first"],
                id="network-operator-skips-a-major",
            ),
            pytest.param(
                {versions.CILIUM.name: "1.17.6"},
                [versions.CILIUM],
                ["Cilium 1.17.6 is deployed", "skips 1.18.x", "pinning Cilium 1.18.x first"],
                id="cilium-skips-a-minor",
            ),
            pytest.param(
                {versions.CILIUM.name: "1.18.9"}, [versions.CILIUM], [], id="cilium-next-minor"
            ),
            pytest.param(
                {versions.CILIUM.name: "1.19.0"},
                [_at(versions.CILIUM, "2.1.0")],
                ["skips 1.20.x", "pinning Cilium 1.20.x (or 2.0.x if 1.19.x was the last 1.x"],
                id="cilium-skips-into-the-next-major",
            ),
            pytest.param(
                {versions.CILIUM.name: "1.19.0"},
                [_at(versions.CILIUM, "2.0.1")],
                [],
                id="cilium-last-minor-to-next-major",
            ),
            pytest.param(
                {"example": "1.4.0"},
                [_semver_chart(UpgradePath.ONE_MAJOR)],
                [],
                id="semver-next-major",
            ),
            pytest.param(
                {"example": "0.9.0"},
                [_semver_chart(UpgradePath.ONE_MAJOR)],
                ["example 0.9.0 is deployed", "skips 1.x", "pinning example 1.x first"],
                id="semver-skips-a-major",
            ),
            pytest.param(
                {versions.KYVERNO.name: "v1.16.0"}, [versions.KYVERNO], [], id="any-skips-minors"
            ),
            pytest.param(
                {versions.KYVERNO.name: "v1.20.1"},
                [versions.KYVERNO],
                [
                    "Kyverno v1.20.1 is deployed and this deployment installs v1.19.0, a downgrade",
                    "deploy a gpu-caas release pinning Kyverno v1.20.1 or newer",
                ],
                id="any-refuses-a-downgrade",
            ),
            pytest.param(
                {GPU_OP: "v26.7.1"},
                [versions.GPU_OPERATOR],
                ["NVIDIA GPU Operator v26.7.1 is deployed", "a downgrade"],
                id="patch-downgrade",
            ),
            pytest.param(
                {GPU_OP: "v26.7.0"},
                [_at(versions.GPU_OPERATOR, "v26.7.0-rc.1")],
                ["a downgrade"],
                id="release-to-its-prerelease",
            ),
            pytest.param(
                {versions.KAMAJI.name: "26.7.1-edge"}, [versions.KAMAJI], [], id="edge-release"
            ),
            pytest.param(
                {GPU_OP: "not-a-version"}, [versions.GPU_OPERATOR], [], id="unparseable-record"
            ),
            pytest.param(
                {versions.CILIUM.name: "1.17.0"}, [versions.CALICO], [], id="removed-component"
            ),
            pytest.param(
                {versions.NVIDIA_DRIVER.name: "580.95.05"},
                [versions.NVIDIA_DRIVER],
                [],
                id="operand-has-no-policy",
            ),
        ],
    )
    def test_upgrade_path_problems(self, previous, components, expected):
        problems = versions.upgrade_path_problems(previous, components)
        if not expected:
            assert problems == []
            return
        assert len(problems) == 1, problems
        for fragment in expected:
            assert fragment in problems[0]

    def test_every_refusal_is_tagged_with_its_component(self):
        previous = {GPU_OP: "v25.10.1", versions.KYVERNO.name: "v1.20.0"}
        findings = versions.upgrade_path_findings(previous, DEFAULT_SET)
        assert [name for name, _ in findings] == [GPU_OP, versions.KYVERNO.name]

    def test_the_shipped_pins_move_from_each_previous_major_of_nvidias_operators(self):
        # A stack deployed with the previous major line of either operator upgrades in one
        # step to this release's pins.
        for component in (versions.GPU_OPERATOR, versions.NETWORK_OPERATOR):
            policy = component.upgrade
            assert policy is not None
            previous_line = ".".join(map(str, policy.line(policy.releases[-2])))
            problems = versions.upgrade_path_problems(
                {component.name: f"{previous_line}.0"}, [component]
            )
            assert problems == [], problems


BAD_TRANSITION = RdmaIncompatibility(
    gpu_operator_from="26.7.0",
    gpu_operator_before="26.8.0",
    network_operator_from=None,
    network_operator_before="26.4.0",
    reason="example: GPU Operator 26.7 needs Network Operator 26.4 for RDMA",
    source="test",
)


class TestRdmaOnTheWay:
    """The GPU Operator release is upgraded before the Network Operator's: for a while
    the new GPU Operator runs with the deployed Network Operator."""

    @pytest.mark.parametrize(
        ("previous", "rdma", "count"),
        [
            pytest.param({GPU_OP: "v26.3.3", NET_OP: "26.1.0"}, True, 1, id="bad-transition"),
            pytest.param({GPU_OP: "v26.3.3", NET_OP: "26.1.0"}, False, 0, id="no-rdma"),
            pytest.param({GPU_OP: "v26.3.3", NET_OP: "26.4.1"}, True, 0, id="good-transition"),
            pytest.param({GPU_OP: "v26.7.0", NET_OP: "26.1.0"}, True, 0, id="gpu-op-unchanged"),
            pytest.param({GPU_OP: "v26.3.3"}, True, 0, id="network-operator-fresh-install"),
            pytest.param({NET_OP: "26.1.0"}, True, 0, id="gpu-operator-fresh-install"),
        ],
    )
    def test_transition_pair(self, previous, rdma, count):
        components = [versions.GPU_OPERATOR, _at(versions.NETWORK_OPERATOR, "26.4.1")]
        problems = versions.upgrade_path_problems(
            previous, components, rdma=rdma, rdma_pairs=[BAD_TRANSITION]
        )
        findings = versions.upgrade_path_findings(
            previous, components, rdma=rdma, rdma_pairs=[BAD_TRANSITION]
        )
        rdma_problems = [m for tag, m in findings if tag == versions.RDMA_TRANSITION]
        assert len(rdma_problems) == count, problems
        assert [m for m in problems if "GPUDirect RDMA" in m] == rdma_problems
        if count:
            assert "with the deployed NVIDIA Network Operator 26.1.0" in rdma_problems[0]
            assert (
                "upgrade the Network Operator in an earlier deployment, keeping the GPU "
                "Operator at v26.3.3" in rdma_problems[0]
            )

    def test_the_final_pair_is_refused_by_the_compatibility_rules(self):
        # Confirms the division of labour: the end state is compatibility_problems'.
        problems = compatibility_problems(
            kubernetes="1.34.2", gpu_operator="25.1.0", network_operator="25.4.0", rdma=True
        )
        assert any(tag == "network_operator" and "known-bad pair" in m for tag, m in problems)
