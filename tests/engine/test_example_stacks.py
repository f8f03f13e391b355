"""Every example stack previews on the real engine with every policy pack.

A stack counts only if its program ran, the providers accepted every input
(a provider check failure is an error diagnostic), and no policy fired at all:
the packs must have no false positives on our own examples.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.harness import POLICY_PACKS, ROOT, preview

STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))

# Warnings an example may print, each explained in README "the warnings you may see".
EXPLAINED_WARNINGS: tuple[str, ...] = (
    # gb200-baremetal: DPF's pinned release documents Kubernetes 1.30 only (README).
    "outside the range NVIDIA DOCA Platform Framework v24.10.0-rc.6 documents (1.30 only",
)

pytestmark = pytest.mark.engine


def test_every_pack_and_stack_is_found() -> None:
    assert "dev" in STACKS
    assert len(STACKS) >= 4, STACKS
    assert len(POLICY_PACKS) >= 2, POLICY_PACKS


@pytest.mark.parametrize("stack", STACKS)
def test_example_stack_previews_clean(stack: str, tmp_path: Path) -> None:
    result = preview(ROOT, stack, tmp_path / "backend")
    detail = result.describe()
    assert result.returncode == 0, detail
    assert result.result == "succeeded", detail
    assert not result.errors, detail
    assert not result.violations, detail
    unexplained = [w for w in result.warnings if not any(e in w for e in EXPLAINED_WARNINGS)]
    assert not unexplained, detail
    # The program really ran: the tenant cluster and its platform are planned.
    assert result.resource_changes.get("create", 0) >= 20, detail
    types = {str(step.get("type", "")) for step in result.steps}
    assert "gpu-caas:cluster:TenantCluster" in types, sorted(types)
    assert "pulumi:providers:kubernetes" in types, sorted(types)
