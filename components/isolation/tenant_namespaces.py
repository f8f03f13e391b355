"""`TenantNamespaces`: one locked-down namespace per team namespace.

Each namespace gets what makes a namespace a tenancy boundary (Multi-Tenancy
Benchmarks PL1/PL2, CIS Kubernetes 5.1-5.3):

* Pod Security Admission labels, `restricted` for enforce/audit/warn, pinned to the
  cluster's minor so an upgrade never silently changes what is enforced
  (https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-admission-labels-for-namespaces);
* NetworkPolicies: default-deny ingress and egress, plus DNS egress to kube-dns and
  traffic within the namespace
  (https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-policies);
* a ResourceQuota with the team's GPU quota: one line per GPU resource the cluster
  advertises (`requests.<resource>`: whole GPUs, each MIG profile, time-sliced and MPS
  replicas) and per DRA DeviceClass (`<class>.deviceclass.resource.k8s.io/devices`), so
  neither another sharing mode nor a ResourceClaim bypasses it; the lines come from
  `stacks.config.gpu_quota.team_quota` (docs/gpu-platform.md#gpu-quotas); no NodePorts;
* a LimitRange, so every container counts against the quota;
* a `tenant-admin` Role with explicit verbs and resources (no wildcards, no writes to
  the guardrails above) bound to the team's identity-provider groups;
* the `default` ServiceAccount with token automount off (CIS 5.1.5/5.1.6).

The manifests are rendered by pure functions (`render_*`), tested without Pulumi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.naming import LABEL_TENANT

TYPE = "gpu-caas:isolation:TenantNamespaces"

LABEL_TEAM = "gpu-caas.io/team"
"""Team owning a tenant namespace (alongside `gpu-caas.io/tenant`)."""

PSA_LEVEL = "restricted"
PSA_MODES = ("enforce", "audit", "warn")

TENANT_ADMIN = "tenant-admin"
"""Name of the namespaced Role (and RoleBinding) given to a team's IdP groups."""

_READ = ["get", "list", "watch"]
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]

TENANT_ADMIN_RULES: tuple[dict[str, Any], ...] = (
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "services",
            "endpoints",
            "configmaps",
            "secrets",
            "persistentvolumeclaims",
            "serviceaccounts",
        ],
        "verbs": _WRITE,
    },
    {"apiGroups": [""], "resources": ["pods/log", "pods/status"], "verbs": _READ},
    # exec/attach/port-forward are namespaced and run as the pod's own identity.
    {
        "apiGroups": [""],
        "resources": ["pods/exec", "pods/attach", "pods/portforward"],
        "verbs": ["get", "create"],
    },
    {"apiGroups": [""], "resources": ["events", "resourcequotas", "limitranges"], "verbs": _READ},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "replicasets"],
        "verbs": _WRITE,
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments/scale", "statefulsets/scale"],
        "verbs": ["get", "update", "patch"],
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _WRITE},
    # NetworkPolicies are the namespace's isolation: readable, never writable by the team.
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ},
    # GPUs through Dynamic Resource Allocation (resource.k8s.io/v1, GA in 1.34).
    {
        "apiGroups": ["resource.k8s.io"],
        "resources": ["resourceclaims", "resourceclaimtemplates"],
        "verbs": _WRITE,
    },
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["roles", "rolebindings"],
        "verbs": _READ,
    },
)
"""What a team may do in its own namespace. Explicit, no wildcards (CIS 5.1.3); the
namespace's NetworkPolicies, quota and limits are read-only (MTB PL1)."""


@dataclass(frozen=True)
class TeamNamespace:
    """One namespace of one team."""

    team: str
    namespace: str
    gpu_quota: tuple[tuple[str, int], ...] = ()
    """GPU lines of the namespace's ResourceQuota, `(quota key, count)` pairs (keys from
    `quota_key` / `device_class_quota_key`, values from
    `stacks.config.gpu_quota.team_quota`); empty: no GPU line."""
    idp_groups: tuple[str, ...] = ()
    """Identity-provider groups bound to `tenant-admin` (OIDC `groups` claim values)."""


@dataclass(frozen=True)
class QuotaDefaults:
    """Non-GPU ResourceQuota of every tenant namespace."""

    requests_cpu: str = "64"
    requests_memory: str = "512Gi"
    pods: int = 200
    load_balancers: int = 0
    persistent_volume_claims: int = 50


@dataclass(frozen=True)
class LimitDefaults:
    """Per-container defaults (LimitRange)."""

    default_request_cpu: str = "100m"
    default_request_memory: str = "256Mi"
    default_limit_cpu: str = "2"
    default_limit_memory: str = "4Gi"


@dataclass(frozen=True)
class TenantNamespacesArgs:
    """Inputs of `TenantNamespaces`, built by `stacks/platform_isolation.py`."""

    tenant: str
    namespaces: tuple[TeamNamespace, ...]
    provider: k8s.Provider
    """The tenant cluster's explicit provider."""
    pod_security_version: str
    """PSA version label, e.g. `v1.34` (the cluster's minor)."""
    quota: QuotaDefaults = field(default_factory=QuotaDefaults)
    limits: LimitDefaults = field(default_factory=LimitDefaults)
    dns_namespace: str = "kube-system"
    dns_pod_labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    """Labels of the cluster DNS pods (CoreDNS keeps the kube-dns label)."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What every namespace waits for: the admission policies (Kyverno), so a tenant
    namespace never exists without them."""


# --------------------------------------------------------------------------- #
# Pure renderers
# --------------------------------------------------------------------------- #


def pod_security_version(kubernetes_version: str) -> str:
    """`1.34.2` -> `v1.34`: the PSA policy version matching the cluster."""
    parts = kubernetes_version.lstrip("v").split(".")
    return f"v{parts[0]}.{parts[1]}"


def render_namespace_labels(tenant: str, team: TeamNamespace, psa_version: str) -> dict[str, str]:
    """Labels of a tenant namespace: ownership plus PSA restricted in every mode."""
    labels = {LABEL_TENANT: tenant, LABEL_TEAM: team.team}
    for mode in PSA_MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = PSA_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = psa_version
    return labels


def render_network_policies(
    namespace: str,
    dns_namespace: str = "kube-system",
    dns_pod_labels: Sequence[tuple[str, str]] = (("k8s-app", "kube-dns"),),
) -> dict[str, dict[str, Any]]:
    """NetworkPolicy specs by name: default-deny, DNS egress, same-namespace traffic."""
    same_namespace: list[dict[str, Any]] = [{"podSelector": {}}]
    return {
        "default-deny": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
        },
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            # kubernetes.io/metadata.name is set by the API server on every
                            # namespace and cannot be forged by tenants.
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": dns_namespace}
                            },
                            "podSelector": {"matchLabels": dict(dns_pod_labels)},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": same_namespace}],
            "egress": [{"to": same_namespace}],
        },
    }


def quota_key(resource: str) -> str:
    """`nvidia.com/gpu` -> `requests.nvidia.com/gpu`: the ResourceQuota key of an
    extended resource. Extended resources cannot be overcommitted, so quota only accepts
    the `requests.` prefix for them
    (https://kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-for-extended-resources).
    """
    return f"requests.{resource}"


def device_class_quota_key(device_class: str) -> str:
    """`gpu.nvidia.com` -> the ResourceQuota key counting the devices ResourceClaims of a
    namespace allocate from that DRA DeviceClass
    (https://kubernetes.io/docs/concepts/policy/resource-quotas/).
    """
    return f"{device_class}.deviceclass.resource.k8s.io/devices"


def render_quota(team: TeamNamespace, quota: QuotaDefaults) -> dict[str, str]:
    """ResourceQuota `spec.hard` of a tenant namespace: the defaults plus the team's GPU
    lines (`team.gpu_quota`) as they are.

    What the GPU lines hold (one per resource the cluster advertises, each converted
    from the team's physical GPUs, 0 for resources of a node group dedicated to another
    team) is decided in `stacks.config.gpu_quota.team_quota`; this renderer adds no GPU
    knowledge of its own.
    """
    hard = {
        "requests.cpu": quota.requests_cpu,
        "requests.memory": quota.requests_memory,
        "pods": str(quota.pods),
        "persistentvolumeclaims": str(quota.persistent_volume_claims),
        # NodePorts open a port on every node: never for tenants (MTB PL1).
        "services.nodeports": "0",
        "services.loadbalancers": str(quota.load_balancers),
    }
    for key, count in team.gpu_quota:
        hard[key] = str(count)
    return hard


def render_limit_range(limits: LimitDefaults) -> dict[str, Any]:
    """LimitRange spec: container defaults so every container has requests and limits."""
    return {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {
                    "cpu": limits.default_request_cpu,
                    "memory": limits.default_request_memory,
                },
                "default": {"cpu": limits.default_limit_cpu, "memory": limits.default_limit_memory},
            }
        ]
    }


def render_role_binding_subjects(team: TeamNamespace) -> list[dict[str, str]]:
    """Group subjects for the team's identity-provider groups."""
    return [
        {"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}
        for group in team.idp_groups
    ]


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class TenantNamespaces(pulumi.ComponentResource):
    """Locked-down namespaces of the tenant's teams."""

    namespaces: pulumi.Output[list[str]]
    """Names of the tenant namespaces created."""

    def __init__(
        self, name: str, args: TenantNamespacesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        for team in args.namespaces:
            _create_namespace(name, team, args, self)
        self.namespaces = pulumi.Output.from_input([t.namespace for t in args.namespaces])
        self.register_outputs({"namespaces": self.namespaces})


GUARDRAIL_ANNOTATIONS: dict[str, str] = {"pulumi.com/patchForce": "true"}
"""Annotations of every guardrail object (quota, limits, NetworkPolicies, RoleBindings).

The stack config is their source of truth: when someone edits one with kubectl (the
drift check names it), the next `pulumi up` takes the fields back instead of failing
with a server-side apply conflict with that field manager.
https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources
"""


def _create_namespace(
    name: str, team: TeamNamespace, args: TenantNamespacesArgs, parent: pulumi.Resource
) -> k8s.core.v1.Namespace:
    prefix = f"{name}-{team.namespace}"
    ns = k8s.core.v1.Namespace(
        prefix,
        metadata={
            "name": team.namespace,
            "labels": render_namespace_labels(args.tenant, team, args.pod_security_version),
        },
        opts=pulumi.ResourceOptions(
            parent=parent, provider=args.provider, depends_on=list(args.depends_on)
        ),
    )
    # Children use the literal namespace name (known at preview, so policies can match
    # them to the Namespace) and depend on the Namespace explicitly.
    child = pulumi.ResourceOptions(parent=ns, provider=args.provider, depends_on=[ns])

    def meta(object_name: str) -> dict[str, Any]:
        return {
            "name": object_name,
            "namespace": team.namespace,
            "labels": {LABEL_TENANT: args.tenant, LABEL_TEAM: team.team},
            "annotations": dict(GUARDRAIL_ANNOTATIONS),
        }

    policies = render_network_policies(team.namespace, args.dns_namespace, args.dns_pod_labels)
    for policy_name, spec in policies.items():
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-{policy_name}", metadata=meta(policy_name), spec=spec, opts=child
        )
    k8s.core.v1.ResourceQuota(
        f"{prefix}-quota",
        metadata=meta("tenant-quota"),
        spec={"hard": render_quota(team, args.quota)},
        opts=child,
    )
    k8s.core.v1.LimitRange(
        f"{prefix}-limits",
        metadata=meta("tenant-limits"),
        spec=render_limit_range(args.limits),
        opts=child,
    )
    role = k8s.rbac.v1.Role(
        f"{prefix}-{TENANT_ADMIN}",
        metadata=meta(TENANT_ADMIN),
        rules=[dict(rule) for rule in TENANT_ADMIN_RULES],
        opts=child,
    )
    if team.idp_groups:
        k8s.rbac.v1.RoleBinding(
            f"{prefix}-{TENANT_ADMIN}-binding",
            metadata=meta(TENANT_ADMIN),
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": TENANT_ADMIN,
            },
            subjects=render_role_binding_subjects(team),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role])),
        )
    # The `default` ServiceAccount belongs to the ServiceAccount controller, which creates
    # it right after the namespace. A ServiceAccountPatch is a server-side apply of just
    # `automountServiceAccountToken` (pulumi-kubernetes 4.x applies even if the account is
    # not there yet, so there is no race), and on destroy it relinquishes that field
    # instead of deleting the account. A `ServiceAccount` resource named "default" would
    # own the whole object and delete it on destroy.
    k8s.core.v1.ServiceAccountPatch(
        f"{prefix}-default-sa",
        metadata={"name": "default", "namespace": team.namespace},
        automount_service_account_token=False,
        opts=child,
    )
    return ns
