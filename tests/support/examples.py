"""The example stacks' platform under mocks, for tests that check what it registers.

Example stack files (`Pulumi.<stack>.yaml`) are parsed with their `secure:` values
replaced by placeholders; the platform (`stacks.platform.install`) runs on a
stand-in cluster handle under `RecordingMocks`, so every resource it would register
can be inspected (policy packs, a real API server's dry run, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from stacks import platform
from stacks.config import TenantConfig, parse_tenant
from stacks.platform_handle import ClusterHandle
from tests.support.mocks import RecordingMocks, Registered, run

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def placeholders(value: Any) -> Any:
    """Replace every `{"secure": ...}` by a plaintext placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return "placeholder-secret"
        return {k: placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v) for v in value]
    return value


class _Cluster(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("gpu-caas:cluster:TenantCluster", name, None)


@dataclass(frozen=True)
class ExamplePlatform:
    """One example stack's config and what its platform registered."""

    config: TenantConfig
    resources: list[Registered]


def example_platform(stack_file: Path) -> ExamplePlatform:
    """Run the platform of `stack_file` under recording mocks."""
    raw = placeholders(yaml.safe_load(stack_file.read_text())["config"]["gpu-caas:tenant"])
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

    # Policy packs read the stack's mirrors from the engine-provided config, as here.
    run(program, mocks, config={"gpu-caas:tenant": json.dumps(raw)})
    return ExamplePlatform(config=config, resources=mocks.resources)
