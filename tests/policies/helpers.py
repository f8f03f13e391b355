"""Build validator arguments by hand and collect violations (no policy server).

`PolicyPack(...)` starts a gRPC server and blocks, so tests never build one; they call
`policy.validate(args, report)` directly, like the SDK's own `run_policy` helper.
Properties are wrapped with `unknown_checking_proxy`, exactly as the engine hands them
over, so unknown preview values behave as in a real `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

UNKNOWN = UNKNOWN_STRING_VALUE
"""A string value that is unknown during preview."""

STACK = "urn:pulumi:dev::gpu-caas"
TENANT_PROVIDER_URN = f"{STACK}::pulumi:providers:kubernetes::acme-cluster-provider"


def urn(resource_type: str, name: str) -> str:
    return f"{STACK}::{resource_type}::{name}"


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def tenant_provider() -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:kubernetes",
        unknown_checking_proxy({"kubeconfig": UNKNOWN}),
        TENANT_PROVIDER_URN,
        "acme-cluster-provider",
    )


def default_provider() -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:kubernetes",
        unknown_checking_proxy({}),
        f"{STACK}::pulumi:providers:kubernetes::default_4_25_0_alpha_1768448096",
        "default_4_25_0_alpha_1768448096",
    )


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    name: str = "res",
    provider: PolicyProviderResource | None = None,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(dict(props)),
        urn(resource_type, name),
        name,
        options(),
        provider if provider is not None else tenant_provider(),
        config,
    )


def run(policy: Policy, args: ResourceValidationArgs | StackValidationArgs) -> list[str]:
    """Validate and return the violation messages."""
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        assert isinstance(args, ResourceValidationArgs)
        policy.validate(args, report)
    else:
        assert isinstance(policy, StackValidationPolicy)
        assert isinstance(args, StackValidationArgs)
        policy.validate(args, report)
    return messages


def run_resource(
    policy: Policy, resource_type: str, props: Mapping[str, Any], **kwargs: Any
) -> list[str]:
    return run(policy, resource_args(resource_type, props, **kwargs))


def stack(
    resources: Sequence[tuple[str, str, Mapping[str, Any]]], config: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    """`StackValidationArgs` from `(type, name, props)` triples."""
    return StackValidationArgs(
        [
            PolicyResource(
                t,
                unknown_checking_proxy(dict(p)),
                urn(t, n),
                n,
                options(),
                tenant_provider(),
                None,
                [],
                {},
            )
            for t, n, p in resources
        ],
        config,
    )


# --------------------------------------------------------------------------- #
# From mock registrations (tests.support.mocks) to what the engine would analyze
# --------------------------------------------------------------------------- #


def _provider_of(resources: Sequence[Any], resource: Any) -> PolicyProviderResource | None:
    """The provider the engine would report: the explicit one, or the default provider
    (mocks record an empty provider reference when the default provider is used)."""
    if not resource.type.startswith("kubernetes:"):
        return None
    if not resource.provider_urn:
        return default_provider()
    provider = next(r for r in resources if r.urn == resource.provider_urn)
    return PolicyProviderResource(
        provider.type, unknown_checking_proxy(dict(provider.inputs)), provider.urn, provider.name
    )


def analyze(
    resources: Sequence[Any],
    policies: Sequence[Policy],
) -> list[tuple[str, str, str]]:
    """Run every policy over mock registrations; `(policy, resource name, message)` list.

    Resource policies see each resource's inputs; stack policies see all of them (the
    engine gives stack policies outputs, which mocks echo from the inputs).
    """
    fired: list[tuple[str, str, str]] = []
    by_urn = {r.urn: r.name for r in resources}
    stack_args = StackValidationArgs(
        [
            PolicyResource(
                r.type,
                unknown_checking_proxy(dict(r.inputs)),
                r.urn,
                r.name,
                options(r.parent or None),
                _provider_of(resources, r),
                None,
                [],
                {},
            )
            for r in resources
        ]
    )
    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(
                    r.type,
                    unknown_checking_proxy(dict(r.inputs)),
                    r.urn,
                    r.name,
                    options(r.parent or None),
                    _provider_of(resources, r),
                )
                fired += [(policy.name, r.name, m) for m in run(policy, args)]
        else:
            assert isinstance(policy, StackValidationPolicy)
            reported: list[tuple[str, str | None]] = []
            policy.validate(stack_args, _collector(reported))
            fired.extend((policy.name, by_urn.get(urn or "", ""), m) for m, urn in reported)
    return fired


def _collector(sink: list[tuple[str, str | None]]) -> Any:
    def report(message: str, urn: str | None = None) -> None:
        sink.append((message, urn))

    return report
