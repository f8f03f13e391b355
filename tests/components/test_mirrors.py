"""Mirror rewriting and the mirror list."""

from __future__ import annotations

import pytest

from components import mirrors as mirrors_module
from components.mirrors import MirrorList, Mirrors, normalize_image
from components.versions import HelmChart

NGC = HelmChart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0")
KAI = HelmChart("oci://ghcr.io/nvidia/kai-scheduler", "kai-scheduler", "v0.13.0")

AIRGAP = Mirrors(
    chart_repositories={"https://helm.ngc.nvidia.com/nvidia/": "https://charts.ncp.internal/ngc"},
    default_chart_repository="oci://mirror.ncp.internal/charts",
    image_registries={
        "nvcr.io": "mirror.ncp.internal/nvcr",
        "nvcr.io/nvidia/k8s": "mirror.ncp.internal/nvidia-k8s",
        "docker.io": "mirror.ncp.internal/hub",
    },
)


class TestNormalizeImage:
    @pytest.mark.parametrize(
        ("reference", "expected"),
        [
            ("busybox", "docker.io/library/busybox"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("kyverno/kyverno:v1.19.0", "docker.io/kyverno/kyverno:v1.19.0"),
            ("nvcr.io/nvidia/driver:595", "nvcr.io/nvidia/driver:595"),
            ("localhost/img", "localhost/img"),
            ("registry:5000/img:tag", "registry:5000/img:tag"),
        ],
    )
    def test_fully_qualifies(self, reference, expected):
        assert normalize_image(reference) == expected

    def test_empty_reference_is_rejected(self):
        with pytest.raises(ValueError, match="empty image reference"):
            normalize_image("  ")


class TestCharts:
    def test_no_mirrors_keeps_upstream(self):
        assert Mirrors().chart(NGC) == NGC
        assert not Mirrors().is_air_gapped

    def test_exact_repository_map_ignores_trailing_slash(self):
        mirrored = AIRGAP.chart(NGC)
        assert mirrored == HelmChart("https://charts.ncp.internal/ngc", "gpu-operator", "v26.7.0")

    def test_default_mirror_for_unlisted_repositories(self):
        mirrored = AIRGAP.chart(KAI)
        assert mirrored.repository == "oci://mirror.ncp.internal/charts"
        assert (mirrored.chart, mirrored.version) == ("kai-scheduler", "v0.13.0")

    def test_version_is_never_changed(self):
        assert all(AIRGAP.chart(c).version == c.version for c in (NGC, KAI))


class TestImages:
    @pytest.mark.parametrize(
        ("repository", "expected"),
        [
            ("nvcr.io/nvidia", "mirror.ncp.internal/nvcr/nvidia"),
            ("nvcr.io", "mirror.ncp.internal/nvcr"),
            # the longest matching prefix wins
            ("nvcr.io/nvidia/k8s", "mirror.ncp.internal/nvidia-k8s"),
            ("nvcr.io/nvidia/k8sx", "mirror.ncp.internal/nvcr/nvidia/k8sx"),
            # only whole path segments match
            ("nvcr.iox/nvidia", "nvcr.iox/nvidia"),
            (
                "registry.k8s.io/nfd/node-feature-discovery",
                "registry.k8s.io/nfd/node-feature-discovery",
            ),
        ],
    )
    def test_image_registry(self, repository, expected):
        assert AIRGAP.image_registry(repository) == expected

    @pytest.mark.parametrize(
        ("reference", "expected"),
        [
            (
                "nvcr.io/nvidia/driver:595.91.07-ubuntu24.04",
                "mirror.ncp.internal/nvcr/nvidia/driver:595.91.07-ubuntu24.04",
            ),
            (
                "nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0",
                "mirror.ncp.internal/nvidia-k8s/dcgm-exporter:4.6.0",
            ),
            ("kyverno/kyverno:v1.19.0", "mirror.ncp.internal/hub/kyverno/kyverno:v1.19.0"),
            (
                "nvcr.io/nvidia/gpu-operator@sha256:abc",
                "mirror.ncp.internal/nvcr/nvidia/gpu-operator@sha256:abc",
            ),
            (
                "nvcr.io/nvidia/gpu-operator:v1@sha256:abc",
                "mirror.ncp.internal/nvcr/nvidia/gpu-operator:v1@sha256:abc",
            ),
            ("quay.io/cilium/cilium:v1.19.5", "quay.io/cilium/cilium:v1.19.5"),
        ],
    )
    def test_image(self, reference, expected):
        assert AIRGAP.image(reference) == expected


class TestMirrorList:
    def test_deterministic_sorted_and_deduplicated(self):
        first, second = MirrorList(), MirrorList()
        first.add_chart(KAI, AIRGAP)
        first.add_chart(NGC, AIRGAP)
        first.add_images(["nvcr.io/nvidia/driver:1", "busybox"], AIRGAP)
        second.add_images(["busybox", "nvcr.io/nvidia/driver:1", "busybox"], AIRGAP)
        second.add_chart(NGC, AIRGAP)
        second.add_chart(KAI, AIRGAP)
        second.add_chart(KAI, AIRGAP)
        assert first.to_output() == second.to_output()
        assert len(first) == 4

    def test_output_shape_records_upstream_and_mirror(self):
        listing = MirrorList()
        listing.add_chart(NGC, AIRGAP)
        listing.add_images(["nvcr.io/nvidia/driver:1"], AIRGAP)
        assert listing.to_output() == {
            "charts": [
                {
                    "repository": "https://charts.ncp.internal/ngc",
                    "chart": "gpu-operator",
                    "version": "v26.7.0",
                    "upstreamRepository": "https://helm.ngc.nvidia.com/nvidia",
                }
            ],
            "images": [
                {
                    "image": "mirror.ncp.internal/nvcr/nvidia/driver:1",
                    "upstream": "nvcr.io/nvidia/driver:1",
                }
            ],
        }

    def test_merge(self):
        a, b = MirrorList(), MirrorList()
        a.add_chart(NGC, Mirrors())
        b.add_chart(KAI, Mirrors())
        a.merge(b)
        assert [c.chart for c in a.charts] == ["gpu-operator", "kai-scheduler"]


def test_stack_mirror_list_records_and_resets():
    mirrors_module.reset_stack_mirror_list()
    mirrors_module.record_chart(NGC, AIRGAP)
    mirrors_module.record_images(["busybox"], AIRGAP)
    listing = mirrors_module.stack_mirror_list()
    assert [c.chart for c in listing.charts] == ["gpu-operator"]
    assert [i.image for i in listing.images] == ["mirror.ncp.internal/hub/library/busybox"]
    mirrors_module.reset_stack_mirror_list()
    assert len(mirrors_module.stack_mirror_list()) == 0
