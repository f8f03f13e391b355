"""Every combination of the config's mode switches renders a complete, consistent set
of GPU Operator values, or is refused at validate (issue 9: settings whose meaning
changes with a mode).

The switches: compiled or precompiled driver; Prometheus `stack`, `external` or `off`;
no chart mirror, an https mirror or an OCI mirror; no MIG, MIG `single` (one profile)
or `mixed` (several); CDI on or off; GPUs allocated by the device plugin or by DRA. For
each combination of the dev example (216), the config either validates or is refused
with a key path; when it validates, its GPU Operator values use only keys of the
chart's values.yaml, and every value that depends on a mode follows it.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from components.gpu.gpu_operator import mig_strategy, render_gpu_operator_values
from sandbox.documented_values import DOCUMENTED_VALUES_KEYS
from stacks import compose, platform_gpu
from stacks.config import ConfigError, TenantConfig
from stacks.config.loader import parse_tenant
from tests.support.upstream import assert_values_keys_known

ROOT = Path(__file__).resolve().parents[2]
DEV = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"][
    "gpu-caas:tenant"
]

DRIVER = {"compiled": False, "precompiled": True}
PROMETHEUS = ("stack", "external", "off")
CHART_MIRROR = {
    "none": None,
    "https": "https://charts.mirror.example/all",
    "oci": "oci://registry.mirror.example/charts",
}
MIG = {
    "none": None,
    "single": {"1g.10gb": 7},
    "mixed": {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2},
}
CDI = (True, False)
ALLOCATION = ("device-plugin", "dra")

COMBINATIONS = list(itertools.product(DRIVER, PROMETHEUS, CHART_MIRROR, MIG, CDI, ALLOCATION))


def _tenant(
    driver: str, prometheus: str, mirror: str, mig: str, cdi: bool, allocation: str
) -> dict[str, Any]:
    raw = copy.deepcopy(DEV)
    gpu = raw.setdefault("gpu", {})
    operator = gpu.setdefault("operator", {})
    operator["driver"] = {
        **operator.get("driver", {}),
        "version": "595.91.07",
        "usePrecompiled": DRIVER[driver],
    }
    operator["cdi"] = cdi
    if allocation == "dra":
        operator["devicePlugin"] = False
        gpu["dra"] = {**gpu.get("dra", {}), "enabled": True, "gpuResources": True}
    services = raw.setdefault("services", {})
    observability = services.setdefault("observability", {})
    observability["prometheus"] = {**observability.get("prometheus", {}), "mode": prometheus}
    if CHART_MIRROR[mirror] is not None:
        raw["mirrors"] = {**raw.get("mirrors", {}), "defaultChartRepository": CHART_MIRROR[mirror]}
    notebooks = next(g for g in raw["nodeGroups"] if g["name"] == "notebooks")
    layout = MIG[mig]
    if layout is None:
        notebooks.pop("sharing", None)
    else:
        notebooks["sharing"] = {"mode": "mig", "mig": {"layout": dict(layout)}}
    tenant: dict[str, Any] = raw
    return tenant


@pytest.mark.parametrize(
    ("driver", "prometheus", "mirror", "mig", "cdi", "allocation"),
    COMBINATIONS,
    ids=["-".join(str(part) for part in combination) for combination in COMBINATIONS],
)
def test_each_mode_combination_renders_consistent_values_or_is_refused(
    driver: str, prometheus: str, mirror: str, mig: str, cdi: bool, allocation: str
) -> None:
    raw = _tenant(driver, prometheus, mirror, mig, cdi, allocation)
    try:
        config: TenantConfig = parse_tenant(raw)
    except ConfigError as error:
        # A refusal names where to change the config; no combination here is one
        # (each is a supported setup), so a refusal is a bug in the rules.
        pytest.fail(f"refused: {error.lines()}")
    settings = platform_gpu.gpu_operator_settings(config)
    mirrors = compose.mirrors(config)
    values = render_gpu_operator_values(settings, mirrors)

    assert_values_keys_known(
        values, "gpu-operator/values.yaml", allow=DOCUMENTED_VALUES_KEYS["gpu-operator"]
    )
    # Driver: the precompiled image tag is <branch>-<kernel>-<os>.
    expected_version = "595" if DRIVER[driver] else "595.91.07"
    assert values["driver"]["version"] == expected_version
    assert values["driver"]["usePrecompiled"] is DRIVER[driver]
    # Prometheus: no ServiceMonitor CRD when off.
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is (prometheus != "off")
    # CDI as configured; GPUs advertised by exactly one of DRA and the device plugin.
    assert values["cdi"]["enabled"] is cdi
    assert values["devicePlugin"]["enabled"] is (allocation == "device-plugin")
    # MIG: the cluster default strategy is mixed when any group is mixed.
    strategies = {mig_strategy(g) for g in settings.node_groups}
    assert values["mig"]["strategy"] == ("mixed" if "mixed" in strategies else "single")
    assert ("mixed" in strategies) is (mig == "mixed")
    assert values["migManager"]["enabled"] is True
    # Chart source: the mirror's scheme decides https repository or OCI reference.
    chart = mirrors.chart(versions.GPU_OPERATOR.helm)
    assert chart.is_oci is (mirror == "oci")
    if mirror != "none":
        assert chart.repository.startswith(str(CHART_MIRROR[mirror]))


def test_forcing_a_service_monitor_without_prometheus_is_refused() -> None:
    raw = _tenant("compiled", "off", "none", "none", True, "device-plugin")
    raw["gpu"]["operator"]["dcgmExporter"] = {"serviceMonitor": True}
    with pytest.raises(ConfigError) as refused:
        parse_tenant(raw)
    assert any("dcgmExporter.serviceMonitor" in line for line in refused.value.lines())
