"""A bad stack config stops the real program before any resource is registered.

The engine shows one error line per problem, each naming the full key path, and
no Python traceback. The broken config is a copy of Pulumi.dev.yaml in a
throwaway project directory whose `main` is this repository's program, so no
stack file is ever written into the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.harness import ROOT, preview

pytestmark = pytest.mark.engine


def _field_errors(tenant: dict[str, Any]) -> None:
    tenant["kubernetes"]["version"] = "1.31.4"
    tenant["teams"][0]["gpuQuota"] = -1


def _cross_field_errors(tenant: dict[str, Any]) -> None:
    tenant["nodeGroups"][1]["hosts"].append(tenant["nodeGroups"][0]["hosts"][0])
    tenant["controlPlane"]["ha"] = True


# Field errors are all reported together; cross-field rules run once the fields
# parse, and are then all reported together too.
CASES = {
    "field-errors": (
        _field_errors,
        ["gpu-caas:tenant.kubernetes.version:", "gpu-caas:tenant.teams[0].gpuQuota:"],
    ),
    "cross-field-errors": (
        _cross_field_errors,
        ["gpu-caas:tenant.nodeGroups[1].hosts[1]:", "gpu-caas:tenant.hosts:"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_fails_with_key_paths_and_no_traceback(case: str, tmp_path: Path) -> None:
    break_config, expected = CASES[case]
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    break_config(document["config"]["gpu-caas:tenant"])
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "gpu-caas",
                "main": str(ROOT),
                "runtime": {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}},
            }
        )
    )
    (project / "Pulumi.broken.yaml").write_text(yaml.safe_dump(document))

    result = preview(project, "broken", tmp_path / "backend", policy_packs=[])
    messages = "\n".join(result.errors)

    assert result.returncode != 0, result.describe()
    for path in expected:
        assert path in messages, messages
    assert "Traceback" not in messages + result.stderr
    # Nothing but the stack itself was planned.
    planned = {str(step.get("type")) for step in result.steps}
    assert planned <= {"pulumi:pulumi:Stack"}, planned
