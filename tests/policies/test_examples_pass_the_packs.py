"""Every example stack's platform passes both packs with no violation (under mocks).

The example stack files (`Pulumi.<stack>.yaml`) are parsed with their `secure:` values
replaced by placeholders; the platform (`stacks.platform.install`) runs on a stand-in
cluster handle; everything it registers is analyzed as the engine would. The
real-engine version of this check, with the tenant cluster itself, is
tests/engine/test_example_stacks.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from policies.gpu_caas_policies import platform_safety, tenant_isolation
from stacks import platform
from stacks.config import parse_tenant
from stacks.platform_handle import ClusterHandle
from tests.policies.helpers import analyze
from tests.support.mocks import RecordingMocks, run

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def _placeholders(value: Any) -> Any:
    """Replace every `{"secure": ...}` by a plaintext placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return "placeholder-secret"
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return value


class _Cluster(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("gpu-caas:cluster:TenantCluster", name, None)


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_example_platform_passes_both_packs(stack_file: Path) -> None:
    raw = _placeholders(yaml.safe_load(stack_file.read_text())["config"]["gpu-caas:tenant"])
    config = parse_tenant(json.dumps(raw))
    mocks = RecordingMocks()

    def program() -> None:
        provider = k8s.Provider(
            f"{config.name}-k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1")
        )
        handle = ClusterHandle(
            config.name, provider, _Cluster(config.name), config.kubernetes.version
        )
        platform.install(handle, config)

    # The packs read the stack's mirrors from the engine-provided config, as here.
    run(program, mocks, config={"gpu-caas:tenant": json.dumps(raw)})
    assert any(r.type == "gpu-caas:isolation:TenantNamespaces" for r in mocks.resources)
    fired = analyze(mocks.resources, tenant_isolation.POLICIES + platform_safety.POLICIES)
    assert fired == []
