"""ruff and mypy are clean: `make test` enforces the house style `make lint` checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = sorted(
    [*ROOT.glob("policies/*-*/__main__.py"), *ROOT.glob("tests/engine/fixtures/*/__main__.py")]
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint_and_format() -> None:
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict() -> None:
    tree = _run("mypy", ".")
    assert tree.returncode == 0, tree.stdout + tree.stderr
    for program in PROGRAMS:
        # Each pack/fixture program is its own __main__: checked on its own.
        result = _run("mypy", str(program))
        assert result.returncode == 0, f"{program}:\n{result.stdout}{result.stderr}"
