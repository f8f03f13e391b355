"""DRA driver: values against the chart's known keys, ComputeDomains against the CRD."""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest

from components import mirrors
from components.gpu.dra_driver import (
    COMPUTE_DOMAIN_API_VERSION,
    ComputeDomain,
    DraDriver,
    DraDriverArgs,
    DraDriverSettings,
    dra_driver_images,
    render_compute_domain_spec,
    render_dra_driver_values,
)
from components.mirrors import Mirrors
from sandbox.documented_values import DOCUMENTED_VALUES_KEYS
from tests.support.mocks import RecordingMocks, run
from tests.support.upstream import assert_values_keys_known, validate_custom_resource

# AICR v0.11.1 ships values for this chart; the keys we set that AICR does not are
# listed, with their source in the upstream chart values.yaml, in
# sandbox/documented_values.py (the stand-in chart of the live tests allows the same).
AICR_VALUES = "aicr/recipes/components/nvidia-dra-driver-gpu/values.yaml"
ALLOW = DOCUMENTED_VALUES_KEYS["dra-driver-nvidia-gpu"]

AIRGAP = Mirrors(image_registries={"registry.k8s.io": "mirror.ncp.internal/k8s"})
DOMAIN = ComputeDomain("nvl72-a", "team-a")


class TestValues:
    @pytest.mark.parametrize(
        "settings",
        [
            DraDriverSettings(),
            DraDriverSettings(gpu_resources=True, compute_domains=True, control_plane_nodes=False),
            DraDriverSettings(driver_root="/"),
        ],
        ids=["defaults", "everything", "host-driver"],
    )
    def test_keys_exist_in_the_chart(self, settings):
        assert_values_keys_known(
            render_dra_driver_values(settings, AIRGAP), AICR_VALUES, allow=ALLOW
        )

    def test_an_unlisted_key_still_fails(self):
        values = render_dra_driver_values(DraDriverSettings(), Mirrors())
        values["image"]["tag"] = "v0.4.0"
        with pytest.raises(AssertionError, match="image.tag"):
            assert_values_keys_known(values, AICR_VALUES, allow=ALLOW)

    def test_rendering(self):
        values = render_dra_driver_values(
            DraDriverSettings(gpu_resources=True, compute_domains=True, control_plane_nodes=False),
            AIRGAP,
        )
        assert values == {
            "nvidiaDriverRoot": "/run/nvidia/driver",
            "gpuResourcesEnabledOverride": True,
            "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": True}},
            "image": {
                "repository": "mirror.ncp.internal/k8s/dra-driver-nvidia/dra-driver-nvidia-gpu"
            },
            "controller": {"affinity": {"nodeAffinity": None}},
            # The chart's plugin tolerates nothing; GPU nodes are tainted nvidia.com/gpu.
            "kubeletPlugin": {
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ]
            },
        }

    def test_control_plane_affinity_kept_on_kubeadm(self):
        values = render_dra_driver_values(DraDriverSettings(control_plane_nodes=True), Mirrors())
        assert "controller" not in values

    def test_image_follows_the_chart_version(self):
        assert dra_driver_images(DraDriverSettings()) == [
            "registry.k8s.io/dra-driver-nvidia/dra-driver-nvidia-gpu:v0.4.0"
        ]


class TestComputeDomainSpec:
    @pytest.mark.parametrize(
        "domain",
        [DOMAIN, ComputeDomain("all", "team-b", allocation_mode="All", num_nodes=18)],
        ids=["single", "all-channels"],
    )
    def test_valid_against_the_crd(self, domain):
        spec = render_compute_domain_spec(domain)
        validate_custom_resource(
            COMPUTE_DOMAIN_API_VERSION, "ComputeDomain", spec, project="k8s-dra-driver-gpu"
        )
        # The GPU Operator ships the same CRD; it must accept our spec too.
        validate_custom_resource(
            COMPUTE_DOMAIN_API_VERSION, "ComputeDomain", spec, project="gpu-operator"
        )

    def test_claim_template_is_named_after_the_domain(self):
        assert render_compute_domain_spec(DOMAIN)["channel"]["resourceClaimTemplate"] == {
            "name": "nvl72-a"
        }

    def test_invalid_allocation_mode_fails_validation(self):
        spec = render_compute_domain_spec(ComputeDomain("x", "y", allocation_mode="Some"))
        with pytest.raises(AssertionError, match="'Some' is not one of"):
            validate_custom_resource(
                COMPUTE_DOMAIN_API_VERSION, "ComputeDomain", spec, project="k8s-dra-driver-gpu"
            )


class TestComponent:
    @pytest.mark.parametrize("compute_domains", [False, True])
    def test_children(self, compute_domains):
        mocks = RecordingMocks()
        mirrors.reset_stack_mirror_list()

        def program() -> None:
            provider = k8s.Provider("tenant-provider", kubeconfig="{}")
            DraDriver(
                "acme-dra-driver",
                DraDriverArgs(
                    provider=provider,
                    mirrors=AIRGAP,
                    settings=DraDriverSettings(compute_domains=compute_domains, domains=(DOMAIN,)),
                ),
            )

        run(program, mocks)
        component = mocks.one("gpu-caas:gpu:DraDriver", "acme-dra-driver")
        provider = mocks.one("pulumi:providers:kubernetes", "tenant-provider")
        children = [r for r in mocks.resources if r.type.startswith("kubernetes:")]
        expected = {"acme-dra-driver-namespace", "acme-dra-driver-release"}
        if compute_domains:
            expected.add("acme-dra-driver-cd-team-a-nvl72-a")
        assert {r.name for r in children} == expected
        for child in children:
            assert child.parent == component.urn, child.name
            assert child.provider_urn == provider.urn, child.name

        release = mocks.one("kubernetes:helm.sh/v3:Release", "acme-dra-driver-release")
        assert release.inputs["chart"] == (
            "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu"
        )
        assert release.inputs["version"] == "0.4.0"
        assert "repositoryOpts" not in release.inputs
        if compute_domains:
            cd = mocks.one(
                "kubernetes:resource.nvidia.com/v1beta1:ComputeDomain",
                "acme-dra-driver-cd-team-a-nvl72-a",
            )
            assert release.urn in cd.dependencies  # the CRD comes with the release
            assert cd.inputs["metadata"] == {"name": "nvl72-a", "namespace": "team-a"}
            validate_custom_resource(
                COMPUTE_DOMAIN_API_VERSION,
                "ComputeDomain",
                {k: cd.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")},
                project="k8s-dra-driver-gpu",
            )
        assert "mirror.ncp.internal/k8s/dra-driver-nvidia/dra-driver-nvidia-gpu:v0.4.0" in {
            i.image for i in mirrors.stack_mirror_list().images
        }
