"""policies/gpu_caas_policies/decode_once.py, through the SDK's own servicer (no gRPC).

The hook must change how often a request is decoded, never what the packs decide: the
same requests give the same diagnostics and not-applicable entries with and without it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy import policy as sdk

from policies.gpu_caas_policies import decode_once, platform_safety, tenant_isolation
from tests.policies.helpers import TENANT_PROVIDER_URN, urn

PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "team-ml"},
    "spec": {
        "hostNetwork": True,
        "containers": [
            {
                "name": "c",
                "image": "nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04",
                "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
            }
        ],
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
    },
}
WILDCARD_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "everything", "namespace": "team-ml"},
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
}
NODEPORT = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "s", "namespace": "team-ml"},
    "spec": {"type": "NodePort", "ports": [{"port": 80}]},
}
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("kubernetes:core/v1:Pod", "pod", PRIVILEGED_POD),
    ("kubernetes:rbac.authorization.k8s.io/v1:Role", "role", WILDCARD_ROLE),
    ("kubernetes:core/v1:Service", "svc", NODEPORT),
    (
        "kubernetes:helm.sh/v3:Release",
        "gpu-operator",
        {"chart": "gpu-operator", "version": "^25", "repositoryOpts": {"repo": "http://x"}},
    ),
    ("command:remote:Command", "join", {"create": "kubeadm join", "environment": {"K": "v"}}),
    (
        "kubernetes:apps/v1:Deployment",
        "web",
        {
            "metadata": {"name": "web", "namespace": "team-ml"},
            "spec": {"template": {"spec": PRIVILEGED_POD["spec"]}},
        },
    ),
    (
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "admins",
        {
            "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "Group", "name": "team-ml"}],
        },
    ),
    (
        "kubernetes:core/v1:Namespace",
        "team-ml",
        {"metadata": {"name": "team-ml", "labels": {"gpu-caas.io/tenant-namespace": "true"}}},
    ),
    (
        "kubernetes:core/v1:ConfigMap",
        "kubeconfig",
        {"metadata": {"name": "k"}, "data": {"config": "apiVersion: v1\nkind: Config\n"}},
    ),
]


def request(resource_type: str, name: str, props: dict[str, Any]) -> Any:
    """An engine AnalyzeRequest for a resource on the tenant's Kubernetes provider."""
    properties = struct_pb2.Struct()
    properties.update(props)
    provider = struct_pb2.Struct()
    provider.update({"kubeconfig": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})
    return analyzer_pb2.AnalyzeRequest(
        type=resource_type,
        urn=urn(resource_type, name),
        name=name,
        properties=properties,
        provider=analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:kubernetes",
            urn=TENANT_PROVIDER_URN,
            name="acme-cluster-provider",
            properties=provider,
        ),
    )


def servicers() -> list[Any]:
    return [
        sdk._PolicyAnalyzerServicer(name, "0.0.1", list(policies), EnforcementLevel.MANDATORY)
        for name, policies in (
            ("platform-safety", platform_safety.POLICIES),
            ("tenant-isolation", tenant_isolation.POLICIES),
        )
    ]


def outcome(response: Any) -> list[tuple[str, str]]:
    """What a response decides: every diagnostic and not-applicable entry."""
    return sorted(
        [(d.policyName, d.message) for d in response.diagnostics]
        + [(n.policy_name, n.reason) for n in response.not_applicable]
    )


@pytest.fixture
def decodings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The hook installed; every protobuf-to-dict conversion the SDK makes is counted."""
    decode_once.install_decode_once_hook()
    calls: list[str] = []
    convert = json_format.MessageToDict

    def counting(message: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(message).__name__)
        return convert(message, *args, **kwargs)

    monkeypatch.setattr(json_format, "MessageToDict", counting)
    yield calls


def test_the_hook_is_installed_once(decodings: list[str]) -> None:
    analyze, remediate = sdk._PolicyAnalyzerServicer.Analyze, sdk._PolicyAnalyzerServicer.Remediate
    decode_once.install_decode_once_hook()
    assert sdk._PolicyAnalyzerServicer.Analyze is analyze
    assert sdk._PolicyAnalyzerServicer.Remediate is remediate


@pytest.mark.parametrize(("resource_type", "name", "props"), REQUESTS)
def test_analyze_decodes_as_often_for_one_policy_as_for_all(
    decodings: list[str], resource_type: str, name: str, props: dict[str, Any]
) -> None:
    """However many policies the pack has, a request costs what it costs for one: its
    properties and its provider's, once each (other hooks of the packs, such as
    `planned`, may add their own decoding, the same for both)."""
    all_policies = servicers()[1]
    one_policy: Any = sdk._PolicyAnalyzerServicer(
        "one", "0.0.1", [tenant_isolation.no_privileged], EnforcementLevel.MANDATORY
    )
    one_policy.Analyze(request(resource_type, name, props), None)
    for_one = len(decodings)
    decodings.clear()
    all_policies.Analyze(request(resource_type, name, props), None)
    assert (
        len([p for p in tenant_isolation.POLICIES if isinstance(p, ResourceValidationPolicy)]) > 10
    )
    assert len(decodings) == for_one
    assert decodings.count("Struct") >= 2
    assert decode_once._memo() is None


@pytest.mark.parametrize(("resource_type", "name", "props"), REQUESTS)
def test_the_packs_decide_the_same_with_and_without_the_hook(
    decodings: list[str], resource_type: str, name: str, props: dict[str, Any]
) -> None:
    sdk_analyze = inspect.unwrap(sdk._PolicyAnalyzerServicer.Analyze)  # every hook's too
    for servicer in servicers():
        hooked = outcome(servicer.Analyze(request(resource_type, name, props), None))
        decodings.clear()
        plain = outcome(sdk_analyze(servicer, request(resource_type, name, props), None))
        assert hooked == plain
        # Without the hook the SDK decodes once per resource policy (and its provider).
        assert len(decodings) > 2


def test_the_examples_still_fail_where_they_should(decodings: list[str]) -> None:
    """Guard against a hook that silently passes everything."""
    platform, isolation = servicers()
    pod = {name for name, _ in outcome(isolation.Analyze(request(*REQUESTS[0]), None))}
    assert {
        "no-privileged-tenant-workloads",
        "no-host-namespaces-for-tenant-workloads",
        "no-hostpath-for-tenant-workloads",
        "no-added-capabilities-for-tenant-workloads",
    } <= pod
    role = {name for name, _ in outcome(isolation.Analyze(request(*REQUESTS[1]), None))}
    assert "no-wildcard-tenant-roles" in role
    helm = {name for name, _ in outcome(platform.Analyze(request(*REQUESTS[3]), None))}
    assert {"helm-chart-exact-version", "helm-chart-allowed-repository"} <= helm


def test_concurrent_requests_keep_their_own_decodings(decodings: list[str]) -> None:
    isolation = servicers()[1]
    expected = [outcome(isolation.Analyze(request(*r), None)) for r in REQUESTS]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda r: outcome(isolation.Analyze(request(*r), None)), REQUESTS * 20))
    assert got == expected * 20


def test_remediate_answers_without_decoding_when_no_policy_remediates(
    decodings: list[str],
) -> None:
    for servicer in servicers():
        response = servicer.Remediate(request(*REQUESTS[0]), None)
        assert list(response.remediations) == [] and list(response.not_applicable) == []
    assert decodings == []


async def strip_spec(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return {**args.props, "spec": {}}


def test_remediate_runs_the_sdk_when_a_policy_is_set_to_remediate(decodings: list[str]) -> None:
    remediating = ResourceValidationPolicy(
        name="strip-host-network",
        description="test remediation",
        remediate=strip_spec,
        enforcement_level=EnforcementLevel.REMEDIATE,
    )
    analysis_only = ResourceValidationPolicy(
        name="analysis-only",
        description="validate only",
        validate=lambda args, report: None,
        enforcement_level=EnforcementLevel.REMEDIATE,
    )
    servicer: Any = sdk._PolicyAnalyzerServicer(
        "remediating", "0.0.1", [remediating, analysis_only], EnforcementLevel.MANDATORY
    )
    response = servicer.Remediate(request(*REQUESTS[0]), None)
    assert [r.policyName for r in response.remediations] == ["strip-host-network"]
    assert [n.policy_name for n in response.not_applicable] == ["analysis-only"]
    assert decodings  # the SDK's own method ran


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ((EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY), False),
        ((EnforcementLevel.DISABLED,), False),
        ((EnforcementLevel.ADVISORY, EnforcementLevel.REMEDIATE), True),
    ],
)
def test_remediates_follows_each_policys_effective_level(
    levels: tuple[EnforcementLevel, ...], expected: bool
) -> None:
    policies: list[Policy] = [
        ResourceValidationPolicy(
            name=f"p{i}", description="d", validate=lambda a, r: None, enforcement_level=level
        )
        for i, level in enumerate(levels)
    ]
    servicer = sdk._PolicyAnalyzerServicer("p", "0.0.1", policies, EnforcementLevel.MANDATORY)
    assert decode_once.remediates(servicer) is expected


def test_remediate_falls_back_to_the_sdk_when_the_policies_are_not_where_expected() -> None:
    class Elsewhere:
        pass

    assert decode_once.remediates(Elsewhere()) is True


def ignore_violation(message: str, urn: str | None = None) -> None:
    """A `ReportViolation` that keeps nothing."""


@pytest.mark.parametrize(("resource_type", "name", "props"), REQUESTS)
def test_no_resource_policy_writes_to_the_shared_properties(
    resource_type: str, name: str, props: dict[str, Any]
) -> None:
    """One read-only view serves every policy of a request: a validator that wrote to it
    (the SDK's dict view has `__setitem__`) would change what the next policy sees."""
    from collections.abc import Mapping, Sequence

    from pulumi_policy.proxy import unknown_checking_proxy

    from tests.policies.helpers import options, tenant_provider

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: plain(value[key]) for key in value}
        if isinstance(value, Sequence) and not isinstance(value, str):
            return [plain(item) for item in value]
        return value

    view = unknown_checking_proxy(props)
    for policy in [*platform_safety.POLICIES, *tenant_isolation.POLICIES]:
        if isinstance(policy, ResourceValidationPolicy):
            args = ResourceValidationArgs(
                resource_type,
                view,
                urn(resource_type, name),
                name,
                options(),
                tenant_provider(),
                None,
            )
            policy.validate(args, ignore_violation)
    assert plain(view) == props
