"""Install the isolation part of the tenant platform: tenant namespaces and Kyverno.

Builds the component Args from the validated `TenantConfig` (components never read
config): one `TeamNamespace` per namespace of each team, and the Kyverno policies from
`isolation` (platform namespaces, host-access exemptions, registries, image trust).

Order (`stacks.platform.install`): Kyverno's release waits for the CNI
(`handle.network_ready`), the tenant namespaces for Kyverno's Enforce policies, and
workloads the platform puts into tenant namespaces for the namespaces
(`handle.tenant_ready`). Platform operators do not wait for Kyverno: the policies exempt
their namespaces.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi

from components.isolation.kyverno import ImageVerification, KyvernoPolicies, KyvernoPoliciesArgs
from components.isolation.tenant_namespaces import (
    LimitDefaults,
    QuotaDefaults,
    TeamNamespace,
    TenantNamespaces,
    TenantNamespacesArgs,
    pod_security_version,
)
from stacks import compose
from stacks.config import TenantConfig
from stacks.config.gpu_quota import team_quota
from stacks.config.isolation import IsolationConfig
from stacks.config.placement import system_tolerations_k8s
from stacks.platform_handle import ClusterHandle


def team_namespaces(config: TenantConfig) -> tuple[TeamNamespace, ...]:
    """One `TeamNamespace` per namespace of every team, in config order, each with the
    team's GPU quota lines (`stacks.config.gpu_quota.team_quota`: every namespace of a
    team gets the same lines)."""
    found: list[TeamNamespace] = []
    for team in config.teams:
        lines = tuple(team_quota(config, team).items())
        found.extend(
            TeamNamespace(
                team=team.name,
                namespace=namespace,
                gpu_quota=lines,
                idp_groups=tuple(team.idp_groups),
            )
            for namespace in team.effective_namespaces
        )
    return tuple(found)


def tenant_namespaces_args(
    handle: ClusterHandle, config: TenantConfig, depends_on: tuple[pulumi.Resource, ...] = ()
) -> TenantNamespacesArgs:
    """`TenantNamespacesArgs` from the config (pure); `depends_on`: the Kyverno policies."""
    iso = config.isolation
    return TenantNamespacesArgs(
        tenant=config.name,
        namespaces=team_namespaces(config),
        provider=handle.provider,
        pod_security_version=iso.pod_security_version
        or pod_security_version(handle.kubernetes_version),
        quota=QuotaDefaults(
            requests_cpu=iso.namespace_quota.requests_cpu,
            requests_memory=iso.namespace_quota.requests_memory,
            pods=iso.namespace_quota.pods,
            load_balancers=iso.namespace_quota.load_balancers,
            persistent_volume_claims=iso.namespace_quota.persistent_volume_claims,
        ),
        limits=LimitDefaults(
            default_request_cpu=iso.limit_range.default_request_cpu,
            default_request_memory=iso.limit_range.default_request_memory,
            default_limit_cpu=iso.limit_range.default_limit_cpu,
            default_limit_memory=iso.limit_range.default_limit_memory,
        ),
        depends_on=depends_on,
    )


def _verification(iso: IsolationConfig) -> ImageVerification | None:
    verification = iso.image_verification
    if not verification.enabled or verification.public_key is None:
        # A missing key with verification enabled is a config error reported by
        # `isolation_rules`; here it only means "nothing to render".
        return None
    return ImageVerification(
        public_key=verification.public_key,
        image_references=tuple(verification.image_references),
        mutate_digest=verification.mutate_digest,
        verify_digest=verification.verify_digest,
    )


def dedicated_team_namespaces(config: TenantConfig) -> dict[str, tuple[str, ...]]:
    """Team -> its namespaces, for every team some node group is dedicated to
    (`nodeGroups[].team`), in config order: what the Kyverno team policies render."""
    owners = {group.team for group in config.node_groups if group.team is not None}
    return {
        team.name: tuple(team.effective_namespaces) for team in config.teams if team.name in owners
    }


def kyverno_args(handle: ClusterHandle, config: TenantConfig) -> KyvernoPoliciesArgs:
    """`KyvernoPoliciesArgs` from the config (pure)."""
    iso = config.isolation
    return KyvernoPoliciesArgs(
        tenant=config.name,
        provider=handle.provider,
        platform_namespaces=tuple(iso.all_platform_namespaces),
        privileged_namespaces={
            ns: tuple(str(control) for control in controls)
            for ns, controls in iso.privileged_namespaces.items()
        },
        allowed_registries=tuple(iso.allowed_registries),
        verification=_verification(iso),
        mirrors=compose.mirrors(config),
        tolerations=system_tolerations_k8s(config),
        admission_replicas=iso.kyverno.admission_replicas,
        depends_on=handle.network_ready,
        team_namespaces=dedicated_team_namespaces(config),
    )


def install(
    handle: ClusterHandle, config: TenantConfig
) -> tuple[ClusterHandle, dict[str, pulumi.Output[object]]]:
    """Create the isolation components on the tenant cluster.

    Returns the handle with `tenant_ready` (the tenant namespaces and their guardrails)
    and the outputs to export.
    """
    opts = pulumi.ResourceOptions(parent=handle.parent)
    kyverno = KyvernoPolicies(f"{handle.name}-kyverno", kyverno_args(handle, config), opts)
    namespaces = TenantNamespaces(
        f"{handle.name}-tenant-namespaces",
        # Kyverno first: tenant namespaces must never exist without admission policies
        # (a component dependency expands to its release and every ClusterPolicy).
        tenant_namespaces_args(handle, config, depends_on=(kyverno,)),
        opts,
    )
    ready = replace(handle, tenant_ready=(*handle.tenant_ready, namespaces))
    return ready, {
        "tenantNamespaces": namespaces.namespaces,
        "kyvernoPolicies": kyverno.policy_names,
    }
