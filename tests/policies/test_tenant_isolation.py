"""Unit tests of the tenant-isolation pack: each validator, clean and violating."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, PolicyProviderResource, StackValidationPolicy

from components.isolation.tenant_namespaces import (
    TENANT_ADMIN_RULES,
    LimitDefaults,
    QuotaDefaults,
    TeamNamespace,
    render_limit_range,
    render_namespace_labels,
    render_network_policies,
    render_quota,
)
from policies.gpu_caas_policies import tenant_isolation as ti
from tests.policies.helpers import (
    UNKNOWN,
    default_provider,
    run,
    run_resource,
    stack,
)

POD = "kubernetes:core/v1:Pod"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRONJOB = "kubernetes:batch/v1:CronJob"


def pod(namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "app", "image": "nvcr.io/nvidia/cuda:12"}]}
    base.update(spec)
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": base}


def test_every_policy_is_mandatory_with_a_unique_name() -> None:
    names = [p.name for p in ti.POLICIES]
    assert len(names) == len(set(names))
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in ti.POLICIES)


# --------------------------------------------------------------------------- #
# Providers
# --------------------------------------------------------------------------- #


class TestExplicitProvider:
    def test_explicit_provider_passes(self) -> None:
        assert (
            run_resource(
                ti.explicit_provider, "kubernetes:core/v1:Namespace", {"metadata": {"name": "a"}}
            )
            == []
        )

    def test_default_provider_fires_naming_resource_and_fix(self) -> None:
        [message] = run_resource(
            ti.explicit_provider,
            "kubernetes:core/v1:Namespace",
            {"metadata": {"name": "team-a"}},
            provider=default_provider(),
        )
        assert 'Namespace "team-a"' in message
        assert "default kubernetes provider" in message
        assert "provider=handle.provider" in message

    def test_non_kubernetes_and_component_types_are_ignored(self) -> None:
        for resource_type in ("command:remote:Command", "kubernetes:helm.sh/v4:Chart"):
            assert (
                run_resource(ti.explicit_provider, resource_type, {}, provider=default_provider())
                == []
            )

    def test_provider_without_kubeconfig_fires(self) -> None:
        [message] = run_resource(
            ti.provider_kubeconfig, "pulumi:providers:kubernetes", {}, name="k8s"
        )
        assert 'Kubernetes provider "k8s"' in message and "kubeconfig" in message

    def test_provider_with_unknown_kubeconfig_passes(self) -> None:
        # At a first preview the kubeconfig comes from a resource output: unknown.
        assert (
            run_resource(
                ti.provider_kubeconfig, "pulumi:providers:kubernetes", {"kubeconfig": UNKNOWN}
            )
            == []
        )


# --------------------------------------------------------------------------- #
# Namespace guardrails (stack policy)
# --------------------------------------------------------------------------- #


def guarded_namespace(namespace: str) -> list[tuple[str, str, dict[str, Any]]]:
    """What TenantNamespaces renders for one namespace (from the real renderers)."""
    team = TeamNamespace("a", namespace, (("requests.nvidia.com/gpu", 4),), ("idp:team-a",))
    resources: list[tuple[str, str, dict[str, Any]]] = [
        (
            ti.NAMESPACE,
            namespace,
            {
                "metadata": {
                    "name": namespace,
                    "labels": render_namespace_labels("acme", team, "v1.34"),
                }
            },
        )
    ]
    for name, spec in render_network_policies(namespace).items():
        resources.append(
            (
                ti.NETWORK_POLICY,
                f"{namespace}-{name}",
                {"metadata": {"name": name, "namespace": namespace}, "spec": spec},
            )
        )
    resources.append(
        (
            ti.RESOURCE_QUOTA,
            f"{namespace}-quota",
            {
                "metadata": {"name": "q", "namespace": namespace},
                "spec": {"hard": render_quota(team, QuotaDefaults())},
            },
        )
    )
    resources.append(
        (
            ti.LIMIT_RANGE,
            f"{namespace}-limits",
            {
                "metadata": {"name": "l", "namespace": namespace},
                "spec": render_limit_range(LimitDefaults()),
            },
        )
    )
    return resources


class TestNamespaceGuardrails:
    def test_policy_is_a_stack_policy(self) -> None:
        assert isinstance(ti.namespace_guardrails, StackValidationPolicy)

    def test_rendered_tenant_namespace_passes(self) -> None:
        assert run(ti.namespace_guardrails, stack(guarded_namespace("team-a"))) == []

    def test_bare_namespace_fires_listing_everything_missing(self) -> None:
        [message] = run(
            ti.namespace_guardrails, stack([(ti.NAMESPACE, "x", {"metadata": {"name": "team-b"}})])
        )
        assert 'Namespace "team-b"' in message
        for missing in (
            "pod-security.kubernetes.io/enforce",
            "default-deny NetworkPolicy",
            "ResourceQuota",
            "LimitRange",
            "TenantNamespaces",
        ):
            assert missing in message

    def test_platform_namespace_is_exempt(self) -> None:
        assert (
            run(
                ti.namespace_guardrails,
                stack([(ti.NAMESPACE, "x", {"metadata": {"name": "gpu-operator"}})]),
            )
            == []
        )

    def test_platform_namespaces_are_configurable(self) -> None:
        resources = [(ti.NAMESPACE, "x", {"metadata": {"name": "gpu-operator"}})]
        [message] = run(
            ti.namespace_guardrails,
            stack(resources, config={"platformNamespaces": ["kube-system"]}),
        )
        assert 'Namespace "gpu-operator"' in message

    def test_ingress_only_deny_is_not_enough(self) -> None:
        resources = [r for r in guarded_namespace("team-a") if r[0] != ti.NETWORK_POLICY]
        resources.append(
            (
                ti.NETWORK_POLICY,
                "deny-in",
                {
                    "metadata": {"name": "deny-in", "namespace": "team-a"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
                },
            )
        )
        [message] = run(ti.namespace_guardrails, stack(resources))
        assert "default-deny NetworkPolicy for Egress" in message

    def test_deny_with_selector_does_not_count(self) -> None:
        resources = [r for r in guarded_namespace("team-a") if r[0] != ti.NETWORK_POLICY]
        resources.append(
            (
                ti.NETWORK_POLICY,
                "deny",
                {
                    "metadata": {"name": "deny", "namespace": "team-a"},
                    "spec": {
                        "podSelector": {"matchLabels": {"app": "x"}},
                        "policyTypes": ["Ingress", "Egress"],
                    },
                },
            )
        )
        [message] = run(ti.namespace_guardrails, stack(resources))
        assert "Egress and Ingress" in message

    def test_baseline_label_fires(self) -> None:
        resources = guarded_namespace("team-a")
        resources[0] = (
            ti.NAMESPACE,
            "team-a",
            {"metadata": {"name": "team-a", "labels": {ti.PSA_ENFORCE_LABEL: "baseline"}}},
        )
        [message] = run(ti.namespace_guardrails, stack(resources))
        assert "restricted" in message and "LimitRange" not in message

    def test_management_cluster_namespace_is_not_a_tenant_namespace(self) -> None:
        # The hosted control plane's namespace lives on the provider's management cluster.
        args = stack([(ti.NAMESPACE, "tenant-acme", {"metadata": {"name": "tenant-acme"}})])
        args.resources[0].provider = PolicyProviderResource(
            "pulumi:providers:kubernetes", {}, "urn:x", "acme-control-plane-management"
        )
        assert run(ti.namespace_guardrails, args) == []

    def test_unknown_namespace_name_is_skipped_not_crashing(self) -> None:
        assert (
            run(
                ti.namespace_guardrails,
                stack([(ti.NAMESPACE, "x", {"metadata": {"name": UNKNOWN}})]),
            )
            == []
        )


# --------------------------------------------------------------------------- #
# RBAC
# --------------------------------------------------------------------------- #

CRB = ti.CLUSTER_ROLE_BINDING
RB = ti.ROLE_BINDING


def binding(
    role: str,
    subjects: list[dict[str, str]],
    namespace: str | None = None,
    kind: str = "ClusterRole",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "b"}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "metadata": metadata,
        "subjects": subjects,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
    }


GROUP = {"kind": "Group", "name": "idp:team-a", "apiGroup": "rbac.authorization.k8s.io"}


class TestClusterAdmin:
    def test_group_bound_to_cluster_admin_fires(self) -> None:
        [message] = run_resource(ti.no_cluster_admin, CRB, binding("cluster-admin", [GROUP]))
        assert 'ClusterRoleBinding "b"' in message
        assert "Group idp:team-a" in message and "tenant-admin Role" in message

    def test_rolebinding_to_cluster_admin_in_tenant_namespace_fires(self) -> None:
        assert run_resource(
            ti.no_cluster_admin, RB, binding("cluster-admin", [GROUP], namespace="team-a")
        )

    @pytest.mark.parametrize(
        "subject",
        [
            {"kind": "Group", "name": "system:masters"},
            {"kind": "ServiceAccount", "name": "gpu-operator", "namespace": "gpu-operator"},
        ],
    )
    def test_system_subjects_may_hold_cluster_admin(self, subject: dict[str, str]) -> None:
        assert run_resource(ti.no_cluster_admin, CRB, binding("cluster-admin", [subject])) == []

    @pytest.mark.parametrize(
        "subject",
        [
            {"kind": "Group", "name": "system:authenticated"},
            {"kind": "ServiceAccount", "name": "default", "namespace": "team-a"},
        ],
    )
    def test_everyone_groups_and_tenant_accounts_fire(self, subject: dict[str, str]) -> None:
        assert run_resource(ti.no_cluster_admin, CRB, binding("cluster-admin", [subject]))

    def test_other_roles_are_not_this_policys_business(self) -> None:
        assert run_resource(ti.no_cluster_admin, CRB, binding("view", [GROUP])) == []


class TestPlatformRights:
    def test_tenant_role_in_own_namespace_passes(self) -> None:
        assert (
            run_resource(
                ti.no_platform_rights, RB, binding("tenant-admin", [GROUP], "team-a", "Role")
            )
            == []
        )

    def test_tenant_binding_in_platform_namespace_fires(self) -> None:
        [message] = run_resource(
            ti.no_platform_rights, RB, binding("view", [GROUP], "gpu-operator")
        )
        assert 'platform namespace "gpu-operator"' in message
        assert "Remove the binding" in message

    def test_tenant_cluster_role_binding_fires(self) -> None:
        [message] = run_resource(ti.no_platform_rights, CRB, binding("view", [GROUP]))
        assert "every namespace" in message and "tenantClusterRoles" in message

    def test_allowlisted_cluster_role_passes(self) -> None:
        assert (
            run_resource(
                ti.no_platform_rights,
                CRB,
                binding("node-viewer", [GROUP]),
                config={"tenantClusterRoles": ["node-viewer"]},
            )
            == []
        )

    def test_platform_service_account_binding_passes(self) -> None:
        sa = {"kind": "ServiceAccount", "name": "kyverno", "namespace": "kyverno"}
        assert run_resource(ti.no_platform_rights, CRB, binding("kyverno", [sa])) == []


def role(rules: list[dict[str, Any]], namespace: str = "team-a") -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": namespace}, "rules": rules}


class TestTenantRoles:
    def test_rendered_tenant_admin_role_passes_every_role_policy(self) -> None:
        props = role([dict(r) for r in TENANT_ADMIN_RULES])
        for policy in (ti.no_wildcard_roles, ti.no_guardrail_writes, ti.no_escalation_verbs):
            assert run_resource(policy, ti.ROLE, props) == [], policy.name

    def test_wildcard_verbs_fire(self) -> None:
        [message] = run_resource(
            ti.no_wildcard_roles,
            ti.ROLE,
            role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]),
        )
        assert 'Role "team-a/r" rule 0 uses a wildcard in verbs' in message

    def test_wildcard_in_platform_namespace_is_out_of_scope(self) -> None:
        assert (
            run_resource(
                ti.no_wildcard_roles,
                ti.ROLE,
                role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], "kyverno"),
            )
            == []
        )

    def test_writing_network_policies_fires(self) -> None:
        [message] = run_resource(
            ti.no_guardrail_writes,
            ti.ROLE,
            role(
                [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "resources": ["networkpolicies"],
                        "verbs": ["get", "delete"],
                    }
                ]
            ),
        )
        assert "delete networkpolicies" in message and "get/list/watch" in message

    def test_escalation_verbs_fire(self) -> None:
        [message] = run_resource(
            ti.no_escalation_verbs,
            ti.ROLE,
            role(
                [
                    {
                        "apiGroups": ["rbac.authorization.k8s.io"],
                        "resources": ["roles"],
                        "verbs": ["bind", "escalate"],
                    }
                ]
            ),
        )
        assert "bind, escalate" in message


# --------------------------------------------------------------------------- #
# Workloads
# --------------------------------------------------------------------------- #


class TestWorkloads:
    def test_clean_pod_passes_every_workload_policy(self) -> None:
        for policy in (
            ti.no_privileged,
            ti.no_host_namespaces,
            ti.no_host_path,
            ti.no_added_capabilities,
        ):
            assert run_resource(policy, POD, pod()) == [], policy.name

    def test_privileged_container_fires(self) -> None:
        props = pod(containers=[{"name": "x", "securityContext": {"privileged": True}}])
        [message] = run_resource(ti.no_privileged, POD, props)
        assert "Pod \"team-a/p\" runs container 'x' privileged" in message
        assert "privilegedNamespaces" in message

    def test_privileged_init_container_in_deployment_fires(self) -> None:
        props = {
            "metadata": {"name": "d", "namespace": "team-a"},
            "spec": {
                "template": {
                    "spec": pod(
                        initContainers=[{"name": "i", "securityContext": {"privileged": True}}]
                    )["spec"]
                }
            },
        }
        [message] = run_resource(ti.no_privileged, DEPLOYMENT, props)
        assert "initContainer 'i'" in message

    def test_privileged_in_exempt_operator_namespace_passes(self) -> None:
        props = pod(
            "gpu-operator", containers=[{"name": "x", "securityContext": {"privileged": True}}]
        )
        assert run_resource(ti.no_privileged, POD, props) == []

    def test_privileged_in_non_exempt_platform_namespace_fires(self) -> None:
        props = pod(
            "karpenter", containers=[{"name": "x", "securityContext": {"privileged": True}}]
        )
        assert run_resource(ti.no_privileged, POD, props)

    def test_host_namespaces_fire(self) -> None:
        [message] = run_resource(
            ti.no_host_namespaces, POD, pod(hostNetwork=True, hostPID=True, hostIPC=False)
        )
        assert "hostNetwork, hostPID: true" in message

    def test_host_path_in_cronjob_fires(self) -> None:
        spec = pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}])["spec"]
        props = {
            "metadata": {"name": "c", "namespace": "team-a"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}},
        }
        [message] = run_resource(ti.no_host_path, CRONJOB, props)
        assert "hostPath '/'" in message and "PersistentVolumeClaim" in message

    def test_added_capabilities_fire_except_net_bind_service(self) -> None:
        caps = {"add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}
        props = pod(containers=[{"name": "x", "securityContext": {"capabilities": caps}}])
        [message] = run_resource(ti.no_added_capabilities, POD, props)
        assert "['SYS_ADMIN']" in message

    def test_unset_namespace_counts_as_tenant(self) -> None:
        props = {"metadata": {"name": "p"}, "spec": {"hostNetwork": True, "containers": []}}
        assert run_resource(ti.no_host_namespaces, POD, props)


class TestNodePort:
    SERVICE = ti.SERVICE

    def svc(self, namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
        return {"metadata": {"name": "s", "namespace": namespace}, "spec": spec}

    def test_cluster_ip_passes(self) -> None:
        assert run_resource(ti.no_nodeport, self.SERVICE, self.svc(type="ClusterIP")) == []

    def test_nodeport_fires(self) -> None:
        [message] = run_resource(ti.no_nodeport, self.SERVICE, self.svc(type="NodePort"))
        assert 'Service "team-a/s" is a NodePort Service' in message and "ClusterIP" in message

    def test_load_balancer_allocating_node_ports_fires(self) -> None:
        [message] = run_resource(ti.no_nodeport, self.SERVICE, self.svc(type="LoadBalancer"))
        assert "allocateLoadBalancerNodePorts: false" in message

    def test_load_balancer_without_node_ports_passes(self) -> None:
        props = self.svc(type="LoadBalancer", allocateLoadBalancerNodePorts=False)
        assert run_resource(ti.no_nodeport, self.SERVICE, props) == []

    def test_nodeport_in_platform_namespace_passes(self) -> None:
        props = self.svc("ingress-nginx", type="NodePort")
        assert run_resource(ti.no_nodeport, self.SERVICE, props) == []


class TestPreviewUnknowns:
    """Unknown preview values skip the check quietly (it runs again at `pulumi up`)."""

    def test_unknown_namespace_skips_workload_and_rbac_checks(self) -> None:
        props = pod(UNKNOWN, hostNetwork=True)
        assert run_resource(ti.no_host_namespaces, POD, props) == []
        role_props = {
            "metadata": {"name": "r", "namespace": UNKNOWN},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        }
        assert run_resource(ti.no_wildcard_roles, ti.ROLE, role_props) == []

    def test_partly_unknown_spec_waits_for_update(self) -> None:
        props = pod(hostNetwork=True, hostPID=UNKNOWN)
        # hostPID is unknown: the whole check waits for `pulumi up`, where it is known.
        assert run_resource(ti.no_host_namespaces, POD, props) == []
        assert run_resource(ti.no_host_namespaces, POD, pod(hostNetwork=True, hostPID=True))
