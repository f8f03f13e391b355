"""Kyverno ClusterPolicies and chart values, checked against the upstream CRD and values.yaml."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.isolation import kyverno as ky
from components.mirrors import Mirrors
from stacks.config.isolation import DEFAULT_PLATFORM_NAMESPACES, DEFAULT_PRIVILEGED_NAMESPACES
from tests.support.upstream import assert_values_keys_known, validate_custom_resource

PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexampleexampleexampleexampleexampl\n"
    "eexampleexampleexampleexampleexampleexampleexampleexampleexa==\n"
    "-----END PUBLIC KEY-----\n"
)
MIRRORS = Mirrors(
    image_registries={
        "nvcr.io": "mirror.ncp.internal/nvcr",
        "reg.kyverno.io": "mirror.ncp.internal/kyverno",
    }
)


NO_MIRRORS = Mirrors()


TEAMS = {"ml": ("ml", "ml-eval"), "research": ("research",)}
"""Teams that own node groups (`nodeGroups[].team`) -> their namespaces."""


def args(
    mirrors: Mirrors = NO_MIRRORS,
    verification: bool = True,
    team_namespaces: dict[str, tuple[str, ...]] | None = None,
) -> ky.KyvernoPoliciesArgs:
    return ky.KyvernoPoliciesArgs(
        tenant="acme",
        provider=None,  # type: ignore[arg-type]  # renderers never touch the provider
        platform_namespaces=DEFAULT_PLATFORM_NAMESPACES,
        privileged_namespaces={
            ns: tuple(str(c) for c in controls)
            for ns, controls in DEFAULT_PRIVILEGED_NAMESPACES.items()
        },
        allowed_registries=("nvcr.io", "registry.k8s.io"),
        verification=ky.ImageVerification(PUBLIC_KEY) if verification else None,
        mirrors=mirrors,
        team_namespaces=team_namespaces or {},
    )


def manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": ky.API_VERSION, "kind": ky.KIND, "metadata": {"name": name}, "spec": spec}


def all_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["rules"])


@pytest.mark.parametrize("mirrors", [Mirrors(), MIRRORS], ids=["upstream", "mirrored"])
def test_every_cluster_policy_is_valid_against_the_crd(mirrors: Mirrors) -> None:
    policies = ky.render_cluster_policies(args(mirrors))
    assert set(policies) == {
        "gpu-caas-pod-security",
        "gpu-caas-host-access",
        "gpu-caas-image-registries",
        "gpu-caas-no-nodeport",
        "gpu-caas-verify-nvidia-images",
    }
    for name, spec in policies.items():
        validate_custom_resource(ky.API_VERSION, ky.KIND, manifest(name, spec))


def test_team_policies_are_valid_against_the_crd_and_only_with_dedicated_groups() -> None:
    policies = ky.render_cluster_policies(args(team_namespaces=TEAMS))
    team_policies = {"gpu-caas-team-tolerations", "gpu-caas-team-nodes"}
    assert team_policies <= set(policies)
    assert not team_policies & set(ky.render_cluster_policies(args()))
    for name in team_policies:
        validate_custom_resource(ky.API_VERSION, ky.KIND, manifest(name, policies[name]))


def test_every_rule_enforces_and_fails_closed() -> None:
    for name, spec in ky.render_cluster_policies(args(team_namespaces=TEAMS)).items():
        # The deprecated policy-level action must not be used (per-rule failureAction).
        assert "validationFailureAction" not in spec, name
        assert spec["webhookConfiguration"]["failurePolicy"] == "Fail", name
        for rule in all_rules(spec):
            if "mutate" in rule:
                # Mutations admit nothing on their own; only the team toleration mutates.
                assert name == "gpu-caas-team-tolerations", (name, rule["name"])
                continue
            actions = (
                [rule["validate"]["failureAction"]]
                if "validate" in rule
                else [v["failureAction"] for v in rule["verifyImages"]]
            )
            assert actions and all(a == "Enforce" for a in actions), (name, rule["name"])


def test_background_scans_except_image_verification() -> None:
    policies = ky.render_cluster_policies(args())
    assert policies.pop("gpu-caas-verify-nvidia-images")["background"] is False
    assert all(spec["background"] is True for spec in policies.values())


def test_pod_security_restricted_outside_platform_namespaces() -> None:
    [rule] = ky.render_pod_security(["kube-system", "gpu-operator"])["rules"]
    assert rule["validate"]["podSecurity"] == {"level": "restricted", "version": "latest"}
    assert rule["exclude"]["any"][0]["resources"]["namespaces"] == ["gpu-operator", "kube-system"]


def test_host_access_exemptions_are_per_control() -> None:
    spec = ky.render_host_access(
        {"gpu-operator": ("privileged", "hostPath"), "monitoring": ("hostNetwork",)}
    )
    rules = {r["name"]: r for r in spec["rules"]}
    assert set(rules) == {
        "disallow-privileged",
        "disallow-hostpath",
        "disallow-hostnetwork",
        "disallow-hostpid",
        "disallow-hostipc",
    }

    def exempt(rule: str) -> list[str]:
        exclude = rules[rule].get("exclude", {"any": [{"resources": {"namespaces": []}}]})
        return list(exclude["any"][0]["resources"]["namespaces"])

    assert exempt("disallow-privileged") == ["gpu-operator"]
    assert exempt("disallow-hostnetwork") == ["monitoring"]
    assert exempt("disallow-hostpid") == []  # nobody: no exclude block at all
    assert "exclude" not in rules["disallow-hostpid"]


def test_registries_include_the_mirror() -> None:
    spec = ky.render_image_registries(["nvcr.io"], MIRRORS)
    pattern = spec["rules"][0]["validate"]["pattern"]["spec"]["containers"][0]["image"]
    assert pattern == "nvcr.io/* | mirror.ncp.internal/nvcr/* | mirror.ncp.internal/kyverno/*"


def test_verify_images_key_based_with_digests_and_mirrored_references() -> None:
    [rule] = ky.render_verify_images(ky.ImageVerification(PUBLIC_KEY), MIRRORS)["rules"]
    [verify] = rule["verifyImages"]
    assert verify["imageReferences"] == ["nvcr.io/nvidia/*", "mirror.ncp.internal/nvcr/nvidia/*"]
    assert verify["required"] and verify["mutateDigest"] and verify["verifyDigest"]
    keys = verify["attestors"][0]["entries"][0]["keys"]
    assert keys["publicKeys"] == PUBLIC_KEY
    # NVIDIA's legacy key-based signatures have no transparency-log entry.
    assert keys["rekor"] == {"ignoreTlog": True}


def test_verification_disabled_renders_no_verify_policy() -> None:
    assert "gpu-caas-verify-nvidia-images" not in ky.render_cluster_policies(
        args(verification=False)
    )


def test_no_nodeport_for_services_outside_platform() -> None:
    [rule] = ky.render_no_nodeport(["ingress-nginx"])["rules"]
    assert rule["match"]["any"][0]["resources"]["kinds"] == ["Service"]
    assert rule["validate"]["pattern"] == {"spec": {"=(type)": "!NodePort"}}


def test_team_tolerations_mutate_new_pods_of_each_team_only() -> None:
    spec = ky.render_team_tolerations(TEAMS)
    assert spec["background"] is False
    rules = {rule["name"]: rule for rule in spec["rules"]}
    assert list(rules) == ["ml", "research"]
    resources = rules["ml"]["match"]["any"][0]["resources"]
    assert resources == {
        "kinds": ["Pod"],
        "namespaces": ["ml", "ml-eval"],
        "operations": ["CREATE"],
    }
    [patch] = json.loads(rules["ml"]["mutate"]["patchesJson6902"])
    assert patch == {
        "op": "add",
        "path": "/spec/tolerations/-",
        "value": {
            "key": "gpu-caas.io/team",
            "operator": "Equal",
            "value": "ml",
            "effect": "NoSchedule",
        },
    }
    # Not added twice: the precondition counts the toleration already there.
    [precondition] = rules["ml"]["preconditions"]["all"]
    assert "value=='ml'" in precondition["key"] and precondition["value"] == 0


def test_team_nodes_refuse_other_namespaces_except_the_platform() -> None:
    spec = ky.render_team_nodes(TEAMS, ["kube-system", "gpu-operator"])
    rules = {rule["name"]: rule for rule in spec["rules"]}
    assert list(rules) == ["ml", "research"]
    assert rules["ml"]["exclude"]["any"][0]["resources"]["namespaces"] == [
        "gpu-operator",
        "kube-system",
        "ml",
        "ml-eval",
    ]
    validate = rules["research"]["validate"]
    assert validate["failureAction"] == "Enforce"
    assert "gpu-caas.io/team=research:NoSchedule" in validate["message"]
    [condition] = validate["deny"]["conditions"]["any"]
    assert condition == {
        "key": f"{{{{ {ky.tolerating_team_query('research')} | length(@) }}}}",
        "operator": "GreaterThan",
        "value": 0,
    }


@pytest.mark.parametrize("mirrors", [Mirrors(), MIRRORS], ids=["upstream", "mirrored"])
def test_chart_values_keys_are_known(mirrors: Mirrors) -> None:
    assert_values_keys_known(ky.render_values(3, mirrors), "kyverno/values.yaml")


def test_values_redirect_kyverno_images_to_the_mirror() -> None:
    assert "global" not in ky.render_values(3, Mirrors())
    values = ky.render_values(3, MIRRORS)
    assert values["global"] == {"image": {"registry": "mirror.ncp.internal/kyverno"}}
    assert values["admissionController"] == {"replicas": 3}
    assert values["features"]["policyExceptions"]["enabled"] is False
