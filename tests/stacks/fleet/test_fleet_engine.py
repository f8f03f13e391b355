"""`fleet preview` on the real engine through the Automation API: two example tenants
side by side (`--parallel 2`) with both policy packs, on a private backend, plus a
tenant whose config is broken (it fails alone, before the engine). The 20- and
100-tenant runs are in `make bench`."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from sandbox.workspace import engine_environment
from stacks.fleet.runner import FleetOptions, run_fleet
from stacks.fleet.selection import discover
from stacks.fleet.summary import render_markdown

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[3]


def test_fleet_preview_of_two_tenants_and_a_broken_one(tmp_path: Path) -> None:
    stacks_dir = tmp_path / "stacks"
    stacks_dir.mkdir()
    for name in ("dev", "isv-inference"):
        shutil.copy(ROOT / f"Pulumi.{name}.yaml", stacks_dir / f"Pulumi.{name}.yaml")
    broken = (ROOT / "Pulumi.dev.yaml").read_text().replace("ha: false", "ha: maybe")
    (stacks_dir / "Pulumi.broken.yaml").write_text(broken)
    (tmp_path / "backend").mkdir()
    options = FleetOptions(
        "preview",
        tmp_path / "work",
        parallel=2,
        env=engine_environment(tmp_path / "backend"),
        project_dir=ROOT,
    )
    summary = run_fleet(discover(stacks_dir), options)
    by_name = {r.tenant: r for r in summary.results}
    assert (by_name["broken"].result, by_name["broken"].failure) == ("failed", "config")
    assert by_name["broken"].attempts == 0, "a config error never reaches the engine"
    for name, creates in (("dev", 64), ("isv-inference", 70)):
        result = by_name[name]
        assert result.ok, f"{name}: {result.errors}\n{result.output[-3000:]}"
        assert result.counts == {"create": creates}
        assert not result.violations and not result.replacements
        assert "gpu-caas-tenant-isolation" in result.output, "both packs ran"
        assert "gpu-caas-platform-safety" in result.output
    # One project directory per stack (pulumi#8186).
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["dev", "isv-inference"]
    assert "gpu-caas-dev-passphrase" not in render_markdown(summary)

    # The drift check on the same (empty) stacks: the refresh preview finds nothing.
    valid = [s for s in discover(stacks_dir) if s.name != "broken"]
    drift = run_fleet(valid, dataclasses.replace(options, operation="refresh-preview"))
    assert [(r.tenant, r.result, r.drifted) for r in drift.results] == [
        ("dev", "succeeded", []),
        ("isv-inference", "succeeded", []),
    ], [r.errors for r in drift.results]
