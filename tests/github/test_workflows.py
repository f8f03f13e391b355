"""The GitHub Actions workflows: actionlint (built by `make setup-test` from the Go
module proxy) finds nothing, and each workflow keeps the promises docs/fleet.md makes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.fleet.summary import COMMENT_MARKER

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint() -> str:
    found = shutil.which("actionlint")
    assert found, "actionlint is not on PATH: run `make setup-test` and `. scripts/env.sh`"
    return found


def _workflow(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def _steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


@pytest.mark.engine
def test_actionlint_finds_nothing() -> None:
    done = subprocess.run(
        [_actionlint(), "-color=false"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.engine
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    text = (WORKFLOWS / "drift.yml").read_text().replace("runs-on:", "runs_on:")
    (broken / "drift.yml").write_text(text)
    done = subprocess.run(
        [_actionlint(), "-color=false", str(broken / "drift.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "runs_on" in done.stdout, done.stdout + done.stderr


def test_pull_request_preview_validates_then_previews_affected_tenants() -> None:
    workflow = _workflow("preview.yml")
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    runs = "\n".join(step.get("run", "") for step in _steps(workflow, "preview"))
    assert runs.index("python -m stacks validate Pulumi.*.yaml") < runs.index("fleet preview")
    assert "python -m stacks fleet affected" in runs
    assert "--markdown fleet-summary.md" in runs and "--mirror-base mirror-base" in runs


def test_a_config_error_fails_the_check_after_the_comment() -> None:
    steps = _steps(_workflow("preview.yml"), "preview")
    names = [step.get("name", "") for step in steps]
    validate = steps[names.index("Validate every stack file")]
    assert validate["continue-on-error"] is True
    last = steps[-1]
    assert last["if"] == "steps.validate.outcome == 'failure'" and "exit 1" in last["run"]


def test_pull_request_comment_is_one_comment_updated_in_place() -> None:
    steps = _steps(_workflow("preview.yml"), "preview")
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    script = comment["with"]["script"]
    assert COMMENT_MARKER in script
    assert "updateComment" in script and "createComment" in script
    assert comment["if"].startswith("always()"), "the comment must be posted when the check fails"


def test_deploy_runs_up_per_tenant_behind_its_environment() -> None:
    workflow = _workflow("deploy.yml")
    assert workflow[True]["push"]["branches"] == ["main"]
    up = workflow["jobs"]["up"]
    assert up["environment"] == "tenant-${{ matrix.tenant }}"
    assert up["strategy"]["fail-fast"] is False
    run = "\n".join(step.get("run", "") for step in up["steps"])
    assert 'fleet up --stacks "$TENANT" --yes' in run


def test_drift_check_is_scheduled_and_fails_on_drift() -> None:
    workflow = _workflow("drift.yml")
    assert workflow[True]["schedule"], "the drift check must run on a schedule"
    run = "\n".join(step.get("run", "") for step in _steps(workflow, "drift"))
    assert "fleet refresh --preview-only" in run
    assert "::error title=drift in" in run


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml", "drift.yml"])
def test_secrets_reach_steps_only_as_environment(name: str) -> None:
    """A secret is never interpolated into a script (it could be echoed or logged)."""
    text = (WORKFLOWS / name).read_text()
    for line in text.splitlines():
        if "secrets." in line:
            key = line.split(":", 1)[0].strip()
            assert key.isupper() and key.replace("_", "").isalnum(), line
