"""The upstream oracles must accept valid input and reject every typo."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.support.upstream import (
    CRDS_ROOT,
    assert_values_keys_known,
    crd_path,
    strict_schema,
    validate_custom_resource,
)

CD = "resource.nvidia.com/v1beta1"


class TestCrdLookup:
    def test_finds_crd_by_group_and_kind(self):
        path = crd_path("nvidia.com", "ClusterPolicy")
        assert path.name == "nvidia.com_clusterpolicies.yaml"

    def test_pinned_release_copy_wins(self):
        # karpenter/ holds main and v1.14.1/; we pin 1.14.1.
        assert crd_path("karpenter.sh", "NodePool").parent.name == "v1.14.1"

    def test_ambiguous_crd_needs_project(self):
        with pytest.raises(AssertionError, match="pass project="):
            crd_path("resource.nvidia.com", "ComputeDomain")
        path = crd_path("resource.nvidia.com", "ComputeDomain", project="k8s-dra-driver-gpu")
        assert path.parent.name == "k8s-dra-driver-gpu"

    def test_unknown_kind_fails(self):
        with pytest.raises(AssertionError, match="no CRD for Nope.nvidia.com"):
            crd_path("nvidia.com", "Nope")

    def test_unserved_or_unknown_version_fails(self):
        with pytest.raises(AssertionError, match="no version 'v9'"):
            validate_custom_resource(
                "resource.nvidia.com/v9", "ComputeDomain", {}, project="k8s-dra-driver-gpu"
            )


class TestValidateCustomResource:
    GOOD = {"numNodes": 0, "channel": {"resourceClaimTemplate": {"name": "imex"}}}

    def test_valid_spec_passes(self):
        validate_custom_resource(CD, "ComputeDomain", self.GOOD, project="k8s-dra-driver-gpu")

    @pytest.mark.parametrize(
        ("spec", "error"),
        [
            # typo of a top-level field: would be pruned by the API server
            (
                {"numNode": 2, "channel": {"resourceClaimTemplate": {"name": "x"}}},
                "'numNode' was unexpected",
            ),
            # typo in a nested field (and the required one is then missing)
            ({"channel": {"resourceClaimTemplat": {"name": "x"}}}, "'resourceClaimTemplat'"),
            # wrong type
            (
                {"numNodes": "two", "channel": {"resourceClaimTemplate": {"name": "x"}}},
                "'two' is not of type 'integer'",
            ),
            # enum
            (
                {"channel": {"resourceClaimTemplate": {"name": "x"}, "allocationMode": "Many"}},
                "'Many' is not one of",
            ),
            # minimum
            (
                {"numNodes": -1, "channel": {"resourceClaimTemplate": {"name": "x"}}},
                "-1 is less than the minimum of 0",
            ),
        ],
    )
    def test_typos_and_bad_values_fail(self, spec, error):
        with pytest.raises(AssertionError) as failure:
            validate_custom_resource(CD, "ComputeDomain", spec, project="k8s-dra-driver-gpu")
        assert error in str(failure.value)

    def test_every_error_is_listed_with_its_path(self):
        spec = {"numNode": 1, "channel": {"resourceClaimTemplate": {"nam": "x"}}}
        with pytest.raises(AssertionError) as failure:
            validate_custom_resource(CD, "ComputeDomain", spec, project="k8s-dra-driver-gpu")
        text = str(failure.value)
        assert ".: Additional properties are not allowed ('numNode'" in text
        assert ".channel.resourceClaimTemplate: 'name' is a required property" in text
        assert "('nam' was unexpected)" in text

    def test_whole_manifest_is_validated_from_the_root(self):
        manifest = {
            "apiVersion": CD,
            "kind": "ComputeDomain",
            "metadata": {"name": "cd", "namespace": "team-a", "labels": {"a": "b"}},
            "spec": self.GOOD,
        }
        validate_custom_resource(CD, "ComputeDomain", manifest, project="k8s-dra-driver-gpu")
        manifest["spek"] = manifest.pop("spec")
        with pytest.raises(AssertionError, match="'spek' was unexpected"):
            validate_custom_resource(CD, "ComputeDomain", manifest, project="k8s-dra-driver-gpu")

    def test_manifest_kind_mismatch_fails(self):
        manifest = {"apiVersion": CD, "kind": "ComputeDomainClique", "spec": self.GOOD}
        with pytest.raises(AssertionError, match="expected resource.nvidia.com/v1beta1/Compute"):
            validate_custom_resource(CD, "ComputeDomain", manifest, project="k8s-dra-driver-gpu")

    def test_large_crd_typo_fails(self):
        # Kyverno's 1.4 MB CRD: a typo deep inside a rule is caught.
        policy = {"rules": [{"name": "r", "matchh": {"any": []}}]}
        with pytest.raises(AssertionError, match="'matchh' was unexpected"):
            validate_custom_resource("kyverno.io/v1", "ClusterPolicy", policy)

    def test_gpu_operator_cluster_policy_typo_fails(self):
        good = {"driver": {"enabled": True}, "toolkit": {"enabled": True}}
        schema_errors = _errors("nvidia.com/v1", "ClusterPolicy", good)
        # Required top-level operands are reported, but not our two fields.
        assert not any("driver" in e or "toolkit" in e for e in schema_errors)
        bad = {"driver": {"enabeld": True}}
        assert any(
            "'enabeld' was unexpected" in e for e in _errors("nvidia.com/v1", "ClusterPolicy", bad)
        )


def _errors(api_version: str, kind: str, spec: dict[str, Any]) -> list[str]:
    try:
        validate_custom_resource(api_version, kind, spec)
    except AssertionError as failure:
        return str(failure).splitlines()[1:]
    return []


class TestStrictSchema:
    def test_objects_reject_unknown_fields(self):
        schema = strict_schema({"type": "object", "properties": {"a": {"type": "string"}}})
        assert schema["additionalProperties"] is False

    def test_preserve_unknown_fields_stays_open(self):
        schema = strict_schema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        assert "additionalProperties" not in schema

    def test_maps_keep_their_value_schema(self):
        schema = strict_schema({"type": "object", "additionalProperties": {"type": "string"}})
        assert schema["additionalProperties"] == {"type": "string"}

    def test_int_or_string(self):
        schema = strict_schema({"x-kubernetes-int-or-string": True})
        assert schema == {"anyOf": [{"type": "integer"}, {"type": "string"}]}

    def test_embedded_resource_accepts_type_meta(self):
        schema = strict_schema({"type": "object", "x-kubernetes-embedded-resource": True})
        assert set(schema["properties"]) == {"apiVersion", "kind", "metadata"}
        assert schema["additionalProperties"] is False

    def test_nullable_and_cel_rules(self):
        schema = strict_schema(
            {"type": "string", "nullable": True, "x-kubernetes-validations": [{"rule": "x"}]}
        )
        assert schema == {"type": ["string", "null"]}


class TestValuesKeys:
    def test_known_keys_pass(self):
        values = {
            "driver": {"version": "1", "upgradePolicy": {"drain": {"enable": True}}},
            "operator": {"nodeSelector": {"any/label": "x"}},  # free-form leaf
            "devicePlugin": {"config": {"data": {"anything": "goes"}}},  # free-form path
        }
        assert_values_keys_known(values, "gpu-operator/values.yaml")

    @pytest.mark.parametrize(
        ("values", "path"),
        [
            ({"drivr": {"enabled": True}}, "drivr"),
            ({"driver": {"verison": "1"}}, "driver.verison"),
            ({"dcgmExporter": {"serviceMonitor": {"intervall": "1s"}}}, "serviceMonitor.intervall"),
            ({"migManager": {"config": {"nmae": "x"}}}, "migManager.config.nmae"),
        ],
    )
    def test_typos_fail(self, values, path):
        with pytest.raises(AssertionError, match=re.escape(path)):
            assert_values_keys_known(values, "gpu-operator/values.yaml")

    def test_map_where_upstream_has_a_scalar_fails(self):
        with pytest.raises(AssertionError, match="driver.version: upstream is a str"):
            assert_values_keys_known({"driver": {"version": {"x": 1}}}, "gpu-operator/values.yaml")

    def test_scalar_where_upstream_has_a_map_fails(self):
        with pytest.raises(AssertionError, match="driver.upgradePolicy: upstream is a map"):
            assert_values_keys_known({"driver": {"upgradePolicy": 1}}, "gpu-operator/values.yaml")

    def test_list_items_are_checked_against_upstream_items(self):
        path = ["backgroundController", "rbac", "coreClusterRole", "extraResources"]
        good = _nest(path, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
        assert_values_keys_known(good, "kyverno/values.yaml")
        bad = _nest(path, [{"apiGroups": [""], "resource": ["pods"], "verbs": ["get"]}])
        with pytest.raises(AssertionError, match=r"extraResources\[0\]\.resource: unknown key"):
            assert_values_keys_known(bad, "kyverno/values.yaml")

    def test_list_where_upstream_has_a_map_fails(self):
        bad: dict[str, Any] = {"config": {"webhooks": [{"namespaceSelector": {}}]}}
        with pytest.raises(
            AssertionError, match="config.webhooks: upstream is a map, we set a list"
        ):
            assert_values_keys_known(bad, "kyverno/values.yaml")

    def test_allow_list_admits_documented_keys(self):
        values = {"node-feature-discovery": {"image": {"repository": "mirror/nfd"}}}
        with pytest.raises(AssertionError):
            assert_values_keys_known(values, "gpu-operator/values.yaml")
        assert_values_keys_known(
            values, "gpu-operator/values.yaml", allow=["^node-feature-discovery.image"]
        )

    def test_anchored_allow_does_not_match_deeper_paths(self):
        values = {"driver": {"image2": "x"}}
        with pytest.raises(AssertionError):
            assert_values_keys_known(values, "gpu-operator/values.yaml", allow=["^image2"])

    def test_catches_real_misplaced_keys_in_aicr_values(self):
        # AICR v0.11.1 sets driver.maxParallelUpgrades (the chart reads
        # driver.upgradePolicy.maxParallelUpgrades) and the no-op useOpenKernelModules.
        aicr = yaml.safe_load(
            (CRDS_ROOT / "aicr/recipes/components/gpu-operator/values.yaml").read_text()
        )
        with pytest.raises(AssertionError) as failure:
            assert_values_keys_known(aicr, "gpu-operator/values.yaml")
        assert "driver.maxParallelUpgrades: unknown key" in str(failure.value)
        assert "driver.useOpenKernelModules: unknown key" in str(failure.value)


def _nest(path: list[str], leaf: Any) -> Any:
    value = leaf
    for key in reversed(path):
        value = {key: value}
    return value


def test_integral_floats_are_integers_but_fractions_and_bools_are_not():
    # The Pulumi engine serializes ints as floats; the API server accepts 2.0.
    spec = {"numNodes": 2.0, "channel": {"resourceClaimTemplate": {"name": "x"}}}
    validate_custom_resource(CD, "ComputeDomain", spec, project="k8s-dra-driver-gpu")
    for bad in (2.5, True):
        spec["numNodes"] = bad
        with pytest.raises(AssertionError, match="is not of type 'integer'"):
            validate_custom_resource(CD, "ComputeDomain", spec, project="k8s-dra-driver-gpu")


def test_partial_skips_required_but_not_unknown_fields():
    fragment = {"numNodes": 1}  # `channel` is required
    with pytest.raises(AssertionError, match="'channel' is a required property"):
        validate_custom_resource(CD, "ComputeDomain", fragment, project="k8s-dra-driver-gpu")
    validate_custom_resource(
        CD, "ComputeDomain", fragment, project="k8s-dra-driver-gpu", partial=True
    )
    with pytest.raises(AssertionError, match="'numNodez' was unexpected"):
        validate_custom_resource(
            CD, "ComputeDomain", {"numNodez": 1}, project="k8s-dra-driver-gpu", partial=True
        )
