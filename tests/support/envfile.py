"""Read the shell `KEY=VALUE` files the toolchain uses (scripts/toolchain.env, .toolchain/env)."""

from __future__ import annotations

from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    """Assignments of `path`; blank lines and `#` comments are skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values
