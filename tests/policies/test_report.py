"""`report`: what each policy checked, deferred and skipped at preview."""

from __future__ import annotations

import io
import socket
from concurrent import futures
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from policies.gpu_caas_policies import report as report_module
from policies.gpu_caas_policies.report import (
    PackReport,
    PolicyTally,
    describe,
    emit,
    engine_address,
    instrument,
    is_dry_run,
    log_to_engine,
    note_checked,
    note_not_applicable,
    note_outcome,
    note_skipped,
    policy_line,
    render,
)
from tests.policies.helpers import UNKNOWN, resource_args, run, stack

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
TENANT_CLUSTER = "gpu-caas:cluster:TenantCluster"
CONTROL_PLANE = "gpu-caas:cluster:ControlPlane"
NODE_GROUP = "gpu-caas:cluster:NodeGroup"


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


# --------------------------------------------------------------------------- #
# What each policy decided: applicable resources only, decisive values, skipped parts
# --------------------------------------------------------------------------- #


def _releases() -> list[Any]:
    """The GPU Operator and two other releases, as in the dev stack."""
    return [
        resource_args(RELEASE, {"chart": "gpu-operator", "version": "v26.7.0"}, name="gpu"),
        resource_args(RELEASE, {"chart": "cilium", "version": "1.18.2"}, name="cni"),
        resource_args(RELEASE, {"chart": "kyverno", "version": "3.9.0"}, name="kyverno"),
    ]


def test_a_cve_floor_counts_only_the_gpu_operator_and_says_the_version() -> None:
    report, (floor, toolkit) = _instrumented(
        platform_safety.gpu_operator_floor, platform_safety.toolkit_floor
    )
    for args in _releases():
        assert run(floor, args) == [] and run(toolkit, args) == []
    assert policy_line(report.policies["gpu-operator-cve-floor"]) == (
        "  gpu-operator-cve-floor: checked 1 (GPU Operator v26.7.0 >= 25.3.1)"
    )
    assert policy_line(report.policies["container-toolkit-cve-floor"]) == (
        "  container-toolkit-cve-floor: checked 1 (the chart's default toolkit, covered by "
        "gpu-operator-cve-floor)"
    )
    # Releases the policy does not apply to are not "checked", nor anything else.
    assert report.policies["gpu-operator-cve-floor"].checked == ["Release gpu"]


def test_a_floor_violation_shows_the_version_below_the_floor() -> None:
    report, (floor, toolkit) = _instrumented(
        platform_safety.gpu_operator_floor, platform_safety.toolkit_floor
    )
    old = {
        "chart": "gpu-operator",
        "version": "v24.9.0",
        "values": {"toolkit": {"version": "v1.17.0"}},
    }
    assert len(run(floor, resource_args(RELEASE, old, name="gpu"))) == 1
    assert len(run(toolkit, resource_args(RELEASE, old, name="gpu"))) == 1
    assert policy_line(report.policies["gpu-operator-cve-floor"]) == (
        "  gpu-operator-cve-floor: checked 1 (GPU Operator v24.9.0 < 25.3.1); 1 violation"
    )
    assert policy_line(report.policies["container-toolkit-cve-floor"]) == (
        "  container-toolkit-cve-floor: checked 1 (toolkit v1.17.0 < 1.17.8); 1 violation"
    )


def test_the_kubernetes_floor_judges_versioned_resources_and_gives_the_version() -> None:
    report, (minimum,) = _instrumented(platform_safety.kubernetes_version)
    resources: list[tuple[str, str, dict[str, Any]]] = [
        (TENANT_CLUSTER, "dev", {"kubernetesVersion": "1.34.2", "tenant": "dev"}),
        (CONTROL_PLANE, "dev-control-plane", {"kubernetesVersion": "1.34.2"}),
        (NAMESPACE, "ml", {"metadata": {"name": "ml"}}),
        (RELEASE, "gpu", {"chart": "gpu-operator", "version": "v26.7.0"}),
    ]
    assert run(minimum, stack(resources)) == []
    assert policy_line(report.policies["kubernetes-minimum-version"]) == (
        "  kubernetes-minimum-version (stack): judged 2 resources (Kubernetes 1.34.2 >= 1.34.0)"
    )


def _node_groups(**config: Any) -> Any:
    labels = {"gpu-caas.io/tenant": "dev"}
    return stack(
        [
            (TENANT_CLUSTER, "dev", {"tenant": "dev", "kubernetesVersion": "1.34.2"}),
            (NODE_GROUP, "dev-train", {"nodeGroup": "train", "labels": labels, "hosts": ["gpu-0"]}),
            (
                NODE_GROUP,
                "dev-nb",
                {"nodeGroup": "notebooks", "labels": labels, "hosts": ["gpu-1"]},
            ),
            (NAMESPACE, "ml", {"metadata": {"name": "ml"}}),
        ],
        config or None,
    )


def test_host_ownership_names_the_inventory_half_it_skipped() -> None:
    report, (ownership,) = _instrumented(platform_safety.node_group_ownership)
    assert run(ownership, _node_groups()) == []
    assert policy_line(report.policies["hosts-belong-to-tenant"]) == (
        "  hosts-belong-to-tenant (stack): judged 3 resources (tenant dev: node groups "
        "notebooks, train); skipped the host inventory check (no hostOwners in the pack config)"
    )


def test_host_ownership_with_an_inventory_skips_nothing() -> None:
    report, (ownership,) = _instrumented(platform_safety.node_group_ownership)
    owners = {"hostOwners": {"gpu-0": "dev", "gpu-1": "dev"}}
    assert run(ownership, _node_groups(**owners)) == []
    line = policy_line(report.policies["hosts-belong-to-tenant"]) or ""
    assert line.endswith("judged 3 resources (tenant dev: node groups notebooks, train)")


def test_a_stack_policy_that_read_nothing_is_idle() -> None:
    report, (ownership,) = _instrumented(platform_safety.one_group_per_host)
    assert run(ownership, stack([(NAMESPACE, "ml", {"metadata": {"name": "ml"}})])) == []
    assert policy_line(report.policies["host-in-one-node-group"]) is None
    assert "  no matching resource: host-in-one-node-group" in render(report)


def test_notes_are_listed_once_each_and_cut_after_three() -> None:
    def validator(args: Any, report: Any) -> None:
        if args.props["kind"] == "other":
            note_not_applicable()
            return
        note_outcome(f"v{args.props['v']}")
        note_outcome(f"v{args.props['v']}")
        note_skipped("the deep check", "deepCheck")

    policy = ResourceValidationPolicy(name="p", description="d", validate=validator)
    report = PackReport.for_policies("pack", [policy])
    instrument(policy, report)
    for index, version in enumerate(["1", "2", "1", "3", "4"]):
        run(policy, resource_args(NAMESPACE, {"kind": "mine", "v": version}, name=f"r{index}"))
    run(policy, resource_args(NAMESPACE, {"kind": "other"}, name="o"))
    assert policy_line(report.policies["p"]) == (
        "  p: checked 5 (v1, v2, v3 and 1 more); skipped the deep check (no deepCheck in the "
        "pack config)"
    )
    note_outcome("outside an evaluation")  # nothing happens
    note_skipped("x", "y")
    note_not_applicable()


# --------------------------------------------------------------------------- #
# Shown once: one engine diagnostic, not one per line
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/repo/policies/safety", "127.0.0.1:39485", "/repo/policies/x"], "127.0.0.1:39485"),
        (["run-policy-pack", "localhost:5000", ".", "-virtualenv=../../.venv"], "localhost:5000"),
        (["pack", "[::1]:5000"], "[::1]:5000"),
        (["127.0.0.1:1"], None),  # argv[0] is the program, never the address
        (["pack", "/a/b:c", "-flag=x:1", "C:/dir"], None),
    ],
)  # fmt: skip
def test_engine_address(argv: list[str], expected: str | None) -> None:
    assert engine_address(argv) == expected


class _Engine:
    """A stand-in for the engine's `Engine` gRPC service on 127.0.0.1: records `Log`."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        recorded = self.requests

        class Servicer(engine_pb2_grpc.EngineServicer):
            def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC's name)
                recorded.append(request)
                return empty_pb2.Empty()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(Servicer(), self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0)


def test_the_report_goes_to_the_engine_as_one_info_diagnostic() -> None:
    engine = _Engine()
    try:
        out = io.StringIO()
        text = "pack: 2 policies over 3 resources at preview\n  a: checked 1\n"
        emit(text, ["pack", engine.address], out)
    finally:
        engine.stop()
    (request,) = engine.requests
    assert request.message == text.rstrip("\n")  # one message, every line in it
    assert request.severity == engine_pb2.INFO and not request.ephemeral
    assert out.getvalue() == ""


def test_without_an_engine_the_report_goes_to_stdout() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    assert log_to_engine(closed, "x", timeout=2) is False
    for argv in (["pack"], ["pack", closed]):
        out = io.StringIO()
        emit("pack: report\n", argv, out)
        assert out.getvalue() == "pack: report\n"


def test_resources_without_properties_at_preview_are_named_by_kind() -> None:
    # At a first preview the engine gives stack policies each resource's outputs: none
    # yet for what the update creates. The guardrails then judge nothing at preview.
    report, (guardrails,) = _instrumented(tenant_isolation.namespace_guardrails)
    resources: list[tuple[str, str, dict[str, Any]]] = [
        (NAMESPACE, "ml", {}),
        ("kubernetes:core/v1:ResourceQuota", "ml-quota", {}),
        (TENANT_CLUSTER, "dev", {"tenant": "dev", "kubernetesVersion": "1.34.2"}),
    ]
    assert run(guardrails, stack(resources)) == []
    tally = report.policies["tenant-namespace-guardrails"]
    assert tally.unavailable == ["Namespace ml", "ResourceQuota ml-quota"]
    assert policy_line(tally) == (
        "  tenant-namespace-guardrails (stack): judged 0 resources; 2 resources without "
        "properties until `pulumi up` creates them, judged then: Namespace, ResourceQuota"
    )
