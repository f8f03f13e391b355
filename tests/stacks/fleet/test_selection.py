"""Picking stacks by glob, and the stacks a change affects."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.fleet.selection import affected_stacks, discover, parse_globs

ROOT = Path(__file__).resolve().parents[3]
TENANTS = ["dev", "gb200-baremetal", "h100-training", "isv-inference"]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["Pulumi.dev.yaml"], ["dev"]),
        (["Pulumi.dev.yaml", "Pulumi.isv-inference.yaml"], ["dev", "isv-inference"]),
        (["README.md", "docs/fleet.md", "tests/x.py", ".github/workflows/preview.yml"], []),
        (["components/gpu/catalog.py"], TENANTS),
        (["stacks/config/tenant.py"], TENANTS),
        (["policies/tenant-isolation/__main__.py"], TENANTS),
        (["pyproject.toml"], TENANTS),
        (["Pulumi.yaml"], TENANTS),
        (["__main__.py"], TENANTS),
        (["scripts/toolchain.env"], TENANTS),
        (["Pulumi.retired.yaml"], []),  # deleted stack file: nobody to preview
        (["docs/Pulumi.dev.yaml"], []),  # not the project's stack file
    ],
)
def test_affected_stacks(changed: list[str], expected: list[str]) -> None:
    assert affected_stacks(changed, TENANTS) == expected


def test_globs_pick_stacks_by_name_with_their_flavor() -> None:
    picked = discover(ROOT, parse_globs("h100-*, isv-*"))
    assert [(s.name, s.flavor) for s in picked] == [
        ("h100-training", "ncp-managed"),
        ("isv-inference", "isv-managed"),
    ]
    assert [s.name for s in discover(ROOT, parse_globs(None))] == TENANTS


def test_a_glob_matching_nothing_lists_the_stacks_there_are() -> None:
    with pytest.raises(ValueError, match="no stack file .* matches; stacks there: dev, gb200"):
        discover(ROOT, ["prod-*"])
