"""stacks/config/rules.py: warnings that need more than the config (the stack name)."""

from __future__ import annotations

import pytest

from stacks.config import parse_tenant
from stacks.config.errors import ROOT
from stacks.config.rules import stack_name, warnings
from tests.stacks.samples import sample


@pytest.mark.parametrize(
    ("stack", "warned"),
    [
        ("acme", False),
        ("acme-prod", False),  # <tenant>-<stage>
        ("sandbox-acme", False),  # the sandbox's copy of an example
        ("staging.acme", False),
        ("dev", True),  # a stack file copied from another tenant, name not changed
        ("acmecorp", True),
        ("not-acmes", True),
    ],
)
def test_stack_name_warning(stack: str, warned: bool) -> None:
    config = parse_tenant(sample("tenant-managed"))  # name: acme
    found = stack_name(config, stack)
    assert bool(found) is warned
    if warned:
        (problem,) = found
        assert problem.path == f"{ROOT}.name"
        assert problem.message.startswith(
            f"tenant name 'acme' differs from the stack name {stack!r};"
        )


def test_warnings_check_the_stack_name_only_when_given() -> None:
    config = parse_tenant(sample("tenant-managed"))
    without = warnings(config)
    assert f"{ROOT}.name" not in [w.path for w in without]
    assert [w.path for w in warnings(config, stack="dev")] == [
        *(w.path for w in without),
        f"{ROOT}.name",
    ]
