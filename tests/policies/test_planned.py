"""`policies/gpu_caas_policies/planned.py`: stack policies judge planned inputs when a
resource has no outputs yet (the first preview of a new tenant)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from policies.gpu_caas_policies import planned
from policies.gpu_caas_policies.tenant_isolation import namespace_guardrails_validator


@dataclass
class Resource:
    urn: str
    resource_type: str
    props: Any
    name: str = "x"
    provider: Any = None


@dataclass
class StackArgs:
    resources: list[Resource]
    config: dict[str, Any] = field(default_factory=dict)

    def get_config(self) -> dict[str, Any]:
        return self.config


@pytest.fixture(autouse=True)
def _forget() -> Any:
    yield
    planned._planned.clear()


@pytest.mark.parametrize(
    ("outputs", "inputs", "expected"),
    [
        ({"a": 1}, {"a": 2}, {"a": 1}),  # outputs win once there are any
        ({}, {"a": 2}, {"a": 2}),  # none yet: what the program planned
        ({}, None, {}),  # nothing recorded: the (empty) outputs
    ],
)
def test_props_of(outputs, inputs, expected):
    if inputs is not None:
        planned.record("urn:x", inputs)
    assert planned.props_of(Resource("urn:x", "t", outputs)) == expected


def test_the_guardrail_rule_judges_planned_inputs_on_a_first_preview():
    """The unguarded namespace of a new tenant: no outputs, its planned inputs say it
    is privileged and has no NetworkPolicy, quota or limits: refused at preview."""
    urn = "urn:pulumi:s::p::kubernetes:core/v1:Namespace::team-b"
    planned.record(
        urn,
        {
            "metadata": {
                "name": "team-b",
                "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
            }
        },
    )
    reports: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reports.append((message, urn))

    namespace_guardrails_validator(
        StackArgs([Resource(urn, "kubernetes:core/v1:Namespace", {})]),  # type: ignore[arg-type]
        report,
    )
    assert [u for _, u in reports] == [urn]
    assert "team-b" in reports[0][0] and "ResourceQuota" in reports[0][0]


def test_the_hook_records_only_the_types_stack_policies_judge():
    """Through the SDK servicer's real Analyze: a Namespace and a NodeGroup component
    are recorded; a command (most of a large tenant's resources, with outputs at
    preview anyway) is not converted a second time."""
    from google.protobuf import struct_pb2  # type: ignore[import-untyped]
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import EnforcementLevel, policy

    planned.install_planned_inputs_hook()
    no_op = policy.ResourceValidationPolicy("no-op", "judges nothing", lambda args, report: None)
    servicer: Any = policy._PolicyAnalyzerServicer(
        "t", "0.0.1", [no_op], EnforcementLevel.MANDATORY
    )
    for type_, urn in (
        ("kubernetes:core/v1:Namespace", "urn:ns"),
        ("gpu-caas:cluster:NodeGroup", "urn:group"),
        ("command:remote:Command", "urn:join"),
    ):
        struct = struct_pb2.Struct()
        struct.update({"metadata": {"name": "n"}})
        request = analyzer_pb2.AnalyzeRequest(type=type_, urn=urn, name="n", properties=struct)
        servicer.Analyze(request, None)
    namespace = planned.planned_props("urn:ns")
    assert namespace is not None and namespace["metadata"]["name"] == "n"
    assert planned.planned_props("urn:group") is not None
    assert planned.planned_props("urn:join") is None
