"""helm_release: exact pins, mirrored repositories, no implicit namespaces, mirror list."""

from __future__ import annotations

import copy

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import mirrors
from components.helm import chart_reference, deep_merge, helm_release, release_args
from components.mirrors import MirrorList, Mirrors
from components.versions import HelmChart
from tests.support.mocks import RecordingMocks, run

HTTPS = HelmChart("https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0")
OCI = HelmChart("oci://ghcr.io/nvidia/kai-scheduler/", "kai-scheduler", "v0.13.0")
AIRGAP = Mirrors(
    chart_repositories={"https://helm.ngc.nvidia.com/nvidia": "oci://mirror.ncp.internal/ngc"},
    image_registries={"nvcr.io": "mirror.ncp.internal/nvcr"},
)


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        (HTTPS, ("gpu-operator", "https://helm.ngc.nvidia.com/nvidia")),
        (OCI, ("oci://ghcr.io/nvidia/kai-scheduler/kai-scheduler", None)),
    ],
)
def test_chart_reference(chart, expected):
    assert chart_reference(chart) == expected


@pytest.mark.parametrize(
    ("base", "overlay", "expected"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
        ({"a": [1]}, {"a": [2]}, {"a": [2]}),
        ({"a": {"b": 1}}, {"a": None}, {"a": None}),
        ({}, {"x": {"y": 1}}, {"x": {"y": 1}}),
    ],
)
def test_deep_merge(base, overlay, expected):
    before = copy.deepcopy(base)
    assert deep_merge(base, overlay) == expected
    assert base == before  # the input is not mutated


class TestReleaseArgs:
    def test_https_chart_through_oci_mirror(self):
        args = release_args(HTTPS, {"a": 1}, "gpu-operator", AIRGAP)
        assert args.chart == "oci://mirror.ncp.internal/ngc/gpu-operator"
        assert args.repository_opts is None
        assert args.version == "v26.7.0"

    def test_connected_https_chart(self):
        args = release_args(HTTPS, {}, "ns", Mirrors())
        assert args.chart == "gpu-operator"
        assert isinstance(args.repository_opts, k8s.helm.v3.RepositoryOptsArgs)
        assert args.repository_opts.repo == "https://helm.ngc.nvidia.com/nvidia"

    def test_fixed_flags(self):
        args = release_args(OCI, {}, "ns", Mirrors(), release_name="kai")
        assert args.name == "kai"
        assert args.create_namespace is False
        assert args.skip_await is False
        assert args.atomic is True
        assert args.chart == "oci://ghcr.io/nvidia/kai-scheduler/kai-scheduler"

    def test_release_name_defaults_to_chart(self):
        assert release_args(OCI, {}, "ns", Mirrors()).name == "kai-scheduler"

    def test_values_pass_through_unchanged(self):
        values = {"image": {"repository": "nvcr.io/nvidia"}, "list": [1, 2]}
        args = release_args(HTTPS, values, "ns", AIRGAP)
        assert args.values == values  # no hidden rewriting
        assert args.values is not values

    def test_registry_hook_is_merged_over_values(self):
        values = {"image": {"repository": "nvcr.io/nvidia", "tag": "v1"}}
        args = release_args(
            HTTPS,
            values,
            "ns",
            AIRGAP,
            registry_values=lambda m: {"image": {"repository": m.image_registry("nvcr.io/nvidia")}},
        )
        assert args.values == {
            "image": {"repository": "mirror.ncp.internal/nvcr/nvidia", "tag": "v1"}
        }
        assert values["image"]["repository"] == "nvcr.io/nvidia"


def test_helm_release_resource_and_mirror_list():
    mocks = RecordingMocks()
    mirrors.reset_stack_mirror_list()
    local = MirrorList()

    def program() -> None:
        provider = k8s.Provider("tenant-provider", kubeconfig="{}")
        helm_release(
            "acme-thing-release",
            HTTPS,
            {"x": 1},
            "thing",
            AIRGAP,
            pulumi.ResourceOptions(provider=provider),
            images=["nvcr.io/nvidia/gpu-operator:v26.7.0"],
            mirror_list=local,
        )

    run(program, mocks)
    release = mocks.one("kubernetes:helm.sh/v3:Release", "acme-thing-release")
    assert release.provider_urn == mocks.one("pulumi:providers:kubernetes", "tenant-provider").urn
    assert release.inputs["chart"] == "oci://mirror.ncp.internal/ngc/gpu-operator"
    assert release.inputs["version"] == "v26.7.0"
    assert release.inputs["namespace"] == "thing"
    assert release.inputs["createNamespace"] is False
    assert release.inputs["values"] == {"x": 1}
    for listing in (mirrors.stack_mirror_list(), local):
        output = listing.to_output()
        assert output["charts"] == [
            {
                "repository": "oci://mirror.ncp.internal/ngc",
                "chart": "gpu-operator",
                "version": "v26.7.0",
                "upstreamRepository": "https://helm.ngc.nvidia.com/nvidia",
            }
        ]
        assert output["images"] == [
            {
                "image": "mirror.ncp.internal/nvcr/nvidia/gpu-operator:v26.7.0",
                "upstream": "nvcr.io/nvidia/gpu-operator:v26.7.0",
            }
        ]


def test_helm_release_requires_an_explicit_provider():
    mirrors.reset_stack_mirror_list()
    with pytest.raises(ValueError, match="must carry the tenant cluster provider"):
        helm_release("x-release", HTTPS, {}, "ns", Mirrors(), pulumi.ResourceOptions())
    assert len(mirrors.stack_mirror_list()) == 0  # nothing recorded for a refused release
