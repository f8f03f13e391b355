"""Tenant isolation rules: what keeps one team away from another and off the hosts.

One validator per rule; each message names the resource and says how to fix it.
Every policy here is MANDATORY: a violation means a tenant could reach another
tenant's GPUs, data or network, or the hosts.

Sources: Kubernetes Pod Security Standards
(https://kubernetes.io/docs/concepts/security/pod-security-standards/), CIS Kubernetes
Benchmark 1.9 section 5 (RBAC 5.1, pods 5.2, network 5.3), the Multi-Tenancy Benchmarks
PL1/PL2 checks, and NVIDIA's GPU Operator security notes on which operands need host
access (https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/security.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatch
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from components.isolation.tenant_namespaces import LABEL_TEAM
from components.naming import gpu_config_name
from components.placement import Taint, Toleration
from policies.gpu_caas_policies import defaults
from policies.gpu_caas_policies import report as pack_report
from policies.gpu_caas_policies._props import (
    K8S_PROVIDER_TYPE,
    config_list,
    containers,
    get,
    has_key,
    known,
    name_of,
    namespace_of,
    pod_spec,
    preview_tolerant,
)
from policies.gpu_caas_policies.planned import props_of

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
SERVICE = "kubernetes:core/v1:Service"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"

PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# Kubernetes types that are component resources (no provider of their own to check):
# their children are registered separately and checked one by one.
_K8S_COMPONENT_TYPES = frozenset(
    {
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigFile",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:kustomize/v2:Directory",
    }
)

# Groups every (or every service-account) identity belongs to: binding them is never
# "system only", whatever their `system:` prefix suggests.
_BROAD_GROUPS = frozenset(
    {
        "system:authenticated",
        "system:unauthenticated",
        "system:serviceaccounts",
    }
)

_WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "*"})
_ESCALATION_VERBS = frozenset({"escalate", "bind", "impersonate"})
# Objects that make up a tenant namespace's guardrails: a tenant that can write them can
# lift its own isolation (MTB PL1 "Block modification of resource quotas").
_GUARDRAIL_RESOURCES = frozenset({"networkpolicies", "resourcequotas", "limitranges"})

# --------------------------------------------------------------------------- #
# Config schemas (shared by several policies; each policy has its own config).
# --------------------------------------------------------------------------- #

_NAMESPACE_LIST = {"type": "array", "items": {"type": "string"}}

PLATFORM_NAMESPACES_SCHEMA = PolicyConfigSchema(
    properties={
        "platformNamespaces": {
            **_NAMESPACE_LIST,
            "description": "Provider-operated namespaces. Tenants get no rights there and "
            "the tenant guardrails do not apply to them.",
            "default": list(defaults.PLATFORM_NAMESPACES),
        },
    },
)

PRIVILEGED_NAMESPACES_SCHEMA = PolicyConfigSchema(
    properties={
        "privilegedNamespaces": {
            **_NAMESPACE_LIST,
            "description": "Platform namespaces whose operators need host access (GPU and "
            "Network Operator, CNI, CSI, DPF, node monitoring).",
            "default": list(defaults.PRIVILEGED_NAMESPACES),
        },
    },
)


def _platform(args: ResourceValidationArgs | StackValidationArgs) -> set[str]:
    return set(config_list(args.get_config(), "platformNamespaces", defaults.PLATFORM_NAMESPACES))


def _privileged(args: ResourceValidationArgs) -> set[str]:
    return set(
        config_list(args.get_config(), "privilegedNamespaces", defaults.PRIVILEGED_NAMESPACES)
    )


def _describe(args: ResourceValidationArgs) -> str:
    """`Kind "ns/name"` for messages."""
    kind = args.resource_type.rsplit(":", 1)[-1]
    name = name_of(args.props, args.name)
    namespace = known(args.props, "metadata", "namespace", default=None)
    return f'{kind} "{namespace}/{name}"' if namespace else f'{kind} "{name}"'


# --------------------------------------------------------------------------- #
# Providers
# --------------------------------------------------------------------------- #


def _is_default_provider(urn: str, name: str) -> bool:
    # Default provider URNs end in `::default` or `::default_<version>`, e.g.
    # urn:pulumi:dev::gpu-caas::pulumi:providers:kubernetes::default_4_25_0
    return name == "default" or name.startswith("default_")


@preview_tolerant
def explicit_provider_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every kubernetes resource names the tenant cluster's provider explicitly."""
    kubernetes = args.resource_type.startswith("kubernetes:")
    if not kubernetes or args.resource_type in _K8S_COMPONENT_TYPES:
        return
    provider = args.provider
    if provider is None:
        report(
            f"{_describe(args)} has no provider. Pass the tenant cluster's provider "
            "(`opts=ResourceOptions(provider=handle.provider)`); a default provider deploys "
            "to whatever cluster the operator's kubeconfig points at.",
            None,
        )
        return
    if _is_default_provider(provider.urn, provider.name):
        report(
            f"{_describe(args)} uses the default kubernetes provider ({provider.urn}). Pass "
            "the tenant cluster's provider (`opts=ResourceOptions(provider=handle.provider)`); "
            "a default provider deploys to whatever cluster the operator's kubeconfig "
            "points at.",
            None,
        )


@preview_tolerant
def provider_kubeconfig_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A kubernetes provider always says which cluster it talks to."""
    if args.resource_type != K8S_PROVIDER_TYPE:
        return
    if _is_default_provider(args.urn, args.name):
        # Reported on every resource that uses it by `kubernetes-explicit-provider`.
        return
    present = has_key(args.props, "kubeconfig")
    value = known(args.props, "kubeconfig", default="<unknown>") if present else None
    if not present or value in ("", None):
        report(
            f'Kubernetes provider "{args.name}" has no kubeconfig, so it falls back to '
            "$KUBECONFIG or ~/.kube/config of whoever runs Pulumi. Set `kubeconfig` from the "
            "tenant cluster's kubeconfig output (as a secret).",
            None,
        )


explicit_provider = ResourceValidationPolicy(
    name="kubernetes-explicit-provider",
    description="Kubernetes resources must use the tenant cluster's explicit provider, "
    "never the default provider.",
    validate=explicit_provider_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)

provider_kubeconfig = ResourceValidationPolicy(
    name="kubernetes-provider-explicit-kubeconfig",
    description="Kubernetes providers must be given the tenant cluster's kubeconfig, never "
    "the ambient one.",
    validate=provider_kubeconfig_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)

# --------------------------------------------------------------------------- #
# Tenant namespace guardrails (stack policy: needs to see several resources)
# --------------------------------------------------------------------------- #


def _is_empty_selector(selector: Any) -> bool:
    if selector is None:
        return True
    if not isinstance(selector, Mapping):
        return False
    return not get(selector, "matchLabels") and not get(selector, "matchExpressions")


def _default_deny_directions(spec: Mapping[str, Any]) -> set[str]:
    """Directions ("Ingress"/"Egress") this NetworkPolicy spec denies for every pod.

    A policy selects all pods with an empty `podSelector`; it denies a direction when
    that direction is in `policyTypes` and has no rules.
    https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-policies
    """
    if not _is_empty_selector(get(spec, "podSelector")):
        return set()
    types = get(spec, "policyTypes")
    if types is None:
        # Kubernetes defaults policyTypes to Ingress (plus Egress when egress rules exist).
        types = ["Ingress"] + (["Egress"] if get(spec, "egress") else [])
    denied = set()
    for direction in types:
        rules = get(spec, direction.lower())
        if not rules:
            denied.add(direction)
    return denied


def _on_management_cluster(resource: PolicyResource, patterns: list[str]) -> bool:
    """True when the resource goes through a provider for the provider's management
    cluster (e.g. the hosted control plane's `tenant-<name>` namespace in Kamaji)."""
    provider = resource.provider
    return provider is not None and any(fnmatch(provider.name, p) for p in patterns)


@preview_tolerant
def namespace_guardrails_validator(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every non-platform namespace is restricted, default-deny, quota'd and limit-ranged."""
    platform = _platform(args)
    management = config_list(
        args.get_config(), "managementProviders", defaults.MANAGEMENT_PROVIDERS
    )
    namespaces: dict[str, str] = {}  # name -> URN
    labels: dict[str, Mapping[str, Any]] = {}
    denied: dict[str, set[str]] = {}
    quotas: set[str] = set()
    limits: set[str] = set()

    for resource in args.resources:
        if not resource.resource_type.startswith("kubernetes:"):
            continue  # commands, components, non-Kubernetes providers: no objects
        # First preview of a new tenant: no outputs yet, judge what the program planned.
        props = props_of(resource)
        if _on_management_cluster(resource, management):
            continue
        if resource.resource_type == NAMESPACE:
            name = known(props, "metadata", "name")
            if isinstance(name, str) and name not in platform:
                namespaces[name] = resource.urn
                labels[name] = known(props, "metadata", "labels", default={}) or {}
            continue
        namespace = known(props, "metadata", "namespace")
        if not isinstance(namespace, str):
            continue
        if resource.resource_type == NETWORK_POLICY:
            spec = known(props, "spec", default={}) or {}
            try:
                directions = _default_deny_directions(spec)
            except Exception:  # noqa: BLE001 - unknown parts at preview: not a default-deny yet
                directions = set()
            denied.setdefault(namespace, set()).update(directions)
        elif resource.resource_type == RESOURCE_QUOTA:
            quotas.add(namespace)
        elif resource.resource_type == LIMIT_RANGE:
            limits.add(namespace)

    for name, urn in sorted(namespaces.items()):
        missing: list[str] = []
        if known(labels[name], PSA_ENFORCE_LABEL) != "restricted":
            missing.append(f'the label {PSA_ENFORCE_LABEL}: "restricted"')
        deny = denied.get(name, set())
        if not {"Ingress", "Egress"} <= deny:
            missing.append(
                "a default-deny NetworkPolicy for "
                + " and ".join(sorted({"Ingress", "Egress"} - deny))
                + " (empty podSelector, no rules)"
            )
        if name not in quotas:
            missing.append("a ResourceQuota")
        if name not in limits:
            missing.append("a LimitRange")
        if missing:
            report(
                f'Namespace "{name}" is a tenant namespace but lacks {"; ".join(missing)}. '
                "Create it with gpu-caas' TenantNamespaces component, or add it to "
                "platformNamespaces if the provider operates it.",
                urn,
            )


namespace_guardrails = StackValidationPolicy(
    name="tenant-namespace-guardrails",
    description="Every tenant namespace must enforce Pod Security 'restricted' and come with "
    "a default-deny NetworkPolicy, a ResourceQuota and a LimitRange.",
    validate=namespace_guardrails_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            **PLATFORM_NAMESPACES_SCHEMA.properties,
            "managementProviders": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Glob patterns of kubernetes provider names that target the "
                "provider's management cluster; their namespaces are not tenant namespaces.",
                "default": list(defaults.MANAGEMENT_PROVIDERS),
            },
        }
    ),
)

# --------------------------------------------------------------------------- #
# RBAC
# --------------------------------------------------------------------------- #


def is_platform_subject(subject: Mapping[str, Any], platform: set[str]) -> bool:
    """True for identities the provider controls: platform service accounts and
    Kubernetes' own `system:` users and groups (but not the everyone-groups)."""
    kind = get(subject, "kind")
    name = str(get(subject, "name", default=""))
    if kind == "ServiceAccount":
        return get(subject, "namespace") in platform
    if name in _BROAD_GROUPS or name == "system:anonymous":
        return False
    if name.startswith("system:serviceaccounts:"):
        return name.removeprefix("system:serviceaccounts:") in platform
    if name.startswith("system:serviceaccount:"):
        return name.split(":")[2] in platform
    return name.startswith("system:")


def _subjects(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in (get(props, "subjects", default=[]) or []) if isinstance(s, Mapping)]


def _subject_text(subject: Mapping[str, Any]) -> str:
    namespace = get(subject, "namespace")
    name = get(subject, "name")
    return f"{get(subject, 'kind')} {namespace + '/' if namespace else ''}{name}"


@preview_tolerant
def cluster_admin_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No binding gives `cluster-admin` to anyone but the platform."""
    if args.resource_type not in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
        return
    if get(args.props, "roleRef", "name") != "cluster-admin":
        return
    platform = _platform(args)
    allowed = set(
        config_list(args.get_config(), "clusterAdminSubjects", defaults.CLUSTER_ADMIN_SUBJECTS)
    )
    for subject in _subjects(args.props):
        if get(subject, "kind") != "ServiceAccount" and get(subject, "name") in allowed:
            continue
        if get(subject, "kind") == "ServiceAccount" and is_platform_subject(subject, platform):
            continue
        report(
            f"{_describe(args)} grants cluster-admin to {_subject_text(subject)}. Bind the "
            "tenant-admin Role in the team's namespace instead; cluster-admin is for the "
            "platform only.",
            None,
        )


@preview_tolerant
def platform_rights_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Tenants get no rights in platform namespaces (and so none cluster-wide)."""
    platform = _platform(args)
    tenant_subjects = [s for s in _subjects(args.props) if not is_platform_subject(s, platform)]
    if not tenant_subjects:
        return
    role = get(args.props, "roleRef", "name")
    who = ", ".join(_subject_text(s) for s in tenant_subjects)
    if args.resource_type == ROLE_BINDING:
        namespace = namespace_of(args.props)
        if namespace in platform:
            report(
                f'{_describe(args)} gives {who} the role "{role}" in platform namespace '
                f'"{namespace}". Remove the binding; tenants get rights only in their own '
                "namespaces.",
                None,
            )
    elif args.resource_type == CLUSTER_ROLE_BINDING:
        allowed = set(config_list(args.get_config(), "tenantClusterRoles", ()))
        if role not in allowed:
            report(
                f'{_describe(args)} gives {who} the ClusterRole "{role}" in every namespace, '
                "platform namespaces included. Use a RoleBinding in the team's namespace, or "
                "list the ClusterRole in tenantClusterRoles if it is read-only and "
                "cluster-scoped.",
                None,
            )


def _rules(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in (get(props, "rules", default=[]) or []) if isinstance(r, Mapping)]


def _tenant_role(args: ResourceValidationArgs) -> bool:
    return args.resource_type == ROLE and namespace_of(args.props) not in _platform(args)


@preview_tolerant
def wildcard_role_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Tenant Roles list verbs, API groups and resources explicitly (CIS 5.1.3)."""
    if not _tenant_role(args):
        return
    for index, rule in enumerate(_rules(args.props)):
        fields = [
            f
            for f in ("verbs", "resources", "apiGroups")
            if "*" in list(get(rule, f, default=[]) or [])
        ]
        if fields:
            report(
                f"{_describe(args)} rule {index} uses a wildcard in {', '.join(fields)}. List "
                "the verbs, API groups and resources the team needs explicitly.",
                None,
            )


@preview_tolerant
def guardrail_write_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Tenant Roles cannot change the namespace's NetworkPolicies, quota or limits."""
    if not _tenant_role(args):
        return
    for index, rule in enumerate(_rules(args.props)):
        resources = set(get(rule, "resources", default=[]) or []) & _GUARDRAIL_RESOURCES
        verbs = set(get(rule, "verbs", default=[]) or []) & _WRITE_VERBS
        if resources and verbs:
            report(
                f"{_describe(args)} rule {index} lets the team {'/'.join(sorted(verbs))} "
                f"{', '.join(sorted(resources))}, which would let it lift its own isolation. "
                "Grant only get/list/watch on them.",
                None,
            )


@preview_tolerant
def escalation_verbs_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Tenant Roles carry no escalate, bind or impersonate verbs (CIS 5.1.8)."""
    if not _tenant_role(args):
        return
    for index, rule in enumerate(_rules(args.props)):
        verbs = set(get(rule, "verbs", default=[]) or []) & _ESCALATION_VERBS
        if verbs:
            report(
                f"{_describe(args)} rule {index} grants {', '.join(sorted(verbs))}, which "
                "lets the team gain rights it was not given. Remove these verbs.",
                None,
            )


_RBAC_SCHEMA = PolicyConfigSchema(
    properties={
        **PLATFORM_NAMESPACES_SCHEMA.properties,
        "clusterAdminSubjects": {
            **_NAMESPACE_LIST,
            "description": "User/Group names allowed to hold cluster-admin.",
            "default": list(defaults.CLUSTER_ADMIN_SUBJECTS),
        },
        "tenantClusterRoles": {
            **_NAMESPACE_LIST,
            "description": "Read-only ClusterRoles tenants may hold cluster-wide.",
            "default": [],
        },
    },
)

no_cluster_admin = ResourceValidationPolicy(
    name="no-cluster-admin-binding",
    description="No RoleBinding or ClusterRoleBinding may give cluster-admin to a "
    "non-system subject.",
    validate=cluster_admin_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_RBAC_SCHEMA,
)

no_platform_rights = ResourceValidationPolicy(
    name="no-tenant-rights-in-platform-namespaces",
    description="Tenant subjects must get no rights in platform namespaces, directly or "
    "through a ClusterRoleBinding.",
    validate=platform_rights_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_RBAC_SCHEMA,
)

no_wildcard_roles = ResourceValidationPolicy(
    name="no-wildcard-tenant-roles",
    description="Roles in tenant namespaces must not use wildcard verbs, API groups or resources.",
    validate=wildcard_role_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PLATFORM_NAMESPACES_SCHEMA,
)

no_guardrail_writes = ResourceValidationPolicy(
    name="tenant-roles-cannot-modify-guardrails",
    description="Roles in tenant namespaces must not write NetworkPolicies, ResourceQuotas "
    "or LimitRanges.",
    validate=guardrail_write_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PLATFORM_NAMESPACES_SCHEMA,
)

no_escalation_verbs = ResourceValidationPolicy(
    name="no-rbac-escalation-in-tenant-roles",
    description="Roles in tenant namespaces must not grant escalate, bind or impersonate.",
    validate=escalation_verbs_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PLATFORM_NAMESPACES_SCHEMA,
)

# --------------------------------------------------------------------------- #
# Workloads: host access
# --------------------------------------------------------------------------- #


def _workload(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """The PodSpec of a workload outside the host-access-exempt namespaces."""
    spec = pod_spec(args.resource_type, args.props)
    if spec is None or namespace_of(args.props) in _privileged(args):
        return None
    return spec


def _exempt_hint(args: ResourceValidationArgs) -> str:
    return (
        f'Namespace "{namespace_of(args.props)}" is not exempt from host access '
        "(privilegedNamespaces)."
    )


@preview_tolerant
def privileged_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No privileged containers outside the exempt operator namespaces."""
    spec = _workload(args)
    if spec is None:
        return
    for label, container in containers(spec):
        if get(container, "securityContext", "privileged") is True:
            report(
                f"{_describe(args)} runs {label} privileged. Remove "
                f"securityContext.privileged; privileged containers own the host. "
                f"{_exempt_hint(args)}",
                None,
            )


@preview_tolerant
def host_namespaces_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No host network, PID or IPC namespace outside the exempt operator namespaces."""
    spec = _workload(args)
    if spec is None:
        return
    shared = [f for f in ("hostNetwork", "hostPID", "hostIPC") if get(spec, f) is True]
    if shared:
        report(
            f"{_describe(args)} sets {', '.join(shared)}: true. Remove it; host namespaces "
            f"expose other tenants' traffic and processes. {_exempt_hint(args)}",
            None,
        )


@preview_tolerant
def host_path_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No hostPath volumes outside the exempt operator namespaces."""
    spec = _workload(args)
    if spec is None:
        return
    volumes = [v for v in (get(spec, "volumes", default=[]) or []) if isinstance(v, Mapping)]
    for volume in volumes:
        if get(volume, "hostPath") is not None:
            report(
                f"{_describe(args)} mounts hostPath {get(volume, 'hostPath', 'path')!r} as "
                f"volume {get(volume, 'name')!r}. Use a PersistentVolumeClaim, emptyDir or "
                f"ConfigMap instead. {_exempt_hint(args)}",
                None,
            )


@preview_tolerant
def capabilities_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No added Linux capabilities beyond what Pod Security 'restricted' allows."""
    spec = _workload(args)
    if spec is None:
        return
    allowed = set(
        config_list(args.get_config(), "allowedCapabilities", defaults.ALLOWED_CAPABILITIES)
    )
    for label, container in containers(spec):
        added = [
            str(c)
            for c in (get(container, "securityContext", "capabilities", "add", default=[]) or [])
        ]
        extra = [c for c in added if c not in allowed]
        if extra:
            report(
                f"{_describe(args)} adds capabilities {extra} to {label}. Drop them "
                f"(only {sorted(allowed)} may be added). {_exempt_hint(args)}",
                None,
            )


@preview_tolerant
def nodeport_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No NodePort (or node-port-allocating LoadBalancer) Services in tenant namespaces."""
    if args.resource_type != SERVICE or namespace_of(args.props) in _platform(args):
        return
    service_type = get(args.props, "spec", "type")
    if service_type == "NodePort":
        report(
            f"{_describe(args)} is a NodePort Service, which opens a port on every node. Use "
            "type ClusterIP behind the platform ingress.",
            None,
        )
    elif (
        service_type == "LoadBalancer"
        and get(args.props, "spec", "allocateLoadBalancerNodePorts", default=True) is not False
    ):
        report(
            f"{_describe(args)} is a LoadBalancer Service that allocates node ports. Set "
            "spec.allocateLoadBalancerNodePorts: false, or use ClusterIP behind the "
            "platform ingress.",
            None,
        )


_PRIVILEGED_CAPS_SCHEMA = PolicyConfigSchema(
    properties={
        **PRIVILEGED_NAMESPACES_SCHEMA.properties,
        "allowedCapabilities": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Capabilities a container may add.",
            "default": list(defaults.ALLOWED_CAPABILITIES),
        },
    },
)

no_privileged = ResourceValidationPolicy(
    name="no-privileged-tenant-workloads",
    description="Workloads outside the exempt operator namespaces must not run privileged "
    "containers.",
    validate=privileged_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PRIVILEGED_NAMESPACES_SCHEMA,
)

no_host_namespaces = ResourceValidationPolicy(
    name="no-host-namespaces-for-tenant-workloads",
    description="Workloads outside the exempt operator namespaces must not use the host "
    "network, PID or IPC namespace.",
    validate=host_namespaces_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PRIVILEGED_NAMESPACES_SCHEMA,
)

no_host_path = ResourceValidationPolicy(
    name="no-hostpath-for-tenant-workloads",
    description="Workloads outside the exempt operator namespaces must not mount hostPath volumes.",
    validate=host_path_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PRIVILEGED_NAMESPACES_SCHEMA,
)

no_added_capabilities = ResourceValidationPolicy(
    name="no-added-capabilities-for-tenant-workloads",
    description="Workloads outside the exempt operator namespaces must not add Linux capabilities.",
    validate=capabilities_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_PRIVILEGED_CAPS_SCHEMA,
)

no_nodeport = ResourceValidationPolicy(
    name="no-nodeport-services-in-tenant-namespaces",
    description="Services in tenant namespaces must not open node ports.",
    validate=nodeport_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PLATFORM_NAMESPACES_SCHEMA,
)

# --------------------------------------------------------------------------- #
# Soft-shared GPUs: a time-sliced or MPS node group belongs to one team
# --------------------------------------------------------------------------- #

NODE_GROUP = "gpu-caas:cluster:NodeGroup"
"""gpu-caas' node group component; its props name the group (`nodeGroup`) and, for a
group dedicated to one team, the team (`team`): docs/policies.md, "Component
properties"."""
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
_SOFT_SHARING = {"timeSlicing": "time-slicing", "mps": "MPS"}
"""Device-plugin config `sharing` keys -> the mode's name in messages
(https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus)."""


def _dedicated_groups(args: StackValidationArgs) -> list[tuple[str, str, str | None]]:
    """`(urn, node group name, team or None)` of every NodeGroup component, by name.

    The team is the `team` prop, else the group's `gpu-caas.io/team` node label in its
    `labels` output (what a stack policy sees of gpu-caas' NodeGroup: its outputs).
    """
    groups = []
    for resource in args.resources:
        if resource.resource_type != NODE_GROUP:
            continue
        props = props_of(resource)
        name = known(props, "nodeGroup") or resource.name
        team = known(props, "team") or known(props, "labels", LABEL_TEAM)
        groups.append((resource.urn, str(name), team if isinstance(team, str) and team else None))
    return sorted(groups, key=lambda group: group[1])


def _device_plugin_configs(args: StackValidationArgs) -> dict[str, Any]:
    """Every ConfigMap `data` entry of the stack, by key (device-plugin configs are keyed
    `components.naming.gpu_config_name(<node group>)`)."""
    entries: dict[str, Any] = {}
    for resource in args.resources:
        if resource.resource_type == CONFIG_MAP:
            data = known(props_of(resource), "data", default={}) or {}
            if isinstance(data, Mapping):
                for key in list(data):
                    entries.setdefault(str(key), known(data, key))
    return entries


def soft_sharing_mode(document: Any) -> str | None:
    """ "time-slicing" or "MPS" when a device-plugin config (`version: v1` YAML text)
    shares each GPU between pods, else None (exclusive, MIG, not a device-plugin config).
    """
    if not isinstance(document, str):
        return None
    try:
        config = yaml.safe_load(document)
    except yaml.YAMLError:
        return None
    sharing = get(config, "sharing") if isinstance(config, Mapping) else None
    if not isinstance(sharing, Mapping):
        return None
    return next((mode for key, mode in _SOFT_SHARING.items() if get(sharing, key)), None)


@preview_tolerant
def soft_shared_team_validator(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every node group whose device-plugin config time-slices or MPS-shares its GPUs
    names one team (the NodeGroup's `team` prop)."""
    configs = _device_plugin_configs(args)
    groups = _dedicated_groups(args)
    shared = []
    for urn, name, team in groups:
        key = gpu_config_name(name)
        mode = soft_sharing_mode(configs.get(key))
        if mode is None:
            continue
        shared.append(f"{name} ({mode}, team {team or 'none'})")
        if team is None:
            report(
                f'NodeGroup "{name}" shares its GPUs by {mode} (device-plugin config '
                f'"{key}") but is dedicated to no team. Time-slicing and MPS give no memory '
                "or fault isolation between the pods sharing a GPU: set nodeGroups[].team "
                f"to the one team allowed on it (its nodes get the taint {LABEL_TEAM}=<team>:"
                "NoSchedule and only that team's pods tolerate it).",
                urn,
            )
    if groups:
        pack_report.note_outcome(
            "soft-shared node groups: " + (", ".join(shared) if shared else "none")
        )


def _namespace_teams(args: StackValidationArgs) -> dict[str, str]:
    """Namespace -> team, from the `gpu-caas.io/team` label of the stack's Namespaces."""
    teams = {}
    for resource in args.resources:
        if resource.resource_type != NAMESPACE:
            continue
        props = props_of(resource)
        name = known(props, "metadata", "name")
        team = known(props, "metadata", "labels", LABEL_TEAM)
        if isinstance(name, str) and isinstance(team, str):
            teams[name] = team
    return teams


def _tolerated(spec: Mapping[str, Any], taint: Taint) -> list[Toleration]:
    """The tolerations of a PodSpec that tolerate `taint`. One with an unknown field
    (preview) is left for `pulumi up`: read as absent, an unknown key with `Exists`
    would look like a toleration of every taint."""
    found = []
    for item in known(spec, "tolerations", default=[]) or []:
        if not isinstance(item, Mapping):
            continue
        try:
            toleration = Toleration.from_k8s({key: get(item, key) for key in list(item)})
        except UnknownValueError as error:
            pack_report.note_unknown(error)
            continue
        if toleration.tolerates(taint):
            found.append(toleration)
    return found


@preview_tolerant
def team_tolerations_validator(args: StackValidationArgs, report: ReportViolation) -> None:
    """No workload outside a team's namespaces (and the platform's) tolerates the
    `gpu-caas.io/team=<team>:NoSchedule` taint of a group dedicated to that team."""
    owners: dict[str, list[str]] = {}
    for _, name, team in _dedicated_groups(args):
        if team is not None:
            owners.setdefault(team, []).append(name)
    if not owners:
        return
    platform = _platform(args)
    namespace_teams = _namespace_teams(args)
    for resource in args.resources:
        props = props_of(resource)
        spec = pod_spec(resource.resource_type, props)
        if spec is None:
            continue
        namespace = known(props, "metadata", "namespace", default="default") or "default"
        if not isinstance(namespace, str) or namespace in platform:
            continue
        own = namespace_teams.get(namespace)
        kind = resource.resource_type.rsplit(":", 1)[-1]
        who = f'team "{own}"' if own else "no team"
        for team, groups in sorted(owners.items()):
            if team == own:
                continue
            taint = Taint(LABEL_TEAM, team, "NoSchedule")
            for toleration in _tolerated(spec, taint):
                report(
                    f'{kind} "{namespace}/{name_of(props, resource.name)}" (namespace of '
                    f"{who}) tolerates {toleration}, which lets it onto node group(s) "
                    f'{", ".join(groups)} dedicated to team "{team}" (taint {taint}). '
                    "Remove the toleration: only the team's own pods may share its GPUs.",
                    resource.urn,
                )


soft_shared_gpus_team = StackValidationPolicy(
    name="soft-shared-gpus-belong-to-one-team",
    description="A node group that shares GPUs by time-slicing or MPS must be dedicated "
    "to one team (nodeGroups[].team).",
    validate=soft_shared_team_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)

no_other_team_tolerations = StackValidationPolicy(
    name="no-tolerations-of-other-teams-gpus",
    description="Workloads outside a team's namespaces must not tolerate the taint of a "
    "node group dedicated to that team.",
    validate=team_tolerations_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PLATFORM_NAMESPACES_SCHEMA,
)

POLICIES = [
    explicit_provider,
    provider_kubeconfig,
    namespace_guardrails,
    no_cluster_admin,
    no_platform_rights,
    no_wildcard_roles,
    no_guardrail_writes,
    no_escalation_verbs,
    no_privileged,
    no_host_namespaces,
    no_host_path,
    no_added_capabilities,
    no_nodeport,
    soft_shared_gpus_team,
    no_other_team_tolerations,
]
"""The tenant-isolation pack, in the order the docs list it."""
