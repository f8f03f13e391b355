"""`KyvernoPolicies`: Kyverno and the ClusterPolicies that enforce tenant isolation.

CrossGuard checks what this program declares; Kyverno checks everything that reaches
the API server, including what tenants apply themselves. Every rule is `Enforce`
(per-rule `failureAction`: the CRD of Kyverno 1.19 deprecates the policy-level
`validationFailureAction`) and the webhooks fail closed (`failurePolicy: Fail`).

Policies (all rendered by pure functions and validated against the upstream
ClusterPolicy CRD in tests):

* `gpu-caas-pod-security` - Pod Security Standards `restricted` outside the platform
  namespaces (`validate.podSecurity`), on top of the namespace PSA labels, so a
  namespace relabelled by mistake is still covered.
* `gpu-caas-host-access` - privileged, hostPath, hostNetwork, hostPID, hostIPC: one rule
  per control, each exempting only the platform namespaces configured for it.
* `gpu-caas-image-registries` - images only from allowed registries or the mirror.
* `gpu-caas-verify-nvidia-images` - cosign key verification of NVIDIA images, tags
  mutated to the verified digest (https://kyverno.io/docs/writing-policies/verify-images/).
* `gpu-caas-no-nodeport` - no NodePort Services in tenant namespaces.
* `gpu-caas-team-tolerations` (mutate) and `gpu-caas-team-nodes` (validate), when node
  groups are dedicated to a team (`nodeGroups[].team`; required for time-slicing and
  MPS, which give no memory or fault isolation between the pods sharing a GPU): pods in
  the team's namespaces get the toleration of the group's
  `gpu-caas.io/team=<team>:NoSchedule` taint, and a pod anywhere else (platform
  namespaces excepted) that tolerates it is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.helm import helm_release
from components.isolation.tenant_namespaces import LABEL_TEAM
from components.mirrors import Mirrors
from components.naming import LABEL_TENANT
from components.placement import apply_tolerations, parse_tolerations
from components.versions import KYVERNO

TYPE = "gpu-caas:isolation:KyvernoPolicies"
NAMESPACE = "kyverno"
API_VERSION = "kyverno.io/v1"
KIND = "ClusterPolicy"
ENFORCE = "Enforce"

HOST_ACCESS_CONTROLS = ("privileged", "hostPath", "hostNetwork", "hostPID", "hostIPC")

KYVERNO_IMAGES: tuple[str, ...] = tuple(
    f"reg.kyverno.io/kyverno/{image}:{KYVERNO.version}"
    for image in (
        "kyverno",
        "kyvernopre",
        "background-controller",
        "cleanup-controller",
        "reports-controller",
    )
)
"""Images the Kyverno chart pulls (chart default registry reg.kyverno.io)."""

_UPSTREAM_KYVERNO_REGISTRY = "reg.kyverno.io"


@dataclass(frozen=True)
class ImageVerification:
    """Key-based signature verification of matching images."""

    public_key: str
    image_references: tuple[str, ...] = ("nvcr.io/nvidia/*",)
    mutate_digest: bool = True
    verify_digest: bool = True


@dataclass(frozen=True)
class KyvernoPoliciesArgs:
    """Inputs of `KyvernoPolicies`, built by `stacks/platform_isolation.py`."""

    tenant: str
    provider: k8s.Provider
    """The tenant cluster's explicit provider."""
    platform_namespaces: tuple[str, ...]
    privileged_namespaces: Mapping[str, tuple[str, ...]]
    """Namespace -> host-access controls (`HOST_ACCESS_CONTROLS`) allowed there."""
    allowed_registries: tuple[str, ...]
    verification: ImageVerification | None
    """None when verification is explicitly disabled."""
    mirrors: Mirrors = field(default_factory=Mirrors)
    admission_replicas: int = 3
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the Kyverno release waits for (the CNI: `ClusterHandle.network_ready`).
    Platform operators do not wait for Kyverno: the policies exempt their namespaces."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""
    team_namespaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Team -> its namespaces, for every team that owns a node group
    (`nodeGroups[].team`); empty: no team policies."""


# --------------------------------------------------------------------------- #
# Pure renderers
# --------------------------------------------------------------------------- #


def _pods() -> dict[str, Any]:
    return {"any": [{"resources": {"kinds": ["Pod"]}}]}


def _exclude_namespaces(namespaces: Sequence[str]) -> dict[str, Any]:
    return {"any": [{"resources": {"namespaces": sorted(namespaces)}}]}


def _policy_spec(
    rules: list[dict[str, Any]], *, background: bool = True, timeout_seconds: int = 10
) -> dict[str, Any]:
    return {
        "background": background,
        # Fail closed: if Kyverno cannot answer, the request is refused, not admitted.
        "webhookConfiguration": {"failurePolicy": "Fail", "timeoutSeconds": timeout_seconds},
        "rules": rules,
    }


def render_pod_security(platform_namespaces: Sequence[str]) -> dict[str, Any]:
    """Pod Security Standards `restricted` for every pod outside the platform namespaces."""
    return _policy_spec(
        [
            {
                "name": "restricted",
                "match": _pods(),
                "exclude": _exclude_namespaces(platform_namespaces),
                "validate": {
                    "failureAction": ENFORCE,
                    "message": "Tenant pods must meet the Pod Security Standards 'restricted' "
                    "profile: run as non-root, drop ALL capabilities, no privilege escalation, "
                    "seccomp RuntimeDefault.",
                    # `latest`: the CRD's version enum stops at v1.32; the namespace PSA labels pin
                    # the cluster minor.
                    "podSecurity": {"level": "restricted", "version": "latest"},
                },
            }
        ]
    )


def _containers_pattern(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "=(ephemeralContainers)": [container],
        "=(initContainers)": [container],
        "containers": [container],
    }


_HOST_ACCESS_PATTERNS: dict[str, tuple[str, dict[str, Any]]] = {
    "privileged": (
        "Privileged containers are only allowed in the platform operator namespaces.",
        {"spec": _containers_pattern({"=(securityContext)": {"=(privileged)": "false"}})},
    ),
    "hostPath": (
        "hostPath volumes are only allowed in the platform operator namespaces.",
        {"spec": {"=(volumes)": [{"X(hostPath)": "null"}]}},
    ),
    "hostNetwork": (
        "The host network is only allowed in the platform operator namespaces.",
        {"spec": {"=(hostNetwork)": "false"}},
    ),
    "hostPID": (
        "The host PID namespace is only allowed in the platform operator namespaces.",
        {"spec": {"=(hostPID)": "false"}},
    ),
    "hostIPC": (
        "The host IPC namespace is only allowed in the platform operator namespaces.",
        {"spec": {"=(hostIPC)": "false"}},
    ),
}


def render_host_access(privileged_namespaces: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """One rule per host-access control, each exempting only the namespaces allowed it."""
    rules = []
    for control in HOST_ACCESS_CONTROLS:
        message, pattern = _HOST_ACCESS_PATTERNS[control]
        rule: dict[str, Any] = {
            "name": f"disallow-{control.lower()}",
            "match": _pods(),
            "validate": {"failureAction": ENFORCE, "message": message, "pattern": pattern},
        }
        exempt = [ns for ns, allowed in privileged_namespaces.items() if control in allowed]
        if exempt:
            rule["exclude"] = _exclude_namespaces(exempt)
        rules.append(rule)
    return _policy_spec(rules)


def allowed_image_prefixes(registries: Sequence[str], mirrors: Mirrors) -> list[str]:
    """Registries (or registry/path prefixes) images may come from, mirrors included."""
    prefixes = [r.rstrip("/") for r in registries]
    prefixes += [m.rstrip("/") for m in mirrors.image_registries.values()]
    return list(dict.fromkeys(prefixes))


def render_image_registries(registries: Sequence[str], mirrors: Mirrors) -> dict[str, Any]:
    """Images only from the allowed registries or the configured mirror."""
    allowed = " | ".join(f"{prefix}/*" for prefix in allowed_image_prefixes(registries, mirrors))
    return _policy_spec(
        [
            {
                "name": "allowed-registries",
                "match": _pods(),
                "validate": {
                    "failureAction": ENFORCE,
                    "message": "Images must come from an allowed registry or the provider's mirror "
                    f"({allowed}); use a fully qualified image reference.",
                    "pattern": {"spec": _containers_pattern({"image": allowed})},
                },
            }
        ]
    )


def verified_image_references(verification: ImageVerification, mirrors: Mirrors) -> list[str]:
    """The configured patterns plus their mirrored equivalents."""
    references = list(verification.image_references)
    for reference in verification.image_references:
        base, glob = (reference[:-2], "/*") if reference.endswith("/*") else (reference, "")
        mirrored = mirrors.image_registry(base) + glob
        if mirrored not in references:
            references.append(mirrored)
    return references


def render_verify_images(verification: ImageVerification, mirrors: Mirrors) -> dict[str, Any]:
    """Cosign key verification of NVIDIA images, with digests.

    NVIDIA signs operator images with a key and publishes no Rekor entry or SCT for
    them (gpu-operator issue #2432), so the transparency-log checks are skipped; the
    signature itself is still verified against the configured public key.
    Background scans are off for this policy: `verifyDigest`/`mutateDigest` only apply at
    admission, and re-verifying every running pod would hammer the registry.
    """
    return _policy_spec(
        [
            {
                "name": "verify-nvidia-signatures",
                "match": _pods(),
                "verifyImages": [
                    {
                        "type": "Cosign",
                        "imageReferences": verified_image_references(verification, mirrors),
                        "failureAction": ENFORCE,
                        "required": True,
                        "mutateDigest": verification.mutate_digest,
                        "verifyDigest": verification.verify_digest,
                        "attestors": [
                            {
                                "count": 1,
                                "entries": [
                                    {
                                        "keys": {
                                            "publicKeys": verification.public_key,
                                            "rekor": {"ignoreTlog": True},
                                            "ctlog": {"ignoreSCT": True},
                                        }
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        background=False,
        timeout_seconds=30,
    )


def render_no_nodeport(platform_namespaces: Sequence[str]) -> dict[str, Any]:
    """No NodePort Services outside the platform namespaces."""
    return _policy_spec(
        [
            {
                "name": "no-nodeport",
                "match": {"any": [{"resources": {"kinds": ["Service"]}}]},
                "exclude": _exclude_namespaces(platform_namespaces),
                "validate": {
                    "failureAction": ENFORCE,
                    "message": "NodePort Services open a port on every node; use ClusterIP behind "
                    "the platform ingress.",
                    "pattern": {"spec": {"=(type)": "!NodePort"}},
                },
            }
        ]
    )


def team_toleration(team: str) -> dict[str, str]:
    """The toleration of a team-dedicated group's taint (`gpu-caas.io/team=<team>:NoSchedule`,
    `components.cluster.labels.team_taints`), as a pod spec entry."""
    return {"key": LABEL_TEAM, "operator": "Equal", "value": team, "effect": "NoSchedule"}


def tolerating_team_query(team: str) -> str:
    """JMESPath: the pod's tolerations that tolerate `gpu-caas.io/team=<team>:NoSchedule`.

    Kubernetes' matching (`ToleratesTaint`,
    https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/): the
    key with operator `Exists` or value `<team>`, or no key with operator `Exists`
    (tolerates every taint); and no effect (every effect) or `NoSchedule`. `team` is a DNS
    label (`nodeGroups[].team`), safe inside the quotes.
    """
    key_matches = (
        f"(key=='{LABEL_TEAM}' && (operator=='Exists' || value=='{team}'))"
        " || (!key && operator=='Exists')"
    )
    return (
        f"request.object.spec.tolerations[?({key_matches}) && "
        "(!effect || effect=='NoSchedule')] || `[]`"
    )


def render_team_tolerations(team_namespaces: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Mutate: pods created in a team's namespaces get the toleration of its groups' taint.

    One rule per team (named after it). A JSON patch appends to the pod's tolerations
    (Kyverno creates the list when there is none), unless the pod already has it; a
    strategic-merge patch would replace the list (tolerations have no merge key). Pods
    only, on CREATE: a controller's pods are mutated when they are created, and
    tolerations are what lets the pod *onto* the nodes; selecting those nodes
    (`gpu-caas.io/team` node label, or the group's `gpu-caas.io/node-group`) is the
    workload's choice, docs/policies.md.
    """
    rules = []
    for team, namespaces in sorted(team_namespaces.items()):
        toleration = team_toleration(team)
        present = (
            f"request.object.spec.tolerations[?key=='{LABEL_TEAM}' && "
            f"operator=='Equal' && value=='{team}' && effect=='NoSchedule'] || `[]`"
        )
        rules.append(
            {
                "name": team,
                "match": {
                    "any": [
                        {
                            "resources": {
                                "kinds": ["Pod"],
                                "namespaces": sorted(namespaces),
                                "operations": ["CREATE"],
                            }
                        }
                    ]
                },
                "preconditions": {
                    "all": [
                        {
                            "key": f"{{{{ {present} | length(@) }}}}",
                            "operator": "Equals",
                            "value": 0,
                        }
                    ]
                },
                "mutate": {
                    # A string (RFC 6902 as YAML or JSON); JSON is both.
                    "patchesJson6902": json.dumps(
                        [{"op": "add", "path": "/spec/tolerations/-", "value": toleration}]
                    )
                },
            }
        )
    # Background mode applies to validate and generate rules, not to admission mutations.
    return _policy_spec(rules, background=False)


def render_team_nodes(
    team_namespaces: Mapping[str, Sequence[str]], platform_namespaces: Sequence[str]
) -> dict[str, Any]:
    """Validate (Enforce): only a team's own pods may tolerate its groups' taint.

    One rule per team (named after it): a pod outside the team's namespaces and the
    platform namespaces (whose node agents run on every GPU node) is refused when any of
    its tolerations tolerates `gpu-caas.io/team=<team>:NoSchedule`
    (`tolerating_team_query`), so another team's pod cannot share the team's
    time-sliced or MPS GPUs.
    """
    rules = []
    for team, namespaces in sorted(team_namespaces.items()):
        rules.append(
            {
                "name": team,
                "match": _pods(),
                "exclude": _exclude_namespaces([*platform_namespaces, *namespaces]),
                "validate": {
                    "failureAction": ENFORCE,
                    "message": f"Only pods of team '{team}' (namespaces "
                    f"{', '.join(sorted(namespaces))}) may tolerate the taint "
                    f"{LABEL_TEAM}={team}:NoSchedule: its node groups are dedicated to it "
                    "(time-slicing and MPS give no memory or fault isolation between pods "
                    "sharing a GPU). Remove that toleration (an `operator: Exists` "
                    "toleration without a key tolerates it too).",
                    "deny": {
                        "conditions": {
                            "any": [
                                {
                                    "key": f"{{{{ {tolerating_team_query(team)} | length(@) }}}}",
                                    "operator": "GreaterThan",
                                    "value": 0,
                                }
                            ]
                        }
                    },
                },
            }
        )
    return _policy_spec(rules)


def render_cluster_policies(args: KyvernoPoliciesArgs) -> dict[str, dict[str, Any]]:
    """Every ClusterPolicy spec, by policy name."""
    policies = {
        "gpu-caas-pod-security": render_pod_security(args.platform_namespaces),
        "gpu-caas-host-access": render_host_access(args.privileged_namespaces),
        "gpu-caas-image-registries": render_image_registries(args.allowed_registries, args.mirrors),
        "gpu-caas-no-nodeport": render_no_nodeport(args.platform_namespaces),
    }
    if args.verification is not None:
        policies["gpu-caas-verify-nvidia-images"] = render_verify_images(
            args.verification, args.mirrors
        )
    if args.team_namespaces:
        policies["gpu-caas-team-tolerations"] = render_team_tolerations(args.team_namespaces)
        policies["gpu-caas-team-nodes"] = render_team_nodes(
            args.team_namespaces, args.platform_namespaces
        )
    return policies


def render_values(
    admission_replicas: int, mirrors: Mirrors, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """Kyverno chart values (keys checked against the chart's values.yaml in tests).

    `tolerations` (the tenant's system tolerations) go to every controller and hook Job
    (`components.workloads.KYVERNO`)."""
    values: dict[str, Any] = {
        # Three replicas keep admission available through a node drain; with
        # failurePolicy Fail an unavailable Kyverno blocks pod creation.
        "admissionController": {"replicas": admission_replicas},
        # Policy exceptions would let whoever can create them opt out of isolation.
        "features": {"policyExceptions": {"enabled": False}},
    }
    mirrored = mirrors.image_registry(_UPSTREAM_KYVERNO_REGISTRY)
    if mirrored != _UPSTREAM_KYVERNO_REGISTRY:
        values["global"] = {"image": {"registry": mirrored}}
    return apply_tolerations(values, wl.KYVERNO, parse_tolerations(tolerations))


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class KyvernoPolicies(pulumi.ComponentResource):
    """Kyverno (Helm) plus the isolation ClusterPolicies."""

    policy_names: pulumi.Output[list[str]]
    """Names of the ClusterPolicies created."""

    def __init__(
        self, name: str, args: KyvernoPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        release = _create_release(name, args, self)
        policies = render_cluster_policies(args)
        for policy_name, spec in policies.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{policy_name}",
                api_version=API_VERSION,
                kind=KIND,
                metadata={"name": policy_name, "labels": {LABEL_TENANT: args.tenant}},
                spec=spec,
                # The chart installs the ClusterPolicy CRD and the webhooks.
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.provider, depends_on=[release]
                ),
            )
        self.policy_names = pulumi.Output.from_input(sorted(policies))
        self.register_outputs({"policyNames": self.policy_names})


def _create_release(
    name: str, args: KyvernoPoliciesArgs, parent: pulumi.Resource
) -> k8s.helm.v3.Release:
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata={"name": NAMESPACE, "labels": {LABEL_TENANT: args.tenant}},
        opts=pulumi.ResourceOptions(parent=parent, provider=args.provider),
    )
    chart = KYVERNO.chart
    if chart is None:  # pragma: no cover - the matrix always pins Kyverno's chart
        raise RuntimeError("components.versions.KYVERNO has no Helm chart")
    return helm_release(
        f"{name}-kyverno",
        chart,
        render_values(args.admission_replicas, args.mirrors, args.tolerations),
        NAMESPACE,
        args.mirrors,
        pulumi.ResourceOptions(
            parent=parent, provider=args.provider, depends_on=[namespace, *args.depends_on]
        ),
        images=KYVERNO_IMAGES,
    )
