"""Running a shell command as a user pastes it, for tests of documented commands."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path


def bash(
    script: str, *, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`script` in `bash -c`, without a terminal (stdin /dev/null), output captured as
    text; never raises for a non-zero exit (callers assert on it)."""
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
