"""Deliberately bad programs trip the policy that names their fault.

Each fixture under tests/engine/fixtures/<name>/ is a tiny Pulumi program with an
`expected.json`: {"policies": ["<policy name>", ...]} — every named policy must
fire as a mandatory violation, and the preview must fail because of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.harness import ROOT, preview

FIXTURES = sorted(p.parent for p in (ROOT / "tests/engine/fixtures").glob("*/expected.json"))

pytestmark = pytest.mark.engine


def _expected(fixture: Path) -> list[str]:
    data = json.loads((fixture / "expected.json").read_text())
    policies = data.get("policies") or [data["policy"]]
    return [str(p) for p in policies]


def test_there_are_bad_fixtures() -> None:
    assert len(FIXTURES) >= 3, FIXTURES


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_bad_program_is_stopped_by_the_named_policy(fixture: Path, tmp_path: Path) -> None:
    result = preview(fixture, "test", tmp_path / "backend")
    detail = result.describe()
    fired = {v.policy for v in result.violations if v.level == "mandatory"}
    for policy in _expected(fixture):
        assert policy in fired, f"{policy} did not fire on {fixture.name}:\n{detail}"
    assert result.returncode != 0, detail
    assert result.result == "failed", detail
