"""KAI scheduler: values, queues and topology against the upstream chart and CRDs."""

from __future__ import annotations

import pytest

from components.mirrors import Mirrors
from components.naming import LABEL_NVLINK_DOMAIN, LABEL_RACK
from components.services import kai_scheduler as kai
from tests.components.services.conftest import (
    assert_component_children,
    is_tenant_provider,
    run,
    tenant_provider,
)
from tests.components.services.documented_values import KAI_UPSTREAM_KEYS
from tests.support.upstream import assert_values_keys_known, validate_custom_resource

AICR_VALUES = "aicr/recipes/components/kai-scheduler/values.yaml"


class TestValues:
    def test_values_keys_exist_in_chart(self):
        values = kai.render_values(
            Mirrors(), placement_strategy="binpack", create_default_queue=True
        )
        # AICR's file carries the overrides NVIDIA ships; the other keys are from the
        # upstream chart values.yaml (documented_values.KAI_UPSTREAM_KEYS).
        assert_values_keys_known(values, AICR_VALUES, allow=KAI_UPSTREAM_KEYS)

    def test_follows_aicr_overrides(self):
        values = kai.render_values(
            Mirrors(), placement_strategy="spread", create_default_queue=False
        )
        assert values["admission"]["gpuPodRuntimeClassName"] == ""
        assert values["postCleanup"]["enabled"] is False
        assert values["scheduler"]["placementStrategy"] == "spread"
        assert values["defaultQueue"]["createDefaultQueue"] is False

    @pytest.mark.parametrize(
        ("mirrors", "registry"),
        [
            (Mirrors(), "ghcr.io/nvidia/kai-scheduler"),
            (
                Mirrors(image_registries={"ghcr.io": "mirror.ncp/ghcr"}),
                "mirror.ncp/ghcr/nvidia/kai-scheduler",
            ),
        ],
    )
    def test_registry_follows_mirror(self, mirrors, registry):
        values = kai.render_values(mirrors, placement_strategy="binpack", create_default_queue=True)
        assert values["global"]["registry"] == registry

    def test_images_are_pinned_to_the_chart_version(self):
        images = kai.images()
        assert "ghcr.io/nvidia/kai-scheduler/scheduler:v0.13.0" in images
        assert all(image.endswith(":v0.13.0") for image in images)


TEAMS = (
    kai.TeamQueue("research", gpu_quota=16),
    kai.TeamQueue("inference", gpu_quota=8, gpu_limit=12),
    kai.TeamQueue("interns", gpu_quota=0.5),
)


class TestQueues:
    def test_every_queue_is_valid_against_the_crd(self):
        settings = kai.QueueSettings(preempt_min_runtime="10m", reclaim_min_runtime="1h")
        for spec in kai.render_queues("acme", TEAMS, settings).values():
            validate_custom_resource(kai.QUEUE_API_VERSION, "Queue", spec)

    def test_department_quota_is_the_sum_of_team_quotas(self):
        queues = kai.render_queues("acme", TEAMS, kai.QueueSettings())
        assert list(queues) == ["acme", "research", "inference", "interns"]
        assert queues["acme"]["resources"]["gpu"]["quota"] == pytest.approx(24.5)
        assert "parentQueue" not in queues["acme"]
        assert {queues[t.name]["parentQueue"] for t in TEAMS} == {"acme"}

    @pytest.mark.parametrize(
        ("burst", "team", "limit"),
        [
            (True, "research", kai.UNLIMITED),
            (False, "research", 16),
            (True, "inference", 12),  # an explicit limit wins
            (False, "inference", 12),
        ],
    )
    def test_gpu_limit(self, burst, team, limit):
        queues = kai.render_queues("acme", TEAMS, kai.QueueSettings(burst_beyond_quota=burst))
        assert queues[team]["resources"]["gpu"]["limit"] == limit

    def test_cpu_and_memory_are_not_capped(self):
        queues = kai.render_queues("acme", TEAMS, kai.QueueSettings())
        for resource in ("cpu", "memory"):
            assert queues["research"]["resources"][resource] == {
                "quota": 0,
                "limit": kai.UNLIMITED,
                "overQuotaWeight": 1,
            }

    def test_rejects_team_named_like_the_tenant(self):
        with pytest.raises(ValueError, match="department queue"):
            kai.render_queues("acme", (kai.TeamQueue("acme", 1),), kai.QueueSettings())

    def test_rejects_duplicate_teams(self):
        with pytest.raises(ValueError, match="repeated: a"):
            kai.render_queues(
                "acme", (kai.TeamQueue("a", 1), kai.TeamQueue("a", 2)), kai.QueueSettings()
            )

    def test_typo_would_be_caught(self):
        spec = kai.render_queues("acme", TEAMS, kai.QueueSettings())["research"]
        spec["resources"]["gpu"]["overquotaWeight"] = 1
        with pytest.raises(AssertionError, match="overquotaWeight"):
            validate_custom_resource(kai.QUEUE_API_VERSION, "Queue", spec)


class TestGpuUnits:
    """What KAI v0.13.0 counts against a queue's `gpu` quota, per physical GPU."""

    @pytest.mark.parametrize(
        ("resources", "units"),
        [
            ({"nvidia.com/gpu": 1}, 1),  # exclusive
            ({"nvidia.com/gpu": 7}, 7),  # MIG single strategy: instances are nvidia.com/gpu
            # MIG mixed: each instance counts its compute slices (`<g>` of the name).
            ({"nvidia.com/mig-1g.10gb": 7}, 7),
            ({"nvidia.com/mig-3g.40gb": 2}, 6),
            (
                {
                    "nvidia.com/mig-3g.47gb": 1,
                    "nvidia.com/mig-2g.24gb": 1,
                    "nvidia.com/mig-1g.12gb": 2,
                },
                7,
            ),
            # Time-sliced and MPS replicas (renameByDefault) are no GPUs to KAI.
            ({"nvidia.com/gpu.shared": 4}, 0),
            ({"nvidia.com/mig-1g.10gb.shared": 14}, 0),
            # DRA: a GPU DeviceClass counts per device; MIG devices' class has no `gpu`.
            ({"gpu.nvidia.com": 1}, 1),
            ({"mig.nvidia.com": 7}, 0),
            ({"nvidia.com/mig-1c.3g.40gb": 1}, 0),  # not a profile KAI parses
            ({}, 0),
        ],
    )
    def test_kai_gpu_units(self, resources, units):
        assert kai.kai_gpu_units(resources) == units


class TestTopology:
    def test_valid_against_crd(self):
        spec = kai.render_topology([LABEL_NVLINK_DOMAIN, LABEL_RACK, kai.HOSTNAME_LABEL])
        validate_custom_resource(kai.TOPOLOGY_API_VERSION, "Topology", spec)
        assert [level["nodeLabel"] for level in spec["levels"]] == [
            "gpu-caas.io/nvlink-domain",
            "gpu-caas.io/rack",
            "kubernetes.io/hostname",
        ]

    # The CRD's CEL rules are not evaluated by the oracle; render_topology enforces them.
    @pytest.mark.parametrize(
        ("labels", "message"),
        [
            ([], "at least one level"),
            ([LABEL_RACK, LABEL_RACK], "unique"),
            ([kai.HOSTNAME_LABEL, LABEL_RACK], "lowest"),
        ],
    )
    def test_cel_rules(self, labels, message):
        with pytest.raises(ValueError, match=message):
            kai.render_topology(labels)


class TestComponent:
    def test_house_rule_helper_catches_a_default_provider(self, mocks):
        import pulumi_kubernetes as k8s

        def build():
            return k8s.core.v1.Namespace("stray", metadata={"name": "stray"}).urn

        run(mocks, build)
        with pytest.raises(AssertionError, match="stray"):
            for resource in mocks.kubernetes_resources():
                assert is_tenant_provider(resource), resource.name

    def test_resources_names_parents_providers(self, mocks):
        def build():
            return kai.KaiScheduler(
                "acme-kai",
                kai.KaiSchedulerArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    teams=TEAMS,
                    topology_labels=(LABEL_RACK, kai.HOSTNAME_LABEL),
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, kai.TYPE, "acme-kai")
        names = {child.name for child in children}
        assert names == {
            "acme-kai-namespace",
            "acme-kai-release",
            "acme-kai-queue-acme",
            "acme-kai-queue-research",
            "acme-kai-queue-inference",
            "acme-kai-queue-interns",
            "acme-kai-topology",
        }
        release = mocks.named("acme-kai-release")
        assert release.inputs["chart"] == "oci://ghcr.io/nvidia/kai-scheduler/kai-scheduler"
        assert release.inputs["version"] == "v0.13.0"
        queue = mocks.named("acme-kai-queue-research")
        assert queue.inputs["metadata"]["name"] == "research"
        assert queue.inputs["spec"]["parentQueue"] == "acme"
        topology = mocks.named("acme-kai-topology")
        assert topology.inputs["metadata"]["name"] == kai.TOPOLOGY_NAME

    def test_no_topology_without_labels(self, mocks):
        def build():
            return kai.KaiScheduler(
                "acme-kai",
                kai.KaiSchedulerArgs(provider=tenant_provider(), mirrors=Mirrors(), tenant="acme"),
            ).urn

        run(mocks, build)
        assert not [r for r in mocks.resources if r.name == "acme-kai-topology"]
        assert mocks.named("acme-kai-queue-acme").inputs["spec"]["resources"]["gpu"]["quota"] == 0
