"""stacks/config/titles.py: readable JSON Schema titles for the config models."""

from __future__ import annotations

import pytest

from stacks.config.titles import model_title, title, words


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpu_temp_celsius", "GPU Temperature (°C)"),
        ("memory_temp_celsius", "Memory Temperature (°C)"),
        ("ngc_api_key", "NGC API Key"),
        ("pod_cidr", "Pod CIDR"),
        ("mtu", "MTU"),
        ("mig_manager", "MIG Manager"),
        ("bfb_url", "BFB URL"),
        ("critical_xids", "Critical XIDs"),
        ("idp_groups", "IdP Groups"),
        ("nvlink_domain", "NVLink Domain"),
        ("ssh", "SSH"),
        ("max_nodes", "Max Nodes"),
        ("gpuTempCelsius", "GPU Temperature (°C)"),
        ("k8s_version", "K8s Version"),
    ],
)
def test_title(name: str, expected: str) -> None:
    assert title(name) == expected


def test_words_split_every_naming_style() -> None:
    assert words("api_server_host") == ["api", "server", "host"]
    assert words("apiServerHost") == ["api", "Server", "Host"]
    assert words("DCGMExporter") == ["DCGM", "Exporter"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GpuPlatformConfig", "GPU Platform"),
        ("DcgmExporterConfig", "DCGM Exporter"),
        ("NodeClassRef", "Node Class Ref"),
        ("TenantConfig", "Tenant"),
        ("CniPlugin", "CNI Plugin"),
    ],
)
def test_model_title(name: str, expected: str) -> None:
    assert model_title(type(name, (), {})) == expected
