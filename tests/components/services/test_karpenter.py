"""Karpenter NodePools against the pinned v1.14.1 CRD, and the busy-GPU-node guarantees."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from components.gpu.gpu_operator import NodeGroupGpu, Sharing
from components.mirrors import Mirrors
from components.services import karpenter as kp
from tests.components.services.conftest import assert_component_children, run, tenant_provider
from tests.components.services.documented_values import (
    KARPENTER_AWS_KEYS,
    assert_keys_documented,
)
from tests.support.upstream import crd_path, validate_custom_resource

CAPI = kp.NodeClassReference("karpenter.cluster.x-k8s.io", "ClusterAPINodeClass", "gpu")
POOL = kp.GpuNodePool(
    name="h100",
    max_nodes=4,
    gpus_per_node=8,
    node_class_ref=CAPI,
    gpu_products=("NVIDIA-H100-80GB-HBM3",),
    instance_types=("hgx-h100",),
    requirements=(("example.com/fabric", "In", ("ib",)), ("example.com/spot", "DoesNotExist", ())),
    labels={"example.com/team": "research"},
    taints=(kp.Taint("example.com/dedicated", "NoSchedule", "research"),),
)


DEFAULT_DISRUPTION = kp.DisruptionSettings()

H100 = "H100-80GB"


def shared(mode: str, replicas: int) -> NodeGroupGpu:
    """A time-sliced or MPS group as `stacks.platform_gpu.node_group_gpus` builds it."""
    return NodeGroupGpu("g", H100, Sharing(mode, replicas, rename_by_default=True))


def mig(layout: dict[str, int]) -> NodeGroupGpu:
    return NodeGroupGpu("g", H100, mig_layout=layout)


# The case: maxNodes 2 of 2-GPU nodes. `gpu` -> (what one node advertises,
# the NodePool limits). Every resource limit allows exactly 2 nodes.
SHARING_CASES: list[tuple[NodeGroupGpu | None, dict[str, int], dict[str, str]]] = [
    (None, {"nvidia.com/gpu": 2}, {"nodes": "2", "nvidia.com/gpu": "4"}),
    (NodeGroupGpu("g", H100), {"nvidia.com/gpu": 2}, {"nodes": "2", "nvidia.com/gpu": "4"}),
    # 4 replicas: 8 per node, so 16 for 2 nodes (a limit of nvidia.com/gpu: 4 stopped
    # the pool at one node).
    (
        shared("time-slicing", 4),
        {"nvidia.com/gpu.shared": 8},
        {"nodes": "2", "nvidia.com/gpu.shared": "16"},
    ),
    (shared("mps", 2), {"nvidia.com/gpu.shared": 4}, {"nodes": "2", "nvidia.com/gpu.shared": "8"}),
    # MIG single strategy: pods keep asking for nvidia.com/gpu, 7 per physical GPU.
    (mig({"1g.10gb": 7}), {"nvidia.com/gpu": 14}, {"nodes": "2", "nvidia.com/gpu": "28"}),
    # One instance per GPU: exactly what the instance type reports.
    (mig({"7g.80gb": 1}), {"nvidia.com/gpu": 2}, {"nodes": "2", "nvidia.com/gpu": "4"}),
    (
        mig({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}),
        {"nvidia.com/mig-1g.10gb": 4, "nvidia.com/mig-2g.20gb": 2, "nvidia.com/mig-3g.40gb": 2},
        {
            "nodes": "2",
            "nvidia.com/mig-1g.10gb": "8",
            "nvidia.com/mig-2g.20gb": "4",
            "nvidia.com/mig-3g.40gb": "4",
        },
    ),
]
SHARING_IDS = [
    "default",
    "exclusive",
    "time-slicing",
    "mps",
    "mig-single",
    "mig-single-whole",
    "mig-mixed",
]


def sharing_pool(gpu: NodeGroupGpu | None) -> kp.GpuNodePool:
    return kp.GpuNodePool("shared", max_nodes=2, gpus_per_node=2, node_class_ref=CAPI, gpu=gpu)


def render(
    pool: kp.GpuNodePool = POOL,
    provider: str = "cluster-api",
    disruption: kp.DisruptionSettings = DEFAULT_DISRUPTION,
) -> dict[str, Any]:
    return kp.render_node_pool(pool, tenant="acme", cloud_provider=provider, disruption=disruption)


@pytest.mark.parametrize("kind", ["NodePool", "NodeOverlay"])
def test_pins_the_v1_14_1_crd(kind):
    assert crd_path("karpenter.sh", kind).parent.name == "v1.14.1"


class TestNodePool:
    @pytest.mark.parametrize(
        "disruption",
        [
            kp.DisruptionSettings(),
            kp.DisruptionSettings(
                consolidate_after="1h",
                expire_after="720h",
                termination_grace_period="48h",
                allow_drift_replacement=True,
                budgets=(
                    kp.BudgetSpec("1", reasons=("Empty",)),
                    kp.BudgetSpec("0", schedule="0 9 * * mon-fri", duration="8h"),
                ),
            ),
        ],
    )
    def test_valid_against_crd(self, disruption):
        validate_custom_resource(kp.NODEPOOL_API_VERSION, "NodePool", render(disruption=disruption))

    def test_never_consolidates_busy_nodes(self):
        disruption = render()["disruption"]
        assert disruption["consolidationPolicy"] == "WhenEmpty"
        # Required by the v1.14.1 CRD (no default there).
        assert disruption["consolidateAfter"] == "30m"

    def test_drift_only_replaces_empty_nodes_by_default(self):
        budgets = render()["disruption"]["budgets"]
        assert {"nodes": "0", "reasons": ["Drifted"]} in budgets
        allowed = render(disruption=kp.DisruptionSettings(allow_drift_replacement=True))
        assert all("Drifted" not in b.get("reasons", []) for b in allowed["disruption"]["budgets"])

    def test_nodes_never_expire_by_default(self):
        assert render()["template"]["spec"]["expireAfter"] == "Never"

    def test_limits_gpus(self):
        assert render()["limits"] == {"nodes": "4", "nvidia.com/gpu": "32"}

    @pytest.mark.parametrize(("gpu", "per_node", "limits"), SHARING_CASES, ids=SHARING_IDS)
    def test_limits_count_nodes_in_every_sharing_mode(self, gpu, per_node, limits):
        pool = sharing_pool(gpu)
        assert kp.advertised(pool) == per_node
        spec = render(pool)
        assert spec["limits"] == limits
        # No limit stops the pool before maxNodes nodes: each is maxNodes x one node.
        for resource, count in per_node.items():
            assert int(spec["limits"][resource]) == pool.max_nodes * count
        assert set(spec["limits"]) == {"nodes", *per_node}
        validate_custom_resource(kp.NODEPOOL_API_VERSION, "NodePool", spec)

    def test_nodes_is_a_limit_key_of_the_pinned_crd(self):
        """The v1.14.1 CRD describes `limits.nodes` (kubernetes-sigs/karpenter#2526)."""
        schema = yaml.safe_load(crd_path("karpenter.sh", "NodePool").read_text())
        (version,) = schema["spec"]["versions"]
        limits = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert "limits.nodes" in limits["limits"]["description"]

    def test_a_cpu_only_gpu_setting_is_refused(self):
        with pytest.raises(ValueError, match="need a GPU model"):
            render(sharing_pool(NodeGroupGpu("g")))

    def test_taints_gpu_nodes(self):
        taints = render()["template"]["spec"]["taints"]
        assert taints[0] == {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
        assert {
            "key": "example.com/dedicated",
            "value": "research",
            "effect": "NoSchedule",
        } in taints
        untainted = kp.GpuNodePool("cpu", 1, 1, CAPI, gpu_taint=False)
        assert render(untainted)["template"]["spec"]["taints"] == []

    def test_labels_node_group_and_tenant(self):
        labels = render()["template"]["metadata"]["labels"]
        assert labels == {
            "example.com/team": "research",
            "gpu-caas.io/node-group": "h100",
            "gpu-caas.io/tenant": "acme",
        }

    @pytest.mark.parametrize(
        ("provider", "key", "product"),
        [
            ("aws", "karpenter.k8s.aws/instance-gpu-name", "h100"),
            ("azure", "karpenter.azure.com/sku-gpu-name", "H100"),
            ("cluster-api", "nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"),
            ("custom", "nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"),
        ],
    )
    def test_gpu_product_requirement_per_provider(self, provider, key, product):
        pool = kp.GpuNodePool("h100", 1, 8, CAPI, gpu_products=(product,))
        requirements = render(pool, provider)["template"]["spec"]["requirements"]
        assert requirements == [{"key": key, "operator": "In", "values": [product]}]

    def test_extra_requirements_pass_through(self):
        requirements = render()["template"]["spec"]["requirements"]
        assert {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": ["hgx-h100"],
        } in requirements
        assert {"key": "example.com/spot", "operator": "DoesNotExist"} in requirements

    def test_requirements_never_empty(self):
        pool = kp.GpuNodePool("any", 1, 1, CAPI)
        assert render(pool)["template"]["spec"]["requirements"] == [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
        ]

    def test_cel_rules_hold(self):
        """The oracle skips CEL; assert the NodePool CRD's rules on what we render."""
        spec = render(
            disruption=kp.DisruptionSettings(
                budgets=(kp.BudgetSpec("0", schedule="@daily", duration="1h"),)
            )
        )
        for budget in spec["disruption"]["budgets"]:
            assert ("schedule" in budget) == ("duration" in budget)
        for requirement in spec["template"]["spec"]["requirements"]:
            assert requirement["key"] not in ("karpenter.sh/nodepool", "kubernetes.io/hostname")
            if requirement["operator"] == "In":
                assert requirement["values"]
        for label in spec["template"]["metadata"]["labels"]:
            assert not re.match(r"^[^/]*karpenter\.sh/", label)

    @pytest.mark.parametrize(
        "label", ["karpenter.sh/nodepool", "foo.karpenter.sh/x", "kubernetes.io/hostname"]
    )
    def test_rejects_labels_karpenter_reserves(self, label):
        pool = kp.GpuNodePool("h100", 1, 8, CAPI, labels={label: "x"})
        with pytest.raises(ValueError, match="reserved by Karpenter"):
            render(pool)

    def test_rejects_empty_capacity(self):
        with pytest.raises(ValueError, match="max_nodes"):
            render(kp.GpuNodePool("x", 0, 8, CAPI))

    def test_rejects_duplicate_pools(self):
        args = kp.KarpenterArgs(
            provider=None,  # type: ignore[arg-type]  # pure function, no resources
            mirrors=Mirrors(),
            tenant="acme",
            cloud_provider="custom",
            pools=(POOL, POOL),
        )
        with pytest.raises(ValueError, match="repeated: h100"):
            kp.render_node_pools(args)


class TestNodeOverlay:
    @pytest.mark.parametrize(("gpu", "per_node", "limits"), SHARING_CASES, ids=SHARING_IDS)
    def test_declares_what_a_node_advertises(self, gpu, per_node, limits):
        spec = kp.render_node_overlay(sharing_pool(gpu), "acme")
        if not kp.needs_node_overlay(per_node, 2):
            # Whole GPUs, one nvidia.com/gpu each: the instance type reports that already.
            assert spec is None
            return
        assert spec is not None
        capacity = {resource: str(count) for resource, count in per_node.items()}
        # Nodes of renamed or mixed-MIG pools advertise no whole GPU at all.
        capacity.setdefault("nvidia.com/gpu", "0")
        assert spec == {
            "weight": kp.OVERLAY_WEIGHT,
            "requirements": [
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["acme-shared"]}
            ],
            "capacity": capacity,
        }
        validate_custom_resource(kp.NODEOVERLAY_API_VERSION, "NodeOverlay", spec)
        self.assert_cel_rules_hold(spec)

    @staticmethod
    def assert_cel_rules_hold(spec: dict[str, Any]) -> None:
        """The oracle skips CEL; assert the NodeOverlay CRD's rules on what we render."""
        assert not set(spec["capacity"]) & {"cpu", "memory", "ephemeral-storage", "pods"}
        assert not ("price" in spec and "priceAdjustment" in spec)
        for requirement in spec["requirements"]:
            key = requirement["key"]
            domain = key.split("/", 1)[0]
            assert key in ("karpenter.sh/capacity-type", "karpenter.sh/nodepool") or (
                not domain.endswith("karpenter.sh")
            )
            assert key != "kubernetes.io/hostname"
            if requirement["operator"] in ("In", "NotIn"):
                assert requirement["values"]
            assert all(len(value) <= 63 for value in requirement.get("values", []))

    @pytest.mark.parametrize(
        ("resources", "gpus_per_node", "needed"),
        [
            ({"nvidia.com/gpu": 8}, 8, False),
            ({"nvidia.com/gpu": 56}, 8, True),
            ({"nvidia.com/gpu.shared": 32}, 8, True),
            ({"nvidia.com/mig-1g.10gb": 8}, 8, True),
        ],
    )
    def test_needs_node_overlay(self, resources, gpus_per_node, needed):
        assert kp.needs_node_overlay(resources, gpus_per_node) is needed

    def test_one_overlay_per_pool_that_needs_one(self):
        args = kp.KarpenterArgs(
            provider=None,  # type: ignore[arg-type]  # pure function, no resources
            mirrors=Mirrors(),
            tenant="acme",
            cloud_provider="custom",
            pools=(POOL, kp.GpuNodePool("ts", 2, 2, CAPI, gpu=shared("time-slicing", 4))),
        )
        overlays = kp.render_node_overlays(args)
        assert list(overlays) == ["acme-ts"]
        assert overlays["acme-ts"]["requirements"][0]["values"] == ["acme-ts"]
        # The overlay selects exactly the NodePool rendered for the same group.
        assert set(overlays) <= set(kp.render_node_pools(args))

    def test_a_node_pool_name_longer_than_a_label_value_is_refused(self):
        pool = kp.GpuNodePool("g" * 60, 1, 2, CAPI, gpu=shared("mps", 2))
        with pytest.raises(ValueError, match="longer than 63 characters"):
            kp.render_node_overlay(pool, "acme")


# aws/karpenter-provider-aws@v1.14.1 charts/karpenter/values.yaml: `settings.featureGates.
# nodeOverlay` (false by default; templates/deployment.yaml renders it into FEATURE_GATES
# as NodeOverlay=<value>).
KARPENTER_AWS_KEYS_WITH_GATE = KARPENTER_AWS_KEYS | {"settings.featureGates.nodeOverlay"}


class TestController:
    @pytest.mark.parametrize("node_overlay", [False, True])
    def test_node_overlay_gate_only_with_an_overlay(self, node_overlay):
        values = kp.render_controller_values(
            kp.ControllerSettings("aws", "acme"), Mirrors(), node_overlay=node_overlay
        )
        assert_keys_documented(values, KARPENTER_AWS_KEYS_WITH_GATE)
        gates = values["settings"].get("featureGates")
        assert gates == ({"nodeOverlay": True} if node_overlay else None)

    def test_aws_values_keys_documented(self):
        values = kp.render_controller_values(
            kp.ControllerSettings(
                "aws", "acme", service_account_annotations={"eks.amazonaws.com/role-arn": "arn"}
            ),
            Mirrors(),
        )
        assert_keys_documented(values, KARPENTER_AWS_KEYS, leaves={"serviceAccount.annotations"})
        assert values["settings"]["clusterName"] == "acme"


class TestComponent:
    def test_node_pools_without_controller(self, mocks):
        def build():
            return kp.Karpenter(
                "acme-karpenter",
                kp.KarpenterArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    cloud_provider="cluster-api",
                    pools=(POOL,),
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, kp.TYPE, "acme-karpenter")
        assert [c.name for c in children] == ["acme-karpenter-nodepool-h100"]
        pool = mocks.named("acme-karpenter-nodepool-h100")
        assert pool.inputs["metadata"]["name"] == "acme-h100"
        assert pool.inputs["apiVersion"] == "karpenter.sh/v1"
        validate_custom_resource(kp.NODEPOOL_API_VERSION, "NodePool", pool.inputs["spec"])

    def test_controller_for_aws(self, mocks):
        def build():
            return kp.Karpenter(
                "acme-karpenter",
                kp.KarpenterArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    cloud_provider="aws",
                    pools=(POOL,),
                    controller=kp.ControllerSettings("aws", "acme"),
                ),
            ).urn

        run(mocks, build)
        assert_component_children(mocks, kp.TYPE, "acme-karpenter")
        release = mocks.named("acme-karpenter-controller")
        assert release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
        assert release.inputs["version"] == "1.14.1"
        # Whole GPUs only: no NodeOverlay, so the alpha gate stays at the chart default.
        assert "featureGates" not in release.inputs["values"]["settings"]
        assert not [r for r in mocks.resources if r.name.startswith("acme-karpenter-nodeoverlay")]

    def test_node_overlay_for_a_time_sliced_pool(self, mocks):
        time_sliced = kp.GpuNodePool("ts", 2, 2, CAPI, gpu=shared("time-slicing", 4))

        def build():
            return kp.Karpenter(
                "acme-karpenter",
                kp.KarpenterArgs(
                    provider=tenant_provider(),
                    mirrors=Mirrors(),
                    tenant="acme",
                    cloud_provider="aws",
                    pools=(POOL, time_sliced),
                    controller=kp.ControllerSettings("aws", "acme"),
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, kp.TYPE, "acme-karpenter")
        assert sorted(c.name for c in children) == [
            "acme-karpenter-controller",
            "acme-karpenter-namespace",
            "acme-karpenter-nodeoverlay-ts",
            "acme-karpenter-nodepool-h100",
            "acme-karpenter-nodepool-ts",
        ]
        overlay = mocks.named("acme-karpenter-nodeoverlay-ts")
        assert overlay.inputs["apiVersion"] == "karpenter.sh/v1alpha1"
        assert overlay.inputs["metadata"]["name"] == "acme-ts"
        validate_custom_resource(kp.NODEOVERLAY_API_VERSION, "NodeOverlay", overlay.inputs)
        assert overlay.inputs["spec"]["capacity"] == {
            "nvidia.com/gpu": "0",
            "nvidia.com/gpu.shared": "8",
        }
        pool = mocks.named("acme-karpenter-nodepool-ts")
        validate_custom_resource(kp.NODEPOOL_API_VERSION, "NodePool", pool.inputs)
        assert pool.inputs["spec"]["limits"] == {"nodes": "2", "nvidia.com/gpu.shared": "16"}
        # The chart installs the NodeOverlay CRD; the gate makes the controller use it.
        release = mocks.named("acme-karpenter-controller")
        assert release.inputs["values"]["settings"]["featureGates"] == {"nodeOverlay": True}
        assert release.urn in overlay.dependencies
