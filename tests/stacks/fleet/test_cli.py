"""`python -m stacks fleet ...`: confirmation, exit codes, `affected`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.__main__ import main
from stacks.fleet.cli import confirm
from stacks.fleet.selection import discover

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("operation", ["up", "destroy"])
def test_several_tenants_without_yes_are_refused_off_a_terminal(
    operation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fleet", operation, "--stacks", "dev,isv-*"]) == 2
    assert "pass --yes" in capsys.readouterr().err


def test_confirmation_needs_the_word_yes() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stacks = discover(ROOT, ["dev", "isv-inference"])
    assert confirm("up", stacks, Tty("yes\n"), io.StringIO())
    assert not confirm("up", stacks, Tty("y\n"), io.StringIO())


def test_validate_exits_zero_and_writes_both_summaries(tmp_path: Path) -> None:
    code = main(
        [
            "fleet",
            "validate",
            "--stacks",
            "gb200-*",
            "--quiet",
            "--json",
            str(tmp_path / "s.json"),
            "--markdown",
            str(tmp_path / "s.md"),
        ]
    )
    assert code == 0
    assert '"config_warnings": [' in (tmp_path / "s.json").read_text()
    assert "Config warnings (1)" in (tmp_path / "s.md").read_text()


def test_unknown_glob_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "validate", "--stacks", "nope-*"]) == 2
    assert "python -m stacks fleet validate: --stacks nope-*" in capsys.readouterr().err


def test_affected_reads_changed_paths_on_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stacks", "fleet", "affected"],
        input="README.md\nPulumi.h100-training.yaml\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "h100-training\n"
