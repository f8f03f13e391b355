"""Pure renderers of TenantNamespaces."""

from __future__ import annotations

import pytest

from components.isolation import tenant_namespaces as tn

TEAM = tn.TeamNamespace(
    "vision",
    "vision-train",
    (("requests.nvidia.com/gpu", 8), ("gpu.nvidia.com.deviceclass.resource.k8s.io/devices", 8)),
    ("oidc:vision-admins",),
)


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


def test_quota_is_the_defaults_plus_the_team_lines_as_given() -> None:
    hard = tn.render_quota(TEAM, tn.QuotaDefaults())
    assert hard == {
        "requests.cpu": "64",
        "requests.memory": "512Gi",
        "pods": "200",
        "persistentvolumeclaims": "50",
        "services.nodeports": "0",
        "services.loadbalancers": "0",
        "requests.nvidia.com/gpu": "8",
        "gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "8",
    }


@pytest.mark.parametrize(
    ("resource", "key"),
    [
        ("nvidia.com/gpu", "requests.nvidia.com/gpu"),
        ("nvidia.com/mig-1g.10gb", "requests.nvidia.com/mig-1g.10gb"),
        ("nvidia.com/gpu.shared", "requests.nvidia.com/gpu.shared"),
    ],
)
def test_extended_resources_are_quota_d_by_requests_only(resource: str, key: str) -> None:
    # Extended resources cannot be overcommitted: quota accepts `requests.` only.
    assert tn.quota_key(resource) == key


def test_dra_devices_are_quota_d_per_device_class() -> None:
    assert (
        tn.device_class_quota_key("mig.nvidia.com")
        == "mig.nvidia.com.deviceclass.resource.k8s.io/devices"
    )


def test_quota_without_gpu_lines_has_no_gpu_lines() -> None:
    team = tn.TeamNamespace("web", "web")
    hard = tn.render_quota(team, tn.QuotaDefaults(requests_cpu="8"))
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
