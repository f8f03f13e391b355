"""`python -m stacks validate|schema`: offline checks with the engine's messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [p for p in sorted(ROOT.glob("Pulumi.*.yaml"))]


def test_examples_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, EXAMPLES)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(EXAMPLES) >= 4
    assert all(": ok (" in line for line in out)


def _bad_stack(tmp_path: Path) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    tenant = document["config"]["gpu-caas:tenant"]
    tenant["kubernetes"]["version"] = "1.31"
    tenant["nodeGroups"][1]["hosts"] = ["gpu-0"]
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_bad_stack_fails_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad_stack(tmp_path)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}: gpu-caas:tenant.kubernetes.version: Kubernetes 1.31 is not supported: gpu-caas "
        "needs 1.34 or later, where Dynamic Resource Allocation (DRA) is GA",
    ]


def test_cross_field_problems_are_reported_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["gpu-caas:tenant"]["nodeGroups"][1]["hosts"] = ["gpu-0"]
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nodeGroups[1].hosts[0]: host 'gpu-0' is already in node group 'train'" in err
    assert "hosts[2].name: worker host 'gpu-1' is in no node group" in err


def test_missing_key_and_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "Pulumi.empty.yaml"
    empty.write_text("config: {}\n")
    assert main(["validate", str(empty), str(tmp_path / "nope.yaml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{empty}: gpu-caas:tenant: is not set in {empty}"
    assert err[1].startswith(f"{tmp_path / 'nope.yaml'}: {tmp_path / 'nope.yaml'}: cannot read")


def test_module_entry_point_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    path = _bad_stack(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Kubernetes 1.31 is not supported" in result.stderr


def test_schema_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
