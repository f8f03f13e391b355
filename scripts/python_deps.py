"""Print the pinned requirements from pyproject.toml, one per line, for pip.

pyproject.toml is the one place Python versions are pinned; the project is a
Pulumi program (flat layout), not an installable package, so `make setup` feeds
these pins to pip directly instead of building a wheel.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def pinned_requirements(pyproject: Path, groups: list[str]) -> list[str]:
    """Return the project dependencies plus the named dependency groups."""
    data = tomllib.loads(pyproject.read_text())
    requirements = list(data["project"]["dependencies"])
    for group in groups:
        requirements.extend(data["dependency-groups"][group])
    return requirements


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print("\n".join(pinned_requirements(root / "pyproject.toml", sys.argv[1:])))
