"""Which tenant stacks a fleet command runs on, and which stacks a change affects.

A tenant stack is a `Pulumi.<tenant>.yaml` file in the project directory. Stacks are
picked by name with shell-style globs (`--stacks 'h100-*,dev'`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stacks.config.loader import CONFIG_KEY

FLEET_WIDE_PATHS: tuple[str, ...] = (
    "components/",
    "stacks/",
    "policies/",
    "__main__.py",
    "Pulumi.yaml",
    "pyproject.toml",
    "scripts/toolchain.env",
    "scripts/toolchain/",
)
"""A changed path starting with one of these affects every tenant: the program, the
policy packs, the dependency pins or the Pulumi project."""


@dataclass(frozen=True)
class TenantStack:
    """One tenant's stack file.

    Attributes:
        name: the stack name (`Pulumi.<name>.yaml`).
        path: the stack file.
        flavor: `gpu-caas:tenant.flavor` as written (`?` when the file has none; the
            offline validation reports why).
    """

    name: str
    path: Path
    flavor: str


def stack_name(path: Path) -> str | None:
    """`Pulumi.dev.yaml` -> `dev`; None for `Pulumi.yaml` and other files."""
    name = path.name
    if name == "Pulumi.yaml" or not (name.startswith("Pulumi.") and name.endswith(".yaml")):
        return None
    return name[len("Pulumi.") : -len(".yaml")]


def flavor_of(path: Path) -> str:
    """The flavor a stack file declares, read without validating it (`?` if absent or
    the file cannot be read)."""
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        flavor = document["config"][CONFIG_KEY]["flavor"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return "?"
    return str(flavor)


def parse_globs(text: str | None) -> list[str]:
    """`'h100-*, dev'` -> `['h100-*', 'dev']`; None or blank -> `['*']`."""
    globs = [part.strip() for part in (text or "").split(",") if part.strip()]
    return globs or ["*"]


def discover(directory: Path, globs: Sequence[str] = ("*",)) -> list[TenantStack]:
    """The stack files in `directory` whose stack name matches any of `globs`, sorted
    by name.

    Raises:
        ValueError: no stack file matches; the message lists the stacks there are.
    """
    found = []
    every = []
    for path in sorted(directory.glob("Pulumi.*.yaml")):
        name = stack_name(path)
        if name is None:
            continue
        every.append(name)
        if any(fnmatch.fnmatchcase(name, glob) for glob in globs):
            found.append(TenantStack(name, path, flavor_of(path)))
    if not found:
        raise ValueError(
            f"--stacks {','.join(globs)}: no stack file in {directory} matches; "
            f"stacks there: {', '.join(every) or 'none'}"
        )
    return found


def affected_stacks(changed: Iterable[str], stacks: Iterable[str]) -> list[str]:
    """The stacks a change touches, sorted.

    Args:
        changed: changed paths relative to the project root (`git diff --name-only`).
        stacks: the stack names that exist after the change (a deleted stack file
            is a retired tenant, previewed by no one).

    A changed `Pulumi.<tenant>.yaml` affects that tenant; a change under
    `FLEET_WIDE_PATHS` affects every tenant; anything else (docs, tests, workflows)
    affects none.
    """
    names = sorted(set(stacks))
    hit: set[str] = set()
    for raw in changed:
        path = raw.strip()
        if not path:
            continue
        if any(path == p or (p.endswith("/") and path.startswith(p)) for p in FLEET_WIDE_PATHS):
            return names
        if "/" not in path:
            name = stack_name(Path(path))
            if name is not None and name in names:
                hit.add(name)
    return sorted(hit)
