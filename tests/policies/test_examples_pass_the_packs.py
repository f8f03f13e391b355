"""Every example stack's platform passes both packs with no violation (under mocks).

The example stack files (`Pulumi.<stack>.yaml`) are parsed with their `secure:` values
replaced by placeholders; the platform (`stacks.platform.install`) runs on a stand-in
cluster handle; everything it registers is analyzed as the engine would. The
real-engine version of this check, with the tenant cluster itself, is
tests/engine/test_example_stacks.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from tests.policies.helpers import analyze
from tests.support.examples import STACK_FILES, example_platform


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_example_platform_passes_both_packs(stack_file: Path) -> None:
    resources = example_platform(stack_file).resources
    assert any(r.type == "gpu-caas:isolation:TenantNamespaces" for r in resources)
    fired = analyze(resources, tenant_isolation.POLICIES + platform_safety.POLICIES)
    assert fired == []
