"""`report`: what each policy checked, deferred and skipped at preview."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from policies.gpu_caas_policies import report as report_module
from policies.gpu_caas_policies.report import (
    PackReport,
    PolicyTally,
    describe,
    instrument,
    is_dry_run,
    note_checked,
    policy_line,
    render,
)
from tests.policies.helpers import UNKNOWN, resource_args, run, stack

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"


def _fresh(policy: Any) -> Any:
    """A new policy object with the same name and validator (instrumenting mutates it)."""
    if isinstance(policy, ResourceValidationPolicy):
        return ResourceValidationPolicy(
            name=policy.name,
            description=policy.description,
            validate=policy._ResourceValidationPolicy__validate,  # type: ignore[attr-defined]
            enforcement_level=EnforcementLevel.MANDATORY,
        )
    return StackValidationPolicy(
        name=policy.name,
        description=policy.description,
        validate=policy._StackValidationPolicy__validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _instrumented(*policies: Any) -> tuple[PackReport, list[Any]]:
    fresh = [_fresh(p) for p in policies]
    report = PackReport.for_policies("pack", fresh)
    for policy in fresh:
        instrument(policy, report)
    return report, fresh


def test_resource_policy_counts_only_resources_it_reads() -> None:
    report, (helm,) = _instrumented(platform_safety.helm_exact_version)
    release = {"chart": "gpu-operator", "version": "v25.3.1", "repositoryOpts": {"repo": "x"}}
    assert run(helm, resource_args(RELEASE, release, name="gpu")) == []
    assert run(helm, resource_args(NAMESPACE, {"metadata": {"name": "ml"}}, name="ns")) == []
    tally = report.policies["helm-chart-exact-version"]
    assert tally.checked == ["Release gpu"]
    assert report.resources == {"Release gpu", "Namespace ns"}
    assert policy_line(tally) == "  helm-chart-exact-version: checked 1"


def test_violations_are_counted_and_still_reported() -> None:
    report, (helm,) = _instrumented(platform_safety.helm_exact_version)
    messages = run(helm, resource_args(RELEASE, {"chart": "x", "version": "^1.0"}, name="bad"))
    assert len(messages) == 1
    assert report.policies["helm-chart-exact-version"].violations == 1
    assert policy_line(report.policies["helm-chart-exact-version"]) == (
        "  helm-chart-exact-version: checked 1; 1 violation"
    )


def test_an_unknown_value_defers_the_check_and_names_it() -> None:
    report, (rights,) = _instrumented(tenant_isolation.no_platform_rights)
    binding = {
        "metadata": {"name": "b", "namespace": UNKNOWN},
        "roleRef": {"name": "edit"},
        "subjects": [{"kind": "Group", "name": "acme:ml"}],
    }
    assert run(rights, resource_args(ROLE_BINDING, binding, name="ml-binding")) == []
    tally = report.policies["no-tenant-rights-in-platform-namespaces"]
    assert tally.deferred == {"RoleBinding ml-binding": ".metadata.namespace"}
    assert tally.checked == []
    assert policy_line(tally) == (
        "  no-tenant-rights-in-platform-namespaces: checked 0; deferred 1 to `pulumi up` "
        "(.metadata.namespace unknown at preview): RoleBinding ml-binding"
    )


def test_unknown_values_a_scan_skips_are_listed() -> None:
    report, (credentials,) = _instrumented(platform_safety.credentials_only_in_secrets)
    props = {"data": {"a": "plain", "b": UNKNOWN}}
    run(credentials, resource_args("kubernetes:core/v1:ConfigMap", props, name="cm"))
    tally = report.policies["credentials-only-in-secrets"]
    assert tally.checked == ["ConfigMap cm"]
    assert tally.unknown == {"ConfigMap cm": {".data.b"}}
    assert "not scanned in 1 resource (unknown at preview: .data.b): ConfigMap cm" in (
        policy_line(tally) or ""
    )


def test_provider_access_counts_as_checked() -> None:
    report, (explicit,) = _instrumented(tenant_isolation.explicit_provider)
    run(explicit, resource_args(NAMESPACE, {"metadata": {"name": "ml"}}, name="ns"))
    run(explicit, resource_args("command:local:Command", {"create": "true"}, name="cmd"))
    assert report.policies["kubernetes-explicit-provider"].checked == ["Namespace ns"]


def test_stack_policy_lists_skipped_unknowns() -> None:
    report, (guardrails,) = _instrumented(tenant_isolation.namespace_guardrails)
    args = stack([(NAMESPACE, "later", {"metadata": {"name": UNKNOWN}})])
    assert run(guardrails, args) == []
    tally = report.policies["tenant-namespace-guardrails"]
    assert tally.checked == ["Namespace later"]
    assert tally.unknown == {"Namespace later": {".metadata.name"}}
    assert policy_line(tally) == (
        "  tenant-namespace-guardrails (stack): judged 1 resource; not scanned in 1 resource "
        "(unknown at preview: .metadata.name): Namespace later"
    )


def test_note_checked_counts_a_resource_without_reading_props() -> None:
    def validator(args: Any, report: Any) -> None:
        if args.resource_type == "pulumi:pulumi:Stack":
            note_checked()

    policy = ResourceValidationPolicy(name="stack-config", description="d", validate=validator)
    report = PackReport.for_policies("pack", [policy])
    instrument(policy, report)
    run(policy, resource_args("pulumi:pulumi:Stack", {}, name="gpu-caas-dev"))
    run(policy, resource_args(NAMESPACE, {"metadata": {"name": "ml"}}, name="ns"))
    assert report.policies["stack-config"].checked == ["Stack gpu-caas-dev"]
    note_checked()  # outside an evaluation: nothing happens


def test_instrument_is_idempotent() -> None:
    report, (helm,) = _instrumented(platform_safety.helm_exact_version)
    instrument(helm, report)
    run(helm, resource_args(RELEASE, {"chart": "c", "version": "1.0.0"}, name="r"))
    assert report.policies["helm-chart-exact-version"].checked == ["Release r"]


def test_render_whole_report() -> None:
    report = PackReport(
        "gpu-caas-tenant-isolation",
        {
            "a": PolicyTally("a", stack=False, checked=["Namespace x", "Namespace y"]),
            "b": PolicyTally("b", stack=True, checked=["Namespace x", "Namespace y"]),
            "c": PolicyTally("c", stack=False),
            "d": PolicyTally(
                "d",
                stack=False,
                checked=["Role r"],
                deferred={f"RoleBinding b{i}": ".metadata.namespace" for i in range(5)},
            ),
        },
        resources={"Namespace x", "Namespace y", "Role r"},
    )
    assert render(report) == (
        "gpu-caas-tenant-isolation: 4 policies over 3 resources at preview\n"
        "  a: checked 2\n"
        "  b (stack): judged 2 resources\n"
        "  d: checked 1; deferred 5 to `pulumi up` (.metadata.namespace unknown at preview): "
        "RoleBinding b0, RoleBinding b1, RoleBinding b2 and 2 more\n"
        "  no matching resource: c\n"
        "  Deferred checks run again during `pulumi up`, before each resource is created; "
        "a mandatory violation then stops the update.\n"
    )
    report.reset()
    assert all(not t.checked and not t.deferred for t in report.policies.values())
    assert report.policies["b"].stack and not report.resources


@pytest.mark.parametrize(
    ("resource_type", "name", "expected"),
    [
        ("kubernetes:core/v1:Namespace", "ml", "Namespace ml"),
        ("pulumi:providers:kubernetes", "dev-k8s", "provider dev-k8s"),
        ("gpu-caas:cluster:TenantCluster", "dev", "TenantCluster dev"),
    ],
)
def test_describe(resource_type: str, name: str, expected: str) -> None:
    assert describe(resource_type, name) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("FALSE", False), (None, True)]
)
def test_is_dry_run(value: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "_DRY_RUN", {})
    if value is None:
        monkeypatch.delenv("PULUMI_DRY_RUN", raising=False)
    else:
        monkeypatch.setenv("PULUMI_DRY_RUN", value)
    assert is_dry_run() is expected


def test_configure_stack_decides_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_DRY_RUN", "true")
    monkeypatch.setattr(report_module, "_DRY_RUN", {"dry_run": False})
    assert is_dry_run() is False
