"""Pure renderers of TenantNamespaces."""

from __future__ import annotations

import pytest

from components.isolation import tenant_namespaces as tn

TEAM = tn.TeamNamespace("vision", "vision-train", 8, ("oidc:vision-admins",))


def test_psa_restricted_in_every_mode_pinned_to_cluster_minor() -> None:
    labels = tn.render_namespace_labels("acme", TEAM, tn.pod_security_version("1.34.2"))
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.34"
    assert labels["gpu-caas.io/tenant"] == "acme"
    assert labels["gpu-caas.io/team"] == "vision"


def test_pod_security_version_accepts_v_prefix() -> None:
    assert tn.pod_security_version("v1.35.0") == "v1.35"


def test_network_policies_default_deny_plus_dns_and_same_namespace() -> None:
    policies = tn.render_network_policies("vision-train")
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    [dns] = policies["allow-dns"]["egress"]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    same = policies["allow-same-namespace"]
    # An empty podSelector without namespaceSelector means "pods of this namespace" only.
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]


def test_quota_counts_gpus_by_device_plugin_and_by_dra_class() -> None:
    hard = tn.render_quota(TEAM, tn.QuotaDefaults(), ["gpu.nvidia.com", "mig.nvidia.com"])
    assert hard["requests.nvidia.com/gpu"] == "8"
    # Extended resources only accept the requests. prefix in quota.
    assert "limits.nvidia.com/gpu" not in hard
    assert hard["gpu.nvidia.com.deviceclass.resource.k8s.io/devices"] == "8"
    assert hard["mig.nvidia.com.deviceclass.resource.k8s.io/devices"] == "8"
    assert hard["services.nodeports"] == "0"
    assert hard["services.loadbalancers"] == "0"
    assert hard["pods"] == "200"


@pytest.mark.parametrize(
    ("per_gpu", "expected"),
    [
        ((), {}),
        ((("1g.10gb", 2), ("3g.40gb", 1)), {"1g.10gb": "16", "3g.40gb": "8"}),
        ((("1g.12gb", 7),), {"1g.12gb": "56"}),
    ],
)
def test_quota_caps_every_mig_profile_the_cluster_advertises(
    per_gpu: tuple[tuple[str, int], ...], expected: dict[str, str]
) -> None:
    """Mixed-strategy MIG nodes advertise `nvidia.com/mig-<profile>`, not `nvidia.com/gpu`:
    a team's GPU quota must cap them too (8 GPUs yield 8 x instances per GPU)."""
    hard = tn.render_quota(TEAM, tn.QuotaDefaults(), [], per_gpu)
    mig = {k.removeprefix("requests.nvidia.com/mig-"): v for k, v in hard.items() if "mig-" in k}
    assert mig == expected


def test_quota_without_gpu_quota_has_no_gpu_lines() -> None:
    team = tn.TeamNamespace("web", "web", None)
    hard = tn.render_quota(team, tn.QuotaDefaults(requests_cpu="8"), ["gpu.nvidia.com"])
    assert not [k for k in hard if "gpu" in k]
    assert hard["requests.cpu"] == "8"


def test_limit_range_defaults_every_container() -> None:
    [limit] = tn.render_limit_range(tn.LimitDefaults())["limits"]
    assert limit["type"] == "Container"
    assert limit["defaultRequest"] == {"cpu": "100m", "memory": "256Mi"}
    assert limit["default"] == {"cpu": "2", "memory": "4Gi"}


def test_tenant_admin_rules_are_explicit_and_guardrails_read_only() -> None:
    for rule in tn.TENANT_ADMIN_RULES:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
    writable = {
        res
        for rule in tn.TENANT_ADMIN_RULES
        for res in rule["resources"]
        if set(rule["verbs"]) - {"get", "list", "watch"}
    }
    assert not writable & {
        "networkpolicies",
        "resourcequotas",
        "limitranges",
        "rolebindings",
        "roles",
    }
    assert {"resourceclaims", "pods", "deployments"} <= writable


def test_role_binding_subjects_are_idp_groups() -> None:
    assert tn.render_role_binding_subjects(TEAM) == [
        {"kind": "Group", "name": "oidc:vision-admins", "apiGroup": "rbac.authorization.k8s.io"}
    ]
