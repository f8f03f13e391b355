"""Karpenter NodePools against the pinned v1.14.1 CRD, and the busy-GPU-node guarantees."""

from __future__ import annotations

import re
from typing import Any

import pytest

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


def render(
    pool: kp.GpuNodePool = POOL,
    provider: str = "cluster-api",
    disruption: kp.DisruptionSettings = DEFAULT_DISRUPTION,
) -> dict[str, Any]:
    return kp.render_node_pool(pool, tenant="acme", cloud_provider=provider, disruption=disruption)


def test_pins_the_v1_14_1_crd():
    assert crd_path("karpenter.sh", "NodePool").parent.name == "v1.14.1"


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
        assert render()["limits"] == {"nvidia.com/gpu": "32"}

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


class TestController:
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
