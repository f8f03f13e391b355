"""The deliberately bad programs under tests/engine/fixtures, without the engine.

Each fixture program runs under recording mocks; its registrations are analyzed by the
packs as the engine would (inputs for resource policies, all resources for stack
policies). Every policy its `expected.json` names must fire on the named resource. The
real-engine run of the same fixtures is tests/engine/test_policy_fixtures.py.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from tests.policies.helpers import analyze
from tests.support.mocks import RecordingMocks, run

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"
CASES = sorted(p.parent for p in FIXTURES.glob("bad-*/expected.json"))
POLICIES = tenant_isolation.POLICIES + platform_safety.POLICIES


def test_there_are_at_least_three_fixtures_naming_real_policies() -> None:
    names = {p.name for p in POLICIES}
    assert len(CASES) >= 3
    for fixture in CASES:
        expected = json.loads((fixture / "expected.json").read_text())
        assert expected["policies"] and set(expected["policies"]) <= names, fixture.name
        for pack in expected["packs"]:
            assert (FIXTURES.parents[2] / pack / "PulumiPolicy.yaml").is_file()


@pytest.mark.parametrize("fixture", CASES, ids=[c.name for c in CASES])
def test_fixture_trips_the_named_policies(fixture: Path) -> None:
    expected = json.loads((fixture / "expected.json").read_text())
    mocks = RecordingMocks()
    run(lambda: runpy.run_path(str(fixture / "__main__.py")) and None, mocks)
    fired = analyze(mocks.resources, POLICIES)
    for want in expected["resources"]:
        assert any(p == want["policy"] and r == want["resource"] for p, r, _ in fired), (
            want,
            fired,
        )
