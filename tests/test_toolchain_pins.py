"""The Python SDK pins and the engine/provider versions `make setup` builds agree."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

from tests.support.envfile import read_env_file

ROOT = Path(__file__).resolve().parents[1]


def _toolchain_env() -> dict[str, str]:
    return read_env_file(ROOT / "scripts/toolchain.env")


def _pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(d.split("==", 1) for d in deps)


def _plugin_version(package: str) -> str:
    data = json.loads(resources.files(package).joinpath("pulumi-plugin.json").read_text())
    return str(data["version"])


def test_every_runtime_dependency_is_pinned_exactly() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert all("==" in d for d in deps), deps


def test_pulumi_sdk_matches_the_engine() -> None:
    assert _pins()["pulumi"] == _toolchain_env()["PULUMI_VERSION"]


def test_kubernetes_sdk_requests_the_provider_we_build() -> None:
    assert _plugin_version("pulumi_kubernetes") == _toolchain_env()["KUBERNETES_PROVIDER_VERSION"]


def test_command_sdk_requests_the_provider_we_build() -> None:
    assert _plugin_version("pulumi_command") == _toolchain_env()["COMMAND_PROVIDER_VERSION"]
